"""`tui-trainer runs`: the run directory listed for people, at 80 columns and wider."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tui_trainer.config import load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer
from tui_trainer.records.run_folder import RunStore, list_runs


def record(runs_dir, name: str, *overrides: str, train: bool = True) -> str:
    preset = load_preset(name, overrides)
    data = load_dataset(preset.data)
    store = RunStore.create(runs_dir, preset, data)
    if train:
        Trainer(preset, data, store, run_id=store.run_id, on_epoch=store.on_epoch).run()
    else:
        store.close()  # like a run killed before it ended: no summary
        old = time.time() - 3600  # killed an hour ago (a file written just now may have a writer elsewhere)
        os.utime(store.path / "metrics.jsonl", (old, old))
    return store.path.name


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    names = [
        record(d, "digits-fast", "train.epochs=2"),
        record(d, "lr-too-high"),
        record(d, "overfit-small", "train.epochs=3", train=False),
    ]
    return d, names


def runs_command(runs_dir, columns: int) -> list[str]:
    r = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "runs", "--runs-dir", str(runs_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": str(columns)},
    )
    assert r.returncode == 0, r.stderr
    return [line.rstrip() for line in r.stdout.splitlines()]


def row_of(lines: list[str], name_part: str) -> list[str]:
    (row,) = [line for line in lines if line.startswith(name_part)]
    return row.split()


def test_runs_lists_each_run_at_80_columns(runs_dir):
    d, names = runs_dir
    lines = runs_command(d, 80)
    assert all(len(line) <= 80 for line in lines)
    assert lines[0] == f"Runs in {d}/"
    assert lines[1].split() == ["run", "date", "status", "val", "acc", "lr", "reg", "batch"]
    infos = {i.name: i for i in list_runs(d)}
    digits, exploded, killed = names
    short = digits[len("20261124-171500-") :]  # the date column carries the date-time prefix
    row = row_of(lines, short)
    assert row[3] == "finished" and row[4] == f"{infos[digits].best_val_acc:.3f}"
    assert row[5:] == ["0.02", "0.001", "50"]
    assert row_of(lines, exploded[16:])[3:] == ["exploded", "0.1", "1e-6", "200"]
    assert row_of(lines, killed[16:])[3] == "incomplete"


def test_runs_shows_whole_folder_names_when_there_is_room(runs_dir):
    d, names = runs_dir
    lines = runs_command(d, 140)
    for name in names:
        row = row_of(lines, name)
        assert row[1].startswith("20") and len(row[1]) == 10  # 2026-11-24, the full date


def test_no_runs_yet_says_how_to_start_one(tmp_path):
    lines = runs_command(tmp_path / "none", 80)
    assert " ".join(lines) == f"no runs in {tmp_path / 'none'}/ yet (start one with: tui-trainer run default)"

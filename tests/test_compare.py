"""Comparing runs: `runs --json`, `runs --export-csv` (values equal the events), seed groups,
and the settings that differ; real runs on the bundled spiral and digits."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import pytest

from tui_trainer.config import load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer
from tui_trainer.lab.compare import CSV_COLUMNS, group_runs, settings_diff
from tui_trainer.lab.history import History
from tui_trainer.records.run_folder import RunStore, list_runs, read_metrics


def record(runs_dir, name: str, *overrides: str, group: str | None = None) -> str:
    preset = load_preset(name, overrides)
    data = load_dataset(preset.data)
    store = RunStore.create(runs_dir, preset, data, group=group)
    Trainer(preset, data, store, run_id=store.run_id, on_epoch=store.on_epoch).run()
    return store.path.name


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    names = [
        record(d, "spiral", "train.epochs=3", "train.learning_rate=0.5"),
        record(d, "spiral", "train.epochs=3", "train.seed=1", group="g1"),
        record(d, "spiral", "train.epochs=3", "train.seed=2", group="g1"),
        record(d, "digits-fast", "train.epochs=1"),
    ]
    return d, names


def tui(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui_trainer", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "80"},
    )


def test_runs_json_is_one_document_of_every_run_and_group(runs_dir):
    d, names = runs_dir
    r = tui("runs", "--runs-dir", str(d), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [run["name"] for run in doc["runs"]] == sorted(names)  # oldest first, as list_runs
    by_name = {run["name"]: run for run in doc["runs"]}
    lone, a, b, digits = (by_name[n] for n in names)
    assert lone["group"] is None and a["group"] == b["group"] == "g1"
    assert lone["settings"]["train.learning_rate"] == 0.5 and digits["dataset"] == "digits"
    assert a["summary"]["group"] == "g1" and "group" not in lone["summary"]  # a lone run's summary as before
    assert a["summary"]["best_val_acc"] == a["best_val_acc"]
    (group,) = doc["groups"]
    accs = [a["best_val_acc"], b["best_val_acc"]]
    assert group["id"] == "g1" and sorted(group["runs"]) == sorted(names[1:3]) and group["n"] == 2
    assert group["best_val_acc"]["mean"] == pytest.approx(sum(accs) / 2)
    assert group["best_val_acc"]["std"] == pytest.approx(abs(accs[0] - accs[1]) / math.sqrt(2))
    assert (group["best_val_acc"]["min"], group["best_val_acc"]["max"]) == (min(accs), max(accs))
    assert "train.seed" not in group["shared_settings"]  # the seed is what varies in a group
    assert lone["settings"]["search.stages"] == [{"trials": 12, "epochs": 20}, {"trials": 6, "epochs": 60}]
    assert group["shared_settings"]["data.dataset"] == "spiral"


def read_back(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        return list(reader)


def test_export_csv_holds_every_curve_value_exactly_as_the_events(runs_dir, tmp_path):
    d, names = runs_dir
    out = tmp_path / "curves.csv"
    r = tui("runs", "--runs-dir", str(d), "--export-csv", str(out), names[1], names[3])
    assert r.returncode == 0, r.stderr
    rows = read_back(out)
    assert f"wrote {out}: {len(rows)} rows from 2 runs" in r.stdout
    assert {row["run"] for row in rows} == {names[1], names[3]}
    for name in (names[1], names[3]):
        events = read_metrics(d / name)
        mine = [row for row in rows if row["run"] == name]
        steps = [e for e in events if e["event"] == "step"]
        epochs = [e for e in events if e["event"] == "epoch"]
        losses = [row for row in mine if row["metric"] == "loss"]
        assert [float(row["value"]) for row in losses] == [e["loss"] for e in steps]
        assert [int(row["iteration"]) for row in losses] == [e["iteration"] for e in steps]
        assert [float(row["epoch"]) for row in losses] == [e["epoch"] for e in steps]
        smooth = History.from_events(events).steps_smooth
        assert [float(row["smoothed"]) for row in losses] == list(smooth)  # the curve the workbench draws
        for metric, key in (("val_acc", "val_acc"), ("train_acc", "train_acc"), ("epoch_loss", "loss")):
            got = [(int(row["epoch"]), float(row["value"])) for row in mine if row["metric"] == metric]
            assert got == [(e["epoch"], e[key]) for e in epochs]
        assert {row["smoothed"] for row in mine if row["metric"] != "loss"} == {""}
    seeded = [row for row in rows if row["run"] == names[1]]
    assert {(row["group"], row["seed"]) for row in seeded} == {("g1", "1")}
    assert {(row["group"], row["seed"]) for row in rows if row["run"] == names[3]} == {("", "0")}


def test_export_csv_of_every_run_and_its_bad_input(runs_dir, tmp_path):
    d, names = runs_dir
    out = tmp_path / "all.csv"
    assert tui("runs", "--runs-dir", str(d), "--export-csv", str(out)).returncode == 0
    assert {row["run"] for row in read_back(out)} == set(names)
    r = tui("runs", "--runs-dir", str(d), "--export-csv", str(out), "no-such-run")
    assert r.returncode == 2 and "--export-csv no-such-run: no such run" in r.stderr
    r = tui("runs", "--runs-dir", str(d), "--export-csv", str(tmp_path / "missing" / "x.csv"))
    assert r.returncode == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr
    r = tui("runs", "--runs-dir", str(d), names[0])
    assert r.returncode == 2 and "naming runs is for --export-csv" in r.stderr


def test_export_csv_takes_a_groups_id_and_a_reader_that_stops_early(runs_dir, tmp_path):
    """The id `runs` shows on a group's row names all its runs; `- | head` is no failure."""
    d, names = runs_dir
    out = tmp_path / "group.csv"
    r = tui("runs", "--runs-dir", str(d), "--export-csv", str(out), "g1", names[1])  # a member twice: once
    assert r.returncode == 0, r.stderr
    rows = read_back(out)
    assert {row["run"] for row in rows} == {names[1], names[2]} and {row["group"] for row in rows} == {"g1"}
    assert len(rows) == len({(row["run"], row["iteration"], row["epoch"], row["metric"]) for row in rows})
    gone = subprocess.run(  # a reader gone before the first write: the write meets a closed pipe
        ["bash", "-c", f"set -o pipefail; {sys.executable} -m tui_trainer runs --runs-dir {d} --export-csv - | true"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert gone.returncode == 0 and gone.stderr == "", gone.stderr


def test_settings_diff_names_only_the_keys_that_differ(runs_dir):
    d, names = runs_dir
    by_name = {r.name: r for r in list_runs(d)}
    runs = [by_name[n] for n in names]
    spiral = runs[:3]
    assert settings_diff(spiral) == ["train.learning_rate", "train.seed"]
    assert settings_diff(runs[1:3]) == ["train.seed"]
    assert settings_diff(runs[:1]) == []
    everything = settings_diff(runs)
    assert "data.dataset" in everything and "name" in everything and "description" not in everything
    (g,) = group_runs(runs)
    assert [r.name for r in g.runs] == names[1:3] and g.preset == "spiral"


def test_run_seeds_records_one_group_that_runs_lists_as_one_row(tmp_path):
    d = tmp_path / "runs"
    r = tui("run", "spiral", "--set", "train.epochs=3", "--set", "train.seed=5", "--seeds", "3", "--runs-dir", str(d))
    assert r.returncode == 0, r.stderr
    runs = list_runs(d)
    assert len(runs) == 3 and len({r.group for r in runs}) == 1 and runs[0].group is not None
    assert sorted(r.seed for r in runs) == [5, 6, 7]  # the train seed varies ...
    assert {r.settings["data.seed"] for r in runs} == {0}  # ... the data split stays
    (g,) = group_runs(runs)
    assert g.n == 3 and f"seed group {g.id}: best val acc {g.mean:.3f} ± {g.std:.3f} n=3" in r.stdout
    listing = tui("runs", "--runs-dir", str(d))
    rows = [line for line in listing.stdout.splitlines() if "finished" in line]
    assert len(rows) == 1 and f"{g.mean:.3f}±{g.std:.3f}" in rows[0] and " 3 " in rows[0]
    assert "mean ± sample std" in listing.stdout

    j = tui("run", "spiral", "--set", "train.epochs=2", "--seeds", "2", "--runs-dir", str(d), "--json")
    assert j.returncode == 0, j.stderr
    lines = [json.loads(line) for line in j.stdout.splitlines()]
    first, last = lines[0], lines[-1]
    assert first["event"] == "group_started" and first["seeds"] == [0, 1]
    assert last["event"] == "group_ended" and last["id"] == first["group"] and last["n"] == 2
    started = [e["run_id"] for e in lines if e["event"] == "run_started"]
    assert last["runs"] == started
    assert [e["event"] for e in lines].count("run_ended") == 2


def test_a_group_exits_with_its_worst_runs_status(tmp_path):
    from tui_trainer.commands.console import worst_exit_status

    assert worst_exit_status([0, 3, 0]) == 3 and worst_exit_status([0, 130]) == 130
    assert worst_exit_status([130, 3, 1]) == 1 and worst_exit_status([]) == 0
    r = tui("run", "lr-too-high", "--set", "train.epochs=2", "--seeds", "2", "--runs-dir", str(tmp_path))
    assert r.returncode == 3, r.stderr  # every seed explodes
    assert "exploded" in r.stdout
    bad = tui("run", "spiral", "--seeds", "0", "--runs-dir", str(tmp_path))
    assert bad.returncode == 2 and "--seeds 0: must be a whole number of at least 1" in bad.stderr


def test_one_seed_has_no_spread_to_show():
    """A group stopped after its first seed, or `--seeds 1`: its mean stands alone. "± 0.000"
    would say its seeds agreed exactly; JSON says null, as for a spread it cannot know."""
    from pathlib import Path

    from tui_trainer.lab.compare import group_of, mean_std_text, sample_std, spread_text
    from tui_trainer.records.run_folder import RunInfo

    def run(acc: float | None, seed: int) -> RunInfo:
        return RunInfo(Path(f"r{seed}"), f"r{seed}", "", "finished", acc, 0.1, 0.0, 10, "p", 1.0, "spiral", seed, "g")

    one = group_of("g", [run(0.918, 0)])
    assert one.std is None and spread_text(one) == "0.918 n=1" and spread_text(one, n=False) == "0.918"
    two = group_of("g", [run(0.918, 0), run(0.922, 1), run(None, 2)])  # the third recorded no val acc
    assert two.n == 2 and spread_text(two, n=False) == "0.920±0.003"
    assert sample_std([0.5]) is None and sample_std([]) is None and mean_std_text(0.5, None) == "0.500"

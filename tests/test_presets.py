"""The shipped presets: each loads, `tui-trainer presets` lists it, and each does
what its description says on the bundled data."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
from realformats import write_cifar

from tui_trainer.config import PRESETS_DIR, list_presets, load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer
from tui_trainer.engine.events import Epoch, RunEnded, RunStarted

SHIPPED = [
    "default",
    "digits-fast",
    "spiral",
    "overfit-small",
    "lr-too-low",
    "lr-too-high",
    "coarse-search",
    "fine-search",
    "cifar10-2layer",
]


def test_every_preset_is_shipped_loads_and_describes_itself():
    presets = {p.name: p for p in list_presets()}
    assert sorted(presets) == sorted(SHIPPED)
    for name, p in presets.items():
        assert (PRESETS_DIR / f"{name}.toml").is_file()
        assert 20 < len(p.description) < 130, name  # says what it teaches, fits two table lines


def test_presets_command_lists_them_all_within_80_columns():
    r = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "presets"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    names = [line.split()[0] for line in lines if line[:1].strip() and line.split()[0] in SHIPPED]
    assert names == SHIPPED  # in the lecture's order, each once
    assert all(len(line) <= 80 for line in lines)
    assert "data fetch cifar10" in " ".join(r.stdout.split())


def train(name: str, *overrides: str) -> tuple[RunStarted, list[Epoch], RunEnded]:
    preset = load_preset(name, overrides)
    events = []
    ended = Trainer(preset, load_dataset(preset.data, source=preset.source), events.append).run()
    started = next(e for e in events if isinstance(e, RunStarted))
    return started, [e for e in events if isinstance(e, Epoch)], ended


def test_default_reaches_about_90_percent():
    _, epochs, ended = train("default")
    assert ended.status == "finished" and len(epochs) == 10
    assert ended.best_val_acc >= 0.88


def test_digits_fast_reaches_about_97_percent():
    _, _, ended = train("digits-fast")
    assert ended.status == "finished" and ended.best_val_acc >= 0.95


def test_spiral_learns_what_a_linear_classifier_cannot():
    started, epochs, ended = train("spiral")
    assert started.classes == 3 and started.n_train == 600
    assert ended.status == "finished" and ended.best_val_acc >= 0.95
    linear = load_preset("spiral", ["model.hidden=[]"])
    data = load_dataset(linear.data, source=linear.source)
    events = []
    assert Trainer(linear, data, events.append).run().best_val_acc < 0.7  # 3 arms are not linearly separable


def test_overfit_small_drives_train_accuracy_to_one():
    started, epochs, ended = train("overfit-small")
    assert started.n_train == 20 and started.iterations_per_epoch == 1  # full batch
    assert ended.status == "finished" and ended.iterations == 200
    assert epochs[-1].train_acc == 1.0 and epochs[-1].loss < 0.05
    assert epochs[-1].val_acc < 0.7  # it memorised 20 examples; it did not learn digits


def test_lr_too_low_barely_moves_the_loss():
    started, epochs, ended = train("lr-too-low")
    assert ended.status == "finished"
    assert abs(epochs[-1].loss - started.initial_loss) < 0.01
    assert abs(started.initial_loss - math.log(10)) < 0.01
    assert ended.best_val_acc < 0.3


def test_lr_too_high_explodes_within_the_first_epoch():
    started, epochs, ended = train("lr-too-high")
    assert ended.status == "exploded" and epochs == []
    assert ended.iterations <= 5  # the smoothed loss passes 3x the initial loss at iteration 5 (README)
    low, high = load_preset("lr-too-low"), load_preset("lr-too-high")
    # The two failures differ only in the learning rate.
    assert low.replace(**{"train.learning_rate": high.train.learning_rate}, name="x", description="") == high.replace(
        name="x", description=""
    )


def test_coarse_then_fine_is_wide_and_short_then_narrow_and_longer():
    coarse, fine = load_preset("coarse-search").search, load_preset("fine-search").search
    (c_lr, c_reg), (f_lr, f_reg) = ((s.ranges["learning_rate"], s.ranges["reg"]) for s in (coarse, fine))
    low, high = load_preset("lr-too-low").train.learning_rate, load_preset("lr-too-high").train.learning_rate
    assert c_lr[0] <= low and c_lr[1] >= high  # both failures are in range
    assert low < f_lr[0] < f_lr[1] < high
    assert c_reg[0] <= f_reg[0] < f_reg[1] <= c_reg[1]
    assert math.log10(f_lr[1] / f_lr[0]) < 1  # under a decade
    (c,), (f,) = coarse.stages, fine.stages
    assert c.trials > f.trials and c.epochs < f.epochs
    assert c.trials * c.epochs <= 30 and f.trials * f.epochs <= 50  # quick on 2 cores


def test_fine_search_holds_the_rates_that_train_well_and_those_that_blow_up_over_five_epochs():
    """Its ranges come from coarse-search (tests/test_search_refine.py); five epochs tell its ends apart."""
    s = load_preset("fine-search").search
    epochs = f"train.epochs={s.stages[0].epochs}"
    _, _, low = train("fine-search", f"train.learning_rate={s.ranges['learning_rate'][0]}", "train.reg=2.2e-3", epochs)
    assert low.status == "finished" and low.best_val_acc >= 0.85, low
    _, _, high = train("fine-search", f"train.learning_rate={s.ranges['learning_rate'][1]}", "train.reg=2.2e-3", epochs)
    assert high.status == "exploded", high


def test_cifar10_2layer_is_the_lectures_net_and_says_to_fetch():
    p = load_preset("cifar10-2layer")
    assert p.data.dataset == "cifar10" and p.data.path == ""  # read from where `data fetch` puts it
    assert p.model.hidden == (50,) and p.data.num_train == 49000
    assert "tui-trainer data fetch cifar10" in p.description


def run_cifar10_2layer(cwd, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_trainer",
            "run",
            "cifar10-2layer",
            "--set",
            "data.num_train=80",
            "--set",
            "data.num_val=20",
            "--set",
            "data.num_test=10",
            "--set",
            "train.epochs=1",
            *extra,
            "--json",
            "--runs-dir",
            "runs",
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_cifar10_2layer_runs_once_its_data_is_where_fetch_puts_it(tmp_path):
    cache = tmp_path / "cache"
    write_cifar(cache / "tui-trainer", per_batch=20, n_test=10)  # XDG_CACHE_HOME/tui-trainer/cifar-10-batches-py
    work = tmp_path / "work"
    work.mkdir()
    r = run_cifar10_2layer(work, env={"TUI_TRAINER_DATA_DIR": "", "XDG_CACHE_HOME": str(cache)})
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert events[0]["n_train"] == 80 and events[0]["image_shape"] == [32, 32, 3] and events[0]["classes"] == 10
    assert events[-1]["status"] == "finished"
    (run_dir,) = (work / "runs").iterdir()
    with np.load(run_dir / "best.npz") as best:
        assert best["W1"].shape == (3072, 50) and best["W2"].shape == (50, 10)  # the lecture's 3072-50-10


def test_a_relative_data_path_is_read_from_the_current_folder(tmp_path):
    write_cifar(tmp_path / "data", per_batch=20, n_test=10)  # data/cifar-10-batches-py, the real format
    r = run_cifar10_2layer(tmp_path, "--set", "data.path=data/cifar-10-batches-py")
    assert r.returncode == 0, r.stderr
    assert [json.loads(line) for line in r.stdout.splitlines()][-1]["status"] == "finished"


def test_presets_piped_into_a_reader_that_has_gone_exits_0(tmp_path):
    # `tui-trainer presets | head -1`: the reader is gone before the table is written.
    # rich's own answer to that is a silent exit 1, an "internal failure".
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tui_trainer", "presets"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""

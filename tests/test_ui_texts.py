"""What the status bar and the notes say, read from the workbench's state without a screen."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from tui_trainer.config import Preset
from tui_trainer.engine.events import RunEnded, RunStarted, Step
from tui_trainer.lab.checks import CheckResult
from tui_trainer.ui.history import RunHistory
from tui_trainer.ui.texts import ended_note, notes, status_fields

PRESET = Preset().replace(**{"train.epochs": 3})


def started_run(number: int = 1) -> RunHistory:
    run = RunHistory(number, PRESET)
    run.t_start = 0.0
    run.add(RunStarted("r", {}, 10, 300, 100, 10, 30, 2.3026))
    return run


def data(n_train: int = 300, n_val: int = 100):
    """The few fields of a Dataset the notes read."""
    return SimpleNamespace(
        name="digits", X_train=np.zeros((n_train, 64)), X_val=np.zeros((n_val, 64)), num_classes=10, input_dim=64
    )


def test_before_any_run_the_status_says_what_the_data_are_doing():
    def fields(**kw):
        return status_fields(None, PRESET, restarting=False, now=0.0, **kw)

    loading = fields(loaded=False, data_error="")
    assert (loading["status"], loading["note"]) == ("loading", "loading the data…")
    assert (loading["run_number"], loading["epochs"], loading["iterations"]) == (None, 3, None)
    assert fields(loaded=True, data_error="")["note"] == "space starts a run"
    failed = fields(loaded=False, data_error="no such file")
    assert (failed["status"], failed["note"]) == ("failed", "cannot load the data")


def test_a_run_shows_its_progress_times_on_the_apps_clock_and_how_it_ended():
    run = started_run()
    for i in range(1, 11):
        run.add(Step(i, i / 10, 2.0, 1e-3))
    now = 5.0
    f = status_fields(run, PRESET, loaded=True, data_error="", restarting=False, now=now)
    assert (f["run_number"], f["status"], f["iteration"], f["iterations"]) == (1, "running", 10, 30)
    assert f["epoch"] == 1.0 and f["elapsed"] == 5.0 and f["eta"] == 10.0  # 20 iterations at 0.5 s
    assert f["note"] == ""
    assert status_fields(run, PRESET, loaded=True, data_error="", restarting=True, now=now)["note"] == "restarting…"
    run.add(RunEnded("finished", "all epochs done", 0.912, 3, 30, 6.0))
    run.finish(6.0)
    f = status_fields(run, PRESET, loaded=True, data_error="", restarting=False, now=9.0)
    assert (f["status"], f["note"], f["elapsed"], f["eta"]) == ("finished", "best val acc 0.912 (epoch 3)", 6.0, None)


def test_the_status_shows_the_device_the_run_trains_on_once_it_has_started():
    wanting_gpu = PRESET.replace(**{"train.device": "auto"})
    assert status_fields(None, wanting_gpu, loaded=True, data_error="", restarting=False, now=0.0)["device"] == ""
    run = RunHistory(1, wanting_gpu)
    run.t_start = 0.0
    assert status_fields(run, wanting_gpu, loaded=True, data_error="", restarting=False, now=0.0)["device"] == ""
    run.add(RunStarted("r", {}, 10, 300, 100, 10, 30, 2.3026, device="cpu"))  # "auto" found no GPU
    assert status_fields(run, wanting_gpu, loaded=True, data_error="", restarting=False, now=1.0)["device"] == "cpu"
    on_gpu = RunHistory(2, wanting_gpu)
    on_gpu.add(RunStarted("r", {}, 10, 300, 100, 10, 30, 2.3026, device="gpu"))
    assert status_fields(on_gpu, wanting_gpu, loaded=True, data_error="", restarting=False, now=1.0)["device"] == "gpu"


def test_the_notes_say_when_auto_found_no_gpu():
    auto = PRESET.replace(**{"train.device": "auto"})

    def said(device: str, preset: Preset) -> bool:
        run = RunHistory(1, preset)
        run.add(RunStarted("r", {}, 10, 300, 100, 10, 30, 2.3026, device=device))
        lines = notes(run, base_preset=preset, next_preset=preset, data=data(), data_error="", runs_dir_name="runs")
        return ("info", 'train.device "auto" found no usable GPU: this run trains on the CPU') in lines

    assert said("cpu", auto)
    assert not said("gpu", auto) and not said("cpu", PRESET)  # found one; or the CPU was asked for


def test_an_ended_run_is_summed_up_by_its_accuracy_or_its_reason():
    assert ended_note(RunEnded("finished", "done", 0.5, 2, 10, 1.0)) == "best val acc 0.500 (epoch 2)"
    assert (
        ended_note(RunEnded("exploded", "loss is inf at iteration 7", None, None, 7, 1.0))
        == "loss is inf at iteration 7"
    )


def test_notes_before_a_run_describe_the_preset_and_the_data():
    p = PRESET.replace(**{"name": "small", "description": "a small net"})
    lines = notes(None, base_preset=p, next_preset=p, data=data(), data_error="", runs_dir_name="runs")
    assert lines[0] == ("info", "small: a small net")
    assert lines[1] == ("info", "digits: 300 train / 100 val, 10 classes, 64 inputs")
    assert notes(None, base_preset=p, next_preset=p, data=None, data_error="", runs_dir_name="runs") == [
        ("info", f"loading {p.data.dataset}…")
    ]
    bad = notes(None, base_preset=p, next_preset=p, data=None, data_error="num_train 5000 > 1797", runs_dir_name="runs")
    assert bad == [("bad", "num_train 5000 > 1797"), ("info", "o opens another preset")]


def test_notes_of_a_run_say_where_it_is_recorded_how_it_ended_and_what_the_next_changes():
    run = started_run(2)
    run.run_dir = "20261130-120000-default-abcd"
    run.add(RunEnded("failed", "RuntimeError: boom", None, None, 4, 1.0))
    run.error_where = "trainer.py:12 in _train"
    faster = PRESET.replace(**{"train.learning_rate": PRESET.train.learning_rate * 10})
    failed_check = CheckResult("gradient", "1e-2", "< 1e-6", False, "check the backward pass")
    lines = notes(
        run,
        base_preset=PRESET,
        next_preset=faster,
        data=data(),
        data_error="",
        runs_dir_name="runs",
        checks=[failed_check],
        checks_error="",
    )
    kinds = dict((text.split(" ")[0], kind) for kind, text in lines)
    texts = [text for _, text in lines]
    assert "run 2 is recorded in runs/20261130-120000-default-abcd" in texts
    assert "initial loss 2.3026 · 300 train, 100 val, 10 iterations per epoch" in texts
    assert ("bad", "failed: RuntimeError: boom") in lines and ("bad", "at trainer.py:12 in _train") in lines
    assert ("warn", "check gradient failed: check the backward pass") in lines
    assert texts[-1].startswith("next run: learning rate ") and kinds["next"] == "info"
    same = notes(run, base_preset=PRESET, next_preset=PRESET, data=data(), data_error="", runs_dir_name="runs")
    assert not any(text.startswith("next run") for _, text in same)

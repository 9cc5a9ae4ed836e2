"""The one fold of a run's events (lab/history.py) that the advisor, the console's
faces and the workbench read."""

from __future__ import annotations

import math

import pytest

from tui_trainer.engine.events import Advice, Epoch, RunEnded, RunStarted, Step
from tui_trainer.lab.history import EPOCHS, LOSS, NOTES, STATUS, History, smoothing_window


def started(per_epoch=10, total=1000, run_id="r"):
    return RunStarted(run_id, {"train": {"learning_rate": 0.1}}, 10, 100, 20, per_epoch, total, 2.3)


def test_the_arrays_read_between_steps_hold_every_step_in_order():
    h = History()
    h.add(started(per_epoch=10))
    losses = [2.0 / (1 + i) for i in range(1, 1001)]
    seen = 0
    for i, loss in enumerate(losses, 1):
        h.add(Step(i, i / 10, loss, 1e-3))
        if i in (1, 7, 255, 256, 257, 600, 1000):  # reads before, at and past each growth
            assert h.steps_loss.tolist() == losses[:i]
            seen += 1
    assert seen == 7 and h.steps == h.iteration == 1000
    assert h.steps_x[-1] == 100.0 and h.current_epoch == 100.0


def test_add_says_what_each_event_changed_and_a_new_run_starts_over():
    h = History()
    assert h.add(started(run_id="first")) == STATUS
    assert h.add(Step(1, 0.1, 2.0, 1e-3)) == LOSS
    assert h.add(Epoch(1, 2.0, 0.5, 0.4, 1e-3, 1.0)) == EPOCHS
    assert h.add(Advice(1, "loss_flat", "m", "r")) == NOTES
    assert h.add(RunEnded("finished", "", 0.4, 1, 1, 1.0)) == STATUS
    assert h.add(object()) == ""
    assert (h.best.epoch, h.learning_rate, h.setting("train", "learning_rate")) == (1, 1e-3, 0.1)
    h.add(started(run_id="second"))
    assert (h.started.run_id, h.steps, h.epochs, h.advice, h.ended, h.ratios) == ("second", 0, [], [], None, None)
    assert math.isnan(h.loss) and math.isnan(h.learning_rate)


def test_the_smoothed_line_spans_about_a_tenth_of_an_epoch_and_skips_what_is_not_finite():
    assert [smoothing_window(n) for n in (10, 200, 5000)] == [5, 20, 50]
    h = History()
    h.add(started(per_epoch=200))  # a window of 20 iterations
    for i, loss in enumerate([3.0, 1.0, math.nan, 2.0], 1):
        h.add(Step(i, i / 200, loss, 1e-3))
    beta = 1 - 1 / 20
    first_two = ((1 - beta) * beta * 3.0 + (1 - beta) * 1.0) / (1 - beta**2)
    assert h.steps_smooth[:3].tolist() == pytest.approx([3.0, first_two, first_two])
    assert math.isnan(h.steps_loss[2])  # the raw losses keep what came

"""The workbench's pure parts: hyperparameter steps, plot downsampling, the
run history the panes read, number formats. No screen needed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trainer.config import Preset
from tui_trainer.engine.events import Epoch, RunEnded, RunStarted, Step
from tui_trainer.formatting import clock, compact, compact_mean, hyperparameter
from tui_trainer.ui import knobs
from tui_trainer.ui.history import EventQueue, RunHistory
from tui_trainer.ui.jobs import JOBS, ChecksJob, Job
from tui_trainer.ui.plotdata import mean_per_bucket, minmax_per_column
from tui_trainer.ui.session import Session, cannot_start
from tui_trainer.ui.trainer_host import last_frame
from tui_trainer.ui.widgets.param_table import band_label


def test_half_decades_stay_on_the_grid_over_many_presses():
    lr = 1e-3
    for _ in range(7):
        lr = knobs.half_decade(lr, up=False)
    for _ in range(7):
        lr = knobs.half_decade(lr, up=True)
    assert lr == 1e-3  # exactly: no drift to 0.000999999
    assert knobs.half_decade(2e-3, up=True) == pytest.approx(2e-3 * 10**0.5)  # off the grid: a plain factor


def test_reg_goes_from_zero_to_the_floor_and_back():
    p = Preset().replace(**{"train.reg": 0.0})
    with pytest.raises(knobs.AtLimit, match="already 0"):
        knobs.reg(p, up=False)
    p, said = knobs.reg(p, up=True)
    assert p.train.reg == knobs.REG_FLOOR and said == "reg 1e-05"
    p, _ = knobs.reg(p, up=False)
    assert p.train.reg == 0.0
    # Off the grid, down stops at the floor before 0.
    p, _ = knobs.reg(Preset().replace(**{"train.reg": 2e-5}), up=False)
    assert p.train.reg == knobs.REG_FLOOR


def test_batch_size_limits_name_the_limit():
    p = Preset().replace(**{"train.batch_size": 1})
    with pytest.raises(knobs.AtLimit, match="already 1"):
        knobs.batch_size(p, up=False, n_train=100)
    with pytest.raises(knobs.AtLimit, match="whole training set \\(100\\)"):
        knobs.batch_size(Preset().replace(**{"train.batch_size": 500}), up=True, n_train=100)
    p, said = knobs.batch_size(Preset().replace(**{"train.batch_size": 500}), up=False, n_train=100)
    assert p.train.batch_size == 50 and said == "batch size 50"  # from the effective 100
    full_batch = Preset().replace(**{"train.batch_size": 20, "train.sample_batches": False})
    with pytest.raises(knobs.AtLimit, match="whole training set"):  # a full-batch run takes all 100 already
        knobs.batch_size(full_batch, up=True, n_train=100)


def test_hyperparameter_reads_like_a_hyperparameter():
    assert [hyperparameter(v) for v in (1e-3, 10**-2.5, 0.0, 0.5, 1e2)] == ["1e-03", "3.16e-03", "0", "5e-01", "1e+02"]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 5000), cols=st.integers(1, 300), seed=st.integers(0, 2**16))
def test_minmax_downsampling_keeps_every_extreme_in_at_most_two_points_per_column(n, cols, seed):
    rng = np.random.default_rng(seed)
    x = np.arange(n, dtype=float) / 7
    y = rng.standard_normal(n)
    xs, ys = minmax_per_column(x, y, cols)
    assert xs.size <= max(2 * cols, n if n <= 2 * cols else 0)
    assert ys.max() == y.max() and ys.min() == y.min()
    assert np.all(np.diff(xs) >= 0), "points stay in the order they happened"
    assert set(zip(xs.tolist(), ys.tolist())) <= set(zip(x.tolist(), y.tolist()))


def test_downsampling_drops_non_finite_losses_and_ends_on_the_last_point():
    x = np.arange(10.0)
    y = np.array([1, 2, np.nan, 3, np.inf, 4, 5, 6, 7, 8], float)
    xs, ys = minmax_per_column(x, y, 100)
    assert np.isfinite(ys).all() and ys.size == 8
    xs, ys = mean_per_bucket(np.arange(1000.0), np.arange(1000.0), 10)
    assert xs.size == 10 and (xs[-1], ys[-1]) == (999.0, 999.0)
    assert ys[0] == pytest.approx(np.arange(100).mean())


def _started(per_epoch=10, total=30):
    return RunStarted("r", {}, 3, 100, 20, per_epoch, total, 1.1)


def test_history_folds_events_and_times_pauses_on_its_clock():
    run = RunHistory(1, Preset().replace(**{"train.epochs": 3}))
    run.t_start = 100.0
    run.add(_started())
    for i in range(1, 11):
        run.add(Step(i, i / 10, 2.0 - i / 10, 1e-3))
    run.add(Epoch(1, 1.5, 0.5, 0.4, 1e-3, 1.0))
    assert run.steps_x[-1] == 1.0 and run.steps_loss.size == 10 and run.current_epoch == 1.0
    # the smoothed loss is debiased: it starts at the first loss, not pulled towards 0
    assert run.steps_smooth[0] == pytest.approx(1.9)
    run.pause(110.0)
    assert run.status == "paused"
    assert run.elapsed(130.0) == 10.0  # paused time does not count
    run.resume(130.0)
    assert run.elapsed(140.0) == 20.0
    assert run.eta(140.0) == pytest.approx(20.0 / 10 * 20)
    run.add(RunEnded("stopped", "x pressed", 0.4, 1, 10, 5.0))
    run.finish(150.0)
    assert run.status == "stopped" and run.eta(150.0) is None and run.elapsed(999.0) == 30.0


def test_history_keeps_exploded_losses_out_of_the_smoothed_line():
    run = RunHistory(1, Preset())
    run.add(_started())
    run.add(Step(1, 0.1, 2.0, 1e-3))
    run.add(Step(2, 0.2, math.inf, 1e-3))
    assert run.steps_smooth.tolist() == [2.0, 2.0]


def test_the_event_queue_wakes_the_app_only_for_rare_events():
    woken = []
    q = EventQueue(lambda: woken.append(1))
    run = RunHistory(1, Preset())
    q.push(run, [Step(1, 0.1, 2.0, 1e-3), Step(2, 0.2, 1.9, 1e-3)])
    assert woken == [] and len(q) == 2
    q.push(run, [Step(3, 0.3, 1.8, 1e-3), RunEnded("finished", "", None, None, 3, 0.1)])
    assert woken == [1]
    assert [e.iteration for _, e in q.drain()[:3]] == [1, 2, 3] and len(q) == 0


def test_one_rule_says_whether_a_job_can_start():
    from pathlib import Path

    preset = Preset()
    s = Session(base_preset=preset, next_preset=preset, data_preset=preset, runs_dir=Path("runs"))
    for kind in JOBS:
        assert cannot_start(s, kind) == "the data are still loading"
    s.data_error = "digits.npz: not an .npz file"
    assert cannot_start(s, "tune") == "digits.npz: not an .npz file"
    s.data, s.data_error = object(), ""  # loaded
    assert all(cannot_start(s, kind) == "" for kind in JOBS)
    s.current = RunHistory(1, preset)  # a run going: the jobs that need the cores wait; the checks do not
    assert cannot_start(s, "search") == "a run is going and the search needs the cores: x stops the run"
    assert cannot_start(s, "lr-find") == "a run is going and lr-find needs the cores: x stops the run"
    assert cannot_start(s, "checks") == ""
    s.current.finish(1.0)
    checks = s.jobs["checks"] = ChecksJob(preset, s.data)
    assert cannot_start(s, "checks") == "the checks are running" and cannot_start(s, "tune") == ""
    checks.done.set()
    assert cannot_start(s, "checks") == ""


def test_a_job_is_active_until_its_end_arrives_and_running_until_run_returns():
    class Ended:
        pass

    class Counting(Job):
        END = (Ended,)

    job, ended = Counting(Preset()), Ended()
    job.fold("a trial ended")
    assert job.active and job.running and job.events == ["a trial ended"]
    job.fold(ended)  # its end arrived: another job of its kind may start while this one closes its pool
    assert not job.active and job.running and job.ended is ended
    job.done.set()
    job.finish(ended, "")
    assert not job.running and job.ended is ended and job.error == ""


@pytest.mark.parametrize(
    "value, digits, width, text",
    [
        (0.0, 2, None, "0"),
        (0.0123, 2, None, "0.012"),
        (3.14159e-5, 2, None, "3.1e-5"),
        (-2.6e-12, 2, 7, "-3e-12"),
        (1234.5, 3, None, "1.23e3"),
        (0.5, 3, None, "0.500"),
        (float("inf"), 2, 7, "inf"),  # an exploded run's ratio, not a crash of the table
        (float("-inf"), 2, None, "-inf"),
        (float("nan"), 2, None, "nan"),
    ],
)
def test_compact_numbers_fit_their_column(value, digits, width, text):
    assert compact(value, digits, width) == text


@pytest.mark.parametrize(
    "mean, std, digits, width, text",
    [
        # b2 after the snapshot run: zero in exact arithmetic, float32's rounding in fact.
        (1.09e-8, 0.0976, 3, None, "~0"),
        (-7.71e-11, 2.19e-4, 2, 7, "~0"),
        # W2's update: real (the reg term), 1.2e-4 of its spread: one digit stands above the floor.
        (4.99e-8, 4.30e-4, 3, None, "5e-8"),
        # Far above the floor: every digit asked for.
        (4.22e-4, 0.0537, 3, None, "4.22e-4"),
        (0.0133, 9.22e-3, 2, 7, "0.013"),
        (-2.0, 0.0, 3, None, "-2.00"),
        (0.0, 1.0, 3, None, "0"),
        (math.nan, 1.0, 3, None, "nan"),
    ],
)
def test_a_mean_shows_only_the_digits_float32_carries(mean, std, digits, width, text):
    assert compact_mean(mean, std, digits, width) == text


def test_the_means_blas_kernels_disagree_on_read_the_same():
    # b2's mean and its update's mean after the snapshot run under OpenBLAS's
    # SkylakeX, Haswell, Sandybridge and Katmai kernels (issue 27).
    for means, std in (
        ((1.09e-8, 9.17e-9, 5.91e-9, 5.96e-9), 0.0976),
        ((-7.71e-11, -7.86e-11, -8.15e-11, -9.24e-11), 2.19e-4),
    ):
        assert {compact_mean(m, std, digits, width) for m in means for digits, width in ((3, None), (2, 7))} == {"~0"}


def test_band_labels_read_without_colour():
    assert band_label(3e-3)[:2] == ("ok", " ")
    assert band_label(3e-2)[:2] == ("high", "↑")
    assert band_label(5e-4)[:2] == ("low", "↓")
    assert band_label(1.0)[:2] == ("HIGH", "⇈")
    assert band_label(1e-6)[:2] == ("LOW", "⇊")
    assert band_label(None)[0] == "n/a"


def test_clock_and_last_frame():
    assert [clock(s) for s in (None, 7, 750, 3723)] == ["--", "0:07", "12:30", "1:02:03"]
    tb = (
        'Traceback (most recent call last):\n  File "/x/engine/trainer.py", line 123, in _train\n'
        '    raise ValueError("bad")\nValueError: bad\n'
    )
    assert last_frame(tb) == "trainer.py:123 in _train"

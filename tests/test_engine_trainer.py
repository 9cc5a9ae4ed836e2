"""The trainer: statuses, the event stream's contract, decay, ratios, best params, memory."""

import math
import threading
import tracemalloc

import numpy as np
import pytest

from tui_trainer.config import load_preset, loads_preset
from tui_trainer.datasets import Dataset, load_dataset
from tui_trainer.engine import Epoch, Ratios, RunControl, RunEnded, RunStarted, Step, Trainer
from tui_trainer.engine.rules import EXPLODE_WINDOW, ExplosionWatch

SPIRAL = """
name = "spiral-test"
[data]
dataset = "spiral"
num_train = 300
num_val = 90
num_test = 0
preprocess = []
[model]
hidden = [40]
init_std = 0.05
[train]
learning_rate = 0.5
learning_rate_decay = 0.9
reg = 1e-3
batch_size = 30
epochs = 4
stats_every = 3
"""


def spiral(**overrides):
    preset = loads_preset(SPIRAL, overrides=[f"{k}={v}" for k, v in overrides.items()])
    return preset, load_dataset(preset.data)


class Recorder:
    """A sink that keeps every event; thread-safe for tests that read while it runs."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def __call__(self, event):
        with self.lock:
            self.events.append(event)

    def of(self, kind):
        with self.lock:
            return [e for e in self.events if isinstance(e, kind)]


def run(preset, data, **kw):
    rec = Recorder()
    trainer = Trainer(preset, data, rec, **kw)
    ended = trainer.run()
    return trainer, rec, ended


def test_a_run_finishes_with_the_events_in_order():
    preset, data = spiral()
    trainer, rec, ended = run(preset, data)
    started = rec.events[0]
    assert isinstance(started, RunStarted)
    assert rec.events[-1] is ended and ended.status == "finished"
    assert started.iterations_per_epoch == 300 // 30 and started.total_iterations == 40
    assert started.n_train == 300 and started.n_val == 90 and started.classes == 3
    assert started.initial_loss == pytest.approx(math.log(3), abs=0.05)
    steps = rec.of(Step)
    assert [s.iteration for s in steps] == list(range(1, 41))
    assert steps[-1].epoch == pytest.approx(4.0)
    assert [e.epoch for e in rec.of(Epoch)] == [1, 2, 3, 4]
    assert ended.iterations == 40 and len(rec.of(RunEnded)) == 1
    # It learns: the spiral is not linearly separable, a 40-unit net gets most of it.
    assert rec.of(Epoch)[-1].loss < steps[0].loss
    assert ended.best_val_acc > 0.6


def test_a_huge_learning_rate_explodes():
    preset, data = spiral(**{"train.learning_rate": 1e6, "train.update": "sgd", "model.init_std": 1.0})
    _, rec, ended = run(preset, data)
    assert rec.events[-1] is ended
    assert ended.status == "exploded"
    assert "explode_factor 3" in ended.reason and "learning rate" in ended.reason
    last = rec.of(Step)[-1]
    initial = rec.events[0].initial_loss
    assert not math.isfinite(last.loss) or last.loss > 3 * initial
    assert last.iteration == ended.iterations < 40


def flags(losses, initial=1.0, factor=3.0):
    watch = ExplosionWatch(initial, factor)
    return [watch.update(x) for x in losses]


def test_the_explosion_rule_smooths_the_loss_but_stops_at_once_on_nan():
    # one noisy mini-batch at 10x the initial loss among falling ones: the smoothed loss stays low
    assert not any(flags([0.9, 0.8, 0.7] * 10 + [10.0] + [0.6] * 10))
    # a sustained rise passes factor x initial within a few iterations
    assert flags([1.0, 2.0, 4.0, 8.0, 16.0]) == [False, False, False, True, True]
    # debiased: the very first loss counts in full, not damped towards zero
    assert flags([3.1]) == [True] and flags([2.9]) == [False]
    assert flags([3.1], factor=5.0) == [False]  # the preset's factor
    assert flags([0.5, math.nan]) == [False, True] and flags([math.inf]) == [True]
    # an initial loss that is not finite sets no limit: only a loss that is not finite counts
    assert flags([1e9, 1e12], initial=math.nan) == [False, False]
    assert flags([math.nan], initial=math.nan) == [True]
    # a long steady stretch forgets the start: within ~3 windows the smoothed loss follows a new level
    assert flags([1.0] * 100 + [3.5] * (3 * EXPLODE_WINDOW))[-1]


def test_the_trainer_stops_at_the_first_step_the_rule_flags():
    preset, data = spiral(**{"train.learning_rate": 1e6, "train.update": "sgd", "model.init_std": 1.0})
    _, rec, ended = run(preset, data)
    initial, factor = rec.events[0].initial_loss, preset.train.explode_factor
    assert ended.status == "exploded"
    assert flags([s.loss for s in rec.of(Step)], initial, factor) == [False] * (ended.iterations - 1) + [True]


def test_a_batch_of_one_whose_smoothed_loss_falls_is_not_exploded():
    # the case: batch 1 at lr 1e-5 was stopped at iteration ~1400 by one noisy example
    preset = load_preset("default", ["train.batch_size=1", "train.learning_rate=1e-5", "train.epochs=1"])
    data = load_dataset(preset.data, source=preset.source)
    _, rec, ended = run(preset, data)
    assert ended.status == "finished" and ended.best_val_acc > 0.85
    initial = rec.events[0].initial_loss
    assert max(s.loss for s in rec.of(Step)) > 3 * initial  # single batches do pass 3x the initial loss


def test_stop_from_another_thread_ends_the_run_within_one_iteration():
    preset, data = spiral(**{"train.epochs": 10_000})
    control = RunControl()
    rec = Recorder()
    reached = threading.Event()

    def sink(event):
        rec(event)
        if isinstance(event, Step) and event.iteration == 20:
            reached.set()

    trainer = Trainer(preset, data, sink, control=control)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("ended", trainer.run()))
    worker.start()
    assert reached.wait(30)
    before = len(rec.of(Step))
    control.stop("enough")
    worker.join(30)
    assert not worker.is_alive()
    assert len(rec.of(Step)) - before <= 1
    ended = result["ended"]
    assert ended.status == "stopped" and ended.reason == "enough"
    assert rec.events[-1] is ended


def test_pause_holds_the_trainer_and_resume_finishes_the_run():
    preset, data = spiral()
    control = RunControl()
    rec = Recorder()
    paused = threading.Event()

    def sink(event):
        rec(event)
        if isinstance(event, Step) and event.iteration == 5:
            control.pause()
            paused.set()

    trainer = Trainer(preset, data, sink, control=control)
    worker = threading.Thread(target=trainer.run)
    worker.start()
    assert paused.wait(30)
    worker.join(0.3)  # the trainer stays parked while paused
    assert worker.is_alive() and control.paused
    assert len(rec.of(Step)) == 5
    control.resume()
    worker.join(30)
    assert not worker.is_alive()
    assert rec.events[-1].status == "finished" and len(rec.of(Step)) == 40


def test_stop_while_paused_wakes_the_trainer():
    preset, data = spiral()
    control = RunControl()
    control.pause()
    result = {}
    worker = threading.Thread(
        target=lambda: result.setdefault("ended", Trainer(preset, data, Recorder(), control).run())
    )
    worker.start()
    worker.join(0.2)
    assert worker.is_alive()
    control.stop()
    worker.join(30)
    assert result["ended"].status == "stopped" and result["ended"].iterations == 0


def test_a_procedure_ends_the_run_as_finished_once_its_goal_is_reached():
    # from on_epoch (overfit-small at train accuracy 1.00): the epoch's event is sent, no step follows
    preset, data = spiral()
    trainer, rec, ended = run(
        preset, data, on_epoch=lambda t: t.finish("goal at epoch 2") if t.iteration == 20 else None
    )
    assert ended.status == "finished" and ended.reason == "goal at epoch 2"
    assert [e.epoch for e in rec.of(Epoch)] == [1, 2] and ended.iterations == 20 and len(rec.of(Step)) == 20
    assert ended.best_epoch in (1, 2) and rec.events[-1] is ended
    # from a sink mid-epoch (lr-find's stop): the step whose event asked is the last, the epoch sends no event
    rec = Recorder()

    def sink(event):
        rec(event)
        if isinstance(event, Step) and event.iteration == 13:
            trainer.finish("stop at 13")

    trainer = Trainer(preset, data, sink)
    ended = trainer.run()
    assert ended.status == "finished" and ended.reason == "stop at 13" and ended.iterations == 13
    assert [s.iteration for s in rec.of(Step)] == list(range(1, 14)) and [e.epoch for e in rec.of(Epoch)] == [1]


def test_a_rate_per_iteration_replaces_the_decay_and_a_shuffle_seed_only_the_order():
    preset, data = spiral()
    _, rec, ended = run(preset, data, learning_rate_at=lambda t: 0.01 * t)
    assert ended.status == "finished"
    assert [s.learning_rate for s in rec.of(Step)] == pytest.approx([0.01 * t for t in range(1, 41)])
    _, plain, _ = run(preset, data)
    _, shuffled, _ = run(preset, data, shuffle_seed=7)
    _, again, _ = run(preset, data, shuffle_seed=7)
    # the same initial weights and train-accuracy subset (the loss at init), other mini-batches
    assert shuffled.events[0].initial_loss == plain.events[0].initial_loss
    assert [s.loss for s in shuffled.of(Step)] != [s.loss for s in plain.of(Step)]
    assert [s.loss for s in shuffled.of(Step)] == [s.loss for s in again.of(Step)]


def test_a_sink_that_raises_fails_the_run_and_run_ended_is_still_sent():
    preset, data = spiral()
    rec = Recorder()

    def sink(event):
        rec(event)
        if isinstance(event, Step) and event.iteration == 5:
            raise OSError("disk full")

    trainer = Trainer(preset, data, sink)
    ended = trainer.run()
    assert ended.status == "failed" and "disk full" in ended.reason
    assert isinstance(trainer.error, OSError) and "OSError" in trainer.traceback
    assert rec.events[-1] is ended
    assert len(rec.of(Step)) == 5


def test_a_bad_label_fails_the_run_with_run_ended_last():
    preset, data = spiral()
    y = data.y_train.copy()
    y[0] = 7  # the spiral has 3 classes
    bad = Dataset(data.name, data.X_train, y, data.X_val, data.y_val, data.X_test, data.y_test, data.num_classes)
    trainer, rec, ended = run(preset, bad)
    assert ended.status == "failed" and "IndexError" in ended.reason
    assert rec.events[-1] is ended and ended.best_val_acc is None


def test_full_batch_does_one_iteration_per_epoch():
    preset, data = spiral(**{"train.sample_batches": "false", "train.epochs": 6})
    _, rec, ended = run(preset, data)
    assert rec.events[0].iterations_per_epoch == 1 and rec.events[0].total_iterations == 6
    assert [s.epoch for s in rec.of(Step)] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert ended.status == "finished" and ended.iterations == 6


def test_learning_rate_decays_after_each_epoch():
    preset, data = spiral()
    _, rec, _ = run(preset, data)
    rates = [e.learning_rate for e in rec.of(Epoch)]
    np.testing.assert_allclose(rates, [0.5, 0.45, 0.405, 0.3645])
    for s in rec.of(Step):  # steps report the rate they used
        assert s.learning_rate == pytest.approx(rates[math.ceil(s.epoch) - 1])


def test_ratios_every_stats_every_iterations_match_a_recomputation():
    preset, data = spiral()
    after = {}  # iteration -> the weights right after that iteration's update
    checked = []

    def sink(event):
        if isinstance(event, Step):
            after[event.iteration] = {k: v.astype(np.float64) for k, v in trainer.net.params.items()}
        elif isinstance(event, Ratios):
            for row in event.params:
                w = after[event.iteration][row.name]
                update = w - after[event.iteration - 1][row.name]
                assert row.shape == w.shape
                assert row.ratio == pytest.approx(np.linalg.norm(update) / np.linalg.norm(w), rel=1e-4)
                assert row.weight_mean == pytest.approx(w.mean(), rel=1e-4, abs=1e-7)
                assert row.update_max == pytest.approx(update.max(), rel=1e-4, abs=1e-9)
            assert [r.name for r in event.params] == ["W1", "b1", "W2", "b2"]
            checked.append(event.iteration)

    trainer = Trainer(preset, data, sink)
    assert trainer.run().status == "finished"
    assert checked == list(range(3, 41, 3))


def test_best_params_are_those_of_the_best_val_epoch():
    # With this seed val accuracy peaks at epoch 3 of 7, then the net moves on.
    preset, data = spiral(**{"train.epochs": 7, "train.learning_rate": 1.0})
    rec = Recorder()
    snapshots = {}

    def on_epoch(trainer):
        snapshots[rec.of(Epoch)[-1].epoch] = trainer.net.copy_params()

    trainer = Trainer(preset, data, rec, on_epoch=on_epoch)
    ended = trainer.run()
    accs = [e.val_acc for e in rec.of(Epoch)]
    assert ended.best_val_acc == max(accs) and ended.best_epoch == accs.index(max(accs)) + 1
    for k, v in trainer.best_params.items():
        np.testing.assert_array_equal(v, snapshots[ended.best_epoch][k])
    assert ended.best_epoch < 7
    assert any(not np.array_equal(trainer.best_params[k], trainer.net.params[k]) for k in trainer.best_params)


def test_float32_by_default_and_buffers_reused_across_epochs():
    # Batches of 100, the 1,000-example train-accuracy subset and a 600-example
    # val split: three sizes, yet the training buffers must live the whole run.
    preset, data = spiral(**{"data.num_train": 1200, "data.num_val": 600, "train.batch_size": 100})
    first = {}

    def sink(event):
        if isinstance(event, Step):
            net = trainer.net
            arrays = [a for group in net._buffers[100].values() for a in group] + list(net.grads.values())
            # Holding the first arrays keeps their ids from being recycled.
            reference = first.setdefault("arrays", arrays)
            assert all(a is b for a, b in zip(arrays, reference)), f"reallocated at iteration {event.iteration}"

    trainer = Trainer(preset, data, sink)
    ended = trainer.run()
    assert ended.status == "finished", ended.reason
    assert ended.iterations == 48
    for name, p in trainer.net.params.items():
        assert p.dtype == np.float32 and trainer.net.grads[name].dtype == np.float32
        assert trainer.best_params[name].dtype == np.float32


def test_the_training_set_is_never_copied_whole():
    preset = loads_preset(
        '[data]\ndataset = "mnist-5k"\nnum_train = 4800\nnum_val = 200\nnum_test = 0\n'
        "[train]\nepochs = 2\nbatch_size = 200\n"
    )
    data = load_dataset(preset.data)
    X = data.X_train
    tracemalloc.start()
    try:
        trainer, _, ended = run(preset, data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ended.status == "finished"
    assert trainer.data.X_train is X
    # The fixed 1,000-example train-accuracy subset, one batch and the net's
    # buffers; a float copy of X_train alone would be X.nbytes (18.8 MB).
    assert peak < X.nbytes / 2, f"peak {peak / 1e6:.1f} MB vs X_train {X.nbytes / 1e6:.1f} MB"


def test_gathering_the_next_batch_ahead_changes_nothing_in_the_run(monkeypatch):
    # A CIFAR-sized batch is gathered on a second thread while the step before it
    # computes; the run must be the same, step for step, as one gathered in line.
    import tui_trainer.engine.trainer as trainer_module

    preset = loads_preset(
        '[data]\ndataset = "mnist-5k"\nnum_train = 2000\nnum_val = 200\nnum_test = 0\n'
        "[train]\nepochs = 2\nbatch_size = 200\nstats_every = 5\n"
    )
    data = load_dataset(preset.data)
    runs = {}
    monkeypatch.setattr(trainer_module, "cores", lambda: 2)
    monkeypatch.setattr(trainer_module, "blas_threads", lambda: 1)  # a core left free: the gather takes it
    for prefetch in (False, True):
        monkeypatch.setattr(trainer_module, "PREFETCH_BYTES", 0 if prefetch else 1 << 62)
        seen: set[str] = set()

        def look(_trainer, seen=seen):
            seen.update(t.name for t in threading.enumerate())

        trainer, rec, ended = run(preset, data, on_epoch=look)
        assert ended.status == "finished"
        assert any(name.startswith("tui-trainer batches") for name in seen) == prefetch
        runs[prefetch] = ([e.loss for e in rec.of(Step)], [e.val_acc for e in rec.of(Epoch)], trainer.net.params)
    assert runs[True][0] == runs[False][0] and runs[True][1] == runs[False][1]
    for k, v in runs[True][2].items():
        np.testing.assert_array_equal(v, runs[False][2][k])
    assert not any(t.name.startswith("tui-trainer batches") for t in threading.enumerate())  # closed with the run


def test_no_gathering_thread_when_the_blas_takes_every_core(monkeypatch):
    # With BLAS threads on every core a gathering thread only takes a core from the matmuls.
    import tui_trainer.engine.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "PREFETCH_BYTES", 0)
    monkeypatch.setattr(trainer_module, "cores", lambda: 2)
    monkeypatch.setattr(trainer_module, "blas_threads", lambda: 2)
    preset, data = spiral()
    seen: set[str] = set()

    def look(_trainer):
        seen.update(t.name for t in threading.enumerate())

    _, _, ended = run(preset, data, on_epoch=look)
    assert ended.status == "finished"
    assert not any(name.startswith("tui-trainer batches") for name in seen)

"""The advisor: each diagnosis fires on a history that shows it, not on a near miss,
and real runs with a learning rate far too low or too high get their diagnosis."""

import json
import math
import subprocess
import sys

import numpy as np

from tui_trainer.config import Preset, load_preset, to_dict
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer
from tui_trainer.engine.events import Advice, Epoch, ParamStats, Ratios, RunEnded, RunStarted, Step
from tui_trainer.engine.events import to_dict as ev_dict
from tui_trainer.lab import advisor as adv
from tui_trainer.lab import loss_checks
from tui_trainer.lab.advisor import Advisor, diagnose
from tui_trainer.lab.history import History

LN10 = math.log(10)


def started(initial=LN10, classes=10, per_epoch=20, epochs=10, **dotted):
    preset = Preset().replace(**dotted) if dotted else Preset()
    return RunStarted(
        run_id="t",
        config=to_dict(preset),
        classes=classes,
        n_train=4000,
        n_val=500,
        iterations_per_epoch=per_epoch,
        total_iterations=per_epoch * epochs,
        initial_loss=initial,
        image_shape=(28, 28, 1),
    )


def history(losses, per_epoch=20, accs=None, initial=None, classes=10, ratios=None, **dotted):
    """run_started, one step per loss, an epoch event at each epoch end (train, val accuracies from accs),
    and with `ratios` (W1's, W2's) a ratios event every 10 steps."""
    losses = list(losses)
    start = started(
        initial if initial is not None else LN10, classes, per_epoch, max(1, len(losses) // per_epoch), **dotted
    )
    events = [start]
    for i, loss in enumerate(losses, start=1):
        events.append(Step(i, i / per_epoch, loss, 1e-3))
        if ratios and i % 10 == 0:
            events.append(ratios_event(i, *ratios))
        if i % per_epoch == 0:
            e = i // per_epoch
            chunk = [x for x in losses[i - per_epoch : i]]
            tr, va = accs[e - 1] if accs else (0.1, 0.1)  # chance
            events.append(Epoch(e, float(np.mean(chunk)), tr, va, 1e-3, float(e)))
    return events


def codes(events):
    return [d.code for d in diagnose(events)]


def decay(n, start=LN10, end=0.3, rate=8.0, noise=0.0, seed=0):
    """A healthy loss curve: the early drop, then a levelling off."""
    t = np.arange(n) / n
    rng = np.random.default_rng(seed)
    return list(end + (start - end) * np.exp(-rate * t) + noise * rng.standard_normal(n))


# --- each diagnosis: a history that shows it, and a near miss ------------------------


def test_a_healthy_history_gets_no_advice():
    accs = [(0.3 + 0.06 * e, 0.3 + 0.055 * e) for e in range(1, 11)]
    assert codes(history(decay(200, noise=0.01), accs=accs)) == []


SLOW = (3e-5, 5e-5)  # W1's and W2's update/weight ratios: both far under the band's floor, 1e-3
MOVING = (2e-2, 5e-2)  # above the band: a small init's weights growing, as good runs do at first


def test_a_flat_loss_with_weights_that_barely_move_is_the_rate_said_at_once():
    flat = [LN10 * (1 - 0.02 * i / 20) for i in range(1, 41)]  # 2% down over the first epoch
    near = [LN10 * (1 - 0.05 * i / 20) for i in range(1, 41)]  # 5% down: going down
    d = [x for x in diagnose(history(flat, ratios=SLOW)) if x.code == "loss_flat"]
    # the factor brings the slowest (3e-5) to the floor, 33x: the power of ten nearest (on a log
    # scale), 100x, which keeps the fastest (5e-5) under the band's top
    assert d and d[0].iteration == 20 and "train.learning_rate = 0.001" in d[0].remedy
    assert "raise it about 100x, to 0.1" in d[0].remedy and "fell 1.8%" in d[0].message
    assert "regularization" not in d[0].remedy and "init" not in d[0].remedy  # one cause named
    assert "loss_flat" not in codes(history(near, ratios=SLOW))
    # the same ratios a decade lower: 1000x; with the fastest at 2e-3, only 10x (to the band's top at most)
    (far,) = [x for x in diagnose(history(flat, ratios=(3e-6, 5e-6))) if x.code == "loss_flat"]
    assert "raise it about 1000x, to 1" in far.remedy
    (capped,) = [x for x in diagnose(history(flat, ratios=(3e-5, 9e-4))) if x.code == "loss_flat"]
    assert "raise it about 10x, to 0.01" in capped.remedy


def test_a_flat_loss_with_weights_that_move_waits_out_the_plateau_and_names_one_cause():
    flat = [LN10 * (1 - 0.01 * i / 100) for i in range(1, 101)]  # 5 epochs, 1% down
    d = [x for x in diagnose(history(flat, ratios=MOVING)) if x.code == "loss_flat"]
    # a quarter of the run is 25 iterations, PLATEAU_MIN 50: judged at the first epoch end past 50
    assert d and d[0].iteration == 60
    assert 'model.init = "he"' in d[0].remedy and "learning rate" not in d[0].remedy
    (strong,) = [
        x
        for x in diagnose(history(flat, ratios=MOVING, **{"model.init": "xavier", "train.reg": 10.0}))
        if x.code == "loss_flat"
    ]
    assert "regularization is too strong (train.reg = 10): try 1" in strong.remedy
    # xavier, a light reg, features on one scale: nothing to blame; underfitting's to judge
    assert "loss_flat" not in codes(history(flat, ratios=MOVING, **{"model.init": "xavier"}))
    # the loss falls within the wait: never flat
    falls = flat[:40] + list(np.linspace(flat[40], 1.0, 60))
    assert "loss_flat" not in codes(history(falls, ratios=MOVING))


def test_a_loss_that_rose_is_never_too_low():
    # the default at lr 0.008: up 20% in the first epoch, the ratios high
    rising = [LN10 * (1 + 0.2 * i / 20) for i in range(1, 41)]
    found = {x.code: x for x in diagnose(history(rising, ratios=MOVING))}
    assert "loss_flat" not in found and "loss_linear" not in found
    assert "rose" in found["loss_rising"].message and "too high" in found["loss_rising"].remedy
    assert "lower it, by 10x to start with (to 0.0001)" in found["loss_rising"].remedy
    # with slow ratios too, the direction of the loss wins
    found = {x.code: x for x in diagnose(history(rising, ratios=SLOW))}
    assert "loss_flat" not in found and "ratio_low" not in found and "loss_rising" in found
    # a hair above the start is noise, not a rise
    assert "loss_rising" not in codes(history([LN10 * 1.05] * 40, ratios=SLOW))


def test_loss_exploding_names_the_iteration_and_the_factor():
    rising = decay(30)[:9] + [LN10 * 2**k for k in range(1, 6)]  # 2x, 4x, 8x, ... the initial loss
    d = [x for x in diagnose(history(rising)) if x.code == "loss_exploding"]
    assert d[0].iteration == 13  # the smoothed loss passes 3x at the fourth rising step
    assert "iteration 13" in d[0].message and "smoothed loss" in d[0].message and "explode_factor 3" in d[0].message
    assert "learning rate is too high" in d[0].remedy and "lower it, by 10x to start with (to 0.0001)" in d[0].remedy
    # one mini-batch at 4x the initial loss among falling ones is noise, not an explosion
    assert "loss_exploding" not in codes(history(decay(30)[:9] + [4 * LN10] + decay(30)[10:]))


def test_nan_loss_is_an_explosion():
    d = [x for x in diagnose(history([2.2, 2.1, math.nan])) if x.code == "loss_exploding"]
    assert d[0].iteration == 3 and "not finite" in d[0].message


def test_explosion_respects_the_presets_explode_factor():
    rising = decay(30)[:9] + [LN10 * 2**k for k in range(1, 6)]
    ds = [x for x in diagnose(history(rising, **{"train.explode_factor": 5.0})) if x.code == "loss_exploding"]
    assert ds[0].iteration == 14


def test_loss_linear_fires_on_a_straight_line_without_the_early_drop():
    line = list(np.linspace(LN10, LN10 * 0.8, 60))  # straight down, 20% in 3 epochs
    assert "loss_linear" in codes(history(line))
    # near misses: the early drop of a good rate; a fall too small to call
    assert "loss_linear" not in codes(history(decay(60, rate=4.0)))
    assert "loss_linear" not in codes(history(list(np.linspace(LN10, LN10 * 0.97, 60))))
    # two straight pieces, the first falling twice as fast: nearly a line (R^2 0.98), but an early drop
    bent = list(np.linspace(LN10, LN10 * 0.87, 31)[:-1]) + list(np.linspace(LN10 * 0.87, LN10 * 0.8, 31)[1:])
    assert "loss_linear" not in codes(history(bent, per_epoch=30))


def test_loss_noisy_fires_when_step_noise_is_large_against_the_initial_loss():
    rng = np.random.default_rng(1)
    trend = np.array(decay(100, rate=2.0))
    noisy = list(trend + 0.2 * LN10 * rng.standard_normal(100))  # noise 20% of the initial loss
    calm = list(trend + 0.05 * LN10 * rng.standard_normal(100))  # 5%: ordinary mini-batch noise
    d = [x for x in diagnose(history(noisy)) if x.code == "loss_noisy"]
    assert d and "batch_size" in d[0].remedy
    assert "loss_noisy" not in codes(history(calm))
    # full-batch gradient descent has no sampling noise to blame on the batch size
    assert "loss_noisy" not in codes(history(noisy, **{"train.sample_batches": False}))


def test_loss_noise_ignores_a_smooth_trend():
    steep = np.linspace(10.0, 0.0, 100)
    assert adv.loss_noise(steep) < 1e-6


def test_overfitting_fires_on_a_big_train_val_gap():
    big = [(0.9, 0.85), (0.98, 0.80)]
    small = [(0.9, 0.85), (0.98, 0.85)]  # 13 points: a gap, not a big one
    d = [x for x in diagnose(history(decay(40), accs=big)) if x.code == "overfitting"]
    assert d and d[0].iteration == 40 and "reg" in d[0].remedy
    assert "overfitting" not in codes(history(decay(40), accs=small))


def test_underfitting_fires_with_no_gap_low_accuracy_and_levelled_curves():
    levelled = decay(200, end=1.5, rate=12.0)
    low = [(0.45, 0.44)] * 10
    d = [x for x in diagnose(history(levelled, accs=low)) if x.code == "underfitting"]
    # epoch 8: five epochs without a new val high, and the loss within 3% of its low before them
    assert d and d[0].iteration == 160
    assert "model.hidden = [50]): try [100]" in d[0].remedy
    # near misses: accuracy already high; a gap (that is the other diagnosis); the loss still falling
    assert "underfitting" not in codes(history(levelled, accs=[(0.85, 0.84)] * 10))
    assert "underfitting" not in codes(history(levelled, accs=[(0.60, 0.45)] * 10))
    falling = list(np.linspace(LN10, 1.0, 200))
    assert "underfitting" not in codes(history(falling, accs=low))
    # the val curve still climbing: not yet
    climbing = [(0.4 + 0.02 * e, 0.4 + 0.02 * e) for e in range(10)]
    assert "underfitting" not in codes(history(levelled, accs=climbing))


def test_a_change_that_rounds_to_nothing_reads_stayed_put_and_others_say_rose_or_fell():
    rising_a_hair = [LN10 * (1 + 0.0001 * i / 20) for i in range(1, 21)]
    (d,) = [x for x in diagnose(history(rising_a_hair, ratios=SLOW)) if x.code == "loss_flat"]
    assert "stayed put (0.0%)" in d.message and "-0" not in d.message
    assert loss_checks._moved(-0.00004) == "stayed put (0.0%)"
    assert loss_checks._moved(-0.004) == "fell 0.4%" and loss_checks._moved(0.012) == "rose 1.2%"


def test_accuracy_rising_while_the_loss_barely_moves_is_explained():
    still = [LN10 * (1 - 0.002 * i / 100) for i in range(1, 101)]
    rising = [(0.12 + 0.03 * e, 0.12 + 0.03 * e) for e in range(1, 6)]
    d = [x for x in diagnose(history(still, accs=rising, ratios=SLOW)) if x.code == "accuracy_without_loss"]
    assert d and "softmax" in d[0].message and d[0].iteration == 60  # 0.21 >= chance 0.10 + 0.10 at epoch 3
    assert "raise it about 100x" in d[0].remedy  # the weights barely move: the rate
    # the weights move: nothing to raise, the loss follows
    (moving,) = [x for x in diagnose(history(still, accs=rising, ratios=MOVING)) if x.code == "accuracy_without_loss"]
    assert "raise" not in moving.remedy and "Nothing is broken" in moving.remedy
    # near miss: the accuracy stays near chance
    assert "accuracy_without_loss" not in codes(history(still, accs=[(0.15, 0.14)] * 5))


def ratios_event(i, w1, w2=2e-3, b1=5e-1):
    def ps(name, r):
        return ParamStats(name, (3, 3), 0, 1, -1, 1, 0, r, -r, r, r)

    return Ratios(i, (ps("W1", w1), ps("b1", b1), ps("W2", w2), ps("b2", b1)))


def with_ratios(values_w1, **kw):
    events = history(decay(20 * len(values_w1)), accs=[(0.5, 0.5)] * len(values_w1))[:1]
    for k, r in enumerate(values_w1, start=1):
        events.append(Step(k, k / 20, 2.0, 1e-3))
        events.append(ratios_event(k, r, **kw))
    return events


def test_ratio_too_small_for_five_readings_names_the_parameter():
    d = [x for x in diagnose(with_ratios([3e-5] * 5)) if x.code == "ratio_low"]
    assert d and "W1" in d[0].message and "W2" not in d[0].message and "too low" in d[0].remedy
    assert d[0].iteration == 5
    # a little under the band, within the decade the ratio table colours as a warning: no advice
    assert "ratio_low" not in codes(with_ratios([7e-4] * 8))


def test_ratio_too_large_names_the_parameter():
    d = [x for x in diagnose(with_ratios([3e-3] * 6, w2=0.5)) if x.code == "ratio_high"]
    assert d and "W2" in d[0].message and "W1" not in d[0].message and "too high" in d[0].remedy


def test_a_low_ratio_says_nothing_once_converged_or_decayed_on_schedule():
    events = with_ratios([3e-5] * 5, w2=5e-5)
    converged = [*events[:1], Epoch(1, 0.01, 1.0, 0.9, 1e-3, 1.0), *events[1:]]
    assert "ratio_low" not in codes(converged)
    decayed = [e if not isinstance(e, Step) else Step(e.iteration, e.epoch, e.loss, 3e-4) for e in events]
    assert "ratio_low" not in codes(decayed)  # the schedule took the rate to 0.3x of train.learning_rate
    d = [x for x in diagnose(events) if x.code == "ratio_low"]
    assert "raise it about 100x, to 0.1" in d[0].remedy  # 3e-5 is 33x under 1e-3: the nearest power of ten
    # W2 at 2e-3 would pass the band's top at 100x: the factor stops at 10x
    (capped,) = [x for x in diagnose(with_ratios([3e-5] * 5)) if x.code == "ratio_low"]
    assert "raise it about 10x, to 0.01" in capped.remedy
    # W2 above the band's top: the rate is not low, whatever W1 says
    assert "ratio_low" not in codes(with_ratios([3e-5] * 5, w2=3e-2))


def near_zero_ratios(stds, hidden=(50,), reg=1e-3):
    """A run whose W1 (fan-in 100, so 1/sqrt(fan_in) = 0.1) reads ratio 0.5 with these stds in turn."""
    events = history(decay(20), accs=[(0.5, 0.5)], **{"model.hidden": list(hidden), "train.reg": reg})[:1]
    for k, std in enumerate(stds, start=1):
        w1 = ParamStats("W1", (100, 50), 0, std, -std, std, 0, 0.5 * std, -std, std, 0.5)
        w2 = ParamStats("W2", (50, 10), 0, 0.1, -0.1, 0.1, 0, 2e-4, -1e-3, 1e-3, 2e-3)
        events += [Step(k, k / 20, 2.0, 1e-3), Ratios(k, (w1, w2))]
    return events


def test_a_high_ratio_on_weights_near_zero_names_reg_or_capacity_not_the_rate():
    # weights far under their fan-in scale (0.1), not growing: the rate is not the cause
    (held,) = [x for x in diagnose(near_zero_ratios([1e-3] * 5, reg=0.5)) if x.code == "ratio_high"]
    assert held.remedy.startswith("Not the learning rate") and "train.reg = 0.05" in held.remedy
    (linear,) = [x for x in diagnose(near_zero_ratios([1e-3] * 5, hidden=())) if x.code == "ratio_high"]
    assert "model.hidden = []): try [100]" in linear.remedy and "learning_rate" not in linear.remedy
    # growing out of a small init (1e-4 to 1e-3 in five readings): their ratio falls as they grow
    assert "ratio_high" not in codes(near_zero_ratios([1e-4, 2e-4, 4e-4, 7e-4, 1e-3]))
    # weights at their scale: the rate
    (sized,) = [x for x in diagnose(near_zero_ratios([0.1] * 5)) if x.code == "ratio_high"]
    assert "learning rate is too high" in sized.remedy and "lower it about 100x" in sized.remedy


def test_a_ratio_blip_is_not_advice():
    blips = [3e-5, 3e-5, 3e-5, 3e-5, 3e-3, 3e-5, 3e-5, 3e-5, 3e-5]  # never five readings in a row
    assert codes(with_ratios(blips)) == []
    # the biases' ratios (huge from a zero start) are not judged
    assert codes(with_ratios([3e-3] * 8, b1=5.0)) == []


def test_initial_loss_far_from_ln_c():
    d = [x for x in diagnose(history(decay(20), initial=67.2)) if x.code == "initial_loss"]
    assert d and "ln(10)" in d[0].message and "model.init" in d[0].remedy
    assert "initial_loss" not in codes(history(decay(20), initial=LN10 * 1.2))


def test_initial_loss_for_svm_is_c_minus_one():
    assert "initial_loss" not in codes(history(decay(20, start=9.0), initial=9.0, **{"model.loss": "svm"}))
    d = [x for x in diagnose(history(decay(20), initial=LN10, **{"model.loss": "svm"})) if x.code == "initial_loss"]
    assert d and "C - 1 = 9" in d[0].message


# --- the watcher ---------------------------------------------------------------------


def test_advisor_forwards_every_event_and_adds_advice_once_per_code():
    out = []
    sink = Advisor(out.append)
    events = history([LN10] * 60, ratios=SLOW)
    for e in events:
        sink(e)
    assert [e for e in out if not isinstance(e, Advice)] == events
    advice = [e for e in out if isinstance(e, Advice)]
    assert [a.code for a in advice] == ["loss_flat", "ratio_low"]  # each once, though both hold to the end
    # the advice comes right after the event that revealed it
    i = out.index(advice[0])
    assert isinstance(out[i - 1], Epoch) and out[i - 1].epoch == 1
    j = out.index(advice[1])
    assert isinstance(out[j - 1], Ratios) and out[j - 1].iteration == 50  # the fifth low reading
    assert [d.code for d in sink.diagnoses] == ["loss_flat", "ratio_low"]


def test_advisor_starts_over_with_each_run():
    out = []
    sink = Advisor(out.append)
    run = history([LN10] * 20, ratios=SLOW)
    for e in run + [RunEnded("finished", "", 0.1, 1, 20, 1.0)] + run:
        sink(e)
    assert [e.code for e in out if isinstance(e, Advice)] == ["loss_flat", "loss_flat"]
    assert len(sink.diagnoses) == 1


def test_diagnose_reads_metrics_jsonl_dicts_and_ignores_recorded_advice():
    events = history([LN10] * 20, ratios=SLOW)
    dicts = [ev_dict(e) for e in events] + [ev_dict(Advice(3, "overfitting", "m", "r"))]
    assert [d.code for d in diagnose(dicts)] == ["loss_flat"]
    assert History.from_events(dicts).iteration == 20


def test_every_code_has_a_severity():
    assert set(adv.SEVERITY.values()) <= {"error", "warning", "info"}
    assert set(adv.EPOCH_CHECKS) <= set(adv.SEVERITY)


# --- real runs -------------------------------------------------------------------------


def real_run(preset_or_overrides):
    name, overrides = preset_or_overrides
    preset = load_preset(name, overrides)
    data = load_dataset(preset.data, source=preset.source)
    out = []
    ended = Trainer(preset, data, Advisor(out.append)).run()
    return ended, [e for e in out if isinstance(e, Advice)]


# The lecture's failure modes as the presets lr-too-low and lr-too-high ship them: the default
# net and data, plain sgd, no decay, tiny reg; only the learning rate is wrong.
FAILURE_MODE = ["train.update=sgd", "train.learning_rate_decay=1.0", "train.reg=1e-6"]
LR_TOO_LOW = ("lr-too-low", [])
LR_TOO_HIGH = ("lr-too-high", [])


def test_the_shipped_failure_presets_are_the_default_with_a_wrong_learning_rate():
    for name, lr in (("lr-too-low", 1e-6), ("lr-too-high", 1e-1)):
        shipped = load_preset(name)
        expected = load_preset("default", FAILURE_MODE + [f"train.learning_rate={lr}"])
        assert shipped.train == expected.train and shipped.model == expected.model and shipped.data == expected.data


def test_headless_json_carries_the_advice_event_before_run_ended(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "run", "lr-too-high", "--json", "--runs-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 3
    events = [json.loads(line) for line in out.stdout.splitlines()]
    advice = [e for e in events if e["event"] == "advice"]
    assert [a["code"] for a in advice] == ["loss_exploding"]
    assert events.index(advice[0]) < len(events) - 1 and events[-1]["event"] == "run_ended"
    recorded = (next(tmp_path.iterdir()) / "metrics.jsonl").read_text()
    assert '"event": "advice"' in recorded


def test_a_learning_rate_too_low_is_diagnosed_on_mnist():
    ended, advice = real_run(LR_TOO_LOW)
    found = {a.code: a for a in advice}
    assert ended.status == "finished"
    assert {"loss_flat", "ratio_low"} <= set(found)
    assert found["loss_flat"].iteration == 20  # at the end of the first epoch
    assert "W1" in found["ratio_low"].message and "1e-06" in found["ratio_low"].remedy
    assert "loss_exploding" not in found and "overfitting" not in found


def test_a_learning_rate_too_high_is_diagnosed_on_mnist():
    ended, advice = real_run(LR_TOO_HIGH)
    assert ended.status == "exploded"
    assert [a.code for a in advice] == ["loss_exploding"]
    assert f"iteration {ended.iterations}" in advice[0].message


def test_with_momentum_the_accuracy_creeps_up_while_the_loss_stays_put():
    # the lecture's "train/val accuracy goes to 20% though": lr 1e-6 with the default's momentum
    ended, advice = real_run(("default", ["train.learning_rate=1e-6", "train.epochs=4"]))
    found = {a.code: a for a in advice}
    assert "accuracy_without_loss" in found and "softmax" in found["accuracy_without_loss"].message


def test_the_default_preset_gets_no_advice():
    ended, advice = real_run(("default", ["train.epochs=4"]))
    assert ended.status == "finished" and advice == []

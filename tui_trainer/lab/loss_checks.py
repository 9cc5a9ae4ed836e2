"""The advisor's diagnoses of the loss curve's shape: rising, flat, linear, noisy.

Each is a pure function of a run's history (lab/history.py), run at epoch ends by
the Advisor (lab/advisor.py); the readings they share with the other diagnoses
(the loss's direction, the ratios' verdict on the rate, the small init's plateau)
are lab/evidence.py's.
"""

from __future__ import annotations

import math

import numpy as np

from ..engine.events import Advice
from .evidence import (
    FLAT_MIN_STEPS,
    RISE,
    RISE_BLOCK,
    answers_one_class,
    configured_lr,
    loss_rise,
    lower_rate_remedy,
    number,
    one_class,
    past_plateau,
    raise_rate_remedy,
    rate_evidence,
    ratios_text,
    run_input_scale,
    small_init,
    weights,
)
from .history import History

# loss_flat: at an epoch end from FLAT_MIN_STEPS iterations on, while no epoch's mean
# loss has fallen FLAT_DROP below the loss at init, the mean of the last quarter of
# the mini-batch losses (at most NOISE_WINDOW) is within FLAT_DROP of it (default:
# -6.9% after its first epoch; learning rate 1e-6: 0.0%). It names one cause, the
# first the evidence shows: every weight matrix's ratio under the band's floor (the
# rate is low: said at once); else, once past the small init's plateau
# (evidence.past_plateau), the inputs' scale, the small init, or a strong reg.
FLAT_DROP = 0.03
# ... and the regularization is the cause only when train.reg is at least this.
STRONG_REG = 1.0

# loss_rising: a block of mini-batches averaged evidence.RISE above the loss at init.

# loss_linear: from epoch LINEAR_MIN_EPOCHS on (at least LINEAR_MIN_STEPS
# iterations), the step losses so far, averaged in LINEAR_BINS bins, fell by at
# least LINEAR_MIN_DROP of the first bin, the first half of the fall is within
# a factor LINEAR_BALANCE of the second half (no early drop, no late
# acceleration), and a straight line fits the bins with R^2 >= LINEAR_R2; and
# the ratios allow a higher rate (evidence.RateEvidence.may_raise).
LINEAR_MIN_EPOCHS = 2
LINEAR_MIN_STEPS = 30
LINEAR_BINS = 12
LINEAR_MIN_DROP = 0.05
LINEAR_BALANCE = 1.5
LINEAR_R2 = 0.97

# loss_noisy: at an epoch end, over the last NOISE_WINDOW mini-batch losses
# (NOISE_MIN_STEPS at least), the step-to-step noise (std of successive
# differences / sqrt 2, so a smooth trend hardly counts) is above NOISE_LEVEL
# of the initial loss. Mini-batch sampling only, and not while the net answers one
# class (then the noise is how many minority examples each batch holds). Measured
# (seeded, first 100 steps): mnist-5k batch 200 0.04, 100 0.06, 50 0.08, 20 0.14,
# 10 0.27; spiral batch 100 0.04, 30 0.06, 10 0.14.
NOISE_WINDOW = 100
NOISE_MIN_STEPS = 20
NOISE_LEVEL = 0.10


def check_loss_rising(h: History) -> Advice | None:
    """The loss rose above its start: the rate is too high, whatever else the curves say."""
    if h.started is None or not h.epochs:
        return None
    rise = loss_rise(h)
    if not RISE <= rise < math.inf:  # not finite: the explosion rule's
        return None
    initial = h.started.initial_loss
    block = max(RISE_BLOCK, h.iterations_per_epoch // 4)
    return Advice(
        iteration=h.iteration,
        code="loss_rising",
        message=f"The loss rose: over {block} iterations in a row it averaged {initial * (1 + rise):.4g}, "
        f"{rise:.1%} above its start ({initial:.4g}), within the first {h.iteration} iterations.",
        remedy=lower_rate_remedy(h),
    )


def check_loss_flat(h: History) -> Advice | None:
    """See the triggers above: judged at epoch ends until it fires or the loss falls."""
    if h.started is None or not h.epochs or h.iteration < FLAT_MIN_STEPS:
        return None
    initial = h.started.initial_loss
    if not (math.isfinite(initial) and initial > 0):
        return None
    if loss_fell(h):  # flat after a fall is convergence
        return None
    x = h.steps_loss
    tail = x[-max(1, min(len(x) // 4, NOISE_WINDOW)) :]
    if not np.all(np.isfinite(tail)):
        return None  # that is an explosion, not a flat loss
    change = (float(tail.mean()) - initial) / initial
    rate = rate_evidence(h)
    if change <= -FLAT_DROP or rate.rose:  # falling; or risen, which is loss_rising's
        return None
    if rate.slow and rate.may_raise:
        remedy = raise_rate_remedy(h, rate, "the weights barely move")
    elif not past_plateau(h):
        return None  # a small init's plateau ends by itself
    elif not rate.known:
        remedy = raise_rate_remedy(h, rate, "the loss still sits at its start")
    else:
        remedy = flat_cause(h)
        if not remedy:
            return None  # the rate moves the weights and nothing holds them: underfitting's to judge
    return Advice(
        iteration=h.iteration,
        code="loss_flat",
        message=f"The loss is not going down: it {_moved(change)} over the first {h.iteration} iterations, "
        f"from {initial:.4g} to {tail.mean():.4g}.",
        remedy=remedy,
    )


def loss_fell(h: History) -> bool:
    """Some epoch's mean loss fell FLAT_DROP below the loss at init."""
    return h.started is not None and any(e.loss < h.started.initial_loss * (1 - FLAT_DROP) for e in h.epochs)


def flat_cause(h: History) -> str:
    """The one cause of a flat loss whose weights move, as its remedy ("" when none shows:
    then the net may not be able to fit, which is underfitting's to say)."""
    ratios = ratios_text(weights(h))
    preprocess = list(h.setting("data", "preprocess", []))
    scale = run_input_scale(h)
    if scale is not None and scale.needs_std and "std" not in preprocess:
        return (
            f"The inputs' scales are far apart ({scale.words}): one learning rate is too high for the large "
            f"features and too low for the small ones. Try data.preprocess = {[*preprocess, 'std']} "
            "(each feature to unit variance)."
        )
    if small_init(h):
        std = float(h.setting("model", "init_std", 0.0))
        return (
            f"The weights move ({ratios}) but the scores stay near zero: a small init (model.init_std = {std:g}) "
            "in a net with hidden layers waits on a plateau until the weights have grown, each layer's gradient "
            f"scaled by the others' tiny weights. Try model.init = \"he\" (scaled to each layer's fan-in)."
        )
    reg = float(h.setting("train", "reg", 0.0))
    if reg >= STRONG_REG:
        return f"The regularization is too strong (train.reg = {reg:g}): try {number(reg / 10)}."
    return ""


def _moved(change: float) -> str:
    """A change of the loss in words: "rose 20.8%", "fell 2.0%", "stayed put (0.0%)"."""
    pct = round(abs(change) * 100, 1)
    if pct == 0:
        return "stayed put (0.0%)"
    return f"{'rose' if change > 0 else 'fell'} {pct:.1f}%"


def check_loss_linear(h: History) -> Advice | None:
    if h.started is None or len(h.epochs) < LINEAR_MIN_EPOCHS or h.steps < LINEAR_MIN_STEPS:
        return None
    x = h.steps_loss
    if not np.all(np.isfinite(x)):
        return None
    n = (len(x) // LINEAR_BINS) * LINEAR_BINS
    bins = x[:n].reshape(LINEAR_BINS, -1).mean(axis=1)
    fall = bins[0] - bins[-1]
    if bins[0] <= 0 or fall < LINEAR_MIN_DROP * bins[0]:
        return None
    half = LINEAR_BINS // 2
    first, second = bins[0] - bins[half - 1], bins[half] - bins[-1]
    # Equal-width halves of a straight line fall by the same amount
    # (the step between bin half-1 and half belongs to neither).
    if first <= 0 or second <= 0 or not (1 / LINEAR_BALANCE <= first / second <= LINEAR_BALANCE):
        return None
    t = np.arange(LINEAR_BINS, dtype=np.float64)
    slope, intercept = np.polyfit(t, bins, 1)
    resid = bins - (slope * t + intercept)
    r2 = 1.0 - float(resid @ resid) / float(((bins - bins.mean()) ** 2).sum())
    if r2 < LINEAR_R2 or not rate_evidence(h).may_raise or one_class(h):
        return None  # a one-class net's loss falls as its biases learn the class shares: not the rate
    return Advice(
        iteration=h.iteration,
        code="loss_linear",
        message=f"The loss falls in a straight line ({fall / bins[0]:.0%} over {h.iteration} iterations, "
        f"R\u00b2 {r2:.2f} for a line) without the early drop a good learning rate gives.",
        remedy=f"The learning rate is low (train.learning_rate = {configured_lr(h):g}): try it 3-10x higher, "
        f"{number(3 * configured_lr(h))} to {number(10 * configured_lr(h))}.",
    )


def check_loss_noisy(h: History) -> Advice | None:
    if h.started is None or not h.epochs or not h.setting("train", "sample_batches", True):
        return None
    if answers_one_class(h.epochs[-1]) or rate_evidence(h).rose:
        return None  # the noise of how many minority examples a batch holds; or of a rate too high
    window = h.steps_loss[-NOISE_WINDOW:]
    if len(window) < NOISE_MIN_STEPS or not np.all(np.isfinite(window)):
        return None
    noise = loss_noise(window) / h.started.initial_loss
    if noise <= NOISE_LEVEL:
        return None
    batch = int(h.setting("train", "batch_size", 1))
    bigger = min(4 * batch, max(h.started.n_train, 1))
    return Advice(
        iteration=h.iteration,
        code="loss_noisy",
        message=f"The loss is very noisy around its trend: step-to-step noise {noise:.0%} of the initial loss "
        f"over the last {len(window)} iterations.",
        remedy=f"The batch size is small (train.batch_size = {batch}): try {bigger} "
        "(and the learning rate may be a little high for it).",
    )


def loss_noise(losses: np.ndarray) -> float:
    """Noise of a loss series around its trend, in loss units: the std of
    successive differences / sqrt(2) (for independent noise of std s, a
    difference has std s * sqrt 2). A smooth trend changes little from one
    step to the next, so it hardly counts."""
    d = np.diff(losses)
    return float(d.std()) / math.sqrt(2) if d.size else 0.0

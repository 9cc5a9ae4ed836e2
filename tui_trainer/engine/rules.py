"""Decision rules that more than one part of the package reads, one definition each.

The trainer stops a run on the explosion rule; the advisor explains the same
event with the same rule, so its advice never contradicts the run's status.
The moving average is the one the explosion rule, lr-find and the loss curves
smooth with. The checks and the advisor judge the loss at init against the
same expectation, with the same tolerance, and the inputs' scale with the same
thresholds (the trainer measures it for the run_started event).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# The explosion rule smooths the mini-batch losses with an exponential moving
# average over about this many mini-batches (beta = 1 - 1/window), debiased as
# Adam debiases its moments (divided by 1 - beta^t), so the first iterations are
# not pulled towards zero. One noisy mini-batch (batch size 1) moves it by at
# most 1/window of its excess; a real blow-up (lr-too-high) passes the limit
# within a few iterations.
EXPLODE_WINDOW = 20


class MovingAverage:
    """The debiased exponential moving average, one value at a time:

        avg = MovingAverage(beta=0.98)
        smoothed = avg.update(loss)      # after t updates: EMA_t / (1 - beta^t)

    Adam's bias correction (TensorBoard smooths its curves the same way): the
    average starts at 0, and dividing by 1 - beta^t undoes that pull, so the
    first value comes back as itself. Callers pass finite values only: one
    inf would stay in the average for good.
    """

    __slots__ = ("beta", "count", "_ema", "value")

    def __init__(self, beta: float):
        self.beta = beta
        self.count = 0
        self._ema = 0.0
        self.value = math.nan  # the smoothed value after the last update (NaN before the first)

    @classmethod
    def over(cls, window: float) -> MovingAverage:
        """An average over about `window` values (beta = 1 - 1/window)."""
        return cls(1.0 - 1.0 / window)

    def update(self, x: float) -> float:
        beta = self.beta
        self.count += 1
        self._ema = beta * self._ema + (1.0 - beta) * x
        self.value = self._ema / (1.0 - beta**self.count)
        return self.value


class ExplosionWatch:
    """Watches a run's mini-batch losses, one call per iteration:

        watch = ExplosionWatch(initial_loss, factor=preset.train.explode_factor)
        if watch.update(loss): ...stop: exploded...   # watch.why() says why

    A loss that is not finite (NaN or inf) explodes at once. Otherwise the run
    explodes when the smoothed loss (the debiased moving average above) exceeds
    factor x the loss at init (train.explode_factor). An initial loss that is not
    finite sets no limit: then only a loss that is not finite counts.
    """

    def __init__(self, initial_loss: float, factor: float, window: int = EXPLODE_WINDOW):
        self.initial_loss = initial_loss
        self.factor = factor
        self.window = window
        self.iteration = 0
        self._average = MovingAverage.over(window)
        self.smoothed = math.nan
        self.last = math.nan

    def update(self, loss: float) -> bool:
        """Take one mini-batch loss; True when the run has exploded."""
        self.iteration += 1
        self.last = loss
        if not math.isfinite(loss):
            return True
        self.smoothed = self._average.update(loss)
        return self.smoothed > self.factor * self.initial_loss

    def why(self) -> str:
        """What tripped the rule, in words (after update returned True)."""
        if not math.isfinite(self.last):
            return f"loss not finite ({self.last}) at iteration {self.iteration}"
        return (
            f"smoothed loss {self.smoothed:.4g} (moving average over ~{self.window} mini-batches) at "
            f"iteration {self.iteration}, {self.smoothed / self.initial_loss:.1f}x the initial loss "
            f"{self.initial_loss:.4g} (train.explode_factor {self.factor:g})"
        )


# --- the loss at init ----------------------------------------------------------------
# With small random weights every score starts near zero: softmax then gives each of
# the C classes probability 1/C (a loss of ln C), and the SVM loss a margin of 1 for
# each of the C - 1 wrong classes (a loss of C - 1).
#
# He and Xavier inits are not small: they scale each layer to its fan-in so the
# scores start with a variance of their own, on inputs of unit scale (each
# feature's mean square 1, what data.preprocess "std" gives): He keeps the
# pre-activations' variance at 2 through every ReLU layer, so the scores' is 2;
# Xavier halves it at each ReLU layer, so the scores' is 2^-L over L hidden
# layers (1 for a linear classifier). Scores that large are not independent of
# the labels on every data set: with few inputs a random net's scores follow or
# oppose the labels by chance (he on moons starts at 0.49, below ln 2; on
# circles at 1.57, 2.3x ln 2), and many inputs average that out (towards ln C +
# v/2 for a small variance v). So for He and Xavier the expectation is the
# range from scores of variance v lined up with the labels (the true class's
# the largest) to the same scores lined up against them (the smallest): over
# 2 classes with v = 2, 0.27 to 1.88. Inputs on a smaller scale bring the
# scores towards zero and the loss towards ln C, inside the range; inputs on a
# larger one take it above, which is what the check is for.
#
# How far the loss at init may sit outside that, as a fraction of it. A fraction, not
# a fixed amount, because the SVM's C - 1 grows with C: 0.1 is 4% of ln(10) but 1%
# of 9 and 0.1% of 99, a different strictness for each loss and class count. A
# quarter lets the usual inits pass (measured: every preset's gaussian init within
# 0.1%; he on spiral 1.23 and on std-scaled mnist-5k 2.95, inside their ranges)
# and still flags the scale the check is for: init_std 1e-1 is +31% on digits and
# 59x on mnist-5k; he on mnist-5k's mean-centred pixels (rms 66) 138, 26x the top
# of its range.
INITIAL_LOSS_TOL = 0.25
# The scores' variance at init on unit-scale inputs, by model.init, for L hidden
# layers; None: small weights, scores near zero.
INIT_SCORE_VARIANCE: dict[str, Callable[[int], float] | None] = {
    "gaussian": None,
    "xavier": lambda hidden_layers: 2.0**-hidden_layers,
    "he": lambda hidden_layers: 2.0,
}


@dataclass(frozen=True)
class ExpectedLoss:
    """The loss at init a healthy setup gives: `low`..`high` before the tolerance
    (one value for small weights), and how people read it."""

    low: float  # small weights: ln C, or C - 1; He, Xavier: their scores lined up with the labels
    high: float  # small weights: the same; He, Xavier: their scores lined up against the labels
    what: str  # "ln(10) = 2.303", "0.268 to 1.879 (he on unit-scale inputs; ln(2) = 0.693 with small weights)"

    @property
    def text(self) -> str:
        """The expectation with its tolerance, for a table: "ln(10) = 2.303 ± 25%"."""
        return f"{self.what} ± {INITIAL_LOSS_TOL:.0%}"


def initial_loss_is_off(measured: float, expected: ExpectedLoss) -> bool:
    """Whether a loss at init lies further than INITIAL_LOSS_TOL (a fraction) outside the
    expected low..high; a loss that is not finite always does. An expectation of 0 or
    less (one class) judges nothing."""
    if expected.high <= 0:
        return False
    tol = INITIAL_LOSS_TOL
    return not (math.isfinite(measured) and expected.low * (1 - tol) <= measured <= expected.high * (1 + tol))


def expected_initial_loss(loss: str, classes: int, init: str = "gaussian", hidden_layers: int = 0) -> ExpectedLoss:
    """The loss at init for model.loss `loss` over `classes` classes, model.init `init`
    and `hidden_layers` hidden layers (see above)."""
    small = float(classes - 1) if loss == "svm" else math.log(classes)
    small_what = f"C - 1 = {classes - 1}" if loss == "svm" else f"ln({classes}) = {small:.3f}"
    variance = INIT_SCORE_VARIANCE.get(init)
    if variance is None or classes < 2:
        return ExpectedLoss(small, small, small_what)
    low, high = _loss_of_scores(loss, variance(hidden_layers), classes)
    what = f"{low:.3f} to {high:.3f} ({init} on unit-scale inputs; {small_what} with small weights)"
    return ExpectedLoss(low, high, what)


@functools.lru_cache(maxsize=64)
def _loss_of_scores(loss: str, variance: float, classes: int) -> tuple[float, float]:
    """The loss of scores z ~ N(0, variance) per class with the true class's the largest, and
    with it the smallest: no closed form for softmax, so a seeded Monte Carlo estimate
    (standard error under 1% of it: far inside the tolerance)."""
    rows = max(64, min(20_000, 2_000_000 // classes))
    z = np.random.default_rng(0).standard_normal((rows, classes)) * math.sqrt(variance)
    top, bottom = z.max(axis=1), z.min(axis=1)
    if loss == "svm":  # the sum over the wrong classes j of max(0, z_j - z_y + 1); z_y's own term is 1
        lined_up = np.maximum(z - top[:, None] + 1, 0).sum(axis=1) - 1
        against = np.maximum(z - bottom[:, None] + 1, 0).sum(axis=1) - 1
        return float(lined_up.mean()), float(against.mean())
    lse = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
    return float((lse - top).mean()), float((lse - bottom).mean())


# --- the inputs' scale -----------------------------------------------------------------
# Features on a large scale (a feature's std above LARGE_FEATURE_STD) or on very
# different scales (the largest std above UNEQUAL_FEATURES x the median's) are
# what data.preprocess "std" is for: one learning rate is then too high for the
# large features and too low for the small ones, and He and Xavier inits, which
# assume unit-scale inputs, start with scores far too big. Measured: mnist-5k and
# digits, mean-centred, are at most 114 and 1.8x (pixels share one scale); a
# wine-like table (features from 0.1 to 1e3) 103x; features on a 1e4 scale 1.7e4.
LARGE_FEATURE_STD = 1e3
UNEQUAL_FEATURES = 30.0


@dataclass(frozen=True)
class InputScale:
    """The scale of a run's inputs as the net sees them (after data.preprocess)."""

    rms: float  # the root mean square of every input value
    median_std: float  # the median of the features' standard deviations (constant features left out)
    largest_std: float

    @property
    def needs_std(self) -> bool:
        """Large or very unequal feature scales: data.preprocess "std" would help."""
        return self.largest_std > LARGE_FEATURE_STD or self.largest_std > UNEQUAL_FEATURES * self.median_std

    @property
    def words(self) -> str:
        """The evidence, for a message: "features' std up to 1.7e+04 (median 1.3e+04)"."""
        return f"the features' std up to {self.largest_std:.2g} (median {self.median_std:.2g})"


def input_scale(X: Any, chunk: int = 256) -> InputScale:
    """The scale of the rows X (N x D, host NumPy): sums in float64, a chunk of rows at a
    time, so no float64 copy of X is made (the trainer measures its 1,000-row subset)."""
    x = np.asarray(X).reshape(len(X), -1)
    n, d = x.shape
    if not x.size:
        return InputScale(0.0, 0.0, 0.0)
    total, squares = np.zeros(d), np.zeros(d)
    for start in range(0, n, chunk):
        rows = x[start : start + chunk].astype(np.float64)
        total += rows.sum(axis=0)
        squares += (rows * rows).sum(axis=0)
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean * mean, 0.0))
    rms = float(np.sqrt(squares.sum() / x.size))
    varying = std[std > 1e-8 * np.maximum(1.0, np.abs(mean))]
    if not varying.size:
        return InputScale(rms, 0.0, 0.0)
    return InputScale(rms, float(np.median(varying)), float(varying.max()))

"""Decision rules that more than one part of the package reads, one definition each.

The trainer stops a run on the explosion rule; the advisor explains the same
event with the same rule, so its advice never contradicts the run's status.
The moving average is the one the explosion rule, lr-find and the loss curves
smooth with. The checks and the advisor judge the loss at init against the
same expectation, with the same tolerance.
"""

from __future__ import annotations

import math

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
# How far the loss at init may sit from that, as a fraction of it. A fraction, not
# a fixed amount, because the SVM's C - 1 grows with C: 0.1 is 4% of ln(10) but 1%
# of 9 and 0.1% of 99, a different strictness for each loss and class count. A
# quarter lets the usual inits pass (measured on the bundled data: xavier +4% and
# he +12% on spiral, every preset's gaussian init within 0.1%) and still flags the
# scale the check is for: init_std 1e-1 is +31% on digits and 59x on mnist-5k.
INITIAL_LOSS_TOL = 0.25


def expected_initial_loss(loss: str, classes: int) -> tuple[float, str]:
    """The loss at init that small random weights give, and how people read it
    ("ln(10) = 2.303", "C - 1 = 9"), for model.loss `loss` over `classes` classes."""
    if loss == "svm":
        return float(classes - 1), f"C - 1 = {classes - 1}"
    return math.log(classes), f"ln({classes}) = {math.log(classes):.3f}"


def initial_loss_is_off(measured: float, expected: float) -> bool:
    """Whether a loss at init is further than INITIAL_LOSS_TOL (a fraction) from the expected one;
    a loss that is not finite always is. An expectation of 0 or less (one class) judges nothing."""
    if expected <= 0:
        return False
    return not (math.isfinite(measured) and abs(measured - expected) <= INITIAL_LOSS_TOL * expected)

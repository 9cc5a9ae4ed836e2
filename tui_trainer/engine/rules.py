"""The trainer's decision rules that others read back, one definition each.

The trainer stops a run on them; the advisor explains the same event with the
same rule, so its advice never contradicts the run's status.
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
        self.beta = 1.0 - 1.0 / window
        self.window = window
        self.iteration = 0
        self._ema = 0.0
        self.smoothed = math.nan
        self.last = math.nan

    def update(self, loss: float) -> bool:
        """Take one mini-batch loss; True when the run has exploded."""
        self.iteration += 1
        self.last = loss
        if not math.isfinite(loss):
            return True
        self._ema = self.beta * self._ema + (1.0 - self.beta) * loss
        self.smoothed = self._ema / (1.0 - self.beta**self.iteration)
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

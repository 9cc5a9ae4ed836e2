"""The trainer's decision rules that others read back, one definition each.

The trainer stops a run on them; the advisor explains the same event with the
same rule, so its advice never contradicts the run's status.
"""

from __future__ import annotations

import math


def is_exploding(loss: float, initial_loss: float, factor: float) -> bool:
    """True when a mini-batch loss is not finite (NaN or inf) or above factor x
    the loss at init (train.explode_factor). An initial loss that is not finite
    sets no limit: then only a loss that is not finite counts."""
    return not math.isfinite(loss) or loss > factor * initial_loss

"""The workbench's hyperparameter keys as pure functions on a Preset.

The lecture's workflow: try, look, adjust, run again. Learning rate and reg
move in half decades (a factor of 10**0.5), as a log-space search would;
batch size halves and doubles. Each function returns the next run's preset
and a short phrase for the user, or raises `AtLimit` when the value cannot
move further that way.

    preset, said = learning_rate(preset, up=True)    # 1e-3 -> 3.16e-3
"""

from __future__ import annotations

import math

from ..config import Preset
from ..engine.trainer import effective_batch_size
from ..formatting import hyperparameter

HALF_DECADE = 10**0.5
REG_FLOOR = 1e-5  # reg up from 0 lands here; down from here goes back to 0


class AtLimit(Exception):
    """The value is already at the end of its range; the message says which."""


def half_decade(value: float, up: bool) -> float:
    """value * 10**(+-0.5), snapped to the half-decade grid when it is on it.

    Snapping keeps 1e-3 -> 3.16e-3 -> 1e-3 exact instead of drifting to
    0.000999999 after a few presses.
    """
    k = 2 * math.log10(value)
    if abs(k - round(k)) < 1e-9:
        return 10 ** ((round(k) + (1 if up else -1)) / 2)
    return value * HALF_DECADE if up else value / HALF_DECADE


def learning_rate(preset: Preset, up: bool) -> tuple[Preset, str]:
    lr = half_decade(preset.train.learning_rate, up)
    return preset.replace(**{"train.learning_rate": lr}), f"learning rate {hyperparameter(lr)}"


def reg(preset: Preset, up: bool) -> tuple[Preset, str]:
    r = preset.train.reg
    if up:
        new = REG_FLOOR if r == 0 else half_decade(r, True)
    else:
        if r == 0:
            raise AtLimit("reg is already 0")
        new = 0.0 if r <= REG_FLOOR * (1 + 1e-9) else max(half_decade(r, False), REG_FLOOR)
    return preset.replace(**{"train.reg": new}), f"reg {hyperparameter(new)}"


def batch_size(preset: Preset, up: bool, n_train: int) -> tuple[Preset, str]:
    """Double (up) or halve within 1 and the training set's size, from the batch the
    run takes (the whole training set when full-batch)."""
    b = effective_batch_size(preset.train, n_train)
    if up:
        if b >= n_train:
            raise AtLimit(f"batch size is already the whole training set ({n_train})")
        new = min(b * 2, n_train)
    else:
        if b <= 1:
            raise AtLimit("batch size is already 1")
        new = max(b // 2, 1)
    return preset.replace(**{"train.batch_size": new}), f"batch size {new}"

"""Weight and update statistics: the lecture's update/weight ratio.

The lecture's rule of thumb: norm(update) / norm(weight) around 1e-3 per
step. Much lower, the learning rate is probably too low; much higher, too high.
"""

from __future__ import annotations

import numpy as np

from .events import ParamStats

# The band the lecture gives: about 1e-3, within a factor of ~3 either way.
RATIO_BAND = (1e-3, 1e-2)


def param_stats(name: str, weight: np.ndarray, update: np.ndarray) -> ParamStats:
    """Summary of one parameter and the update just applied to it (same shape)."""
    w_norm = float(np.linalg.norm(weight.reshape(-1)))
    u_norm = float(np.linalg.norm(update.reshape(-1)))
    return ParamStats(
        name=name,
        shape=tuple(int(s) for s in weight.shape),
        weight_mean=float(weight.mean(dtype=np.float64)),
        weight_std=float(weight.std(dtype=np.float64)),
        weight_min=float(weight.min()),
        weight_max=float(weight.max()),
        update_mean=float(update.mean(dtype=np.float64)),
        update_std=float(update.std(dtype=np.float64)),
        update_min=float(update.min()),
        update_max=float(update.max()),
        ratio=(u_norm / w_norm) if w_norm > 0 else None,
    )


def ratio_band(ratio: float | None, band: tuple[float, float] = RATIO_BAND) -> str:
    """'ok' inside the band, 'warn' within a decade outside it, 'alert' beyond, 'none' if undefined."""
    if ratio is None or not np.isfinite(ratio):
        return "none"
    lo, hi = band
    if lo <= ratio <= hi:
        return "ok"
    if lo / 10 <= ratio <= hi * 10:
        return "warn"
    return "alert"

"""Weight and update statistics: the lecture's update/weight ratio.

The lecture's rule of thumb: norm(update) / norm(weight) around 1e-3 per
step. Much lower, the learning rate is probably too low; much higher, too high.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .backend import CPU, Backend
from .events import ParamStats

# The band the lecture gives: about 1e-3, within a factor of ~3 either way.
RATIO_BAND = (1e-3, 1e-2)


def param_stats(name: str, weight: np.ndarray, update: np.ndarray) -> ParamStats:
    """Summary of one parameter and the update just applied to it (same shape), on the CPU."""
    return ratio_rows({name: weight}, {name: update})[0]


_PER_PARAM = 10  # the numbers ratio_rows computes for each parameter


def ratio_rows(params: Mapping[str, Any], updates: Mapping[str, Any], backend: Backend = CPU) -> tuple[ParamStats, ...]:
    """A summary row for each parameter and the update just applied to it.

    The numbers are computed where the arrays live and stacked into one small
    float64 array, which comes to the host in one transfer per call.
    """
    xp, f64 = backend.xp, np.float64
    values = []
    for name, w in params.items():
        u = updates[name]
        values += [w.mean(dtype=f64), w.std(dtype=f64), w.min(), w.max()]
        values += [u.mean(dtype=f64), u.std(dtype=f64), u.min(), u.max()]
        values += [xp.linalg.norm(w.reshape(-1)), xp.linalg.norm(u.reshape(-1))]
    host = backend.to_host(xp.stack([xp.asarray(v, dtype=f64) for v in values])).reshape(-1, _PER_PARAM)
    rows = []
    for (name, w), row in zip(params.items(), host.tolist()):
        w_mean, w_std, w_min, w_max, u_mean, u_std, u_min, u_max, w_norm, u_norm = row
        rows.append(
            ParamStats(
                name=name,
                shape=tuple(int(s) for s in w.shape),
                weight_mean=w_mean,
                weight_std=w_std,
                weight_min=w_min,
                weight_max=w_max,
                update_mean=u_mean,
                update_std=u_std,
                update_min=u_min,
                update_max=u_max,
                ratio=(u_norm / w_norm) if w_norm > 0 else None,
            )
        )
    return tuple(rows)


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

"""A generated K-class spiral (CS231n's neural-networks case study): 2-D, not linearly separable."""

from __future__ import annotations

import numpy as np

from .base import RawData


def make_spiral(n_total: int, classes: int = 3, noise: float = 0.2, seed: int = 0) -> RawData:
    """n_total points split evenly over `classes` spiral arms; X: (N, 2) float32."""
    rng = np.random.default_rng(seed)
    per = int(np.ceil(n_total / classes))
    X = np.empty((per * classes, 2), np.float32)
    y = np.empty(per * classes, np.int64)
    for k in range(classes):  # (config.py bounds noise, so the angles stay finite)
        r = np.linspace(0.0, 1.0, per)
        t = np.linspace(k * 4.0, (k + 1) * 4.0, per) + rng.standard_normal(per) * noise
        rows = slice(per * k, per * (k + 1))
        X[rows] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[rows] = k
    return RawData(
        X=X,
        y=y,
        num_classes=classes,
        label_names=tuple(f"arm {k}" for k in range(classes)),
        source=f"spiral(classes={classes}, noise={noise})",
    )

"""Numerical gradients for checking analytic ones, as in CS231n's gradient_check.py.

Centred differences, (f(x + h) - f(x - h)) / 2h, in float64 where precision
is the point. The lecture's scale for the relative error
|a - n| / max(|a| + |n|, tiny): above 1e-2 wrong, 1e-4 to 1e-2 uncomfortable,
below 1e-7 happy.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5,
                       indices: list[tuple[int, ...]] | None = None) -> np.ndarray:
    """d f / d x by centred differences, perturbing x in place (restored after).

    f takes no arguments and reads x. With `indices`, only those entries are
    computed; the rest of the result is 0.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = indices if indices is not None else list(np.ndindex(*x.shape))
    for ix in it:
        old = x[ix]
        x[ix] = old + h
        fp = f()
        x[ix] = old - h
        fm = f()
        x[ix] = old
        grad[ix] = (fp - fm) / (2 * h)
    return grad


def numerical_gradient_array(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                             dout: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of sum(f(x) * dout) with respect to x, for layers with array outputs."""
    grad = np.zeros_like(x, dtype=np.float64)
    for ix in np.ndindex(*x.shape):
        old = x[ix]
        x[ix] = old + h
        pos = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old - h
        neg = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * dout) / (2 * h)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray, tiny: float = 1e-8) -> float:
    """Largest elementwise relative error between two arrays of the same shape."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(tiny, np.abs(a) + np.abs(b)))) if a.size else 0.0

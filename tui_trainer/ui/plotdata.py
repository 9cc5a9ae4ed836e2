"""Curves cut down to what a terminal can show: about two points per column.

A plot `cols` characters wide cannot show more than a few points per column,
and plotext's cost grows with the points it is given; so the raw loss keeps
the min and the max of each column's slice (the noise band stays visible),
and smooth curves keep one mean per half column.
"""

from __future__ import annotations

import numpy as np


def minmax_per_column(x: np.ndarray, y: np.ndarray, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """x, y: (N,). Returns at most 2*cols points: each column's min and max, in the order they occurred."""
    x, y = _finite(x, y)
    n = x.size
    if n <= 2 * cols or cols < 1:
        return x, y
    edges = np.linspace(0, n, cols + 1).astype(np.intp)[:-1]
    lo = np.minimum.reduceat(y, edges)
    hi = np.maximum.reduceat(y, edges)
    # Index of each column's min and max, to keep x and the order right.
    i_lo = _arg_reduce(y, edges, lo)
    i_hi = _arg_reduce(y, edges, hi)
    first = np.minimum(i_lo, i_hi)
    second = np.maximum(i_lo, i_hi)
    idx = np.empty(2 * cols, np.intp)
    idx[0::2], idx[1::2] = first, second
    return x[idx], y[idx]


def mean_per_bucket(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """x, y: (N,). At most `buckets` points, each the mean of a consecutive slice."""
    x, y = _finite(x, y)
    n = x.size
    if n <= buckets or buckets < 1:
        return x, y
    edges = np.linspace(0, n, buckets + 1).astype(np.intp)
    counts = np.diff(edges)
    xs = np.add.reduceat(x, edges[:-1]) / counts
    ys = np.add.reduceat(y, edges[:-1]) / counts
    # The last point stays exact, so the curve ends where the run is now.
    xs[-1], ys[-1] = x[-1], y[-1]
    return xs, ys


def _finite(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(y)
    if ok.all():
        return x, y
    return x[ok], y[ok]


def _arg_reduce(y: np.ndarray, edges: np.ndarray, target: np.ndarray) -> np.ndarray:
    """For each slice starting at edges[k], the first index where y equals target[k]."""
    bucket = np.repeat(np.arange(edges.size), np.diff(np.append(edges, y.size)))
    hit = np.flatnonzero(y == target[bucket])
    # The first hit of each bucket.
    first_of = np.unique(bucket[hit], return_index=True)[1]
    return hit[first_of]

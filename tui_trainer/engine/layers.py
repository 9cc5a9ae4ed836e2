"""Layers as forward/backward pairs, after CS231n's layers.py.

Each `*_forward` returns `(out, cache)` and each `*_backward` takes the
upstream gradient and that cache. Unlike the assignment's versions they can
write into caller-owned buffers (`out=`, `dw=`, ...) so a training step
allocates nothing, and `affine_backward` can skip `dx` for the first layer,
whose input needs no gradient.

Each function takes the array module of the arrays it is given
(`array_namespace`: NumPy, or CuPy on a GPU), so one implementation serves
both. The losses return a 0-d float64 array on that device, not a Python
float: reading it is a transfer, which the caller makes once per step.

Shapes: N examples, D inputs, M outputs, C classes.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from .backend import array_namespace

Array: TypeAlias = NDArray[Any]
AffineCache: TypeAlias = tuple[Array, Array]  # (x, w): the forward's input and weights
ReluCache: TypeAlias = Array  # the boolean mask x > 0


def affine_forward(x: Array, w: Array, b: Array, out: Array | None = None) -> tuple[Array, AffineCache]:
    """out = x @ w + b.

    x: (N, D), w: (D, M), b: (M,) -> out: (N, M); cache = (x, w).
    """
    out = array_namespace(x).matmul(x, w, out=out)
    out += b
    return out, (x, w)


def affine_backward(
    dout: Array,
    cache: AffineCache,
    dx: Array | None = None,
    dw: Array | None = None,
    db: Array | None = None,
    need_dx: bool = True,
) -> tuple[Array | None, Array, Array]:
    """Gradients of affine_forward.

    dout: (N, M) -> dx: (N, D) or None when need_dx is False, dw: (D, M), db: (M,).
    """
    x, w = cache
    xp = array_namespace(dout)
    dw = xp.matmul(x.T, dout, out=dw)
    db = xp.sum(dout, axis=0, out=db)
    dx = xp.matmul(dout, w.T, out=dx) if need_dx else None
    return dx, dw, db


def relu_forward(x: Array, out: Array | None = None, mask: Array | None = None) -> tuple[Array, ReluCache]:
    """out = max(x, 0), elementwise; x: any shape. Pass out=x to work in place.

    The cache is the boolean mask x > 0 (written into `mask` when given). The
    forward multiplies by it rather than calling np.maximum: measured 1.4x
    faster in float32, and the backward reuses the mask instead of comparing again.
    """
    xp = array_namespace(x)
    mask = xp.greater(x, 0, out=mask)
    out = xp.multiply(x, mask, out=out)
    return out, mask


def relu_backward(dout: Array, cache: ReluCache, out: Array | None = None) -> Array:
    """dx = dout where the forward input was > 0, else 0.

    dout: same shape as the forward input; cache: the forward's mask. Pass
    out=dout to work in place.
    """
    result: Array = array_namespace(dout).multiply(dout, cache, out=out)
    return result


def softmax_loss(scores: Array, y: Array, dscores: Array | None = None) -> tuple[Array, Array]:
    """Softmax cross-entropy, mean over the batch.

    scores: (N, C) class scores, y: (N,) integer labels in [0, C).
    Returns (loss, dscores): loss a 0-d float64 array, dscores (N, C). Pass
    dscores=scores to reuse the scores buffer (it is overwritten with the gradient).
    On the host, the gradient's negligible entries are flushed to 0 (`flush_negligible`).
    """
    loss, probs = softmax_loss_unflushed(scores, y, dscores)
    if array_namespace(probs) is np:
        flush_negligible(probs)
    return loss, probs


def softmax_loss_unflushed(scores: Array, y: Array, dscores: Array | None = None) -> tuple[Array, Array]:
    """softmax_loss without the CPU's flush: what a GPU computes (engine/kernels.py's reference)."""
    xp = array_namespace(scores)
    n = scores.shape[0]
    rows = xp.arange(n)
    shifted = xp.subtract(scores, scores.max(axis=1, keepdims=True), out=dscores)
    correct = shifted[rows, y].astype(np.float64)
    probs = xp.exp(shifted, out=shifted)
    sums = probs.sum(axis=1, keepdims=True)
    # log-sum-exp minus the correct class's shifted score: finite even where
    # the correct class's probability underflows to 0.
    loss = xp.mean(xp.log(sums[:, 0].astype(np.float64)) - correct)
    probs /= sums
    probs[rows, y] -= 1
    probs /= n
    return loss, probs


def flush_negligible(dscores: Array) -> Array:
    """Set the entries of a score gradient below eps**2 of its dtype (1.4e-14 in float32) to 0, in place.

    A saturated softmax leaves the unlikely classes' gradients far below
    anything a float32 weight can register, and their products with the
    weights upstream go subnormal, which every matmul then reads on the CPU's
    slow path: measured, a 3072-500-10 step's dW1 = x.T @ dout took 48 ms instead of 9.
    A GPU reads subnormals at full speed: there it would only cost three kernels a step.
    """
    small = np.finfo(dscores.dtype).eps ** 2
    np.copyto(dscores, 0.0, where=np.less(np.abs(dscores), small))
    return dscores


def svm_loss(scores: Array, y: Array, dscores: Array | None = None) -> tuple[Array, Array]:
    """Multiclass SVM (hinge) loss with margin 1, mean over the batch.

    scores: (N, C), y: (N,) -> (loss: a 0-d float64 array, dscores: (N, C)).
    Pass dscores=scores to reuse the scores buffer.
    """
    xp = array_namespace(scores)
    n = scores.shape[0]
    rows = xp.arange(n)
    correct = scores[rows, y][:, None].copy()
    margins = xp.subtract(scores, correct, out=dscores)
    margins += 1
    margins[rows, y] = 0
    xp.maximum(margins, 0, out=margins)
    loss = margins.sum(dtype=np.float64) / n
    positive = margins > 0
    xp.copyto(margins, positive)
    margins[rows, y] = -positive.sum(axis=1)
    margins /= n
    return loss, margins

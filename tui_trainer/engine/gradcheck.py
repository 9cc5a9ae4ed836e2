"""Numerical gradients for checking analytic ones, as in CS231n's gradient_check.py.

Centred differences, (f(x + h) - f(x - h)) / 2h, in float64 where precision
is the point. The lecture's scale for the relative error
|a - n| / max(|a| + |n|, tiny): above 1e-2 wrong, 1e-4 to 1e-2 uncomfortable,
below 1e-7 happy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .model import FullyConnectedNet


def numerical_gradient(
    f: Callable[[], float], x: np.ndarray, h: float = 1e-5, indices: list[tuple[int, ...]] | None = None
) -> np.ndarray:
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


def numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray, h: float = 1e-5
) -> np.ndarray:
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


@dataclass
class GradientReport:
    errors: dict[str, float]  # per parameter: ||a - n|| / (||a|| + ||n||) over the checked entries (NaN: none)
    checked: int  # entries compared
    kinks: int  # entries skipped because a kink was crossed


def scale_to_data(net: FullyConnectedNet, X: np.ndarray, seed: int = 0) -> None:
    """Re-draw the net's weights so each layer's pre-activations on X are about unit size."""
    rng = np.random.default_rng(seed)
    h = X
    for i, name in enumerate(net.weight_names, start=1):
        W, b = net.params[name], net.params[f"b{i}"]
        rms = float(np.sqrt(np.mean(h**2))) or 1.0
        W[...] = rng.standard_normal(W.shape) / np.sqrt(W.shape[0]) / rms
        b[...] = rng.standard_normal(b.shape) * 0.1
        h = np.maximum(h @ W + b, 0)


def layer_input_rms(net: FullyConnectedNet, X: np.ndarray) -> dict[str, float]:
    """The root mean square of each weight matrix's input (X for W1, the ReLU outputs after)."""
    out: dict[str, float] = {}
    h = X
    for i, name in enumerate(net.weight_names, start=1):
        out[name] = float(np.sqrt(np.mean(h * h))) or 1.0
        h = np.maximum(h @ net.params[name] + net.params[f"b{i}"], 0)
    return out


def gradient_check(
    net: FullyConnectedNet,
    X: np.ndarray,
    y: np.ndarray,
    reg: float,
    entries_per_param: int = 60,
    h: float = 1e-5,
    seed: int = 0,
) -> GradientReport:
    """Compare net.loss's analytic gradients with centred differences, float64.

    The error per parameter is the relative error of its gradient vector,
    ||a - n|| / (||a|| + ||n||) (UFLDL's measure), which rounding in tiny
    entries cannot dominate. An entry is skipped when f(x + h) and f(x - h)
    see different ReLU or hinge "winners" (the kink rule in the course notes).

    A weight's step is h divided by the scale of the input it multiplies, so
    every step moves a pre-activation by about h: on features at a 1e4 scale a
    step of h moved them by 0.1, far enough to cross kinks on both sides and to
    leave the centred difference's second-order error at 1e-3 for a correct
    backward pass. Biases add to the pre-activation directly: their step is h.
    """
    scale_to_data(net, X, seed)
    steps = {name: h / rms for name, rms in layer_input_rms(net, X).items()}
    rng = np.random.default_rng(seed)
    rows = np.arange(len(y))

    def f() -> tuple[float, bytes]:
        loss = net.loss(X, y, reg=reg, grads=False)
        acts = net._buffers[X.shape[0]]["act"]
        sig = b"".join(np.packbits(a > 0).tobytes() for a in acts[:-1])
        if net.loss_name == "svm":
            s = acts[-1]
            margins = s - s[rows, y][:, None] + 1
            margins[rows, y] = 0
            sig += np.packbits(margins > 0).tobytes()
        return loss, sig

    net.loss(X, y, reg=reg)
    errors: dict[str, float] = {}
    checked = kinks = 0
    for name, param in net.params.items():
        step = steps.get(name, h)
        analytic, numeric = [], []
        for flat in rng.choice(param.size, size=min(param.size, entries_per_param), replace=False):
            ix = np.unravel_index(flat, param.shape)
            old = param[ix]
            param[ix] = old + step
            fp, sig_p = f()
            param[ix] = old - step
            fm, sig_m = f()
            param[ix] = old
            if sig_p != sig_m:
                kinks += 1
                continue
            analytic.append(net.grads[name][ix])
            numeric.append((fp - fm) / (2 * step))
        a, n = np.array(analytic), np.array(numeric)
        denom = np.linalg.norm(a) + np.linalg.norm(n)
        if not a.size:  # every entry tried crossed a kink: nothing was compared
            errors[name] = float("nan")
        else:
            errors[name] = float(np.linalg.norm(a - n) / denom) if denom > 0 else 0.0
        checked += len(a)
    return GradientReport(errors, checked, kinks)

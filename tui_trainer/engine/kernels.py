"""Fused CUDA kernels for a training step on a GPU, each beside its NumPy reference.

The NumPy engine run on CuPy launches about 96 kernels a step for
3072-1000-1000-10 (counted through tests/fake_cupy.py): at 10-15 us of host
time per launch the small net's step is bound by the host, not the GPU. These
kernels do the same arithmetic in fewer launches:

    bias_relu     h = relu(h + b), after the matmul: one pass instead of add, compare, multiply
    relu_grad     d *= (h > 0): the ReLU's backward from its output, no mask kept
    sumsq         the weights' sum of squares (reg's loss) from the flat buffer, no temporary
    softmax_xent  bias, softmax, cross-entropy, its gradient and the loss's mean (with reg's term)
                  in one kernel of one block: no advanced indexing, no arange, no flush
    update_RULE   the update rule over the flat parameter buffer, reg * w added to the weights'
                  gradients and the loss checked for NaN in the same pass (engine/optim.py's CUDA)

Each has a NumPy reference in REFERENCES, by kernel name, taking the kernel's
arguments (host arrays, changed in place): the CuPy stand-in runs it in their
place, and tests/test_gpu.py holds the CUDA kernels to it on a real GPU. The
references are the CPU engine's own operations, so the stand-in's device run
gives the CPU run's numbers.

Only a GPU can compile the kernels: `load` does it once per process, when
train.device first resolves to a GPU, by running each on a few numbers of
both dtypes; when that fails the GPU trains with CuPy's separate operations
and `load`'s note says why (the commands print it once). Elementwise kernels
are compiled without fused multiply-adds, so they round each operation as
NumPy does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .layers import softmax_loss_unflushed
from .optim import SGD, Adam, Momentum, Nesterov, Optimizer, RMSProp

RULES: tuple[type[Optimizer], ...] = (SGD, Momentum, Nesterov, RMSProp, Adam)
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
NO_FMA = ("--fmad=false",)
SOFTMAX_BLOCK = 256  # threads of the softmax kernel's one block (a power of 2: it halves its sums)

BIAS_RELU = ("T b", "T h", "T t = h + b; h = t * (T)(t > (T)0);")  # x * (x > 0), as the CPU: NaN stays NaN
RELU_GRAD = ("T h", "T d", "d = d * (T)(h > (T)0);")  # h > 0 exactly where the forward's input was
SUMSQ = ("T w", "float64 s", "w * w", "a + b", "s = a", "0")  # summed in w's dtype, as the CPU's vdot

SOFTMAX_XENT = r"""
typedef {ctype} T;
extern "C" __global__ void tt_softmax_xent_{suffix}(
    T* sd, const T* b, const long long* y, double* loss, const double* reg_sq,
    const double half_reg, const int n, const int c) {{
  // sd: the scores without their bias on the way in, d loss / d scores on the way out
  __shared__ double part[{block}];
  double acc = 0.0;
  for (int r = threadIdx.x; r < n; r += blockDim.x) {{
    T* s = sd + (long long)r * c;
    T m = s[0] + b[0];
    for (int k = 1; k < c; ++k) {{ T v = s[k] + b[k]; if (v > m) m = v; }}
    const long long label = y[r];
    const double correct = (double)((s[label] + b[label]) - m);
    T sum = (T)0;
    for (int k = 0; k < c; ++k) {{ T e = {exp}((s[k] + b[k]) - m); s[k] = e; sum = sum + e; }}
    acc += log((double)sum) - correct;  // log-sum-exp less the correct score: finite where its p underflows
    for (int k = 0; k < c; ++k) {{
      T p = s[k] / sum;
      if (k == label) p = p - (T)1;
      s[k] = p / (T)n;
    }}
  }}
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half >>= 1) {{
    if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }}
  if (threadIdx.x == 0) loss[0] = part[0] / n + (half_reg != 0.0 ? half_reg * reg_sq[0] : 0.0);
}}
"""
# (C type, name suffix, exp of that type: a raw kernel gets no C++ overloads it does not include)
_CTYPES = {np.dtype(np.float32): ("float", "f32", "expf"), np.dtype(np.float64): ("double", "f64", "exp")}


def update_params(rule: type[Optimizer]) -> tuple[str, str, str]:
    """(in_params, out_params, operation) of a rule's fused update kernel.

    In: the rule's SCALARS, reg, nd (the weights' elements at the buffer's start,
    which get reg * w; 0 when reg is 0, as the CPU then adds nothing) and the
    step's loss; out: w, dw and the rule's state but its scratch."""
    state = [n for n in rule.STATE if n not in rule.SCRATCH]
    ins = ", ".join([*(f"T {s}" for s in rule.SCALARS), "T reg", "int64 nd", "raw float64 loss"])
    outs = ", ".join(f"T {n}" for n in ("w", "dw", *state))
    # As the CPU: g = w * reg, then g += dw, for the weights; g = dw for the biases.
    op = f"if (!isfinite(loss[0])) continue; T g = i < nd ? w * reg + dw : dw; {rule.CUDA}"
    return ins, outs, op


class Kernels:
    """The fused kernels on one CuPy module, compiled on first call (`load` calls each once)."""

    def __init__(self, xp: Any):
        self.xp = xp
        self._bias_relu = xp.ElementwiseKernel(*BIAS_RELU, name="tt_bias_relu", options=NO_FMA)
        self._relu_grad = xp.ElementwiseKernel(*RELU_GRAD, name="tt_relu_grad", options=NO_FMA)
        self._sumsq = xp.ReductionKernel(*SUMSQ, name="tt_sumsq", reduce_type="T")
        self._softmax = {
            dtype: xp.RawKernel(
                SOFTMAX_XENT.format(ctype=ctype, suffix=suffix, exp=exp, block=SOFTMAX_BLOCK),
                f"tt_softmax_xent_{suffix}",
                options=NO_FMA,
            )
            for dtype, (ctype, suffix, exp) in _CTYPES.items()
        }
        self._updates = {
            rule.name: xp.ElementwiseKernel(*update_params(rule), name=f"tt_update_{rule.name}", options=NO_FMA)
            for rule in RULES
        }

    def bias_relu(self, b: Any, h: Any) -> None:
        """h = max-as-the-CPU(h + b, 0) in place; h: (N, M), b: (M,)."""
        self._bias_relu(b, h)

    def relu_grad(self, h: Any, d: Any) -> None:
        """d *= (h > 0) in place; h: the ReLU's output, d: the gradient with respect to it."""
        self._relu_grad(h, d)

    def sumsq(self, w: Any, out: Any) -> None:
        """out (0-d float64) = sum of w's squares, summed in w's dtype; w: a flat buffer."""
        self._sumsq(w, out)

    def softmax_xent(self, sd: Any, b: Any, y: Any, loss: Any, reg_sq: Any, half_reg: float) -> None:
        """The softmax loss of scores sd + b (N, C) for labels y (N,) int64: sd becomes the
        gradient, loss[0] (float64) the mean loss plus half_reg * reg_sq (0-d float64)."""
        n, c = sd.shape
        args = (sd, b, y, loss, reg_sq, np.float64(half_reg), np.int32(n), np.int32(c))
        self._softmax[np.dtype(sd.dtype)]((1,), (SOFTMAX_BLOCK,), args)

    def update(self, opt: Optimizer, w: Any, dw: Any, reg: float, nd: int, loss: Any, state: tuple[Any, ...]) -> None:
        """One step of opt's rule over the flat buffers w, dw and state (engine/optim.py's step_flat)."""
        self._updates[opt.name](*opt.scalars(), reg, nd, loss, w, dw, *state)


def load(xp: Any) -> tuple[Kernels | None, str]:
    """The fused kernels compiled for this GPU, or None and a note saying why not and what that costs."""
    try:
        kernels = Kernels(xp)
        for dtype in DTYPES:
            warm_up(kernels, dtype)
        xp.cuda.Device().synchronize()  # a kernel that fails to run says so here, not mid-run
    except Exception as e:  # NVRTC missing or failing, a header mismatch, a driver too old for a feature
        text = str(e).strip()
        first = text.splitlines()[0] if text else "no message"
        return None, (
            f"the GPU's fused kernels could not be compiled ({type(e).__name__}: {first}); "
            "training with CuPy's separate operations, about 5x the kernel launches per step"
        )
    return kernels, ""


def warm_up(kernels: Kernels, dtype: np.dtype[Any]) -> None:
    """Each kernel once on a few numbers of `dtype`: compiles it (or raises)."""
    xp = kernels.xp
    h, b = xp.ones((2, 3), dtype), xp.ones(3, dtype)
    kernels.bias_relu(b, h)
    kernels.relu_grad(h, xp.ones((2, 3), dtype))
    reg_sq, loss = xp.zeros((), np.float64), xp.zeros(1, np.float64)
    kernels.sumsq(xp.ones(6, dtype), reg_sq)
    kernels.softmax_xent(h, b, xp.zeros(2, np.int64), loss, reg_sq, 0.5)
    for rule in RULES:
        opt = rule(0.1)
        opt.begin_step()
        state = tuple(xp.zeros(6, dtype) for n in rule.STATE if n not in rule.SCRATCH)
        kernels.update(opt, xp.ones(6, dtype), xp.ones(6, dtype), 0.1, 3, loss, state)


# --- the NumPy references, by kernel name -----------------------------------------


def _bias_relu(b: np.ndarray, h: np.ndarray) -> None:
    h += b  # as affine_forward, then relu_forward: multiply by the mask
    np.multiply(h, h > 0, out=h)


def _relu_grad(h: np.ndarray, d: np.ndarray) -> None:
    np.multiply(d, h > 0, out=d)


def _sumsq(w: np.ndarray, s: np.ndarray) -> None:
    s[...] = np.vdot(w, w)  # the CPU's reg_loss: one BLAS dot over the flat weights


def _softmax_xent(
    sd: np.ndarray, b: np.ndarray, y: np.ndarray, loss: np.ndarray, reg_sq: np.ndarray, half_reg: Any, *nc: Any
) -> None:
    sd += b
    data_loss, _ = softmax_loss_unflushed(sd, y, dscores=sd)
    # As the CPU: float(data_loss + 0.5 * reg * total), reg_loss being 0.0 without reg.
    loss[0] = data_loss + (half_reg * reg_sq if half_reg else 0.0)


def _update_reference(rule: type[Optimizer]) -> Callable[..., None]:
    k = len(rule.SCALARS)

    def reference(*args: Any) -> None:
        scalars, (reg, nd, loss), (w, dw, *kept) = args[:k], args[k : k + 3], args[k + 3 :]
        if not np.isfinite(loss[0]):
            return
        given = iter(kept)
        state = tuple(np.empty_like(w) if n in rule.SCRATCH else next(given) for n in rule.STATE)
        g = np.empty_like(dw)
        np.multiply(w[:nd], reg, out=g[:nd])
        g[:nd] += dw[:nd]
        g[nd:] = dw[nd:]
        rule.apply(w, dw, g, state, *scalars)

    return reference


REFERENCES: dict[str, Callable[..., None]] = {
    "tt_bias_relu": _bias_relu,
    "tt_relu_grad": _relu_grad,
    "tt_sumsq": _sumsq,
    "tt_softmax_xent": _softmax_xent,
    **{f"tt_update_{rule.name}": _update_reference(rule) for rule in RULES},
}

"""Update rules, in place, with CS231n's defaults.

    opt = make_optimizer("momentum", learning_rate=1e-3)
    opt.step(net.params, net.grads)   # updates params; may overwrite grads
    opt.step(net.params, net.grads, reg=1e-3, decayed=net.weight_names)  # adds reg * W to those grads first

`learning_rate` is a plain attribute so the trainer can decay it between
epochs. State (velocity, caches) is allocated on the first step, one buffer
per parameter, and reused. Gradients are treated as scratch: a rule may
overwrite them (they are recomputed every iteration).

Each rule applies its update as one `w += update` and keeps that array in
`opt.applied[key]` until the next step, so the update/weight ratio reads the
update itself instead of a copy of the weights taken before the step (two
passes over every weight saved).

A step runs block by block (BLOCK elements of the weight, its gradient and
its state at a time), the reg gradient included, so a block's six or seven
passes read memory once and then work in the core's cache: measured, reg and
momentum on a 3072x1000 + 1000x1000 net took 9 ms this way against 12.3 ms
for whole-array passes.

The rules use the array module of the parameters they update
(`array_namespace`): NumPy on the CPU, CuPy on a GPU. On a GPU the trainer
calls `step_flat` instead: the parameters, gradients and state live in flat
buffers there (weights first), and the whole update, reg * w included, is
one fused kernel over them (engine/kernels.py builds it from the rule's
`CUDA` body). Each rule writes its arithmetic twice, side by side: `apply`
in NumPy (the CPU's blocks, and the kernel's reference that the CuPy
stand-in runs) and `CUDA`, the same operations in the same order per
element, compiled without fused multiply-adds so both round alike.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .backend import array_namespace

BLOCK = 1 << 16  # elements: 256 KiB of float32 per array, four or five arrays in a core's L2
# With threads > 1, a step whose parameters have this many elements in all is
# shared out by blocks (numpy releases the GIL); below it, handing work to a
# thread (about 0.1 ms) costs more than it saves.
PARALLEL_MIN = 1 << 20


class Optimizer:
    name = "base"
    STATE: tuple[str, ...] = ()  # the rule's buffers, one of each per parameter
    SCRATCH: tuple[str, ...] = ()  # those of STATE that only hold a step's intermediates: a register in CUDA
    APPLIED = "dw"  # the array the rule adds to w: the gradient's buffer or one of STATE
    SCALARS: tuple[str, ...] = ()  # the names of `scalars()`, as `apply` and the CUDA body take them
    # One element's update in CUDA: w, dw, the STATE buffers but SCRATCH (references into
    # the flat buffers), g (the gradient with reg * w, a local) and the SCALARS are in scope.
    CUDA = ""

    def __init__(self, learning_rate: float):
        self.learning_rate = float(learning_rate)
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.applied: dict[str, np.ndarray] = {}  # key -> the update the last step added to it
        self._scratch: dict[tuple[np.dtype, int], np.ndarray] = {}  # (dtype, thread slot) -> a block
        # Threads that share a step's blocks: the trainer gives it the BLAS's count.
        self.threads = 1
        self._pool: ThreadPoolExecutor | None = None
        self._whole: dict[tuple[int, np.dtype], np.ndarray] = {}  # on a GPU: (size, dtype) -> reg * w's buffer

    def _buffers(self, key: str, like: np.ndarray) -> dict[str, np.ndarray]:
        s = self.state.get(key)
        if s is None:
            zeros_like = array_namespace(like).zeros_like
            s = self.state[key] = {n: zeros_like(like) for n in self.STATE}
        return s

    def step(
        self,
        params: dict[str, np.ndarray],
        grads: dict[str, np.ndarray],
        reg: float = 0.0,
        decayed: tuple[str, ...] | list[str] = (),
    ) -> None:
        """Update every parameter; those named in `decayed` get reg * w added to their gradient first."""
        self.begin_step()
        jobs: list[tuple[list[np.ndarray], float]] = []
        for key, w in params.items():
            dw = grads[key]
            state = self._buffers(key, w)
            arrays = (w, dw, *state.values())
            r = reg if key in decayed else 0.0
            if array_namespace(w) is np and all(a.flags.c_contiguous for a in arrays):
                flat = [a.reshape(-1) for a in arrays]  # views: the blocks write through
                jobs += [([a[start : start + BLOCK] for a in flat], r) for start in range(0, w.size, BLOCK)]
            else:
                jobs.append((list(arrays), r))
            self.applied[key] = dw if self.APPLIED == "dw" else state[self.APPLIED]
        threads = min(self.threads, len(jobs))
        if threads < 2 or sum(job[0][0].size for job in jobs) < PARALLEL_MIN:
            self._run(jobs, 0)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="tui-trainer update")
        share = -(-len(jobs) // threads)
        pending = [self._pool.submit(self._run, jobs[i * share : (i + 1) * share], i) for i in range(1, threads)]
        self._run(jobs[:share], 0)
        for f in pending:
            f.result()

    def begin_step(self) -> None:
        """Called once at the start of each step, before any block (Adam counts its steps here)."""

    def close(self) -> None:
        """Stop the update's worker threads, if any (a later step starts them again)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _run(self, jobs: list[tuple[list[np.ndarray], float]], slot: int) -> None:
        # The rule works on g = dw + reg * w in a cached scratch block, so the
        # gradient is only read: a rule that adds one of its own buffers (momentum's
        # v) never writes dw back to memory, one stream of six saved.
        for arrays, reg in jobs:
            w, dw = arrays[0], arrays[1]
            xp = array_namespace(w)
            g = self._scratch_for(w, slot)
            if reg:
                xp.multiply(w, reg, out=g)
                g += dw
            else:
                xp.copyto(g, dw)
            self.update(w, dw, g, *arrays[2:])

    def _scratch_for(self, w: np.ndarray, slot: int) -> np.ndarray:
        xp = array_namespace(w)
        if xp is not np:  # a GPU's whole parameter: one buffer per size, kept
            buf = self._whole.get((w.size, w.dtype))
            if buf is None:
                buf = self._whole[(w.size, w.dtype)] = xp.empty(w.size, w.dtype)
            return buf.reshape(w.shape)
        if w.ndim != 1 or w.size > BLOCK:  # a parameter that is not contiguous, whole
            return np.empty_like(w)
        buf = self._scratch.get((w.dtype, slot))
        if buf is None:
            buf = self._scratch[w.dtype, slot] = np.empty(BLOCK, w.dtype)
        return buf[: w.size]

    def update(self, w: np.ndarray, dw: np.ndarray, g: np.ndarray, *state: np.ndarray) -> None:
        """Apply the rule to w in place (a block of it), adding the array named APPLIED.

        g: the gradient, reg included, in scratch the rule may overwrite; dw: the
        gradient's own buffer, where a rule whose APPLIED is "dw" writes its update.
        """
        self.apply(w, dw, g, state, *self.scalars())

    def scalars(self) -> tuple[float, ...]:
        """This step's constants, named by SCALARS (Python floats: float32 math casts them, as CUDA's T does)."""
        return ()

    @staticmethod
    def apply(w: np.ndarray, dw: np.ndarray, g: np.ndarray, state: tuple[np.ndarray, ...], *scalars: float) -> None:
        raise NotImplementedError

    def step_flat(
        self,
        kernels: Any,
        w: np.ndarray,
        dw: np.ndarray,
        reg: float,
        decayed: int,
        guard: np.ndarray,
        views: Callable[[np.ndarray], dict[str, np.ndarray]],
    ) -> None:
        """The whole update as one fused kernel (engine/kernels.py) over flat buffers on a GPU.

        w, dw: every parameter and its gradient in one flat buffer each, the first
        `decayed` elements (the weights) getting reg * w; guard: the step's loss on
        the device (a float64 array of one element): where it is not finite the
        kernel changes nothing, so a loss the host reads a step late never lets a
        NaN into the weights. views: the parameters' views of a flat buffer (for
        `applied`).
        """
        self.begin_step()
        state = self.state.get("")
        if state is None:
            xp = array_namespace(w)
            state = self.state[""] = {n: xp.zeros_like(w) for n in self.STATE if n not in self.SCRATCH}
            self.applied = views(dw if self.APPLIED == "dw" else state[self.APPLIED])
        kernels.update(self, w, dw, reg, decayed if reg else 0, guard, tuple(state.values()))


class SGD(Optimizer):
    """w -= lr * dw"""

    name = "sgd"
    SCALARS = ("neg_lr",)
    CUDA = "dw = g * neg_lr; w = w + dw;"

    def scalars(self) -> tuple[float, ...]:
        return (-self.learning_rate,)

    @staticmethod
    def apply(w: np.ndarray, dw: np.ndarray, g: np.ndarray, state: tuple[np.ndarray, ...], *scalars: float) -> None:
        (neg_lr,) = scalars
        np.multiply(g, neg_lr, out=dw)
        w += dw


class Momentum(Optimizer):
    """v = mu * v - lr * dw; w += v"""

    name = "momentum"
    STATE = ("v",)
    APPLIED = "v"

    SCALARS = ("mu", "lr")
    CUDA = "v = v * mu; g = g * lr; v = v - g; w = w + v;"

    def __init__(self, learning_rate: float, momentum: float = 0.9):
        super().__init__(learning_rate)
        self.momentum = momentum

    def scalars(self) -> tuple[float, ...]:
        return (self.momentum, self.learning_rate)

    @staticmethod
    def apply(w: np.ndarray, dw: np.ndarray, g: np.ndarray, state: tuple[np.ndarray, ...], *scalars: float) -> None:
        (v,), (mu, lr) = state, scalars
        v *= mu
        g *= lr
        v -= g
        w += v


class Nesterov(Optimizer):
    """Nesterov momentum in CS231n's form:
    v_prev = v; v = mu * v - lr * dw; w += -mu * v_prev + (1 + mu) * v
    """

    name = "nesterov"
    STATE = ("v", "tmp")
    APPLIED = "tmp"

    SCALARS = ("neg_mu", "mu", "lr", "one_plus_mu")
    CUDA = "tmp = v * neg_mu; v = v * mu; g = g * lr; v = v - g; g = v * one_plus_mu; tmp = tmp + g; w = w + tmp;"

    def __init__(self, learning_rate: float, momentum: float = 0.9):
        super().__init__(learning_rate)
        self.momentum = momentum

    def scalars(self) -> tuple[float, ...]:
        mu = self.momentum
        return (-mu, mu, self.learning_rate, 1 + mu)

    @staticmethod
    def apply(w: np.ndarray, dw: np.ndarray, g: np.ndarray, state: tuple[np.ndarray, ...], *scalars: float) -> None:
        (v, tmp), (neg_mu, mu, lr, one_plus_mu) = state, scalars
        np.multiply(v, neg_mu, out=tmp)  # -mu * v_prev
        v *= mu
        g *= lr
        v -= g  # v = mu * v_prev - lr * dw
        np.multiply(v, one_plus_mu, out=g)
        tmp += g  # the whole update, added in one pass
        w += tmp


class RMSProp(Optimizer):
    """cache = decay * cache + (1 - decay) * dw**2; w -= lr * dw / (sqrt(cache) + eps)"""

    name = "rmsprop"
    STATE = ("cache", "tmp")
    SCRATCH = ("tmp",)
    SCALARS = ("decay", "one_minus_decay", "eps", "neg_lr")
    CUDA = (
        "cache = cache * decay; T tmp = g * g; tmp = tmp * one_minus_decay; cache = cache + tmp; "
        "tmp = sqrt(cache); tmp = tmp + eps; dw = g / tmp; dw = dw * neg_lr; w = w + dw;"
    )

    def __init__(self, learning_rate: float, decay_rate: float = 0.99, eps: float = 1e-8):
        super().__init__(learning_rate)
        self.decay_rate, self.eps = decay_rate, eps

    def scalars(self) -> tuple[float, ...]:
        return (self.decay_rate, 1 - self.decay_rate, self.eps, -self.learning_rate)

    @staticmethod
    def apply(w: np.ndarray, dw: np.ndarray, g: np.ndarray, state: tuple[np.ndarray, ...], *scalars: float) -> None:
        (cache, tmp), (decay, one_minus_decay, eps, neg_lr) = state, scalars
        cache *= decay
        np.multiply(g, g, out=tmp)
        tmp *= one_minus_decay
        cache += tmp
        np.sqrt(cache, out=tmp)
        tmp += eps
        np.divide(g, tmp, out=dw)
        dw *= neg_lr
        w += dw


class Adam(Optimizer):
    """Adam with bias correction (beta1 0.9, beta2 0.999, eps 1e-8):
    m = b1*m + (1-b1)*dw; v = b2*v + (1-b2)*dw**2
    w -= lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)
    """

    name = "adam"
    STATE = ("m", "v", "tmp")
    SCRATCH = ("tmp",)
    SCALARS = ("b1", "one_minus_b1", "b2", "one_minus_b2", "inv_bc2", "eps", "step")
    CUDA = (
        "m = m * b1; T tmp = g * one_minus_b1; m = m + tmp; v = v * b2; tmp = g * g; tmp = tmp * one_minus_b2; "
        "v = v + tmp; tmp = v * inv_bc2; tmp = sqrt(tmp); tmp = tmp + eps; dw = m / tmp; dw = dw * step; w = w + dw;"
    )

    def __init__(self, learning_rate: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(learning_rate)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.t = 0

    def begin_step(self) -> None:
        self.t += 1

    def scalars(self) -> tuple[float, ...]:
        b1, b2, t = self.beta1, self.beta2, self.t
        # inv_bc2: 1 / (1 - b2^t), v's bias correction; step: -lr / (1 - b1^t), m's with the rate
        return (b1, 1 - b1, b2, 1 - b2, 1.0 / (1 - b2**t), self.eps, -self.learning_rate / (1 - b1**t))

    @staticmethod
    def apply(w: np.ndarray, dw: np.ndarray, g: np.ndarray, state: tuple[np.ndarray, ...], *scalars: float) -> None:
        (m, v, tmp), (b1, one_minus_b1, b2, one_minus_b2, inv_bc2, eps, step) = state, scalars
        m *= b1
        np.multiply(g, one_minus_b1, out=tmp)
        m += tmp
        v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= one_minus_b2
        v += tmp
        # denominator: sqrt(v_hat) + eps, in tmp
        np.multiply(v, inv_bc2, out=tmp)
        np.sqrt(tmp, out=tmp)
        tmp += eps
        np.divide(m, tmp, out=dw)
        dw *= step
        w += dw


# Each rule's constructor from the preset's learning rate and momentum; the
# rules without momentum ignore it and keep their CS231n defaults.
UPDATES: dict[str, Callable[[float, float], Optimizer]] = {
    "sgd": lambda learning_rate, momentum: SGD(learning_rate),
    "momentum": Momentum,
    "nesterov": Nesterov,
    "rmsprop": lambda learning_rate, momentum: RMSProp(learning_rate),
    "adam": lambda learning_rate, momentum: Adam(learning_rate),
}


def make_optimizer(name: str, learning_rate: float, momentum: float = 0.9) -> Optimizer:
    if name not in UPDATES:
        raise ValueError(f"unknown update rule {name!r}")
    return UPDATES[name](learning_rate, momentum)

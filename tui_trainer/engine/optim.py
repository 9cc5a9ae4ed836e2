"""Update rules, in place, with CS231n's defaults.

    opt = make_optimizer("momentum", learning_rate=1e-3)
    opt.step(net.params, net.grads)   # updates params; may overwrite grads

`learning_rate` is a plain attribute so the trainer can decay it between
epochs. State (velocity, caches) is allocated on the first step, one buffer
per parameter, and reused. Gradients are treated as scratch: a rule may
overwrite them (they are recomputed every iteration).

Each rule applies its update as one `w += update` and keeps that array in
`opt.applied[key]` until the next step, so the update/weight ratio reads the
update itself instead of a copy of the weights taken before the step (two
passes over every weight saved).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class Optimizer:
    name = "base"

    def __init__(self, learning_rate: float):
        self.learning_rate = float(learning_rate)
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.applied: dict[str, np.ndarray] = {}  # key -> the update the last step added to it

    def _buffers(self, key: str, like: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        s = self.state.get(key)
        if s is None:
            s = self.state[key] = {n: np.zeros_like(like) for n in names}
        return s

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        for key, w in params.items():
            self.applied[key] = self.update(key, w, grads[key])

    def update(self, key: str, w: np.ndarray, dw: np.ndarray) -> np.ndarray:
        """Apply the rule to w in place; return the array it added to w (a buffer of the rule's or dw)."""
        raise NotImplementedError


class SGD(Optimizer):
    """w -= lr * dw"""

    name = "sgd"

    def update(self, key: str, w: np.ndarray, dw: np.ndarray) -> np.ndarray:
        np.multiply(dw, -self.learning_rate, out=dw)
        w += dw
        return dw


class Momentum(Optimizer):
    """v = mu * v - lr * dw; w += v"""

    name = "momentum"

    def __init__(self, learning_rate: float, momentum: float = 0.9):
        super().__init__(learning_rate)
        self.momentum = momentum

    def update(self, key: str, w: np.ndarray, dw: np.ndarray) -> np.ndarray:
        v = self._buffers(key, w, ("v",))["v"]
        v *= self.momentum
        np.multiply(dw, self.learning_rate, out=dw)
        v -= dw
        w += v
        return v


class Nesterov(Optimizer):
    """Nesterov momentum in CS231n's form:
    v_prev = v; v = mu * v - lr * dw; w += -mu * v_prev + (1 + mu) * v
    """

    name = "nesterov"

    def __init__(self, learning_rate: float, momentum: float = 0.9):
        super().__init__(learning_rate)
        self.momentum = momentum

    def update(self, key: str, w: np.ndarray, dw: np.ndarray) -> np.ndarray:
        s = self._buffers(key, w, ("v", "tmp"))
        v, tmp = s["v"], s["tmp"]
        mu = self.momentum
        np.multiply(v, -mu, out=tmp)  # -mu * v_prev
        v *= mu
        np.multiply(dw, self.learning_rate, out=dw)
        v -= dw  # v = mu * v_prev - lr * dw
        np.multiply(v, 1 + mu, out=dw)
        tmp += dw  # the whole update, added in one pass
        w += tmp
        return tmp


class RMSProp(Optimizer):
    """cache = decay * cache + (1 - decay) * dw**2; w -= lr * dw / (sqrt(cache) + eps)"""

    name = "rmsprop"

    def __init__(self, learning_rate: float, decay_rate: float = 0.99, eps: float = 1e-8):
        super().__init__(learning_rate)
        self.decay_rate, self.eps = decay_rate, eps

    def update(self, key: str, w: np.ndarray, dw: np.ndarray) -> np.ndarray:
        s = self._buffers(key, w, ("cache", "tmp"))
        cache, tmp = s["cache"], s["tmp"]
        cache *= self.decay_rate
        np.multiply(dw, dw, out=tmp)
        tmp *= 1 - self.decay_rate
        cache += tmp
        np.sqrt(cache, out=tmp)
        tmp += self.eps
        np.divide(dw, tmp, out=dw)
        dw *= -self.learning_rate
        w += dw
        return dw


class Adam(Optimizer):
    """Adam with bias correction (beta1 0.9, beta2 0.999, eps 1e-8):
    m = b1*m + (1-b1)*dw; v = b2*v + (1-b2)*dw**2
    w -= lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)
    """

    name = "adam"

    def __init__(self, learning_rate: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(learning_rate)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.t = 0

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        super().step(params, grads)

    def update(self, key: str, w: np.ndarray, dw: np.ndarray) -> np.ndarray:
        s = self._buffers(key, w, ("m", "v", "tmp"))
        m, v, tmp = s["m"], s["v"], s["tmp"]
        b1, b2 = self.beta1, self.beta2
        m *= b1
        np.multiply(dw, 1 - b1, out=tmp)
        m += tmp
        v *= b2
        np.multiply(dw, dw, out=tmp)
        tmp *= 1 - b2
        v += tmp
        # denominator: sqrt(v_hat) + eps, in tmp
        np.multiply(v, 1.0 / (1 - b2**self.t), out=tmp)
        np.sqrt(tmp, out=tmp)
        tmp += self.eps
        np.divide(m, tmp, out=dw)
        dw *= -self.learning_rate / (1 - b1**self.t)
        w += dw
        return dw


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

"""A fully-connected net: affine - ReLU - ... - affine - softmax/SVM loss.

    net = FullyConnectedNet(input_dim=784, hidden=(50,), num_classes=10)
    loss = net.loss(X_batch, y_batch, reg=1e-3)   # fills net.grads
    scores = net.scores(X)                         # (N, C)

Loss = data loss + 0.5 * reg * sum of squared weights (W1, W2, ..., not biases).
Activations and gradients live in buffers allocated once per batch size and
reused; the first layer computes no gradient with respect to its input.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .layers import (
    AffineCache,
    Array,
    ReluCache,
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
    svm_loss,
)

LOSSES = {"softmax": softmax_loss, "svm": svm_loss}

# The standard deviation of a layer's initial weights, from its fan-in and the
# preset's init_std (which only "gaussian" uses). xavier keeps the variance of
# the scores near that of the inputs; he doubles it to make up for ReLU
# zeroing half of them.
INITS: dict[str, Callable[[int, float], float]] = {
    "gaussian": lambda fan_in, init_std: init_std,
    "xavier": lambda fan_in, init_std: math.sqrt(1.0 / fan_in),
    "he": lambda fan_in, init_std: math.sqrt(2.0 / fan_in),
}


class FullyConnectedNet:
    def __init__(
        self,
        input_dim: int,
        hidden: tuple[int, ...] | list[int],
        num_classes: int,
        loss: str = "softmax",
        init: str = "gaussian",
        init_std: float = 1e-4,
        dtype: str | np.dtype = "float32",
        seed: int = 0,
    ):
        self.dims = [int(input_dim), *map(int, hidden), int(num_classes)]
        self.num_layers = len(self.dims) - 1
        self.loss_name = loss
        self.data_loss_fn = LOSSES[loss]
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        # Ordered W1, b1, W2, b2, ...: the order every table and file shows.
        self.params: dict[str, np.ndarray] = {}
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}")
        for i, (fan_in, fan_out) in enumerate(zip(self.dims[:-1], self.dims[1:]), start=1):
            std = INITS[init](fan_in, init_std)
            self.params[f"W{i}"] = (rng.standard_normal((fan_in, fan_out)) * std).astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(fan_out, dtype=self.dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._scratch = {k: np.empty_like(self.params[k]) for k in self.weight_names}
        self._buffers: dict[int, dict[str, list[np.ndarray]]] = {}
        self._train_n: int | None = None  # the batch size of the last gradient pass

    @property
    def weight_names(self) -> list[str]:
        return [f"W{i}" for i in range(1, self.num_layers + 1)]

    def _buffers_for(self, n: int) -> dict[str, list[np.ndarray]]:
        buf = self._buffers.get(n)
        if buf is None:
            widths = self.dims[1:]
            buf = {
                "act": [np.empty((n, m), self.dtype) for m in widths],  # layer outputs (ReLU'd but the last)
                "grad": [np.empty((n, m), self.dtype) for m in widths],  # d loss / d layer output
                "mask": [np.empty((n, m), bool) for m in widths[:-1]],  # ReLU gates: hidden output > 0
            }
            # The training batch's buffers stay for the whole run; beside them,
            # at most two evaluation sizes (the train-accuracy subset and the
            # val split, or a chunk and its tail). Evicting the batch's buffers
            # would reallocate them after every epoch's evaluation.
            others = [k for k in self._buffers if k != self._train_n]
            if len(others) >= 2:
                self._buffers.pop(others[0])
            self._buffers[n] = buf
        return buf

    def _forward(self, X: Array, buf: dict[str, list[Array]]) -> tuple[Array, list[AffineCache], list[ReluCache]]:
        """Class scores (N, C) into buf["act"][-1], hidden activations and ReLU masks into buf.

        Also returns the caches the layers' forward functions made, for the
        backward pass: each affine's (input, W), and each hidden layer's ReLU
        mask (one fewer: the scores have no ReLU). They are views of the
        buffers, not copies.
        """
        act, mask = buf["act"], buf["mask"]
        affine_caches: list[AffineCache] = []
        relu_caches: list[ReluCache] = []
        h = X
        for i in range(self.num_layers):
            h, affine_cache = affine_forward(h, self.params[f"W{i + 1}"], self.params[f"b{i + 1}"], out=act[i])
            affine_caches.append(affine_cache)
            if i < self.num_layers - 1:
                h, relu_cache = relu_forward(h, out=h, mask=mask[i])
                relu_caches.append(relu_cache)
        return h, affine_caches, relu_caches

    def scores(self, X: np.ndarray, chunk: int = 1000) -> np.ndarray:
        """Class scores (N, C) for inputs X (N, D), computed in chunks."""
        n = X.shape[0]
        out = np.empty((n, self.dims[-1]), self.dtype)
        for start in range(0, n, chunk):
            xb = X[start : start + chunk]
            buf = self._buffers_for(xb.shape[0])
            scores, _, _ = self._forward(xb, buf)
            out[start : start + xb.shape[0]] = scores
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        labels: Array = self.scores(X).argmax(axis=1)  # (N,) class indices
        return labels

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        if X.shape[0] == 0:
            return float("nan")
        return float(np.mean(self.predict(X) == y))

    def reg_loss(self, reg: float) -> float:
        if reg == 0:
            return 0.0
        return 0.5 * reg * sum(float(np.vdot(w, w)) for w in (self.params[k] for k in self.weight_names))

    def loss(self, X: np.ndarray, y: np.ndarray, reg: float = 0.0, grads: bool = True, reg_grads: bool = True) -> float:
        """Loss on a batch; with grads=True, fills self.grads in place.

        X: (N, D) in the net's dtype, y: (N,) integer labels. With
        reg_grads=False the weights' gradients leave out reg * W, for an update
        rule that adds it in its own pass (`opt.step(..., reg=, decayed=)`).
        """
        n = X.shape[0]
        if grads:
            self._train_n = n
        buf = self._buffers_for(n)
        grad = buf["grad"]
        scores, affine_caches, relu_caches = self._forward(X, buf)
        data_loss, dscores = self.data_loss_fn(scores, y, dscores=grad[-1])
        loss = data_loss + self.reg_loss(reg)
        if not grads:
            return loss
        dh = dscores
        for i in range(self.num_layers - 1, -1, -1):
            dW, db = self.grads[f"W{i + 1}"], self.grads[f"b{i + 1}"]
            dx_buf = grad[i - 1] if i > 0 else None
            dx, _, _ = affine_backward(dh, affine_caches[i], dx=dx_buf, dw=dW, db=db, need_dx=i > 0)
            if reg and reg_grads:
                scratch = self._scratch[f"W{i + 1}"]
                np.multiply(self.params[f"W{i + 1}"], reg, out=scratch)
                dW += scratch
            if dx is not None:  # every layer but the first: back through the ReLU below it
                dh = relu_backward(dx, relu_caches[i - 1], out=dx)
        return loss

    def copy_params(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.params.items()}

    def set_params(self, params: dict[str, np.ndarray]) -> None:
        for k, v in params.items():
            np.copyto(self.params[k], v)

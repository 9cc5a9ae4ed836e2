"""A fully-connected net: affine - ReLU - ... - affine - softmax/SVM loss.

    net = FullyConnectedNet(input_dim=784, hidden=(50,), num_classes=10)
    loss = net.loss(X_batch, y_batch, reg=1e-3)   # fills net.grads
    scores = net.scores(X)                         # (N, C)

Loss = data loss + 0.5 * reg * sum of squared weights (W1, W2, ..., not biases).
Activations and gradients live in buffers allocated once per batch size and
reused; the first layer computes no gradient with respect to its input.

The parameters are views of one flat buffer (`param_buffer`), the weights
first, then the biases, and the gradients views of another (`grad_buffer`) in
the same layout: reg's loss is one dot product over the weights' part, and on
a GPU the update is one kernel over the whole buffer. Write parameters with
`set_params`, never by rebinding `params`' entries.

On a GPU backend the parameters, buffers and gradients live on the device;
the initial weights still come from NumPy's generator (and are copied over),
so a GPU net and a CPU net with the same seed start from the same weights.
With the backend's fused kernels (engine/kernels.py, a softmax net) the
forward, the loss and the backward run as `device_loss`. `loss` and
`accuracy` return Python floats: one transfer each.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .backend import CPU, Backend
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
        backend: Backend = CPU,
    ):
        self.dims = [int(input_dim), *map(int, hidden), int(num_classes)]
        self.num_layers = len(self.dims) - 1
        self.loss_name = loss
        self.data_loss_fn = LOSSES[loss]
        self.dtype = np.dtype(dtype)
        self.backend = backend
        xp = self.xp = backend.xp
        # The fused GPU kernels, for a softmax net on a GPU that compiled them; else None.
        self.kernels = backend.kernels if loss == "softmax" else None
        rng = np.random.default_rng(seed)
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}")
        layers = list(enumerate(zip(self.dims[:-1], self.dims[1:]), start=1))
        shapes: dict[str, tuple[int, ...]] = {f"W{i}": (a, b) for i, (a, b) in layers}
        shapes |= {f"b{i}": (b,) for i, (_, b) in layers}
        # Where each parameter lies in the flat buffers: the weights first (reg's part), then the biases.
        self._slices: dict[str, tuple[int, int, tuple[int, ...]]] = {}
        at = 0
        for k, shape in shapes.items():
            self._slices[k] = (at, at + math.prod(shape), shape)
            at += math.prod(shape)
        self.decayed_size = sum(math.prod(shapes[k]) for k in self.weight_names)
        host = np.zeros(at, self.dtype)
        for i, (fan_in, fan_out) in enumerate(zip(self.dims[:-1], self.dims[1:]), start=1):
            std = INITS[init](fan_in, init_std)
            start, stop, _ = self._slices[f"W{i}"]
            host[start:stop] = (rng.standard_normal((fan_in, fan_out)) * std).astype(self.dtype).ravel()
        self.param_buffer: Array = backend.to_device(host)
        self.grad_buffer: Array = xp.zeros(at, self.dtype)
        # Ordered W1, b1, W2, b2, ...: the order every table and file shows.
        order = [k for i in range(1, self.num_layers + 1) for k in (f"W{i}", f"b{i}")]
        self.params: dict[str, np.ndarray] = {k: self.views(self.param_buffer)[k] for k in order}
        self.grads: dict[str, np.ndarray] = {k: self.views(self.grad_buffer)[k] for k in order}
        self._scratch = {k: xp.empty_like(self.params[k]) for k in self.weight_names}
        self._buffers: dict[int, dict[str, list[np.ndarray]]] = {}
        self._train_n: int | None = None  # the batch size of the last gradient pass
        if self.kernels is not None:
            self._reg_sq: Array = xp.zeros((), np.float64)  # the weights' sum of squares
            self._loss: Array = xp.zeros(1, np.float64)  # the last device_loss

    def views(self, flat: Array) -> dict[str, Array]:
        """Each parameter's view of a flat buffer in the parameters' layout (the weights first)."""
        return {k: flat[start:stop].reshape(shape) for k, (start, stop, shape) in self._slices.items()}

    @property
    def weight_names(self) -> list[str]:
        return [f"W{i}" for i in range(1, self.num_layers + 1)]

    def _buffers_for(self, n: int) -> dict[str, list[np.ndarray]]:
        buf = self._buffers.get(n)
        if buf is None:
            widths, xp = self.dims[1:], self.xp
            fused = self.kernels is not None  # the ReLU's backward reads its output: no mask
            buf = {
                "act": [xp.empty((n, m), self.dtype) for m in widths],  # layer outputs (ReLU'd but the last)
                "grad": [xp.empty((n, m), self.dtype) for m in widths],  # d loss / d layer output
                "mask": [] if fused else [xp.empty((n, m), bool) for m in widths[:-1]],  # ReLU gates: output > 0
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
            W, b = self.params[f"W{i + 1}"], self.params[f"b{i + 1}"]
            if self.kernels is not None and i < self.num_layers - 1:  # the matmul, then bias and ReLU in one pass
                h = self.xp.matmul(h, W, out=act[i])
                self.kernels.bias_relu(b, h)
                continue
            h, affine_cache = affine_forward(h, W, b, out=act[i])
            affine_caches.append(affine_cache)
            if i < self.num_layers - 1:
                h, relu_cache = relu_forward(h, out=h, mask=mask[i])
                relu_caches.append(relu_cache)
        return h, affine_caches, relu_caches

    def scores(self, X: np.ndarray, chunk: int = 1000) -> np.ndarray:
        """Class scores (N, C) for inputs X (N, D), computed in chunks (on X's device)."""
        n = X.shape[0]
        out: Array = self.xp.empty((n, self.dims[-1]), self.dtype)
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
        return float(self.xp.mean(self.predict(X) == y))

    def reg_loss(self, reg: float) -> Array | float:
        """0.5 * reg * sum of squared weights: a 0-d float64 array on the net's
        device (0.0 when reg is 0); float() reads it. One dot product over the
        weights' part of the flat buffer (on a GPU, the fused sum of squares:
        CuPy's vdot would make a temporary the size of the weights)."""
        if reg == 0:
            return 0.0
        weights = self.param_buffer[: self.decayed_size]
        if self.kernels is not None:
            self.kernels.sumsq(weights, self._reg_sq)
            total: Array = self._reg_sq
        else:
            total = self.xp.vdot(weights, weights).astype(np.float64)
        return 0.5 * reg * total

    def loss(
        self,
        X: np.ndarray,
        y: np.ndarray,
        reg: float = 0.0,
        grads: bool = True,
        reg_grads: bool = True,
    ) -> float:
        """Loss on a batch; with grads=True, fills self.grads in place.

        X: (N, D) in the net's dtype, y: (N,) integer labels. With
        reg_grads=False the weights' gradients leave out reg * W, for an update
        rule that adds it in its own pass (`opt.step(..., reg=, decayed=)`).
        """
        if self.kernels is not None:
            return float(self.device_loss(X, y, reg, grads, reg_grads).item())
        n = X.shape[0]
        if grads:
            self._train_n = n
        buf = self._buffers_for(n)
        grad = buf["grad"]
        scores, affine_caches, relu_caches = self._forward(X, buf)
        data_loss, dscores = self.data_loss_fn(scores, y, dscores=grad[-1])
        loss = float(data_loss + self.reg_loss(reg))  # the step's one transfer from the device
        if not grads:
            return loss
        dh = dscores
        for i in range(self.num_layers - 1, -1, -1):
            dW, db = self.grads[f"W{i + 1}"], self.grads[f"b{i + 1}"]
            dx_buf = grad[i - 1] if i > 0 else None
            dx, _, _ = affine_backward(dh, affine_caches[i], dx=dx_buf, dw=dW, db=db, need_dx=i > 0)
            if reg and reg_grads:
                scratch = self._scratch[f"W{i + 1}"]
                self.xp.multiply(self.params[f"W{i + 1}"], reg, out=scratch)
                dW += scratch
            if dx is not None:  # every layer but the first: back through the ReLU below it
                dh = relu_backward(dx, relu_caches[i - 1], out=dx)
        return loss

    def device_loss(self, X: Array, y: Array, reg: float = 0.0, grads: bool = True, reg_grads: bool = True) -> Array:
        """`loss` through the fused kernels, left on the device: a float64 array of
        one element, overwritten by the next call. y: int64 labels. The whole pass
        is 8 matmuls and 9 other kernels for 3072-1000-1000-10 (8 without reg)."""
        kernels, xp, L = self.kernels, self.xp, self.num_layers
        assert kernels is not None, "device_loss needs the fused GPU kernels"
        n = X.shape[0]
        if grads:
            self._train_n = n
        buf = self._buffers_for(n)
        act, grad = buf["act"], buf["grad"]
        scores = self._forward_to_last_matmul(X, buf)
        if reg:
            kernels.sumsq(self.param_buffer[: self.decayed_size], self._reg_sq)
        kernels.softmax_xent(scores, self.params[f"b{L}"], y, self._loss, self._reg_sq, 0.5 * reg)
        if not grads:
            return self._loss
        dh = scores  # now d loss / d scores
        for i in range(L - 1, -1, -1):
            dW, db = self.grads[f"W{i + 1}"], self.grads[f"b{i + 1}"]
            xp.matmul((X if i == 0 else act[i - 1]).T, dh, out=dW)
            xp.sum(dh, axis=0, out=db)
            if reg and reg_grads:
                scratch = self._scratch[f"W{i + 1}"]
                xp.multiply(self.params[f"W{i + 1}"], reg, out=scratch)
                dW += scratch
            if i > 0:  # back through the ReLU below, from its output
                dh = xp.matmul(dh, self.params[f"W{i + 1}"].T, out=grad[i - 1])
                kernels.relu_grad(act[i - 1], dh)
        return self._loss

    def _forward_to_last_matmul(self, X: Array, buf: dict[str, list[Array]]) -> Array:
        """The fused forward pass up to the last matmul: its bias is the softmax kernel's to add."""
        kernels, act, h = self.kernels, buf["act"], X
        assert kernels is not None
        for i in range(self.num_layers):
            h = self.xp.matmul(h, self.params[f"W{i + 1}"], out=act[i])
            if i < self.num_layers - 1:
                kernels.bias_relu(self.params[f"b{i + 1}"], h)
        return h

    def copy_params(self) -> dict[str, np.ndarray]:
        """Copies of the parameters on the host (one transfer from a device)."""
        return self.backend.params_to_host(self.params)

    def set_params(self, params: dict[str, np.ndarray]) -> None:
        """Overwrite the parameters with these (host or device) arrays."""
        for k, v in params.items():
            self.xp.copyto(self.params[k], self.backend.to_device(v))

"""A run's training steps, as the trainer takes them (and bench/gpu_step.py times them).

    steps = Steps(net, opt, reg)
    read = steps.launch(X, y)   # forward and backward; on a GPU with the fused kernels, the update too
    loss = read()               # the step's loss on the host
    steps.update()              # the update, where it waits for the loss to be judged (the CPU)

On the CPU, and on a GPU without the fused kernels, `launch` computes the loss
and the gradients, the trainer judges the loss (the explosion rule), and
`update` applies the rule: the NumPy engine's order, nothing deferred.

On a GPU with the fused kernels (engine/kernels.py) `launch` queues the whole
step, update included, then an asynchronous copy of the loss into pinned host
memory; `read` waits for that copy alone. The trainer reads a step's loss
after it has queued the next step (`deferred`), so neither the host nor the
device waits for the other between two steps. The update kernel reads the
loss on the device and changes nothing where it is not finite: a NaN never
reaches the weights, though the host sees it a step late.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .model import FullyConnectedNet
from .optim import Optimizer


class Steps:
    def __init__(self, net: FullyConnectedNet, opt: Optimizer, reg: float):
        self.net, self.opt, self.reg = net, opt, float(reg)
        self.decayed = net.weight_names  # built once, not every step
        # A step's loss may be read after the next step is queued: the fused GPU path.
        self.deferred = net.kernels is not None
        self._reader = _LossReader(net.xp) if self.deferred else None

    def launch(self, X: Any, y: Any) -> Callable[[], float]:
        """Run (on a GPU: queue) one step on the batch X, y; returns what reads its loss."""
        net, opt = self.net, self.opt
        if self._reader is None:
            loss = net.loss(X, y, self.reg, reg_grads=False)  # the update adds reg * W, block by block
            return lambda: loss
        assert net.kernels is not None
        on_device = net.device_loss(X, y, self.reg, reg_grads=False)
        opt.step_flat(net.kernels, net.param_buffer, net.grad_buffer, self.reg, net.decayed_size, on_device, net.views)
        return self._reader.push(on_device)

    def update(self) -> None:
        """Apply the update of the step just launched, once its loss passed (queued already when deferred)."""
        if not self.deferred:
            self.opt.step(self.net.params, self.net.grads, reg=self.reg, decayed=self.decayed)


class _LossReader:
    """Two float64 slots of pinned host memory the device copies losses into, in turn:
    a slot is read (its copy waited for) before the step after next writes it again."""

    def __init__(self, xp: Any):
        self._memory = xp.cuda.alloc_pinned_memory(2 * 8)  # kept: the slots are views of it
        self._host = np.frombuffer(self._memory, np.float64, 2)
        self._copied = [xp.cuda.Event(disable_timing=True) for _ in range(2)]
        self._slot = 0

    def push(self, loss: Any) -> Callable[[], float]:
        """Queue the copy of `loss` (a device float64 array of one element); returns its reader."""
        slot, self._slot = self._slot, 1 - self._slot
        loss.get(out=self._host[slot : slot + 1], blocking=False)
        self._copied[slot].record()

        def read() -> float:
            self._copied[slot].synchronize()
            return float(self._host[slot])

        return read

"""The trainer: runs one preset on one data set and reports through a sink.

    control = RunControl()
    trainer = Trainer(preset, dataset, sink=print, control=control)
    ended = trainer.run()          # -> RunEnded; never raises for a failed run

Any thread may call control.stop(), control.pause(), control.resume(); the
trainer checks them every iteration. `run_ended` is always sent, also when the
run fails (status "failed", the error in `reason`, the exception in
`trainer.error`).

A procedure that drives the loop (overfit-small, lr-find: fastai's finder is a
callback on its one loop) plugs in with `on_epoch`, a sink that reads the Step
events, `learning_rate_at` (the rate of each iteration) and `trainer.finish`
(the goal is reached: the run ends "finished" before its last epoch).

The run trains on the device `train.device` names (engine/backend.py): the data
set is copied there once, and per step only the loss comes back (with the
fused kernels, a step late: engine/steps.py). The ratio rows come back in one
transfer per stats event, the accuracies in one each per epoch, and the best
parameters only when a face asks for them (`best_params`). When a GPU run
ends, its best parameters come to the host and its device memory goes back
to the device (`_release`): every process that trains leaves the GPU to the
others sharing it.

On a GPU with the fused kernels the trainer reads a step's loss after it has
queued the next one; a step whose events end the run (an explosion, a face's
`finish`) has then been followed by one more update on the device, which no
event reports. The events are the CPU's.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from ..config import Preset, TrainConfig, to_dict
from ..datasets.base import Dataset
from ..errors import PresetError
from ..threads import blas_threads, cores
from .backend import CPU, Backend, array_namespace, resolve
from .events import Epoch, Ratios, RunEnded, RunStarted, Sink, Step
from .model import FullyConnectedNet
from .optim import Optimizer, make_optimizer
from .rules import ExplosionWatch, input_scale
from .stats import ratio_rows
from .steps import Steps

TRAIN_ACC_SUBSET = 1000
# A batch at least this big is gathered on a second thread while the step
# before it computes, when the BLAS leaves a core free (the workbench's trainer,
# or a user's OPENBLAS_NUM_THREADS=1 on two cores): np.take releases the GIL, and
# handing work to a thread costs about 0.1 ms, more than a small batch's gather
# (784 x 200: 0.07 ms). With BLAS on every core the gathering thread only takes
# a core from the matmuls: measured, 3072-500-10 @256 ran 0.61 s an epoch with it
# against 0.51 s without.
PREFETCH_BYTES = 1 << 20


class RunControl:
    """Cooperative stop and pause, shared between the trainer and any face."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self.stop_reason = "stopped by request"

    def stop(self, reason: str = "stopped by request") -> None:
        self.stop_reason = reason
        self._stop.set()
        self._resume.set()  # a paused trainer must wake up to stop

    def pause(self) -> None:
        if not self._stop.is_set():
            self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def wait_if_paused(self) -> None:
        self._resume.wait()


# Copies of the parameters a run keeps: params, grads, reg scratch, best, the
# one packed for a transfer to the host, and up to three optimizer buffers
# (Adam: m, v, tmp).
_PARAM_COPIES = 8
EVAL_CHUNK = 1000  # rows a net scores at once (FullyConnectedNet.scores)


def estimate_bytes(preset: Preset, input_dim: int, num_classes: int, with_data: bool = False) -> int:
    """About how much memory a run of this net takes, at most: the parameters and
    their copies; the activations, gradients and ReLU masks of the batch and of
    the two evaluation sizes the net keeps buffers for, and the scores it
    evaluates; with_data, what a GPU run copies to the device besides: the
    training and validation splits, the train-accuracy subset, the batch it
    gathers and the epoch's permutation."""
    dims = [input_dim, *preset.model.hidden, num_classes]
    itemsize = np.dtype(preset.model.dtype).itemsize
    params = sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))
    n, n_val = preset.data.num_train, preset.data.num_val
    batch = effective_batch_size(preset.train, n)
    subset = min(n, TRAIN_ACC_SUBSET)
    evaluated = min(EVAL_CHUNK, max(subset, n_val))
    activations = (batch + 2 * evaluated) * sum(dims[1:]) * (2 * itemsize + 1)
    scores = (subset + n_val) * (num_classes * itemsize + 8 + 1)  # the scores, the predictions, the hits
    total = params * itemsize * _PARAM_COPIES + activations + scores
    if with_data:
        total += (n + n_val + subset + batch) * (input_dim * itemsize + 8) + n * 8
    return total


def effective_batch_size(train: TrainConfig, n: int) -> int:
    """The mini-batch a run takes from n training examples: train.batch_size, never
    more than n; all n when train.sample_batches is off (full-batch descent)."""
    return min(train.batch_size, n) if train.sample_batches else n


def iterations_per_epoch(train: TrainConfig, n: int) -> int:
    """Updates per epoch from n training examples: as many whole mini-batches as fit
    (at least one), or one full-batch step."""
    return max(n // effective_batch_size(train, n), 1) if train.sample_batches else 1


def check_model_fits(preset: Preset, input_dim: int, num_classes: int, backend: Backend | None = None) -> Backend:
    """The backend the preset's train.device gives (a PresetError naming
    train.device when it cannot be had), after checking that the net fits in
    what this process may take there (`Backend.room`: the machine's memory, or
    the GPU's free memory within a search worker's share): a PresetError naming
    model.hidden when it does not. Commands call it before anything is
    recorded, and every net built for a run passes it."""
    backend = backend or resolve_device(preset)
    room = backend.room()
    if room is None:
        return backend
    have, what = room
    need = estimate_bytes(preset, input_dim, num_classes, with_data=not backend.on_host)
    if need > 0.8 * have:
        raise PresetError(
            f"{preset.where('model.hidden')}: {list(preset.model.hidden)} with {input_dim} inputs and "
            f"{num_classes} classes needs about {need / 2**30:,.1f} GiB, and {what.format(f'{have / 2**30:,.1f}')}; "
            "use smaller hidden layers"
        )
    return backend


def _interrupted(e: BaseException) -> bool:
    """Whether `e` was raised while a KeyboardInterrupt was being handled (in its context chain)."""
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__context__
    return False


def resolve_device(preset: Preset) -> Backend:
    """The backend of the preset's train.device (see engine/backend.py's resolve)."""
    return resolve(preset.train.device, preset.where("train.device"))


def build_net(preset: Preset, input_dim: int, num_classes: int, backend: Backend = CPU) -> FullyConnectedNet:
    """The preset's net with its initial weights, on `backend`'s device (the CPU unless given)."""
    check_model_fits(preset, input_dim, num_classes, backend)
    m = preset.model
    return FullyConnectedNet(
        input_dim,
        m.hidden,
        num_classes,
        loss=m.loss,
        init=m.init,
        init_std=m.init_std,
        dtype=m.dtype,
        seed=preset.train.seed,
        backend=backend,
    )


class Batches:
    """An epoch's mini-batches in the order of a permutation, into two reused buffers.

    With prefetch, batch b + 1 is gathered on a worker thread while the caller
    computes on batch b; the caller must be done with a batch when it asks
    for the next one (the buffer it holds is refilled with the batch after).
    X, y and the permutation are on the run's device (a GPU gathers with a
    kernel, asynchronously: no prefetch there).
    """

    def __init__(self, X: Any, y: Any, batch: int, prefetch: bool):
        self.X, self.y, self.batch = X, y, batch
        self.xp = xp = array_namespace(X)
        self._x = [xp.empty((batch, X.shape[1]), X.dtype) for _ in range(2 if prefetch else 1)]
        self._y = [xp.empty(batch, y.dtype) for _ in range(2 if prefetch else 1)]
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="tui-trainer batches") if prefetch else None

    def _gather(self, perm: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
        i = b % len(self._x)
        idx = perm[b * self.batch : (b + 1) * self.batch]
        xp = self.xp
        # mode="clip": with the default "raise", NumPy gathers into a temporary and copies it
        # into out (0.65 ms for 256 CIFAR rows, against 0.24); a permutation's indices are all valid.
        # CuPy's take has no mode (it wraps).
        kw = {"mode": "clip"} if xp is np else {}
        return xp.take(self.X, idx, axis=0, out=self._x[i], **kw), xp.take(self.y, idx, out=self._y[i], **kw)

    def epoch(self, perm: np.ndarray, count: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if self._pool is None:
            for b in range(count):
                yield self._gather(perm, b)
            return
        pending: Future[tuple[np.ndarray, np.ndarray]] = self._pool.submit(self._gather, perm, 0)
        for b in range(count):
            xb, yb = pending.result()
            if b + 1 < count:
                pending = self._pool.submit(self._gather, perm, b + 1)
            yield xb, yb

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


class Trainer:
    def __init__(
        self,
        preset: Preset,
        data: Dataset,
        sink: Sink,
        control: RunControl | None = None,
        run_id: str | None = None,
        on_epoch: Callable[[Trainer], None] | None = None,
        backend: Backend | None = None,
        learning_rate_at: Callable[[int], float] | None = None,
        shuffle_seed: int | None = None,
    ):
        self.preset = preset
        self.data = data
        self.sink = sink
        self.control = control or RunControl()
        self.run_id = run_id or uuid.uuid4().hex[:8]
        # Called after each epoch event with the trainer, for faces that look
        # at the weights (the first-layer view) at most once per epoch.
        self.on_epoch = on_epoch
        # Where the run trains: train.device's, unless given (tests, benchmarks).
        self.backend = backend
        # The learning rate of iteration t (from 1), set before its update, in place of
        # train.learning_rate and its decay: lr-find's exponential sweep.
        self.learning_rate_at = learning_rate_at
        # The mini-batch order's seed when not train.seed: lr-find repeats its sweep in
        # other orders from the same initial weights (train.seed draws those).
        self.shuffle_seed = shuffle_seed
        self.finish_reason: str | None = None  # set by finish()
        self.net: FullyConnectedNet | None = None
        self._best: dict[str, Any] | None = None  # on the run's device
        self.best_val_acc: float | None = None
        self.best_epoch: int | None = None
        self.iteration = 0
        self._loss_sum = 0.0  # the epoch's losses so far
        self.error: BaseException | None = None
        self.traceback: str = ""
        self._released = False  # the run's device memory is handed back (`_release`)

    @property
    def best_params(self) -> dict[str, np.ndarray] | None:
        """The parameters of the best epoch so far, on the host (from a GPU: one
        transfer per call, so a face asks only when it saves or shows them)."""
        if self._best is None:
            return None
        backend = self.backend or CPU
        return self._best if backend.on_host or self._released else backend.params_to_host(self._best)

    def finish(self, reason: str) -> None:
        """End the run as "finished" with `reason` before its last epoch: a procedure's
        goal is reached (overfit-small's train accuracy 1.00, lr-find's stop). Called
        from the trainer's thread (a sink, on_epoch); no step runs after the one
        whose events are being handled, and the epoch in progress sends no Epoch event."""
        self.finish_reason = reason

    def param_on_host(self, name: str) -> np.ndarray:
        """A host copy of one of the net's parameters ("W1" for the first-layer view)."""
        assert self.net is not None
        return (self.backend or CPU).params_to_host({name: self.net.params[name]})[name]

    def run(self) -> RunEnded:
        t0 = time.perf_counter()
        status, reason = "finished", "all epochs done"
        try:
            status, reason = self._train(t0)
        except Exception as e:  # the run fails; the face decides what to show
            if _interrupted(e):
                # A second Ctrl+C (KeyboardInterrupt) that landed inside library code which
                # turned it into an error of its own while unwinding (zipfile closing a
                # half-written best.npz: ValueError): the user stopped the run, it did not fail.
                raise KeyboardInterrupt from e
            self.error = e
            self.traceback = traceback.format_exc()
            status, reason = "failed", f"{type(e).__name__}: {e}"
            # The frames' locals (the data on the device, the net) would live as long as the error.
            traceback.clear_frames(e.__traceback__)
        ended = RunEnded(
            status=status,
            reason=reason,
            best_val_acc=self.best_val_acc,
            best_epoch=self.best_epoch,
            iterations=self.iteration,
            elapsed_s=time.perf_counter() - t0,
        )
        try:
            self.sink(ended)
        except Exception as e:
            if self.error is None:
                self.error = e
                self.traceback = traceback.format_exc()
                traceback.clear_frames(e.__traceback__)
        self._release()
        return ended

    def _release(self) -> None:
        """On a GPU, once the run has ended: its best parameters to the host (what a
        face still asks for), its arrays dropped and its memory pool's blocks handed
        back to the device, for the search workers or runs that share it."""
        backend = self.backend
        if backend is None or backend.on_host or self._released:
            return
        if self._best is not None:
            self._best = backend.params_to_host(self._best)
        self._released = True
        self.net = None
        backend.free_memory()

    def _train(self, t0: float) -> tuple[str, str]:
        p, tc, d = self.preset, self.preset.train, self.data
        dtype = np.dtype(p.model.dtype)
        X_host, y_host = d.X_train, d.y_train
        if X_host.dtype != dtype:
            X_host = X_host.astype(dtype)
        X_val_host = d.X_val if d.X_val.dtype == dtype else d.X_val.astype(dtype)
        n = X_host.shape[0]
        if n == 0:
            raise ValueError("the training split is empty")
        batch = effective_batch_size(tc, n)
        per_epoch = iterations_per_epoch(tc, n)
        total = per_epoch * tc.epochs

        backend = self.backend = self.backend or resolve_device(p)
        net = self.net = build_net(p, d.input_dim, d.num_classes, backend)
        opt = make_optimizer(tc.update, tc.learning_rate, tc.momentum)
        threads = blas_threads()
        # The update's blocks shared among the BLAS's threads on the host; a GPU takes whole arrays.
        opt.threads = threads if backend.on_host else 1
        # Shuffles come from NumPy's generator on the host, whatever the device,
        # so a GPU run sees the same batches as a CPU run with the same seed.
        rng = np.random.default_rng(tc.seed)
        # A fixed subset for train accuracy, so epochs are comparable and cheap.
        sub = np.sort(rng.choice(n, size=min(n, TRAIN_ACC_SUBSET), replace=False))
        if self.shuffle_seed is not None:  # the order alone: its first permutation is the seed's first
            rng = np.random.default_rng(self.shuffle_seed)
        # The data set moves to the device once (on the CPU: no copy).
        X, y = backend.to_device(X_host), backend.to_device(y_host)
        X_val, y_val = backend.to_device(X_val_host), backend.to_device(d.y_val)
        X_sub_host = X_host[sub]
        X_sub, y_sub = backend.to_device(X_sub_host), backend.to_device(y_host[sub])

        initial_loss = net.loss(X_sub, y_sub, tc.reg, grads=False)
        shares = np.bincount(d.y_val, minlength=d.num_classes) / max(len(d.y_val), 1)
        self.sink(
            RunStarted(
                run_id=self.run_id,
                config=to_dict(p),
                classes=d.num_classes,
                n_train=n,
                n_val=int(X_val.shape[0]),
                iterations_per_epoch=per_epoch,
                total_iterations=total,
                initial_loss=initial_loss,
                label_names=tuple(d.label_names),
                image_shape=tuple(d.image_shape),
                device=backend.name,
                input_scale=input_scale(X_sub_host),
                val_class_shares=tuple(float(v) for v in shares),
            )
        )

        batches = None
        if tc.sample_batches:
            prefetch = backend.on_host and batch * X.shape[1] * dtype.itemsize >= PREFETCH_BYTES and threads < cores()
            batches = Batches(X, y, batch, prefetch=prefetch)
        self._best = {k: v.copy() for k, v in net.params.items()}
        explosion = ExplosionWatch(initial_loss, tc.explode_factor)
        steps = Steps(net, opt, tc.reg)
        try:
            for epoch in range(1, tc.epochs + 1):
                if batches is not None:
                    # The shuffle comes from NumPy's generator, whatever the device.
                    feed = batches.epoch(backend.to_device(rng.permutation(n)), per_epoch)
                else:
                    feed = iter([(X, y)])
                ended = self._epoch(steps, feed, explosion, per_epoch)
                if ended is not None:
                    return ended
                self._end_epoch(net, opt, epoch, per_epoch, (X_sub, y_sub), (X_val, y_val), t0)
                if self.finish_reason is not None:
                    return "finished", self.finish_reason
        finally:
            opt.close()
            if batches is not None:
                batches.close()
        return "finished", f"{tc.epochs} epochs done"

    def _epoch(
        self,
        steps: Steps,
        feed: Iterator[tuple[Any, Any]],
        explosion: ExplosionWatch,
        per_epoch: int,
    ) -> tuple[str, str] | None:
        """One epoch's steps; (status, reason) when the run ends inside it.

        A step is launched, then settled (its loss judged, its events sent). Where
        steps are deferred (engine/steps.py) the step before is settled after the
        next one is launched, except the ones whose events must see their own
        weights: a stats step and the epoch's last are settled at once."""
        tc, control, rate_at, opt = self.preset.train, self.control, self.learning_rate_at, steps.opt
        self._loss_sum = 0.0
        pending: tuple[Callable[[], float], float] | None = None

        def settle() -> tuple[str, str] | None:
            nonlocal pending
            assert pending is not None
            (read, lr), pending = pending, None
            return self._settle(read(), lr, steps, explosion, per_epoch)

        for b, (xb, yb) in enumerate(feed):
            if control.paused or control.stopped:
                ended = settle() if pending is not None else None  # the step already taken is reported first
                if ended is not None:
                    return ended
                if control.paused:
                    control.wait_if_paused()
                if control.stopped:
                    return "stopped", control.stop_reason
            if self.finish_reason is not None:  # a step queued after the one that asked is not reported
                return "finished", self.finish_reason
            if rate_at is not None:
                opt.learning_rate = rate_at(self.iteration + 1 + (pending is not None))
            read = steps.launch(xb, yb)
            ended = settle() if pending is not None else None
            pending = (read, opt.learning_rate)
            if ended is not None:
                return ended
            if not steps.deferred or (self.iteration + 1) % tc.stats_every == 0 or b == per_epoch - 1:
                ended = settle()
                if ended is not None:
                    return ended
        return settle() if pending is not None else None

    def _settle(
        self, loss: float, lr: float, steps: Steps, explosion: ExplosionWatch, per_epoch: int
    ) -> tuple[str, str] | None:
        """A step's loss judged (the explosion rule), its update applied where it waited for
        that, its Step event (and every stats_every steps its Ratios) sent."""
        self.iteration += 1
        step = Step(self.iteration, self.iteration / per_epoch, loss, lr)
        if explosion.update(loss):
            self.sink(step)
            return "exploded", f"{explosion.why()}; the learning rate is probably too high"
        steps.update()
        self._loss_sum += loss
        self.sink(step)
        if self.iteration % self.preset.train.stats_every == 0:
            net = steps.net
            self.sink(Ratios(self.iteration, ratio_rows(net.params, steps.opt.applied, net.backend)))
        return None

    def _end_epoch(
        self,
        net: FullyConnectedNet,
        opt: Optimizer,
        epoch: int,
        per_epoch: int,
        train: tuple[Any, Any],
        val: tuple[Any, Any],
        t0: float,
    ) -> None:
        """The epoch's accuracies (train: the fixed subset; both on the run's device), the best
        parameters kept there, the learning rate decayed, the epoch event sent."""
        tc = self.preset.train
        train_acc = net.accuracy(*train)
        val_acc, top_class, top_share = _val_reading(net, val[0], self.data.y_val)
        lr_used = opt.learning_rate
        if self.best_val_acc is None or val_acc > self.best_val_acc:
            self.best_val_acc, self.best_epoch = val_acc, epoch
            assert self._best is not None
            for k, v in net.params.items():
                net.xp.copyto(self._best[k], v)
        opt.learning_rate *= tc.learning_rate_decay
        self.sink(
            Epoch(
                epoch=epoch,
                loss=self._loss_sum / per_epoch,
                train_acc=train_acc,
                val_acc=val_acc,
                learning_rate=lr_used,
                elapsed_s=time.perf_counter() - t0,
                val_top_class=top_class,
                val_top_share=top_share,
            )
        )
        if self.on_epoch is not None:
            self.on_epoch(self)


def _val_reading(net: FullyConnectedNet, X: Any, y: np.ndarray) -> tuple[float, int | None, float | None]:
    """Val accuracy, the class predicted most often and its share of the predictions
    (the advisor tells a net that answers one class from one that learned). X is on the
    run's device, y on the host: the predictions come over in the one transfer the
    accuracy took before."""
    if X.shape[0] == 0:
        return float("nan"), None, None
    predicted = net.backend.to_host(net.predict(X))
    counts = np.bincount(predicted, minlength=net.dims[-1])
    top = int(counts.argmax())
    return float(np.mean(predicted == y)), top, float(counts[top]) / X.shape[0]

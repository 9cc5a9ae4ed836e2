"""What the workbench remembers of each run: the event stream, folded into arrays.

The trainer's events arrive on a background thread (from a trainer_host.Host) and are
appended as `(run, event)` pairs to an `EventQueue` (a deque: extend and
popleft are atomic, so no lock); the app drains it on a timer and folds each
event into that run's `RunHistory`. Nothing here imports
Textual: the panes read these objects when they redraw.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..config import Preset
from ..engine.events import Advice, Epoch, Ratios, RunEnded, RunStarted, Step
from .host_events import URGENT, HostEvent, LayerSnapshot, StoreOpened

# What changed in a drain, so only those panes redraw.
LOSS, EPOCHS, RATIOS, STATUS, NOTES, LAYER = "loss", "epochs", "ratios", "status", "notes", "layer"


class _Growing:
    """A float64 array that grows by doubling; `view` is the filled part."""

    def __init__(self, capacity: int = 256):
        self._a = np.empty(max(capacity, 16))
        self.n = 0

    def append(self, v: float) -> None:
        if self.n == self._a.size:
            self._a = np.concatenate([self._a, np.empty(self._a.size)])
        self._a[self.n] = v
        self.n += 1

    @property
    def view(self) -> np.ndarray:
        return self._a[: self.n]


@dataclass
class RunHistory:
    """One run of this session, as its events arrived."""

    number: int  # 1, 2, ... within the session
    preset: Preset
    started: RunStarted | None = None
    ended: RunEnded | None = None
    epochs: list[Epoch] = field(default_factory=list)
    ratios: Ratios | None = None
    advice: list[Advice] = field(default_factory=list)
    layer: LayerSnapshot | None = None  # the first layer's weights, as last sent
    run_dir: str = ""  # the run directory's folder name, once created
    error_where: str = ""  # for a failed run: the last frame of the traceback
    iteration: int = 0
    # Time bookkeeping for the status bar, on the app's clock (injectable for tests).
    t_start: float | None = None
    t_end: float | None = None
    paused_s: float = 0.0
    paused_since: float | None = None

    def __post_init__(self) -> None:
        self._x = _Growing()  # epochs (iteration / iterations_per_epoch)
        self._loss = _Growing()
        self._smooth = _Growing()
        self._ema = 0.0
        self._ema_w = 0.0
        self._alpha = 0.9

    # --- folding events --------------------------------------------------------

    def add(self, event: HostEvent) -> str:
        """Fold one event in; returns which pane it touches."""
        if isinstance(event, Step):
            self.iteration = event.iteration
            self._x.append(event.epoch)
            self._loss.append(event.loss)
            if math.isfinite(event.loss):
                # Debiased EMA (as TensorBoard smooths): the first points are not pulled to 0.
                self._ema = self._alpha * self._ema + (1 - self._alpha) * event.loss
                self._ema_w = self._alpha * self._ema_w + (1 - self._alpha)
            self._smooth.append(self._ema / self._ema_w if self._ema_w else event.loss)
            return LOSS
        if isinstance(event, Ratios):
            self.ratios = event
            return RATIOS
        if isinstance(event, Epoch):
            self.epochs.append(event)
            return EPOCHS
        if isinstance(event, RunStarted):
            self.started = event
            # About a tenth of an epoch, within 5..50 iterations.
            window = min(max(event.iterations_per_epoch / 10, 5), 50)
            self._alpha = 1 - 1 / window
            return STATUS
        if isinstance(event, Advice):
            self.advice.append(event)
            return NOTES
        if isinstance(event, RunEnded):
            self.ended = event
            return STATUS
        if isinstance(event, StoreOpened):
            self.run_dir = event.name
            return NOTES
        if isinstance(event, LayerSnapshot):
            self.layer = event
            return LAYER
        return ""

    # --- what the panes read --------------------------------------------------------

    @property
    def status(self) -> str:
        if self.ended is not None:
            return self.ended.status
        return "paused" if self.paused_since is not None else "running"

    @property
    def steps_x(self) -> np.ndarray:
        return self._x.view

    @property
    def steps_loss(self) -> np.ndarray:
        return self._loss.view

    @property
    def steps_smooth(self) -> np.ndarray:
        return self._smooth.view

    @property
    def total_epochs(self) -> int:
        return self.preset.train.epochs

    @property
    def total_iterations(self) -> int | None:
        return self.started.total_iterations if self.started else None

    @property
    def current_epoch(self) -> float:
        if self.started is None or self.started.iterations_per_epoch == 0:
            return 0.0
        return self.iteration / self.started.iterations_per_epoch

    def elapsed(self, now: float) -> float:
        if self.t_start is None:
            return 0.0
        end = self.t_end if self.t_end is not None else now
        paused = self.paused_s + ((end - self.paused_since) if self.paused_since is not None else 0.0)
        return max(end - self.t_start - paused, 0.0)

    def eta(self, now: float) -> float | None:
        """Seconds left at the pace so far; None before the pace is known or after the end."""
        total = self.total_iterations
        if self.ended is not None or not total or self.iteration < 2:
            return None
        spent = self.elapsed(now)
        return spent / self.iteration * (total - self.iteration)

    def pause(self, now: float) -> None:
        if self.paused_since is None:
            self.paused_since = now

    def resume(self, now: float) -> None:
        if self.paused_since is not None:
            self.paused_s += now - self.paused_since
            self.paused_since = None

    def finish(self, now: float) -> None:
        self.resume(now)
        if self.t_end is None:
            self.t_end = now


class EventQueue:
    """The bridge from the trainer's side: `push` is called on a background
    thread and costs a deque extend, plus a wake-up call when the batch holds
    one of the rare events (run start and end, advice) that should show at once.
    The app drains the queue on its own thread."""

    def __init__(self, wake: Callable[[], object]):
        self._q: deque[tuple[RunHistory, HostEvent]] = deque()
        self._wake = wake

    def push(self, run: RunHistory, events: Sequence[HostEvent]) -> None:
        self._q.extend((run, e) for e in events)
        if any(isinstance(e, URGENT) for e in events):
            self._wake()

    def drain(self) -> list[tuple[RunHistory, HostEvent]]:
        """Everything queued so far, oldest first (called on the app's thread)."""
        q, out = self._q, []
        for _ in range(len(q)):
            out.append(q.popleft())
        return out

    def __len__(self) -> int:
        return len(self._q)

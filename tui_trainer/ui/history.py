"""What the workbench remembers of each run: the event stream, folded by lab/history.py.

The trainer's events arrive on a background thread (from a trainer_host.Host) and are
appended as `(run, event)` pairs to an `EventQueue` (a deque: extend and
popleft are atomic, so no lock); the app drains it on a timer and folds each
event into that run's `RunHistory`: the fold the advisor and the console use,
plus what only the workbench keeps (the run's number in the session, the
host's own events, the time on the app's clock). Nothing here imports
Textual: the panes read these objects when they redraw.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from ..config import Preset
from ..lab.history import EPOCHS, LOSS, NOTES, RATIOS, STATUS, History
from .host_events import URGENT, HostEvent, LayerSnapshot, StoreOpened

# What changed in a drain, so only those panes redraw (lab/history.py's names, and the layer view's).
LAYER = "layer"
__all__ = ["EPOCHS", "LAYER", "LOSS", "NOTES", "RATIOS", "STATUS", "EventQueue", "RunHistory"]


class RunHistory(History):
    """One run of this session, as its events arrived."""

    def __init__(self, number: int, preset: Preset):
        super().__init__()
        self.number = number  # 1, 2, ... within the session
        self.preset = preset
        self.layer: LayerSnapshot | None = None  # the first layer's weights, as last sent
        self.run_dir = ""  # the run directory's folder name, once created
        self.error_where = ""  # for a failed run: the last frame of the traceback
        self.seed: tuple[int, int] | None = None  # in a seed group (n): its place, the group's size
        # Time bookkeeping for the status bar, on the app's clock (injectable for tests).
        self.t_start: float | None = None
        self.t_end: float | None = None
        self.paused_s = 0.0
        self.paused_since: float | None = None

    def fold_other(self, event: HostEvent) -> str:
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
    def total_epochs(self) -> int:
        return self.preset.train.epochs

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

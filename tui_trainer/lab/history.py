"""A run's events folded into the one history every reader of a run looks at:
the advisor's checks, the console's live view and summary, the workbench's panes.

    h = History()
    for event in events:
        h.add(event)                # a history is also a sink: h(event)
    h.steps_loss, h.steps_smooth, h.epochs[-1], h.best, h.advice, h.ended

`add` returns what the event changed (LOSS, EPOCHS, RATIOS, STATUS, NOTES; ""
for an event the fold keeps nothing of), so a reader re-checks or redraws only
that. A `run_started` starts the history over (a metrics.jsonl read back holds
one run, a replayed stream may hold several). Faces add what only they keep by
subclassing (the workbench's run number and clock, the console's signal) and
fold events of their own in `fold_other`.

Cost: a step comes every iteration, on the trainer's thread for the advisor and
the console, on the app's thread in the workbench, so folding a step is two
list appends. The NumPy arrays the plots and checks read, and the smoothed
loss only the workbench's curve reads, are built from the lists when read,
only the part added since the last read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..engine.events import Advice, Epoch, Ratios, RunEnded, RunStarted, Step, from_dict
from ..engine.rules import MovingAverage

# What an event changed.
LOSS, EPOCHS, RATIOS, STATUS, NOTES = "loss", "epochs", "ratios", "status", "notes"

# The loss curve's smoothing: a moving average over about a tenth of an epoch,
# within these many iterations (before run_started says how long an epoch is: 10).
SMOOTH_WINDOW = (5, 50)
DEFAULT_SMOOTH_WINDOW = 10


def smoothing_window(iterations_per_epoch: int) -> float:
    """About a tenth of an epoch, within SMOOTH_WINDOW iterations."""
    lo, hi = SMOOTH_WINDOW
    return min(max(iterations_per_epoch / 10, lo), hi)


class _Series:
    """A list that appends at list speed and reads as a float64 array: the array
    grows by doubling and takes in only what was appended since the last read."""

    __slots__ = ("items", "_a", "_n")

    def __init__(self) -> None:
        self.items: list[float] = []
        self._a = np.empty(0)
        self._n = 0  # how many items the array holds

    @property
    def view(self) -> np.ndarray:
        n = len(self.items)
        if n != self._n:
            if n > self._a.size:
                grown = np.empty(max(n, 2 * self._a.size, 256))
                grown[: self._n] = self._a[: self._n]
                self._a = grown
            self._a[self._n : n] = self.items[self._n : n]
            self._n = n
        return self._a[:n]


class History:
    """One run's events as they arrived (see the module's docstring)."""

    def __init__(self) -> None:
        self._start_over()

    def _start_over(self) -> None:
        self.started: RunStarted | None = None
        self.started_clock = math.nan  # time.perf_counter() when run_started was folded in, for a live rate
        self.ended: RunEnded | None = None
        self.epochs: list[Epoch] = []
        self.ratios: Ratios | None = None  # the last ratios event
        self.advice: list[Advice] = []
        self.iteration = 0  # the last step's
        self.loss = math.nan  # the last step's mini-batch loss
        self.learning_rate = math.nan  # the last step's (after the schedule's decay)
        self._x = _Series()  # epochs (iteration / iterations_per_epoch)
        self._losses = _Series()  # as they came: inf and NaN included
        self._smoothed = _Series()  # the moving average of the finite ones, filled when read
        self._average = MovingAverage.over(DEFAULT_SMOOTH_WINDOW)

    @classmethod
    def from_events(cls, events: Iterable[Any]) -> History:
        """The history of the last run in `events` (dataclasses, or dicts as in metrics.jsonl)."""
        h = cls()
        for event in events:
            h.add(from_dict(dict(event)) if isinstance(event, Mapping) else event)
        return h

    # --- folding ---------------------------------------------------------------------

    def add(self, event: Any) -> str:
        """Fold one event in; returns what it changed."""
        if type(event) is Step:  # every iteration: first, and no more than it needs
            loss = event.loss
            self.iteration, self.loss, self.learning_rate = event.iteration, loss, event.learning_rate
            self._x.items.append(event.epoch)
            self._losses.items.append(loss)
            return LOSS
        if isinstance(event, Ratios):
            self.ratios = event
            return RATIOS
        if isinstance(event, Epoch):
            self.epochs.append(event)
            return EPOCHS
        if isinstance(event, RunStarted):
            self._start_over()
            self.started, self.started_clock = event, time.perf_counter()
            self._average = MovingAverage.over(smoothing_window(event.iterations_per_epoch))
            return STATUS
        if isinstance(event, Advice):
            self.advice.append(event)
            return NOTES
        if isinstance(event, RunEnded):
            self.ended = event
            return STATUS
        return self.fold_other(event)

    def __call__(self, event: Any) -> None:
        """As a sink (the console's face): fold, and say nothing."""
        self.add(event)

    def fold_other(self, event: Any) -> str:
        """An event that is not the engine's: a face's own (the workbench's host sends two)."""
        return ""

    # --- what readers read -------------------------------------------------------------

    @property
    def steps_x(self) -> np.ndarray:
        """Each step's epoch (iteration / iterations per epoch), for the loss curve's x axis."""
        return self._x.view

    @property
    def steps_loss(self) -> np.ndarray:
        """Each step's mini-batch loss (inf and NaN as they came): steps_loss[i] is iteration i + 1's."""
        return self._losses.view

    @property
    def steps_smooth(self) -> np.ndarray:
        """The moving average (debiased, over smoothing_window) of the finite step losses;
        a loss that is not finite stays out of it (it shows in steps_loss). Averaged here,
        for the steps since the last read: only the workbench's curve reads it."""
        losses, smoothed, average = self._losses.items, self._smoothed.items, self._average
        for loss in losses[len(smoothed) :]:
            if math.isfinite(loss):
                smoothed.append(average.update(loss))
            else:
                smoothed.append(average.value if average.count else loss)
        return self._smoothed.view

    @property
    def steps(self) -> int:
        """How many steps were folded in."""
        return len(self._losses.items)

    def setting(self, section: str, key: str, default: Any = None) -> Any:
        """A value of the run's resolved preset (run_started's config); `default` before it or when absent."""
        if self.started is None:
            return default
        return self.started.config.get(section, {}).get(key, default)

    @property
    def iterations_per_epoch(self) -> int:
        return max(self.started.iterations_per_epoch, 1) if self.started else 1

    @property
    def total_iterations(self) -> int | None:
        return self.started.total_iterations if self.started else None

    @property
    def current_epoch(self) -> float:
        if self.started is None or self.started.iterations_per_epoch == 0:
            return 0.0
        return self.iteration / self.started.iterations_per_epoch

    @property
    def best(self) -> Epoch | None:
        """The epoch with the best val accuracy (the first of equals)."""
        return max(self.epochs, key=lambda e: e.val_acc, default=None)

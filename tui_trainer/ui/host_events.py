"""What a trainer host sends the app beside the engine's events.

These travel the same stream as the engine's events (trainer_host.py sends
them, history.RunHistory folds them) but are for the workbench only: they are
never recorded in the run directory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..engine.events import Advice, Event, RunEnded, RunStarted

# Sent at once and drained at once; the rest (steps, ratios, epochs: an epoch can
# take 20 ms on a small preset) waits for the next flush and the next drain.
URGENT = (RunStarted, Advice, RunEnded)


@dataclass(frozen=True)
class LayerSnapshot:
    """Not an engine event (it is not recorded): W1 (D, units) after an epoch, for the first-layer view."""

    w1: np.ndarray
    image_shape: tuple[int, ...]
    epoch: int


@dataclass(frozen=True)
class StoreOpened:
    """Not an engine event (it is not written anywhere): tells the app the run directory's name."""

    name: str


# What a host's stream carries, and what takes it: a HostSink is also an engine Sink.
HostEvent = Event | LayerSnapshot | StoreOpened
HostSink = Callable[[HostEvent], None]

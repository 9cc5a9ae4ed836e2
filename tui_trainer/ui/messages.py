"""The workbench's messages: the one way anything reaches a screen or the app.

Data flows one way. Background threads (the data loader, the jobs' workers,
the trainer host) never touch a widget or the session: they post the first
kind below to the app. The app changes the session (session.Session) and
the jobs on its own thread, then posts the second kind to the screen that
shows them. A screen draws what it reads there and posts the third kind,
intents, to the app; it never changes the session or a job itself.

The trainer's own events are the one stream that does not travel as a
message each: see WorkbenchApp._drain for why, and messages.Drained for what
the drain tells the screen.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.message import Message

from ..config import Preset
from ..datasets import Dataset
from .history import RunHistory
from .host_events import HostEvent
from .jobs import AnyJob

# --- from background threads to the app --------------------------------------------------


class Wake(Message):
    """A run started or ended, or advice landed: drain now, not at the next tick."""


class RunDone(Message):
    """The host finished a run; `where` is the last frame of a failure's traceback, else ""."""

    def __init__(self, run: RunHistory, where: str) -> None:
        super().__init__()
        self.run, self.where = run, where


class DataLoaded(Message):
    """The data set of `preset` loaded (`data`), or could not (`error`, in words)."""

    def __init__(self, preset: Preset, data: Dataset | None, error: str = "") -> None:
        super().__init__()
        self.preset, self.data, self.error = preset, data, error


class JobEvent(Message):
    """A job's worker sent an event (a check's result, a trial's start or end, a sweep, a stage)."""

    def __init__(self, job: AnyJob, event: Any) -> None:
        super().__init__()
        self.job, self.event = job, event


class JobEnded(Message):
    """A job's `run` returned `ended` (its end event), or raised (`error`, in words)."""

    def __init__(self, job: AnyJob, ended: Any, error: str = "") -> None:
        super().__init__()
        self.job, self.ended, self.error = job, ended, error


# --- from the app to a screen ------------------------------------------------------------

# The parts of the workbench a SessionChanged names.
ALL = "all"  # everything the session shows: status, hyperparameters, notes, plots, table
STATUS = "status"  # the status bar
NEXT = "next"  # the next run's preset: the hyperparameters, the notes (and the status bar before any run)
NEW_RUN = "new run"  # a run starts, or a preset is opened: the panes that follow one run start empty
CHECKS = "checks"  # the checks pane and the notes
OPENED = "opened"  # another preset was opened: the panes scroll back to their start
NEW_CHECKS = "new checks"  # a round of checks started: the checks pane comes to the front


class SessionChanged(Message, bubble=False):
    """The app changed the session: the workbench redraws the parts named."""

    def __init__(self, *parts: str) -> None:
        super().__init__()
        self.parts = frozenset(parts)


class Drained(Message, bubble=False):
    """The event pump folded the trainer's events into the runs' histories: `touched`
    names what changed for `run` (history.py's names), `followed` are the current
    run's events that a pane keeps itself (ratios, advice, the first layer)."""

    def __init__(self, run: RunHistory | None, touched: set[str], followed: list[HostEvent]) -> None:
        super().__init__()
        self.run, self.touched, self.followed = run, touched, followed


class Flash(Message, bubble=False):
    """A key's effect, said for a few seconds in the status bar."""

    def __init__(self, text: str, warn: bool = False) -> None:
        super().__init__()
        self.text, self.warn = text, warn


class JobUpdated(Message, bubble=False):
    """The app folded in what a job sent (or stopped it): its view redraws from the job."""

    def __init__(self, job: AnyJob) -> None:
        super().__init__()
        self.job = job


# --- intents: from a screen to the app -----------------------------------------------------


class StartRun(Message):
    """space: start the next run (during a run: restart)."""


class StartGroup(Message):
    """n: run the next run over `seeds` train seeds as one seed group."""

    def __init__(self, seeds: int) -> None:
        super().__init__()
        self.seeds = seeds


class TogglePause(Message):
    """p: pause or resume the run."""


class StopRun(Message):
    """x: stop the run."""


class ChangeNext(Message):
    """Change the next run's preset: `change(next_preset)` gives the new one and what
    to say of it ("" for nothing); applied to the next preset as it is when the app
    gets this, so keys pressed quickly all count. It may raise knobs.AtLimit or
    PresetError, which the app shows."""

    def __init__(self, change: Callable[[Preset], tuple[Preset, str]]) -> None:
        super().__init__()
        self.change = change


class PresetChosen(Message):
    """o: the user opened another preset."""

    def __init__(self, preset: Preset) -> None:
        super().__init__()
        self.preset = preset


class WatchOpen(Message):
    """The watcher's list opened a run another process writes (`path`, its folder)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path


class UseConfig(Message):
    """The user picked a configuration for the next run (a past run's, a search trial's,
    lr-find's rate, tune's preset); `run` names where it came from, for the status bar."""

    def __init__(self, preset: Preset, run: str) -> None:
        super().__init__()
        self.preset, self.run = preset, run


class StartJob(Message):
    """Start a job of `kind` (jobs.JOBS) on `preset`, else on the next run's: c, s, f, g, and
    a finished search's `f` (its next, finer search)."""

    def __init__(self, kind: str, preset: Preset | None = None) -> None:
        super().__init__()
        self.kind, self.preset = kind, preset


class StopJob(Message):
    """Stop a job (x in its view, or its view closed): what it has done stays recorded."""

    def __init__(self, job: AnyJob, reason: str) -> None:
        super().__init__()
        self.job, self.reason = job, reason

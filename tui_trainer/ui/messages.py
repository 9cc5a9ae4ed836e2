"""The workbench's messages: what its jobs and its screens tell the app.

Background threads never touch a widget: the trainer host's wake-ups, the
data loader, the checks and the trainer's end post these, and the app applies
them on its own thread. The runs and search screens post `UseConfig` when the
user picks a configuration for the next run.
"""

from __future__ import annotations

from textual.message import Message

from ..config import Preset
from ..datasets import Dataset
from ..lab.checks import CheckResult
from .history import RunHistory


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


class CheckLanded(Message):
    """One sanity check ended; more may follow."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__()
        self.result = result


class ChecksDone(Message):
    """The round of checks ended; `error` says why it ended early ("" when it did not)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class UseConfig(Message):
    """The user picked a configuration for the next run (a past run's, a search trial's);
    `run` names where it came from, for the status bar."""

    def __init__(self, preset: Preset, run: str) -> None:
        super().__init__()
        self.preset, self.run = preset, run


class RefineSearch(Message):
    """The user asked for the next, finer search a finished search suggested
    (`preset`: its next.toml): the app starts it as it starts any search."""

    def __init__(self, preset: Preset) -> None:
        super().__init__()
        self.preset = preset

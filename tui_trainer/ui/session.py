"""The workbench's session: the state the app owns and every screen reads.

The app (app.WorkbenchApp) is its only writer. Its message handlers change
it on the app's thread, then tell the workbench screen which part changed
(messages.SessionChanged, messages.Drained); the screens read it to draw and
never write it: what the user asks for goes back to the app as an intent
(messages.py). Nothing here imports Textual.

`cannot_start` is the one rule for whether a job (the checks, a search,
lr-find, tune) can start now; the app asks it before every one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Preset
from ..datasets import Dataset
from .history import RunHistory
from .jobs import JOBS, AnyJob, ChecksState

if TYPE_CHECKING:
    from .watching import LiveRuns


@dataclass
class SeedGroup:
    """`n`: the next run over several train seeds, one run after another, as one seed group
    (lab.session.seed_group made the id and the presets, as for `run --seeds N`)."""

    id: str
    presets: list[Preset]  # one per seed, in the order they run
    started: int = 0  # runs started so far
    stopped: bool = False  # x: the run going is the group's last

    def next(self) -> tuple[Preset, tuple[int, int]]:
        """The next seed's preset and (its place, the group's size); counts it started."""
        self.started += 1
        return self.presets[self.started - 1], (self.started, len(self.presets))

    def goes_on(self, status: str) -> bool:
        """Whether another seed starts after a run of the group ended with `status`: not after
        x or a stop of any kind (as `run --seeds` stops at a signal), nor after the last seed."""
        return not self.stopped and status != "stopped" and self.started < len(self.presets)


@dataclass
class Session:
    base_preset: Preset  # the preset opened (`o`), or the one a picked configuration's data came from
    next_preset: Preset  # what space will run
    data_preset: Preset  # whose data set is loaded, or loading
    runs_dir: Path
    clock: Callable[[], float] = time.monotonic  # injectable: snapshot tests freeze it
    data: Dataset | None = None  # None while loading, or when it cannot load (data_error says why)
    data_error: str = ""
    runs: list[RunHistory] = field(default_factory=list)  # this session's runs, oldest first
    current: RunHistory | None = None  # the run the panes show
    restarting: bool = False  # space during a run: the next one starts when it has ended
    checks: ChecksState = field(default_factory=ChecksState)  # what the checks pane shows
    jobs: dict[str, AnyJob] = field(default_factory=dict)  # the last job of each kind (jobs.JOBS)
    group: SeedGroup | None = None  # the seed group going (n), if one is
    watching: bool = False  # `tui-trainer watch`: the runs shown are other processes', read-only
    # The runs view's followers of the runs other processes write, kept across the view's entries
    # (a cache of what was read, which the view polls; not state the screens decide).
    live_runs: LiveRuns | None = None

    @property
    def running(self) -> bool:
        return self.current is not None and self.current.t_end is None

    @property
    def n_train(self) -> int:
        """The training examples of the data loaded, else of what the next run asks for."""
        return self.data.X_train.shape[0] if self.data is not None else self.next_preset.data.num_train

    def ghosts(self) -> list[RunHistory]:
        """This session's earlier runs that have a loss curve."""
        return [r for r in self.runs if r is not self.current and r.steps_x.size]


# The jobs that train on every core (a pool of worker processes, or many sweeps):
# not beside a run, which has the cores.
NEEDS_THE_CORES = ("search", "lr-find", "tune")


def cannot_start(session: Session, kind: str) -> str:
    """Why a job of `kind` (a key of jobs.JOBS) cannot start now, in words; "" when it can.

    Every job needs the data loaded; those that need the cores wait for the run
    to end; and one job of a kind at a time (a search stopped with escape may
    still be ending its trials)."""
    if session.data is None:
        return session.data_error or "the data are still loading"
    if kind in NEEDS_THE_CORES and session.running:
        return f"a run is going and {JOBS[kind]} needs the cores: x stops the run"
    last = session.jobs.get(kind)
    if last is not None and last.active:
        return "the checks are running" if kind == "checks" else f"the last {kind} is still stopping"
    return ""

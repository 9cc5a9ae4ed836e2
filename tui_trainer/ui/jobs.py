"""The workbench's jobs: the sanity checks (`c`), a search (`s`), lr-find (`f`) and tune (`g`).

    job = make_job("search", preset, data, runs_dir)   # the app's thread: a runs directory that
                                                        # cannot be made fails here, as a UserError
    ended = job.run(emit)                               # a worker thread: every event to emit
    job.fold(event); job.finish(ended, error)           # the app's thread, from the worker's messages

A job is state, not Textual. The app (app.WorkbenchApp) owns each one and
runs `run` in a thread worker whose `emit` posts each event to the app as a
messages.JobEvent, then the end as messages.JobEnded; the app folds them in
on its own thread and tells the job's view (the checks pane, the search,
lr-find and tune screens) that it changed. So everything a view reads was
written on the app's thread, and no view ever touches the worker.

`done` is set on the worker thread once `run` has returned (its worker
processes shut down): quitting waits for it. `active` says the job is still
at its work (its end has not arrived): session.cannot_start reads that.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

from ..config import Preset, load_preset
from ..datasets import Dataset
from ..engine import RunControl
from ..engine.trainer import resolve_device
from ..formatting import accuracy, hyperparameter
from ..lab.checks import CHECKS, CheckResult, iter_checks
from ..lab.lr_find import LrFindEnded, LrSweep, find_lr
from ..lab.search.pool import TrialPool
from ..lab.search.runner import SearchControl, SearchEnded, TrialEnded, run_search
from ..lab.search.space import apply_params, best_trial
from ..lab.tune.control import TuneControl
from ..lab.tune.events import TuneEnded
from ..lab.tune.runner import run_tune
from ..records.search_store import SearchStore
from ..records.tune_folder import TuneRecord
from .trainer_host import start_resource_tracker

Emit = Callable[[Any], None]
E = TypeVar("E")  # a job's end event
R = TypeVar("R")


class Control(Protocol):
    """How a job is stopped from another thread (engine.RunControl, SearchControl, TuneControl)."""

    def stop(self, reason: str = ...) -> None: ...

    @property
    def stopped(self) -> bool: ...


class Job(Generic[E]):
    """What every job has: its preset, the events it sent, its end, and a stop."""

    kind: ClassVar[str]  # the key of JOBS
    END: ClassVar[tuple[type, ...]] = ()  # the event that says the work is over (the last it sends)
    control: Control

    def __init__(self, preset: Preset) -> None:
        self.preset = preset
        self.events: list[Any] = []  # every event it sent, oldest first
        self.ended: E | None = None  # its end event, once it has arrived
        self.error = ""  # what `run` raised, in words (errors.in_words)
        self.done = threading.Event()
        self.started_at = time.monotonic()  # which job is the last: the workbench's u takes its result

    def run(self, emit: Emit) -> E | None:
        """On the worker thread: do the job, every event to `emit`; returns the end event."""
        raise NotImplementedError

    def stop(self, reason: str) -> None:
        self.control.stop(reason)

    @property
    def stopped(self) -> bool:
        return self.control.stopped

    @property
    def running(self) -> bool:
        """`run` has not returned yet (a job that has ended may still be shutting its workers)."""
        return not self.done.is_set()

    @property
    def active(self) -> bool:
        """Still at its work: it has not sent its end."""
        return self.running and self.ended is None

    def fold(self, event: Any) -> None:
        """On the app's thread: one event the job sent."""
        self.events.append(event)
        if isinstance(event, self.END):
            self.ended = cast(E, event)

    def finish(self, ended: E | None, error: str) -> None:
        """On the app's thread: `run` returned `ended`, or raised (`error`, in words)."""
        if ended is not None:
            self.ended = ended
        self.error = error

    def close(self, timeout: float) -> None:
        """Stop, and wait up to `timeout` seconds for `run` to return."""
        self.stop("the workbench closed")
        self.done.wait(timeout)

    def offer(self) -> Offer | None:
        """What `u` makes the next run (its view's `u`, and the workbench's for the last
        job): the preset and how to say where it came from; None while there is none.
        A UserError when the result cannot be read back (a tuned.toml edited since)."""
        return None

    def no_offer(self) -> str:
        """Why there is nothing to use yet, in words."""
        return f"{JOBS[self.kind]} has no result yet"


@dataclass(frozen=True)
class Offer:
    preset: Preset
    said: str  # "search trial s1-003 (val acc 0.912)"


# --- the sanity checks -------------------------------------------------------------


@dataclass
class ChecksState:
    """What the checks pane shows: a round of the four checks on the preset named."""

    preset_name: str = ""
    results: list[CheckResult] = field(default_factory=list)
    running: bool = False
    error: str = ""  # why the round ended early ("" when it did not)
    preset: Preset | None = None  # the setup checked: results go stale when the next run's differs

    def stale(self, next_preset: Preset) -> bool:
        """Whether these results are about another setup than the next run's."""
        return bool(self.results) and self.preset is not None and self.preset != next_preset

    @property
    def passed(self) -> bool | None:
        """Whether all four passed; None until all four have landed."""
        if self.running or len(self.results) < len(CHECKS):
            return None
        return all(r.passed for r in self.results)


class ChecksJob(Job[None]):
    """The four sanity checks of `tui-trainer check` on the next run's setup; each result
    is an event, folded into `state` (what the pane shows)."""

    kind = "checks"
    control: RunControl

    def __init__(self, preset: Preset, data: Dataset) -> None:
        super().__init__(preset)
        self.data = data
        self.control = RunControl()
        self.state = ChecksState(preset.name, running=True, preset=preset)

    def run(self, emit: Emit) -> None:
        for result in iter_checks(self.preset, self.data, control=self.control):
            emit(result)
            if self.control.stopped:
                break

    def fold(self, event: Any) -> None:
        super().fold(event)
        self.state.results.append(event)

    def finish(self, ended: None, error: str) -> None:
        super().finish(ended, error)
        self.state.running, self.state.error = False, error


# --- the jobs that run on a pool of worker processes -----------------------------------


class PoolJob(Job[E]):
    """A job whose trials run on a local pool of worker processes (one BLAS thread each)."""

    pool: TrialPool

    def _open(self, preset: Preset, workers: int | None, make_record: Callable[[], R]) -> R:
        """The pool, then the job's record folder (made here, on the app's thread: a runs
        directory that cannot be made fails with a UserError, and the pool is shut). The
        pool is sized for the device the trials train on, as the commands size theirs: a
        GPU preset gets GPU_WORKERS workers, not one a core (a UserError naming
        train.device when that device is missing)."""
        start_resource_tracker()
        device = resolve_device(preset).name
        self.pool = TrialPool.open(scheduler=None, workers=workers, device=device)
        try:
            return make_record()
        except BaseException:
            self.pool.close(graceful=False)
            raise

    def _shut(self, ended: Any) -> None:
        """At the end of `run`: wait for the workers after a finished job, else end them."""
        self.pool.close(graceful=ended is not None and ended.status == "finished")

    def close(self, timeout: float) -> None:
        """Stop, wait up to timeout, then end the worker processes regardless."""
        super().close(timeout)
        if self.running:
            self.pool.close(graceful=False)


class SearchJob(PoolJob[SearchEnded]):
    """A search, recorded in a search folder (records.search_store), as `tui-trainer search` runs it."""

    kind = "search"
    END = (SearchEnded,)
    control: SearchControl

    def __init__(self, preset: Preset, runs_dir: str | Path, workers: int | None = None) -> None:
        super().__init__(preset)
        self.store = self._open(preset, workers, lambda: SearchStore.create(runs_dir, preset))
        self.where = self.pool.where
        self.control = SearchControl.for_pool(self.pool, self.store)

    @property
    def path(self) -> Path:
        return self.store.path

    def offer(self) -> Offer | None:
        """The best trial so far (or the search's best once it has ended), its values on the preset."""
        best = (
            self.ended.best
            if self.ended is not None
            else best_trial(e for e in self.events if isinstance(e, TrialEnded))
        )
        if best is None:
            return None
        said = f"search trial {best.trial_id} (val acc {accuracy(best.best_val_acc)})"
        return Offer(apply_params(self.preset, best.params), said)

    def no_offer(self) -> str:
        return "no trial of the search has a val accuracy yet"

    def run(self, emit: Emit) -> SearchEnded | None:
        ended = None
        try:
            ended = run_search(self.preset, self.pool, self.store, emit, self.control)
            return ended
        finally:
            try:
                self.control.close()
                self.store.close()
            finally:
                self._shut(ended)


class TuneJob(PoolJob[TuneEnded]):
    """A tune (lab.tune.runner.run_tune), recorded in its tune folder, resumable with
    `tui-trainer tune PRESET --resume` when stopped."""

    kind = "tune"
    END = (TuneEnded,)
    control: TuneControl

    def __init__(self, preset: Preset, data: Dataset, runs_dir: str | Path, workers: int | None = None) -> None:
        super().__init__(preset)
        self.data = data
        self.record = self._open(preset, workers, lambda: TuneRecord.create(runs_dir, preset))
        self.control = TuneControl()
        self.stage = ""  # the stage running (or last run)

    def offer(self) -> Offer | None:
        e = self.ended
        if e is None or e.tuned_preset is None:
            return None
        return Offer(load_preset(e.tuned_preset), f"tune (val acc {accuracy(e.best_val_acc)})")

    def no_offer(self) -> str:
        return "tune has not finished" if self.ended is None else "tune ended without a tuned preset"

    def run(self, emit: Emit) -> TuneEnded | None:
        ended = None
        try:
            ended = run_tune(self.preset, self.data, self.record, emit, self.control, self.pool)
            return ended
        finally:
            self._shut(ended)

    def fold(self, event: Any) -> None:
        super().fold(event)
        stage = getattr(event, "stage", None)
        if isinstance(stage, str):
            self.stage = stage


# --- lr-find -------------------------------------------------------------------------


class LrFindJob(Job[LrFindEnded]):
    """lab.lr_find.find_lr on the next run's setup, recorded as `tui-trainer lr-find` records it.
    Its sweeps train a net of their own: the next run is not touched."""

    kind = "lr-find"
    END = (LrFindEnded,)
    control: RunControl

    def __init__(self, preset: Preset, data: Dataset, runs_dir: str | Path) -> None:
        super().__init__(preset)
        self.data, self.runs_dir = data, runs_dir
        self.control = RunControl()

    @property
    def sweeps(self) -> list[LrSweep]:
        return [e for e in self.events if isinstance(e, LrSweep)]

    def offer(self) -> Offer | None:
        """The suggested rate, to 3 digits, as the next run's learning rate (nothing else changes)."""
        e = self.ended
        if e is None or e.suggested_lr is None:
            return None
        lr = float(f"{e.suggested_lr:.3g}")
        return Offer(
            self.preset.replace(**{"train.learning_rate": lr}), f"lr-find (learning rate {hyperparameter(lr)})"
        )

    def no_offer(self) -> str:
        return "the sweeps are still going" if self.ended is None else "lr-find found no rate"

    def run(self, emit: Emit) -> LrFindEnded:
        return find_lr(self.preset, self.data, emit, runs_dir=str(self.runs_dir), control=self.control)


# What each job is called in a sentence ("cannot start the search").
JOBS = {"checks": "the checks", "search": "the search", "lr-find": "lr-find", "tune": "tune"}
AnyJob = ChecksJob | SearchJob | TuneJob | LrFindJob


def make_job(kind: str, preset: Preset, data: Dataset, runs_dir: str | Path) -> AnyJob:
    """A job of `kind` (a key of JOBS) on `preset`; UserError when its folder or pool cannot be made."""
    if kind == "checks":
        return ChecksJob(preset, data)
    if kind == "search":
        return SearchJob(preset, runs_dir)  # its trials load the data set in their own processes
    if kind == "lr-find":
        return LrFindJob(preset, data, runs_dir)
    if kind == "tune":
        return TuneJob(preset, data, runs_dir)
    raise ValueError(f"no job {kind!r}: expected one of {', '.join(JOBS)}")

"""Coarse-to-fine search over a TrialPool (no UI here): the stages' loop and its events.

    store = SearchStore.create("runs", preset)          # or SearchStore.latest(...) to resume
    with TrialPool.local(workers=2) as pool:             # or TrialPool.dask("tcp://host:8786")
        control = SearchControl.for_pool(pool, store)
        ended = run_search(preset, pool, store, sink, control)

`run_search` runs the preset's [search] stages: each stage samples its trials
(space.py), runs them on the pool with as many in flight as it has workers,
records each one in the store as it ends, and narrows the ranges for the next
stage to the best `keep` trials. A finished search ends with the ranges it
suggests for a next, finer search, and leaves its preset in the search folder
(refine.py). It reports through `sink(event)` with the frozen dataclasses
below (`engine.events.to_dict` gives their JSON form, a trial's values spelled
out among its fields) and returns the `SearchEnded` it sent last. Any thread
may call `control.stop()`: queued trials are cancelled, running ones stop
within one iteration, and the search ends with status "stopped". It may run
in a thread of its own (the workbench); it never touches a UI.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import ClassVar

from ...config import Preset, Stage
from ...errors import UserError
from ...formatting import plural
from ...records.search_store import SearchStore
from ...records.typed_json import BadField
from .leaders import Leader, reseed_leaders
from .pool import FileFlag, MemoryFlag, StopFlag, TrialPool
from .refine import next_preset, next_ranges_dict, save_next
from .space import (
    EdgeWarning,
    Ranges,
    Trial,
    TrialResult,
    best_trial,
    edge_warnings,
    narrow,
    ranges_of,
    rank,
    stage_trials,
    suggest_next,
    union,
)
from .trial import STOP_REASON, TrialSpec, run_trial

# After a stop, how long to wait for running trials to notice it before giving up on them.
STOP_GRACE_S = 30.0
POLL_S = 0.05
RANKING_SIZE = 10


# --- events ------------------------------------------------------------------


@dataclass(frozen=True)
class SearchStarted:
    kind: ClassVar[str] = "search_started"
    search_id: str  # the search folder's name
    path: str  # the search folder
    preset: str
    seed: int
    stages: tuple[Stage, ...]  # {trials, epochs} each
    keep: int
    ranges: Ranges  # the first stage's ranges
    where: str  # "2 local worker processes", "Dask scheduler tcp://..."
    capacity: int  # trials run at once
    resumed: bool
    trials_done: int  # trials already recorded (resume)


@dataclass(frozen=True)
class StageStarted:
    kind: ClassVar[str] = "stage_started"
    stage: int  # 1-based
    stages: int
    trials: int
    epochs: int
    ranges: Ranges
    to_run: int  # trials not yet recorded


@dataclass(frozen=True)
class TrialStarted(Trial):
    """A trial handed to a worker: its id, stage, index and sampled values (in JSON
    one key each, null where not searched), and the stage's epochs."""

    kind: ClassVar[str] = "trial_started"

    @classmethod
    def of(cls, t: Trial) -> TrialStarted:
        return cls(**_fields(t))


@dataclass(frozen=True)
class TrialEnded(TrialResult):
    """A trial's result (status finished | exploded | failed | stopped, best_val_acc,
    epochs run, elapsed_s, ...); resumed: recorded by an earlier run of this search."""

    kind: ClassVar[str] = "trial_ended"
    resumed: bool = False

    # Not `of`: TrialResult.of makes a result from a Trial and its outcome; this wraps a result.
    @classmethod
    def from_result(cls, r: TrialResult, resumed: bool = False) -> TrialEnded:
        return cls(**_fields(r), resumed=resumed)


def _fields(obj) -> dict:
    """A dataclass's fields by name, not copied (dataclasses.asdict would copy `params`)."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


@dataclass(frozen=True)
class StageEnded:
    kind: ClassVar[str] = "stage_ended"
    stage: int
    trials: int  # trials recorded in this stage
    best: TrialResult | None  # space.best_trial of the stage's trials
    kept: tuple[str, ...]  # the trial ids that set the next ranges, best first
    next_ranges: Ranges | None  # None after the last stage


@dataclass(frozen=True)
class SearchEnded:
    kind: ClassVar[str] = "search_ended"
    status: str  # finished | stopped | failed
    reason: str
    best: TrialResult | None  # space.best_trial of every trial recorded
    ranking: tuple[TrialResult, ...]  # the best RANKING_SIZE trials, best first
    warnings: tuple[EdgeWarning, ...]
    trials: int  # trials recorded
    elapsed_s: float
    path: str
    # The ranges suggested for a next, finer search, the keys searched only
    # ({"learning_rate": [lo, hi], "reg": [lo, hi]}, "hidden": [choices] where searched),
    # saved as refine.NEXT_PRESET in the search folder; None when the search did not
    # finish or no trial finished.
    next_ranges: dict | None = None
    # With [search] leader_seeds: its best trials over that many train seeds, the best mean
    # first (and `best` is that one); () otherwise.
    leaders: tuple[Leader, ...] = ()


SearchEvent = SearchStarted | StageStarted | TrialStarted | TrialEnded | StageEnded | SearchEnded
SearchSink = Callable[[SearchEvent], None]


# --- stopping ----------------------------------------------------------------


class SearchControl:
    """Stop a search from any thread (a signal handler, a UI key).

    `stop()` only marks the search; the thread running it then sets `flag`,
    the stop flag the trials watch wherever they run (see trial.py)."""

    def __init__(self, flag: StopFlag | None = None):
        self.flag: StopFlag = flag if flag is not None else MemoryFlag()
        self._stopped = threading.Event()
        self.reason = ""

    @classmethod
    def for_pool(cls, pool: TrialPool, store: SearchStore) -> SearchControl:
        return cls(pool.stop_flag(store.path, store.search_id))

    def stop(self, reason: str = "stopped by request") -> None:
        if not self._stopped.is_set():
            self.reason = reason
            self._stopped.set()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def close(self) -> None:
        """Remove the flag file. (A Dask flag stays set: trials the search gave up
        waiting for may still have to see it.)"""
        if isinstance(self.flag, FileFlag):
            self.flag.clear()


# --- the search --------------------------------------------------------------


def run_search(
    preset: Preset,
    pool: TrialPool,
    store: SearchStore,
    sink: SearchSink,
    control: SearchControl | None = None,
    *,
    trial_fn: Callable[[TrialSpec], TrialResult] = run_trial,
) -> SearchEnded:
    """Run (or resume: trials already in the store are not run again) the preset's
    search; every event goes to sink, the last one is returned.

    trial_fn runs one trial on the pool; it must be importable by the
    workers (the default, run_trial, trains with the engine)."""
    t0 = time.perf_counter()
    control = control or SearchControl.for_pool(pool, store)
    search = preset.search
    done = {r.trial_id: r for r in recorded_results(store)}
    store.set_meta("status", "running")  # a resume killed reads as one (records.search_store.read_end)
    ranges = ranges_of(search)
    sink(
        SearchStarted(
            search_id=store.search_id,
            path=str(store.path),
            preset=preset.name,
            seed=search.seed,
            stages=tuple(search.stages),
            keep=search.keep,
            ranges=ranges,
            where=pool.where,
            capacity=pool.capacity,
            resumed=bool(done),
            trials_done=len(done),
        )
    )
    run = _StageRunner(preset, pool, store, sink, control, trial_fn)
    explored: list[Ranges] = []
    results: list[TrialResult] = []
    status, reason = "finished", f"{plural(len(search.stages), 'stage')} done"
    for number, stage in enumerate(search.stages, 1):
        explored.append(ranges)
        store.save_stage(number, ranges)
        trials = stage_trials(search.seed, number, stage.trials, stage.epochs, ranges)
        recorded = {t.trial_id: _check_recorded(t, done[t.trial_id], store) for t in trials if t.trial_id in done}
        sink(
            StageStarted(
                number, len(search.stages), stage.trials, stage.epochs, ranges, to_run=stage.trials - len(recorded)
            )
        )
        for r in recorded.values():
            sink(TrialEnded.from_result(r, resumed=True))
        recorded.update(run.stage([t for t in trials if t.trial_id not in recorded]))
        stage_results = [recorded[t.trial_id] for t in trials if t.trial_id in recorded]
        results += stage_results
        if run.status != "finished":
            status, reason = run.status, run.reason
            break
        kept = rank(stage_results)[: search.keep]
        last = number == len(search.stages)
        next_ranges = None if last else narrow(ranges, kept)
        sink(
            StageEnded(
                number, len(stage_results), best_trial(stage_results), tuple(r.trial_id for r in kept), next_ranges
            )
        )
        if next_ranges is not None:
            ranges = next_ranges
    ranking = rank(results)
    best = best_trial(results)
    leaders: list[Leader] = []
    if status == "finished" and search.leader_seeds > 1 and not control.stopped:
        leaders = reseed_leaders(preset, ranking, pool, control.flag, search.leader_seeds, trial_fn)
        if leaders and not control.stopped:
            best = leaders[0].result  # chosen by its mean over seeds
    elapsed = time.perf_counter() - t0
    store.set_meta("elapsed_s", f"{elapsed:.3f}")  # before the status: a watcher reads the end by it
    store.set_meta("status", status)
    suggested = suggest_next(results, union(explored), search.keep) if status == "finished" else None
    if suggested is not None:
        save_next(store.path, next_preset(preset, suggested, best, store.search_id))
    ended = SearchEnded(
        status=status,
        reason=reason,
        best=best,
        ranking=tuple(ranking[:RANKING_SIZE]),
        warnings=tuple(edge_warnings(results, union(explored))),
        trials=len(results),
        elapsed_s=elapsed,
        path=str(store.path),
        next_ranges=None if suggested is None else next_ranges_dict(suggested),
        leaders=tuple(leaders),
    )
    sink(ended)
    return ended


def recorded_results(store: SearchStore) -> list[TrialResult]:
    """The trials the store holds, by stage then index; a row that is not what a search
    records (edited by hand: text in a number column, a column dropped) is a UserError
    naming the store, the row and the column."""
    results = []
    for number, row in enumerate(store.results(), 1):
        try:
            results.append(TrialResult.read(row, ""))
        except BadField as e:
            trial = f" ({row['trial_id']})" if isinstance(row.get("trial_id"), str) else ""
            raise UserError(
                f"{store.db_path}: trials row {number}{trial}, column {e.field}: {e.what}; "
                "mend the row, or start a new search without --resume"
            ) from None
    return results


def _check_recorded(trial: Trial, result: TrialResult, store: SearchStore) -> TrialResult:
    """A resumed trial must be the one this preset and seed sample; else the search changed."""
    if result.params != trial.params:
        raise UserError(
            f"{store.path}: trial {trial.trial_id} was recorded with {_values(result.params)}, but the search's "
            f"preset now samples {_values(trial.params)}; the preset or its search.seed changed since, "
            "so start a new search"
        )
    return result


def _values(params: dict) -> str:
    return ", ".join(f"{name} {value:.6g}" for name, value in params.items()) or "no searched values"


class _StageRunner:
    """Runs one stage's trials, at most `capacity` in flight, recording each as it ends."""

    def __init__(
        self,
        preset: Preset,
        pool: TrialPool,
        store: SearchStore,
        sink: SearchSink,
        control: SearchControl,
        trial_fn: Callable[[TrialSpec], TrialResult],
    ):
        self.preset, self.pool, self.store, self.sink = preset, pool, store, sink
        self.control, self.capacity, self.trial_fn = control, pool.capacity, trial_fn
        self.status, self.reason = "finished", ""
        self._stopping_since: float | None = None

    def stage(self, trials: list[Trial]) -> dict[str, TrialResult]:
        pending = deque(trials)
        running: dict[Future, Trial] = {}
        ended: dict[str, TrialResult] = {}
        while pending or running:
            if self.control.stopped and self._stopping_since is None:
                self._stop("stopped", self.control.reason or STOP_REASON)
            if self._stopping_since is not None:
                pending.clear()
                for fut in running:
                    fut.cancel()
            while pending and len(running) < self.capacity:
                trial = pending.popleft()
                try:
                    fut = self.pool.submit(self.trial_fn, TrialSpec(self.preset, trial, self.control.flag))
                except Exception as e:  # a broken pool, a closed client
                    self._stop("failed", f"cannot start trial {trial.trial_id}: {_describe(e)}")
                    pending.clear()
                    break
                running[fut] = trial
                self.sink(TrialStarted.of(trial))
            if not running:
                break
            finished, _ = wait(running, timeout=POLL_S, return_when=FIRST_COMPLETED)
            for fut in finished:
                trial = running.pop(fut)
                result = self._outcome(fut, trial)
                if result.status != "stopped":
                    self.store.record(result.json_fields())
                    ended[trial.trial_id] = result
                self.sink(TrialEnded.from_result(result))
            if self._stopping_since is not None and time.perf_counter() - self._stopping_since > STOP_GRACE_S:
                for trial in running.values():  # they did not stop in time: give up on them
                    self.sink(
                        TrialEnded.from_result(
                            _stopped(trial, f"did not stop within {STOP_GRACE_S:.0f}s of the stop; abandoned")
                        )
                    )
                break
        return ended

    def _outcome(self, fut: Future, trial: Trial) -> TrialResult:
        if fut.cancelled():
            if self._stopping_since is None:  # not by this search: the executor gave up on it
                self._stop(
                    "failed",
                    f"trial {trial.trial_id} could not run: the executor cancelled it "
                    "(its scheduler or its workers went away)",
                )
            return _stopped(trial, self.reason or STOP_REASON)
        try:
            return fut.result()
        except Exception as e:  # the worker died or could not run the trial: not the trial's fault
            self._stop("failed", f"trial {trial.trial_id} could not run: {_describe(e)}")
            return _stopped(trial, self.reason)

    def _stop(self, status: str, reason: str) -> None:
        if self._stopping_since is not None:
            return
        self.status, self.reason = status, reason
        self._stopping_since = time.perf_counter()
        try:
            self.control.flag.set()
        except Exception:  # an unreachable cluster: its trials are abandoned after the grace
            pass


def _stopped(trial: Trial, reason: str) -> TrialResult:
    return TrialResult.of(
        trial,
        status="stopped",
        reason=reason,
        best_val_acc=None,
        best_epoch=None,
        epochs=0,
        iterations=0,
        elapsed_s=0.0,
    )


def _describe(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}"
    if isinstance(e, ModuleNotFoundError) and "tui_trainer" in str(e):
        text += " (every Dask worker needs tui-trainer installed)"
    return text

"""Coarse-to-fine search over a concurrent.futures Executor (no UI here).

    store = SearchStore.create("runs", preset)          # or SearchStore.latest(...) to resume
    with local_pool(workers=2) as pool:                  # or connect_dask("tcp://host:8786")
        control = SearchControl.for_executor(pool, store)
        ended = run_search(preset, pool, store, sink, control)

`run_search` runs the preset's [search] stages: each stage samples its trials
(space.py), runs them on the executor with as many in flight as it has
workers, records each one in the store as it ends, and narrows the ranges for
the next stage to the best `keep` trials. A finished search ends with the
ranges it suggests for a next, finer search (space.suggest_next), in its
`search_ended` event as `next_ranges` and as a ready preset, `next.toml` in the
search folder (`next_preset`), which `tui-trainer search --refine FOLDER` and
the search view's `f` run. It reports through `sink(event)` with
the frozen dataclasses below (`engine.events.to_dict` gives their JSON form)
and returns the `SearchEnded` it sent last. Any thread may call
`control.stop()`: queued trials are cancelled, running ones stop within one
iteration, and the search ends with status "stopped". It may run in a thread
of its own (the workbench); it never touches a UI.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing.context import SpawnContext, SpawnProcess
from pathlib import Path
from typing import ClassVar

from ...config import Preset, Stage, to_toml
from ...errors import UserError
from ...records.atomic import atomic_write_text
from ...records.search_store import SearchStore
from ...threads import cores, one_thread_env
from .space import (
    EdgeWarning,
    Ranges,
    Trial,
    TrialResult,
    best_trial,
    edge_warnings,
    narrow,
    rank,
    stage_trials,
    suggest_next,
    union,
)
from .trial import STOP_REASON, DaskFlag, FileFlag, MemoryFlag, TrialSpec, run_trial

# After a stop, how long to wait for running trials to notice it before giving up on them.
STOP_GRACE_S = 30.0
POLL_S = 0.05
ORPHAN_CHECK_S = 1.0
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
    """A trial handed to a worker: its id, stage, index and sampled values
    (hidden / batch_size None when not searched), and the stage's epochs."""

    kind: ClassVar[str] = "trial_started"

    @classmethod
    def of(cls, t: Trial) -> TrialStarted:
        return cls(**dataclasses.asdict(t))


@dataclass(frozen=True)
class TrialEnded(TrialResult):
    """A trial's result (status finished | exploded | failed | stopped, best_val_acc,
    epochs run, elapsed_s, ...); resumed: recorded by an earlier run of this search."""

    kind: ClassVar[str] = "trial_ended"
    resumed: bool = False

    # Not `of`: TrialResult.of makes a result from a Trial and its outcome; this wraps a result.
    @classmethod
    def from_result(cls, r: TrialResult, resumed: bool = False) -> TrialEnded:
        return cls(**dataclasses.asdict(r), resumed=resumed)


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
    # The ranges suggested for a next, finer search ({"learning_rate": [lo, hi], "reg": [lo, hi]},
    # plus "hidden" / "batch_size" choices where searched), saved as NEXT_PRESET in the
    # search folder; None when the search did not finish or no trial finished.
    next_ranges: dict | None = None


# The ready preset of the suggested next search, in the search folder.
NEXT_PRESET = "next.toml"
# The next search: one stage of half as many trials as the last stage (at least
# NEXT_MIN_TRIALS), each trained NEXT_EPOCHS_FACTOR times as long.
NEXT_MIN_TRIALS = 4
NEXT_EPOCHS_FACTOR = 5
REFINED = "-refined"


def next_ranges_dict(r: Ranges) -> dict:
    """The JSON form of suggested ranges: the log ranges, and the choices only where searched."""
    out: dict = {"learning_rate": list(r.learning_rate), "reg": list(r.reg)}
    if r.hidden:
        out["hidden"] = list(r.hidden)
    if r.batch_size:
        out["batch_size"] = list(r.batch_size)
    return out


def refine_path(folder: str | Path) -> Path:
    """The next.toml a finished search left in its folder (what --refine runs); a
    UserError naming the folder when there is none."""
    path = Path(folder)
    if not path.is_dir():
        raise UserError(f"--refine {folder}: no such search folder (give a runs/search-PRESET-... folder)")
    if not (path / NEXT_PRESET).is_file():
        raise UserError(
            f"--refine {folder}: no {NEXT_PRESET} in it; a search writes one when it finishes with a trial "
            "that finished (run or --resume it to the end first)"
        )
    return path / NEXT_PRESET


def next_preset(preset: Preset, ranges: Ranges, best: TrialResult | None, search_id: str) -> Preset:
    """The preset of the next, finer search: `ranges` to sample, one stage of half as
    many trials as the last (at least NEXT_MIN_TRIALS) trained NEXT_EPOCHS_FACTOR x as
    long, and the best trial's learning rate and reg as its [train] values (so
    `tui-trainer run next.toml` trains the best so far)."""
    last = preset.search.stages[-1]
    stage = {"trials": max(NEXT_MIN_TRIALS, last.trials // 2), "epochs": last.epochs * NEXT_EPOCHS_FACTOR}
    base = preset.name[: -len(REFINED)] if preset.name.endswith(REFINED) else preset.name
    acc = "" if best is None or best.best_val_acc is None else f" (val acc {best.best_val_acc:.3f})"
    changes: dict = {
        "search.learning_rate": list(ranges.learning_rate),
        "search.reg": list(ranges.reg),
        "search.hidden": list(ranges.hidden),
        "search.batch_size": list(ranges.batch_size),
        "search.stages": [stage],
    }
    if best is not None:
        changes |= {"train.learning_rate": float(f"{best.learning_rate:.3g}"), "train.reg": float(f"{best.reg:.3g}")}
    out = preset.replace(**changes)
    description = (
        f"Refines search {search_id}: around its best trials, best {best.trial_id if best else '-'}"
        f"{acc}; {stage['trials']} trials x {stage['epochs']} epochs"
    )
    return dataclasses.replace(out, name=base + REFINED, description=description)


SearchEvent = SearchStarted | StageStarted | TrialStarted | TrialEnded | StageEnded | SearchEnded
SearchSink = Callable[[SearchEvent], None]


# --- stopping ----------------------------------------------------------------


def stop_flag(executor: Executor, folder: Path, name: str):
    """The stop flag trials on `executor` watch: a file in `folder` for local processes,
    a Dask event (named after `name`) for a cluster, an in-memory flag for threads."""
    session = uuid.uuid4().hex[:8]
    client = getattr(executor, "_client", None)
    if client is not None:
        return DaskFlag(f"tui-trainer-stop-{name}-{session}", client=client)
    if isinstance(executor, ThreadPoolExecutor):
        return MemoryFlag()
    return FileFlag(Path(folder) / f".stop-{session}")


class SearchControl:
    """Stop a search from any thread (a signal handler, a UI key).

    `stop()` only marks the search; the thread running it then sets `flag`,
    the stop flag the trials watch wherever they run (see trial.py)."""

    def __init__(self, flag=None):
        self.flag = flag if flag is not None else MemoryFlag()
        self._stopped = threading.Event()
        self.reason = ""

    @classmethod
    def for_executor(cls, executor: Executor, store: SearchStore) -> SearchControl:
        return cls(stop_flag(executor, store.path, store.search_id))

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


# --- executors ---------------------------------------------------------------


class _OneBlasThreadProcess(SpawnProcess):
    """A spawned process whose environment says one BLAS thread (threads.py's
    worker policy) from its first instruction, before anything (the parent's
    main module included) imports NumPy. The variables are set only while the
    child is created."""

    @staticmethod
    def _Popen(process_obj):
        env = one_thread_env()
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            return SpawnProcess._Popen(process_obj)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class _OneBlasThreadContext(SpawnContext):
    Process = _OneBlasThreadProcess


def _init_worker(workers: int = 1) -> None:
    # Ctrl+C reaches the whole foreground process group; the search stops its
    # trials through their stop flag, so the workers themselves ignore it.
    import signal

    from ...engine.backend import share_device

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Trials on a GPU: the pool's workers share one device, each with its
    # share of its memory (engine/backend.py; nothing is imported for it on the CPU).
    share_device(workers)
    # A pool's workers outlive a search killed with SIGKILL (they wait on a queue
    # nobody will write to again); a worker whose parent is gone ends itself.
    parent = os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="parent-watch").start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_S)
    os._exit(1)


def default_workers() -> int:
    """One worker per core this process may use (each runs one BLAS thread)."""
    return cores()


def local_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """Worker processes (spawn), one BLAS thread each, ignoring SIGINT; on a GPU,
    each caps its memory pool at its share of the device."""
    workers = workers or default_workers()
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=_OneBlasThreadContext(), initializer=_init_worker, initargs=(workers,)
    )


def connect_dask(address: str, timeout: float = 10.0):
    """(client, executor) for a Dask scheduler; UserError when Dask is missing or the
    scheduler cannot be reached."""
    try:
        import distributed
    except ImportError:
        raise UserError(
            f"--scheduler {address}: sending trials to a Dask cluster needs Dask's distributed package, "
            "which is not installed; install it with: pip install 'tui-trainer[cluster]' "
            "(tui-trainer must be installed on every Dask worker too)"
        ) from None
    from distributed.comm.addressing import get_address_host_port, parse_address
    from distributed.comm.registry import backends

    try:  # a malformed address fails inside Client() and then hangs its cleanup: check it first
        scheme = parse_address(address)[0]
        if scheme not in backends:
            raise ValueError(f"{scheme}:// is not a Dask protocol; one of {', '.join(sorted(backends))}")
        if scheme in ("tcp", "tls"):
            get_address_host_port(address)
    except (ValueError, TypeError) as e:
        raise UserError(
            f"--scheduler {address}: not a scheduler address ({e}); "
            "give it as tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786"
        ) from None
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
        # A scheduler lost mid-search is reported as the search's one line (exit 1),
        # not as Dask's log lines on stderr.
        for handler in logging.getLogger("distributed").handlers:
            handler.setLevel(logging.CRITICAL + 1)
    except Exception as e:  # OSError, TimeoutError, ValueError for a malformed address
        raise UserError(
            f"--scheduler {address}: cannot reach a Dask scheduler there ({type(e).__name__}: {e}); "
            "start one with `dask scheduler` and workers with `dask worker ADDRESS`, "
            "and give its address as tcp://HOST:PORT"
        ) from None
    return client, client.get_executor(pure=False)


def executor_capacity(executor: Executor) -> int:
    """How many trials the executor runs at once (its workers, or the cluster's threads)."""
    client = getattr(executor, "_client", None)
    if client is not None:
        return max(1, sum(client.nthreads().values()))
    return max(1, int(getattr(executor, "_max_workers", 1)))


def close_executor(executor: Executor, graceful: bool = True) -> None:
    """Shut a local pool down; when trials would not stop, end its processes."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    if isinstance(executor, (ProcessPoolExecutor, ThreadPoolExecutor)):
        executor.shutdown(wait=graceful, cancel_futures=True)
    else:  # Dask's ClientExecutor: wait=False cancels what is left
        executor.shutdown(wait=graceful)
    if not graceful:
        for p in processes:
            if p.is_alive():
                p.terminate()


# --- the search --------------------------------------------------------------


def run_search(
    preset: Preset,
    executor: Executor,
    store: SearchStore,
    sink: SearchSink,
    control: SearchControl | None = None,
    *,
    capacity: int | None = None,
    where: str = "",
    trial_fn: Callable[[TrialSpec], TrialResult] = run_trial,
) -> SearchEnded:
    """Run (or resume: trials already in the store are not run again) the preset's
    search; every event goes to sink, the last one is returned.

    trial_fn runs one trial on the executor; it must be importable by the
    workers (the default, run_trial, trains with the engine)."""
    t0 = time.perf_counter()
    control = control or SearchControl.for_executor(executor, store)
    capacity = capacity or executor_capacity(executor)
    search = preset.search
    done = {r.trial_id: r for r in store.results()}
    ranges = Ranges.from_config(search)
    sink(
        SearchStarted(
            search_id=store.search_id,
            path=str(store.path),
            preset=preset.name,
            seed=search.seed,
            stages=tuple(search.stages),
            keep=search.keep,
            ranges=ranges,
            where=where or f"{capacity} workers",
            capacity=capacity,
            resumed=bool(done),
            trials_done=len(done),
        )
    )
    run = _StageRunner(preset, executor, store, sink, control, capacity, trial_fn)
    explored: list[Ranges] = []
    results: list[TrialResult] = []
    status, reason = "finished", f"{len(search.stages)} stages done"
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
    store.set_meta("status", status)
    suggested = suggest_next(results, union(explored), search.keep) if status == "finished" else None
    if suggested is not None:
        text = to_toml(next_preset(preset, suggested, best, store.search_id))
        atomic_write_text(
            store.path / NEXT_PRESET, f"# the next, finer search: tui-trainer search --refine {store.path}\n{text}"
        )
    ended = SearchEnded(
        status=status,
        reason=reason,
        best=best,
        ranking=tuple(ranking[:RANKING_SIZE]),
        warnings=tuple(edge_warnings(results, union(explored))),
        trials=len(results),
        elapsed_s=time.perf_counter() - t0,
        path=str(store.path),
        next_ranges=None if suggested is None else next_ranges_dict(suggested),
    )
    sink(ended)
    return ended


def _check_recorded(trial: Trial, result: TrialResult, store: SearchStore) -> TrialResult:
    """A resumed trial must be the one this preset and seed sample; else the search changed."""
    same = (result.learning_rate, result.reg, result.hidden, result.batch_size) == (
        trial.learning_rate,
        trial.reg,
        trial.hidden,
        trial.batch_size,
    )
    if not same:
        raise UserError(
            f"{store.path}: trial {trial.trial_id} was recorded with learning_rate {result.learning_rate:.6g}, "
            f"reg {result.reg:.6g}, but the search's preset now samples learning_rate {trial.learning_rate:.6g}, "
            f"reg {trial.reg:.6g}; the preset or its search.seed changed since, so start a new search"
        )
    return result


class _StageRunner:
    """Runs one stage's trials, at most `capacity` in flight, recording each as it ends."""

    def __init__(
        self,
        preset: Preset,
        executor: Executor,
        store: SearchStore,
        sink: SearchSink,
        control: SearchControl,
        capacity: int,
        trial_fn: Callable[[TrialSpec], TrialResult],
    ):
        self.preset, self.executor, self.store, self.sink = preset, executor, store, sink
        self.control, self.capacity, self.trial_fn = control, capacity, trial_fn
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
                    fut = self.executor.submit(self.trial_fn, TrialSpec(self.preset, trial, self.control.flag))
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
                    self.store.record(result)
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

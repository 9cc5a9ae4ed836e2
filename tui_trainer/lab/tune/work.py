"""What each stage does: trains, searches, records; each returns an Outcome
with its typed result (results.py). What they train and search is decided in
stages.py; runner.py runs them in order and records each as it ends."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass
from typing import Any, Generic

import numpy as np

from ...config import Preset
from ...datasets.base import Dataset
from ...engine.events import Epoch, RunEnded
from ...formatting import accuracy, hyperparameter, plural
from ...records.search_store import SearchStore
from ...records.tune_folder import TuneRecord
from ..checks import CheckResult, iter_checks
from ..lr_find import SUGGESTED, find_lr
from ..search.leaders import Leader, leader_summary, reseed_leaders
from ..search.pool import FileFlag, StopFlag, TrialPool
from ..search.runner import SearchControl, TrialEnded, run_search
from ..search.space import Trial, TrialResult, rank
from ..search.trial import TrialSpec, run_trial
from ..session import held_out_accuracy, record_run
from .control import TuneControl
from .results import Candidate, ChecksResult, FinalResult, LrFindResult, R, SearchStageResult, TuneState
from .stages import (
    check_fails,
    checks_outcome,
    coarse_input,
    final_choice,
    final_inputs,
    final_preset,
    fine_input,
    tuned_ranges,
)


@dataclass
class Outcome(Generic[R]):
    verdict: str  # passed | failed | done | stopped
    summary: str  # what the stage found, in words
    result: R
    path: str = ""  # its record, or ""


@dataclass
class Tune:
    """What every stage works with: the tune's preset, data, folder and state so far,
    where its events go, how it stops, and where trials run."""

    preset: Preset
    data: Dataset
    record: TuneRecord
    state: TuneState
    sink: Callable[[Any], None]
    control: TuneControl
    pool: TrialPool


# checks ----------------------------------------------------------------------------


def run_checks(t: Tune) -> Outcome[ChecksResult]:
    """The four sanity checks, to the first that fails (stages.checks_outcome says which do)."""
    results: list[CheckResult] = []
    for r in iter_checks(t.preset, t.data, control=t.control.run):
        if t.control.stopped:
            return Outcome("stopped", "stopped during the checks", ChecksResult(tuple(results)))
        results.append(r)
        if check_fails(r):
            break
    verdict, summary, result = checks_outcome(results, t.preset.train.learning_rate)
    return Outcome(verdict, summary, result, _write_checks(t, results))


def _write_checks(t: Tune, results: list[CheckResult]) -> str:
    return str(t.record.write_checks([r.to_dict() for r in results]))


# lr-find ------------------------------------------------------------------------------


def run_lr_find(t: Tune) -> Outcome[LrFindResult]:
    ended = find_lr(t.preset, t.data, runs_dir=str(t.record.path), control=t.control.run)
    result = LrFindResult(ended.suggested_lr, ended.suggestions, ended.spread)
    if ended.status == "stopped":
        return Outcome("stopped", "stopped during the sweeps", result, ended.path)
    if ended.status != "finished" or ended.suggested_lr is None or ended.spread is None:
        return Outcome("failed", ended.reason, result, ended.path)
    lo, hi = ended.spread
    return Outcome(
        "done",
        f"suggested lr {hyperparameter(ended.suggested_lr)} ({SUGGESTED}, median of 3 seeds); "
        f"every suggestion in [{hyperparameter(lo)}, {hyperparameter(hi)}]",
        result,
        ended.path,
    )


# the searches --------------------------------------------------------------------------


def run_coarse(t: Tune) -> Outcome[SearchStageResult]:
    return _search(t, "coarse", coarse_input(t.preset, t.state))


def run_fine(t: Tune) -> Outcome[SearchStageResult]:
    return _search(t, "fine", fine_input(t.preset, t.state))


def _search(t: Tune, name: str, preset: Preset) -> Outcome[SearchStageResult]:
    folder = t.state.folder(name)  # a search begun and not ended: --resume reopens it
    store = SearchStore.open(folder) if folder else SearchStore.create(t.record.path, preset)
    if not folder:
        t.state.set_folder(name, str(store.path))
        t.state.save(t.record)
    control = SearchControl.for_pool(t.pool, store)
    t.control.search = control
    if t.control.stopped:
        control.stop(t.control.reason)

    def forward(event) -> None:
        if isinstance(event, TrialEnded):
            t.sink(event)

    try:
        ended = run_search(store.preset, t.pool, store, forward, control)
    finally:
        t.control.search = None
        control.close()
        store.close()
    result = SearchStageResult(
        ended.best,
        ended.ranking,
        tuple(w.message for w in ended.warnings),
        ended.next_ranges,
        ended.trials,
        ended.leaders,
    )
    if ended.status == "stopped":
        return Outcome("stopped", f"stopped after {ended.trials} trials", result, ended.path)
    if ended.status != "finished":
        return Outcome("failed", ended.reason, result, ended.path)
    if ended.best is None or ended.next_ranges is None:
        return Outcome(
            "failed",
            f"no {name} trial finished with a val accuracy (every one exploded or failed); "
            "lower the learning-rate range or check the data",
            result,
            ended.path,
        )
    best = ended.best
    warn = f"; {plural(len(ended.warnings), 'edge warning')}" if ended.warnings else ""
    return Outcome(
        "done",
        f"best val acc {accuracy(best.best_val_acc)} at lr {hyperparameter(best.params['learning_rate'])}, "
        f"reg {hyperparameter(best.params['reg'])} ({ended.trials} trials){warn}",
        result,
        ended.path,
    )


# final ---------------------------------------------------------------------------------


def run_final(t: Tune) -> Outcome[FinalResult]:
    """Continue the best fine trials to final_epochs and keep the best (stages.final_choice): the
    fine search ranked them after fine_epochs, and the best then is not always the best at the end.
    The first trains here, recorded as a run, while the others train as trials on the workers;
    with [tune] leader_seeds the best of them then run over other train seeds on the workers and
    the best mean wins; when a candidate other than the first wins, it is trained again here to be
    recorded (same values and seed)."""
    tc = t.preset.tune
    cands = final_inputs(t.preset, t.state)
    trials = [
        # named as the fine trials they continue; ties in space.rank go to the lower index: the better one
        Trial(c.trial_id, 1, n - 1, c.params, tc.final_epochs)
        for n, c in enumerate(cands, 1)
    ]
    flag = t.pool.stop_flag(t.record.path, t.record.path.name) if len(trials) > 1 or tc.leader_seeds > 1 else None
    t.control.flag = flag
    if flag is not None and t.control.stopped:
        flag.set()
    futures = [t.pool.submit(run_trial, TrialSpec(t.preset, trial, flag)) for trial in trials[1:]]
    try:
        run = _final_run(t, cands[0])
        if flag is not None and run.ended.status != "finished":
            flag.set()
        results = [_run_result(trials[0], run), *_collect(t, futures, trials[1:], flag)]
        leaders = _reseed(t, results, flag) if flag is not None else []
    finally:
        t.control.flag = None
        if isinstance(flag, FileFlag):
            flag.clear()
    candidates = tuple(
        Candidate(c.trial_id, c.params["learning_rate"], c.params["reg"], r.status, r.best_val_acc, r.best_epoch)
        for c, r in zip(cands, results)
    )
    best = final_choice(results, leaders)
    if best is not None and best.index > 0 and not t.control.stopped:
        run = _final_run(t, cands[best.index])
    chosen = cands[best.index] if best is not None else cands[0]
    preset, ended, path = run.preset, run.ended, run.path
    result = FinalResult(
        ended.best_val_acc,
        ended.best_epoch,
        preset.train.learning_rate,
        preset.train.reg,
        ended.status,
        path,
        chosen.trial_id,
        candidates,
        leaders=tuple(leaders),
    )
    if ended.status == "stopped" or t.control.stopped:
        return Outcome("stopped", "stopped during the final run", result, path)
    if ended.status != "finished":
        return Outcome("failed", f"the final run {ended.status}: {ended.reason}", result, path)
    result = dataclasses.replace(
        result,
        tuned_preset=str(t.record.write_tuned(preset)),
        test_acc=held_out_accuracy(preset, t.data, run.params),
        n_test=int(t.data.X_test.shape[0]),
    )
    of = f"; the best of {len(cands)} fine trials continued, {chosen.trial_id}" if len(cands) > 1 else ""
    seeds = f"; {leader_summary(leaders)}" if leaders else ""
    return Outcome(
        "done",
        f"best val acc {accuracy(ended.best_val_acc)} at epoch {ended.best_epoch} of "
        f"{plural(preset.train.epochs, 'epoch')}, at lr {hyperparameter(preset.train.learning_rate)}, "
        f"reg {hyperparameter(preset.train.reg)}{of}{seeds}; the tuned preset trains all "
        f"{plural(preset.train.epochs, 'epoch')} (its train.epochs; the best epoch's weights are its best.npz)",
        result,
        path,
    )


def _reseed(t: Tune, results: list[TrialResult], flag: StopFlag) -> list[Leader]:
    """[tune] leader_seeds: the best candidates (at most search.leaders.LEADERS) over that many train
    seeds, their own run first, each other seed a trial of final_epochs on the workers; [] when off,
    stopped, or no candidate finished."""
    tc = t.preset.tune
    if tc.leader_seeds < 2 or t.control.stopped:
        return []
    finished = [r for r in rank(results) if r.status == "finished"]
    # the candidates' own stage: their epochs, and every one of them may lead (reseed_leaders reads both)
    preset = t.preset.replace(
        **{"search.stages": [{"trials": len(results), "epochs": tc.final_epochs}], "search.keep": len(results)}
    )
    leaders = reseed_leaders(preset, finished, t.pool, flag, tc.leader_seeds)
    return [] if t.control.stopped else leaders


@dataclass
class _FinalRun:
    preset: Preset
    ended: RunEnded
    path: str
    epochs: int
    params: dict[str, np.ndarray] | None  # its best, on the host


def _final_run(t: Tune, best: TrialResult) -> _FinalRun:
    """A recorded run (a run folder in the tune folder, advised as every run is:
    lab/session.py) of the tuned preset from `best`; its epochs go to tune's sink."""
    preset = final_preset(t.preset, best, tuned_ranges(t.state))
    epochs = [0]

    def forward(event) -> None:
        if isinstance(event, Epoch):
            epochs[0] = event.epoch
            t.sink(event)

    run = record_run(preset, t.data, t.record.path, t.control.run, forward)
    ended = run.run()
    return _FinalRun(preset, ended, str(run.path), epochs[0], run.trainer.best_params)


def _run_result(trial: Trial, run: _FinalRun) -> TrialResult:
    e = run.ended
    return TrialResult.of(
        trial,
        status=e.status,
        reason=e.reason,
        best_val_acc=e.best_val_acc,
        best_epoch=e.best_epoch,
        epochs=run.epochs,
        iterations=e.iterations,
        elapsed_s=e.elapsed_s,
    )


def _collect(t: Tune, futures: list[Future], trials: list[Trial], flag) -> list[TrialResult]:
    """The candidates' results as their trials end (each sent to the sink); a stop sets their flag."""
    pending = set(futures)
    while pending:
        if t.control.stopped and flag is not None:
            flag.set()
        done, pending = wait(pending, timeout=0.1)
        for f in done:
            t.sink(TrialEnded.from_result(_trial_result(f, trials[futures.index(f)])))
    return [_trial_result(f, trial) for f, trial in zip(futures, trials)]


def _trial_result(future: Future, trial: Trial) -> TrialResult:
    try:
        return future.result()
    except Exception as e:  # the worker died, or the cluster went away: this candidate is out
        return TrialResult.of(
            trial,
            status="failed",
            reason=f"{type(e).__name__}: {e}",
            best_val_acc=None,
            best_epoch=None,
            epochs=0,
            iterations=0,
            elapsed_s=0.0,
        )

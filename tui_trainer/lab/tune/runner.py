"""run_tune: the stages in order, each result recorded in state.json as it
ends, so that `--resume` replays the stages done and runs the rest."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass
from typing import Any

from ...config import Preset
from ...datasets.base import Dataset
from ...engine.events import Epoch, RunEnded
from ...formatting import accuracy, hyperparameter
from ...records.search_store import SearchStore
from ...records.tune_folder import TuneRecord
from ..checks import CheckResult, iter_checks
from ..lr_find import SUGGESTED, find_lr
from ..search.runner import SearchControl, SearchEnded, TrialEnded, run_search, stop_flag
from ..search.space import Trial, TrialResult, best_trial
from ..search.trial import FileFlag, TrialSpec, run_trial
from ..session import record_run
from .control import TuneControl
from .events import TuneEnded, TuneStageEnded, TuneStageStarted, TuneStarted
from .report import write_report
from .stages import LR_MARGIN, STAGES, coarse_preset, final_candidates, final_preset, fine_preset

DONE = ("passed", "done")  # the verdicts of a stage that --resume skips


@dataclass
class _Outcome:
    verdict: str
    summary: str
    result: dict
    path: str = ""


@dataclass
class _Tune:
    preset: Preset
    data: Dataset
    record: TuneRecord
    sink: Callable[[Any], None]
    control: TuneControl
    executor: Executor
    capacity: int | None
    where: str

    @property
    def state(self) -> dict:
        return self.record.state


def run_tune(
    preset: Preset,
    data: Dataset,
    record: TuneRecord,
    sink: Callable[[Any], None],
    control: TuneControl,
    executor: Executor,
    *,
    capacity: int | None = None,
    where: str = "",
) -> TuneEnded:
    """Run (or resume: stages recorded as done are replayed, not run) the stages;
    every event to sink, the last (TuneEnded) returned."""
    t0 = time.perf_counter()
    tune = _Tune(preset, data, record, sink, control, executor, capacity, where)
    resumed = any(s in record.state for s in STAGES)
    sink(
        TuneStarted(
            preset.name, str(record.path), STAGES, dataclasses.asdict(preset.tune), where or "local", resumed=resumed
        )
    )
    status, reason = "finished", "every stage done"
    for number, (name, (plan, stage)) in enumerate(zip(STAGES, _STAGE_FUNCTIONS), 1):
        done = record.state.get(name)
        if done is not None and done["verdict"] in DONE:
            sink(TuneStageStarted(name, number, len(STAGES), done["plan"], resumed=True))
            sink(_ended_event(name, done, resumed=True))
            continue
        if control.stopped:
            status, reason = "stopped", control.reason
            break
        text = plan(tune)
        sink(TuneStageStarted(name, number, len(STAGES), text, resumed=False))
        s0 = time.perf_counter()
        out = stage(tune)
        entry = {
            "plan": text,
            "verdict": out.verdict,
            "summary": out.summary,
            "result": out.result,
            "path": out.path,
            "elapsed_s": time.perf_counter() - s0,
        }
        record.state[name] = entry
        record.save()
        sink(_ended_event(name, entry, resumed=False))
        write_report(record)
        if out.verdict == "stopped":
            status, reason = "stopped", control.reason
            break
        if out.verdict == "failed":
            status, reason = "failed", f"{name}: {out.summary}"
            break
    final = record.state.get("final", {})
    finished = status == "finished"
    ended = TuneEnded(
        status=status,
        reason=reason,
        best_val_acc=final.get("result", {}).get("best_val_acc") if finished else None,
        tuned_preset=str(record.tuned_path) if finished else None,
        report=str(record.report_path),
        path=str(record.path),
        elapsed_s=time.perf_counter() - t0,
    )
    write_report(record)
    sink(ended)
    return ended


def _ended_event(name: str, entry: dict, resumed: bool) -> TuneStageEnded:
    return TuneStageEnded(
        name, entry["verdict"], entry["summary"], entry["result"], entry["path"], entry["elapsed_s"], resumed
    )


# checks ----------------------------------------------------------------------------


def _plan_checks(t: _Tune) -> str:
    return "the four sanity checks: loss at init, reg raises it, gradient, overfit 20 examples"


def _checks(t: _Tune) -> _Outcome:
    results: list[CheckResult] = []
    note = ""
    for r in iter_checks(t.preset, t.data, control=t.control.run):
        if t.control.stopped:
            return _Outcome("stopped", "stopped during the checks", {"checks": [x.to_dict() for x in results]})
        results.append(r)
        if r.passed:
            continue
        if r.name == "overfit-small" and r.passing_lr is not None:
            note = (
                f"; overfit-small passes at lr {r.passing_lr:g} but not at the preset's "
                f"{t.preset.train.learning_rate:g}: the rate is too low, not a bug, and lr-find finds it next"
            )
            continue
        path = _write_checks(t, results)
        return _Outcome(
            "failed",
            f"{r.name} failed: {r.value}, expected {r.expected}. Remedy: {r.advice}",
            {"checks": [x.to_dict() for x in results], "failed": r.name, "remedy": r.advice},
            path,
        )
    path = _write_checks(t, results)
    return _Outcome(
        "passed", f"all {len(results)} checks passed{note}", {"checks": [x.to_dict() for x in results]}, path
    )


def _write_checks(t: _Tune, results: list[CheckResult]) -> str:
    return str(t.record.write_checks([r.to_dict() for r in results]))


# lr-find ------------------------------------------------------------------------------


def _plan_lr_find(t: _Tune) -> str:
    return "the learning-rate range test, 3 seeds, reg 0, from the initial weights"


def _lr_find(t: _Tune) -> _Outcome:
    ended = find_lr(t.preset, t.data, runs_dir=str(t.record.path), control=t.control.run)
    result = {"suggested_lr": ended.suggested_lr, "suggestions": ended.suggestions, "spread": ended.spread}
    if ended.status == "stopped":
        return _Outcome("stopped", "stopped during the sweeps", result, ended.path)
    if ended.status != "finished" or ended.suggested_lr is None or ended.spread is None:
        return _Outcome("failed", ended.reason, result, ended.path)
    lo, hi = ended.spread
    return _Outcome(
        "done",
        f"suggested lr {hyperparameter(ended.suggested_lr)} ({SUGGESTED}, median of 3 seeds); "
        f"every suggestion in [{hyperparameter(lo)}, {hyperparameter(hi)}]",
        result,
        ended.path,
    )


# the searches --------------------------------------------------------------------------


def _plan_coarse(t: _Tune) -> str:
    p = coarse_preset(t.preset, t.state["lr-find"]["result"]["spread"])
    s = p.search
    return (
        f"{s.stages[0].trials} trials x {s.stages[0].epochs} epoch(s), log-uniform lr "
        f"{hyperparameter(s.learning_rate[0])}..{hyperparameter(s.learning_rate[1])} (lr-find's spread, "
        f"{LR_MARGIN:g}x wider each side), reg {hyperparameter(s.reg[0])}..{hyperparameter(s.reg[1])} ([search] reg)"
    )


def _coarse(t: _Tune) -> _Outcome:
    return _search(t, "coarse", coarse_preset(t.preset, t.state["lr-find"]["result"]["spread"]))


def _plan_fine(t: _Tune) -> str:
    p = fine_preset(t.preset, t.state["coarse"]["result"]["next_ranges"])
    s = p.search
    return (
        f"{s.stages[0].trials} trials x {s.stages[0].epochs} epochs over the coarse search's suggested ranges: "
        f"lr {hyperparameter(s.learning_rate[0])}..{hyperparameter(s.learning_rate[1])}, "
        f"reg {hyperparameter(s.reg[0])}..{hyperparameter(s.reg[1])}"
    )


def _fine(t: _Tune) -> _Outcome:
    return _search(t, "fine", fine_preset(t.preset, t.state["coarse"]["result"]["next_ranges"]))


def _search(t: _Tune, name: str, preset: Preset) -> _Outcome:
    key = f"{name}_folder"  # a search begun and not ended: --resume reopens it
    folder = t.state.get(key)
    store = SearchStore.open(folder) if folder else SearchStore.create(t.record.path, preset)
    if not folder:
        t.state[key] = str(store.path)
        t.record.save()
    control = SearchControl.for_executor(t.executor, store)
    t.control.search = control
    if t.control.stopped:
        control.stop(t.control.reason)

    def forward(event) -> None:
        if isinstance(event, TrialEnded):
            t.sink(event)

    try:
        ended = run_search(store.preset, t.executor, store, forward, control, capacity=t.capacity, where=t.where)
    finally:
        t.control.search = None
        control.close()
        store.close()
    result = _search_result(ended)
    if ended.status == "stopped":
        return _Outcome("stopped", f"stopped after {ended.trials} trials", result, ended.path)
    if ended.status != "finished":
        return _Outcome("failed", ended.reason, result, ended.path)
    if ended.best is None or ended.next_ranges is None:
        return _Outcome(
            "failed",
            f"no {name} trial finished with a val accuracy (every one exploded or failed); "
            "lower the learning-rate range or check the data",
            result,
            ended.path,
        )
    best = ended.best
    warn = f"; {len(ended.warnings)} edge warning(s)" if ended.warnings else ""
    return _Outcome(
        "done",
        f"best val acc {accuracy(best.best_val_acc)} at lr {hyperparameter(best.learning_rate)}, "
        f"reg {hyperparameter(best.reg)} ({ended.trials} trials){warn}",
        result,
        ended.path,
    )


def _search_result(ended: SearchEnded) -> dict:
    return {
        "best": None if ended.best is None else dataclasses.asdict(ended.best),
        "ranking": [dataclasses.asdict(r) for r in ended.ranking],  # the final stage's candidates come from it
        "warnings": [w.message for w in ended.warnings],
        "next_ranges": ended.next_ranges,
        "trials": ended.trials,
    }


# final ---------------------------------------------------------------------------------


def _plan_final(t: _Tune) -> str:
    tc = t.preset.tune
    cands = final_candidates(t.state, tc.final_candidates)
    values = "; ".join(
        f"{c.trial_id}: lr {hyperparameter(c.learning_rate)}, reg {hyperparameter(c.reg)}" for c in cands
    )
    if len(cands) == 1:
        return (
            f"a {tc.final_epochs}-epoch run of the best trial {cands[0].trial_id} (its values and seed: "
            f"it repeats that trial's {cands[0].epochs} epoch(s), then goes on): {values}"
        )
    return (
        f"the best {len(cands)} fine trials continued to {tc.final_epochs} epochs (each with its values and seed "
        f"repeats its {cands[0].epochs} epoch(s), then goes on); the best is the final run: {values}"
    )


def _final(t: _Tune) -> _Outcome:
    """Continue the best fine trials to final_epochs and keep the best (space.best_trial): the
    fine search ranked them after fine_epochs, and the best then is not always the best at the end.
    The first trains here, recorded as a run, while the others train as trials on the workers;
    when one of those wins, it is trained again here to be recorded (same values and seed)."""
    tc = t.preset.tune
    cands = final_candidates(t.state, tc.final_candidates)
    trials = [
        # ties in space.rank go to the lower index: the better fine trial
        Trial(f"final-{n}", 1, n - 1, c.learning_rate, c.reg, c.hidden, c.batch_size, tc.final_epochs)
        for n, c in enumerate(cands, 1)
    ]
    flag = stop_flag(t.executor, t.record.path, t.record.path.name) if len(trials) > 1 else None
    futures = [t.executor.submit(run_trial, TrialSpec(t.preset, trial, flag)) for trial in trials[1:]]
    try:
        run = _final_run(t, cands[0])
        if flag is not None and run.ended.status != "finished":
            flag.set()
        results = [_run_result(trials[0], run), *_collect(t, futures, trials[1:], flag)]
    finally:
        if isinstance(flag, FileFlag):
            flag.clear()
    candidates = [
        {
            "trial": c.trial_id,
            "learning_rate": c.learning_rate,
            "reg": c.reg,
            "status": r.status,
            "best_val_acc": r.best_val_acc,
            "best_epoch": r.best_epoch,
        }
        for c, r in zip(cands, results)
    ]
    best = best_trial(results)
    if best is not None and best.index > 0 and not t.control.stopped:
        run = _final_run(t, cands[best.index])
    chosen = cands[best.index] if best is not None else cands[0]
    preset, ended, path = run.preset, run.ended, run.path
    result = {
        "best_val_acc": ended.best_val_acc,
        "best_epoch": ended.best_epoch,
        "learning_rate": preset.train.learning_rate,
        "reg": preset.train.reg,
        "status": ended.status,
        "run": path,
        "trial": chosen.trial_id,
        "candidates": candidates,
    }
    if ended.status == "stopped" or t.control.stopped:
        return _Outcome("stopped", "stopped during the final run", result, path)
    if ended.status != "finished":
        return _Outcome("failed", f"the final run {ended.status}: {ended.reason}", result, path)
    result["tuned_preset"] = str(t.record.write_tuned(preset))
    of = f"; the best of {len(cands)} fine trials continued, {chosen.trial_id}" if len(cands) > 1 else ""
    return _Outcome(
        "done",
        f"best val acc {accuracy(ended.best_val_acc)} (epoch {ended.best_epoch}) after "
        f"{preset.train.epochs} epochs at lr {hyperparameter(preset.train.learning_rate)}, "
        f"reg {hyperparameter(preset.train.reg)}{of}",
        result,
        path,
    )


@dataclass
class _FinalRun:
    preset: Preset
    ended: RunEnded
    path: str
    epochs: int


def _final_run(t: _Tune, best: TrialResult) -> _FinalRun:
    """A recorded run (a run folder in the tune folder, advised as every run is:
    lab/session.py) of the tuned preset from `best`; its epochs go to tune's sink."""
    preset = final_preset(t.preset, best, t.state)
    epochs = [0]

    def forward(event) -> None:
        if isinstance(event, Epoch):
            epochs[0] = event.epoch
            t.sink(event)

    run = record_run(preset, t.data, t.record.path, t.control.run, forward)
    ended = run.run()
    return _FinalRun(preset, ended, str(run.path), epochs[0])


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


def _collect(t: _Tune, futures: list[Future], trials: list[Trial], flag) -> list[TrialResult]:
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


_STAGE_FUNCTIONS: tuple[tuple[Callable[[_Tune], str], Callable[[_Tune], _Outcome]], ...] = (
    (_plan_checks, _checks),
    (_plan_lr_find, _lr_find),
    (_plan_coarse, _coarse),
    (_plan_fine, _fine),
    (_plan_final, _final),
)

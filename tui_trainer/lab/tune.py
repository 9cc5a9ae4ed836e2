"""tune: the lecture's whole sequence as stages, each with a verdict (no UI here).

    record = TuneRecord.create("runs", preset)            # or TuneRecord.latest(...) to resume
    with TrialPool.local(2) as pool:
        ended = run_tune(preset, data, record, sink, TuneControl(), pool)

The stages, in order (STAGES):

1. checks: the four sanity checks (checks.py), stopping at the first failure
   with its remedy. An overfit-small that fails only because the preset's rate
   is too low (a higher rate of its ladder passes) is no bug: the net can
   learn, and the next stage finds the rate.
2. lr-find: the range test (lr_find.py) from the preset's initial weights.
3. coarse: a search in log space, one stage of [tune] coarse_trials x
   coarse_epochs. Its learning-rate range is lr-find's spread widened
   LR_MARGIN x each side: the range test measures the first hundred
   mini-batches from init at reg 0, and a longer run with reg and a decaying
   rate may want a little less or more. Its reg range is the preset's
   [search] reg (default 1e-5..10: the lecture's "reg in 10^-5..10^1").
4. fine: a search of fine_trials x fine_epochs (longer trials) over the ranges
   the coarse search suggests for its next search (search.space.suggest_next:
   the span of its good trials, a decade past an edge it warned about).
5. final: the best [tune] final_candidates fine trials (the best coarse one
   when no fine trial finished) continued to final_epochs, each with its
   trial's exact values and seed, so it repeats that trial and goes on; the
   fine search ranked them after fine_epochs, and the best then is not always
   the best at the end. The first trains here, recorded as any run is, while
   the others train on the workers; the best of them (space.best_trial) is the
   final run (trained again here when it was one on the workers). Its best val
   accuracy is at least the best fine trial's; its preset, with the fine
   ranges as its [search], is `tuned.toml`.

The tune folder `RUNS_DIR/tune-PRESET-STAMP-ID/` holds `preset.toml` (what it
started from), `state.json` (each stage's result, written as it ends: what
`--resume` skips), `checks.json`, the lr-find folder, both search folders,
the final run's folder, `tuned.toml` and `report.md` (rewritten after each
stage). Events: TuneStarted, TuneStageStarted / TuneStageEnded per stage,
TuneEnded last; the searches' TrialEnded and the final run's Epoch events go
to the same sink, for faces that show progress.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..config import Preset, load_preset, to_toml
from ..datasets.base import Dataset
from ..engine import RunControl, Trainer
from ..engine.events import Epoch, Fanout, RunEnded
from ..errors import UserError
from ..formatting import accuracy, hyperparameter
from ..records.atomic import atomic_write_text, new_record_dir, safe_name
from ..records.run_folder import RunStore, read_metrics
from ..records.search_store import SearchStore
from .checks import CheckResult, iter_checks
from .lr_find import METHODS, SUGGESTED, find_lr, read_record
from .search.pool import FileFlag, TrialPool
from .search.runner import SearchControl, SearchEnded, TrialEnded, run_search
from .search.space import Trial, TrialResult, apply_params, best_trial, range_changes
from .search.trial import TrialSpec, run_trial

STAGES = ("checks", "lr-find", "coarse", "fine", "final")
LR_MARGIN = 3.0
STATE_FILE = "state.json"
TUNED = "tuned.toml"
REPORT = "report.md"
DONE = ("passed", "done")  # the verdicts of a stage that --resume skips


# --- events ----------------------------------------------------------------------


@dataclass(frozen=True)
class TuneStarted:
    kind: ClassVar[str] = "tune_started"
    preset: str
    path: str
    stages: tuple[str, ...]
    budget: dict  # the [tune] section
    where: str  # where the trials run
    resumed: bool


@dataclass(frozen=True)
class TuneStageStarted:
    kind: ClassVar[str] = "tune_stage_started"
    stage: str  # checks | lr-find | coarse | fine | final
    number: int
    stages: int
    plan: str  # what it is about to do, in words
    resumed: bool  # recorded earlier: replayed from state.json, not run again


@dataclass(frozen=True)
class TuneStageEnded:
    kind: ClassVar[str] = "tune_stage_ended"
    stage: str
    verdict: str  # passed | failed | done | stopped
    summary: str  # what it found, in words
    result: dict  # the stage's numbers (see the README)
    path: str  # the stage's record (a file or folder in the tune folder), or ""
    elapsed_s: float
    resumed: bool


@dataclass(frozen=True)
class TuneEnded:
    kind: ClassVar[str] = "tune_ended"
    status: str  # finished | failed (a sanity check or a stage failed) | stopped
    reason: str
    best_val_acc: float | None  # the final run's
    tuned_preset: str | None  # tuned.toml, once the final run finished
    report: str  # report.md
    path: str  # the tune folder
    elapsed_s: float


TuneEvent = TuneStarted | TuneStageStarted | TuneStageEnded | TuneEnded


# --- stopping --------------------------------------------------------------------


class TuneControl:
    """Stop a tune from any thread: the stage running stops within one iteration."""

    def __init__(self) -> None:
        self.run = RunControl()
        self.search: SearchControl | None = None

    def stop(self, reason: str = "stopped by request") -> None:
        self.run.stop(reason)
        search = self.search
        if search is not None:
            search.stop(reason)

    @property
    def stopped(self) -> bool:
        return self.run.stopped

    @property
    def reason(self) -> str:
        return self.run.stop_reason


# --- the record --------------------------------------------------------------------


class TuneRecord:
    """The tune folder and its state.json."""

    def __init__(self, path: Path, preset: Preset, state: dict):
        self.path = path
        self.preset = preset
        self.state = state

    @classmethod
    def create(cls, runs_dir: str | Path, preset: Preset) -> TuneRecord:
        path = new_record_dir(runs_dir, "tune-{name}-{stamp}-{id}", preset.name)
        atomic_write_text(path / "preset.toml", to_toml(preset))
        record = cls(path, preset, {})
        record.save()
        return record

    @classmethod
    def latest(cls, runs_dir: str | Path, preset_name: str) -> TuneRecord:
        """The most recent tune of preset_name under runs_dir, with the preset it started with."""
        prefix = f"tune-{safe_name(preset_name)}-"
        root = Path(runs_dir)
        # by the stamp in the name, then (two in one second) by when the folder was made
        found = sorted(
            (
                (d.name[len(prefix) : len(prefix) + 15], (d / "preset.toml").stat().st_mtime_ns, d)
                for d in (root.iterdir() if root.is_dir() else [])
                if d.name.startswith(prefix) and (d / STATE_FILE).is_file() and (d / "preset.toml").is_file()
            ),
        )
        if not found:
            raise UserError(
                f"{runs_dir}: no tune of preset {preset_name!r} to resume (looked for folders named "
                f"{prefix}*); start one without --resume"
            )
        path = found[-1][2]
        try:
            state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UserError(f"{path / STATE_FILE}: cannot read the tune's state ({e})") from None
        return cls(path, load_preset(path / "preset.toml"), state)

    def save(self) -> None:
        atomic_write_text(self.path / STATE_FILE, json.dumps(self.state, indent=1) + "\n")


# --- the stages ------------------------------------------------------------------


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
    pool: TrialPool

    @property
    def state(self) -> dict:
        return self.record.state


def run_tune(
    preset: Preset,
    data: Dataset,
    record: TuneRecord,
    sink: Callable[[Any], None],
    control: TuneControl,
    pool: TrialPool,
) -> TuneEnded:
    """Run (or resume: stages recorded as done are replayed, not run) the stages;
    every event to sink, the last (TuneEnded) returned."""
    t0 = time.perf_counter()
    tune = _Tune(preset, data, record, sink, control, pool)
    resumed = any(s in record.state for s in STAGES)
    sink(
        TuneStarted(preset.name, str(record.path), STAGES, dataclasses.asdict(preset.tune), pool.where, resumed=resumed)
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
        tuned_preset=str(record.path / TUNED) if finished else None,
        report=str(record.path / REPORT),
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


def _write_checks(t: _Tune, results) -> str:
    path = t.record.path / "checks.json"
    atomic_write_text(path, json.dumps([r.to_dict() for r in results], indent=1) + "\n")
    return str(path)


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


def coarse_ranges(preset: Preset, spread: tuple[float, float] | list[float]) -> dict:
    """The coarse search's ranges: lr-find's spread widened LR_MARGIN x each side; reg from [search]."""
    lo, hi = spread
    return {"learning_rate": [lo / LR_MARGIN, hi * LR_MARGIN], "reg": list(preset.search.ranges["reg"])}


def coarse_preset(preset: Preset, spread) -> Preset:
    r = coarse_ranges(preset, spread)
    tc = preset.tune
    p = preset.replace(
        **{
            "search.learning_rate": [float(f"{r['learning_rate'][0]:.3g}"), float(f"{r['learning_rate'][1]:.3g}")],
            "search.reg": r["reg"],
            "search.stages": [{"trials": tc.coarse_trials, "epochs": tc.coarse_epochs}],
        }
    )
    return dataclasses.replace(p, name=f"{preset.name}-coarse")


def fine_preset(preset: Preset, next_ranges: dict) -> Preset:
    tc = preset.tune
    p = preset.replace(
        **range_changes(next_ranges),
        **{
            "search.stages": [{"trials": tc.fine_trials, "epochs": tc.fine_epochs}],
            "search.seed": preset.search.seed + 1,  # other samples than the coarse stage's
        },
    )
    return dataclasses.replace(p, name=f"{preset.name}-fine")


def _plan_coarse(t: _Tune) -> str:
    p = coarse_preset(t.preset, t.state["lr-find"]["result"]["spread"])
    s, lr, reg = p.search, p.search.ranges["learning_rate"], p.search.ranges["reg"]
    return (
        f"{s.stages[0].trials} trials x {s.stages[0].epochs} epoch(s), log-uniform lr "
        f"{hyperparameter(lr[0])}..{hyperparameter(lr[1])} (lr-find's spread, "
        f"{LR_MARGIN:g}x wider each side), reg {hyperparameter(reg[0])}..{hyperparameter(reg[1])} ([search] reg)"
    )


def _coarse(t: _Tune) -> _Outcome:
    return _search(t, "coarse", coarse_preset(t.preset, t.state["lr-find"]["result"]["spread"]))


def _plan_fine(t: _Tune) -> str:
    p = fine_preset(t.preset, t.state["coarse"]["result"]["next_ranges"])
    s, lr, reg = p.search, p.search.ranges["learning_rate"], p.search.ranges["reg"]
    return (
        f"{s.stages[0].trials} trials x {s.stages[0].epochs} epochs over the coarse search's suggested ranges: "
        f"lr {hyperparameter(lr[0])}..{hyperparameter(lr[1])}, "
        f"reg {hyperparameter(reg[0])}..{hyperparameter(reg[1])}"
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
        f"best val acc {accuracy(best.best_val_acc)} at lr {hyperparameter(best.params['learning_rate'])}, "
        f"reg {hyperparameter(best.params['reg'])} ({ended.trials} trials){warn}",
        result,
        ended.path,
    )


def _search_result(ended: SearchEnded) -> dict:
    return {
        "best": None if ended.best is None else ended.best.json_fields(),
        "ranking": [r.json_fields() for r in ended.ranking],  # the final stage's candidates come from it
        "warnings": [w.message for w in ended.warnings],
        "next_ranges": ended.next_ranges,
        "trials": ended.trials,
    }


# final ---------------------------------------------------------------------------------


def final_candidates(state: dict, count: int) -> list[TrialResult]:
    """The configurations the final stage continues, best first: the best `count` finished
    fine trials (the fine search's ranking); else its best trial, or the coarse one's when
    no fine trial got as far as an epoch."""
    fine = state.get("fine", {}).get("result", {})
    ranked = [TrialResult.from_dict(r) for r in fine.get("ranking", [])]
    finished = [r for r in ranked if r.status == "finished" and r.best_val_acc is not None]
    if finished:
        return finished[:count]
    for best in (fine.get("best"), state.get("coarse", {}).get("result", {}).get("best")):
        if best is not None:
            return [TrialResult.from_dict(best)]
    raise AssertionError("the final stage runs only after a search found a best trial")


def best_configuration(state: dict) -> TrialResult:
    """The best fine trial; the best coarse one when no fine trial finished."""
    return final_candidates(state, 1)[0]


def final_preset(preset: Preset, best: TrialResult, state: dict) -> Preset:
    """The tuned preset: the best trial's values, final_epochs, the fine ranges as [search].

    The values are the trial's own, unrounded: with the same seed the final run then
    repeats that trial's epochs before it goes on, so its best val accuracy is at
    least the trial's (a rate rounded to 3 digits takes another path and may land
    below it)."""
    changes: dict[str, Any] = {"train.epochs": preset.tune.final_epochs}
    ranges = state.get("coarse", {}).get("result", {}).get("next_ranges")
    if ranges:
        changes |= range_changes(ranges)
    p = apply_params(preset, best.params, **changes)
    return dataclasses.replace(
        p,
        name=f"{preset.name}-tuned",
        description=(
            f"Tuned from {preset.name} by tui-trainer tune: lr {hyperparameter(best.params['learning_rate'])}, "
            f"reg {hyperparameter(best.params['reg'])} (trial {best.trial_id}, val acc {accuracy(best.best_val_acc)})"
        ),
    )


def _plan_final(t: _Tune) -> str:
    tc = t.preset.tune
    cands = final_candidates(t.state, tc.final_candidates)
    values = "; ".join(
        f"{c.trial_id}: lr {hyperparameter(c.params['learning_rate'])}, reg {hyperparameter(c.params['reg'])}"
        for c in cands
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
        Trial(f"final-{n}", 1, n - 1, c.params, tc.final_epochs)
        for n, c in enumerate(cands, 1)
    ]
    flag = t.pool.stop_flag(t.record.path, t.record.path.name) if len(trials) > 1 else None
    futures = [t.pool.submit(run_trial, TrialSpec(t.preset, trial, flag)) for trial in trials[1:]]
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
            **c.params,
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
    text = to_toml(preset)
    atomic_write_text(
        t.record.path / TUNED,
        f"# tuned by tui-trainer tune ({t.record.path.name}); train it with: tui-trainer run "
        f"{t.record.path / TUNED}\n{text}",
    )
    result["tuned_preset"] = str(t.record.path / TUNED)
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
    """A recorded run (a run folder in the tune folder) of the tuned preset from `best`."""
    preset = final_preset(t.preset, best, t.state)
    store = RunStore.create(t.record.path, preset, t.data)
    epochs = [0]

    def forward(event) -> None:
        if isinstance(event, Epoch):
            epochs[0] = event.epoch
            t.sink(event)

    ended: RunEnded = Trainer(
        preset, t.data, Fanout(store, forward), control=t.control.run, run_id=store.run_id, on_epoch=store.on_epoch
    ).run()
    store.close()
    return _FinalRun(preset, ended, str(store.path), epochs[0])


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


# --- the sentences both faces show ------------------------------------------------------


def describe(event) -> str | None:
    """One line for people about a tune event (None: nothing to say), as the command
    prints it and the workbench's tune view logs it."""
    from ..formatting import duration
    from .search.texts import trial_line

    if isinstance(event, TuneStarted):
        note = " (resumed: stages already done are not run again)" if event.resumed else ""
        return f"tune {event.preset}: trials on {event.where}; recording in {event.path}{note}"
    if isinstance(event, TuneStageStarted):
        earlier = " (done earlier)" if event.resumed else ""
        return f"[{event.number}/{event.stages}] {event.stage}{earlier}: {event.plan}"
    if isinstance(event, TuneStageEnded):
        return f"    {event.verdict.upper()}: {event.summary}  ({duration(event.elapsed_s)})"
    if isinstance(event, TrialEnded):
        return f"    {event.status:<8} {trial_line(event)}  {event.epochs} epoch(s)"
    if isinstance(event, Epoch):
        return (
            f"    epoch {event.epoch}: loss {event.loss:.4f}  train acc {accuracy(event.train_acc)}  "
            f"val acc {accuracy(event.val_acc)}"
        )
    if isinstance(event, TuneEnded):
        if event.status == "finished":
            return (
                f"tuned: best val acc {accuracy(event.best_val_acc)} in {duration(event.elapsed_s)}\n"
                f"the tuned preset: {event.tuned_preset}  (train it: tui-trainer run {event.tuned_preset})\n"
                f"the report: {event.report}"
            )
        return f"tune {event.status}: {event.reason}\nthe report: {event.report}"
    return None


# --- the report ---------------------------------------------------------------------------


def write_report(record: TuneRecord) -> Path:
    """report.md: what each stage found and why the next took its ranges, with the curves."""
    path = record.path / REPORT
    atomic_write_text(path, report_text(record))
    return path


def report_text(record: TuneRecord) -> str:
    p, state = record.preset, record.state
    tc = p.tune
    lines = [
        f"# Tuning {p.name}",
        "",
        f"The lecture's sequence on `{p.name}` ({p.data.dataset}), from `{record.path / 'preset.toml'}`: "
        "check the setup, find a learning rate, search coarse then fine in log space, then train the best. "
        f"Budget ([tune]): coarse {tc.coarse_trials} trials x {tc.coarse_epochs} epoch(s), fine "
        f"{tc.fine_trials} trials x {tc.fine_epochs} epochs, final run {tc.final_epochs} epochs.",
        "",
    ]
    titles = {
        "checks": "Sanity checks",
        "lr-find": "Learning-rate range test",
        "coarse": "Coarse search",
        "fine": "Fine search",
        "final": "Final run",
    }
    for number, name in enumerate(STAGES, 1):
        entry = state.get(name)
        if entry is None:
            lines += [f"## {number}. {titles[name]}: not run", ""]
            continue
        lines += [f"## {number}. {titles[name]}: {entry['verdict']}", "", f"Plan: {entry['plan']}.", ""]
        lines += _REPORT_PARTS[name](record, entry)
        lines += [f"Found: {entry['summary']}.", ""]
        if entry["path"]:
            lines += [f"Record: `{entry['path']}`.", ""]
    final = state.get("final")
    if final is not None and final["verdict"] == "done":
        lines += [
            "## Result",
            "",
            f"`{record.path / TUNED}` is ready: `tui-trainer run {record.path / TUNED}` trains it; "
            f"`tui-trainer search {record.path / TUNED}` searches its fine ranges again.",
            "",
        ]
    return "\n".join(lines)


def _report_checks(record: TuneRecord, entry: dict) -> list[str]:
    lines = [
        "Before spending time on a search, the lecture checks that the loss at init is what chance gives "
        "(ln C for softmax with small weights), that raising reg raises it, that the analytic gradient "
        "matches a numerical one, and that the net can overfit a tiny subset with reg 0.",
        "",
        "| check | value | expected | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for c in entry["result"].get("checks", []):
        lines.append(f"| {c['name']} | {c['value']} | {c['expected']} | {'pass' if c['passed'] else 'FAIL'} |")
    remedy = entry["result"].get("remedy")
    lines += [""] + ([f"Remedy: {remedy}", ""] if remedy else [])
    return lines


def _report_lr_find(record: TuneRecord, entry: dict) -> list[str]:
    res = entry["result"]
    lines = [
        "The learning rate grows exponentially from 1e-7 over 100 mini-batches (reg 0, the preset's "
        "initial weights) until the smoothed loss passes 4x its best; the usual suggestions are read off "
        "the curve of each of 3 seeds and their median taken.",
        "",
        "| method | median lr |",
        "| --- | --- |",
    ]
    for m in METHODS:
        v = res.get("suggestions", {}).get(m)
        lines.append(f"| {m}{' (suggested)' if m == SUGGESTED else ''} | {'-' if v is None else hyperparameter(v)} |")
    lines.append("")
    try:
        sweeps, _ = read_record(entry["path"])
        from .lr_find import curve_text

        lines += ["```", curve_text(sweeps, res.get("suggestions", {}), width=90, height=18), "```", ""]
    except (OSError, ValueError, KeyError):
        pass
    if res.get("spread"):
        lo, hi = res["spread"]
        r = coarse_ranges(record.preset, res["spread"])
        lines += [
            f"Why the coarse search takes lr {hyperparameter(r['learning_rate'][0])}.."
            f"{hyperparameter(r['learning_rate'][1])}: every suggestion lies in [{hyperparameter(lo)}, "
            f"{hyperparameter(hi)}], and the range test sees only the first hundred mini-batches from init "
            f"at reg 0, so the search looks {LR_MARGIN:g}x further each side; reg "
            f"{hyperparameter(r['reg'][0])}..{hyperparameter(r['reg'][1])} comes from the preset's [search].",
            "",
        ]
    return lines


def _report_search(record: TuneRecord, entry: dict) -> list[str]:
    res = entry["result"]
    lines = ["| trial | val acc | learning rate | reg | epochs |", "| --- | --- | --- | --- | --- |"]
    for r in res.get("ranking", [])[:5]:
        lines.append(
            f"| {r['trial_id']} | {accuracy(r['best_val_acc'])} | {hyperparameter(r['learning_rate'])} | "
            f"{hyperparameter(r['reg'])} | {r['epochs']} |"
        )
    lines.append("")
    for w in res.get("warnings", []):
        lines += [f"Warning: {w}", ""]
    nr = res.get("next_ranges")
    if nr:
        lines += [
            f"Suggested next ranges: lr {hyperparameter(nr['learning_rate'][0])}.."
            f"{hyperparameter(nr['learning_rate'][1])}, reg {hyperparameter(nr['reg'][0])}.."
            f"{hyperparameter(nr['reg'][1])}: the log span of the best trials that reached 90% of the best "
            "val accuracy, widened a little"
            + (
                ", and a decade further past the edge the search warned about (the best value at the edge of "
                "its range means the optimum may lie beyond it)."
                if res.get("warnings")
                else "."
            ),
            "",
        ]
    return lines


def _report_final(record: TuneRecord, entry: dict) -> list[str]:
    run = entry["result"].get("run")
    if not run:
        return []
    try:
        epochs = [e for e in read_metrics(run) if e.get("event") == "epoch"]
    except OSError:
        return []
    if not epochs:
        return []
    import plotext as plt  # the curve as text, only for the report

    plt.clear_figure()
    plt.plotsize(90, 16)
    plt.theme("clear")
    x = [e["epoch"] for e in epochs]
    plt.plot(x, [e["train_acc"] for e in epochs], label="train acc", marker="braille")
    plt.plot(x, [e["val_acc"] for e in epochs], label="val acc", marker="braille")
    plt.xlabel("epoch")
    text = plt.uncolorize(plt.build())
    plt.clear_figure()
    gap = epochs[-1]["train_acc"] - epochs[-1]["val_acc"]
    words = (
        "a large gap between train and val accuracy: overfitting; more reg would help"
        if gap > 0.1
        else "train and val accuracy stay close: no strong overfitting; a bigger model could use more capacity"
    )
    return [
        *_report_candidates(record, entry),
        "```",
        text,
        "```",
        "",
        f"Last epoch: train {accuracy(epochs[-1]['train_acc'])}, val {accuracy(epochs[-1]['val_acc'])}: {words}.",
        "",
    ]


def _report_candidates(record: TuneRecord, entry: dict) -> list[str]:
    cands = entry["result"].get("candidates", [])
    if len(cands) < 2:
        return []
    lines = [
        f"The fine search ranked its trials after {record.preset.tune.fine_epochs} epochs; the best then is not "
        f"always the best after {record.preset.tune.final_epochs}, so its best {len(cands)} went on (each "
        "with its values and seed, so it repeats its trial first) and the best of them is the final run:",
        "",
        f"| fine trial | val acc after {record.preset.tune.final_epochs} epochs | best epoch | learning rate | reg |",
        "| --- | --- | --- | --- | --- |",
    ]
    for c in cands:
        chosen = " (final)" if c["trial"] == entry["result"].get("trial") else ""
        lines.append(
            f"| {c['trial']}{chosen} | {accuracy(c['best_val_acc'])} | {c['best_epoch'] or '-'} | "
            f"{hyperparameter(c['learning_rate'])} | {hyperparameter(c['reg'])} |"
        )
    return [*lines, ""]


_REPORT_PARTS: dict[str, Callable[[TuneRecord, dict], list[str]]] = {
    "checks": _report_checks,
    "lr-find": _report_lr_find,
    "coarse": _report_search,
    "fine": _report_search,
    "final": _report_final,
}

"""run_tune: the stages in order, each recorded in state.json as it ends, so
that `--resume` replays the stages done and runs the rest.

STAGES is the sequence: a stage is one entry (its name, the report's title for
it, the type of what it finds, its plan in words, what it does, its part of
the report), and the runner, the report and state.json all walk this table.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...config import Preset
from ...datasets.base import Dataset
from ...records.tune_folder import TuneRecord
from ..search.pool import TrialPool
from . import report, stages, work
from .control import TuneControl
from .events import TuneEnded, TuneStageEnded, TuneStageStarted, TuneStarted
from .results import ChecksResult, FinalResult, LrFindResult, SearchStageResult, StageEntry, TuneState


@dataclass(frozen=True)
class Stage:
    name: str  # its key in state.json and its events
    title: str  # its heading in report.md
    result: type  # what it finds (results.py), as state.json holds it
    plan: Callable[[Preset, TuneState], str]  # what it is about to do, in words (stages.py)
    run: Callable[[work.Tune], work.Outcome]  # does it (work.py)
    report: Callable[[TuneRecord, StageEntry], list[str]]  # its part of report.md (report.py)


STAGES: tuple[Stage, ...] = (
    Stage("checks", "Sanity checks", ChecksResult, stages.plan_checks, work.run_checks, report.checks_part),
    Stage(
        "lr-find",
        "Learning-rate range test",
        LrFindResult,
        stages.plan_lr_find,
        work.run_lr_find,
        report.lr_find_part,
    ),
    Stage("coarse", "Coarse search", SearchStageResult, stages.plan_coarse, work.run_coarse, report.search_part),
    Stage("fine", "Fine search", SearchStageResult, stages.plan_fine, work.run_fine, report.search_part),
    Stage("final", "Final run", FinalResult, stages.plan_final, work.run_final, report.final_part),
)


def read_state(record: TuneRecord) -> TuneState:
    """The record's state.json as the stages' results; a UserError naming the file and the
    field when it is not what tune writes."""
    return TuneState.read(record, {s.name: s.result for s in STAGES})


def write_report(record: TuneRecord, state: TuneState) -> None:
    record.write_report(report.report_text(record, state, STAGES))


def run_tune(
    preset: Preset,
    data: Dataset,
    record: TuneRecord,
    sink: Callable[[Any], None],
    control: TuneControl,
    pool: TrialPool,
) -> TuneEnded:
    """Run (or resume: stages recorded as done are replayed, not run) the stages;
    every event to sink, the last (TuneEnded) returned. The tune folder is locked
    meanwhile (a second process resuming it is an EnvironmentProblem), and a run
    an interrupted tune left without its end is ended first."""
    with record.locked():
        record.end_interrupted_runs()
        return _run_stages(preset, data, record, sink, control, pool)


def _run_stages(
    preset: Preset,
    data: Dataset,
    record: TuneRecord,
    sink: Callable[[Any], None],
    control: TuneControl,
    pool: TrialPool,
) -> TuneEnded:
    t0 = time.perf_counter()
    state = read_state(record)
    tune = work.Tune(preset, data, record, state, sink, control, pool)
    names = tuple(s.name for s in STAGES)
    if (
        state.any_entry()
    ):  # the records it reads back are checked before any stage runs: one edited by hand is bad input
        write_report(record, state)
    sink(
        TuneStarted(
            preset.name,
            str(record.path),
            names,
            dataclasses.asdict(preset.tune),
            pool.where,
            resumed=state.any_entry(),
        )
    )
    status, reason = "finished", "every stage done"
    for number, stage in enumerate(STAGES, 1):
        done = state.entry(stage.name)
        if done is not None and done.done:
            sink(TuneStageStarted(stage.name, number, len(STAGES), done.plan, resumed=True))
            sink(_ended_event(stage.name, done, resumed=True))
            continue
        if control.stopped:
            status, reason = "stopped", control.reason
            break
        plan = stage.plan(preset, state)
        sink(TuneStageStarted(stage.name, number, len(STAGES), plan, resumed=False))
        s0 = time.perf_counter()
        out = stage.run(tune)
        entry = StageEntry(plan, out.verdict, out.summary, out.result, out.path, time.perf_counter() - s0)
        state.set_entry(stage.name, entry)
        state.save(record)
        sink(_ended_event(stage.name, entry, resumed=False))
        write_report(record, state)
        if out.verdict == "stopped":
            status, reason = "stopped", control.reason
            break
        if out.verdict == "failed":
            status, reason = "failed", f"{stage.name}: {out.summary}"
            break
    finished = status == "finished"
    final = state.result("final", FinalResult) if finished else None
    ended = TuneEnded(
        status=status,
        reason=reason,
        best_val_acc=final.best_val_acc if final else None,
        tuned_preset=str(record.tuned_path) if finished else None,
        report=str(record.report_path),
        path=str(record.path),
        elapsed_s=time.perf_counter() - t0,
        test_acc=final.test_acc if final else None,
        n_test=final.n_test if final else 0,
    )
    write_report(record, state)
    sink(ended)
    return ended


def _ended_event(name: str, entry: StageEntry, resumed: bool) -> TuneStageEnded:
    return TuneStageEnded(
        name, entry.verdict, entry.summary, entry.result.to_json(), entry.path, entry.elapsed_s, resumed
    )

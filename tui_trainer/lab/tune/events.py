"""The events of a tune, in the order a sink receives them: TuneStarted, then
TuneStageStarted / TuneStageEnded per stage, TuneEnded last. Between them go
the searches' TrialEnded and the final run's Epoch events, for progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


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
    test_acc: float | None = None  # the final run's on the test split: the held-out figure (None: no test split)
    n_test: int = 0

"""What each stage found, typed, and state.json as these types.

The stages hand each other these frozen results (the coarse search's
`next_ranges` is the fine search's ranges, and so on). state.json holds their
JSON form, the same as the `result` of each `tune_stage_ended` event; a file
that is not that form (edited by hand, cut short) is a UserError naming the
file and the field, read through `from_json`, never a traceback later.

The paths a state holds (each stage's record, a search begun, the final run,
tuned.toml) are paths in the tune folder in memory and in the events; the
file names them inside the tune folder (records/tune_folder.py: `relative`,
`inside`), so a tune folder moved or resumed from anywhere reads the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from ...errors import UserError
from ...records.tune_folder import TuneRecord
from ...records.typed_json import BadField, read_as, show
from ..checks import CheckResult
from ..search.leaders import Leader
from ..search.space import TrialResult

VERDICTS = ("passed", "failed", "done", "stopped")
DONE = ("passed", "done")  # the verdicts of a stage that --resume skips


# --- the results -----------------------------------------------------------------


@dataclass(frozen=True)
class ChecksResult:
    checks: tuple[CheckResult, ...]  # in the order they ran, up to the first failure
    failed: str | None = None  # the check that stopped the tune
    remedy: str | None = None

    def to_json(self) -> dict:
        d: dict[str, Any] = {"checks": [c.to_dict() for c in self.checks]}
        if self.failed is not None:
            d |= {"failed": self.failed, "remedy": self.remedy}
        return d

    def lacks(self) -> str | None:
        return None


@dataclass(frozen=True)
class LrFindResult:
    suggested_lr: float | None
    suggestions: dict[str, float | None]  # method -> the median over the seeds
    spread: tuple[float, float] | None  # lowest, highest suggestion: the coarse search's lr range

    def to_json(self) -> dict:
        return _plain(self)

    def lacks(self) -> str | None:
        """What a done lr-find must have and this lacks: the coarse search's ranges come from it."""
        return "spread" if self.spread is None else None


@dataclass(frozen=True)
class SearchStageResult:
    best: TrialResult | None
    ranking: tuple[TrialResult, ...]  # best first: the final stage's candidates come from the fine one's
    warnings: tuple[str, ...]  # edge-of-range warnings
    next_ranges: dict[str, list[float]] | None  # the search's suggestion (its JSON form): the next stage's ranges
    trials: int
    leaders: tuple[Leader, ...] = ()  # [search] leader_seeds: the leaders over seeds, the best mean first

    def to_json(self) -> dict:
        d = _plain(self)
        if not self.leaders:  # a state.json from before, or without leader_seeds, writes back the same
            del d["leaders"]
        return d

    def lacks(self) -> str | None:
        """What a done search must have and this lacks: the next stage starts from it."""
        if self.best is None:
            return "best"
        if self.next_ranges is None:
            return "next_ranges"
        return next((f"next_ranges.{k}" for k in ("learning_rate", "reg") if k not in self.next_ranges), None)


@dataclass(frozen=True)
class Candidate:
    """A fine trial continued to final_epochs."""

    trial: str
    learning_rate: float
    reg: float
    status: str
    best_val_acc: float | None
    best_epoch: int | None


@dataclass(frozen=True)
class FinalResult:
    best_val_acc: float | None  # the final run's
    best_epoch: int | None
    learning_rate: float
    reg: float
    status: str  # the final run's
    run: str  # its folder
    trial: str  # the candidate it continued
    candidates: tuple[Candidate, ...]
    tuned_preset: str | None = None  # tuned.toml, once the final run finished
    # The final run's best parameters on the test split, read once the run finished (None: no
    # test examples, or a state.json from before it was read).
    test_acc: float | None = None
    n_test: int = 0
    # [tune] leader_seeds: the best candidates over seeds, the best mean first (the final run's)
    leaders: tuple[Leader, ...] = ()
    PATHS: ClassVar[tuple[str, ...]] = ("run", "tuned_preset")  # named inside the tune folder in state.json

    def to_json(self) -> dict:
        d = _plain(self)
        if self.tuned_preset is None:
            del d["tuned_preset"]
        if self.test_acc is None:  # a state.json from before the test split was read writes back the same
            del d["test_acc"], d["n_test"]
        if not self.leaders:  # nor one from before leader_seeds, or without it
            del d["leaders"]
        return d

    def lacks(self) -> str | None:
        return "tuned_preset" if self.tuned_preset is None else None


StageResult = ChecksResult | LrFindResult | SearchStageResult | FinalResult
R = TypeVar("R", ChecksResult, LrFindResult, SearchStageResult, FinalResult)


@dataclass(frozen=True)
class StageEntry(Generic[R]):
    """A stage as it ended: what it planned, its verdict, what it found."""

    plan: str
    verdict: str  # passed | failed | done | stopped
    summary: str
    result: R
    path: str  # its record (a file or folder in the tune folder), or ""
    elapsed_s: float

    @property
    def done(self) -> bool:
        return self.verdict in DONE

    def to_json(self) -> dict:
        return {
            "plan": self.plan,
            "verdict": self.verdict,
            "summary": self.summary,
            "result": self.result.to_json(),
            "path": self.path,
            "elapsed_s": self.elapsed_s,
        }


# --- state.json --------------------------------------------------------------------


class TuneState:
    """state.json as types: each stage's entry as it ended, and the record folder a
    stage began (`coarse_folder`: a search begun and not ended, which --resume
    reopens). Keys keep the order they were set in, as the file does."""

    def __init__(self, items: dict[str, StageEntry | str] | None = None):
        self._items: dict[str, StageEntry | str] = dict(items or {})

    def entry(self, stage: str) -> StageEntry | None:
        e = self._items.get(stage)
        return e if isinstance(e, StageEntry) else None

    def result(self, stage: str, kind: type[R]) -> R:
        """The result of a stage that ended (the stage after it runs only then)."""
        e = self.entry(stage)
        assert e is not None and isinstance(e.result, kind), f"{stage} has no {kind.__name__}"
        return e.result

    def set_entry(self, stage: str, entry: StageEntry) -> None:
        self._items[stage] = entry

    def folder(self, stage: str) -> str | None:
        f = self._items.get(_folder_key(stage))
        return f if isinstance(f, str) else None

    def set_folder(self, stage: str, path: str) -> None:
        self._items[_folder_key(stage)] = path

    def any_entry(self) -> bool:
        return any(isinstance(v, StageEntry) for v in self._items.values())

    def to_json(self, record: TuneRecord) -> dict:
        """The state as state.json holds it: its paths named inside `record`'s folder."""
        out: dict[str, Any] = {}
        for k, v in self._items.items():
            if isinstance(v, str):
                out[k] = record.relative(v)
                continue
            d = v.to_json()
            d["path"] = record.relative(v.path)
            for name in getattr(v.result, "PATHS", ()):
                if d["result"].get(name) is not None:
                    d["result"][name] = record.relative(d["result"][name])
            out[k] = d
        return out

    def save(self, record: TuneRecord) -> None:
        record.write_state(self.to_json(record))

    @classmethod
    def from_json(cls, data: Any, results: Mapping[str, type], record: TuneRecord) -> TuneState:
        """The state in `data` (state.json of `record`); `results`: each stage's name -> its
        result type, in order. The paths it names are read as paths in the record's folder."""
        if not isinstance(data, dict):
            raise BadField("(the whole file)", f"expected a JSON object, got {show(data)}")
        folders = {_folder_key(s): s for s in results}
        items: dict[str, StageEntry | str] = {}
        for key, value in data.items():
            if key in results:
                items[key] = _entry(value, results[key], key, record)
            elif key in folders:
                items[key] = record.inside(read_as(str, value, key), key)
            else:
                allowed = ", ".join(k for s in results for k in (s, _folder_key(s)))
                raise BadField(key, f"not a key tune writes (it writes {allowed})")
        return cls(items)

    @classmethod
    def read(cls, record: TuneRecord, results: Mapping[str, type]) -> TuneState:
        """The record's state.json; a UserError naming the file and the field when it is not one tune wrote."""
        path = record.state_path
        try:
            return cls.from_json(record.read_state(), results, record)
        except BadField as e:
            raise UserError(f"{path}: {e.field}: {e.what}; mend it, or start a new tune without --resume") from None


def _folder_key(stage: str) -> str:
    return f"{stage}_folder"


def _entry(value: Any, result: type, at: str, record: TuneRecord) -> StageEntry:
    if not isinstance(value, dict):
        raise BadField(at, f"expected a stage's entry (a JSON object), got {show(value)}")
    missing = [f.name for f in dataclasses.fields(StageEntry) if f.name not in value]
    if missing:
        raise BadField(f"{at}.{missing[0]}", "missing")
    verdict = read_as(str, value["verdict"], f"{at}.verdict")
    if verdict not in VERDICTS:
        raise BadField(f"{at}.verdict", f"{verdict!r} is not one of {', '.join(VERDICTS)}")
    read = read_as(result, value["result"], f"{at}.result")
    lacks = read.lacks() if verdict in DONE else None
    if lacks:
        raise BadField(f"{at}.result.{lacks}", f"missing, but the stage is {verdict}: what comes next needs it")
    paths = {
        name: record.inside(getattr(read, name), f"{at}.result.{name}")
        for name in getattr(read, "PATHS", ())
        if getattr(read, name) is not None
    }
    if paths:
        read = dataclasses.replace(read, **paths)
    return StageEntry(
        plan=read_as(str, value["plan"], f"{at}.plan"),
        verdict=verdict,
        summary=read_as(str, value["summary"], f"{at}.summary"),
        result=read,
        path=record.inside(read_as(str, value["path"], f"{at}.path"), f"{at}.path"),
        elapsed_s=read_as(float, value["elapsed_s"], f"{at}.elapsed_s"),
    )


# --- the types as JSON (read back by their annotations: records/typed_json.py) ----------------


def _plain(obj: Any) -> Any:
    """The JSON form of a result: dataclasses as objects, tuples as lists; a search
    trial as its own flat form (its values among its fields, as its events have them)."""
    if isinstance(obj, TrialResult):
        return _plain(obj.json_fields())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj

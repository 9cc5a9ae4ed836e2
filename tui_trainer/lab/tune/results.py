"""What each stage found, typed, and state.json as these types.

The stages hand each other these frozen results (the coarse search's
`next_ranges` is the fine search's ranges, and so on). state.json holds their
JSON form, the same as the `result` of each `tune_stage_ended` event; a file
that is not that form (edited by hand, cut short) is a UserError naming the
file and the field, read through `from_json`, never a traceback later.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, Union

from ...config import SEARCHED
from ...errors import UserError
from ...records.tune_folder import TuneRecord
from ..checks import CheckResult
from ..search.space import TrialResult

VERDICTS = ("passed", "failed", "done", "stopped")
DONE = ("passed", "done")  # the verdicts of a stage that --resume skips


class BadState(ValueError):
    """A field of state.json that is not what tune wrote: `field` is its dotted path."""

    def __init__(self, field: str, what: str):
        super().__init__(f"{field}: {what}")
        self.field, self.what = field, what


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

    def to_json(self) -> dict:
        return _plain(self)

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

    def to_json(self) -> dict:
        d = _plain(self)
        if self.tuned_preset is None:
            del d["tuned_preset"]
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

    def to_json(self) -> dict:
        return {k: v if isinstance(v, str) else v.to_json() for k, v in self._items.items()}

    def save(self, record: TuneRecord) -> None:
        record.write_state(self.to_json())

    @classmethod
    def from_json(cls, data: Any, results: Mapping[str, type]) -> TuneState:
        """The state in `data`; `results`: each stage's name -> its result type, in order."""
        if not isinstance(data, dict):
            raise BadState("(the whole file)", f"expected a JSON object, got {_show(data)}")
        folders = {_folder_key(s): s for s in results}
        items: dict[str, StageEntry | str] = {}
        for key, value in data.items():
            if key in results:
                items[key] = _entry(value, results[key], key)
            elif key in folders:
                items[key] = _read(str, value, key)
            else:
                allowed = ", ".join(k for s in results for k in (s, _folder_key(s)))
                raise BadState(key, f"not a key tune writes (it writes {allowed})")
        return cls(items)

    @classmethod
    def read(cls, record: TuneRecord, results: Mapping[str, type]) -> TuneState:
        """The record's state.json; a UserError naming the file and the field when it is not one tune wrote."""
        path = record.state_path
        try:
            return cls.from_json(record.read_state(), results)
        except BadState as e:
            raise UserError(f"{path}: {e.field}: {e.what}; mend it, or start a new tune without --resume") from None


def _folder_key(stage: str) -> str:
    return f"{stage}_folder"


def _entry(value: Any, result: type, at: str) -> StageEntry:
    if not isinstance(value, dict):
        raise BadState(at, f"expected a stage's entry (a JSON object), got {_show(value)}")
    missing = [f.name for f in dataclasses.fields(StageEntry) if f.name not in value]
    if missing:
        raise BadState(f"{at}.{missing[0]}", "missing")
    verdict = _read(str, value["verdict"], f"{at}.verdict")
    if verdict not in VERDICTS:
        raise BadState(f"{at}.verdict", f"{verdict!r} is not one of {', '.join(VERDICTS)}")
    read = _read(result, value["result"], f"{at}.result")
    lacks = read.lacks() if verdict in DONE else None
    if lacks:
        raise BadState(f"{at}.result.{lacks}", f"missing, but the stage is {verdict}: what comes next needs it")
    return StageEntry(
        plan=_read(str, value["plan"], f"{at}.plan"),
        verdict=verdict,
        summary=_read(str, value["summary"], f"{at}.summary"),
        result=read,
        path=_read(str, value["path"], f"{at}.path"),
        elapsed_s=_read(float, value["elapsed_s"], f"{at}.elapsed_s"),
    )


# --- JSON <-> the types, by their annotations ---------------------------------------------


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


def _read(hint: Any, value: Any, at: str) -> Any:
    """`value` (read from JSON) as the type `hint`, or BadState naming the field `at`.
    Numbers stay as JSON gave them (an int where a float is declared), so a file
    read and written again is the same file."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        problems = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _read(option, value, at)
            except BadState as e:
                problems.append(e)
        raise problems[0] if len(problems) == 1 else BadState(at, f"{_show(value)} is not {_name(hint)}")
    if hint is Any:
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadState(at, f"expected a number, got {_show(value)}")
        return value
    if hint in (int, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise BadState(at, f"expected {_name(hint)}, got {_show(value)}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise BadState(at, f"expected a list, got {_show(value)}")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis) and len(value) != len(args):
            raise BadState(at, f"expected a list of {len(args)}, got {len(value)} item(s)")
        each = [args[0] if args[-1] is Ellipsis or origin is list else args[i] for i in range(len(value))]
        items = [_read(h, v, f"{at}[{i}]") for i, (h, v) in enumerate(zip(each, value))]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise BadState(at, f"expected a JSON object, got {_show(value)}")
        return {k: _read(args[1], v, f"{at}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _read_dataclass(hint, value, at)
    raise AssertionError(f"no reading of {hint} from JSON")  # a type above tune does not write


def _read_dataclass(cls: type, value: Any, at: str) -> Any:
    if not isinstance(value, dict):
        raise BadState(at, f"expected a JSON object, got {_show(value)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    params: dict[str, Any] | None = None
    if cls is TrialResult:  # its flat form: each searched value a key of its own, null where not searched
        fields.pop("params")
        params = {k: _read(float | None, v, f"{at}.{k}") for k, v in value.items() if k in SEARCHED}
        value = {k: v for k, v in value.items() if k not in SEARCHED}
    for key in value:
        if key not in fields:
            raise BadState(f"{at}.{key}", f"not a field of {cls.__name__} (its fields: {', '.join(fields)})")
    read = {}
    for name, f in fields.items():
        if name in value:
            read[name] = _read(hints[name], value[name], f"{at}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise BadState(f"{at}.{name}", "missing")
    if params is not None:
        read["params"] = {k: v for k, v in params.items() if v is not None}
    return cls(**read)


def _name(hint: Any) -> str:
    names = {float: "a number", int: "an integer", str: "a string", bool: "true or false", type(None): "null"}
    if hint in names:
        return names[hint]
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_name(a) for a in args)
    return getattr(hint, "__name__", str(hint))


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."

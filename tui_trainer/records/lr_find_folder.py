"""The lr-find folder: what one learning-rate range test leaves on disk.

    runs/lr-find-default-20261124-171500-3f2a1c/
        preset.toml    the preset the sweeps started from
        curve.csv      seed, step, learning_rate, loss, smoothed: one row per mini-batch
        result.json    the lr_find_ended event with every sweep (what tune's report reads back)

    path = create("runs", preset)
    write_record(path, sweeps, ended)
    sweeps, ended = read_record(path)     # a UserError naming the file when it cannot be used

The sweep and the result are both events (lab/lr_find.py sends them) and the
record; they live here, below the procedure, as a run's events live in the engine.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..config import Preset, to_toml
from ..engine.events import jsonable
from ..errors import UserError
from .atomic import atomic_write_text, new_record_dir

CURVE_FILE = "curve.csv"
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class LrSweep:
    """One seed's sweep: the rates tried, the raw and smoothed losses, and its suggestions."""

    kind: ClassVar[str] = "lr_find_sweep"
    seed: int
    learning_rates: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed: tuple[float, ...]
    stopped: str  # why the sweep ended
    suggestions: dict[str, float | None]  # method -> lr (None: the curve gave none)


@dataclass(frozen=True)
class LrFindEnded:
    kind: ClassVar[str] = "lr_find_ended"
    status: str  # finished | stopped | failed
    reason: str
    suggested_lr: float | None  # the median minimum/10 over the seeds
    suggestions: dict[str, float | None]  # method -> the median over the seeds
    spread: tuple[float, float] | None  # [lowest, highest] suggestion of every method and seed
    path: str
    elapsed_s: float


def create(runs_dir: str | Path, preset: Preset) -> Path:
    """A new folder `lr-find-PRESET-STAMP-ID/` under runs_dir, with the preset in it."""
    path = new_record_dir(runs_dir, "lr-find-{name}-{stamp}-{id}", preset.name)
    atomic_write_text(path / "preset.toml", to_toml(preset))
    return path


def write_record(path: str | Path, sweeps: Sequence[LrSweep], ended: LrFindEnded) -> None:
    """curve.csv and result.json (the ended event, with every sweep under "sweeps")."""
    path = Path(path)
    rows = ["seed,step,learning_rate,loss,smoothed"]
    for s in sweeps:
        for i, (lr, loss, sm) in enumerate(zip(s.learning_rates, s.losses, s.smoothed), 1):
            rows.append(f"{s.seed},{i},{lr:.6g},{loss:.6g},{sm:.6g}")
    atomic_write_text(path / CURVE_FILE, "\n".join(rows) + "\n")
    result = {"event": ended.kind, **jsonable(ended), "sweeps": [jsonable(s) for s in sweeps]}
    atomic_write_text(path / RESULT_FILE, json.dumps(result, indent=1) + "\n")


def read_record(path: str | Path) -> tuple[list[LrSweep], LrFindEnded]:
    """The sweeps and result of a recorded lr-find. A result.json that cannot be read,
    or was edited into something else, is bad input: a UserError naming the file and
    the first field that is wrong."""
    file = Path(path) / RESULT_FILE
    try:
        d = json.loads(file.read_text(encoding="utf-8"))
    except OSError as e:
        raise UserError(f"{file}: cannot read the lr-find result: {e.strerror or e}") from None
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise UserError(f"{file}: not an lr-find result: not JSON ({e})") from None
    try:
        result = _object(d, "the file")
        sweeps = [_sweep(s, f"sweeps[{i}]") for i, s in enumerate(_list(_get(result, "sweeps", ""), "sweeps"))]
        spread = _get(result, "spread", "")
        ended = LrFindEnded(
            _str(_get(result, "status", ""), "status"),
            _str(_get(result, "reason", ""), "reason"),
            _number(_get(result, "suggested_lr", ""), "suggested_lr", null=True),
            _suggestions(_get(result, "suggestions", ""), "suggestions"),
            None if spread is None else _pair(spread, "spread"),
            _str(_get(result, "path", ""), "path"),
            _number(_get(result, "elapsed_s", ""), "elapsed_s"),
        )
    except _Wrong as e:
        raise UserError(f"{file}: not an lr-find result: {e}") from None
    return sweeps, ended


# --- reading back a file that may have been edited by hand ---------------------------


class _Wrong(Exception):
    """What is wrong with one field, in words."""


def _sweep(value: Any, where: str) -> LrSweep:
    s = _object(value, where)
    lrs = _numbers(_get(s, "learning_rates", where), f"{where}.learning_rates")
    losses = _numbers(_get(s, "losses", where), f"{where}.losses")
    smoothed = _numbers(_get(s, "smoothed", where), f"{where}.smoothed")
    if not len(lrs) == len(losses) == len(smoothed):
        lengths = f"{len(lrs)}, {len(losses)}, {len(smoothed)}"
        raise _Wrong(f"{where}: learning_rates, losses and smoothed differ in length ({lengths})")
    if any(lr <= 0 for lr in lrs):
        raise _Wrong(f"{where}.learning_rates: expected rates above 0 (the curve's axis is logarithmic)")
    seed = _get(s, "seed", where)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise _Wrong(f"{where}.seed: expected a whole number, found {_what(seed)}")
    return LrSweep(
        seed,
        lrs,
        losses,
        smoothed,
        _str(_get(s, "stopped", where), f"{where}.stopped"),
        _suggestions(_get(s, "suggestions", where), f"{where}.suggestions"),
    )


def _get(d: dict[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise _Wrong(f"{where + '.' if where else ''}{key} is missing")
    return d[key]


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Wrong(f"{where}: expected a JSON object, found {_what(value)}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Wrong(f"{where}: expected a list, found {_what(value)}")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _Wrong(f"{where}: expected a string, found {_what(value)}")
    return value


def _number(value: Any, where: str, null: bool = False) -> Any:
    """A finite number as a float (None where null allows it)."""
    if value is None and null:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Wrong(f"{where}: expected a number{' or null' if null else ''}, found {_what(value)}")
    return float(value)


def _numbers(value: Any, where: str) -> tuple[float, ...]:
    return tuple(_number(v, f"{where}[{i}]") for i, v in enumerate(_list(value, where)))


def _pair(value: Any, where: str) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise _Wrong(f"{where}: expected [lowest, highest] or null, found {_what(value)}")
    low, high = _numbers(value, where)
    return low, high


def _suggestions(value: Any, where: str) -> dict[str, float | None]:
    return {str(k): _number(v, f"{where}.{k}", null=True) for k, v in _object(value, where).items()}


def _what(value: Any) -> str:
    """A JSON value's kind, as a message names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return "an object"

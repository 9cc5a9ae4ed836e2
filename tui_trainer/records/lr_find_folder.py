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
from typing import ClassVar

from ..config import Preset, to_toml
from ..engine.events import jsonable
from ..errors import UserError
from .atomic import new_record_dir, record_dirs, write_record_text
from .reading import read_text
from .typed_json import BadField, read_as, show

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
    # What the curve could not say: no sweep diverged (the suggestion is a lower bound),
    # or the loss barely fell. () in records from before them.
    warnings: tuple[str, ...] = ()


def list_lr_finds(runs_dir: str | Path) -> list[tuple[Path, str]]:
    """The lr-find folders under runs_dir (those with a preset.toml), each with its stamp, oldest first."""
    return record_dirs(runs_dir, "lr-find", "preset.toml")


def create(runs_dir: str | Path, preset: Preset) -> Path:
    """A new folder `lr-find-PRESET-STAMP-ID/` under runs_dir, with the preset in it."""
    path = new_record_dir(runs_dir, "lr-find-{name}-{stamp}-{id}", preset.name)
    write_record_text(path / "preset.toml", to_toml(preset), "the lr-find's preset")
    return path


def write_record(path: str | Path, sweeps: Sequence[LrSweep], ended: LrFindEnded) -> None:
    """curve.csv and result.json (the ended event, with every sweep under "sweeps")."""
    path = Path(path)
    rows = ["seed,step,learning_rate,loss,smoothed"]
    for s in sweeps:
        for i, (lr, loss, sm) in enumerate(zip(s.learning_rates, s.losses, s.smoothed), 1):
            rows.append(f"{s.seed},{i},{lr:.6g},{loss:.6g},{sm:.6g}")
    write_record_text(path / CURVE_FILE, "\n".join(rows) + "\n", "the lr-find's curve")
    result = {"event": ended.kind, **jsonable(ended), "sweeps": [jsonable(s) for s in sweeps]}
    write_record_text(path / RESULT_FILE, json.dumps(result, indent=1) + "\n", "the lr-find's result")


def read_record(path: str | Path) -> tuple[list[LrSweep], LrFindEnded]:
    """The sweeps and result of a recorded lr-find. A result.json that cannot be read,
    or was edited into something else, is bad input: a UserError naming the file and
    the first field that is wrong."""
    file = Path(path) / RESULT_FILE
    try:
        d = json.loads(read_text(file))
    except OSError as e:
        raise UserError(f"{file}: cannot read the lr-find result: {e.strerror or e}") from None
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise UserError(f"{file}: not an lr-find result: not JSON ({e})") from None
    try:
        if not isinstance(d, dict):
            raise BadField("(the whole file)", f"expected a JSON object, got {show(d)}")
        if "sweeps" not in d:
            raise BadField("sweeps", "missing")
        ended = read_as(LrFindEnded, {k: v for k, v in d.items() if k not in ("event", "sweeps")}, "")
        sweeps = read_as(list[LrSweep], d["sweeps"], "sweeps")
        for i, s in enumerate(sweeps):
            _check_curve(s, f"sweeps[{i}]")
    except BadField as e:
        raise UserError(f"{file}: {e.field}: {e.what}") from None
    return sweeps, ended


def _check_curve(s: LrSweep, at: str) -> None:
    """What the curve's plot needs beyond the types: a point per mini-batch, on a log axis."""
    lengths = (len(s.learning_rates), len(s.losses), len(s.smoothed))
    if len(set(lengths)) > 1:
        raise BadField(at, f"learning_rates, losses and smoothed differ in length ({', '.join(map(str, lengths))})")
    for name in ("learning_rates", "losses", "smoothed"):
        for i, v in enumerate(getattr(s, name)):
            if not math.isfinite(v) or (name == "learning_rates" and v <= 0):
                what = (
                    "a rate above 0 (the curve's axis is logarithmic)"
                    if name == "learning_rates"
                    else "a finite number"
                )
                raise BadField(f"{at}.{name}[{i}]", f"expected {what}, got {show(v)}")

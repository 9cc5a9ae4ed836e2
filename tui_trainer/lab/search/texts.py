"""The words both search faces show (the command and the workbench's search view)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ...formatting import accuracy, plural
from ...searched import LOG, SEARCHED
from .refine import NEXT_PRESET
from .runner import SearchEnded, SearchStarted
from .space import TrialResult


def in_order(names) -> list[str]:
    """SEARCHED's order, then any other key (a store written with a key since removed)."""
    names = list(names)
    return [k for k in SEARCHED if k in names] + [k for k in names if k not in SEARCHED]


def _is_log(name: str) -> bool:
    return name in SEARCHED and SEARCHED[name].sample == LOG


def heading(name: str) -> str:
    """A searched key as a table's column heading: "learning rate", "batch size"."""
    return name.replace("_", " ")


def fmt_value(name: str, value: float | None) -> str:
    """One searched value: a log value to 3 significant digits, a choice as it is; "" for none."""
    if value is None:
        return ""
    return f"{value:.3g}" if _is_log(name) else str(value)


def fmt_range(ranges: Mapping[str, Sequence[float]]) -> str:
    """A stage's ranges in one line: "learning_rate 1e-06..0.1, reg 1e-05..10, hidden [20, 40]"."""
    parts = []
    for name in in_order(k for k, r in ranges.items() if r):
        r = ranges[name]
        parts.append(f"{name} {r[0]:.3g}..{r[1]:.3g}" if _is_log(name) else f"{name} {list(r)}")
    return ", ".join(parts)


def fmt_values(params: Mapping[str, float]) -> str:
    """A trial's values in one line: "lr 0.0012  reg 3.4e-05  hidden 40"."""
    return "  ".join(f"{SEARCHED[k].label if k in SEARCHED else k} {fmt_value(k, params[k])}" for k in in_order(params))


def trial_line(r: TrialResult) -> str:
    """An ended trial in one line: its id, best val accuracy and sampled values."""
    return f"{r.trial_id}  val acc {accuracy(r.best_val_acc)}  {fmt_values(r.params)}"


def describe_start(e: SearchStarted) -> str:
    stages = ", ".join(f"{plural(s.trials, 'trial')} x {plural(s.epochs, 'epoch')}" for s in e.stages)
    text = (
        f"search {e.preset}: {plural(len(e.stages), 'stage')} ({stages}), keep {e.keep}, seed {e.seed}, "
        f"on {e.where}; recording in {e.path}"
    )
    if e.resumed:
        text += f"; resuming with {plural(e.trials_done, 'trial')} already recorded"
    return text


def describe_end(e: SearchEnded) -> list[str]:
    lines = [f"search {e.status} in {e.elapsed_s:.1f}s: {plural(e.trials, 'trial')} recorded in {e.path}"]
    if e.status != "finished":
        lines.append(f"  ({e.reason})")
    if e.best is not None:
        chosen = f", the best mean over {e.leaders[0].seeds} seeds" if e.leaders else ""
        lines.append(f"best: {trial_line(e.best)}  (stage {e.best.stage}, {plural(e.best.epochs, 'epoch')}{chosen})")
    return lines


def fmt_next(ranges: Mapping[str, Sequence[float]]) -> str:
    """Suggested ranges (SearchEnded.next_ranges) in one line."""
    return ", ".join(
        f"{name} {_pair(ranges[name]) if _is_log(name) else list(ranges[name])}" for name in in_order(ranges)
    )


def _pair(bounds) -> str:
    return f"[{bounds[0]:.2g}, {bounds[1]:.2g}]"


def describe_next(e: SearchEnded) -> list[str]:
    """The suggested next, finer search: its ranges, where its preset is and the command that runs it."""
    if e.next_ranges is None:
        return []
    folder = Path(e.path)
    return [
        f"next, finer search: {fmt_next(e.next_ranges)}",
        f"  saved as {folder / NEXT_PRESET}; run it with: tui-trainer search --refine {folder}",
    ]

"""The words both search faces show (the command and the workbench's search view)."""

from __future__ import annotations

from pathlib import Path

from ...formatting import accuracy, plural
from .refine import NEXT_PRESET
from .runner import SearchEnded, SearchStarted
from .space import Ranges, TrialResult


def fmt_range(r: Ranges) -> str:
    text = f"learning_rate {r.learning_rate[0]:.3g}..{r.learning_rate[1]:.3g}, reg {r.reg[0]:.3g}..{r.reg[1]:.3g}"
    if r.hidden:
        text += f", hidden {list(r.hidden)}"
    if r.batch_size:
        text += f", batch_size {list(r.batch_size)}"
    return text


def fmt_values(t) -> str:
    text = f"lr {t.learning_rate:.3g}  reg {t.reg:.3g}"
    if t.hidden is not None:
        text += f"  hidden {t.hidden}"
    if t.batch_size is not None:
        text += f"  batch {t.batch_size}"
    return text


def trial_line(r: TrialResult) -> str:
    """An ended trial in one line: its id, best val accuracy and sampled values."""
    return f"{r.trial_id}  val acc {accuracy(r.best_val_acc)}  {fmt_values(r)}"


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
        lines.append(f"best: {trial_line(e.best)}  (stage {e.best.stage}, {plural(e.best.epochs, 'epoch')})")
    return lines


def fmt_next(ranges: dict) -> str:
    """Suggested ranges (SearchEnded.next_ranges) in one line."""
    text = f"learning_rate {_pair(ranges['learning_rate'])}, reg {_pair(ranges['reg'])}"
    for key in ("hidden", "batch_size"):
        if key in ranges:
            text += f", {key} {ranges[key]}"
    return text


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

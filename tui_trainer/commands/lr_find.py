"""`tui-trainer lr-find PRESET [--set KEY=VALUE]... [--json] [--runs-dir DIR]`: the
learning-rate range test (lr_find.py) from the preset's initial weights, three
seeds, every usual suggestion with its median and spread.

- a terminal or a pipe: a table of the suggestions (median, each seed, spread),
  then the smoothed loss against the learning rate on a log axis (plotext),
  with the suggestions marked;
- `--json`: JSON Lines: `lr_find_started`, one `lr_find_sweep` per seed (its
  curve and suggestions), and `lr_find_ended` with `suggested_lr`,
  `suggestions`, `spread`, `warnings` and `path`.

Warnings say what the curve could not: no sweep diverged up to lr 10 (the
suggestion is then a lower bound, printed as "at least"), or the loss barely
fell (the sweeps ran on a small init's plateau).

The curve is recorded in `RUNS_DIR/lr-find-PRESET-STAMP-ID/` (curve.csv,
result.json, preset.toml). Ctrl+C, SIGTERM or a hangup stops it within one mini-batch
and keeps the sweeps done.

Exit status: 0 done, 1 no rate lowered the loss, 2 bad input, 130 stopped.
"""

from __future__ import annotations

import sys

from ..config import load_preset
from ..threads import apply_training_blas_threads
from ..usertext import markup, one_line
from .console import StopOnSignals, exit_status, preflight, rich_console, say


def command(args) -> int:
    apply_training_blas_threads()  # before NumPy loads (hence the imports here)
    from ..datasets import load_dataset
    from ..engine import RunControl
    from ..engine.events import event_line
    from ..lab.lr_find import LrFindEnded, LrSweep, find_lr

    preset = load_preset(args.preset, args.overrides)
    data = load_dataset(preset.data, source=preset.where)
    preflight(preset, data)
    control = RunControl()
    sweeps: list[LrSweep] = []

    def sink(event) -> None:
        if args.json:
            sys.stdout.write(event_line(event) + "\n")
            sys.stdout.flush()
        elif isinstance(event, LrSweep):
            sweeps.append(event)

    # A hangup (the terminal went away) stops it as it stops a run.
    with StopOnSignals(lambda name: control.stop(f"interrupted by {name}"), hangup=True):
        if args.json:
            ended = find_lr(preset, data, sink, runs_dir=args.runs_dir, control=control)
        else:
            console = rich_console(stderr=False)
            with console.status(f"lr-find on {markup(preset.name)} ({data.name}): 3 sweeps..."):
                ended = find_lr(preset, data, sink, runs_dir=args.runs_dir, control=control)
            show(console, preset.name, data.name, sweeps, ended)
    if ended.status != "finished":
        say(f"tui-trainer: lr-find {ended.status}: {one_line(ended.reason)}")
    assert isinstance(ended, LrFindEnded)
    return exit_status(ended.status)


def show(console, preset_name: str, data_name: str, sweeps, ended) -> None:
    """The table of suggestions, the plot, and what to do with the result."""
    from rich.table import Table

    from ..formatting import hyperparameter
    from ..lab.lr_find import METHODS, STOP_FACTOR, SUGGESTED, curve_text, suggestion_is_lower_bound

    def fmt(v) -> str:
        return "-" if v is None else hyperparameter(v)

    table = Table(
        title=f"lr-find: {markup(preset_name)} on {markup(data_name)} (reg 0, from the preset's initial weights)"
    )
    table.add_column("method")
    table.add_column("median", justify="right")
    for s in sweeps:
        table.add_column(f"seed {s.seed}", justify="right")
    for method in METHODS:
        name = f"{method} (suggested)" if method == SUGGESTED else method
        table.add_row(name, fmt(ended.suggestions.get(method)), *(fmt(s.suggestions.get(method)) for s in sweeps))
    console.print(table)
    for s in sweeps:
        console.print(f"seed {s.seed}: {len(s.learning_rates)} mini-batches; {markup(s.stopped)}", highlight=False)
    if sweeps:
        console.print(
            curve_text(sweeps, ended.suggestions, width=min(console.width, 100)), highlight=False, markup=False
        )
    for warning in ended.warnings:
        console.print(f"warning: {warning}", highlight=False, markup=False)
    if ended.suggested_lr is not None and ended.spread is not None:
        lo, hi = ended.spread
        bound = "at least " if suggestion_is_lower_bound(sweeps) else ""
        console.print(
            f"suggested learning rate: {bound}{hyperparameter(ended.suggested_lr)} (the median of {len(sweeps)} "
            f"seeds' {SUGGESTED}); every suggestion lies in [{hyperparameter(lo)}, {hyperparameter(hi)}]: "
            f"a search should cover that range. The sweep stops at {STOP_FACTOR:g}x the best smoothed loss.",
            highlight=False,
        )
        console.print(
            f"try it: tui-trainer run {markup(preset_name)} --set train.learning_rate={ended.suggested_lr:.3g}",
            highlight=False,
        )
    if ended.path:
        console.print(f"recorded in {markup(ended.path)}", highlight=False)

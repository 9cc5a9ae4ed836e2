"""`tui-trainer runs [--runs-dir DIR]`: past runs, oldest first, newest next to the prompt.

Each row: the run's name, when it started, how it ended, its best val accuracy,
learning rate, reg and batch size. A run folder is named DATE-TIME-PRESET-ID;
when the terminal is too narrow for the whole name next to the date column,
the name is shown without its date-time prefix (the date column has it), and
it wraps rather than being cut.
"""

from __future__ import annotations

from pathlib import Path

from .errors import UserError
from .runs import RunInfo, list_runs

STATUS_STYLE = {"finished": "green", "exploded": "red", "failed": "red", "stopped": "yellow",
                "incomplete": "dim"}
STAMP_LEN = len("20261124-171500-")


def command(args) -> int:
    if getattr(args, "export_weights", None):
        from . import export_cli
        return export_cli.command(args)
    from rich.console import Console

    console = Console()
    if Path(args.runs_dir).exists() and not Path(args.runs_dir).is_dir():
        raise UserError(f"{args.runs_dir}: --runs-dir must be a folder, and this is a file")
    runs = list_runs(args.runs_dir)
    if not runs:
        console.print(f"no runs in {args.runs_dir}/ yet (start one with: tui-trainer run default)",
                      highlight=False)
        return 0
    console.print(runs_table(runs, args.runs_dir, console.width))
    return 0


def runs_table(runs: list[RunInfo], runs_dir: str, width: int):
    from rich.table import Table

    full = max(len(r.name) for r in runs)
    others = 16 + max(len(r.status) for r in runs) + 7 + 7 + 7 + 5 + 2 * 6  # the other columns and the gaps
    short = width < full + others
    table = Table(title=f"Runs in {runs_dir}/", title_justify="left", title_style="bold", box=None,
                  header_style="bold", pad_edge=False, padding=(0, 1))
    table.add_column("run", overflow="fold", min_width=min(full, 14))
    table.add_column("date", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for name in ("val acc", "lr", "reg", "batch"):
        table.add_column(name, justify="right", no_wrap=True)
    for r in runs:
        table.add_row(
            _short_name(r.name) if short else r.name,
            r.started_at[5:16] if short else r.started_at[:16],
            f"[{STATUS_STYLE.get(r.status, '')}]{r.status}[/]",
            "" if r.best_val_acc is None else f"{r.best_val_acc:.3f}",
            _number(r.learning_rate),
            _number(r.reg),
            "" if r.batch_size is None else str(r.batch_size),
        )
    return table


def _number(v: float | None) -> str:
    """At most 7 characters, as people write them: 0.001, 0.0297, 2.97e-5, 0."""
    if v is None:
        return ""
    text = f"{v:.3g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def _short_name(name: str) -> str:
    """20261124-171500-default-3f2a9c -> default-3f2a9c; other names as they are."""
    stamp = name[:STAMP_LEN]
    if len(name) > STAMP_LEN and stamp[:8].isdigit() and stamp[8] == "-" and stamp[9:15].isdigit():
        return name[STAMP_LEN:]
    return name

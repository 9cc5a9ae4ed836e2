"""`tui-trainer runs`: past runs in the run directory."""

from __future__ import annotations

from .runs import list_runs


def command(args) -> int:
    if getattr(args, "export_weights", None):
        from . import export_cli
        return export_cli.command(args)
    from rich.console import Console
    from rich.table import Table

    runs = list_runs(args.runs_dir)
    console = Console()
    if not runs:
        console.print(f"no runs in {args.runs_dir}/ yet (start one with: tui-trainer run default)")
        return 0
    table = Table(title=f"Runs in {args.runs_dir}/")
    for col in ("run", "date", "status", "best val acc", "learning rate", "reg", "batch size"):
        table.add_column(col, justify="right" if col not in ("run", "date", "status") else "left")
    for r in runs:
        table.add_row(
            r.name, r.started_at, r.status,
            "" if r.best_val_acc is None else f"{r.best_val_acc:.3f}",
            "" if r.learning_rate is None else f"{r.learning_rate:.2e}",
            "" if r.reg is None else f"{r.reg:.2e}",
            "" if r.batch_size is None else str(r.batch_size),
        )
    console.print(table)
    return 0

"""`tui-trainer presets`: the shipped presets with their descriptions."""

from __future__ import annotations

from .config import list_presets


def command(args) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Presets (tui-trainer run NAME, tui-trainer ui NAME)")
    table.add_column("name", style="bold")
    table.add_column("data")
    table.add_column("description", overflow="fold")
    for p in list_presets():
        table.add_row(p.name, p.data.dataset, p.description)
    Console().print(table)
    return 0

"""`tui-trainer check PRESET [--set KEY=VALUE]... [--json]`: the lecture's four sanity checks,
as a table or one JSON object.

Exit status: 0 all passed, 1 some failed, 2 bad input.
"""

from __future__ import annotations

import json

from ..config import load_preset
from ..threads import apply_training_blas_threads
from ..usertext import markup
from .console import FAILED, OK, preflight, rich_console


def command(args) -> int:
    # The checks train: the same BLAS threads policy as a run, before NumPy loads
    # (hence the imports here).
    apply_training_blas_threads()
    from ..datasets import load_dataset
    from ..lab.checks import CHECKS, iter_checks, run_checks

    preset = load_preset(args.preset, args.overrides)
    data = load_dataset(preset.data, source=preset.where)
    preflight(preset, data)  # bad input, before anything is recorded
    results = []
    if args.json:
        results = run_checks(preset, data)
        print(
            json.dumps(
                {
                    "preset": preset.name,
                    "checks": [r.to_dict() for r in results],
                    "passed": all(r.passed for r in results),
                }
            )
        )
    else:
        from rich.table import Table

        console = rich_console(stderr=False)
        name = markup(preset.name)
        with console.status(f"checking {name} on {data.name}...") as status:
            for r in iter_checks(preset, data):
                results.append(r)
                status.update(f"checking {name}: {len(results)}/{len(CHECKS)} done")
        table = Table(title=f"Sanity checks: {name} on {data.name} ({data.num_classes} classes)")
        for col in ("check", "value", "expected", "verdict", "advice"):
            table.add_column(col, overflow="fold")
        for r in results:
            verdict = "[green]pass[/]" if r.passed else "[bold red]FAIL[/]"
            table.add_row(r.name, markup(r.value), markup(r.expected), verdict, markup(r.advice))
        console.print(table)
    return OK if all(r.passed for r in results) else FAILED

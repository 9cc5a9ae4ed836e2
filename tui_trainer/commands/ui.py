"""`tui-trainer [ui] [PRESET] [--set KEY=VALUE]... [--runs-dir DIR] [--screenshots DIR]`: open the workbench.

Bad presets and keys fail here, before the screen opens.

Exit status: 0 when the workbench is closed, 2 bad input.
"""

from __future__ import annotations

from ..config import load_preset
from ..threads import apply_training_blas_threads


def command(args) -> int:
    # The workbench's policy: its trainer leaves the app a core (threads.py); it
    # must come before NumPy loads, hence the import here.
    apply_training_blas_threads("workbench")
    from ..ui.app import WorkbenchApp

    preset = load_preset(args.preset, args.overrides)
    app = WorkbenchApp(preset, runs_dir=args.runs_dir, screenshots_dir=args.screenshots)
    app.run()
    return app.return_code or 0

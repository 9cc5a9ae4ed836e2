"""`tui-trainer [ui] [PRESET] [--set KEY=VALUE]... [--runs-dir DIR] [--screenshots DIR]`: open the workbench.

Bad presets and keys fail here, before the screen opens; so does a missing
terminal (`tui-trainer </dev/null >out`, a cron job): the workbench would
write escape codes into the file until killed, where `run` is what was meant.

Exit status: 0 when the workbench is closed, 2 bad input or no terminal.
"""

from __future__ import annotations

import sys

from ..config import load_preset
from ..errors import EnvironmentProblem
from ..threads import apply_training_blas_threads
from .console import is_terminal


def check_terminal() -> None:
    """The workbench draws on a terminal and reads its keys: both ends must be one."""
    if not (is_terminal(sys.stdout) and is_terminal(sys.stdin)):
        raise EnvironmentProblem(
            "the workbench needs a terminal (stdin and stdout), and this has none; "
            "to train without one: tui-trainer run PRESET (tui-trainer --help lists the commands)"
        )


def command(args) -> int:
    preset = load_preset(args.preset, args.overrides)  # a bad preset is the first thing to say
    check_terminal()
    # The workbench's policy: its trainer leaves the app a core (threads.py); it
    # must come before NumPy loads, hence the import here.
    apply_training_blas_threads("workbench")
    from ..ui.app import WorkbenchApp

    app = WorkbenchApp(preset, runs_dir=args.runs_dir, screenshots_dir=args.screenshots)
    app.run()
    return app.return_code or 0

"""`tui-trainer [ui] [PRESET] [--set KEY=VALUE]... [--runs-dir DIR] [--screenshots DIR]`: open the workbench.

Bad presets and keys fail here, before the screen opens; so does a console that is
no terminal (stdin, stdout or stderr closed, redirected or piped): the workbench would
draw for nobody, or wait for keys that never come. Served in a browser (`tui-trainer
serve` runs it with Textual's web driver), its keys and screen are pipes to the server.
Once open, SIGTERM, a hangup or a terminal that goes away (served: the server) quit it
as q does (ui/terminal.py), the running run recorded; exit status 130 then.

Exit status: 0 when the workbench is closed, 2 bad input (or no terminal), 130 closed by a
signal or the terminal going away.
"""

from __future__ import annotations

import os
import sys

from ..config import load_preset
from ..errors import UserError
from ..threads import apply_training_blas_threads


def command(args) -> int:
    # The workbench's policy: its trainer leaves the app a core (threads.py); it
    # must come before NumPy loads, hence the import here.
    apply_training_blas_threads("workbench")
    from ..ui.app import WorkbenchApp

    preset = load_preset(args.preset, args.overrides)
    need_a_terminal(f"train without one: tui-trainer run {args.preset}")
    app = WorkbenchApp(preset, runs_dir=args.runs_dir, screenshots_dir=args.screenshots)
    return run_app(app)


def need_a_terminal(instead: str) -> None:
    """A UserError unless stdin, stdout and stderr are all a terminal (or the workbench is
    served in a browser); `instead` says what to do without one."""
    from ..ui import terminal

    # it reads keys on stdin and draws on stderr (Textual's choice); stdout, redirected, is a log.
    # Served in a browser (`tui-trainer serve`), its keys and screen are pipes to the server.
    streams = () if terminal.served() else ("stdin", "stdout", "stderr")
    not_a_terminal = [name for name in streams if not _is_tty(getattr(sys, name))]
    if not_a_terminal:
        names = " and ".join(
            [", ".join(not_a_terminal[:-1]), not_a_terminal[-1]] if len(not_a_terminal) > 1 else not_a_terminal
        )
        raise UserError(
            f"the workbench needs a terminal, and {names} "
            f"{'is' if len(not_a_terminal) == 1 else 'are'} not one; run it in a terminal, or "
            f"{instead} (see: tui-trainer --help)"
        )


def run_app(app) -> int:
    """Run the workbench app to its end and leave with its exit status."""
    from ..ui import terminal

    terminal.leave_the_servers_group()
    app.run()
    status = app.return_code or 0
    # Everything is closed by now (the runs' records, the jobs' pools, the trainer told
    # to quit: the app's on_unmount). What is left is the interpreter winding down its
    # modules and threads, a tenth of a second between q and the prompt for nothing.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(status)


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (ValueError, AttributeError, OSError):  # closed, or none
        return False


def watch(runs_dir: str) -> int:
    """`tui-trainer watch`'s workbench: read-only over runs_dir (commands/watch.py checks the folder)."""
    apply_training_blas_threads("workbench")
    from ..config import Preset
    from ..ui.app import WorkbenchApp

    need_a_terminal(f"list them without one: tui-trainer runs --runs-dir {runs_dir}")
    return run_app(WorkbenchApp(Preset(name="watch"), runs_dir=runs_dir, watch=True))

"""`tui-trainer watch [DIR]`: follow the runs, searches, tunes and lr-finds other processes
write in DIR (default: runs, where every command records), in the workbench, read-only.

For a remote box: start the work detached (`nohup tui-trainer search coarse-search &`,
or in tmux), log out, log back in, and `tui-trainer watch`. The watcher polls the
folder (records/follow.py says why polling); it never writes, locks or signals
anything, so quitting it leaves every run going.

Exit status: 0 when closed, 2 when DIR is not a folder (or there is no terminal),
130 closed by a signal or the terminal going away.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..usertext import one_line
from . import console


def watched_folder(name: str) -> Path:
    """The folder `watch` follows, or one line saying why it cannot (`watch`, `serve watch`)."""
    folder = Path(name)
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise UserError(
            one_line(f"{folder}: {what}; name the folder the runs are recorded in (default: {console.RUNS_DIR})")
        )
    return folder


def command(args) -> int:
    folder = watched_folder(args.dir)
    from . import ui  # the one command that opens the workbench

    return ui.watch(str(folder))

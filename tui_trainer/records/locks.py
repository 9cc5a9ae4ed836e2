"""One writer per record folder: a search's or a tune's folder is locked (flock) for as
long as one process works in it, so a second process cannot resume it at the same time
(two writers would run the same trials or stages twice). The kernel drops the lock when
the process dies, kill -9 included, so a killed search or tune can be resumed at once."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import EnvironmentProblem


def mark_in_use(fd: int) -> None:
    """Hold an flock on an open file for as long as it stays open: a run's metrics.jsonl,
    so a watcher (records/run_live.run_status, through /proc/locks) tells a run that is
    paused or in a long step from one that was killed, without waiting for its file to
    go quiet. Never waits and never fails the writer: without flock, or when the file
    is somehow locked already, it marks nothing."""
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (ImportError, OSError):
        pass


@contextlib.contextmanager
def in_use(folder: Path) -> Iterator[None]:
    """Mark a folder in use (mark_in_use on it) for the block's length: an lr-find's, which
    writes its record only at its end, so a watcher (records/watched.list_jobs) can tell
    one still running from one killed. Never fails the writer."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        mark_in_use(fd)
        yield
    finally:
        os.close(fd)


def lock_folder(path: Path, what: str, holder: Callable[[], str] = lambda: "") -> int | None:
    """An exclusive lock on the folder `path` (a file descriptor; os.close releases it), or
    an EnvironmentProblem saying `what` is still running (and in which process, when
    `holder` can tell). None where there is no flock (not POSIX): no lock, as before."""
    try:
        import fcntl
    except ImportError:
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        pid = holder()
        raise EnvironmentProblem(
            f"{path}: this {what} is still running{f' (process {pid})' if pid else ''}; "
            "wait for it to end, or stop it (Ctrl+C in its terminal) and then --resume it"
        ) from None
    return fd

"""Following record files that another process is still writing: `tui-trainer watch`
and the runs view read a run's metrics.jsonl as it grows, and see which searches and
tunes still run, without ever writing, locking or signalling anything.

    tail = Tail(run / "metrics.jsonl", root=runs_dir)
    got = tail.poll()          # every POLL_S: only the bytes appended since the last poll
    if got.reset: ...          # replaced or truncated: got.lines start from its beginning
    for line in got.lines: ... # whole lines only; a line without its newline waits for it

Why polling, not a file-watching library (inotify through watchdog or watchfiles):
cluster home folders are often NFS or sshfs, where inotify never hears of another
machine's writes, and a poll is one stat a file when nothing changed (a few
microseconds: bench/follow.py), with no new dependency. The tail keeps a byte offset
and the file's identity (device and inode): a file smaller than the offset was
truncated, a new identity was renamed over it; both start over. A line is bounded as
records/reading.py bounds it (MAX_LINE_BYTES): a longer one is read and dropped in
chunks until its newline, never held whole, and counted as damaged with the lines
that are not UTF-8. The file itself is opened as reading.open_regular opens every
record (a FIFO or a device is refused), and a link leading out of the watched folder
is refused before it is opened.

Whether a search or a tune still runs is whether its folder's flock
(records/locks.py) is held, read from /proc/locks: taking the lock to test it, even
for an instant, could make a `--resume` started in that instant fail. Where
/proc/locks cannot be read (not Linux) the answer is "unknown".
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.events import Event, Step, from_dict
from .reading import MAX_LINE_BYTES, MAX_METRICS_BYTES, open_regular

POLL_S = 0.5  # how often a follower polls: a stat per followed file, a read only when it grew
CHUNK = 1 << 20  # bytes read at a time (a long line is dropped chunk by chunk)
# Bytes one poll reads at most: a long run's file (10^6 steps: 110 MB, 6 s to read and fold)
# is taken in parts of about 0.1 s each, so a watcher opening it keeps answering keys.
POLL_BYTES = 2 << 20


@dataclass
class Got:
    """What one poll found."""

    lines: list[str] = field(default_factory=list)  # whole lines, decoded, without their newline
    damaged: int = 0  # lines dropped: longer than the line limit, or not UTF-8
    reset: bool = False  # the file was replaced or truncated: what the caller folded is stale
    error: str = ""  # the file cannot be followed (missing, not a regular file, a link outside, too big)
    behind: bool = False  # more was there than one poll reads (POLL_BYTES): poll again soon


class Tail:
    """The appended lines of one file, poll by poll (see the module's docstring)."""

    def __init__(
        self,
        path: str | Path,
        root: str | Path | None = None,
        limit: int = MAX_METRICS_BYTES,
        line_limit: int = MAX_LINE_BYTES,
        chunk: int = CHUNK,
        poll_bytes: int = POLL_BYTES,
    ) -> None:
        self.path = Path(path)
        self.root = Path(root) if root is not None else self.path.parent
        self.limit, self.line_limit, self.chunk, self.poll_bytes = limit, line_limit, chunk, poll_bytes
        self.offset = 0  # bytes consumed: every whole line before it, and `_partial`
        self._identity: tuple[int, int] | None = None
        self._partial = b""  # the start of a line whose newline has not come yet
        self._dropping = False  # inside a line over the limit: drop bytes until its newline
        self.damaged = 0  # in all, since the file was last started over

    def poll(self) -> Got:
        got = Got()
        try:
            st = os.stat(self.path)
        except OSError as e:
            if self._identity is not None:
                self._start_over(got)
            got.error = _in_words(e)
            return got
        identity = (st.st_dev, st.st_ino)
        if self._identity is not None and (identity != self._identity or st.st_size < self.offset):
            self._start_over(got)
        if st.st_size == self.offset and self._identity is not None:
            return got  # nothing new: one stat
        try:
            self._check_link()
            with open_regular(self.path, self.limit) as f:
                fst = os.fstat(f.fileno())
                if (fst.st_dev, fst.st_ino) != identity:  # renamed over between the stat and the open
                    identity = (fst.st_dev, fst.st_ino)
                    if self._identity is not None:
                        self._start_over(got)
                self._identity = identity
                f.seek(self.offset)
                self._read(f, fst.st_size, got)
        except OSError as e:
            got.error = _in_words(e)
        self.damaged += got.damaged
        return got

    def _start_over(self, got: Got) -> None:
        self.offset, self._partial, self._dropping, self.damaged = 0, b"", False, 0
        self._identity = None
        got.reset, got.lines, got.damaged = True, [], 0

    def _check_link(self) -> None:
        check_inside(self.path, self.root)

    def _read(self, f, size: int, got: Got) -> None:
        """The bytes from the offset to `size` (what the file held when opened: a writer
        appending meanwhile is read at the next poll), split into whole lines."""
        left = min(size - self.offset, self.poll_bytes)
        got.behind = size - self.offset > self.poll_bytes
        while left > 0:
            data = f.read(min(self.chunk, left))
            if not data:
                break
            left -= len(data)
            self.offset += len(data)
            start = 0
            while True:
                end = data.find(b"\n", start)
                if end < 0:
                    break
                if self._dropping:
                    self._dropping = False  # the long line ends here; it was counted when it passed the limit
                else:
                    self._line(self._partial + data[start:end], got)
                self._partial = b""
                start = end + 1
            if not self._dropping:
                self._partial += data[start:]
                if len(self._partial) > self.line_limit:
                    self._partial, self._dropping = b"", True
                    got.damaged += 1

    def _line(self, raw: bytes, got: Got) -> None:
        if len(raw) > self.line_limit:
            got.damaged += 1
            return
        try:
            got.lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            got.damaged += 1


def check_inside(path: str | Path, root: str | Path) -> None:
    """An OSError unless `path` (through any link, of the file or a folder on its way) leads
    inside the watched folder `root`: a watcher reads no file a record's links point it to
    outside (every file it follows or reads of a run: metrics.jsonl, config.toml, best.npz)."""
    real, inside = os.path.realpath(path), os.path.realpath(root)
    if os.path.commonpath([real, inside]) != inside:
        raise OSError(errno.EACCES, "a link to outside the watched folder", str(path))


def _in_words(e: OSError) -> str:
    if isinstance(e, FileNotFoundError):
        return "not there (yet)"
    return str(e.strerror or e)


# --- which record folders are still being written -------------------------------------------------

PROC_LOCKS = "/proc/locks"


def held_locks(proc_locks: str = PROC_LOCKS) -> dict[tuple[int, int, int], int] | None:
    """The flocks held on this machine: (major, minor, inode) -> the holder's pid; None when
    the kernel's table cannot be read (not Linux)."""
    try:
        with open(proc_locks, encoding="ascii", errors="replace") as f:
            text = f.read(1 << 22)
    except OSError:
        return None
    held: dict[tuple[int, int, int], int] = {}
    for line in text.splitlines():
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 3869 fe:00:2146809 0 EOF" (a waiter's line has "->" before FLOCK)
        if len(parts) < 6 or parts[1] != "FLOCK":
            continue
        try:
            major, minor, inode = parts[5].split(":")
            held[(int(major, 16), int(minor, 16), int(inode))] = int(parts[4])
        except ValueError:
            continue
    return held


def lock_holder(folder: str | Path, held: dict[tuple[int, int, int], int] | None) -> int | None:
    """The pid holding `folder`'s flock (records/locks.py), 0 when none does, None when
    it cannot be known (held is None: no /proc/locks)."""
    if held is None:
        return None
    try:
        st = os.stat(folder)
    except OSError:
        return 0
    return held.get((os.major(st.st_dev), os.minor(st.st_dev), st.st_ino), 0)


# --- a run's events, as they are appended -------------------------------------------------------------


@dataclass
class GotEvents:
    """What one poll of a run's metrics.jsonl found, as the engine's events."""

    events: list[Event] = field(default_factory=list)
    damaged: int = 0  # lines that are not an event (not UTF-8, not JSON, not one the engine knows, too long)
    reset: bool = False  # the file started over: fold `events` into a new history
    behind: bool = False  # more is there than one poll reads: poll again soon
    error: str = ""


class EventTail:
    """A run's metrics.jsonl followed as events (Tail's lines through engine.events.from_dict)."""

    def __init__(self, path: str | Path, root: str | Path | None = None, **kw: Any) -> None:
        self.tail = Tail(path, root, **kw)
        self.damaged = 0  # since the file last started over

    def poll(self) -> GotEvents:
        got = self.tail.poll()
        out = GotEvents(damaged=got.damaged, reset=got.reset, error=got.error, behind=got.behind)
        if got.reset:
            self.damaged = 0
        events = out.events
        for line in got.lines:
            try:
                d = json.loads(line)
                if d.get("event") == "step":  # nearly every line: the short way (from_dict costs twice as much)
                    events.append(
                        Step(int(d["iteration"]), float(d["epoch"]), _loss(d["loss"]), float(d["learning_rate"]))
                    )
                else:
                    events.append(_checked(from_dict(d)))
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                out.damaged += 1
        self.damaged += out.damaged
        return out


def _loss(value: Any) -> float:
    """A step's loss as from_dict reads it: null (a non-finite loss) is NaN."""
    return math.nan if value is None else float(value)


_NUMBERS = {
    "int": (int,),
    "float": (int, float),
    "int | None": (int, type(None)),
    "float | None": (int, float, type(None)),
}


def _checked(event: Event) -> Event:
    """The event, when its numbers are numbers (a hand-edited line could hold a string where
    a pane does arithmetic); a TypeError otherwise."""
    for f in dataclasses.fields(event):
        kinds = _NUMBERS.get(str(f.type))
        value = getattr(event, f.name)
        if kinds is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
            raise TypeError(f"{f.name}: not a number")
    return event

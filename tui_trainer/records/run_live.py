"""A run without a summary: whether it still runs, and the best it reached so far.
Every face that lists runs (`tui-trainer runs`, `runs --json`, the runs view,
`tui-trainer watch`) reads both through run_folder.list_runs, which asks here.

    status = run_status(info)        # "running", or "incomplete" (killed, or hand-made)
    best = best_val_so_far(run / "metrics.jsonl")

The best so far is read from the epoch lines of metrics.jsonl (engine.events.Epoch
carries val_acc). Only those lines are parsed: the file is searched for the epoch
event's key in chunks (bytes.find), so a 110 MB file (10^6 steps) costs a read of
the file, once; what was read is remembered by the file's identity and length,
so a file that grew is read from where the last look stopped, and one that did
not costs a stat.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Protocol

from .follow import held_locks, lock_holder
from .reading import MAX_LINE_BYTES, MAX_METRICS_BYTES, open_regular

RUNNING, INCOMPLETE = "running", "incomplete"
# Where /proc/locks cannot be read: a run without a summary whose metrics are older than this was killed.
RUN_SILENT_S = 120.0
# Where it can, and the run's lock is not held: its writer may be on another machine of a shared
# (NFS) folder, whose locks this one cannot see, or an older tui-trainer that locked nothing;
# either writes a line every step, so a file quiet this long has no writer.
UNLOCKED_SILENT_S = 10.0

_READ_NOW: Any = object()


class Listed(Protocol):
    @property
    def path(self) -> Path: ...
    @property
    def status(self) -> str: ...


def run_status(info: Listed, now: float | None = None, held: Any = _READ_NOW) -> str:
    """A listed run's status. A run with a summary: the summary's. One without (its status
    reads "incomplete", or "running" from an earlier look):
    - its metrics.jsonl's flock held (its RunStore holds it while open: locks.mark_in_use,
      seen in /proc/locks): RUNNING, even when paused or in a long step;
    - /proc/locks readable and the lock not held: RUNNING only while metrics.jsonl grew in
      the last UNLOCKED_SILENT_S seconds (a writer on another machine of a shared folder, or
      an older tui-trainer that locked nothing), else incomplete (killed, or made by hand);
    - /proc/locks unreadable (not Linux): RUNNING while it grew in the last RUN_SILENT_S.
    `held`: follow.held_locks(), read once for many runs (read here when not given)."""
    if info.status not in (INCOMPLETE, RUNNING):
        return info.status
    metrics = info.path / "metrics.jsonl"
    locks = held_locks() if held is _READ_NOW else held
    if lock_holder(metrics, locks):
        return RUNNING
    try:
        mtime = metrics.stat().st_mtime
    except OSError:
        return INCOMPLETE
    quiet = RUN_SILENT_S if locks is None else UNLOCKED_SILENT_S
    return RUNNING if (time.time() if now is None else now) - mtime < quiet else INCOMPLETE


_MARKS = (b'"event": "epoch"', b'"event":"epoch"')  # engine.events.event_line's, and compact JSON's
_CHUNK = 4 << 20
_MAX_CACHED = 4096
# path -> (device, inode, bytes read: every whole line before it, best so far)
_read: dict[Path, tuple[int, int, int, float | None]] = {}


def best_val_so_far(metrics: str | Path) -> float | None:
    """The best val accuracy of the epoch lines of a run's metrics.jsonl, None when it has none
    (or cannot be read: missing, not a regular file, over reading.MAX_METRICS_BYTES). Reads
    only what was appended since the last call for the same file (see the module's docstring)."""
    path = Path(metrics)
    try:
        f = open_regular(path, MAX_METRICS_BYTES)
    except OSError:
        _read.pop(path, None)
        return None
    with f:
        st = os.fstat(f.fileno())
        dev, ino, start, best = _read.get(path, (st.st_dev, st.st_ino, 0, None))
        if (dev, ino) != (st.st_dev, st.st_ino) or st.st_size < start:  # replaced or truncated: anew
            start, best = 0, None
        if st.st_size > start:
            f.seek(start)
            start, best = _scan(f, start, best)
    if len(_read) >= _MAX_CACHED:
        _read.clear()
    _read[path] = (st.st_dev, st.st_ino, start, best)
    return best


def _scan(f: Any, offset: int, best: float | None) -> tuple[int, float | None]:
    """Read on from `offset` to the end: the offset after the last whole line, and the best
    val accuracy of the epoch lines among them and `best`."""
    carry = b""
    while chunk := f.read(_CHUNK):
        data = carry + chunk
        end = data.rfind(b"\n") + 1  # whole lines only; the rest waits for its newline
        for mark in _MARKS:
            at = data.find(mark, 0, end)
            while at >= 0:
                lo = data.rfind(b"\n", 0, at) + 1
                hi = data.find(b"\n", at, end)
                best = _better(data[lo:hi], best)
                at = data.find(mark, hi, end)
        offset += end
        carry = data[end:]
        if len(carry) > MAX_LINE_BYTES:  # a line too long to be an event: skip to its newline
            offset += len(carry)
            carry = b""
    return offset, best


def _better(line: bytes, best: float | None) -> float | None:
    if len(line) > MAX_LINE_BYTES:
        return best
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):
        return best
    acc = event.get("val_acc") if isinstance(event, dict) and event.get("event") == "epoch" else None
    if isinstance(acc, int | float) and not isinstance(acc, bool) and math.isfinite(acc):
        return acc if best is None or acc > best else best
    return best

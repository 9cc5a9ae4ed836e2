"""Reading a record's files without trusting them to be what was written.

A run folder can be edited by hand, copied, or filled with something else: a
FIFO named summary.json blocks a plain read forever, a link to /dev/zero never
ends, and a single gigabyte-long line is read whole by `for line in f`. Every
record file is read here: a regular file, of a bounded size, in lines of a
bounded length. What fails is an OSError (as for a file that is missing), so
each reader's handling of an unreadable file covers these too.

    text = read_text(path)                     # a JSON or TOML record, at most MAX_RECORD_BYTES
    for line in read_lines(path):              # metrics.jsonl: lines up to MAX_LINE_BYTES;
        ...                                    # a longer one ends the reading as a torn line does
"""

from __future__ import annotations

import errno
import os
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

MAX_RECORD_BYTES = 16 << 20  # a summary, a state.json, an lr-find result: kilobytes when written
MAX_METRICS_BYTES = 256 << 20  # a run's metrics.jsonl: ~2 MB for 10k iterations (a step line ~150 bytes)
MAX_LINE_BYTES = 1 << 20  # one event: the longest, run_started with the preset, is ~1.5 kB

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


def open_regular(path: str | Path, limit: int) -> IO[bytes]:
    """`path` opened for reading in binary, or an OSError naming it: when it is not a
    regular file (a FIFO is opened without waiting for a writer, then refused) or
    holds more than `limit` bytes."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a file")
            raise OSError(errno.EINVAL, f"not a regular file: {kind}", str(path))
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"too big to be a record ({st.st_size:,} bytes; at most {limit:,})", str(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | Path, limit: int = MAX_RECORD_BYTES) -> bytes:
    """The whole file, at most `limit` bytes (read as big as the file is, not as the limit)."""
    with open_regular(path, limit) as f:
        data = f.read(os.fstat(f.fileno()).st_size + 1)
        while len(data) <= limit and (more := f.read(min(1 << 20, limit + 1 - len(data)))):
            data += more  # it grew while being read
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"too big to be a record (over {limit:,} bytes)", str(path))
    return data


def read_text(path: str | Path, limit: int = MAX_RECORD_BYTES) -> str:
    """The file as UTF-8 text (a UnicodeDecodeError, a ValueError, when it is not)."""
    return read_bytes(path, limit).decode("utf-8")


def read_lines(path: str | Path, limit: int = MAX_METRICS_BYTES, line_limit: int = MAX_LINE_BYTES) -> Iterator[str]:
    """The file's lines as text, each with its newline; a line longer than `line_limit`
    or not UTF-8 ends the reading there, as a torn last line would."""
    with open_regular(path, limit) as f:
        while line := f.readline(line_limit + 1):
            if len(line) > line_limit and not line.endswith(b"\n"):
                return
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError:
                return


def recorded_name(folder: str | Path, file: str = "preset.toml") -> str | None:
    """The preset name a record folder was made for: the `name` in its preset file, or None
    when that cannot be read. A record is found by this exact name, never by its folder's
    name, which holds the preset's name made safe for a path and cut short (atomic.safe_name)."""
    try:
        doc = tomllib.loads(read_text(Path(folder) / file))
    except (OSError, ValueError, RecursionError):  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
        return None
    name = doc.get("name")
    return name if isinstance(name, str) else None

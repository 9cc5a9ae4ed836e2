"""Writing records so a crash loses nothing earlier: whole files go to a
temporary sibling and are renamed over the target (a killed process leaves
the old file or the new one, never half of one); each record gets a new,
unique folder under the runs folder. A file written so gets the mode any
new file gets (0666 less the umask), as metrics.jsonl, appended to, does:
the temporary file is made private, and opened up to that before the rename."""

from __future__ import annotations

import datetime as _dt
import os
import re
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError, environment_problem


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "w") -> None:
    """Write through `write(file)` into a temporary sibling, fsync, then rename over
    `path`; on any failure (an interrupt included) the temporary file is removed."""
    path = Path(path)
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text))


def write_record_text(path: Path, text: str, what: str) -> None:
    """atomic_write_text for a record file: a disk that refuses it (full, read-only) is an
    EnvironmentProblem saying so, naming the file and `what` it is ("the search's preset")."""
    try:
        atomic_write_text(path, text)
    except OSError as e:
        raise record_problem(path, f"write {what}", e) from None


def umask() -> int:
    """The process's umask, read without changing it where Linux says it (/proc), else
    set and put back at once."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # allow_pickle is numpy's default, named so that no key of `arrays` can be taken for it (and mypy can tell)
    atomic_write(path, lambda f: np.savez(f, allow_pickle=True, **arrays), mode="wb")


def safe_name(name: str) -> str:
    """A preset name as it can stand in a folder name."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:40] or "run"


def record_dirs(runs_dir: str | Path, kind: str, marker: str) -> list[tuple[Path, str]]:
    """The folders under runs_dir that new_record_dir named `KIND-{name}-{stamp}-{id}` (a tune's,
    an lr-find's) and that hold the file `marker`, each with its stamp, oldest first."""
    pattern = re.compile(rf"^{re.escape(kind)}-.+-(?P<stamp>\d{{8}}-\d{{6}})-[0-9a-f]{{6}}$")
    root = Path(runs_dir)
    found = []
    for d in root.iterdir() if root.is_dir() else []:
        m = pattern.match(d.name)
        if m and d.is_dir() and (d / marker).is_file():
            found.append((d, m["stamp"]))
    return sorted(found, key=lambda t: (t[1], t[0].name))


def new_record_dir(runs_dir: str | Path, pattern: str, name: str) -> Path:
    """Create a new, unique folder under runs_dir (created too) named by
    `pattern` with {stamp} (local date-time), {name} (safe_name) and {id}
    (6 hex digits); a runs_dir that cannot be made is bad input."""
    runs_dir = Path(runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{runs_dir}: cannot create the runs directory: {e.strerror or e}") from None
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = runs_dir / pattern.format(stamp=stamp, name=safe_name(name), id=uuid.uuid4().hex[:6])
    try:
        path.mkdir()
    except OSError as e:
        raise record_problem(runs_dir, "create a record folder there", e) from None
    return path


def record_problem(path: Path, doing: str, e: OSError) -> UserError:
    """A record that cannot be written: the machine's problem, said so with what to do."""
    return environment_problem(
        path, doing, e, "free some space, or give --runs-dir a folder on a disk you can write to"
    )

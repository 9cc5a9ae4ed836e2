"""What a runs folder holds besides runs, and what of it is still being written: the
searches, tunes and lr-finds `tui-trainer watch` lists beside the runs (which
run_folder.list_runs lists), each with its status, read without taking or writing
anything.

    for job in list_jobs("runs"):   # oldest first
        job.kind, job.name, job.status, job.detail

A search or a tune is running while its folder's flock is held (follow.lock_holder);
a run, while it has no summary.json and its metrics.jsonl is held (its RunStore
keeps an flock on it while open: locks.mark_in_use), or, where that cannot be
seen (no /proc/locks, an older writer, a writer on another machine of a shared
folder), while its metrics.jsonl grew in the last RUN_SILENT_S seconds (a run
writes a line every iteration; one killed with SIGKILL leaves no summary, drops
its lock and stops growing: incomplete). An lr-find writes its
record only when it ends, so one without result.json is "no result yet".
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .follow import held_locks, lock_holder
from .lr_find_folder import RESULT_FILE, list_lr_finds
from .reading import read_text
from .run_folder import RunInfo
from .search_store import count_trials, list_searches
from .tune_folder import REPORT, STATE_FILE, list_tunes

RUN_SILENT_S = 120.0  # a run without a summary whose metrics are older than this was killed
RUNNING, FINISHED, STOPPED, DAMAGED = "running", "finished", "stopped", "damaged"


@dataclass(frozen=True)
class Job:
    """A search, tune or lr-find folder as the watcher lists it."""

    kind: str  # "search", "tune", "lr-find"
    path: Path
    status: str  # RUNNING, FINISHED, STOPPED (resumable), DAMAGED, or "no result yet" (an lr-find)
    detail: str = ""  # trials so far, stages done
    pid: int | None = None  # the process holding its lock, when running

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def running(self) -> bool:
        return self.status == RUNNING


_READ_NOW: Any = object()


def run_status(info: RunInfo, now: float | None = None, held: Any = _READ_NOW) -> str:
    """A listed run's status: its summary's, else RUNNING while its metrics.jsonl is held or
    grows, else incomplete. `held`: follow.held_locks(), read once for many runs (read here
    when not given)."""
    if info.status != "incomplete":
        return info.status
    metrics = info.path / "metrics.jsonl"
    if lock_holder(metrics, held_locks() if held is _READ_NOW else held):
        return RUNNING  # its writer is alive: paused, or in a long step, still running
    try:
        mtime = metrics.stat().st_mtime
    except OSError:
        return info.status
    return RUNNING if (now if now is not None else time.time()) - mtime < RUN_SILENT_S else info.status


def list_jobs(runs_dir: str | Path) -> list[Job]:
    """The searches, tunes and lr-finds under runs_dir, oldest first (by the stamp in their names)."""
    held = held_locks()
    jobs: list[tuple[str, Job]] = []
    for s in list_searches(runs_dir):
        pid = lock_holder(s.path, held)
        done = (s.path / "next.toml").is_file()
        status = RUNNING if pid else FINISHED if done else STOPPED if pid == 0 else "unknown"
        n = count_trials(s.path)
        detail = "no readable store" if n is None else f"{n} trial{'s' * (n != 1)}"
        jobs.append((s.stamp, Job("search", s.path, DAMAGED if n is None else status, detail, pid or None)))
    for path, stamp in list_tunes(runs_dir):
        pid = lock_holder(path, held)
        done = (path / REPORT).is_file()
        status = RUNNING if pid else FINISHED if done else STOPPED if pid == 0 else "unknown"
        stages = _stages(path)
        jobs.append((stamp, Job("tune", path, DAMAGED if stages is None else status, stages or "", pid or None)))
    for path, stamp in list_lr_finds(runs_dir):
        status = FINISHED if (path / RESULT_FILE).is_file() else "no result yet"
        jobs.append((stamp, Job("lr-find", path, status)))
    return [job for _, job in sorted(jobs, key=lambda t: (t[0], t[1].name))]


def _stages(path: Path) -> str | None:
    """The stages a tune's state.json holds, in words; None when it cannot be read."""
    try:
        state = json.loads(read_text(path / STATE_FILE))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(state, dict):
        return None
    done = [k for k, v in state.items() if isinstance(v, dict | list) and v]
    return ("done: " + ", ".join(done)) if done else "starting"

"""What a runs folder holds besides runs, and what of it is still being written: the
searches, tunes and lr-finds `tui-trainer watch` lists beside the runs (which
run_folder.list_runs lists), each with its status, read without taking or writing
anything.

    for job in list_jobs("runs"):   # oldest first
        job.kind, job.name, job.status, job.detail

A search or a tune is running while its folder's flock is held (follow.lock_holder);
an lr-find, which writes its record only at its end, while its folder is held
(locks.in_use), else "no result yet" (killed, or by an older tui-trainer that held
nothing); a run's status is run_live.run_status's (list_runs applies it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .follow import held_locks, lock_holder
from .lr_find_folder import RESULT_FILE, list_lr_finds
from .reading import read_text
from .run_live import RUNNING
from .search_store import count_trials, list_searches, read_end
from .tune_folder import REPORT, STATE_FILE, list_tunes

FINISHED, STOPPED, DAMAGED = "finished", "stopped", "damaged"
# an lr-find without result.json whose folder is not held: killed, or by a tui-trainer that held nothing
NO_RESULT = "no result yet"


@dataclass(frozen=True)
class Job:
    """A search, tune or lr-find folder as the watcher lists it."""

    kind: str  # "search", "tune", "lr-find"
    path: Path
    status: str  # RUNNING, FINISHED, STOPPED (resumable), DAMAGED, or NO_RESULT (an lr-find)
    detail: str = ""  # trials so far, stages done
    pid: int | None = None  # the process holding its lock, when running

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def running(self) -> bool:
        return self.status == RUNNING


def list_jobs(runs_dir: str | Path) -> list[Job]:
    """The searches, tunes and lr-finds under runs_dir, oldest first (by the stamp in their names)."""
    held = held_locks()
    jobs: list[tuple[str, Job]] = []
    for s in list_searches(runs_dir):
        pid = lock_holder(s.path, held)
        status = search_status(s.path, pid)[0]
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
        # its record is written at its end only; while it sweeps, it holds its folder (locks.in_use)
        pid = None if (path / RESULT_FILE).is_file() else lock_holder(path, held)
        status = FINISHED if pid is None and (path / RESULT_FILE).is_file() else RUNNING if pid else NO_RESULT
        jobs.append((stamp, Job("lr-find", path, status, pid=pid or None)))
    return [job for _, job in sorted(jobs, key=lambda t: (t[0], t[1].name))]


def search_status(path: Path, pid: int | None) -> tuple[str, float | None]:
    """A search's status and, once ended, how long it ran (search_store.read_end). `pid`: its
    lock's holder (follow.lock_holder: 0 none, None cannot tell). Held: RUNNING. Let go:
    FINISHED when its store recorded so at its end (a search whose trials all exploded
    finishes without a next.toml) or next.toml is there (an older record), else STOPPED (killed
    or stopped: --resume continues it). Cannot tell: FINISHED when recorded so, else "unknown"."""
    if pid:
        return RUNNING, None
    recorded, took = read_end(path)
    if recorded == FINISHED or (path / "next.toml").is_file():
        return FINISHED, took
    return (STOPPED if pid == 0 else "unknown"), took


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

"""Searches, tunes and lr-finds another process writes, read from their folders as the
workbench's views read a job of their own (jobs.py): the search view takes a
WatchedSearch where it takes a SearchJob, the lr-find view a WatchedLrFind.

    search = WatchedSearch(path)   # a UserError when its preset.toml cannot be read
    new = search.poll()            # every follow.POLL_S or so: the events the store holds that are new

A search's trials are the rows of its SQLite store (read-only, WAL: the writer is
never blocked), each as the TrialEnded event the search sent; its stages, the
stages table's ranges; its end, its folder's lock let go (finished or stopped
by records.watched.search_status, with how long it ran as its store recorded).
Nothing here writes, locks or stops anything: `running` is False, so leaving a
view stops nothing. Nothing here imports Textual.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..config import Preset, loads_preset
from ..errors import UserError
from ..lab.lr_find import LrFindEnded, LrSweep
from ..lab.search.runner import RANKING_SIZE, SearchEnded, SearchStarted, StageStarted, TrialEnded
from ..lab.search.space import TrialResult, best_trial, ranges_of, rank
from ..records.follow import held_locks, lock_holder
from ..records.lr_find_folder import RESULT_FILE, read_record
from ..records.reading import read_text
from ..records.search_store import read_results, read_stages
from ..records.typed_json import BadField
from ..records.watched import FINISHED, search_status


def recorded(path: Path, file: str = "preset.toml") -> Preset:
    """The preset a record folder holds, or a UserError naming the file."""
    where = path / file
    try:
        return loads_preset(read_text(where), source=str(where))
    except (OSError, ValueError) as e:
        raise UserError(f"{where}: cannot read the preset ({getattr(e, 'strerror', None) or e})") from None


STOPPED_WHY = "its process ended before the last stage; tui-trainer search --resume continues it"


class WatchedSearch:
    """A search another process writes, as the search view reads a job (see the module's docstring)."""

    kind = "search"
    running = False  # not this process's: leaving the view stops nothing
    stopped = False
    error = ""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.preset = recorded(self.path)
        self.control = self  # the view reads job.control.stopped
        self.events: list[Any] = []
        self.where = "another process"
        self.damaged = 0  # rows that are not a trial
        self._trials: dict[str, TrialResult] = {}
        self._stages: set[int] = set()
        self.ended: SearchEnded | None = None

    def poll(self) -> list[Any]:
        """The store's trials and stages not seen before, as events (appended to `events` too)."""
        if self.ended is not None:
            return []
        new: list[Any] = []
        search = self.preset.search
        pid = lock_holder(self.path, held_locks())
        if pid:
            self.where = f"another process (process {pid})"
        if not self.events:
            first = ranges_of(search)
            started = SearchStarted(
                self.path.name, str(self.path), self.preset.name, search.seed, search.stages, search.keep,
                first, self.where, 0, False, 0,
            )  # fmt: skip
            new.append(started)
        stages = read_stages(self.path)
        for row in read_results(self.path):
            tid = row.get("trial_id")
            if not isinstance(tid, str) or tid in self._trials:
                continue
            try:
                result = TrialResult.read(row, "")
            except BadField:
                self.damaged += 1
                self._trials[tid] = None  # type: ignore[assignment]
                continue
            new.extend(self._stage(result.stage, stages))
            self._trials[tid] = result
            new.append(TrialEnded.from_result(result))
        for stage in sorted(stages):
            new.extend(self._stage(stage, stages))
        if pid == 0:  # the lock is let go: the search has ended (None: cannot tell, so it never ends here)
            results = [r for r in self._trials.values() if r is not None]
            status, took = search_status(self.path, pid)
            self.ended = SearchEnded(
                status,
                "" if status == FINISHED else STOPPED_WHY,
                best_trial(results), tuple(rank(results)[:RANKING_SIZE]), (), len(results), took or 0.0,
                str(self.path),
            )  # fmt: skip
            new.append(self.ended)
        self.events.extend(new)
        return new

    def _stage(self, stage: int, stages: dict[int, dict[str, Any]]) -> list[StageStarted]:
        """StageStarted for `stage` once, with its recorded ranges (the preset's where unreadable)."""
        plan = self.preset.search.stages
        if stage in self._stages or not 1 <= stage <= len(plan):
            return []
        self._stages.add(stage)
        ranges: dict[str, Any] = dict(ranges_of(self.preset.search))
        recorded_ranges = stages.get(stage, {})
        for key, value in recorded_ranges.items():
            if key in ranges and _is_range(value):
                ranges[key] = tuple(value)
        spec = plan[stage - 1]
        return [StageStarted(stage, len(plan), spec.trials, spec.epochs, ranges, spec.trials)]

    def offer(self) -> None:
        return None

    def no_offer(self) -> str:
        return "a watched search is read-only: tui-trainer search --refine takes its next.toml"


def _is_range(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in value)
    )


class WatchedLrFind:
    """An lr-find another process wrote, as the lr-find view reads a job: its record once written."""

    kind = "lr-find"
    running = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.preset = recorded(self.path)
        self.sweeps: list[LrSweep] = []
        self.ended: LrFindEnded | None = None
        self.error = ""

    def poll(self) -> bool:
        """Read result.json once it is there (an lr-find writes its record when it ends); True when read."""
        if self.ended is not None or self.error or not (self.path / RESULT_FILE).is_file():
            return False
        try:
            self.sweeps, self.ended = read_record(self.path)
        except UserError as e:
            self.error = str(e)
        return True

    def offer(self) -> None:
        return None

    def no_offer(self) -> str:
        return "a watched lr-find is read-only"

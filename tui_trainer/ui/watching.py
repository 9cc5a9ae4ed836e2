"""Runs written by other processes, followed from their folders (`tui-trainer watch`, and
the runs view of the workbench): records/follow.py's tails folded into the same
histories the workbench's own runs have, so the same panes show them.

    run = WatchedRun.open(runs_dir / name, number=1)   # read-only
    events, reset = run.poll()     # every follow.POLL_S: the events appended since the last poll
    live = LiveRuns(runs_dir)
    live.poll(infos)               # the runs still going among `infos`: status, epoch, best val

Nothing here writes, locks or signals: quitting a watcher leaves every run as it was.
No widget here: the screens draw what these hold (the note texts come from ui/texts).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import numpy as np

from ..config import Preset
from ..engine.events import Epoch, Event, RunEnded, RunStarted
from ..errors import UserError
from ..records.follow import EventTail, check_inside, held_locks
from ..records.run_folder import RunInfo, read_w1, recorded_preset
from ..records.run_live import INCOMPLETE, RUNNING, best_val_so_far, run_status
from ..usertext import clean
from . import texts
from .history import RunHistory
from .host_events import HostEvent, LayerSnapshot, StoreOpened

# What the first-layer pane says of a run followed from its folder: no process
# writes the live weights anywhere; best.npz holds the best epoch's, kept as it improves.
FROM_BEST = "the best epoch's weights (best.npz): the live ones are in the training process only"
DELETED = "deleted"  # a watched run's status once its folder is gone
NO_BEST = "No weights yet: best.npz is written at the run's first best epoch (the live ones stay in its process)."


class WatchedRun(RunHistory):
    """A run another process writes, followed from its metrics.jsonl (read-only)."""

    def __init__(self, number: int, preset: Preset, path: Path, root: Path) -> None:
        super().__init__(number, preset)
        self.path = path
        self.root = root  # the watched folder: no file of the run is read through a link out of it
        self.run_dir = path.name
        self.tail = EventTail(path / "metrics.jsonl", root=root)
        self.error = ""  # why its metrics cannot be followed now
        self.quiet = False  # no summary and no writer (run_live.run_status): the process is gone
        self.deleted = False  # its folder is gone: what was read stays shown
        self.behind = False  # its file holds more than the last poll read (follow.POLL_BYTES): poll again
        self.caught_up = False  # a poll has read to the end of its file once
        self._best_mtime = -1
        self.preset_error = ""

    @classmethod
    def open(cls, path: str | Path, number: int = 1, root: str | Path | None = None) -> WatchedRun:
        path = Path(path)
        top = Path(root) if root is not None else path.parent
        try:
            check_inside(path / "config.toml", top)
            preset, error = recorded_preset(path), ""
        except OSError as e:  # a link out of the watched folder: not read
            preset, error = Preset(name=path.name), f"{path / 'config.toml'}: {e.strerror}: not read"
        except UserError as e:  # a damaged config.toml: the curves still show, the settings are the defaults
            preset, error = Preset(name=path.name), str(e)
        run = cls(number, preset, path, top)
        run.preset_error = error
        return run

    @property
    def status(self) -> str:
        if self.deleted:
            return DELETED
        if self.ended is not None:
            return self.ended.status
        return INCOMPLETE if self.quiet else RUNNING

    @property
    def writing(self) -> bool:
        """Whether a process still trains it, as far as its folder tells."""
        return self.ended is None and not self.quiet and not self.deleted

    def eta(self, now: float) -> float | None:
        return super().eta(now) if self.writing else None  # no process: nothing left is coming

    def elapsed(self, now: float) -> float:
        """The training time the run recorded (its last epoch's, or its end's), not this viewer's clock."""
        if self.ended is not None:
            return self.ended.elapsed_s
        return self.epochs[-1].elapsed_s if self.epochs else 0.0

    def poll(self) -> tuple[list[HostEvent], bool]:
        """The events appended since the last poll (with a first-layer snapshot when best.npz
        changed), and whether the file started over (fold into a fresh history then). A run
        whose folder was deleted keeps what was read (nothing new, no start over)."""
        self.deleted = not self.path.is_dir()
        if self.deleted:
            self.behind = False
            return [], False
        got = self.tail.poll()
        self.error, self.behind = got.error, got.behind
        self.caught_up = self.caught_up or not (got.behind or got.error)
        events: list[HostEvent] = list(got.events)
        if got.reset:
            self._best_mtime = -1
        layer = self._best_layer(got.events)
        if layer is not None:
            events.append(layer)
        if self.ended is None and not any(isinstance(e, RunEnded) for e in events):
            info = RunInfo(self.path, self.path.name, "", INCOMPLETE, None, None, None, None, "", None)
            self.quiet = run_status(info) != RUNNING
        return events, got.reset

    @property
    def damaged(self) -> int:
        return self.tail.damaged

    def _best_layer(self, new: list[Event]) -> LayerSnapshot | None:
        """best.npz's W1 as a snapshot, when it changed since the last look (None otherwise);
        `new`: this poll's events, not folded yet (the app's drain folds them)."""
        try:
            check_inside(self.path / "best.npz", self.root)
            mtime = os.stat(self.path / "best.npz").st_mtime_ns
        except OSError:
            return None
        if mtime == self._best_mtime:
            return None
        self._best_mtime = mtime
        try:
            w1 = read_w1(self.path)
        except UserError:
            return None
        started = next((e for e in reversed(new) if isinstance(e, RunStarted)), self.started)
        epochs = [*self.epochs, *(e for e in new if isinstance(e, Epoch))]
        best = max(epochs, key=lambda e: e.val_acc, default=None)
        shape = started.image_shape if started is not None else ()
        return LayerSnapshot(np.asarray(w1, np.float32), tuple(shape), best.epoch if best else 0)

    def reopened(self) -> WatchedRun:
        """A fresh history of the same run, for a file that started over."""
        run = WatchedRun(self.number, self.preset, self.path, self.tail.tail.root)
        run.preset_error = self.preset_error
        run.tail = self.tail
        return run


def first_events(run: WatchedRun) -> list[HostEvent]:
    """What a watched run's panes need before its first poll: its folder's name."""
    return [StoreOpened(run.path.name)]


class LiveRuns:
    """The runs view's runs without a summary: those still going each followed by a WatchedRun
    (status, epoch and best val accuracy, updated poll by poll from the appended lines only),
    the others (killed) not followed, their status and best so far read again as the listing
    reads them (run_live). The session keeps one (Session.live_runs), so a view entered
    again shows what its followers had read, not a follower catching up from the start."""

    def __init__(self, runs_dir: str | Path) -> None:
        self.runs_dir = Path(runs_dir)
        self.runs: dict[str, WatchedRun] = {}
        self.stopped: dict[str, tuple[str, float | None]] = {}  # not running: status, best val so far

    def poll(self, infos: list[RunInfo], now: float | None = None) -> bool:
        """Follow the runs of `infos` that are running (run_status); fold what each appended;
        the others without a summary, their status now. True when anything shown changed."""
        now = time.time() if now is None else now
        held = held_locks()
        going: dict[str, RunInfo] = {}
        stopped: dict[str, tuple[str, float | None]] = {}
        for i in infos:
            if i.status not in (RUNNING, INCOMPLETE):
                continue  # it has a summary: it ended
            status = run_status(i, now, held)
            if status == RUNNING:
                going[i.name] = i
            else:
                stopped[i.name] = (status, best_val_so_far(i.path / "metrics.jsonl"))
        changed = set(going) != set(self.runs) or stopped != self.stopped
        self.stopped = stopped
        for name in [n for n in self.runs if n not in going]:
            del self.runs[name]  # not running any more: no follower
        for name, info in going.items():
            run = self.runs.get(name)
            if run is None:
                run = self.runs[name] = WatchedRun.open(info.path, root=self.runs_dir)
            got = run.tail.poll()
            if got.reset:
                run = self.runs[name] = run.reopened()
            run.caught_up = run.caught_up or not (got.behind or got.error)
            for event in got.events:
                run.add(event)
            changed = changed or bool(got.events) or got.reset
        return changed

    def info(self, info: RunInfo) -> RunInfo:
        """`info` as the table shows it: a run still going says so, with its epoch and best val
        so far (the listing's, read from its file, until its follower has caught up with it);
        one that is not says how it stands now."""
        run = self.runs.get(info.name)
        if run is None:
            status, acc = self.stopped.get(info.name, (info.status, info.best_val_acc))
            return dataclasses.replace(info, status=status, best_val_acc=acc)
        if not run.caught_up:
            return dataclasses.replace(info, status=RUNNING, best_val_acc=best_val_so_far(info.path / "metrics.jsonl"))
        epoch = run.epochs[-1].epoch if run.epochs else 0
        best = run.best
        status = f"{RUNNING} {epoch}/{run.total_epochs}"
        return dataclasses.replace(info, status=status, best_val_acc=best.val_acc if best else None)


def folder_listing(runs_dir: Path) -> dict[str, int]:
    """Each folder of runs_dir with its mtime (ns): what changes when a run appears, goes or ends."""
    out: dict[str, int] = {}
    try:
        with os.scandir(runs_dir) as entries:
            for entry in entries:
                try:
                    if entry.is_dir():
                        out[entry.name] = entry.stat().st_mtime_ns
                except OSError:
                    continue
    except OSError:
        pass
    return out


def notes(run: RunHistory | None, runs_dir_name: str) -> list[tuple[str, str]]:
    """The advice slot's lines for a run followed from its folder (texts.notes' for a run trained here)."""
    if not isinstance(run, WatchedRun):
        return [("info", f"h lists the runs, searches and tunes in {runs_dir_name}/; enter opens one")]
    where = f"{runs_dir_name}/{run.run_dir or run.path.name}"
    if run.deleted:
        lines = [("bad", f"{where} was deleted: what was read of it is shown, and nothing more will come")]
    elif run.writing:
        lines = [("info", f"following {where}, read-only: another process trains it")]
    else:
        lines = [("info", f"{where}, read-only: no process trains it now")]
    if run.preset_error:
        lines.append(("bad", run.preset_error))
    if run.error:
        lines.append(("bad", f"metrics.jsonl: {run.error}"))
    if run.damaged:
        lines.append(("warn", f"metrics.jsonl: {run.damaged} damaged line{'s' * (run.damaged != 1)} skipped"))
    if run.quiet:
        lines.append(("warn", "no summary, and no process writes its metrics.jsonl: its process has gone (killed?)"))
    lines.append(("info", f"first layer: {FROM_BEST}"))
    lines += [line for line in texts.run_lines(run, runs_dir_name) if "is recorded in" not in line[1]]
    return [(kind, clean(text)) for kind, text in lines]

"""A search's run directory: its preset and an SQLite table with one row per trial.

    runs/search-<preset>-<YYYYmmdd-HHMMSS>-<id>/
        preset.toml      the resolved preset the search runs (overrides applied)
        search.sqlite    trials (one row per ended trial), stages (their ranges), meta

Rows are committed as each trial ends (WAL journal, synchronous FULL), so a
killed search keeps every trial that ended before the kill; `--resume` opens
the latest search of a preset and runs only the trials without a row. A
trial's id is its primary key: recording one twice is an error, never a
second row. Trials stopped by the user are not recorded (a resume runs them).
The database can be read while the search writes it (WAL).

The store keeps plain mappings, a trial as its flat form (lab/search/space.py:
its fields and one value per searched key), and knows nothing of which keys
are searched: a row's key without a column gets one, so a key added to the
searched keys (searched.SEARCHED) is a new column in old and new stores alike.
Stores written before that (schema 1: learning_rate, reg, hidden and
batch_size as columns from the start) open, read and resume the same way.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Preset, loads_preset, to_toml
from ..errors import EnvironmentProblem, UserError
from .atomic import new_record_dir, safe_name, write_record_text
from .locks import lock_folder
from .reading import read_text, recorded_name

DB_NAME = "search.sqlite"
PRESET_NAME = "preset.toml"
# 1: the searched keys as columns made with the table; 2: a column per key as first recorded.
SCHEMA_VERSION = 2
_DIR_RE = re.compile(r"^search-(?P<name>.+)-(?P<stamp>\d{8}-\d{6})-(?P<id>[0-9a-f]{6})$")
_SQL_TYPES = {bool: "INTEGER", int: "INTEGER", float: "REAL"}  # anything else: TEXT
_SQLITE_WHY = {
    sqlite3.SQLITE_FULL: "the disk is full ",
    sqlite3.SQLITE_READONLY: "the file system is read-only ",
    sqlite3.SQLITE_IOERR: "a write failed (a full disk, a file size limit, a failing disk) ",
}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    trial_id TEXT PRIMARY KEY,
    stage INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    best_val_acc REAL,
    best_epoch INTEGER,
    epochs INTEGER NOT NULL,
    iterations INTEGER NOT NULL,
    elapsed_s REAL NOT NULL,
    worker TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stages (
    stage INTEGER PRIMARY KEY,
    ranges TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class SearchInfo:
    """One search folder as a listing shows it."""

    path: Path
    preset: str  # the preset name as written in the folder name
    stamp: str  # YYYYmmdd-HHMMSS, when it started


def list_searches(runs_dir: str | Path, preset_name: str | None = None) -> list[SearchInfo]:
    """Search folders under runs_dir (of exactly the preset named, if one is: the name its
    preset.toml holds), oldest first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    found = []
    for d in runs_dir.iterdir():
        m = _DIR_RE.match(d.name)
        if not m or not (d / DB_NAME).is_file() or not (d / PRESET_NAME).is_file():
            continue
        if preset_name is not None and (m["name"] != safe_name(preset_name) or recorded_name(d) != preset_name):
            continue  # the folder's name holds the preset's made safe and cut short: its preset.toml says whose
        found.append((m["stamp"], _created_at(d), SearchInfo(d, m["name"], m["stamp"])))
    return [info for *_, info in sorted(found, key=lambda t: (t[0], t[1]))]


def _created_at(path: Path) -> str:
    """When the search began, to the microsecond (folder names have seconds)."""
    return _meta_read_only(path, "created_at")


def _meta_read_only(path: Path, key: str) -> str:
    got = _read_only(path, f"SELECT value FROM meta WHERE key = '{key}'")
    return str(got[1][0][0]) if got and got[1] else ""


def _read_only(path: Path, sql: str) -> tuple[list[str], list[tuple]] | None:
    """A query's column names and rows, the store opened read-only (no lock taken, nothing
    written); None when there is no readable store."""
    try:
        con = sqlite3.connect((path / DB_NAME).resolve().as_uri() + "?mode=ro", uri=True)
        try:
            cursor = con.execute(sql)
            return [d[0] for d in cursor.description], cursor.fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return None


def _trial_rows(names: list[str], rows: list[tuple]) -> list[dict[str, Any]]:
    """Trial rows as the store's readers give them: `index` for the idx column, no recorded_at."""
    names = ["index" if n == "idx" else n for n in names]
    return [{k: v for k, v in zip(names, row) if k != "recorded_at"} for row in rows]


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """Every trial a search folder recorded (as SearchStore.results gives them), read without
    taking the folder or writing to it: a report of a search that is running or has ended.
    [] when there is no readable store."""
    if not (Path(path) / DB_NAME).is_file():
        return []
    got = _read_only(Path(path), "SELECT * FROM trials ORDER BY stage, idx")
    return _trial_rows(*got) if got else []


def read_stages(path: str | Path) -> dict[int, dict[str, Any]]:
    """The ranges each stage sampled (stage -> name -> range), read-only; what cannot be read
    is left out."""
    got = _read_only(Path(path), "SELECT stage, ranges FROM stages ORDER BY stage")
    out: dict[int, dict[str, Any]] = {}
    for stage, text in got[1] if got else []:
        try:
            ranges = json.loads(text)
        except (TypeError, ValueError, RecursionError):
            continue
        if isinstance(stage, int) and isinstance(ranges, dict):
            out[stage] = ranges
    return out


def count_trials(path: str | Path) -> int | None:
    """How many trials a search folder recorded (read-only, as read_results); None when no store reads."""
    got = _read_only(Path(path), "SELECT COUNT(*) FROM trials")
    return int(got[1][0][0]) if got and got[1] else None


def read_end(path: str | Path) -> tuple[str, float | None]:
    """What a search's store says of its end, read-only: the status run_search wrote as it
    ended ("finished", "stopped", "failed"; "running" from each start, so still that after a
    kill; "" when unreadable) and how long it ran: the elapsed_s written with that status,
    else (killed, or an older record) from its creation to its last trial's record; None
    when neither is there."""
    got = _read_only(Path(path), "SELECT key, value FROM meta")
    meta = {str(k): str(v) for k, v in got[1]} if got else {}
    try:
        took: float | None = float(meta["elapsed_s"]) if meta.get("status") != "running" else None
    except (KeyError, ValueError):
        took = None
    if took is None or not math.isfinite(took) or took < 0:
        last = _read_only(Path(path), "SELECT MAX(recorded_at) FROM trials")
        try:
            ended = _dt.datetime.fromisoformat(str(last[1][0][0])) if last and last[1] else None
            began = _dt.datetime.fromisoformat(meta.get("created_at", ""))
            took = max((ended - began).total_seconds(), 0.0) if ended is not None else None
        except (ValueError, TypeError):  # no trial, or a date edited by hand (or naive against aware)
            took = None
    return meta.get("status", ""), took


class SearchStore:
    """The search folder: open with `create` (a new search) or `latest` / `open` (resume)."""

    def __init__(self, path: str | Path, preset: Preset):
        self.path = Path(path)
        self.preset = preset
        self._lock = threading.Lock()
        self._folder_lock = lock_folder(self.path, "search", lambda: _holder(self.path))
        try:
            # Written from the thread that runs the search; check_same_thread off so
            # a face may create the store in one thread and search in another.
            self._db = sqlite3.connect(self.path / DB_NAME, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise UserError(f"{self.path / DB_NAME}: written by a newer tui-trainer (schema {version})")
            if version == 0:  # a new store; an older one keeps its number, and what it says stays true
                self._db.executescript(_SCHEMA)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._columns = [row[1] for row in self._db.execute("PRAGMA table_info(trials)")]
            self.set_meta("pid", str(os.getpid()))  # who holds the folder: named if a --resume finds it held
        except sqlite3.OperationalError as e:
            self._release()
            raise self._problem(e) from None
        except BaseException:
            self._release()
            raise

    @property
    def db_path(self) -> Path:
        return self.path / DB_NAME

    @contextlib.contextmanager
    def _using(self) -> Iterator[None]:
        """One statement or a few, one thread at a time. A write the disk refuses (full, read
        only, failing) is an EnvironmentProblem saying so; a database that cannot be read
        (damaged, not SQLite) is bad input; both name the file. (An IntegrityError, a trial
        recorded twice, is a bug and stays one.)"""
        with self._lock:
            try:
                yield
            except sqlite3.OperationalError as e:
                raise self._problem(e) from None
            except sqlite3.DatabaseError as e:
                if isinstance(e, sqlite3.IntegrityError):
                    raise
                raise UserError(f"{self.db_path}: not a readable search database ({e})") from None

    def _problem(self, e: sqlite3.Error) -> UserError:
        code = getattr(e, "sqlite_errorcode", 0) & 0xFF  # the primary code: SQLITE_IOERR_WRITE is an IOERR
        if code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN):
            return EnvironmentProblem(
                f"{self.db_path}: cannot write the search's record: {_SQLITE_WHY.get(code, '')}({e}); "
                "free some space, or give --runs-dir a folder on a disk you can write to; "
                "the trials recorded before are kept (--resume continues)"
            )
        return UserError(f"{self.db_path}: not a readable search database ({e})")

    def _release(self) -> None:
        if self._folder_lock is not None:
            os.close(self._folder_lock)  # releases the lock
            self._folder_lock = None

    @property
    def search_id(self) -> str:
        return self.path.name

    @classmethod
    def create(cls, runs_dir: str | Path, preset: Preset) -> SearchStore:
        path = new_record_dir(runs_dir, "search-{name}-{stamp}-{id}", preset.name)
        write_record_text(path / PRESET_NAME, to_toml(preset), "the search's preset")
        store = cls(path, preset)
        store.set_meta("status", "running")
        store.set_meta("created_at", _dt.datetime.now().astimezone().isoformat(timespec="microseconds"))
        return store

    @classmethod
    def open(cls, path: str | Path) -> SearchStore:
        path = Path(path)
        db = path / DB_NAME
        if db.exists() and not db.is_file():  # a FIFO would block SQLite's first read forever
            raise UserError(f"{db}: not a regular file; a search's record is an SQLite database file")
        preset_file = path / PRESET_NAME
        try:
            text = read_text(preset_file)
        except OSError as e:
            raise UserError(f"{preset_file}: cannot read the search's preset: {e.strerror or e}") from None
        except ValueError as e:  # not UTF-8
            raise UserError(f"{preset_file}: cannot read the search's preset: not UTF-8 text ({e})") from None
        try:
            return cls(path, loads_preset(text, source=str(preset_file)))
        except sqlite3.DatabaseError as e:
            raise UserError(f"{path / DB_NAME}: not a readable search database ({e})") from None

    @classmethod
    def latest(cls, runs_dir: str | Path, preset_name: str) -> SearchStore:
        """The most recent search of exactly the preset named preset_name under runs_dir."""
        found = list_searches(runs_dir, preset_name)
        if not found:
            raise UserError(
                f"{runs_dir}: no search of preset {preset_name!r} to resume "
                f"(looked for folders named search-{safe_name(preset_name)}-* whose preset.toml is named "
                f"{preset_name!r}); start one without --resume"
            )
        return cls.open(found[-1].path)

    # --- trials --------------------------------------------------------------

    def record(self, trial: Mapping[str, Any]) -> None:
        """One row for an ended trial (its flat form: name -> value), committed before this
        returns. A name without a column gets one; a null without one is left out."""
        row = {("idx" if k == "index" else k): v for k, v in trial.items()}
        row["recorded_at"] = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        with self._using():
            for name, value in row.items():
                if name not in self._columns and value is not None:
                    self._add_column(name, value)
            row = {k: v for k, v in row.items() if k in self._columns}
            names = ", ".join(f'"{k}"' for k in row)
            marks = ", ".join(f":{k}" for k in row)
            self._db.execute(f"INSERT INTO trials ({names}) VALUES ({marks})", row)

    def _add_column(self, name: str, value: Any) -> None:
        if not name.isidentifier():  # the names are the trial's fields and searched keys: never user text
            raise ValueError(f"not a column name: {name!r}")
        self._db.execute(f'ALTER TABLE trials ADD COLUMN "{name}" {_SQL_TYPES.get(type(value), "TEXT")}')
        self._columns.append(name)

    def results(self) -> list[dict[str, Any]]:
        """Every recorded trial as recorded (name -> value; null where a key had no
        value), by stage then index."""
        with self._using():
            cursor = self._db.execute("SELECT * FROM trials ORDER BY stage, idx")
            names, rows = [d[0] for d in cursor.description], cursor.fetchall()
        return _trial_rows(names, rows)

    # --- stages and status ----------------------------------------------------

    def save_stage(self, stage: int, ranges: Mapping[str, Sequence[float]]) -> None:
        """The ranges a stage samples (name -> range), as JSON."""
        text = json.dumps({name: list(r) for name, r in ranges.items()})
        with self._using():
            self._db.execute("INSERT OR REPLACE INTO stages (stage, ranges) VALUES (?, ?)", (stage, text))

    def set_meta(self, key: str, value: str) -> None:
        with self._using():
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def meta(self, key: str, default: str | None = None) -> str | None:
        with self._using():
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._release()


def _holder(path: Path) -> str:
    return _meta_read_only(path, "pid")

"""The tune folder `RUNS_DIR/tune-PRESET-STAMP-ID/`: `preset.toml` (what the tune
started from), `state.json` (each stage's result, written as it ends: what
`--resume` skips), `checks.json`, `tuned.toml` and `report.md`. The lr-find
folder, both search folders and the final run's folder are made inside it by
their own records.

The files and folders state.json names are stored by their names inside the
tune folder (`relative`), and read back as paths inside it wherever it is now
(`inside`); a name that leads anywhere else is bad input. (Tunes recorded
before named them by their path, absolute or from the working directory: the
last part of such a path, in a folder named as this tune's, is read the same
way.) One process at a time works in a tune folder (`locked`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..config import Preset, loads_preset, to_toml
from ..errors import UserError
from .atomic import new_record_dir, record_dirs, safe_name, write_record_text
from .locks import lock_folder
from .reading import read_text, recorded_name
from .run_folder import close_abandoned
from .typed_json import BadField

PRESET = "preset.toml"
STATE_FILE = "state.json"
CHECKS = "checks.json"
TUNED = "tuned.toml"
REPORT = "report.md"


def list_tunes(runs_dir: str | Path) -> list[tuple[Path, str]]:
    """The tune folders under runs_dir (those with a preset.toml), each with its stamp, oldest first."""
    return record_dirs(runs_dir, "tune", PRESET)


class TuneRecord:
    """The tune folder: where each file goes, and state.json as JSON."""

    def __init__(self, path: Path, preset: Preset):
        self.path = path
        self.preset = preset
        self._lock: int | None = None
        self._lock_depth = 0

    @classmethod
    def create(cls, runs_dir: str | Path, preset: Preset) -> TuneRecord:
        path = new_record_dir(runs_dir, "tune-{name}-{stamp}-{id}", preset.name)
        record = cls(path, preset)
        record._write(path / PRESET, to_toml(preset))
        record.write_state({})
        return record

    @classmethod
    def latest(cls, runs_dir: str | Path, preset_name: str) -> TuneRecord:
        """The most recent tune of exactly the preset named preset_name under runs_dir (the
        name its preset.toml holds), with the preset it started with."""
        prefix = f"tune-{safe_name(preset_name)}-"
        root = Path(runs_dir)
        # by the stamp in the name, then (two in one second) by when the folder was made
        found = sorted(
            (d.name[len(prefix) : len(prefix) + 15], (d / PRESET).stat().st_mtime_ns, d)
            for d in (root.iterdir() if root.is_dir() else [])
            if d.name.startswith(prefix)
            and (d / STATE_FILE).is_file()
            and (d / PRESET).is_file()
            and recorded_name(d) == preset_name
        )
        if not found:
            raise UserError(
                f"{runs_dir}: no tune of preset {preset_name!r} to resume (looked for folders named "
                f"{prefix}* whose preset.toml is named {preset_name!r}); start one without --resume"
            )
        path = found[-1][2]
        file = path / PRESET
        try:
            preset = loads_preset(read_text(file), source=str(file))
        except OSError as e:
            raise UserError(f"{file}: cannot read the tune's preset: {e.strerror or e}") from None
        except ValueError as e:  # not UTF-8
            raise UserError(f"{file}: cannot read the tune's preset: not UTF-8 text ({e})") from None
        return cls(path, preset)

    # --- one process at a time --------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[TuneRecord]:
        """Hold the tune folder's lock (records/locks.py) for the block: an EnvironmentProblem
        when another process holds it. Nested blocks share the first one's lock."""
        if self._lock_depth == 0:
            self._lock = lock_folder(self.path, "tune")
        self._lock_depth += 1
        try:
            yield self
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0 and self._lock is not None:
                os.close(self._lock)
                self._lock = None

    def end_interrupted_runs(self) -> list[Path]:
        """End the record of every run in the tune folder that has none (the tune was killed,
        or lost its terminal, during its final run): as the workbench ends a run it left
        (run_folder.close_abandoned). What --resume does first, holding the lock; the
        folders it ended."""
        ended = []
        for d in sorted(self.path.iterdir()):
            if d.is_dir() and not d.is_symlink() and (d / "config.toml").is_file():
                if close_abandoned(d, "the tune stopped before this run ended (its record closed by --resume)"):
                    ended.append(d)
        return ended

    # --- what state.json names ----------------------------------------------------------

    def relative(self, path: str) -> str:
        """How state.json names a file or folder of this tune: its name inside the tune folder
        ("" stays ""; a path elsewhere, which tune never makes, stays as it is and is refused
        when read back)."""
        if not path:
            return ""
        p = Path(path)
        return p.name if p.parent == self.path else path

    def inside(self, name: str, at: str) -> str:
        """The path of what state.json names `name` (at its field `at`): a file or folder in
        this tune folder, or a BadField naming the field when it leads anywhere else."""
        if not name:
            return ""
        p = Path(name)
        if len(p.parts) > 1 and p.parent.name == self.path.name:
            p = Path(p.name)  # written by an earlier tui-trainer: the path of the tune folder then
        if len(p.parts) != 1 or p.is_absolute() or p.name in (".", ".."):
            raise BadField(
                at,
                f"{name!r} is not in the tune folder; a tune's records are files and folders inside it, "
                "named by their names",
            )
        path = self.path / p
        if path.is_symlink():
            raise BadField(at, f"{name!r} is a link; a tune's records are files and folders inside its folder")
        return str(path)

    # --- the files --------------------------------------------------------------------------

    @property
    def tuned_path(self) -> Path:
        return self.path / TUNED

    @property
    def report_path(self) -> Path:
        return self.path / REPORT

    @property
    def state_path(self) -> Path:
        return self.path / STATE_FILE

    def read_state(self) -> Any:
        """state.json as JSON, whatever it holds (lab/tune/results.py checks it and reads it as types;
        reading.read_text bounds it)."""
        try:
            return json.loads(read_text(self.state_path))
        except OSError as e:
            raise UserError(f"{self.state_path}: cannot read the tune's state: {e.strerror or e}") from None
        except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
            raise UserError(f"{self.state_path}: cannot read the tune's state: not JSON ({e})") from None

    def write_state(self, state: dict) -> None:
        self._write(self.state_path, json.dumps(state, indent=1) + "\n")

    def write_checks(self, checks: list[dict]) -> Path:
        path = self.path / CHECKS
        self._write(path, json.dumps(checks, indent=1) + "\n")
        return path

    def write_tuned(self, preset: Preset) -> Path:
        """tuned.toml, headed by how to train it."""
        path = self.tuned_path
        self._write(
            path,
            f"# tuned by tui-trainer tune ({self.path.name}); train it with: tui-trainer run {path}\n{to_toml(preset)}",
        )
        return path

    def write_report(self, text: str) -> Path:
        self._write(self.report_path, text)
        return self.report_path

    @staticmethod
    def _write(path: Path, text: str) -> None:
        write_record_text(path, text, "the tune's record")

"""The tune folder `RUNS_DIR/tune-PRESET-STAMP-ID/`: `preset.toml` (what the tune
started from), `state.json` (each stage's result, written as it ends: what
`--resume` skips), `checks.json`, `tuned.toml` and `report.md`. The lr-find
folder, both search folders and the final run's folder are made inside it by
their own records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import Preset, load_preset, to_toml
from ..errors import UserError
from .atomic import atomic_write_text, new_record_dir, safe_name

STATE_FILE = "state.json"
CHECKS = "checks.json"
TUNED = "tuned.toml"
REPORT = "report.md"


class TuneRecord:
    """The tune folder: where each file goes, and state.json as JSON."""

    def __init__(self, path: Path, preset: Preset):
        self.path = path
        self.preset = preset

    @classmethod
    def create(cls, runs_dir: str | Path, preset: Preset) -> TuneRecord:
        path = new_record_dir(runs_dir, "tune-{name}-{stamp}-{id}", preset.name)
        atomic_write_text(path / "preset.toml", to_toml(preset))
        record = cls(path, preset)
        record.write_state({})
        return record

    @classmethod
    def latest(cls, runs_dir: str | Path, preset_name: str) -> TuneRecord:
        """The most recent tune of preset_name under runs_dir, with the preset it started with."""
        prefix = f"tune-{safe_name(preset_name)}-"
        root = Path(runs_dir)
        # by the stamp in the name, then (two in one second) by when the folder was made
        found = sorted(
            (
                (d.name[len(prefix) : len(prefix) + 15], (d / "preset.toml").stat().st_mtime_ns, d)
                for d in (root.iterdir() if root.is_dir() else [])
                if d.name.startswith(prefix) and (d / STATE_FILE).is_file() and (d / "preset.toml").is_file()
            ),
        )
        if not found:
            raise UserError(
                f"{runs_dir}: no tune of preset {preset_name!r} to resume (looked for folders named "
                f"{prefix}*); start one without --resume"
            )
        path = found[-1][2]
        return cls(path, load_preset(path / "preset.toml"))

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
        """state.json as JSON, whatever it holds (lab/tune/results.py checks it and reads it as types)."""
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UserError(f"{self.state_path}: cannot read the tune's state ({e})") from None

    def write_state(self, state: dict) -> None:
        atomic_write_text(self.state_path, json.dumps(state, indent=1) + "\n")

    def write_checks(self, checks: list[dict]) -> Path:
        path = self.path / CHECKS
        atomic_write_text(path, json.dumps(checks, indent=1) + "\n")
        return path

    def write_tuned(self, preset: Preset) -> Path:
        """tuned.toml, headed by how to train it."""
        path = self.tuned_path
        atomic_write_text(
            path,
            f"# tuned by tui-trainer tune ({self.path.name}); train it with: tui-trainer run {path}\n{to_toml(preset)}",
        )
        return path

    def write_report(self, text: str) -> Path:
        atomic_write_text(self.report_path, text)
        return self.report_path

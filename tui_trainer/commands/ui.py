"""`tui-trainer [ui] [PRESET] [--set KEY=VALUE]... [--runs-dir DIR]`: open the workbench."""

from __future__ import annotations

from ..config import load_preset
from ..ui.app import WorkbenchApp


def command(args) -> int:
    """`tui-trainer ui`: bad presets and keys fail here, before the screen opens (exit 2)."""
    preset = load_preset(args.preset, getattr(args, "overrides", []))
    app = WorkbenchApp(preset, runs_dir=getattr(args, "runs_dir", "runs"))
    app.run()
    return app.return_code or 0

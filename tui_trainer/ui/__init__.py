"""The Textual workbench: `tui-trainer` / `tui-trainer ui PRESET` (see app.py)."""

"""The engine and data layers stay free of UI libraries (DESIGN.md, layers)."""

import json
import subprocess
import sys

UI_LIBRARIES = ("textual", "rich", "plotext", "textual_plotext")


def test_engine_datasets_and_config_import_no_ui_library():
    code = (
        "import json, sys\n"
        "import tui_trainer.engine, tui_trainer.datasets, tui_trainer.config\n"
        "import tui_trainer.engine.gradcheck, tui_trainer.engine.stats, tui_trainer.datasets.preprocess\n"
        f"ui = {UI_LIBRARIES!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ui)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def test_the_check_suite_loads_rich_only_for_its_table():
    code = (
        "import json, sys\n"
        "import tui_trainer.checks\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'plotext'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []

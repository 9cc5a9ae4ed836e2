"""The engine and data layers stay free of UI libraries (docs/ARCHITECTURE.md, layers)."""

import json
import subprocess
import sys

UI_LIBRARIES = ("textual", "rich", "plotext", "textual_plotext")

# Every module of the two packages (walked, so modules added later are covered), and config.
CODE = """
import importlib, json, pkgutil, sys
import tui_trainer.config, tui_trainer.datasets, tui_trainer.engine
for pkg in (tui_trainer.engine, tui_trainer.datasets):
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        importlib.import_module(info.name)
loaded = sorted(m for m in sys.modules if m.startswith(("tui_trainer.engine.", "tui_trainer.datasets.")))
ui = sorted(m for m in sys.modules if m.split(".")[0] in %r)
print(json.dumps({"loaded": loaded, "ui": ui}))
""" % (UI_LIBRARIES,)  # noqa: UP031 (the child code is full of braces)


def test_engine_datasets_and_config_import_no_ui_library():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert "tui_trainer.engine.trainer" in result["loaded"] and "tui_trainer.datasets.spiral" in result["loaded"]
    assert result["ui"] == []


def test_the_check_suite_loads_rich_only_for_its_table():
    code = (
        "import json, sys\n"
        "import tui_trainer.lab.checks\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {UI_LIBRARIES!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []

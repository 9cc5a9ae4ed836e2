"""The layers of docs/ARCHITECTURE.md, read from the source: every import
statement (also those inside functions) points down, never up or sideways
between faces."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tui_trainer"
UI_LIBRARIES = {"textual", "rich", "plotext", "textual_plotext"}

# Which part of the package a module belongs to: its first name below tui_trainer.
FACES = {"__main__", "cli", "commands", "ui"}
LOWER = {"engine", "datasets"}


def part(module: str) -> str:
    """tui_trainer.lab.search.runner -> lab; tui_trainer.cli -> cli."""
    names = module.split(".")
    return names[1] if len(names) > 1 else ""


def imports() -> list[tuple[str, str]]:
    """(importing module, imported module) for every import in the package, relative ones resolved."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        names = list(rel.parts)
        is_package = names[-1] == "__init__"
        if is_package:
            names = names[:-1]
        module = ".".join(names)
        here = names if is_package else names[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(module, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                    if node.module is None:  # from . import x
                        found += [(module, f"{target}.{alias.name}") for alias in node.names]
                        continue
                else:
                    target = node.module or ""
                found.append((module, target))
    return found


def test_the_import_walk_sees_the_package():
    pairs = imports()
    assert ("tui_trainer.commands.run", "tui_trainer.engine") in {(a, ".".join(b.split(".")[:2])) for a, b in pairs}
    assert len({a for a, _ in pairs}) > 40


def test_engine_and_datasets_import_nothing_above_them_and_no_ui_library():
    bad = [
        (a, b)
        for a, b in imports()
        if part(a) in LOWER
        and (
            b.split(".")[0] in UI_LIBRARIES
            or (b.startswith("tui_trainer.") and part(b) not in LOWER | {"config", "errors", "threads"})
        )
    ]
    assert bad == []


def test_lower_layers_never_import_a_face():
    bad = [(a, b) for a, b in imports() if part(a) not in FACES and b.startswith("tui_trainer.") and part(b) in FACES]
    assert bad == []


def test_faces_do_not_import_each_other():
    # The workbench never imports a command; a command never imports the workbench,
    # except `tui-trainer ui`, whose whole job is to open it.
    bad = [
        (a, b)
        for a, b in imports()
        if (part(a) == "ui" and part(b) in {"commands", "cli"})
        or (part(a) == "commands" and part(b) == "ui" and a != "tui_trainer.commands.ui")
    ]
    assert bad == []


# The layers of docs/ARCHITECTURE.md, bottom up. A module imports its own part
# or parts lower in this list, never a higher one.
FOUNDATION = {"config", "searched", "errors", "usertext", "formatting", "threads", "__init__", "__version__"}
ORDER = [FOUNDATION, LOWER, {"records"}, {"lab"}, FACES]


def rank(module: str) -> int:
    name = part(module) or "__init__"
    return next(i for i, names in enumerate(ORDER) if name in names)


def test_every_import_points_down_the_layers():
    bad = [
        (a, b)
        for a, b in imports()
        if b.startswith("tui_trainer.") and b != "tui_trainer.__init__" and rank(b) > rank(a)
    ]
    assert bad == []


def test_the_package_top_holds_the_foundation_only():
    # The procedures live in lab/, their records in records/: the top is what
    # every layer may use (and cli, the entry point).
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in {"__init__", "__main__"})
    assert top == sorted(FOUNDATION - {"__init__", "__version__"} | {"cli"})


def test_nothing_in_the_workbench_imports_its_app():
    # The app imports its screens; a screen, widget or state module importing the
    # app back (even for a type) would be a loop: they reach it by messages (ui/messages.py).
    pairs = imports()
    assert ("tui_trainer.commands.ui", "tui_trainer.ui.app") in pairs  # the walk sees the app's one importer
    assert [(a, b) for a, b in pairs if a.startswith("tui_trainer.ui.") and b == "tui_trainer.ui.app"] == []

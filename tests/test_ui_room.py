"""The room used at every size, as a user sees it: at 120x36 every check and every
hyperparameter in view; from 160x48 the ratio history and the first layer's tiles
beside the rest; at 100x30 two panes at once; number keys that enlarge a pane
(or show its tab) at any size; with and without colour."""

from __future__ import annotations

import pytest
from test_ui import loaded, make_app, run_to_end, wait_for
from test_ui_keys_found import screen_text

from tui_trainer.lab.checks import CHECKS
from tui_trainer.ui.widgets.checks_pane import ChecksPane
from tui_trainer.ui.widgets.hyperparams import ROWS as HYPER_ROWS


def shown(app) -> list[str]:
    return [p.id for p in app.query(".pane") if p.display and p.region.area]


def inside(app, pane_id: str) -> str:
    """The text inside a pane's region of the screen."""
    region = app.query_one(f"#{pane_id}").region
    lines = screen_text(app).splitlines()[region.y : region.bottom]
    return "\n".join(line[region.x : region.right] for line in lines)


@pytest.mark.parametrize("colour", ["colour", "NO_COLOR"])
async def test_each_size_uses_its_room(tmp_path, monkeypatch, colour):
    if colour == "NO_COLOR":
        monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(tmp_path, epochs=2, engine="thread")
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(pilot)
        await pilot.press("space")
        await run_to_end(pilot)
        await pilot.press("c")
        pane = app.query_one(ChecksPane)
        await wait_for(pilot, lambda: "passed" in str(pane.border_subtitle), timeout=60, what="the checks")
        await pilot.pause(0.3)

        # 120x36: every pane; every check on its line, every hyperparameter whole
        assert set(shown(app)) == {"loss", "accuracy", "weights", "hyper", "checks", "advice-slot"}
        checks = inside(app, "checks")
        for name in CHECKS:
            assert any(line.lstrip("│┃ ").startswith(name) and "pass" in line for line in checks.splitlines()), checks
        hyper = inside(app, "hyper")
        for name, *_ in HYPER_ROWS:
            assert name in hyper, hyper
        assert "…" not in hyper and app.query_one("#hyper").max_scroll_x == 0

        # 160x48 and 220x60: the ratio history and the first layer beside the rest
        for size in ((160, 48), (220, 60)):
            await pilot.resize_terminal(*size)
            await pilot.pause(0.3)
            assert {"loss", "ratio-history", "layer1", "accuracy", "weights", "hyper", "checks"} <= set(shown(app))
            assert "W1" in inside(app, "ratio-history")  # its lines, named where they end

        # 100x30: two panes at once; the number keys show a tab's pair
        await pilot.resize_terminal(100, 30)
        await pilot.pause(0.3)
        assert shown(app) == ["loss", "accuracy"]
        await pilot.press("4")
        await pilot.pause(0.2)
        assert shown(app) == ["checks", "advice-slot"]

        # 80x24: one pane, shown by its number
        await pilot.resize_terminal(80, 24)
        await pilot.press("3")
        await pilot.pause(0.2)
        assert shown(app) == ["weights"]

        # on a grid, a number enlarges its pane and again puts it back
        await pilot.resize_terminal(120, 36)
        await pilot.pause(0.2)
        await pilot.press("3")
        await pilot.pause(0.2)
        assert app.screen.maximized is app.query_one("#weights") and "shape" in inside(app, "weights")
        await pilot.press("3")
        await pilot.pause(0.2)
        assert app.screen.maximized is None
        await pilot.press("7", "escape")  # the ratio history, enlarged from the grid; escape: back
        await pilot.pause(0.2)
        assert app.screen.maximized is None and app.screen is app.workbench

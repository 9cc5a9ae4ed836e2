"""The search view's hyperparameter pane (i) on a search whose answer is known by
construction: below the synthetic peak val accuracy rises with the rate alone."""

from __future__ import annotations

from pathlib import Path

from test_search import synthetic_search
from test_ui_search import RecordedJob, ScreenHost, shown

import tui_trainer.ui
from tui_trainer.lab.search.runner import SearchEnded, TrialEnded
from tui_trainer.ui.app import WorkbenchApp
from tui_trainer.ui.screens.search import SearchScreen
from tui_trainer.ui.widgets.hparam_pane import WAITING, HyperparamPane


class Workbench(ScreenHost):
    """The search view on its own, laid out and sized as the workbench lays it out (app.tcss)."""

    CSS_PATH = str(Path(tui_trainer.ui.__file__).parent / "app.tcss")
    HORIZONTAL_BREAKPOINTS = WorkbenchApp.HORIZONTAL_BREAKPOINTS
    VERTICAL_BREAKPOINTS = WorkbenchApp.VERTICAL_BREAKPOINTS


def importance_rows(pane: HyperparamPane) -> list[list[str]]:
    """The importance table's rows as words (key, rho, bar, n=..., within chance)."""
    start = next(i for i, line in enumerate(pane.lines) if line.startswith("importance: ")) + 2
    end = pane.lines.index("", start)
    return [line.split() for line in pane.lines[start:end]]


async def test_the_rate_that_alone_matters_comes_first_and_the_pane_follows_the_trials_at_80x24(tmp_path):
    ended, events = synthetic_search(tmp_path, "[1e-6, 1e-3]")  # reg and hidden do nothing
    job = RecordedJob(ended_preset := _preset(ended), ended.path)
    screen = SearchScreen(job, redraw_interval=3600)
    async with Workbench(screen).run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("i")
        await pilot.pause()
        pane = screen.query_one(HyperparamPane)
        assert pane.display and pane.lines == [WAITING]
        trials = 0
        for event in events:
            if isinstance(event, SearchEnded):
                break
            shown(screen, job, event)  # the view's redraw, as its timer would
            trials += isinstance(event, TrialEnded)
            if trials == 5 and isinstance(event, TrialEnded):
                await pilot.pause()
                assert "(5 trials; * the best)" in pane.plain  # live: it follows the trials as they end
        shown(screen, job, ended)
        await pilot.pause()
        rows = importance_rows(pane)
        assert rows[0][:2] == ["learning_rate", "+1.00"] and "within" not in rows[0]
        assert {row[0] for row in rows} == {"learning_rate", "reg", "hidden"}
        assert "(30 trials; * the best)" in pane.plain
        picture = pane.lines[pane.lines.index("") + 1 :]
        assert picture[0].startswith("val acc against each searched value")
        assert all(len(line) <= pane.scrollable_content_region.width for line in picture)  # fits 80 columns
        assert all(line.isascii() for line in picture)  # marks, not hue: readable without colour
        # more than 80x24 shows at once: the keys scroll it
        assert pane.max_scroll_y > 0 and pane.scroll_y == 0
        await pilot.press("pagedown")
        await pilot.pause()
        assert pane.scroll_y > 0
    assert ended_preset.search.ranges["hidden"]  # the synthetic search searched hidden too


async def test_a_big_screen_draws_taller_wider_panels(tmp_path):
    ended, events = synthetic_search(tmp_path, "[1e-6, 1e-3]")
    job = RecordedJob(_preset(ended), ended.path)
    screen = SearchScreen(job, redraw_interval=3600)
    async with Workbench(screen).run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        for event in events:
            shown(screen, job, event)
        await pilot.press("i")
        await pilot.pause()
        pane = screen.query_one(HyperparamPane)
        axis = next(line for line in pane.lines if line.lstrip().startswith("+"))
        assert len(axis) > 150  # the panels take the width: wider than the reports' 30 columns each
        top = pane.lines.index(next(line for line in pane.lines if line.startswith("val acc against")))
        assert pane.lines.index(axis) - top - 1 > 8  # and the height: taller than the reports' 8 rows
        assert pane.max_scroll_y == 0  # all of it on screen


def _preset(ended: SearchEnded):
    from tui_trainer.records.search_store import SearchStore

    store = SearchStore.open(ended.path)
    try:
        return store.preset
    finally:
        store.close()

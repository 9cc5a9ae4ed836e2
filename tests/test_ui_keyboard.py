"""The workbench from the keyboard alone, at every size: Tab moves between the
panes (the focused one marked without colour), the arrows, PageUp/PageDown,
Home and End scroll it; the layout at each size gives every plot room for
round y-axis ticks two rows apart and leaves no table cut off without a way
to scroll to it."""

from __future__ import annotations

import pytest
from test_ui import loaded, make_app, run_to_end

from tui_trainer.engine.events import Advice
from tui_trainer.ui import layout
from tui_trainer.ui.widgets.accuracy_plot import AccuracyPlot
from tui_trainer.ui.widgets.hyperparams import Hyperparams
from tui_trainer.ui.widgets.loss_plot import LossPlot

SIZES = [(80, 24), (100, 30), (120, 36), (160, 48), (200, 60)]


def y_ticks(plot) -> int:
    """The y-axis tick labels the plot draws now (plotext marks each with ┤), when no
    two are on neighbouring rows (else 0: a column of numbers cannot be read)."""
    rows = [i for i, line in enumerate(str(plot.render()).splitlines()) if "┤" in line]
    return len(rows) if all(b - a >= 2 for a, b in zip(rows, rows[1:])) else 0


def many_advice(n: int) -> list[Advice]:
    return [Advice(iteration=10 * i, code="loss_flat", message=f"diagnosis {i}", remedy="a remedy") for i in range(n)]


async def scrolled(pilot, pane, y: float) -> None:
    """Wait for the (perhaps animated) scroll to arrive at y."""
    for _ in range(100):
        if pane.scroll_y == y:
            return
        await pilot.pause(0.02)
    raise AssertionError(f"{pane.id} scrolled to {pane.scroll_y}, not {y}")


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_at_each_size_plots_have_round_ticks_and_tables_scroll(tmp_path, size):
    app = make_app(tmp_path, epochs=2)
    async with app.run_test(size=size) as pilot:
        await loaded(pilot)
        await pilot.press("space")
        await run_to_end(pilot)
        screen = app.screen
        grid = screen.has_class("-grid")
        assert grid == (size[0] >= 120), size  # every pane at once where they fit, tabs elsewhere
        for plot, tab in ((app.query_one(LossPlot), "1"), (app.query_one(AccuracyPlot), "2")):
            if not grid:
                await pilot.press(tab)
            await pilot.pause(0.1)
            assert plot.display and y_ticks(plot) >= 2, (size, type(plot).__name__, plot.size)
        # The hyperparameters are never cut: a narrow pane scrolls them sideways.
        if not grid:
            await pilot.press("5")
            await pilot.pause(0.1)
        pane, table = app.query_one("#hyper"), app.query_one(Hyperparams)
        assert table.size.width >= table.get_content_width(pane.size, pane.size)
        assert pane.max_scroll_x == max(table.size.width - pane.scrollable_content_region.width, 0)
        # Every row of the weights table is on screen or a scroll away.
        if not grid:
            await pilot.press("3")
            await pilot.pause(0.1)
        weights = app.query_one("#weights")
        assert weights.virtual_size.height >= 5 and (
            weights.max_scroll_y > 0 or weights.scrollable_content_region.height >= 5
        )


async def test_tab_moves_between_panes_and_marks_the_focused_one(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        seen = []
        for _ in range(8):
            await pilot.press("tab")
            seen.append(app.focused.id)
        # in the order the four columns place them
        assert seen == ["accuracy", "ratio-history", "weights", "hyper", "layer1", "checks", "advice-slot", "loss"]
        focused = app.query_one("#checks")
        await pilot.press("shift+tab", "shift+tab")
        assert app.focused is focused
        assert focused.styles.border_top[0] == "heavy"  # marked without colour, too
        assert app.query_one("#loss").styles.border_top[0] == "round"


async def test_the_keys_scroll_the_focused_pane(tmp_path):
    """The advice pane holding more diagnoses than it shows: End reaches the oldest, Home the newest."""
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        for a in many_advice(12):
            app.screen.follow(a)
        await pilot.pause(0.1)
        slot = app.query_one("#advice-slot")
        assert slot.max_scroll_y > 0
        slot.focus()
        await pilot.press("end")
        await scrolled(pilot, slot, slot.max_scroll_y)
        assert "diagnosis 0" in slot.query_one("#advice").render().plain.splitlines()[-2]  # the oldest, last
        await pilot.press("home")
        await scrolled(pilot, slot, 0)
        await pilot.press("pagedown")
        await scrolled(pilot, slot, min(slot.scrollable_content_region.height, slot.max_scroll_y))
        # the checks pane (not a scrolling container of its own) scrolls by the screen's keys
        checks = app.query_one("#checks")
        checks.styles.height = 5
        await pilot.pause(0.1)
        checks.focus()
        assert checks.max_scroll_y > 0
        await pilot.press("down", "down")
        await scrolled(pilot, checks, 2)
        await pilot.press("end")
        await scrolled(pilot, checks, checks.max_scroll_y)


async def test_on_narrow_screens_the_shown_tab_takes_the_focus(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        for key, pane in (("4", "checks"), ("5", "hyper"), ("2", "accuracy")):
            await pilot.press(key)
            await pilot.pause(0.1)
            assert app.focused is not None and app.focused.id == pane, (key, app.focused)


def test_the_layout_is_chosen_from_what_fits():
    # A 2-layer net (4 parameter arrays) and the six hyperparameter rows, 36 columns wide.
    for (w, h), kind in zip(SIZES, ("tabs", "pairs", "grid", "wide", "wide"), strict=True):
        chosen = layout.choose(w, h, 4, 6, 36)
        assert chosen.kind == kind, (w, h)
        if chosen.grid:
            plots, middle, bottom = chosen.rows
            assert sum(chosen.rows) == h - layout.CHROME_ROWS and sum(chosen.columns) == w
            assert plots >= layout.PLOT_ROWS and bottom >= layout.CHECKS_ROWS and middle >= 6 + 4
            assert chosen.columns[2] >= 36 + layout.PANE_CHROME  # every hyperparameter in view
            assert chosen.columns[0] + chosen.columns[1] >= layout.WEIGHTS_MIN_WIDTH
            assert kind == "grid" or chosen.columns[3] >= layout.EXTRA_MIN_WIDTH
        else:
            assert chosen.pane_rows >= layout.PLOT_ROWS
    # A deep net needs more rows: 120x36 falls back to tabs rather than squeeze the plots.
    assert layout.choose(120, 36, 12, 6).grid is False
    assert layout.choose(160, 48, 12, 6).grid is True


async def test_help_and_palette_show_the_search_section_name(tmp_path):
    """ "[search]" is text, not markup: the help screen and the palette print it, and list the keyboard paths."""
    from test_ui import plain
    from textual.content import Content

    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        prompts = [Content.from_markup(c.help).plain for c in app.get_system_commands(app.screen)]
        assert any("over its [search] ranges" in p for p in prompts), prompts
        await pilot.press("question_mark")
        await pilot.pause()
        shown = "\n".join(plain(s) for s in app.screen.query("Static"))
        assert "over its [search] ranges" in shown and "the preset's [search] ranges" in shown
        assert "Shift+Tab" in shown or "shift+tab" in shown
        assert "PgUp PgDn Home End" in shown and "scroll the focused pane" in shown


async def test_t_in_the_search_view_only_where_it_toggles_something(tmp_path):
    """Wide and tall, both scatters show and `t` leaves the footer; on a small screen it toggles them."""
    from test_ui_search import TINY, open_search, preset_file, wait_for

    from tui_trainer.ui.app import WorkbenchApp

    preset = preset_file(tmp_path, TINY)
    app = WorkbenchApp(preset, runs_dir=tmp_path / "runs", engine="thread")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_search(app, pilot)
        await pilot.pause(0.1)
        keys = {b.binding.key for b in screen.active_bindings.values() if b.enabled}
        assert screen.check_action("toggle_plot", ()) is False and "t" not in keys
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        assert screen.check_action("toggle_plot", ()) is True
        shown = [s.id for s in screen.query("TrialScatter") if s.display]
        await pilot.press("t")
        await pilot.pause(0.1)
        assert [s.id for s in screen.query("TrialScatter") if s.display] != shown
        await wait_for(pilot, lambda: screen.ended is not None)


def test_the_runs_view_marks_train_and_val_as_the_workbench_does():
    from tui_trainer.ui.screens.runs import OverlayPlot
    from tui_trainer.ui.widgets import palette

    main = AccuracyPlot().border_title
    runs = OverlayPlot("accuracy").border_title
    assert f"{palette.TRAIN_MARK} train" in str(main) and f"{palette.VAL_MARK} val" in str(main)
    assert f"train {palette.TRAIN_MARK}, val {palette.VAL_MARK}" in str(runs)


@pytest.mark.parametrize("named", [False, True], ids=["next to the runs folder", "a folder the user names"])
async def test_the_palettes_screenshot_is_saved_and_its_path_shown(tmp_path, monkeypatch, named):
    from test_ui import preset_file

    from tui_trainer.config import load_preset
    from tui_trainer.ui.app import WorkbenchApp

    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/Downloads: it must not matter
    folder = tmp_path / "my shots" if named else tmp_path / "screenshots"
    app = WorkbenchApp(
        load_preset(preset_file(tmp_path)), runs_dir=tmp_path / "runs", screenshots_dir=folder if named else None
    )
    async with app.run_test(size=(120, 36)) as pilot:
        (command,) = [c for c in app.get_system_commands(app.screen) if c.title == "Screenshot"]
        command.callback()
        for _ in range(100):
            if list(folder.glob("*.svg")):
                break
            await pilot.pause(0.05)
        (svg,) = folder.glob("*.svg")
        assert "Weights and updates" in svg.read_text().replace("&#160;", " ")
        await pilot.pause(0.1)
        assert any(str(svg) in str(n.message) for n in app._notifications)

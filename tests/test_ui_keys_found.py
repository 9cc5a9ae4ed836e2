"""Every key found where a user looks for it: the footer shows the lecture's flow
(c f s g h v) and what a key would do now, help and the palette follow the
screen they open over with short names, u says what it would use, tables move
with j/k and filter with /, results about an older setup say so, and a newly
opened preset starts scrolled to the top and on a preset that runs offline."""

from __future__ import annotations

import io

from rich.console import Console
from test_ui import LONG, loaded, make_app, preset_file, run_to_end, wait_for
from textual.content import Content
from textual.widgets import DataTable, OptionList

from tui_trainer.ui.screens.help import HelpScreen
from tui_trainer.ui.screens.open_preset import OpenPreset
from tui_trainer.ui.screens.runs import RunsScreen
from tui_trainer.ui.texts import missing_data
from tui_trainer.ui.widgets.checks_pane import ChecksPane
from tui_trainer.ui.widgets.status_bar import StatusBar


def screen_text(app) -> str:
    """The whole screen as a user sees it, without colour."""
    w, h = app.size
    console = Console(width=w, height=h, file=io.StringIO(), color_system=None, record=True, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def footer(app) -> str:
    return screen_text(app).rstrip("\n").splitlines()[-1]


async def test_the_footer_shows_the_flow_and_what_a_key_does_now(tmp_path):
    app = make_app(tmp_path, **{**LONG, "epochs": 2000}, engine="thread")  # still going when looked at
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.pause()
        line = footer(app)
        for key in ("space Run", "c Checks", "f LR find", "s Search", "g Tune", "h Runs", "v View", "e Edit"):
            assert key in line, line
        assert "x Stop" not in line and "p Pause" not in line  # nothing to stop or pause yet
        await pilot.resize_terminal(120, 36)
        await pilot.pause()
        assert "? Help" in footer(app) and "q Quit" in footer(app)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.session.running and app.session.current.iteration > 2, what="the run")
        await pilot.pause(0.3)
        assert "x Stop" in footer(app) and "p Pause" in footer(app)
        await pilot.press("x")
        await run_to_end(pilot)
        await pilot.pause(0.3)
        assert "x Stop" not in footer(app)


async def test_help_and_the_palette_follow_the_screen_with_short_names(tmp_path):
    app = make_app(tmp_path, epochs=1, engine="thread")
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(pilot)
        # u with nothing to use says what it would take
        await pilot.press("u")
        await pilot.pause()
        said = str(app.query_one(StatusBar).render())
        assert "nothing to use yet" in said and "search's best trial (s)" in said
        # the palette over the workbench: short names, what each does beneath
        titles = [Content.from_markup(c.title).plain for c in app.get_system_commands(app.screen)]
        assert "Learning rate up" in titles and "Checks" in titles
        assert all(len(t) <= 24 for t in titles), [t for t in titles if len(t) > 24]
        await pilot.press("space")
        await run_to_end(pilot)
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        over_runs = [Content.from_markup(c.title).plain for c in app.get_system_commands(app.screen)]
        assert "Sort" in over_runs and "Filter" in over_runs and "Learning rate up" not in over_runs
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = screen_text(app)
        assert "runs view keys" in shown and "sort by val accuracy" in shown
        assert "learning rate up" not in shown.lower()
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_the_runs_table_moves_with_j_k_and_filters_with_slash(tmp_path):
    from tui_trainer.config import load_preset

    app = make_app(tmp_path, epochs=1, engine="thread")
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(pilot)
        await pilot.press("space")
        await run_to_end(pilot)
        other = load_preset(preset_file(tmp_path, "other-one", epochs=1))
        from tui_trainer.ui.messages import PresetChosen

        app.post_message(PresetChosen(other))
        await loaded(pilot)
        await pilot.press("space")
        await run_to_end(pilot, 2)
        await pilot.press("h")
        await pilot.pause()
        screen = app.screen
        table = screen.query_one(DataTable)
        assert table.row_count == 2 and table.cursor_row == 0
        await pilot.press("j")
        assert table.cursor_row == 1
        await pilot.press("k")
        assert table.cursor_row == 0
        await pilot.press("slash", *"other")
        await pilot.pause()
        assert table.row_count == 1 and "other-one" in str(table.get_row_at(0)[1])
        assert "1 match /other" in str(screen.query_one("#runs-title").render())
        await pilot.press("escape")  # clears the filter, stays in the view
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen) and table.row_count == 2
        await pilot.press("escape")
        assert not isinstance(app.screen, RunsScreen)


async def test_checks_go_stale_when_the_next_run_changes_and_a_new_preset_starts_at_the_top(tmp_path):
    app = make_app(tmp_path, epochs=1, engine="thread")
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(pilot)
        await pilot.press("c")
        pane = app.query_one(ChecksPane)
        await wait_for(pilot, lambda: "passed" in str(pane.border_subtitle), timeout=60, what="the checks")
        assert "stale" not in str(pane.border_subtitle)
        await pilot.press("b")
        await pilot.pause()
        assert "stale: the next run changed; c checks it" in str(pane.border_subtitle)
        await pilot.press("B")  # back to the setup checked
        await pilot.pause()
        assert "stale" not in str(pane.border_subtitle)
        # sideways scroll in the hyperparameters pane does not survive another preset
        await pilot.resize_terminal(100, 30)
        await pilot.press("5")
        await pilot.pause()
        hyper = app.query_one("#hyper")
        hyper.scroll_to(x=hyper.max_scroll_x, animate=False)
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, OpenPreset)
        options = picker.query_one(OptionList)
        highlighted = options.get_option_at_index(options.highlighted)
        # the list starts on a preset whose data are here (the one open now is not shipped)
        from tui_trainer.config import load_preset

        assert missing_data(load_preset(highlighted.id)) is None
        await pilot.press("enter")
        await loaded(pilot)
        await pilot.pause()
        assert hyper.scroll_x == 0

"""The workbench's `n`: the next run over N train seeds, one after another, as one seed
group, recorded as `tui-trainer run PRESET --seeds N` records it."""

from __future__ import annotations

from test_runs_view import table_names
from test_ui import loaded, make_app, plain, wait_for
from textual.widgets import DataTable, Input

from tui_trainer.records.run_folder import GROUP_FILE, list_runs
from tui_trainer.ui import texts
from tui_trainer.ui.screens.runs import RunsScreen
from tui_trainer.ui.screens.seeds_prompt import SeedsPrompt
from tui_trainer.ui.widgets.status_bar import StatusBar

STATE = dict(loaded=True, data_error="", restarting=False, now=0.0)
SPIRAL = dict(name="spiral-small", dataset="spiral", num_train=300, epochs=2, batch_size=50, learning_rate=0.5)


async def test_n_runs_two_seeds_as_one_group_the_runs_view_shows_as_one_row(tmp_path):
    app = make_app(tmp_path, **SPIRAL)  # the default host: the runs train in its child process
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, SeedsPrompt), what="the prompt")
        assert app.screen.query_one(Input).value == "3"  # the default
        await pilot.press("backspace", "2", "enter")

        await wait_for(
            pilot,
            lambda: len(app.session.runs) == 2 and app.session.group is None and not app.session.running,
            timeout=60,
            what="the group to end",
        )
        await pilot.pause()
        assert [r.seed for r in app.session.runs] == [(1, 2), (2, 2)]
        assert [r.ended.status for r in app.session.runs] == ["finished", "finished"]
        assert "seed 2 of 2 · best val acc" in plain(app.workbench.query_one(StatusBar))
        first = texts.status_fields(app.session.runs[0], app.session.next_preset, **STATE)
        assert str(first["note"]).startswith("seed 1 of 2")  # what the bar said while seed 1 went

        runs = [r for r in list_runs(tmp_path / "runs") if r.group is not None]
        assert len(runs) == 2 and len({r.group for r in runs}) == 1  # the same group.txt, as run --seeds writes
        (group,) = {r.group for r in runs}
        assert all((r.path / GROUP_FILE).read_text() == group + "\n" for r in runs)
        assert sorted(r.seed for r in runs) == [0, 1]  # train.seed, then the next one up

        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), what="the runs view")
        screen = app.screen
        assert table_names(screen) == [group]  # one row for the group
        assert screen.query_one(DataTable).get_cell(group, "run").endswith("(2 seeds)")


async def test_x_during_a_group_stops_the_whole_group(tmp_path):
    app = make_app(tmp_path, engine="thread", **{**SPIRAL, "epochs": 2000})  # minutes if left alone
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, SeedsPrompt), what="the prompt")
        await pilot.press("enter")  # 3 seeds
        await wait_for(pilot, lambda: app.session.running and app.session.current.iteration >= 2, what="seed 1")
        assert "seed 1 of 3" in plain(app.workbench.query_one(StatusBar))
        await pilot.press("x")
        await wait_for(pilot, lambda: not app.session.running and app.session.group is None, what="the stop to end")
        await pilot.pause(0.5)  # no seed 2 starts after it
        assert len(app.session.runs) == 1 and app.session.runs[0].ended.status == "stopped"
    runs = list_runs(tmp_path / "runs")
    assert len(runs) == 1 and runs[0].group is not None and runs[0].status == "stopped"


async def test_a_seed_group_of_zero_is_refused_with_run_seeds_own_words(tmp_path):
    app = make_app(tmp_path, engine="thread", **SPIRAL)
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, SeedsPrompt), what="the prompt")
        await pilot.press("backspace", "0", "enter")
        await pilot.pause()
        assert app.screen is app.workbench and not app.session.runs and app.session.group is None
        assert any("--seeds 0: must be a whole number of at least 1" in str(n.message) for n in app._notifications)

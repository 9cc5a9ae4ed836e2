"""`tui-trainer watch`'s screens as a new user met them: a tune's report that scrolls and reads
as tables, no key in a footer or a help that does nothing or writes, the searches' table tall
enough with the newest on top, an empty folder that says so in a line, the differs column
given the room, and a seed group's row that says what it opened."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_watch import record_run, screen_text, wait_for, watcher

from tui_trainer.cli import main
from tui_trainer.config import load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer
from tui_trainer.records.run_folder import RunStore
from tui_trainer.ui.screens.help import HelpScreen, acting
from tui_trainer.ui.screens.watch import LEAST, WatchScreen, table_heights
from tui_trainer.ui.screens.watched_jobs import WatchedLrFindScreen, WatchedTuneScreen

OLD_TUNE = Path(__file__).parent / "old_records" / "tune-spiral-20261206-215722-50df3f"  # a 136-line report.md


@pytest.fixture(scope="module")
def one_run(tmp_path_factory) -> Path:
    return record_run(tmp_path_factory.mktemp("one") / "runs")


def tune_folder(runs: Path, stamp: str) -> Path:
    """A tune stopped after its checks, as the watcher lists it (no report yet)."""
    tune = runs / f"tune-spiral-{stamp}-3f2a1c"
    tune.mkdir(parents=True)
    (tune / "preset.toml").write_text('name = "spiral"\n')
    (tune / "state.json").write_text('{"checks": {"result": {"checks": []}}}')
    return tune


def footer_keys(app) -> set[str]:
    """The keys the footer shows acting on the screen now, as Textual decides them."""
    return {b.key for _, b, enabled, _ in app.screen.active_bindings.values() if b.show and enabled}


def help_text(app) -> str:
    assert isinstance(app.screen, HelpScreen)
    return screen_text(app)


async def open_job(pilot, app, kind: str = "") -> None:
    """Enter on the first job of `kind` in the watch home's lower table."""
    table = app.screen.query_one("#watch-jobs")
    table.focus()
    name = next(name for name, job in app.screen.jobs.items() if job.kind.startswith(kind))
    table.move_cursor(row=table.get_row_index(name))
    await pilot.press("enter")


# --- the tune view ---------------------------------------------------------------------------------------


async def test_a_watched_tunes_report_scrolls_and_shows_its_tables_as_tables(tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(OLD_TUNE, runs / OLD_TUNE.name)
    app = watcher(runs)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WatchScreen) and len(app.screen.jobs) == 1)
        await open_job(pilot, app)
        await wait_for(pilot, lambda: isinstance(app.screen, WatchedTuneScreen) and "Tuning" in screen_text(app))
        first = screen_text(app)
        assert "| --- |" not in first and "│ initial-loss" in first  # a table, its rows whole
        assert not any(line.strip() == "|" for line in first.splitlines())
        assert "searches its fine ranges again" not in first
        await pilot.press("pagedown")
        await pilot.pause()
        assert screen_text(app) != first
        await pilot.press("end")
        await pilot.pause()
        assert "searches its fine ranges again" in screen_text(app)  # the report's last line
        await pilot.press("home")
        await pilot.pause()
        assert screen_text(app) == first


# --- keys that act, and only those -----------------------------------------------------------------------------


async def test_a_watched_lr_find_offers_no_u_and_every_watched_help_lists_only_keys_that_act(tmp_path, one_run):
    runs = tmp_path / "runs"
    assert main(["lr-find", "spiral", "--set", "train.epochs=1", "--runs-dir", str(runs)]) == 0
    tune_folder(runs, "20261124-171500")
    shutil.copytree(one_run, runs / one_run.name)
    app = watcher(runs)
    async with app.run_test(size=(130, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WatchScreen) and len(app.screen.jobs) == 2)
        helps = {}
        for kind in (WatchedLrFindScreen, WatchedTuneScreen):
            await open_job(pilot, app, "lr-find" if kind is WatchedLrFindScreen else "tune")
            await wait_for(pilot, lambda k=kind: isinstance(app.screen, k) and "esc" in screen_text(app))
            view = app.screen
            footer = footer_keys(app)
            assert "u" not in footer and "Use" not in screen_text(app).splitlines()[-1]
            # help and the palette list the footer's keys and the app's, nothing the footer leaves out
            keys = app.keys_of(view)
            assert {b.key for b in keys if b.show} == footer
            assert acting(keys, view) == keys
            await pilot.press("u")  # nothing, and nothing said
            await pilot.pause()
            said = " ".join(str(n.message) for n in app._notifications)
            assert "read-only" not in said and "u takes" not in said
            await pilot.press("question_mark")
            await pilot.pause()
            helps[kind] = help_text(app)
            await pilot.press("escape", "escape")
            await wait_for(pilot, lambda: isinstance(app.screen, WatchScreen))
        app.screen.query_one("#runs-table").focus()
        await pilot.press("enter")  # the run, in the workbench as a watcher has it
        await wait_for(pilot, lambda: app.screen is app.workbench)
        workbench_keys = app.keys_of(app.workbench)
        await pilot.press("question_mark")
        await pilot.pause()
        helps["workbench"] = help_text(app)
        panes = dict(app.screen.about)  # the panes as the help lists them, the part below the fold too
    assert "suggested rate the next run" not in helps[WatchedLrFindScreen]  # u's words
    for text in helps.values():
        assert "stop the trainer" not in text and "Changes apply to the next run" not in text
        assert "goes on running" in text  # q quits the watcher only
    listed = {b.key for b in workbench_keys}
    for key in ("space", "p", "x", "n", "c", "f", "s", "g", "e", "l", "r", "b", "u", "o"):
        assert key not in listed, key
    assert {"h", "v", "question_mark", "q"} <= listed  # what a watcher can do is there
    for words in ("start the next run", "pause or resume", "run the four sanity checks", "Search (s)"):
        assert words not in helps["workbench"]
    assert "Search (s)" not in panes and "the watched run's values" in panes["Hyperparameters"]
    assert not any("next run" in about for about in panes.values())  # a watcher has no next run


# --- the watch home -------------------------------------------------------------------------------------------


def test_the_two_tables_share_the_room_by_their_rows():
    assert table_heights(24, 3, 5) == (17, 7)  # both fit: the jobs as tall as their rows
    assert table_heights(24, 40, 12) == (18, 6)  # neither fits: by their rows
    assert table_heights(24, 2, 40) == (3, 21)  # the runs keep what they need
    assert table_heights(17, 100, 1) == (14, 3)
    assert min(table_heights(10, 100, 100)) >= LEAST


async def test_the_searches_table_grows_with_its_rows_and_shows_the_newest_first(tmp_path, one_run):
    runs = tmp_path / "runs"
    shutil.copytree(one_run, runs / one_run.name)
    for minute in range(12):
        tune_folder(runs, f"20261124-17{minute:02d}00")
    newest = "tune-spiral-20261124-171100-3f2a1c"
    app = watcher(runs)
    async with app.run_test(size=(120, 50)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WatchScreen) and len(app.screen.jobs) == 12)
        await pilot.pause()
        jobs = app.screen.query_one("#watch-jobs")
        assert jobs.outer_size.height >= 14  # its 12 rows, its header and its border
        shown = screen_text(app)
        assert newest in shown and "20261124-170000" in shown
        assert shown.index(newest) < shown.index("20261124-170000")  # the newest on top


@pytest.mark.parametrize("width", [80, 100])
async def test_an_empty_folder_says_so_in_a_line_with_no_advice(tmp_path, monkeypatch, width):
    monkeypatch.chdir(tmp_path)
    Path("empty-folder").mkdir()
    app = watcher(Path("empty-folder"))
    async with app.run_test(size=(width, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WatchScreen))
        await pilot.pause()
        shown = screen_text(app)
    assert "No runs in empty-folder/ yet: they show here as they start" in shown
    assert "advisor" not in shown and "Advice" not in shown


# --- the runs table -----------------------------------------------------------------------------------------------


async def test_the_differs_column_takes_the_room_a_wide_screen_has(tmp_path):
    runs = tmp_path / "runs"
    record_run(runs, "train.epochs=1")
    sets = ("data.num_train=300", "data.num_val=60", "train.learning_rate=0.7", "train.reg=0.002", "model.hidden=[12]")
    record_run(runs, "train.epochs=1", *sets)
    app = watcher(runs)
    async with app.run_test(size=(200, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WatchScreen) and len(app.screen.runs) == 2)
        await pilot.pause()
        shown = screen_text(app)
    assert "num_train=300 num_val=60 hidden=12 learning_rate=0.7 reg=0.002 " in shown  # whole, not cut at 40


def grouped_run(runs: Path, group: str, seed: int) -> Path:
    """A one-epoch spiral run of a seed group, as `--seeds` records one."""
    preset = load_preset("spiral", ["train.epochs=1", f"train.seed={seed}"])
    data = load_dataset(preset.data)
    store = RunStore.create(runs, preset, data, group=group)
    Trainer(preset, data, store, run_id=store.run_id, on_epoch=store.on_epoch).run()
    return store.path


async def test_enter_on_a_seed_group_says_which_of_its_runs_it_opened(tmp_path):
    runs = tmp_path / "runs"
    paths = [grouped_run(runs, "20261207-010000-spiral-x2-3f2a1c", seed) for seed in (1, 2)]
    app = watcher(runs)
    async with app.run_test(size=(130, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WatchScreen) and len(app.screen.groups) == 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is app.workbench and app.session.current is not None)
        said = " ".join(str(n.message) for n in app._notifications)
    assert app.session.current.path == paths[-1]
    assert "the latest of the 2 seeds" in said and paths[-1].name[16:] in said

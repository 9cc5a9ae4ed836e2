"""`tui-trainer watch`: the workbench following, read-only, what other processes write.

A real headless run in a background process is followed on screen and left to finish;
a folder of hostile files shows them as damaged; folders appear and go mid-watch; a
search another process holds is listed running and its trials show in the search view."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from tui_trainer.cli import main
from tui_trainer.config import Preset, load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer
from tui_trainer.lab.search.space import TrialResult, ranges_of, stage_trials
from tui_trainer.records.run_folder import RunStore
from tui_trainer.records.search_store import SearchStore
from tui_trainer.ui.app import WorkbenchApp
from tui_trainer.ui.screens.runs import RunsScreen
from tui_trainer.ui.screens.watch import WatchScreen
from tui_trainer.ui.screens.watched_jobs import WatchedSearchScreen
from tui_trainer.ui.widgets.run_notes import RunNotes

SIZE = (130, 40)
ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def screen_text(app) -> str:
    """The whole screen as a user sees it, without colour."""
    w, h = app.size
    console = Console(width=w, height=h, file=io.StringIO(), color_system=None, record=True, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


async def wait_for(pilot, condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.1)


def watcher(runs: Path) -> WorkbenchApp:
    return WorkbenchApp(Preset(name="watch"), runs_dir=runs, watch=True)


def record_run(runs: Path, *sets: str) -> Path:
    """A short spiral run recorded in `runs`, in this process."""
    preset = load_preset("spiral", ["train.epochs=3", *sets])
    data = load_dataset(preset.data)
    store = RunStore.create(runs, preset, data)
    trainer = Trainer(preset, data, store, run_id=store.run_id, on_epoch=store.on_epoch)
    trainer.run()
    return store.path


def notes_text(app) -> str:
    notes = app.workbench.query_one(RunNotes)
    return " ".join(text for _, text in notes.lines)


# --- a real run in another process ------------------------------------------------------------------


async def test_a_headless_run_is_followed_live_and_quitting_leaves_it_to_finish(tmp_path):
    runs = tmp_path / "runs"
    run = subprocess.Popen(
        [sys.executable, "-m", "tui_trainer", "run", "spiral", "--set", "train.epochs=2000", "--runs-dir", str(runs)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    try:
        deadline = time.monotonic() + 30
        while not list(runs.glob("*/metrics.jsonl")) or not list(runs.glob("*/metrics.jsonl"))[0].stat().st_size:
            assert time.monotonic() < deadline and run.poll() is None, "the run did not start"
            time.sleep(0.05)
        # Held still (SIGSTOP) while the watcher opens it, so that under any load it is seen
        # running, not already finished; a stopped writer still holds its record: running.
        run.send_signal(signal.SIGSTOP)
        app = watcher(runs)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, WatchScreen) and "running" in screen_text(app))
            await pilot.press("enter")  # open the run: the workbench's panes, fed from its file
            await wait_for(pilot, lambda: app.screen is app.workbench and app.session.current.iteration > 0)
            first = app.session.current.current_epoch
            shown = screen_text(app)
            assert "running" in shown and "epoch" in shown
            run.send_signal(signal.SIGCONT)
            await wait_for(pilot, lambda: app.session.current.current_epoch >= first + 30)
            run.send_signal(signal.SIGSTOP)  # still going when the watcher quits, whatever the load
            assert screen_text(app) != shown  # the status bar moved on
            footer = shown.splitlines()[-1]
            assert "Run" not in footer.split() and "Stop" not in footer  # read-only: no key that trains
            assert "Seeds" not in footer and "Checks" not in footer and "Search" not in footer
            for key in ("space", "n", "c", "s", "g", "f", "e", "l", "r", "b"):  # none of them acts
                await pilot.press(key)
            await pilot.pause()
            assert app.screen is app.workbench and len(app.screen_stack) == 1, app.screen_stack
            assert not app.session.jobs and len(list(runs.iterdir())) == 1  # nothing started here
            assert "following" in notes_text(app)
            await pilot.press("q")
        assert run.poll() is None, "quitting the watcher ended the run"
        run.send_signal(signal.SIGCONT)  # a signal the watcher had sent would act now: none did
        assert run.wait(timeout=120) == 0, run.stderr.read().decode() if run.stderr else ""
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGCONT)
            run.kill()
            run.wait()
    (folder,) = runs.iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_run"] == 2000
    assert (folder / "metrics.jsonl").read_text().rstrip("\n").splitlines()[-1].startswith('{"event": "run_ended"')


# --- hostile files -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_run(tmp_path_factory) -> Path:
    return record_run(tmp_path_factory.mktemp("one") / "runs")


def hostile_folder(tmp_path: Path, one_run: Path) -> dict[str, Path]:
    """Runs whose files are damaged each their own way (copies of one real run)."""
    runs = tmp_path / "runs"
    runs.mkdir()
    made = {}
    for name in ("garbage", "partial", "summary", "link", "huge", "config"):
        made[name] = shutil.copytree(one_run, runs / f"{one_run.name[:16]}{name}")
    lines = (one_run / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    garbage = b"\xff\xfe{garbage\x00\n"
    (made["garbage"] / "metrics.jsonl").write_bytes(b"".join(lines[:3]) + garbage + b"".join(lines[3:]))
    (made["partial"] / "metrics.jsonl").write_bytes(b"".join(lines[:-1]) + lines[-1][:20])
    (made["partial"] / "summary.json").unlink()
    (made["summary"] / "summary.json").write_bytes(b'{"status": "fini\xff')
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(b"".join(lines))
    (made["link"] / "metrics.jsonl").unlink()
    (made["link"] / "metrics.jsonl").symlink_to(outside)
    secret = tmp_path / "secret.toml"  # a config.toml that leads out: not read, as metrics.jsonl is not
    recorded = (one_run / "config.toml").read_text()
    secret.write_text(re.sub(r"(?m)^learning_rate = .*$", "learning_rate = 0.777", recorded, count=1))
    (made["config"] / "config.toml").unlink()
    (made["config"] / "config.toml").symlink_to(secret)
    with open(made["huge"] / "metrics.jsonl", "r+b") as f:  # a sparse 8 MiB line (the limit: 1 MiB)
        f.seek(0, os.SEEK_END)
        f.truncate(f.tell() + (8 << 20))
        f.seek(0, os.SEEK_END)
        f.write(b"\n" + b"".join(lines[-2:]))
    return made


async def test_hostile_files_show_as_damaged_never_a_crash(tmp_path, one_run):
    made = hostile_folder(tmp_path, one_run)
    app = watcher(tmp_path / "runs")
    said = {}
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WatchScreen) and len(app.screen.runs) == 6)
        for name, path in made.items():
            home = app.screen
            assert isinstance(home, WatchScreen)
            table = home.query_one("#runs-table")
            table.move_cursor(row=table.get_row_index(path.name))
            await pilot.press("enter")
            await wait_for(pilot, lambda p=path: app.screen is app.workbench and app.session.current.path == p)
            await pilot.pause(0.6)  # a poll or two
            said[name] = notes_text(app)
            if name == "config":
                assert app.session.current.preset.train.learning_rate != 0.777
            await pilot.press("h")
            await wait_for(pilot, lambda: isinstance(app.screen, WatchScreen))
        assert app.is_running
    assert "1 damaged line skipped" in said["garbage"]
    assert "outside the watched folder" in said["link"]
    assert "config.toml: a link to outside the watched folder: not read" in said["config"]
    assert "1 damaged line skipped" in said["huge"]
    assert "damaged" not in said["partial"]  # a line without its newline waits for it
    assert "finished" in said["summary"]  # the summary is damaged; the events say how the run ended


# --- folders that come and go --------------------------------------------------------------------------


async def test_a_run_folder_that_appears_or_goes_mid_watch_shows(tmp_path, one_run):
    runs = tmp_path / "runs"
    runs.mkdir()
    app = watcher(runs)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WatchScreen) and "No runs in" in screen_text(app))
        copy = shutil.copytree(one_run, runs / one_run.name)
        await wait_for(pilot, lambda: one_run.name in screen_text(app))
        shutil.rmtree(copy)
        await wait_for(pilot, lambda: one_run.name not in screen_text(app))
        assert app.is_running


# --- a search another process holds -----------------------------------------------------------------------


async def test_a_search_is_listed_running_and_its_trials_show_as_they_land(tmp_path):
    preset = load_preset("spiral", ["search.stages=[{trials=3,epochs=1}]"])
    store = SearchStore.create(tmp_path / "runs", preset)  # holds the folder's lock, as a running search does
    trials = stage_trials(preset.search.seed, 1, 3, 1, ranges_of(preset.search))
    store.save_stage(1, ranges_of(preset.search))

    def record(t) -> None:
        result = TrialResult.of(
            t,
            status="finished",
            reason="",
            best_val_acc=0.5 + t.index / 10,
            best_epoch=1,
            epochs=1,
            iterations=6,
            elapsed_s=0.1,
            worker="test",
        )
        store.record(result.json_fields())

    record(trials[0])
    app = watcher(tmp_path / "runs")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, WatchScreen) and "search" in screen_text(app))
            assert "running" in screen_text(app)
            app.screen.query_one("#watch-jobs").focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, WatchedSearchScreen))
            view = app.screen
            await wait_for(pilot, lambda: len(view.results) == 1)
            record(trials[1])
            record(trials[2])
            await wait_for(pilot, lambda: len(view.results) == 3)  # they land as the store gets them
            assert view.best is not None and view.best.trial_id == trials[2].trial_id
            store.close()  # the search ends: its lock goes, and no next.toml: stopped
            await wait_for(pilot, lambda: view.ended is not None)
            assert view.ended.status == "stopped"
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, WatchScreen))
    finally:
        store.close()


# --- the workbench's runs view follows too -------------------------------------------------------------------


async def test_the_runs_view_follows_a_run_another_process_writes(tmp_path, one_run):
    from textual.app import App

    runs = tmp_path / "runs"
    folder = shutil.copytree(one_run, runs / one_run.name)
    (folder / "summary.json").unlink()
    lines = (one_run / "metrics.jsonl").read_text().splitlines(keepends=True)
    first_epoch = next(i for i, line in enumerate(lines) if line.startswith('{"event": "epoch"'))
    (folder / "metrics.jsonl").write_text("".join(lines[: first_epoch + 1]))  # one epoch of three so far

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(RunsScreen(runs))

    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and "running 1/3" in screen_text(app))
        with open(folder / "metrics.jsonl", "a") as f:  # the writer goes on
            f.write("".join(lines[first_epoch + 1 : -1]))
        await wait_for(pilot, lambda: "running 3/3" in screen_text(app))
        with open(folder / "metrics.jsonl", "a") as f:
            f.write(lines[-1])
        shutil.copy(one_run / "summary.json", folder / "summary.json")  # it ends
        await wait_for(pilot, lambda: "finished" in screen_text(app) and "running" not in screen_text(app))


# --- the first layer, lr-find and tune ---------------------------------------------------------------------


async def test_a_watched_run_shows_its_best_epochs_first_layer(tmp_path):
    runs = tmp_path / "runs"
    record_run(runs, "data.dataset=digits", "data.num_train=200", "data.num_val=50", "model.hidden=[16]")
    app = watcher(runs)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WatchScreen) and len(app.screen.runs) == 1)
        await pilot.press("enter")
        view = app.workbench.weights_view
        await wait_for(pilot, lambda: view.tiles is not None)
        assert view.tiles.shape[0] == 16  # a tile per hidden unit, from best.npz


async def test_an_lr_find_and_a_tune_open_to_what_their_folders_hold(tmp_path):
    runs = tmp_path / "runs"
    assert main(["lr-find", "spiral", "--set", "train.epochs=1", "--runs-dir", str(runs)]) == 0
    tune = runs / "tune-spiral-20261124-171500-3f2a1c"
    tune.mkdir()
    (tune / "preset.toml").write_text('name = "spiral"\n')
    (tune / "state.json").write_text('{"checks": {"result": {"checks": []}}}')
    app = watcher(runs)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WatchScreen) and len(app.screen.jobs) == 2)
        app.screen.query_one("#watch-jobs").focus()
        await pilot.press("enter")  # the lr-find: newest first (its stamp is today's, the tune's older)
        await wait_for(pilot, lambda: "suggested learning rate" in screen_text(app))
        await pilot.press("escape", "down", "enter")
        await pilot.pause(0.3)
        assert "tune" in screen_text(app) and "stopped" in screen_text(app)
        assert "done: checks" in screen_text(app) and "No report yet" in screen_text(app)


# --- the command line ------------------------------------------------------------------------------------


def test_watch_refuses_a_folder_that_is_not_there_in_one_line(tmp_path, capsys):
    assert main(["watch", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
    (tmp_path / "file").write_text("x")
    assert main(["watch", str(tmp_path / "file")]) == 2
    assert "is not a folder" in capsys.readouterr().err

"""The workbench under hostile conditions: `q` while the data load, presets that
cannot be opened. It leaves within a second, or shows the message and stays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui_trainer.engine import Trainer
from tui_trainer.engine.events import Step
from tui_trainer.records.run_folder import read_metrics

REPO = Path(__file__).resolve().parent.parent


SLOW_LOAD = """
import time
import tui_trainer.datasets as datasets

_real = datasets.load_dataset


def load_dataset(*args, **kwargs):  # a 2M-row set takes half a minute to load
    time.sleep(60)
    return _real(*args, **kwargs)


datasets.load_dataset = load_dataset
"""


def test_q_leaves_at_once_while_the_data_are_still_loading(tmp_path):
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    (tmp_path / "sitecustomize.py").write_text(SLOW_LOAD)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_trainer", "ui", "spiral", "--runs-dir", str(tmp_path / "runs")],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}:{REPO}", "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(slave)
    out = b""
    try:
        deadline = time.monotonic() + 30
        while b"loading" not in out.lower() and time.monotonic() < deadline:  # the screen is up, the data not
            if select.select([master], [], [], 0.1)[0]:
                out += os.read(master, 65536)
        time.sleep(0.5)
        t0 = time.monotonic()
        os.write(master, b"q")
        while proc.poll() is None and time.monotonic() - t0 < 10:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    break
        proc.wait(timeout=10)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert took < 1.5, took
    assert proc.returncode == 0


async def test_the_workbench_survives_opening_a_folder_and_a_preset_nested_too_deep(tmp_path):
    from test_ui import BIG, loaded, make_app

    (tmp_path / "deep.toml").write_text("a = " + "[" * 1000 + "]" * 1000)
    (tmp_path / "folder.toml").mkdir()
    app = make_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        for path, says in (("deep.toml", "nested too deep"), ("folder.toml", "a folder, not a preset file")):
            await pilot.press("o")
            await pilot.pause()
            box = app.screen.query_one("#open-path")
            box.focus()
            box.value = str(tmp_path / path)
            await pilot.press("enter")
            await pilot.pause()
            assert says in str(app.screen.query_one("#open-error").render())
            await pilot.press("escape")
            await pilot.pause()
        assert app.is_running and app.session.data is not None


class SlowStep(Trainer):
    """After its third step, one that takes half a minute (a net too slow for this
    machine): the trainer cannot see the stop until it ends."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        inner = self.sink

        def sink(event):
            inner(event)
            if isinstance(event, Step) and event.iteration == 3:
                time.sleep(30)

        self.sink = sink


@pytest.mark.parametrize("engine", ["process", "thread"])
async def test_q_during_a_step_that_will_not_end_leaves_and_the_record_still_ends(tmp_path, engine):
    """The thread engine's trainer too: a daemon thread the app does not wait for."""
    from test_ui import BIG, loaded, make_app, wait_for

    app = make_app(tmp_path, trainer_cls=SlowStep, epochs=5, engine=engine)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        await pilot.press("space")
        await wait_for(
            pilot, lambda: app.session.current is not None and app.session.current.run_dir, what="the run to start"
        )
        await pilot.pause(0.5)  # the trainer is inside the slow step now
        t0 = time.monotonic()
        await pilot.press("q")
        assert time.monotonic() - t0 < 1.0
    # and the app is gone: nothing waits for the trainer (its process, or its thread)
    assert time.monotonic() - t0 < 1.5
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["reason"] == "the workbench closed during a step"
    events = read_metrics(run_dir)
    assert [e["iteration"] for e in events if e["event"] == "step"] == [1, 2, 3]
    assert [e["event"] for e in events].count("run_ended") == 1 and events[-1]["event"] == "run_ended"
    assert not list(run_dir.glob(".*.tmp"))


SLOW_STEP = """
import os
import time
from pathlib import Path

import tui_trainer.ui.trainer_host as host
from tui_trainer.engine.events import Step

_real = host.train_one


def train_one(number, preset, data, runs_dir, sink, *rest):  # its third step takes a minute
    def slow(event):
        sink(event)
        if isinstance(event, Step) and event.iteration == 3:
            Path(os.environ["IN_STEP"]).touch()
            time.sleep(60)

    return _real(number, preset, data, runs_dir, slow, *rest)


host.train_one = train_one
"""


def test_q_during_a_step_that_will_not_end_leaves_at_once_with_the_thread_engine(tmp_path):
    """The whole process, as a user runs it: Textual joins its workers on exit, so the
    thread engine's trainer is a daemon thread of its own, and the record still ends."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    (tmp_path / "sitecustomize.py").write_text(SLOW_STEP)
    in_step = tmp_path / "in-step"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{REPO}", "TERM": "xterm-256color"}
    env.update(TUI_TRAINER_ENGINE="thread", IN_STEP=str(in_step))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_trainer", "ui", "spiral", "--runs-dir", str(tmp_path / "runs")],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=tmp_path,
        env=env,
        start_new_session=True,
    )
    os.close(slave)

    def read_for(seconds: float, until=lambda: False) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and proc.poll() is None and not until():
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    return

    try:
        read_for(3)  # the screen is up
        deadline = time.monotonic() + 30
        while not in_step.exists() and time.monotonic() < deadline:
            os.write(master, b" ")  # space starts a run (once the data are loaded)
            read_for(1, until=in_step.exists)
        assert in_step.exists(), "the run did not reach its slow step"
        t0 = time.monotonic()
        os.write(master, b"q")
        read_for(10)
        proc.wait(timeout=10)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        os.close(master)
    assert took < 1.5, took
    assert proc.returncode == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["reason"] == "the workbench closed during a step"
    events = read_metrics(run_dir)
    assert [e["iteration"] for e in events if e["event"] == "step"] == [1, 2, 3]
    assert [e["event"] for e in events].count("run_ended") == 1 and events[-1]["event"] == "run_ended"
    assert not list(run_dir.glob(".*.tmp"))


async def test_the_runs_view_shows_bracketed_folders_and_edited_records(tmp_path):
    from test_ui import BIG, loaded, preset_file

    from tui_trainer.config import load_preset, to_toml
    from tui_trainer.ui.app import WorkbenchApp
    from tui_trainer.ui.screens.runs import RunsScreen

    preset = load_preset(preset_file(tmp_path))
    runs_dir = tmp_path / "r[" / "i]"
    odd = runs_dir / "20261130-120000-odd[b]name-abcdef"
    odd.mkdir(parents=True)
    (odd / "config.toml").write_text(to_toml(preset))
    (odd / "metrics.jsonl").write_text("")
    (odd / "summary.json").write_text(json.dumps({"status": "[/b]done", "best_val_acc": "high"}))
    app = WorkbenchApp(preset, runs_dir=runs_dir)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        assert f"Runs in {runs_dir}/: 1" in str(app.screen.query_one("#runs-title").render())
        table = app.screen.query_one("DataTable")
        from rich.text import Text

        row = [Text.from_markup(c).plain for c in table.get_row_at(0)]  # as DataTable draws a str cell
        assert "20261130-120000-odd[b]name-abcdef" in row and "[/b]done" in row
        assert app.is_running


def notified(app) -> list[str]:
    """The toasts up now, as they read on the screen (their markup parsed)."""
    from textual.content import Content

    return [Content.from_markup(n.message).plain for n in app._notifications]


async def test_markup_in_a_presets_name_and_paths_is_text_in_what_every_job_key_says(tmp_path):
    """`[/b]` and `[bold]` in a preset's name, its file's path, its data path and the runs
    directory are shown as written by c, s, f and g (which cannot start, or fail), and the
    workbench stays up (Textual's markup parser used to raise MarkupError on them)."""
    from test_ui import BIG, loaded, preset_file, wait_for

    from tui_trainer.config import load_preset
    from tui_trainer.ui.app import WorkbenchApp
    from tui_trainer.ui.screens.tune import LrFindScreen

    name = "[/b]odd[bold]"
    (tmp_path / "[").mkdir()
    # Data that cannot load: each job key says why, with the preset's name and the data path.
    where = tmp_path / f"{name}.toml"  # .../[/b]odd[bold].toml
    missing = tmp_path / "[" / "b]" / "d[bold].npz"
    where.write_text(f'name = "{name}"\n[data]\ndataset = "npz"\npath = "{missing}"\n')
    app = WorkbenchApp(load_preset(where), runs_dir=tmp_path / "runs", engine="thread")
    async with app.run_test(size=BIG) as pilot:
        await wait_for(pilot, lambda: app.session.data_error != "", what="the data error")
        for key in "csfg":
            await pilot.press(key)
            await pilot.pause()
        said = notified(app)
        assert sum(f"{name}: data.path {missing} does not exist" in s for s in said) == 5  # the load, then c s f g
        assert str(where) in said[-1]
        assert app.is_running

    # A runs directory that cannot be made (a file is in its place): s and g cannot start, f fails in its view.
    runs = tmp_path / "[" / "b]runs[bold]"
    runs.write_text("")
    preset = load_preset(preset_file(tmp_path, name))
    app = WorkbenchApp(preset, runs_dir=runs, engine="thread")
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        for key in "sg":
            await pilot.press(key)
            await pilot.pause()
        cannot = f"{runs}: cannot create the runs directory"
        assert sum(cannot in s for s in notified(app)) == 2
        await pilot.press("f")
        screen = app.screen
        assert isinstance(screen, LrFindScreen)
        await wait_for(pilot, lambda: not screen.job.running, what="lr-find to fail")
        await pilot.pause()
        title = str(screen.query_one("#lr-title").render())
        assert title.startswith("lr-find failed: ") and cannot in title
        await pilot.press("escape")
        assert app.is_running and app.screen is app.workbench

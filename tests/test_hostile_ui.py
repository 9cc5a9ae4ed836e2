"""The workbench under hostile conditions: `q` while the data load, presets that
cannot be opened. It leaves without waiting for what is slow, or shows the
message and stays.

No test here times how fast it leaves (bench/ui_bench.py is the place for
targets): each makes the slow thing last far longer than any machine takes to
quit, and asserts the app left while that thing was still going.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui_trainer.engine import Trainer
from tui_trainer.engine.events import Step
from tui_trainer.records.run_folder import read_metrics

REPO = Path(__file__).resolve().parent.parent

# What is slow here lasts SLOW_S in a workbench run as a process of its own, and
# a minute in one run by the test (SlowStep: a failure shows sooner). A workbench
# that leaves without waiting for it is gone within a second or two (0.7 to 1.8 s
# from q to exit measured on a shared 2-core machine, with and without both cores
# kept busy): LEAVE_S, and that minute, are 30x that, bounds no load makes it
# miss, and ones a workbench that waited for the slow thing could not meet.
SLOW_S = 600
LEAVE_S = 60


SLOW_LOAD = f"""
import time
import tui_trainer.datasets as datasets

_real = datasets.load_dataset


def load_dataset(*args, **kwargs):  # a 2M-row set, on a slow disk
    time.sleep({SLOW_S})
    return _real(*args, **kwargs)


datasets.load_dataset = load_dataset
"""


class Workbench:
    """`tui-trainer ui spiral` as a user runs it, in a 120x40 pseudo-terminal, with
    a sitecustomize.py (`slow`) that makes one thing in it slow."""

    def __init__(self, tmp_path: Path, slow: str, *args: str, controlling: bool = False, **env: str):
        """`args`: more of the command line; `controlling`: the pseudo-terminal is the
        process's controlling terminal (as an SSH session's is), so closing it hangs it up."""
        import fcntl
        import pty
        import struct
        import termios

        (tmp_path / "sitecustomize.py").write_text(slow)
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))

        def take_the_terminal() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui_trainer", "ui", "spiral", "--runs-dir", str(tmp_path / "runs"), *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": f"{tmp_path}:{REPO}", "TERM": "xterm-256color", **env},
            start_new_session=not controlling,
            preexec_fn=take_the_terminal if controlling else None,
        )
        os.close(slave)
        self.out = b""

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        if self.master >= 0:
            os.close(self.master)

    def hang_up(self) -> None:
        """The terminal goes away (its other end closed: a dropped SSH session)."""
        os.close(self.master)
        self.master = -1

    def read_for(self, seconds: float, until=lambda: False) -> None:
        import select

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.proc.poll() is None and not until():
            if select.select([self.master], [], [], 0.05)[0]:
                try:
                    self.out += os.read(self.master, 65536)
                except OSError:  # EIO: the app closed the terminal
                    return

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def quit(self) -> bool:
        """q, then up to LEAVE_S for the process to end: whether it did."""
        deadline = time.monotonic() + LEAVE_S
        self.press(b"q")
        self.read_for(LEAVE_S)  # returns early when the app closes the terminal, before it exits
        try:
            self.proc.wait(timeout=max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            return False
        return True


def test_q_leaves_at_once_while_the_data_are_still_loading(tmp_path):
    with Workbench(tmp_path, SLOW_LOAD) as ui:
        ui.read_for(30, until=lambda: b"loading" in ui.out.lower())  # the screen is up, the data not
        time.sleep(0.5)
        # Gone while the load (SLOW_S) still had minutes to go: q did not wait for it.
        assert ui.quit(), f"q waited for the data to load (still running {LEAVE_S}s after q)"
    assert ui.proc.returncode == 0


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
    """After its third step, one that takes a minute (a net too slow for this
    machine): the trainer cannot see the stop until it ends. It touches the files
    named by $IN_STEP as the slow step begins and $STEP_DONE as it ends, in
    whichever process the engine runs it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        inner = self.sink
        in_step, done = Path(os.environ["IN_STEP"]), Path(os.environ["STEP_DONE"])

        def sink(event):
            inner(event)
            if isinstance(event, Step) and event.iteration == 3:
                in_step.touch()
                time.sleep(60)
                done.touch()

        self.sink = sink


@pytest.mark.parametrize("engine", ["process", "thread"])
async def test_q_during_a_step_that_will_not_end_leaves_and_the_record_still_ends(tmp_path, monkeypatch, engine):
    """The thread engine's trainer too: a daemon thread the app does not wait for."""
    from test_ui import BIG, loaded, make_app, wait_for

    in_step, step_done = tmp_path / "in-step", tmp_path / "step-done"
    monkeypatch.setenv("IN_STEP", str(in_step))
    monkeypatch.setenv("STEP_DONE", str(step_done))
    app = make_app(tmp_path, trainer_cls=SlowStep, epochs=5, engine=engine)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        await pilot.press("space")
        await wait_for(pilot, in_step.exists, what="the run to reach its slow step")
        await pilot.press("q")
    # The app is gone and the step it was in has not ended: nothing waited for the
    # trainer (its process, or its thread). Only a quit slower than the step's minute
    # could see it end; the app gives the trainer 0.6 s.
    assert not step_done.exists(), "q waited for the step to end"
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["reason"] == "the workbench closed during a step"
    events = read_metrics(run_dir)
    assert [e["iteration"] for e in events if e["event"] == "step"] == [1, 2, 3]
    assert [e["event"] for e in events].count("run_ended") == 1 and events[-1]["event"] == "run_ended"
    assert not list(run_dir.glob(".*.tmp"))


SLOW_STEP = f"""
import os
import time
from pathlib import Path

import tui_trainer.ui.trainer_host as host
from tui_trainer.engine.events import Step

_real = host.train_one


def train_one(number, preset, data, runs_dir, sink, *rest):  # its third step takes ten minutes
    def slow(event):
        sink(event)
        if isinstance(event, Step) and event.iteration == 3:
            Path(os.environ["IN_STEP"]).touch()
            time.sleep({SLOW_S})

    return _real(number, preset, data, runs_dir, slow, *rest)


host.train_one = train_one
"""


def test_q_during_a_step_that_will_not_end_leaves_at_once_with_the_thread_engine(tmp_path):
    """The whole process, as a user runs it: Textual joins its workers on exit, so the
    thread engine's trainer is a daemon thread of its own, and the record still ends."""
    in_step = tmp_path / "in-step"
    with Workbench(tmp_path, SLOW_STEP, TUI_TRAINER_ENGINE="thread", IN_STEP=str(in_step)) as ui:
        ui.read_for(3)  # the screen is up
        deadline = time.monotonic() + 30
        while not in_step.exists() and time.monotonic() < deadline:
            ui.press(b" ")  # space starts a run (once the data are loaded)
            ui.read_for(1, until=in_step.exists)
        assert in_step.exists(), "the run did not reach its slow step"
        # Gone while the step (SLOW_S) still had minutes to go: q did not wait for it.
        assert ui.quit(), f"q waited for the step to end (still running {LEAVE_S}s after q)"
    assert ui.proc.returncode == 0
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


@pytest.mark.parametrize("how", ["SIGTERM", "terminal hung up", "terminal closed"])
def test_a_workbench_killed_or_hung_up_ends_the_running_runs_record(tmp_path, how):
    """SIGTERM sent to it; its controlling terminal hung up (the kernel's SIGHUP, to the
    trainer's process too, as when an SSH session drops; a SIGHUP sent by hand takes the
    same path as SIGTERM); a terminal that goes away without a hangup reaching it. Each
    quits as q does, with exit status 130."""
    gone = how.startswith("terminal")
    with Workbench(tmp_path, "", "--set", "train.epochs=100000", controlling=how == "terminal hung up") as ui:
        ui.read_for(3)  # the screen is up
        runs = tmp_path / "runs"
        deadline = time.monotonic() + 60
        while not (runs.is_dir() and any(runs.iterdir())) and time.monotonic() < deadline:
            ui.press(b" ")  # space starts a run (once the data are loaded)
            ui.read_for(1, until=lambda: runs.is_dir() and any(runs.iterdir()))
        (run_dir,) = runs.iterdir()
        while not _has_an_epoch(run_dir) and time.monotonic() < deadline:
            ui.read_for(0.2)
        assert _has_an_epoch(run_dir), "the run did not reach its first epoch"
        if gone:
            ui.hang_up()
        else:
            ui.proc.send_signal(getattr(signal, how))
        ui.proc.wait(timeout=LEAVE_S)  # a hang guard: it leaves within its quit budget
    assert ui.proc.returncode == 130
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped", summary
    reasons = {
        "SIGTERM": ["interrupted by SIGTERM"],
        "terminal hung up": ["interrupted by SIGHUP", "interrupted: the terminal went away"],
        "terminal closed": ["interrupted: the terminal went away"],
    }[how]
    assert summary["reason"] in reasons
    events = read_metrics(run_dir)
    assert [e["event"] for e in events].count("run_ended") == 1 and events[-1]["event"] == "run_ended"


def _has_an_epoch(run_dir: Path) -> bool:
    try:
        return any(e["event"] == "epoch" for e in read_metrics(run_dir))
    except OSError:  # not made yet
        return False

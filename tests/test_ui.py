"""The workbench, driven like a person drives it: keys in, screen state out.

Each test opens the app with `run_test`, presses keys through the Pilot and
asserts on what a user would notice: the status, the plots' data, the next
run's hyperparameters, the run directory. Presets are small (the bundled
digits set) so a whole run takes a fraction of a second.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui_trainer.engine import Trainer
from tui_trainer.engine.events import Advice, RunEnded
from tui_trainer.records.run_folder import read_metrics
from tui_trainer.ui.app import WorkbenchApp
from tui_trainer.ui.screens.edit_form import EditForm
from tui_trainer.ui.screens.workbench import FOCUS_KEYS
from tui_trainer.ui.widgets.accuracy_plot import AccuracyPlot
from tui_trainer.ui.widgets.checks_pane import ChecksPane
from tui_trainer.ui.widgets.hyperparams import Hyperparams
from tui_trainer.ui.widgets.loss_plot import LossPlot
from tui_trainer.ui.widgets.param_table import ParamTable
from tui_trainer.ui.widgets.run_notes import RunNotes
from tui_trainer.ui.widgets.status_bar import StatusBar

BIG = (160, 48)
# A run long enough to act on while it trains (about a minute if left alone).
LONG = dict(dataset="mnist-5k", num_train=2000, batch_size=100, epochs=200, learning_rate=1e-4)


def preset_file(
    tmp_path: Path,
    name: str = "digits-small",
    *,
    dataset: str = "digits",
    num_train: int = 300,
    epochs: int = 3,
    batch_size: int = 50,
    learning_rate: float = 5e-2,
    reg: float = 1e-3,
    update: str = "momentum",
    init: str = "gaussian",
    extra: str = "",
) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'''
name = "{name}"
description = "test preset"
[data]
dataset = "{dataset}"
num_train = {num_train}
num_val = 100
num_test = 100
[model]
hidden = [40]
init = "{init}"
init_std = 1e-2
[train]
update = "{update}"
learning_rate = {learning_rate}
reg = {reg}
batch_size = {batch_size}
epochs = {epochs}
stats_every = 5
{extra}
''')
    return path


def make_app(tmp_path: Path, **kw) -> WorkbenchApp:
    from tui_trainer.config import load_preset

    app_args = ("trainer_cls", "clock", "engine", "store_factory")
    path = preset_file(tmp_path, **{k: v for k, v in kw.items() if k not in app_args})
    extra = {k: v for k, v in kw.items() if k in app_args}
    return WorkbenchApp(load_preset(path), runs_dir=tmp_path / "runs", **extra)


async def wait_for(pilot, condition, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        run = pilot.app.session.current
        if (
            run is not None
            and run.ended is not None
            and run.ended.status in ("failed", "exploded")
            and "exploded" not in what
            and "end" not in what
        ):
            raise AssertionError(f"the run {run.ended.status} while waiting for {what}: {run.ended.reason}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.02)


async def loaded(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.session.data is not None, what="the data to load")


async def run_to_end(pilot, number: int = 1) -> None:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            len(app.session.runs) >= number
            and app.session.runs[number - 1].ended is not None
            and app.session.runs[number - 1].t_end is not None
        ),
        what=f"run {number} to end",
    )
    await pilot.pause()


async def one_run(pilot, number: int = 1) -> None:
    """Wait for the data, press space, wait for the run to end."""
    await loaded(pilot)
    await pilot.press("space")
    await run_to_end(pilot, number)


async def training(pilot, iterations: int = 3) -> None:
    """Wait for the data, press space, wait until the run has done a few iterations."""
    await loaded(pilot)
    await pilot.press("space")
    await wait_for(pilot, lambda: pilot.app.session.current.iteration >= iterations, what="a few iterations")


def plain(widget) -> str:
    """What a widget shows, as plain text (Statics hold Rich tables here)."""
    import io

    from rich.console import Console
    from textual.widgets import Static

    shown = widget.content if isinstance(widget, Static) else widget.render()
    if isinstance(shown, str):
        return shown
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(shown)
    return console.export_text()


def status(app) -> str:
    return app.query_one(StatusBar).status


# --- a run, start to end ------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["process", "thread"])
async def test_a_run_starts_finishes_and_the_panes_hold_its_data(tmp_path, engine):
    app = make_app(tmp_path, epochs=3, engine=engine)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        assert status(app) == "idle"
        await pilot.press("space")
        await run_to_end(pilot)
        run = app.session.current
        assert status(app) == "finished"
        assert run.started.total_iterations == 18  # 300 / 50 * 3
        loss = app.query_one(LossPlot)
        assert loss.run is run and loss.run.steps_x.size == 18
        assert loss.run.steps_x[-1] == pytest.approx(3.0)  # x axis in epochs
        drawn = loss.render().plain
        assert any(0x2800 < ord(ch) <= 0x28FF for ch in drawn), "the smoothed loss is drawn in braille"
        acc = app.query_one(AccuracyPlot)
        assert [e.epoch for e in acc.run.epochs] == [1, 2, 3]
        assert "val" in str(acc.border_subtitle) and "gap" in str(acc.border_subtitle)
        table = app.query_one(ParamTable)
        assert [p.name for p in table.ratios.params] == ["W1", "b1", "W2", "b2"]
        bar = app.query_one(StatusBar)
        assert (bar.iteration, bar.iterations, int(bar.epoch)) == (18, 18, 3)
        notes = app.query_one(RunNotes).plain
        assert "finished" in notes and "best val acc" in notes

    # The run directory is the same as a headless run's.
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert {p.name for p in run_dir.iterdir()} >= {"config.toml", "metrics.jsonl", "summary.json", "best.npz"}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["iterations"] == 18
    headless_dir = tmp_path / "headless"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_trainer",
            "run",
            str(tmp_path / "digits-small.toml"),
            "--runs-dir",
            str(headless_dir),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (h_dir,) = headless_dir.iterdir()
    assert {p.name for p in h_dir.iterdir()} == {p.name for p in run_dir.iterdir()}

    def comparable(events):
        return [(e["event"], e.get("iteration"), e.get("loss")) for e in events]

    assert comparable(read_metrics(run_dir)) == comparable(read_metrics(h_dir))


async def test_an_exploding_preset_shows_exploded_and_the_advisor_says_why(tmp_path):
    app = make_app(tmp_path, learning_rate=3.0, update="sgd", init="he", epochs=5)
    async with app.run_test(size=BIG) as pilot:
        await one_run(pilot)
        assert status(app) == "exploded"
        notes = app.query_one(RunNotes).plain
        assert "exploded" in notes and "learning rate is probably too high" in notes
        advice = app.query_one("#advice")
        assert "loss_exploding" in [a.code for a in advice.advice] and "exploding" in advice.plain.lower()
    # The advice is recorded as a headless run records it.
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert "loss_exploding" in [e.get("code") for e in read_metrics(run_dir) if e["event"] == "advice"]


# --- keys for the next run -------------------------------------------------------------------


async def test_learning_rate_keys_move_the_next_run_by_half_a_decade(tmp_path):
    app = make_app(tmp_path, learning_rate=1e-3)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        seen = [app.session.next_preset.train.learning_rate]
        for key in ("l", "l", "L", "L", "L"):
            await pilot.press(key)
            seen.append(app.session.next_preset.train.learning_rate)
        ratios = [b / a for a, b in zip(seen, seen[1:])]
        assert ratios == pytest.approx([10**-0.5] * 2 + [10**0.5] * 3)
        assert seen[-1] == pytest.approx(10**-2.5)
        assert "next run: learning rate 3.16e-03" in plain(app.query_one(StatusBar))
        # The opened preset is unchanged; the pane marks the change.
        assert app.session.base_preset.train.learning_rate == 1e-3
        assert app.query_one(Hyperparams).changed() == ["learning rate"]
        # The next run uses it.
        await pilot.press("space")
        await run_to_end(pilot)
        assert app.session.current.preset.train.learning_rate == pytest.approx(10**-2.5)
        assert app.query_one(Hyperparams).changed() == []


async def test_reg_keys_step_from_zero_to_a_floor_and_back(tmp_path):
    app = make_app(tmp_path, reg=0.0)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        seen = []
        for key in ("R", "R", "r", "r", "r"):
            await pilot.press(key)
            seen.append(app.session.next_preset.train.reg)
        assert seen == pytest.approx([1e-5, 10**-4.5, 1e-5, 0.0, 0.0])


async def test_batch_keys_halve_and_double_within_one_and_the_training_set(tmp_path):
    app = make_app(tmp_path, num_train=100, batch_size=64)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        sizes = []
        for key in "BBbbbbbbbbb":
            await pilot.press(key)
            sizes.append(app.session.next_preset.train.batch_size)
        assert sizes == [100, 100, 50, 25, 12, 6, 3, 1, 1, 1, 1]
        assert "batch size is already 1" in plain(app.query_one(StatusBar))


async def test_the_edit_form_validates_through_the_preset_schema(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        await pilot.press("e")
        form = app.screen
        assert isinstance(form, EditForm)
        lr = form.query_one("#f-train-learning-rate")
        lr.value = "-1"
        await pilot.press("enter")
        await pilot.pause()
        error = form.query_one("#f-train-learning-rate-error")
        assert error.display and "train.learning_rate" in plain(error) and "> 0" in plain(error)  # under it
        assert app.screen is form  # still open
        lr.value = "abc"
        await pilot.press("enter")
        await pilot.pause()
        assert "not a number" in plain(form.query_one("#f-train-learning-rate-error"))
        lr.value = "0.02"
        momentum = form.query_one("#f-train-momentum")
        momentum.value = "1.5"
        await pilot.press("enter")
        await pilot.pause()
        error = form.query_one("#f-train-momentum-error")
        assert error.display and "[0, 1)" in plain(error) and app.focused is momentum
        assert not form.query_one("#f-train-learning-rate-error").display  # the old message went
        momentum.value = "0.5"
        form.query_one("#f-data-preprocess").value = "mean, std"
        form.query_one("#f-model-init-std").value = "0.05"
        form.query_one("#f-model-hidden").value = "64, 32"
        form.query_one("#f-train-epochs").value = "4"
        form.query_one("#f-train-sample-batches").value = "full batch"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is not form
        t = app.session.next_preset
        assert (t.train.learning_rate, t.model.hidden, t.train.epochs) == (0.02, (64, 32), 4)
        assert (t.train.momentum, t.model.init_std, t.train.sample_batches) == (0.5, 0.05, False)
        assert t.data.preprocess == ("mean", "std")
        changed = set(app.query_one(Hyperparams).changed())
        assert changed == {"learning rate", "epochs", "hidden", "data.preprocess", "model.init_std"} | {
            "train.momentum",
            "train.sample_batches",
        }
        # The pane lists every key that differs from the preset; the new data setting is loaded.
        shown = plain(app.query_one(Hyperparams))
        assert "train.momentum" in shown and "data.preprocess" in shown and "mean, std" in shown
        await wait_for(
            pilot, lambda: app.session.data is not None and app.session.data_preset is t, what="the data again"
        )


# --- stop, pause, restart, quit ----------------------------------------------------------------


class SpyTrainer(Trainer):
    """Counts the iterations done after a stop reached the trainer, and reports
    the count as an advice event (the trainer may live in another process)."""

    def __init__(self, preset, data, sink, control=None, **kw):
        super().__init__(preset, data, self._spy, control=control, **kw)
        self._sink, self.stop_at = sink, None
        real_stop = self.control.stop

        def stop(reason="stopped by request"):
            self.stop_at = self.iteration  # read, then stop: the count is never too low
            real_stop(reason)

        self.control.stop = stop

    def _spy(self, event):
        if isinstance(event, RunEnded) and self.stop_at is not None:
            self._sink(Advice(self.iteration, "spy", f"after stop: {self.iteration - self.stop_at}", ""))
        self._sink(event)


async def test_x_ends_the_run_within_one_iteration(tmp_path):
    app = make_app(tmp_path, **LONG, trainer_cls=SpyTrainer)
    async with app.run_test(size=BIG) as pilot:
        await training(pilot, 5)
        await pilot.press("x")
        await run_to_end(pilot)
        assert status(app) == "stopped"
        (spy,) = [a.message for a in app.session.current.advice if a.code == "spy"]
        assert spy in ("after stop: 0", "after stop: 1"), spy
        assert app.session.current.ended.iterations < app.session.current.started.total_iterations


async def test_pause_holds_the_trainer_and_resume_continues(tmp_path):
    app = make_app(tmp_path, **LONG)
    async with app.run_test(size=BIG) as pilot:
        await training(pilot)
        await pilot.press("p")
        assert status(app) == "paused"
        await pilot.pause(0.3)
        held = app.session.current.iteration
        await pilot.pause(0.4)
        assert app.session.current.iteration <= held + 1
        await pilot.press("p")
        await wait_for(pilot, lambda: app.session.current.iteration > held + 3, what="training to resume")
        assert status(app) == "running"
        await pilot.press("x")
        await run_to_end(pilot)


async def test_space_during_a_run_restarts_with_the_new_values(tmp_path):
    app = make_app(tmp_path, **LONG)
    async with app.run_test(size=BIG) as pilot:
        await training(pilot)
        await pilot.press("L", "space")
        await wait_for(pilot, lambda: len(app.session.runs) == 2, what="the second run")
        first, second = app.session.runs
        assert first.ended.status == "stopped" and "restarted" in first.ended.reason
        assert second.preset.train.learning_rate == pytest.approx(1e-4 * 10**0.5)
        # The first run is now a ghost curve in the loss plot.
        await wait_for(pilot, lambda: app.query_one(LossPlot).ghosts == [first])
        await pilot.press("x")
        await run_to_end(pilot, 2)


async def test_a_preset_opened_during_a_restart_starts_once_its_data_are_loaded(tmp_path):
    from tui_trainer.config import load_preset
    from tui_trainer.ui.messages import DataLoaded

    app = make_app(tmp_path, **LONG)
    async with app.run_test(size=BIG) as pilot:
        await training(pilot)
        data = app.session.data
        app._read_data = lambda preset: None  # the new preset's data are still loading
        other = load_preset(preset_file(tmp_path, "other", **LONG))
        app.start()  # space during a run: restart when it has ended
        app.open_preset(other)  # before the run has ended: no data for the next run yet
        await run_to_end(pilot)
        await pilot.pause(0.1)
        assert len(app.session.runs) == 1  # no run without its data
        app.post_message(DataLoaded(other, data))
        await wait_for(pilot, lambda: len(app.session.runs) == 2, what="the second run")
        assert app.session.runs[1].preset.name == "other"
        await pilot.press("x")
        await run_to_end(pilot, 2)


async def test_q_mid_run_stops_the_trainer_and_exits(tmp_path):
    """Not timed (a loaded machine would fail any bound worth having): that q did not
    wait for the run shows in its record, stopped far short of its 4,000 iterations."""
    app = make_app(tmp_path, **LONG)
    async with app.run_test(size=BIG) as pilot:
        await training(pilot, 5)
        await pilot.press("q")
    assert app.host.idle, "the trainer is still running"
    if app.host.kind == "process":
        assert not app.host.process.is_alive()
    assert app.return_code == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["iterations"] < 4000  # 200 epochs of 20


# --- failures ------------------------------------------------------------------------------------


class FailsOnce(Trainer):
    failed = 0

    def _train(self, t0):
        if FailsOnce.failed == 0:
            FailsOnce.failed += 1
            raise RuntimeError("injected failure in the trainer")
        return super()._train(t0)


async def test_a_trainer_failure_shows_and_the_next_run_works(tmp_path):
    FailsOnce.failed = 0
    app = make_app(tmp_path, trainer_cls=FailsOnce)
    async with app.run_test(size=BIG) as pilot:
        await one_run(pilot)
        assert status(app) == "failed"
        notes = app.query_one(RunNotes).plain
        assert "RuntimeError: injected failure in the trainer" in notes
        assert "test_ui.py" in notes  # where it failed
        # The app keeps working: keys respond, and the next run starts normally.
        await pilot.press("L")
        assert app.session.next_preset.train.learning_rate == pytest.approx(5e-2 * 10**0.5)
        await pilot.press("space")
        await run_to_end(pilot, 2)
        assert status(app) == "finished"
        assert app.query_one(StatusBar).run_number == 2


async def test_a_killed_trainer_process_fails_the_run_and_the_next_one_gets_a_new_process(tmp_path):
    import os
    import signal

    app = make_app(tmp_path, **LONG)
    async with app.run_test(size=BIG) as pilot:
        await training(pilot)
        first = app.host.process
        os.kill(first.pid, signal.SIGKILL)
        await run_to_end(pilot)
        assert status(app) == "failed"
        assert "the trainer process ended (exit code -9)" in app.query_one(RunNotes).plain
        await pilot.press("space")
        await wait_for(
            pilot, lambda: len(app.session.runs) == 2 and app.session.current.iteration >= 3, what="the second run"
        )
        assert app.host.process is not first and app.host.process.is_alive()
        await pilot.press("x")
        await run_to_end(pilot, 2)
        assert status(app) == "stopped"


async def test_data_that_cannot_load_show_in_the_app(tmp_path):
    app = make_app(tmp_path, num_train=5000)  # digits holds 1,797
    async with app.run_test(size=BIG) as pilot:
        # The session holds the error first; the screen shows it when SessionChanged reaches it.
        await wait_for(pilot, lambda: app.session.data_error != "" and status(app) == "failed", what="the data error")
        assert "1797" in app.query_one(RunNotes).plain
        await pilot.press("space")  # nothing to train on: a message, no crash
        assert app.session.current is None


# --- checks, palette, presets, help ----------------------------------------------------------------


async def test_c_runs_the_sanity_checks_in_a_worker(tmp_path, monkeypatch):
    import threading

    import tui_trainer.ui.jobs as jobs_module

    # The real checks, held after the second one until the test lets go, to
    # look at the app while they run.
    gate = threading.Event()
    real_checks = jobs_module.iter_checks

    def held_checks(preset, data, control=None):
        for i, result in enumerate(real_checks(preset, data, control=control)):
            if i == 2:
                gate.wait(10)
            yield result

    monkeypatch.setattr(jobs_module, "iter_checks", held_checks)
    app = make_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        await pilot.press("c")
        pane = app.query_one(ChecksPane)
        await wait_for(pilot, lambda: pane.query_one("#checks-progress").progress == 2, what="two checks")
        assert pane.state.running and len(pane.state.results) == 2
        assert "2/4 done" in str(pane.border_subtitle)
        await pilot.press("L")  # the app answers while the checks run
        assert app.session.next_preset.train.learning_rate == pytest.approx(5e-2 * 10**0.5)
        await pilot.press("c")  # a second c while they run does not start another round
        gate.set()
        await wait_for(pilot, lambda: "passed" in str(pane.border_subtitle), what="the checks")
        assert not pane.state.running
        assert [r.name for r in pane.state.results] == ["initial-loss", "regularization", "gradient", "overfit-small"]
        assert pane.query_one("#checks-progress").progress == 4
        table = plain(pane.query_one("#checks-table"))
        assert table.count("pass ✓") + table.count("FAIL ✗") == 4
        for r in pane.state.results:
            if not r.passed:
                assert f"check {r.name} failed" in app.query_one(RunNotes).plain


async def test_every_key_is_in_the_command_palette_and_runs_from_it(tmp_path):
    app = make_app(tmp_path, learning_rate=1e-3)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        from textual.content import Content

        commands = {c.title: Content.from_markup(c.help).plain for c in app.get_system_commands(app.screen)}
        for b in [*app.screen.BINDINGS, *app.BINDINGS]:  # the workbench's keys, then help and quit
            if b.action not in ("quit", "app.quit") and b not in FOCUS_KEYS:  # focus and scrolling: the keys
                title = b.description[0].upper() + b.description[1:]  # a short name, what it does below it
                if b.action in ("pause", "stop"):  # no run going: as the footer, the palette leaves them out
                    assert title not in commands, b
                    continue
                assert title in commands and (b.tooltip or "") in commands[title], b
        await pilot.press("ctrl+p")
        await pilot.press(*"learning rate up")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.session.next_preset.train.learning_rate > 1e-3, what="the palette command")
        assert app.session.next_preset.train.learning_rate == pytest.approx(10**-2.5)


async def test_o_opens_another_preset_from_a_path(tmp_path):
    app = make_app(tmp_path)
    other = preset_file(tmp_path, name="other", num_train=200, epochs=2)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        await pilot.press("o")
        await pilot.pause()
        app.screen.query_one("#open-path").focus()
        app.screen.query_one("#open-path").value = str(tmp_path / "nope.toml")
        await pilot.press("enter")
        assert "no such preset file" in plain(app.screen.query_one("#open-error"))
        app.screen.query_one("#open-path").value = str(other)
        await pilot.press("enter")
        await loaded(pilot)
        assert app.session.next_preset.name == "other" and app.session.data.X_train.shape[0] == 200
        assert app.query_one(StatusBar).preset == "other"
        await pilot.press("space")
        await run_to_end(pilot)
        assert app.session.current.preset.name == "other" and status(app) == "finished"


async def test_o_after_a_run_shows_the_opened_preset_at_once_and_says_how_to_get_its_data(tmp_path):
    """The header follows `o` before any run; a preset whose data are not downloaded says, in
    the workbench, what to run in a shell (no --set here) and that o opens it again."""
    app = make_app(tmp_path, epochs=1)
    cifar = preset_file(tmp_path, name="cifar-here", dataset="cifar10")
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        await pilot.press("space")
        await run_to_end(pilot)
        await pilot.press("o")
        await pilot.pause()
        app.screen.query_one("#open-path").focus()
        app.screen.query_one("#open-path").value = str(cifar)
        await pilot.press("enter")
        await pilot.pause()
        bar = app.query_one(StatusBar)
        assert bar.preset == "cifar-here" and bar.dataset == "cifar10"  # at once, not after the next run
        await wait_for(pilot, lambda: bool(app.session.data_error), what="the data error")
        await pilot.pause(0.1)
        notes = app.query_one(RunNotes).plain
        assert "`tui-trainer data fetch cifar10` in a shell" in notes and "press o and open cifar-here" in notes
        assert "--set" not in notes and status(app) == "failed"
        await pilot.press("space")  # says the same, no run
        await pilot.pause(0.1)
        assert app.session.current is None and len(app.session.runs) == 1


async def test_help_lists_every_key(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        text = " ".join(plain(s) for s in app.screen.query("Static"))
        for needle in ("space", "learning rate up half a decade", "reg", "halve", "sanity checks", "quit"):
            assert needle in text
        await pilot.press("escape")
        assert app.screen.id == "_default"


# --- terminal sizes ----------------------------------------------------------------------------


async def test_small_screens_show_one_pane_behind_tabs_and_tiny_ones_a_message(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        # four columns: the ratio history and the first layer beside the rest, in the grid's order
        wide = ["loss", "accuracy", "ratio-history", "weights", "hyper", "layer1", "checks", "advice-slot"]
        assert [p.id for p in app.query(".pane") if p.display] == wide
        assert not app.query_one("#tabs").display
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.query_one("#tabs").display
        assert [p.id for p in app.query(".pane") if p.display] == ["loss"]
        await pilot.press("3")
        await pilot.pause()
        assert [p.id for p in app.query(".pane") if p.display] == ["weights"]
        await pilot.press("5")
        await pilot.pause()
        assert [p.id for p in app.query(".pane") if p.display] == ["hyper", "advice-slot"]
        await pilot.resize_terminal(50, 12)
        await pilot.pause()
        message = app.query_one("#too-small")
        assert message.display and not app.query_one("#body").display
        assert "50x12" in plain(message) and "60x16" in plain(message)
        await pilot.resize_terminal(*BIG)
        await pilot.pause()
        assert not message.display and [p.id for p in app.query(".pane") if p.display] == wide


# --- the advisor's views in the workbench ------------------------------------------------------


async def test_v_shows_the_first_layer_and_the_ratio_history_filled_by_the_run(tmp_path):
    app = make_app(tmp_path, epochs=3)  # digits: 8x8 grey images, 40 hidden units
    async with app.run_test(size=(120, 36)) as pilot:  # one big view at a time (160x48 shows all three)
        await one_run(pilot)
        layer = app.query_one("#layer1")
        assert layer.tiles is not None and layer.tiles.shape[:3] == (40, 8, 8) and layer.epoch == 3
        history = app.query_one("#ratio-history")
        assert len(history.series) == 3 and set(history.series.log_ratio) == {"W1", "b1", "W2", "b2"}

        def shown():
            return [p.id for p in app.query(".big-view") if p.display]

        assert shown() == ["loss"]
        await pilot.press("v")
        assert shown() == ["layer1"] and "First layer" in plain(app.query_one(StatusBar))
        await pilot.press("v")
        assert shown() == ["ratio-history"]
        await pilot.press("v")
        assert shown() == ["loss"]
        # the same views are tabs 6 and 7 on a small screen
        await pilot.resize_terminal(80, 24)
        await pilot.press("6")
        await pilot.pause()
        assert [p.id for p in app.query(".pane") if p.display] == ["layer1"]


async def test_h_lists_the_runs_and_a_past_configuration_becomes_the_next_run(tmp_path):
    from tui_trainer.ui.screens.runs import RunsScreen

    app = make_app(tmp_path, epochs=2, learning_rate=1e-2)
    async with app.run_test(size=BIG) as pilot:
        await one_run(pilot)
        await pilot.press("L", "L")
        assert app.session.next_preset.train.learning_rate == pytest.approx(1e-1)
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen) and app.screen.session == {app.session.current.run_dir}
        await pilot.press("L", "B")  # the workbench's keys wait while the runs view is up
        assert app.session.next_preset.train.learning_rate == pytest.approx(1e-1)
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("u")
        await pilot.pause()
        assert not isinstance(app.screen, RunsScreen)
        assert app.session.next_preset.train.learning_rate == pytest.approx(1e-2)
        assert "the configuration of" in plain(app.query_one(StatusBar))


async def test_no_color_keeps_the_ratio_band_readable(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(tmp_path, learning_rate=0.5, update="sgd", epochs=1)  # updates ~0.4x the weights
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.no_color
        await loaded(pilot)
        await pilot.press("space", "3")
        await run_to_end(pilot)
        text = plain(app.query_one(ParamTable))
        rows = {line.split()[0]: line for line in text.splitlines()[1:] if line.strip()}
        assert set(rows) == {"W1", "b1", "W2", "b2"}
        # Far out of the band: an arrow says so, not only a colour.
        assert all(row.rstrip().endswith("⇈") for row in rows.values()), text


def test_the_cli_rejects_a_bad_preset_before_the_screen_opens(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "ui", "no-such-preset"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert "unknown preset 'no-such-preset'" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "ui", "--set", "train.lr=1"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "train.lr" in out.stderr and "learning_rate" in out.stderr


async def test_the_checks_pane_says_which_rate_passes_overfit_small(tmp_path):
    app = make_app(tmp_path, learning_rate=1e-4)  # fits 20 digits at 1e-2 (the ladder's 100x), not at 1e-4
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        await pilot.press("c")
        pane = app.query_one(ChecksPane)
        await wait_for(pilot, lambda: "passed" in str(pane.border_subtitle), what="the checks")
        assert len(pane.state.results) == 4
        overfit = pane.state.results[-1]
        assert not overfit.passed and overfit.passing_lr == pytest.approx(1e-2)
        table = plain(pane.query_one("#checks-table"))
        assert f"overfit-small: passes at lr {overfit.passing_lr:g}: the preset's rate is too low" in table

"""The workbench's lr-find (f) and tune (g) views, driven by keys."""

from __future__ import annotations

from pathlib import Path

from test_ui import BIG, loaded, make_app, plain, run_to_end, wait_for

from tui_trainer.config import load_preset
from tui_trainer.lab.tune.events import TuneStageEnded
from tui_trainer.records.run_folder import read_metrics
from tui_trainer.ui.screens.tune import LrFindScreen, TuneScreen

SMALL_TUNE = """
[tune]
coarse_trials = 3
coarse_epochs = 2
fine_trials = 2
fine_epochs = 3
final_epochs = 3
"""


def ended_stage(job, stage: str) -> TuneStageEnded:
    return next(e for e in job.events if isinstance(e, TuneStageEnded) and e.stage == stage)


def step_losses(runs_dir) -> list[float]:
    (run_dir,) = [d for d in runs_dir.iterdir() if (d / "metrics.jsonl").is_file()]
    return [e["loss"] for e in read_metrics(run_dir) if e["event"] == "step"]


async def test_f_shows_the_curve_and_the_next_run_is_the_same_as_without_it(tmp_path):
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
    app = make_app(tmp_path / "a", engine="thread")
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        before = app.session.next_preset
        await pilot.press("f")
        screen = app.screen
        assert isinstance(screen, LrFindScreen)
        await wait_for(pilot, lambda: screen.ended is not None, what="lr-find to end")
        await pilot.pause()
        assert screen.ended.status == "finished" and len(screen.sweeps) == 3
        assert "minimum/10 (suggested)" in plain(screen.query_one("#lr-table"))
        assert "u makes it the next run's" in plain(screen.query_one("#lr-title"))
        drawn = screen.query_one("#lr-plot").render().plain
        assert any(0x2800 < ord(ch) <= 0x28FF for ch in drawn), "the curves are drawn"
        await pilot.press("escape")
        assert app.screen is app.workbench and app.session.next_preset == before
        await pilot.press("space")
        await run_to_end(pilot)
    # the lr-find record sits beside the run, and the run is the one a fresh session makes
    assert any(d.name.startswith("lr-find-digits-small-") for d in (tmp_path / "a" / "runs").iterdir())
    fresh = make_app(tmp_path / "b", engine="thread")
    async with fresh.run_test(size=BIG) as pilot:
        await loaded(pilot)
        await pilot.press("space")
        await run_to_end(pilot)
    assert step_losses(tmp_path / "a" / "runs") == step_losses(tmp_path / "b" / "runs")


async def test_u_makes_the_suggestion_the_next_runs_learning_rate_and_nothing_else(tmp_path):
    app = make_app(tmp_path, engine="thread")
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        before = app.session.next_preset
        await pilot.press("u")  # on the workbench u is not lr-find's: nothing changes
        await pilot.press("f")
        screen = app.screen
        await wait_for(pilot, lambda: screen.ended is not None, what="lr-find to end")
        await pilot.press("u")
        await pilot.pause()
        assert app.screen is app.workbench
        lr = float(f"{screen.ended.suggested_lr:.3g}")
        assert app.session.next_preset == before.replace(**{"train.learning_rate": lr})


async def test_g_tunes_the_next_runs_setup_and_u_makes_the_tuned_preset_the_next_run(tmp_path):
    # leader_seeds: the final stage's best candidates each run a second train seed, and the best mean wins
    seeds = SMALL_TUNE.replace("fine_trials = 2", "fine_trials = 4") + "leader_seeds = 2\n"
    app = make_app(tmp_path, engine="thread", extra=seeds)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        await pilot.press("g")
        screen = app.screen
        assert isinstance(screen, TuneScreen)
        await wait_for(pilot, lambda: not screen.job.running, what="tune to end", timeout=60)
        await pilot.pause(0.3)
        ended = screen.job.ended
        assert ended is not None and ended.status == "finished", screen.job.error
        log = "\n".join(str(line) for line in screen.query_one("#tune-log").lines)
        for stage in ("checks", "lr-find", "coarse", "fine", "final"):
            assert f"] {stage}:" in log
        assert "tuned: best val acc" in plain(screen.query_one("#tune-title"))
        final = ended_stage(screen.job, "final")
        leaders = final.result["leaders"]  # the best mean first
        assert len(leaders) >= 2 and all(leader["seeds"] == 2 for leader in leaders)
        means = [sum(leader["accs"]) / len(leader["accs"]) for leader in leaders]
        assert means[0] >= means[1] and final.result["trial"] == leaders[0]["result"]["trial_id"]
        assert "chosen by the mean over 2 train seeds" in log  # the view logs the stage's summary
        assert ("within seed noise" in log) != ("by more than seed noise" in log)
        assert "leaders over 2 train seeds" in (Path(ended.report)).read_text()
        await pilot.press("u")
        await pilot.pause()
        assert app.screen is app.workbench
        assert app.session.next_preset == load_preset(ended.tuned_preset)


async def test_q_mid_tune_quits_leaves_no_worker_processes_and_the_tune_resumable(tmp_path):
    """Not timed: a tune that q waited for would have its coarse search done, or more."""
    import json
    import multiprocessing
    import time

    slow = SMALL_TUNE.replace("coarse_trials = 3", "coarse_trials = 6").replace(
        "coarse_epochs = 2", "coarse_epochs = 400"
    )
    app = make_app(tmp_path, engine="thread", extra=slow)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        await pilot.press("g")
        screen = app.screen
        await wait_for(pilot, lambda: screen.stage == "coarse" and multiprocessing.active_children(), what="coarse")
        await pilot.pause(0.3)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, timeout=60, what="the app to end")
    deadline = time.monotonic() + 30  # the workers end in moments; the bound is for a loaded machine
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not multiprocessing.active_children()
    (folder,) = [d for d in (tmp_path / "runs").iterdir() if d.name.startswith("tune-")]
    state = json.loads((folder / "state.json").read_text())
    assert state["checks"]["verdict"] == "passed" and state["lr-find"]["verdict"] == "done"
    assert "coarse_folder" in state  # --resume reopens it
    assert state.get("coarse", {"verdict": "stopped"})["verdict"] == "stopped" and "fine" not in state


async def test_the_lr_find_screen_shows_its_warnings_beside_the_suggestion(tmp_path):
    # spiral's sweeps never diverge up to lr 10: the suggestion is a lower bound, and says so
    from textual.app import App

    from tui_trainer.datasets import load_dataset
    from tui_trainer.ui.jobs import LrFindJob

    preset = load_preset("spiral")
    job = LrFindJob(preset, load_dataset(preset.data), tmp_path)
    job.finish(job.run(job.fold), "")  # the job's whole run, as the app's worker would fold it
    job.done.set()
    screen = LrFindScreen(job)

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(screen)

    async with Host().run_test(size=BIG) as pilot:
        await pilot.pause()
        title = " ".join(plain(screen.query_one("#lr-title")).split())
    assert job.ended is not None and job.ended.warnings
    assert "suggested learning rate at least" in title and "warning: 3 of 3 sweeps never diverged" in title

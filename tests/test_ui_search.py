"""The workbench's search view (s): a live coarse-to-fine search, stopped with x,
ended with q, and its best trial made the next run with u."""

import io
import math
import multiprocessing
import time

from rich.console import Console
from textual.app import App
from textual.widgets import DataTable

from tui_trainer.commands.search import _LiveFace
from tui_trainer.config import load_preset
from tui_trainer.lab.search.importance import METHOD, importance
from tui_trainer.lab.search.pool import TrialPool
from tui_trainer.lab.search.runner import (
    SearchControl,
    SearchEnded,
    StageEnded,
    TrialEnded,
    recorded_results,
    run_search,
)
from tui_trainer.lab.search.space import TrialResult, best_trial, rank
from tui_trainer.records.search_store import SearchStore, list_searches
from tui_trainer.ui.app import WorkbenchApp
from tui_trainer.ui.jobs import Job
from tui_trainer.ui.messages import JobUpdated
from tui_trainer.ui.screens.search import SearchScreen, TrialScatter
from tui_trainer.ui.widgets.hparam_pane import HyperparamPane
from tui_trainer.ui.widgets.hyperparams import Hyperparams

TINY = """
name = "digits-search"
[data]
dataset = "digits"
num_train = 400
num_val = 100
num_test = 50
[model]
hidden = [20]
init_std = 1e-2
[train]
learning_rate = 1e-2
reg = 1e-3
batch_size = 50
epochs = 7
[search]
learning_rate = [1e-3, 3e-1]
reg = [1e-5, 1e-1]
stages = [{ trials = 4, epochs = 1 }, { trials = 3, epochs = 2 }]
keep = 2
"""

# Trials that each take seconds: the search is surely mid-stage when a key comes.
SLOW = (
    TINY.replace("num_train = 400", "num_train = 1297")
    .replace(
        "stages = [{ trials = 4, epochs = 1 }, { trials = 3, epochs = 2 }]", "stages = [{ trials = 6, epochs = 400 }]"
    )
    .replace("learning_rate = [1e-3, 3e-1]", "learning_rate = [1e-4, 1e-3]")
)


def preset_file(tmp_path, text, name="search.toml"):
    path = tmp_path / name
    path.write_text(text)
    return load_preset(str(path))


async def wait_for(pilot, condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


async def open_search(app, pilot):
    await wait_for(pilot, lambda: app.session.data is not None)
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
    return app.screen


def text_of(static):
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(static.content)
    return console.export_text()


def table_rows(screen):
    table = screen.query_one(DataTable)
    names = [str(c.label) for c in table.ordered_columns]
    return {row.key.value: dict(zip(names, table.get_row(row.key))) for row in table.ordered_rows}


async def test_search_view_shows_every_trial_and_u_makes_the_best_the_next_run(tmp_path):
    preset = preset_file(tmp_path, TINY)
    app = WorkbenchApp(preset, runs_dir=tmp_path / "runs", engine="thread")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_search(app, pilot)
        await wait_for(pilot, lambda: screen.ended is not None)
        assert screen.ended.status == "finished"

        # Recorded as `tui-trainer search` records it: one folder, one row per trial.
        (info,) = list_searches(tmp_path / "runs")
        store = SearchStore.open(info.path)
        results = recorded_results(store)
        assert store.meta("status") == "finished"
        store.close()
        assert len(results) == 7

        rows = table_rows(screen)
        assert set(rows) == {r.trial_id for r in results}
        for r in results:
            row = rows[r.trial_id]
            assert row["status"] == r.status
            assert row["learning rate"] == f"{r.params['learning_rate']:.3g}" and row["reg"] == f"{r.params['reg']:.3g}"
            assert row["val acc"] == ("-" if r.best_val_acc is None else f"{r.best_val_acc:.3f}")
        assert "stage 2/2" in text_of(screen.query_one("#search-progress"))

        best = rank(results)[0]
        assert best.status == "finished" and screen.best.trial_id == best.trial_id
        assert rows[best.trial_id][""] == "◆"
        plotted = [r for r in results if r.status in ("finished", "exploded")]
        for plot in screen.query(TrialScatter):
            assert sorted(p[4] for p in plot.points) == sorted(r.trial_id for r in plotted)
            by_id = {p[4]: p for p in plot.points}
            for r in plotted:
                assert by_id[r.trial_id][0] == math.log10(r.params[plot.key])
            assert plot.best == best.trial_id

        # i: every searched value against val acc, and each key's rank correlation, the method named
        await pilot.press("i")
        await pilot.pause()
        pane = screen.query_one(HyperparamPane)
        assert pane.display and screen.focused is pane and not any(p.display for p in screen.query(TrialScatter))
        assert "toggle_plot" not in {b.binding.action for b in screen.active_bindings.values() if b.enabled}
        rows = importance([(r.params, r.best_val_acc) for r in results])
        assert {r.key for r in rows} == {"learning_rate", "reg"}
        assert f"importance: {METHOD}" in pane.plain
        for r in rows:
            assert any(line.split()[:2] == [r.key, f"{r.rho:+.2f}"] for line in pane.lines), r.key
        assert "val acc against each searched value (" in pane.plain and "learning_rate (log)" in pane.plain
        await pilot.press("i")  # back to the scatters
        await pilot.pause()
        assert not pane.display and screen.query_one("#scatter-lr").display

        await pilot.press("u")
        await wait_for(pilot, lambda: not isinstance(app.screen, SearchScreen))
        await pilot.pause()
        nxt = app.session.next_preset
        assert nxt.train.learning_rate == best.params["learning_rate"] and nxt.train.reg == best.params["reg"]
        assert nxt.train.epochs == preset.train.epochs  # the trial's stage epochs are not carried over
        assert {"learning rate", "reg"} <= set(app.query_one(Hyperparams).changed())


async def test_f_runs_the_next_finer_search_and_the_scatter_fits_the_scores(tmp_path):
    preset = preset_file(tmp_path, TINY)
    app = WorkbenchApp(preset, runs_dir=tmp_path / "runs", engine="thread")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_search(app, pilot)
        await wait_for(pilot, lambda: screen.ended is not None)
        assert app.screen is screen and screen.ended.next_ranges is not None
        assert "next, finer search: learning_rate [" in text_of(screen.query_one("#search-warning"))
        scores = [r.best_val_acc for r in screen.results.values() if r.best_val_acc is not None]
        for plot in screen.query(TrialScatter):
            lo, hi = plot.y_range
            assert lo <= min(scores) and max(scores) <= hi  # every score on the plot...
            assert hi - lo <= (max(scores) - min(scores)) * 1.2 + 0.02  # ...spread over it, not squeezed into 0..1

        first = screen.job.path
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen) and app.screen is not screen)
        refined = app.screen
        assert refined.job.preset.name == "digits-search-refined"
        nxt = load_preset(first / "next.toml")
        assert refined.job.preset.search == nxt.search
        await wait_for(pilot, lambda: refined.ended is not None)
        assert refined.ended.status == "finished" and refined.job.path != first
        (stage,) = nxt.search.stages
        assert len(refined.results) == stage.trials


async def test_x_stops_the_search(tmp_path):
    preset = preset_file(tmp_path, SLOW)
    app = WorkbenchApp(preset, runs_dir=tmp_path / "runs", engine="thread")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_search(app, pilot)
        await wait_for(pilot, lambda: screen.running)
        await pilot.press("x")
        await wait_for(pilot, lambda: screen.ended is not None, timeout=60)
        # Not timed: had x waited for the trials, they would read finished, not stopped.
        assert screen.ended.status == "stopped"
        assert "stopped" in text_of(screen.query_one("#search-title"))
        statuses = {row["status"] for row in table_rows(screen).values()}
        assert statuses == {"stopped"}  # the running trials stopped, the rest never ran
        await wait_for(pilot, lambda: not screen.job.running, timeout=10)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, SearchScreen))
        assert app.session.next_preset == preset  # leaving changes nothing
    assert not multiprocessing.active_children()


async def test_q_mid_search_quits_and_leaves_no_worker_processes(tmp_path):
    """Not timed: a search that q waited for would be recorded finished, not stopped."""
    preset = preset_file(tmp_path, SLOW)
    app = WorkbenchApp(preset, runs_dir=tmp_path / "runs", engine="thread")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_search(app, pilot)
        await wait_for(pilot, lambda: screen.running and multiprocessing.active_children())
        await pilot.pause(0.3)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, timeout=60)
    deadline = time.monotonic() + 30  # the workers end in moments; the bound is for a loaded machine
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not multiprocessing.active_children()
    (info,) = list_searches(tmp_path / "runs")
    store = SearchStore.open(info.path)
    assert store.meta("status") == "stopped"
    store.close()


# --- one best trial, whatever the face -----------------------------------------------------


def exploding_favourite(spec) -> TrialResult:
    """Trial s1-000 reaches the highest val accuracy, then explodes; the others finish below it."""
    t = spec.trial
    exploded = (t.stage, t.index) == (1, 0)
    return TrialResult.of(
        t,
        status="exploded" if exploded else "finished",
        reason="",
        best_val_acc=0.9 if exploded else 0.3 + 0.1 * t.index,
        best_epoch=1,
        epochs=t.epochs,
        iterations=t.epochs,
        elapsed_s=0.0,
    )


class RecordedJob(Job):
    """What SearchScreen reads from a SearchJob, fed the events of a search already run."""

    kind = "search"
    END = (SearchEnded,)

    def __init__(self, preset, path):
        super().__init__(preset)
        self.path, self.where = path, "a recording"
        self.control = SearchControl()
        self.done.set()

    def stop(self, reason: str) -> None:
        self.control.stop(reason)

    @property
    def stopped(self) -> bool:
        return self.control.stopped


class ScreenHost(App):
    def __init__(self, screen) -> None:
        super().__init__()
        self.search_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self.search_screen)


def shown(screen, job, event) -> None:
    """As the app does with an event the search sent: fold it into the job, tell the view;
    then the timer's redraw, now."""
    job.fold(event)
    screen.on_job_updated(JobUpdated(job))
    screen.redraw()


def rendered(renderable) -> str:
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


async def test_every_face_shows_the_same_best_trial(tmp_path):
    # The copies of "best" used to disagree here: the command's live view took the exploded
    # trial with the highest val accuracy, the workbench and the final ranking a finished one.
    preset = preset_file(tmp_path, TINY)
    store = SearchStore.create(tmp_path / "runs", preset)
    events = []
    with TrialPool.threads(1) as pool:  # one trial at a time: s1-000 ends first
        ended = run_search(preset, pool, store, events.append, SearchControl(), trial_fn=exploding_favourite)
    store.close()
    assert ended.best.trial_id == "s1-003" and ended.best == rank(ended.ranking)[0]
    stage_one = next(e for e in events if isinstance(e, StageEnded))
    assert stage_one.best.trial_id == "s1-003"

    live = _LiveFace()
    job = RecordedJob(preset, store.path)
    screen = SearchScreen(job, redraw_interval=3600)
    try:
        async with ScreenHost(screen).run_test(size=(160, 48)) as pilot:
            await pilot.pause()
            results = []
            for event in events:
                if isinstance(event, SearchEnded):
                    break
                live(event)
                shown(screen, job, event)
                if isinstance(event, TrialEnded):
                    results.append(event)
                    expected = best_trial(results)
                    assert live.best.trial_id == screen.best.trial_id == expected.trial_id, event.trial_id
                    assert f"best so far: {expected.trial_id}  " in rendered(live._render())
                    assert f"best so far: {expected.trial_id}  " in text_of(screen.query_one("#search-best"))
            assert screen.best.trial_id == "s1-003"
            shown(screen, job, ended)
            assert screen.best.trial_id == "s1-003"
            assert "best: s1-003  " in text_of(screen.query_one("#search-best"))
    finally:
        live.close()

"""The workbench: `tui-trainer` / `tui-trainer ui [PRESET] [--set K=V] [--runs-dir DIR]`.

The trainer runs behind a host (trainer_host.py): a child process by default,
a thread worker on request. Either way its events reach the app on a
background thread and cost one deque extend there (history.EventQueue); the
rare ones (run start and end, advice) also post a `Wake` message so they show
at once. A timer drains the queue a few times a second and redraws only what
changed: the status bar every drain, the weights table at most every
`table_interval`, the plots at most every `plot_interval` seconds,
downsampled to about two points per column. The panes never read the
trainer's arrays, only the events.

Each run is recorded in the run directory exactly as a headless run is
(runs.RunStore through a Fanout beside the app's sink, in the host).
Layout and colour: app.tcss. Keys: BINDINGS (the footer, the help screen and
the command palette are all made from it).
"""

from __future__ import annotations

import threading
import time
from functools import partial
from pathlib import Path
from typing import Callable, Iterable

from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static, Tab, Tabs

from ..checks import CheckResult, iter_checks
from ..config import Preset
from ..datasets import Dataset, load_dataset
from ..engine import RunControl, Trainer
from ..engine.events import Advice, Ratios, RunEnded
from ..errors import PresetError, UserError
from ..runs import RunStore
from . import knobs
from .history import EPOCHS, LOSS, NOTES, RATIOS, STATUS, EventQueue, RunHistory
from .runs_screen import RunsScreen
from .search_screen import SearchJob, SearchScreen
from .host_events import LayerSnapshot
from .trainer_host import Host, ProcessHost, ThreadHost, default_host
from .screens.edit_form import EditForm
from .screens.help import HelpScreen
from .screens.open_preset import OpenPreset
from .widgets.accuracy_plot import AccuracyPlot
from .widgets.advice import AdvicePane
from .widgets.checks_pane import ChecksPane
from .widgets.hyperparams import ROWS, Hyperparams
from .widgets.loss_plot import LossPlot
from .widgets.param_table import ParamTable
from .widgets.ratio_history import RatioHistory
from .widgets.run_notes import RunNotes
from .widgets.status_bar import StatusBar
from .widgets.weights_view import WAITING, WeightsView

MIN_WIDTH, MIN_HEIGHT = 60, 16
# Narrow screens show one pane at a time behind tabs; each tab's panes:
TABS = {
    "loss": ("loss",),
    "accuracy": ("accuracy",),
    "weights": ("weights",),
    "checks": ("checks",),
    "run": ("hyper", "advice-slot"),
    "layer1": ("layer1",),
    "ratios": ("ratio-history",),
}
TAB_LABELS = {"loss": "1 Loss", "accuracy": "2 Accuracy", "weights": "3 Weights", "checks": "4 Checks",
              "run": "5 Advice", "layer1": "6 Layer 1", "ratios": "7 Ratios"}
# Wide screens show one of these in the big cell; `v` moves to the next.
BIG_VIEWS = ("loss", "layer1", "ratio-history")


# --- messages from worker threads ------------------------------------------------

class Wake(Message):
    """A run started or ended, or advice landed: drain now, not at the next tick."""


class RunThreadDone(Message):
    def __init__(self, run: RunHistory, where: str) -> None:
        super().__init__()
        self.run, self.where = run, where


class DataLoaded(Message):
    def __init__(self, preset: Preset, data: Dataset | None, error: str = "") -> None:
        super().__init__()
        self.preset, self.data, self.error = preset, data, error


class CheckLanded(Message):
    def __init__(self, result: CheckResult) -> None:
        super().__init__()
        self.result = result


class ChecksDone(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


LR = Binding.Group("lr", compact=True)
REG = Binding.Group("reg", compact=True)
BATCH = Binding.Group("batch", compact=True)


class WorkbenchApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "tui-trainer"
    ENABLE_COMMAND_PALETTE = True
    HORIZONTAL_BREAKPOINTS = [(0, "-tiny-w"), (MIN_WIDTH, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-tiny-h"), (MIN_HEIGHT, "-short"), (36, "-tall")]

    BINDINGS = [
        Binding("space", "start", "Run", tooltip="start the next run (restarts a running one)"),
        Binding("p", "pause", "Pause", tooltip="pause or resume the run"),
        Binding("x", "stop", "Stop", tooltip="stop the run (within one iteration)"),
        Binding("l", "learning_rate(False)", "lr down", group=LR,
                tooltip="next run's learning rate down half a decade (/ 10^0.5)"),
        Binding("L", "learning_rate(True)", "lr up", group=LR,
                tooltip="next run's learning rate up half a decade (x 10^0.5)"),
        Binding("r", "reg(False)", "reg down", group=REG,
                tooltip=f"next run's reg down half a decade ({knobs.REG_FLOOR:g} -> 0)"),
        Binding("R", "reg(True)", "reg up", group=REG,
                tooltip=f"next run's reg up half a decade (0 -> {knobs.REG_FLOOR:g})"),
        Binding("b", "batch(False)", "batch halve", group=BATCH, tooltip="halve the next run's batch size (down to 1)"),
        Binding("B", "batch(True)", "batch double", group=BATCH,
                tooltip="double the next run's batch size (up to the training set)"),
        Binding("e", "edit", "Edit", tooltip="edit the next run: learning rate, reg, batch, epochs, update, hidden"),
        Binding("c", "checks", "Checks", tooltip="run the four sanity checks on the next run's setup"),
        Binding("y", "log_scale", "Log y", show=False, tooltip="loss plot: toggle a log y axis"),
        Binding("v", "next_view", "View", show=False,
                tooltip="the big pane: loss, first-layer weights, update/weight ratio over time"),
        Binding("h", "runs", "Runs", show=False,
                tooltip="every run of the run directory: compare curves, reuse a configuration"),
        Binding("s", "search", "Search", show=False, tooltip="coarse-to-fine search of the next run's setup over its [search] "
                                                 "ranges: live trials and scatter; u makes the best the next run"),
        Binding("o", "open", "Open", show=False, tooltip="open another preset"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="this help"),
        Binding("q", "quit", "Quit", tooltip="stop the trainer and quit"),
        *(Binding(str(i), f"show_tab('{tab}')", f"{tab} pane", show=False,
                  tooltip=f"show the {tab} pane (narrow screens)")
          for i, tab in enumerate(TABS, start=1)),
    ]

    def __init__(
        self,
        preset: Preset,
        runs_dir: str | Path = "runs",
        *,
        clock: Callable[[], float] = time.monotonic,
        store_factory: Callable[[Path, Preset, Dataset], RunStore] = RunStore.create,
        trainer_cls: type[Trainer] = Trainer,
        engine: str | None = None,
        drain_interval: float = 0.2,
        plot_interval: float = 0.4,
        table_interval: float = 0.5,
    ) -> None:
        super().__init__()
        self.base_preset = preset            # the opened preset
        self.next_preset = preset            # what space will run
        self.runs_dir = Path(runs_dir)
        self.clock = clock                   # injectable: snapshot tests freeze it
        self.store_factory = store_factory
        self.trainer_cls = trainer_cls
        self.engine = engine or default_host()   # "process" (default) or "thread"
        self.host: Host | None = None
        self.drain_interval = drain_interval
        self.plot_interval = plot_interval     # the loss and accuracy plots (plotext is costly)
        self.table_interval = table_interval   # the weights table (numbers faster than this cannot be read)

        self.data: Dataset | None = None
        self.data_error = ""
        self.runs: list[RunHistory] = []     # this session's runs, oldest first
        self.current: RunHistory | None = None
        self.checks_control: RunControl | None = None
        self.search_job: SearchJob | None = None   # the search view's (it may outlive the view while stopping)
        self.events = EventQueue(self._wake)
        self.workers_done: list[threading.Event] = []
        self.tab = "loss"
        self.big_view = "loss"
        self._start_when_loaded = False
        self._restart = False
        self._loss_dirty = self._accuracy_dirty = self._ratios_dirty = False
        self._last_loss = self._last_accuracy = self._last_table = 0.0
        self._checks_running = False
        self._grid_spec = ""

    # --- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="body"):
            yield StatusBar(id="status")
            yield Tabs(*(Tab(TAB_LABELS[t], id=f"tab-{t}") for t in TABS), id="tabs")
            with Container(id="panes"):
                yield LossPlot(id="loss", classes="pane big-view -big")
                yield WeightsView(id="layer1", classes="pane big-view")
                yield RatioHistory(id="ratio-history", classes="pane big-view")
                yield AccuracyPlot(id="accuracy", classes="pane")
                yield Hyperparams(id="hyper", classes="pane")
                yield ParamTable(id="weights", classes="pane")
                yield ChecksPane(id="checks", classes="pane")
                # The advice slot: the advisor's diagnoses, then the run's own notes.
                with Container(id="advice-slot", classes="pane") as slot:
                    slot.border_title = "Advice"
                    yield AdvicePane(id="advice")
                    yield RunNotes(id="notes")
        yield Static(id="too-small")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._advice = self.query_one(AdvicePane)
        self._layer = self.query_one(WeightsView)
        self._ratio_history = self.query_one(RatioHistory)
        self._show_tab("loss")
        self._load_data(self.base_preset)
        self.call_after_refresh(self._ensure_host)  # after the first frame: starting a process takes a moment
        self.set_interval(self.drain_interval, self._drain)
        self._refresh_all()

    def on_resize(self, event: events.Resize) -> None:
        w, h = event.size
        self.query_one("#too-small", Static).update(
            f"The terminal is {w}x{h}; the workbench needs at least {MIN_WIDTH}x{MIN_HEIGHT}.\n"
            "Make the window larger (it redraws as you resize), or press q to quit."
        )

    @on(Tabs.TabActivated, "#tabs")
    def _tab_clicked(self, event: Tabs.TabActivated) -> None:
        self._show_tab(event.tab.id.removeprefix("tab-"))

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#tabs", Tabs).active = f"tab-{tab}"
        self._show_tab(tab)

    def _show_tab(self, tab: str) -> None:
        self.tab = tab
        for t, panes in TABS.items():
            for pane in panes:
                self.query_one(f"#{pane}").set_class(t == tab, "-current")
        if TABS[tab][0] in BIG_VIEWS:   # keep the wide layout's big cell in step
            self.big_view = TABS[tab][0]
            for view in BIG_VIEWS:
                self.query_one(f"#{view}").set_class(view == self.big_view, "-big")

    def action_next_view(self) -> None:
        view = BIG_VIEWS[(BIG_VIEWS.index(self.big_view) + 1) % len(BIG_VIEWS)]
        tab = next(t for t, panes in TABS.items() if panes[0] == view)
        self.action_show_tab(tab)
        self.query_one(StatusBar).flash(f"view: {self.query_one(f'#{view}').border_title.split('  ')[0]}"
                                        " (v: next)")

    # --- data ---------------------------------------------------------------------

    def _load_data(self, preset: Preset) -> None:
        self.data, self.data_error = None, ""
        self.run_worker(partial(self._load_data_thread, preset), thread=True, group="data",
                        exit_on_error=False, name="load data")

    def _load_data_thread(self, preset: Preset) -> None:
        try:
            data = load_dataset(preset.data, source=preset.source)
        except UserError as e:
            self.post_message(DataLoaded(preset, None, str(e)))
        except Exception as e:  # noqa: BLE001 - shown in the app, which keeps working
            self.post_message(DataLoaded(preset, None, f"{type(e).__name__}: {e}"))
        else:
            self.post_message(DataLoaded(preset, data))

    def on_data_loaded(self, message: DataLoaded) -> None:
        if not self._open:
            return
        if message.preset is not self.base_preset:
            return  # another preset was opened meanwhile
        self.data, self.data_error = message.data, message.error
        if message.error:
            self._start_when_loaded = False
            self.notify(message.error, title="cannot load the data", severity="error", timeout=8)
        elif self._start_when_loaded:
            self._start_when_loaded = False
            self.action_start()
        self._refresh_all()

    @property
    def n_train(self) -> int:
        return self.data.X_train.shape[0] if self.data is not None else self.next_preset.data.num_train

    # --- runs ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.current is not None and self.current.t_end is None

    def _ensure_host(self) -> Host:
        if self.host is None:
            if self.engine == "thread":
                self.host = ThreadHost(self._host_events, self._host_done, spawn=lambda work: self.run_worker(
                    work, thread=True, group="train", exit_on_error=False, name="trainer"))
            else:
                self.host = ProcessHost(self._host_events, self._host_done)
        return self.host

    def action_start(self) -> None:
        if self.data is None:
            if self.data_error:
                self.notify(self.data_error, title="no data to train on", severity="error")
            else:
                self._start_when_loaded = True
                self.notify("the run starts when the data are loaded", timeout=2)
            return
        if self.running:
            self._restart = True
            self.host.stop("restarted with space")
            self._refresh_status()
            return
        self._start_run()

    def _start_run(self) -> None:
        run = RunHistory(number=len(self.runs) + 1, preset=self.next_preset)
        run.t_start = self.clock()
        self.runs.append(run)
        self.current = run
        self._ratio_history.clear()
        self._advice.show([])
        self._layer.show_message(WAITING)
        self._ensure_host().run(run.number, self.next_preset, self.data, self.runs_dir,
                                trainer_cls=self.trainer_cls, store_factory=self.store_factory)
        self._loss_dirty = self._accuracy_dirty = True
        self._refresh_all()

    def _host_events(self, number: int, events: list) -> None:
        """On the host's thread: queue the events for the next drain."""
        self.events.push(self.runs[number - 1], events)

    def _host_done(self, number: int, where: str) -> None:
        self.post_message(RunThreadDone(self.runs[number - 1], where))

    def on_run_thread_done(self, message: RunThreadDone) -> None:
        if not self._open:
            return
        message.run.error_where = message.where
        self._drain()
        message.run.finish(self.clock())
        self._refresh_all()
        if self._restart and message.run is self.current:
            self._restart = False
            self._start_run()

    def action_pause(self) -> None:
        run = self.current
        if not self.running:
            self.notify("no run to pause; space starts one", timeout=2)
            return
        if run.paused_since is not None:
            self.host.resume()
            run.resume(self.clock())
        else:
            self.host.pause()
            run.pause(self.clock())
        self._refresh_status()

    def action_stop(self) -> None:
        if not self.running:
            self.notify("no run to stop", timeout=2)
            return
        self._restart = False
        self.host.stop("stopped with x")

    async def action_quit(self) -> None:
        self._stop_everything("the workbench closed")
        self.exit(0)

    def _stop_everything(self, reason: str) -> None:
        self._restart = False
        self._start_when_loaded = False
        if self.host is not None:
            self.host.stop(reason)
        if self.checks_control is not None:
            self.checks_control.stop(reason)
        if self.search_job is not None:
            self.search_job.stop(reason)

    def on_unmount(self) -> None:
        # Stop the trainer and wait for it (at most a second), so the process
        # exits now and not at the end of an epoch; the run's files are whole.
        self._stop_everything("the workbench closed")
        deadline = time.monotonic() + 1.0
        if self.host is not None:
            self.host.close(0.9)
        for done in self.workers_done:
            done.wait(max(deadline - time.monotonic(), 0))
        if self.search_job is not None:   # trials that did not stop in time: end their processes
            self.search_job.close(max(deadline - time.monotonic(), 0))

    def _worker_done_event(self, done: threading.Event | None = None) -> threading.Event:
        """Made on the app's thread before a worker starts; the worker sets it on return
        (worker threads are pooled, so joining the thread would wait for the pool)."""
        done = done or threading.Event()
        self.workers_done = [d for d in self.workers_done if not d.is_set()] + [done]
        return done

    # --- the event stream ---------------------------------------------------------------

    @property
    def _open(self) -> bool:
        """False once the app is shutting down: late messages from workers find no panes then."""
        return self._running and not self._closing

    def _wake(self) -> None:
        """Called on the trainer thread; post_message is thread-safe and does not block."""
        self.post_message(Wake())

    def on_wake(self, _: Wake) -> None:
        self._drain()

    def _drain(self) -> None:
        if not self._open:
            return
        now = time.monotonic()  # pacing only; what is shown uses self.clock
        touched: set[str] = set()
        current = self.current
        for run, event in self.events.drain():
            what = run.add(event)
            if run is current:
                touched.add(what)
                if isinstance(event, Ratios):
                    self._ratio_history.add(event)   # it redraws on its own clock, when shown
                elif isinstance(event, Advice):
                    self._advice.add(event)
                elif isinstance(event, LayerSnapshot):
                    self._layer.show_weights(event.w1, event.image_shape, event.epoch)
            if isinstance(event, RunEnded):
                run.finish(self.clock())
        if LOSS in touched:
            self._loss_dirty = True
        ended = current is not None and current.ended is not None
        if RATIOS in touched:
            self._ratios_dirty = True
        if self._ratios_dirty and (now - self._last_table >= self.table_interval or ended):
            self._ratios_dirty, self._last_table = False, now
            self.query_one(ParamTable).show(current.ratios)
        if EPOCHS in touched:
            self._accuracy_dirty = True
        if STATUS in touched or NOTES in touched:
            self._refresh_notes()
        # Plots are the costly part (plotext is pure Python): each at most every
        # plot_interval, and never both in one drain, so no single frame blocks the keys long.
        loss_due = self._loss_dirty and (now - self._last_loss >= self.plot_interval or ended)
        if loss_due:
            self._loss_dirty, self._last_loss = False, now
            self.query_one(LossPlot).show(current, self._ghosts())
        if self._accuracy_dirty and (not loss_due or ended) and (
                now - self._last_accuracy >= self.plot_interval or ended):
            self._accuracy_dirty, self._last_accuracy = False, now
            self.query_one(AccuracyPlot).show(current)
        self._refresh_status()

    def _ghosts(self) -> list[RunHistory]:
        return [r for r in self.runs if r is not self.current and r.steps_x.size]

    # --- panes ---------------------------------------------------------------------

    def _refresh_all(self) -> None:
        self._refresh_status()
        self._refresh_hyper()
        self._refresh_notes()
        self.query_one(LossPlot).show(self.current, self._ghosts())
        self.query_one(AccuracyPlot).show(self.current)
        self.query_one(ParamTable).show(self.current.ratios if self.current else None)

    def _refresh_status(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        run = self.current
        bar = self.query_one(StatusBar)
        preset = self.next_preset if run is None else run.preset
        fields = dict(preset=preset.name, dataset=preset.data.dataset)
        if run is None:
            status = "failed" if self.data_error else ("idle" if self.data is not None else "loading")
            note = ("cannot load the data" if self.data_error else
                    "space starts a run" if self.data is not None else "loading the data…")
            bar.show(**fields, run_number=None, status=status, epoch=0, epochs=preset.train.epochs,
                     iteration=0, iterations=None, elapsed=None, eta=None, note=note)
            return
        note = ""
        if run.ended is not None:
            note = _ended_note(run.ended)
        elif self._restart:
            note = "restarting…"
        elif run.started is None:
            note = "starting…"
        bar.show(**fields, run_number=run.number, status=run.status, epoch=run.current_epoch,
                 epochs=run.total_epochs, iteration=run.iteration, iterations=run.total_iterations,
                 elapsed=run.elapsed(now), eta=run.eta(now), note=note)

    def _fit_grid(self) -> None:
        """The weights row of the wide grid holds one line per parameter (W1, b1, ...)."""
        preset = self.current.preset if self.current is not None else self.next_preset
        rows = min(2 * (len(preset.model.hidden) + 1), 10) + 3   # + header + border
        spec = f"1fr 9 {rows} 10"
        if spec != self._grid_spec:
            self._grid_spec = spec
            self.query_one("#panes").styles.grid_rows = spec

    def _refresh_hyper(self) -> None:
        self._fit_grid()
        run = self.current
        if run is None:
            self.query_one(Hyperparams).show(self.base_preset, self.next_preset, label="preset")
        else:
            self.query_one(Hyperparams).show(run.preset, self.next_preset, label=f"run {run.number}")

    def _refresh_notes(self) -> None:
        self.query_one(RunNotes).show(self._notes())

    def _notes(self) -> list[tuple[str, str]]:
        """The advice slot's content: status and reason, advice, failed checks, pending changes."""
        lines: list[tuple[str, str]] = []
        p, run = self.next_preset, self.current
        if self.data_error:
            lines.append(("bad", self.data_error))
            lines.append(("info", "o opens another preset"))
        elif self.data is None:
            lines.append(("info", f"loading {p.data.dataset}…"))
        elif run is None:
            d = self.data
            lines.append(("info", f"{p.name}: {p.description}" if p.description else p.name))
            lines.append(("info", f"{d.name}: {d.X_train.shape[0]} train / {d.X_val.shape[0]} val, "
                                  f"{d.num_classes} classes, {d.input_dim} inputs"))
            lines.append(("info", "space trains; c runs the sanity checks first, as the lecture does"))
        if run is not None:
            if run.run_dir:
                lines.append(("info", f"run {run.number} is recorded in {self.runs_dir.name}/{run.run_dir}"))
            if run.started is not None:
                s = run.started
                lines.append(("info", f"initial loss {s.initial_loss:.4f} · {s.n_train} train, {s.n_val} val, "
                                      f"{s.iterations_per_epoch} iterations per epoch"))
            if run.ended is not None:
                e = run.ended
                kind = {"finished": "good", "stopped": "warn"}.get(e.status, "bad")
                text = f"{e.status}: {e.reason}"
                if e.best_val_acc is not None:
                    text += f"; best val acc {e.best_val_acc:.3f} (epoch {e.best_epoch})"
                lines.append((kind, text))
                if run.error_where:
                    lines.append(("bad", f"at {run.error_where}"))
        checks = self.query_one(ChecksPane)
        for r in checks.results:
            if not r.passed:
                lines.append(("warn", f"check {r.name} failed: {r.advice}"))
        if checks.error:
            lines.append(("bad", f"checks: {checks.error}"))
        base = run.preset if run is not None else self.base_preset
        changes = [
            f"{name} {get(base)} → {get(p)}" for name, _, get in ROWS if get(base) != get(p)
        ]
        if changes:
            lines.append(("info", "next run: " + ", ".join(changes)))
        return lines

    # --- hyperparameter keys (apply to the next run) ------------------------------------------

    def action_learning_rate(self, up: bool) -> None:
        self._knob(lambda p: knobs.learning_rate(p, up))

    def action_reg(self, up: bool) -> None:
        self._knob(lambda p: knobs.reg(p, up))

    def action_batch(self, up: bool) -> None:
        self._knob(lambda p: knobs.batch_size(p, up, self.n_train))

    def _knob(self, change: Callable[[Preset], tuple[Preset, str]]) -> None:
        bar = self.query_one(StatusBar)
        try:
            new, said = change(self.next_preset)
        except knobs.AtLimit as e:
            bar.flash(str(e), warn=True)
            return
        except PresetError as e:
            self.notify(str(e), severity="error")
            return
        self._set_next(new)
        bar.flash(f"next run: {said}")

    def _set_next(self, preset: Preset) -> None:
        self.next_preset = preset
        self._refresh_hyper()
        self._refresh_notes()
        if self.current is None:
            self._refresh_status()

    def action_edit(self) -> None:
        def done(preset: Preset | None) -> None:
            if preset is not None:
                self._set_next(preset)

        self.push_screen(EditForm(self.next_preset, self.n_train if self.data is not None else None), done)

    def action_open(self) -> None:
        def done(preset: Preset | None) -> None:
            if preset is None:
                return
            self.base_preset = self.next_preset = preset
            self.query_one(ChecksPane).begin(preset.name)
            self.query_one(ChecksPane).end()
            self._load_data(preset)
            self._refresh_all()

        self.push_screen(OpenPreset(), done)

    def action_runs(self) -> None:
        session = {r.run_dir for r in self.runs if r.run_dir}
        run = self.current
        live = {run.run_dir: run.status} if self.running and run is not None and run.run_dir else {}
        self.push_screen(RunsScreen(self.runs_dir, session=session, live=live))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Over the search view the workbench's own keys wait (a run would take the
        # search's cores), and over the runs view they would act unseen; quit,
        # help and the palette still work.
        if isinstance(self.screen, (SearchScreen, RunsScreen)) and action in _WORKBENCH_ACTIONS:
            return False
        return True

    def action_search(self) -> None:
        if isinstance(self.screen, SearchScreen):
            return
        if self.data is None:
            self.notify(self.data_error or "the data are still loading", severity="warning", timeout=2)
            return
        if self.running:
            self.notify("a run is going and the search needs the cores: x stops the run", timeout=3)
            return
        if self.search_job is not None and self.search_job.running:
            self.notify("the last search is still stopping", timeout=2)
            return
        try:
            job = SearchJob(self.next_preset, self.runs_dir)
        except UserError as e:
            self.notify(str(e), title="cannot start the search", severity="error", timeout=8)
            return
        self.search_job = job
        self._worker_done_event(job.done)   # on_unmount waits for the search thread like the others
        self.run_worker(job.run, thread=True, group="search", exit_on_error=False, name="search")
        self.push_screen(SearchScreen(job))

    def on_runs_screen_use_config(self, message: RunsScreen.UseConfig) -> None:
        """A past run's configuration becomes the next run's (its data set too)."""
        preset = message.preset
        if preset.data != self.base_preset.data:
            self.base_preset = preset
            self._load_data(preset)
        self._set_next(preset)
        self.query_one(StatusBar).flash(f"next run: the configuration of {message.run}")

    def action_log_scale(self) -> None:
        log = self.query_one(LossPlot).toggle_log()
        self.query_one(StatusBar).flash(f"loss plot: {'log' if log else 'linear'} y axis")

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.BINDINGS))

    # --- sanity checks ---------------------------------------------------------------------

    def action_checks(self) -> None:
        if self._checks_running:
            self.notify("the checks are running", timeout=2)
            return
        if self.data is None:
            self.notify(self.data_error or "the data are still loading", severity="warning", timeout=2)
            return
        self._checks_running = True
        self.checks_control = RunControl()
        self.query_one(ChecksPane).begin(self.next_preset.name)
        done = self._worker_done_event()
        self.run_worker(partial(self._checks_thread, self.next_preset, self.data, self.checks_control, done),
                        thread=True, group="checks", exit_on_error=False, name="checks")
        self.action_show_tab("checks")  # on narrow screens, bring the checks to the front

    def _checks_thread(self, preset: Preset, data: Dataset, control: RunControl, done: threading.Event) -> None:
        error = ""
        try:
            for result in iter_checks(preset, data, control=control):
                self.post_message(CheckLanded(result))
                if control.stopped:
                    break
        except Exception as e:  # noqa: BLE001 - shown in the pane
            error = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
        finally:
            done.set()
        self.post_message(ChecksDone(error))

    def on_check_landed(self, message: CheckLanded) -> None:
        if not self._open:
            return
        self.query_one(ChecksPane).add(message.result)
        self._refresh_notes()

    def on_checks_done(self, message: ChecksDone) -> None:
        if not self._open:
            return
        self._checks_running = False
        pane = self.query_one(ChecksPane)
        pane.end(message.error)
        self._refresh_notes()
        if pane.passed is not None:
            n = sum(r.passed for r in pane.results)
            self.notify(f"sanity checks: {n}/{len(pane.results)} passed",
                        severity="information" if pane.passed else "warning", timeout=3)

    # --- command palette -------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for b in self.BINDINGS:
            if b.action in ("quit",):
                continue  # the base palette has Quit
            title = (b.tooltip or b.description)
            title = title[0].upper() + title[1:]
            yield SystemCommand(title, f"key: {b.key_display or b.key}", partial(self.run_action, b.action))


_WORKBENCH_ACTIONS = {b.action.split("(")[0] for b in WorkbenchApp.BINDINGS} - {"quit", "help"}


def _ended_note(e: RunEnded) -> str:
    if e.status == "finished" and e.best_val_acc is not None:
        return f"best val acc {e.best_val_acc:.3f} (epoch {e.best_epoch})"
    return e.reason

"""The workbench screen: the panes, their layout state and their keys.

The screen composes the panes and holds the keys that act on them and on the
next run, so a screen pushed over it (help, the edit form, open preset, the
runs and search views) silences those keys by itself. What outlives a screen
(the trainer host, the data, the runs, the jobs) belongs to the app
(app.WorkbenchApp); the screen reads that state when it redraws and hands
orders back to it. The app's event pump calls `follow` and `show_drained`;
both only set pane data, and the costly panes redraw at a paced rate.

The visible tab (narrow layouts) and the big view (wide layouts, `v`) are
reactives; their watchers do the showing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Static, Tab, Tabs

from ...config import Preset
from ...engine.events import Advice, Ratios
from ...errors import PresetError
from ...usertext import textual_markup
from .. import knobs, texts
from ..history import EPOCHS, LOSS, NOTES, RATIOS, STATUS, RunHistory
from ..host_events import HostEvent, LayerSnapshot
from ..runs_screen import RunsScreen
from ..widgets.accuracy_plot import AccuracyPlot
from ..widgets.advice import AdvicePane
from ..widgets.checks_pane import ChecksPane
from ..widgets.hyperparams import Hyperparams
from ..widgets.loss_plot import LossPlot
from ..widgets.param_table import ParamTable
from ..widgets.ratio_history import RatioHistory
from ..widgets.run_notes import RunNotes
from ..widgets.status_bar import StatusBar
from ..widgets.weights_view import WAITING, WeightsView
from .edit_form import EditForm
from .open_preset import OpenPreset

if TYPE_CHECKING:
    from ..app import WorkbenchApp

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
TAB_LABELS = {
    "loss": "1 Loss",
    "accuracy": "2 Accuracy",
    "weights": "3 Weights",
    "checks": "4 Checks",
    "run": "5 Advice",
    "layer1": "6 Layer 1",
    "ratios": "7 Ratios",
}
# Wide screens show one of these in the big cell; `v` moves to the next.
BIG_VIEWS = ("loss", "layer1", "ratio-history")

LR = Binding.Group("lr", compact=True)
REG = Binding.Group("reg", compact=True)
BATCH = Binding.Group("batch", compact=True)

# The keys for the run and the next run, then the tab keys; the app adds help and quit.
RUN_KEYS = [
    Binding("space", "start", "Run", tooltip="start the next run (restarts a running one)"),
    Binding("p", "pause", "Pause", tooltip="pause or resume the run"),
    Binding("x", "stop", "Stop", tooltip="stop the run (within one iteration)"),
    Binding(
        "l",
        "learning_rate(False)",
        "lr down",
        group=LR,
        tooltip="next run's learning rate down half a decade (/ 10^0.5)",
    ),
    Binding(
        "L", "learning_rate(True)", "lr up", group=LR, tooltip="next run's learning rate up half a decade (x 10^0.5)"
    ),
    Binding(
        "r",
        "reg(False)",
        "reg down",
        group=REG,
        tooltip=f"next run's reg down half a decade ({knobs.REG_FLOOR:g} -> 0)",
    ),
    Binding(
        "R", "reg(True)", "reg up", group=REG, tooltip=f"next run's reg up half a decade (0 -> {knobs.REG_FLOOR:g})"
    ),
    Binding("b", "batch(False)", "batch halve", group=BATCH, tooltip="halve the next run's batch size (down to 1)"),
    Binding(
        "B",
        "batch(True)",
        "batch double",
        group=BATCH,
        tooltip="double the next run's batch size (up to the training set)",
    ),
    Binding("e", "edit", "Edit", tooltip="edit the next run: learning rate, reg, batch, epochs, update, hidden"),
    Binding("c", "checks", "Checks", tooltip="run the four sanity checks on the next run's setup"),
    Binding("y", "log_scale", "Log y", show=False, tooltip="loss plot: toggle a log y axis"),
    Binding(
        "v",
        "next_view",
        "View",
        show=False,
        tooltip="the big pane: loss, first-layer weights, update/weight ratio over time",
    ),
    Binding(
        "h", "runs", "Runs", show=False, tooltip="every run of the run directory: compare curves, reuse a configuration"
    ),
    Binding(
        "s",
        "search",
        "Search",
        show=False,
        tooltip="coarse-to-fine search of the next run's setup over its [search] "
        "ranges: live trials and scatter; u makes the best the next run",
    ),
    Binding("o", "open", "Open", show=False, tooltip="open another preset"),
]
TAB_KEYS = [
    Binding(str(i), f"show_tab('{tab}')", f"{tab} pane", show=False, tooltip=f"show the {tab} pane (narrow screens)")
    for i, tab in enumerate(TABS, start=1)
]


class WorkbenchScreen(Screen):
    BINDINGS = [*RUN_KEYS, *TAB_KEYS]

    tab = reactive("loss")  # the pane (or panes) shown on narrow screens: a key of TABS
    big_view = reactive("loss")  # the pane in the wide layout's big cell: one of BIG_VIEWS

    def __init__(self, plot_interval: float = 0.4, table_interval: float = 0.5, **kw) -> None:
        super().__init__(**kw)
        self.plot_interval = plot_interval  # the loss and accuracy plots (plotext is costly)
        self.table_interval = table_interval  # the weights table (numbers faster than this cannot be read)
        self._loss_dirty = self._accuracy_dirty = self._ratios_dirty = False
        self._last_loss = self._last_accuracy = self._last_table = 0.0
        self._grid_spec = ""

    @property
    def bench(self) -> WorkbenchApp:
        return cast("WorkbenchApp", self.app)

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
        self.status_bar = self.query_one(StatusBar)
        self.loss_plot = self.query_one(LossPlot)
        self.accuracy_plot = self.query_one(AccuracyPlot)
        self.param_table = self.query_one(ParamTable)
        self.checks_pane = self.query_one(ChecksPane)
        self.advice_pane = self.query_one(AdvicePane)
        self.weights_view = self.query_one(WeightsView)
        self.ratio_history = self.query_one(RatioHistory)
        self.refresh_all()

    def on_resize(self, event: events.Resize) -> None:
        w, h = event.size
        self.query_one("#too-small", Static).update(
            f"The terminal is {w}x{h}; the workbench needs at least {MIN_WIDTH}x{MIN_HEIGHT}.\n"
            "Make the window larger (it redraws as you resize), or press q to quit."
        )

    def watch_tab(self, tab: str) -> None:
        for t, panes in TABS.items():
            for pane in panes:
                self.query_one(f"#{pane}").set_class(t == tab, "-current")
        self.query_one("#tabs", Tabs).active = f"tab-{tab}"
        if TABS[tab][0] in BIG_VIEWS:  # keep the wide layout's big cell in step
            self.big_view = TABS[tab][0]

    def watch_big_view(self, view: str) -> None:
        for v in BIG_VIEWS:
            self.query_one(f"#{v}").set_class(v == view, "-big")

    @on(Tabs.TabActivated, "#tabs")
    def _tab_clicked(self, event: Tabs.TabActivated) -> None:
        self.tab = (event.tab.id or "").removeprefix("tab-")

    def action_show_tab(self, tab: str) -> None:
        self.tab = tab

    def action_next_view(self) -> None:
        view = BIG_VIEWS[(BIG_VIEWS.index(self.big_view) + 1) % len(BIG_VIEWS)]
        self.tab = next(t for t, panes in TABS.items() if panes[0] == view)
        title = str(self.query_one(f"#{view}").border_title)
        self.status_bar.flash(f"view: {title.split('  ')[0]} (v: next)")

    # --- what the app's event pump calls ------------------------------------------------

    def new_run(self) -> None:
        """A run starts: the panes that follow one run only start empty."""
        self.ratio_history.clear()
        self.advice_pane.show([])
        self.weights_view.show_message(WAITING)
        self._loss_dirty = self._accuracy_dirty = True

    def follow(self, event: HostEvent) -> None:
        """One of the current run's events that a pane keeps itself (the rest are read from its history)."""
        if isinstance(event, Ratios):
            self.ratio_history.add(event)  # it redraws on its own clock, when shown
        elif isinstance(event, Advice):
            self.advice_pane.add(event)
        elif isinstance(event, LayerSnapshot):
            self.weights_view.show_weights(event.w1, event.image_shape, event.epoch)

    def show_drained(self, run: RunHistory | None, touched: set[str]) -> None:
        """Redraw what a drain touched (the names of history.py) for the current run,
        the costly panes at most every plot_interval / table_interval seconds."""
        now = time.monotonic()  # pacing only; what is shown uses the app's clock
        if LOSS in touched:
            self._loss_dirty = True
        ended = run is not None and run.ended is not None
        if RATIOS in touched:
            self._ratios_dirty = True
        if run is not None and self._ratios_dirty and (now - self._last_table >= self.table_interval or ended):
            self._ratios_dirty, self._last_table = False, now
            self.param_table.show(run.ratios)
        if EPOCHS in touched:
            self._accuracy_dirty = True
        if STATUS in touched or NOTES in touched:
            self.refresh_notes()
        # Plots are the costly part (plotext is pure Python): each at most every
        # plot_interval, and never both in one drain, so no single frame blocks the keys long.
        loss_due = self._loss_dirty and (now - self._last_loss >= self.plot_interval or ended)
        if loss_due:
            self._loss_dirty, self._last_loss = False, now
            self.loss_plot.show(run, self.bench.ghosts())
        if (
            self._accuracy_dirty
            and (not loss_due or ended)
            and (now - self._last_accuracy >= self.plot_interval or ended)
        ):
            self._accuracy_dirty, self._last_accuracy = False, now
            self.accuracy_plot.show(run)
        self.refresh_status()

    # --- panes ---------------------------------------------------------------------

    def refresh_all(self) -> None:
        run = self.bench.current
        self.refresh_status()
        self.refresh_hyper()
        self.refresh_notes()
        self.loss_plot.show(run, self.bench.ghosts())
        self.accuracy_plot.show(run)
        self.param_table.show(run.ratios if run else None)

    def refresh_status(self) -> None:
        app = self.bench
        self.status_bar.show(
            **texts.status_fields(
                app.current,
                app.next_preset,
                loaded=app.data is not None,
                data_error=app.data_error,
                restarting=app.restarting,
                now=app.clock(),
            )
        )

    def refresh_hyper(self) -> None:
        self._fit_grid()
        app, run = self.bench, self.bench.current
        if run is None:
            self.query_one(Hyperparams).show(app.base_preset, app.next_preset, label="preset")
        else:
            self.query_one(Hyperparams).show(run.preset, app.next_preset, label=f"run {run.number}")

    def refresh_notes(self) -> None:
        app = self.bench
        self.query_one(RunNotes).show(
            texts.notes(
                app.current,
                base_preset=app.base_preset,
                next_preset=app.next_preset,
                data=app.data,
                data_error=app.data_error,
                runs_dir_name=app.runs_dir.name,
                checks=self.checks_pane.results,
                checks_error=self.checks_pane.error,
            )
        )

    def next_changed(self) -> None:
        """The next run's preset changed: the panes that show it."""
        self.refresh_hyper()
        self.refresh_notes()
        if self.bench.current is None:
            self.refresh_status()

    def _fit_grid(self) -> None:
        """The weights row of the wide grid holds one line per parameter (W1, b1, ...)."""
        app = self.bench
        preset = app.current.preset if app.current is not None else app.next_preset
        rows = min(2 * (len(preset.model.hidden) + 1), 10) + 3  # + header + border
        spec = f"1fr 9 {rows} 10"
        if spec != self._grid_spec:
            self._grid_spec = spec
            self.query_one("#panes").styles.grid_rows = spec

    def flash(self, text: str, warn: bool = False) -> None:
        self.status_bar.flash(text, warn=warn)

    # --- the run ------------------------------------------------------------------------

    def action_start(self) -> None:
        self.bench.start()

    def action_pause(self) -> None:
        self.bench.toggle_pause()

    def action_stop(self) -> None:
        self.bench.stop_run()

    # --- hyperparameter keys (apply to the next run) ------------------------------------------

    def action_learning_rate(self, up: bool) -> None:
        self._knob(lambda p: knobs.learning_rate(p, up))

    def action_reg(self, up: bool) -> None:
        self._knob(lambda p: knobs.reg(p, up))

    def action_batch(self, up: bool) -> None:
        self._knob(lambda p: knobs.batch_size(p, up, self.bench.n_train))

    def _knob(self, change: Callable[[Preset], tuple[Preset, str]]) -> None:
        try:
            new, said = change(self.bench.next_preset)
        except knobs.AtLimit as e:
            self.flash(str(e), warn=True)
            return
        except PresetError as e:
            self.notify(textual_markup(e), severity="error")
            return
        self.bench.set_next(new)
        self.flash(f"next run: {said}")

    def action_edit(self) -> None:
        app = self.bench

        def done(preset: Preset | None) -> None:
            if preset is not None:
                app.set_next(preset)

        self.app.push_screen(EditForm(app.next_preset, app.n_train if app.data is not None else None), done)

    def action_open(self) -> None:
        def done(preset: Preset | None) -> None:
            if preset is not None:
                self.checks_pane.begin(preset.name)
                self.checks_pane.end()
                self.bench.open_preset(preset)

        self.app.push_screen(OpenPreset(), done)

    # --- other views ------------------------------------------------------------------------

    def action_runs(self) -> None:
        app = self.bench
        session = {r.run_dir for r in app.runs if r.run_dir}
        run = app.current
        live = {run.run_dir: run.status} if app.running and run is not None and run.run_dir else {}
        self.app.push_screen(RunsScreen(app.runs_dir, session=session, live=live))

    def action_search(self) -> None:
        self.bench.start_search()

    def action_log_scale(self) -> None:
        log = self.loss_plot.toggle_log()
        self.flash(f"loss plot: {'log' if log else 'linear'} y axis")

    def action_checks(self) -> None:
        if self.bench.start_checks():
            self.tab = "checks"  # on narrow screens, bring the checks to the front

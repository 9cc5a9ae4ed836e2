"""The workbench screen: the panes, their layout state and their keys.

The screen composes the panes and holds the keys that act on them and on the
next run, so a screen pushed over it (help, the edit form, open preset, the
runs and search views) silences those keys by itself. What outlives a screen
(the trainer host, the data, the runs, the jobs) belongs to the app
(app.WorkbenchApp). The screen reads one object, the session
(session.Session), when it redraws, and never writes it: its keys post
intents to the app (messages.py), and the app posts back which parts of the
session changed (SessionChanged) and what its event pump folded in
(Drained). Those only set pane data; the costly panes redraw at a paced rate.

The visible tab (narrow layouts) and the big view (wide layouts, `v`) are
reactives; their watchers do the showing.
"""

from __future__ import annotations

import time

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, ScrollableContainer, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static, Tab, Tabs

from ...config import Preset
from ...engine.events import Advice, Ratios
from .. import knobs, layout, texts
from ..history import EPOCHS, LOSS, NOTES, RATIOS, STATUS, RunHistory
from ..host_events import HostEvent, LayerSnapshot
from ..messages import (
    ALL,
    CHECKS,
    NEW_CHECKS,
    NEW_RUN,
    NEXT,
    ChangeNext,
    Drained,
    Flash,
    PresetChosen,
    SessionChanged,
    StartJob,
    StartRun,
    StopRun,
    TogglePause,
)
from ..session import Session
from ..widgets.accuracy_plot import AccuracyPlot
from ..widgets.advice import AdvicePane
from ..widgets.checks_pane import ChecksPane
from ..widgets.hyperparams import ROWS as HYPER_ROWS
from ..widgets.hyperparams import Hyperparams
from ..widgets.loss_plot import LossPlot
from ..widgets.param_table import ParamTable
from ..widgets.ratio_history import RatioHistory
from ..widgets.run_notes import RunNotes
from ..widgets.status_bar import StatusBar
from ..widgets.weights_view import WAITING, WeightsView
from .edit_form import EditForm
from .open_preset import OpenPreset
from .runs import RunsScreen

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
    Binding(
        "e",
        "edit",
        "Edit",
        tooltip="edit the next run: data (examples, preprocessing), model (hidden, loss, init), training "
        "(update, learning rate, momentum, decay, reg, batch, epochs, full batch, explode factor)",
    ),
    Binding("c", "checks", "Checks", tooltip="run the four sanity checks on the next run's setup"),
    Binding("y", "log_scale", "Log y", show=False, tooltip="loss plot: toggle a log y axis"),
    Binding(
        "z",
        "ghosts",
        "Earlier runs",
        show=False,
        tooltip="loss plot: hide or show this session's earlier runs (+, clipped to this run's range)",
    ),
    Binding(
        "Z",
        "clear_ghosts",
        "Clear earlier runs",
        show=False,
        tooltip="loss plot: clear the earlier runs (records stay)",
    ),
    Binding(
        "a",
        "ghost_x",
        "Earlier runs' x",
        show=False,
        tooltip="loss plot: earlier runs by epoch, or by the fraction of their own run done",
    ),
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
    Binding(
        "f",
        "lr_find",
        "LR find",
        show=False,
        tooltip="learning-rate range test of the next run's setup: the curve and the suggestions; "
        "u makes the suggestion the next run's learning rate",
    ),
    Binding(
        "g",
        "tune",
        "Tune",
        show=False,
        tooltip="tune the next run's setup: checks, lr-find, coarse and fine search, final run; "
        "u makes the tuned preset the next run",
    ),
    Binding("o", "open", "Open", show=False, tooltip="open another preset"),
]
# Scrolling the focused pane: the key, and the Widget method it calls.
SCROLLS = {
    "up": "scroll_up",
    "down": "scroll_down",
    "left": "scroll_left",
    "right": "scroll_right",
    "pageup": "scroll_page_up",
    "pagedown": "scroll_page_down",
    "home": "scroll_home",
    "end": "scroll_end",
}
FOCUS_KEYS = [
    Binding("tab", "app.focus_next", "Next pane", show=False, tooltip="move the focus to the next pane (marked)"),
    Binding("shift+tab", "app.focus_previous", "Previous pane", show=False, tooltip="move the focus back a pane"),
    *(Binding(key, f"scroll('{key}')", f"scroll {key}", show=False) for key in SCROLLS),
]
# The same keys as the help screen lists them: the scroll keys on one line.
FOCUS_HELP = [
    *FOCUS_KEYS[:2],
    Binding(
        ",".join(SCROLLS),
        "scroll('down')",
        "Scroll",
        key_display="↑ ↓ ← → PgUp PgDn Home End",
        tooltip="scroll the focused pane (every table and text pane scrolls)",
    ),
]
TAB_KEYS = [
    Binding(str(i), f"show_tab('{tab}')", f"{tab} pane", show=False, tooltip=f"show the {tab} pane (narrow screens)")
    for i, tab in enumerate(TABS, start=1)
]


class WorkbenchScreen(Screen):
    BINDINGS = [*RUN_KEYS, *TAB_KEYS, *FOCUS_KEYS]

    tab = reactive("loss")  # the pane (or panes) shown on narrow screens: a key of TABS
    big_view = reactive("loss")  # the pane in the wide layout's big cell: one of BIG_VIEWS

    def __init__(self, session: Session, plot_interval: float = 0.4, table_interval: float = 0.5, **kw) -> None:
        super().__init__(**kw)
        self.session = session  # read only: the app writes it
        self.plot_interval = plot_interval  # the loss and accuracy plots (plotext is costly)
        self.table_interval = table_interval  # the weights table (numbers faster than this cannot be read)
        self._loss_dirty = self._accuracy_dirty = self._ratios_dirty = False
        self._last_loss = self._last_accuracy = self._last_table = 0.0
        self._layout: layout.Layout | None = None
        self._ghosts_cleared_at = 0  # G: earlier runs up to this number leave the loss plot

    # --- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="body"):
            yield StatusBar(id="status")
            yield Tabs(*(Tab(TAB_LABELS[t], id=f"tab-{t}") for t in TABS), id="tabs")
            # In the grid's order (layout.py); Tab moves through the panes in this order too.
            with Container(id="panes"):
                yield LossPlot(id="loss", classes="pane big-view -big")
                yield WeightsView(id="layer1", classes="pane big-view")
                yield RatioHistory(id="ratio-history", classes="pane big-view")
                yield AccuracyPlot(id="accuracy", classes="pane")
                # The tables scroll inside their panes (a pane is a scrolling container).
                with ScrollableContainer(id="weights", classes="pane") as weights:
                    weights.border_title = ParamTable.TITLE
                    weights.border_subtitle = ParamTable.SUBTITLE
                    yield ParamTable(id="weights-table")
                with ScrollableContainer(id="hyper", classes="pane") as hyper:
                    hyper.border_title = Hyperparams.TITLE
                    yield Hyperparams(id="hyper-table")
                yield ChecksPane(id="checks", classes="pane")
                # The advice slot: the advisor's diagnoses, then the run's own notes.
                with ScrollableContainer(id="advice-slot", classes="pane") as slot:
                    slot.border_title = "Advice"
                    yield AdvicePane(id="advice")
                    yield RunNotes(id="notes")
        yield Static(id="too-small")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        for pane in self.query(".pane"):
            pane.can_focus = True  # Tab and Shift+Tab move between the panes
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
        self._fit_layout()

    def _fit_layout(self) -> None:
        """The grid when every pane fits at the size it needs, else tabs (layout.choose decides)."""
        s = self.session
        preset = s.current.preset if s.current is not None else s.next_preset
        hyper_rows = len(HYPER_ROWS) + len(self.query_one(Hyperparams).extra_keys())
        chosen = layout.choose(self.size.width, self.size.height, 2 * (len(preset.model.hidden) + 1), hyper_rows)
        if chosen == self._layout:
            return
        self._layout = chosen
        self.set_class(chosen.grid, "-grid")
        if chosen.grid:
            panes = self.query_one("#panes")
            panes.styles.grid_columns = chosen.grid_columns
            panes.styles.grid_rows = chosen.grid_rows
        self._keep_focus_visible()

    def _keep_focus_visible(self) -> None:
        """Tabs hide panes: focus moves to the shown pane when the focused one is hidden."""
        focused = self.focused
        if focused is None or (focused.has_class("pane") and not focused.display) or not _shown(focused):
            panes = self._shown_panes()
            if panes:
                panes[0].focus(scroll_visible=False)

    def _shown_panes(self) -> list[Widget]:
        return [p for p in self.query(".pane") if _shown(p)]

    def watch_tab(self, tab: str) -> None:
        for t, panes in TABS.items():
            for pane in panes:
                self.query_one(f"#{pane}").set_class(t == tab, "-current")
        self.query_one("#tabs", Tabs).active = f"tab-{tab}"
        if TABS[tab][0] in BIG_VIEWS:  # keep the wide layout's big cell in step
            self.big_view = TABS[tab][0]
        if self.is_mounted:
            self.call_after_refresh(self._keep_focus_visible)

    def _focus_tab(self, tab: str) -> None:
        """A tab chosen by its key (1-7) takes the focus, so the arrows scroll it at once."""
        if not self.has_class("-grid"):
            self.query_one(f"#{TABS[tab][0]}").focus(scroll_visible=False)

    def watch_big_view(self, view: str) -> None:
        for v in BIG_VIEWS:
            self.query_one(f"#{v}").set_class(v == view, "-big")
        if self.is_mounted and self.has_class("-grid"):
            self.call_after_refresh(self._keep_focus_visible)

    # --- keyboard: focus and scrolling -----------------------------------------------

    def action_scroll(self, how: str) -> None:
        """Scroll the focused pane (the tables' panes bind these keys themselves; this serves the rest)."""
        pane = self.focused
        if pane is None:
            return
        getattr(pane, SCROLLS[how])(animate=False)

    @on(Tabs.TabActivated, "#tabs")
    def _tab_clicked(self, event: Tabs.TabActivated) -> None:
        self.tab = (event.tab.id or "").removeprefix("tab-")

    def action_show_tab(self, tab: str) -> None:
        self.tab = tab
        self.call_after_refresh(self._focus_tab, tab)

    def action_next_view(self) -> None:
        view = BIG_VIEWS[(BIG_VIEWS.index(self.big_view) + 1) % len(BIG_VIEWS)]
        self.tab = next(t for t, panes in TABS.items() if panes[0] == view)
        title = str(self.query_one(f"#{view}").border_title)
        self.status_bar.flash(f"view: {title.split('  ')[0]} (v: next)")

    # --- what the app posts ------------------------------------------------------------

    def on_session_changed(self, message: SessionChanged) -> None:
        parts = message.parts
        if NEW_RUN in parts:
            self.new_run()
        if ALL in parts:
            self.refresh_all()
        else:
            if NEXT in parts:
                self.next_changed()
            if STATUS in parts:
                self.refresh_status()
        if CHECKS in parts or NEW_CHECKS in parts:
            self.checks_pane.show(self.session.checks)
            if ALL not in parts:
                self.refresh_notes()
        if NEW_CHECKS in parts:
            self.action_show_tab("checks")  # on narrow screens, bring the checks to the front, focused

    def on_drained(self, message: Drained) -> None:
        for event in message.followed:
            self.follow(event)
        self.show_drained(message.run, message.touched)

    def on_flash(self, message: Flash) -> None:
        self.flash(message.text, message.warn)

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
            self.loss_plot.show(run, self.ghosts())
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
        run = self.session.current
        self.refresh_status()
        self.refresh_hyper()
        self.refresh_notes()
        self.loss_plot.show(run, self.ghosts())
        self.accuracy_plot.show(run)
        self.param_table.show(run.ratios if run else None)

    def refresh_status(self) -> None:
        s = self.session
        self.status_bar.show(
            **texts.status_fields(
                s.current,
                s.next_preset,
                loaded=s.data is not None,
                data_error=s.data_error,
                restarting=s.restarting,
                now=s.clock(),
            )
        )

    def refresh_hyper(self) -> None:
        s, run = self.session, self.session.current
        if run is None:
            self.query_one(Hyperparams).show(s.base_preset, s.next_preset, label="preset", base=s.base_preset)
        else:
            label = f"run {run.number}"
            self.query_one(Hyperparams).show(run.preset, s.next_preset, label=label, base=s.base_preset)
        self._fit_layout()  # the net's depth and the hyperparameters' rows set the middle row

    def refresh_notes(self) -> None:
        s = self.session
        self.query_one(RunNotes).show(
            texts.notes(
                s.current,
                base_preset=s.base_preset,
                next_preset=s.next_preset,
                data=s.data,
                data_error=s.data_error,
                runs_dir_name=s.runs_dir.name,
                checks=s.checks.results,
                checks_error=s.checks.error,
            )
        )

    def next_changed(self) -> None:
        """The next run's preset changed: the panes that show it."""
        self.refresh_hyper()
        self.refresh_notes()
        if self.session.current is None:
            self.refresh_status()

    def flash(self, text: str, warn: bool = False) -> None:
        self.status_bar.flash(text, warn=warn)

    # --- the run: intents to the app ------------------------------------------------------

    def action_start(self) -> None:
        self.app.post_message(StartRun())

    def action_pause(self) -> None:
        self.app.post_message(TogglePause())

    def action_stop(self) -> None:
        self.app.post_message(StopRun())

    # --- hyperparameter keys (apply to the next run) ------------------------------------------

    def action_learning_rate(self, up: bool) -> None:
        self.app.post_message(ChangeNext(lambda p: knobs.learning_rate(p, up)))

    def action_reg(self, up: bool) -> None:
        self.app.post_message(ChangeNext(lambda p: knobs.reg(p, up)))

    def action_batch(self, up: bool) -> None:
        session = self.session
        self.app.post_message(ChangeNext(lambda p: knobs.batch_size(p, up, session.n_train)))

    def action_edit(self) -> None:
        def done(preset: Preset | None) -> None:
            if preset is not None:
                self.app.post_message(ChangeNext(lambda _: (preset, "")))

        s = self.session
        self.app.push_screen(EditForm(s.next_preset, s.n_train if s.data is not None else None), done)

    def action_open(self) -> None:
        def done(preset: Preset | None) -> None:
            if preset is not None:
                self.app.post_message(PresetChosen(preset))

        self.app.push_screen(OpenPreset(), done)

    # --- jobs and other views ---------------------------------------------------------------

    def action_checks(self) -> None:
        self.app.post_message(StartJob("checks"))

    def action_search(self) -> None:
        self.app.post_message(StartJob("search"))

    def action_lr_find(self) -> None:
        self.app.post_message(StartJob("lr-find"))

    def action_tune(self) -> None:
        self.app.post_message(StartJob("tune"))

    def action_runs(self) -> None:
        s = self.session
        session = {r.run_dir for r in s.runs if r.run_dir}
        run = s.current
        live = {run.run_dir: run.status} if s.running and run is not None and run.run_dir else {}
        self.app.push_screen(RunsScreen(s.runs_dir, session=session, live=live))

    # --- the loss plot ----------------------------------------------------------------------

    def ghosts(self) -> list[RunHistory]:
        """The earlier runs the loss plot shows: the session's, since the last clear (Z)."""
        return [g for g in self.session.ghosts() if g.number > self._ghosts_cleared_at]

    def action_ghosts(self) -> None:
        shown = self.loss_plot.toggle_ghosts()
        self.flash(f"loss plot: earlier runs {'shown' if shown else 'hidden'} (z)")

    def action_clear_ghosts(self) -> None:
        s = self.session
        self._ghosts_cleared_at = max((r.number for r in s.runs if r is not s.current), default=0)
        self.loss_plot.show(s.current, self.ghosts())
        self.flash("loss plot: earlier runs cleared; their records stay in the run directory")

    def action_ghost_x(self) -> None:
        mode = self.loss_plot.toggle_ghost_x()
        what = "the fraction of their own run" if mode == "fraction" else "epoch"
        self.flash(f"loss plot: earlier runs by {what} (a)")

    def action_log_scale(self) -> None:
        log = self.loss_plot.toggle_log()
        self.flash(f"loss plot: {'log' if log else 'linear'} y axis")


def _shown(widget: Widget) -> bool:
    """Whether the widget and every container above it are displayed."""
    node: Widget | None = widget
    while isinstance(node, Widget):
        if not node.display:
            return False
        parent = node.parent
        node = parent if isinstance(parent, Widget) else None
    return True

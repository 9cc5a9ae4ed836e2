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
from textual.containers import Container, ScrollableContainer, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static, Tab, Tabs

from ...config import Preset
from ...engine.events import Advice, Ratios
from ...errors import UserError
from .. import knobs, layout, texts
from ..history import EPOCHS, LOSS, NOTES, RATIOS, STATUS, RunHistory
from ..host_events import HostEvent, LayerSnapshot
from ..jobs import ChecksState
from ..messages import (
    ALL,
    CHECKS,
    NEW_CHECKS,
    NEW_RUN,
    NEXT,
    OPENED,
    ChangeNext,
    Drained,
    Flash,
    PresetChosen,
    SessionChanged,
    StartGroup,
    StartJob,
    StartRun,
    StopRun,
    TogglePause,
    UseConfig,
)
from ..session import Session
from ..watching import NO_BEST
from ..watching import notes as watch_notes
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
from .seeds_prompt import DEFAULT_SEEDS, SeedsPrompt
from .watch import WatchScreen
from .workbench_keys import (
    BIG_VIEWS,
    FOCUS_KEYS,
    MIN_HEIGHT,
    MIN_WIDTH,
    PAIRS,
    PANE_ORDER,
    RUN_KEYS,
    SCROLLS,
    TAB_KEYS,
    TAB_LABELS,
    TABS,
)

# What a watcher's workbench leaves out: every key that trains or changes a run.
# Watching (`tui-trainer watch`), only these act: they look, they never train or change a
# run. An allow-list, so a key added later that trains is left out of watch mode by default.
WATCH_ACTIONS = frozenset(
    {"scroll", "show_tab", "next_view", "runs", "ghosts", "clear_ghosts", "ghost_x", "log_scale"}
    | {"help", "quit", "focus_next", "focus_previous", "command_palette"}
)


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
        self._running_shown = False  # whether the footer shows p and x (check_action)
        self._seeds = DEFAULT_SEEDS  # n: the seed group's size the prompt offers (the last asked)

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
        """The layout whose panes fit at the size they need (layout.choose decides): four
        columns, the grid, pairs of panes behind tabs, or one pane behind tabs."""
        s = self.session
        preset = s.current.preset if s.current is not None else s.next_preset
        hyper = self.query_one(Hyperparams)
        hyper_rows = len(HYPER_ROWS) + len(hyper.extra_keys())
        hyper_width = hyper.get_content_width(self.size, self.size) if hyper.next is not None else 0
        n_params = 2 * (len(preset.model.hidden) + 1)
        chosen = layout.choose(self.size.width, self.size.height, n_params, hyper_rows, hyper_width)
        if chosen == self._layout:
            return
        kind_changed = self._layout is None or chosen.kind != self._layout.kind
        self._layout = chosen
        if kind_changed:
            self.minimize()  # an enlarged pane goes back to its place in the new layout
            self._order_panes(chosen.kind)
            self.set_class(chosen.grid, "-grid")
            self.set_class(chosen.kind == "wide", "-four")
            self.set_class(chosen.kind == "pairs", "-pairs")
            self.watch_tab(self.tab)  # pairs show two panes per tab
        if chosen.grid:
            panes = self.query_one("#panes")
            panes.styles.grid_columns = chosen.grid_columns
            panes.styles.grid_rows = chosen.grid_rows
        self._keep_focus_visible()

    def _order_panes(self, kind: str) -> None:
        """The panes in the order the layout places them (a grid fills its cells in order)."""
        panes = self.query_one("#panes")
        order = PANE_ORDER.get(kind, PANE_ORDER["grid"])
        for before, after in zip(order, order[1:]):
            panes.move_child(self.query_one(f"#{after}"), after=self.query_one(f"#{before}"))

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
        shown = (PAIRS if self.has_class("-pairs") else TABS)[tab]
        for pane in self.query("#panes > .pane"):
            pane.set_class(pane.id in shown, "-current")
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
        """A number key: on a grid, enlarge that pane over the others (again: back); behind
        tabs, show its tab."""
        if self.has_class("-grid"):
            pane = self.query_one(f"#{TABS[tab][0]}")
            if self.maximized is pane:
                self.minimize()
                return
            if pane.id in BIG_VIEWS and not self.has_class("-four"):
                self.big_view = pane.id  # the grid shows one big view at a time
            self.call_after_refresh(self._enlarge, pane)
            return
        self.tab = tab
        self.call_after_refresh(self._focus_tab, tab)

    def _enlarge(self, pane: Widget) -> None:
        self.maximized = pane  # not maximize(): it refuses the scrolling containers the tables sit in
        pane.focus(scroll_visible=False)
        self.flash(f"{TAB_LABELS[next(t for t, p in TABS.items() if p[0] == pane.id)][2:]}: enlarged (escape: back)")

    def action_next_view(self) -> None:
        if self.has_class("-four"):
            self.flash("every view is on screen: a number key enlarges one (1 loss, 6 first layer, 7 ratios)")
            return
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
        if OPENED in parts:  # another preset: its tables start at their top left
            for pane in self.query(".pane"):
                pane.scroll_to(0, 0, animate=False)
        if CHECKS in parts or NEW_CHECKS in parts:
            self.refresh_checks()
            if ALL not in parts:
                self.refresh_notes()
        if NEW_CHECKS in parts and not self.has_class("-grid"):
            self.action_show_tab("checks")  # behind tabs, bring the checks to the front, focused

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
        self.weights_view.show_message(NO_BEST if self.session.watching else WAITING)
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
        if ended:
            self.ratio_history.redraw_if_dirty()  # the run's last ratios at once, not on the next tick
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
        self.refresh_checks()

    def refresh_status(self) -> None:
        s = self.session
        self._running_changed()
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
        hyper = self.query_one(Hyperparams)
        hyper.read_only = s.watching  # another process's run: no next run here
        if run is None:
            hyper.show(s.base_preset, s.next_preset, label="preset", base=s.base_preset)
        else:
            label = "this run" if s.watching else f"run {run.number}"
            hyper.show(run.preset, s.next_preset, label=label, base=s.base_preset)
        self._fit_layout()  # the net's depth and the hyperparameters' rows set the middle row

    def refresh_notes(self) -> None:
        s = self.session
        if s.watching:
            self.query_one(RunNotes).show(watch_notes(s.current, s.runs_dir.name))
            return
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
        self.refresh_checks()  # results about another setup say so
        if self.session.current is None:
            self.refresh_status()

    def refresh_checks(self) -> None:
        s = self.session
        if s.watching:  # a run's record holds no checks: they are a round of their own
            name = s.current.preset.name if s.current is not None else ""
            self.checks_pane.show(ChecksState(name, error=f"not in a run's record; tui-trainer check {name} runs them"))
            return
        self.checks_pane.show(s.checks, stale=s.checks.stale(s.next_preset))

    def flash(self, text: str, warn: bool = False) -> None:
        self.status_bar.flash(text, warn=warn)

    # --- the run: intents to the app ------------------------------------------------------

    def action_start(self) -> None:
        self.app.post_message(StartRun())

    def action_seeds(self) -> None:
        """n: ask how many seeds (the last number asked, else 3), then run them as one group."""

        def done(seeds: int | None) -> None:
            if seeds is not None:
                self._seeds = seeds
                self.app.post_message(StartGroup(seeds))

        self.app.push_screen(SeedsPrompt(self._seeds), done)

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

        self.app.push_screen(OpenPreset(self.session.base_preset.name), done)

    # --- jobs and other views ---------------------------------------------------------------

    def action_checks(self) -> None:
        self.app.post_message(StartJob("checks"))

    def action_search(self) -> None:
        self.app.post_message(StartJob("search"))

    def action_lr_find(self) -> None:
        self.app.post_message(StartJob("lr-find"))

    def action_tune(self) -> None:
        self.app.post_message(StartJob("tune"))

    def action_use(self) -> None:
        """The last job's result as the next run (its view's u), or what u would take."""
        jobs = sorted((j for j in self.session.jobs.values() if j.kind != "checks"), key=lambda j: j.started_at)
        if not jobs:
            self.flash("nothing to use yet: u takes a search's best trial (s), lr-find's rate (f) or tune's preset (g)")
            return
        try:
            offer = jobs[-1].offer()
        except UserError as e:
            self.flash(str(e), warn=True)
            return
        if offer is None:
            self.flash(f"nothing to use yet: {jobs[-1].no_offer()}", warn=True)
            return
        self.app.post_message(UseConfig(offer.preset, offer.said))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """p and x only while a run goes: the footer shows what a key would do now; watching
        (`tui-trainer watch`), no key that trains or changes a run."""
        if self.session.watching and action not in WATCH_ACTIONS:
            return False
        if action in ("pause", "stop"):
            return self.session.running
        return True

    def _running_changed(self) -> None:
        running = self.session.running
        if running != self._running_shown:
            self._running_shown = running
            self.refresh_bindings()

    def action_runs(self) -> None:
        s = self.session
        if s.watching:
            self.app.push_screen(WatchScreen(s.runs_dir, following=s.live_runs))
            return
        session = {r.run_dir for r in s.runs if r.run_dir}
        run = s.current
        live = {run.run_dir: run.status} if s.running and run is not None and run.run_dir else {}
        self.app.push_screen(RunsScreen(s.runs_dir, session=session, live=live, following=s.live_runs))

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

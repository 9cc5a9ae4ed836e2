"""The search view (`s`): a coarse-to-fine search of the next run's preset, live.

    SearchScreen(job)       # job: jobs.SearchJob, which the app runs

The search is the one `tui-trainer search` runs (lab.search.runner.run_search on
a local pool.TrialPool, one BLAS thread per worker, recorded in the run
directory by records.search_store.SearchStore), run by the app in a thread worker.
The app folds each event the search sends into the job and posts this view
messages.JobUpdated; the view applies the events it has not seen to the
trials table at once, and redraws the stage progress, the best so far and
two scatters of val accuracy over log10 learning rate and log10 reg
(exploded trials as x) at most a few times a second (at once for a stop and
the end); a timer draws what waits and moves the running trials' clocks.

`i` puts the hyperparameter pane in the scatters' place (widgets/hparam_pane.py): every
searched value against val accuracy at once and the importance table, as the reports print
them, redrawn with the scatters; again `i`: back to the scatters.

`x` stops the search (queued trials cancelled, running ones stopped within an
iteration); escape leaves, stopping a search still going: both post the app
`messages.StopJob`. `u` makes the best trial the next run, enter the
highlighted one: the screen posts `messages.UseConfig` to the app, as the
runs view does, and closes. Once a search has finished, `f` runs the next,
finer search it suggests (its next.toml, as `tui-trainer search --refine`
does): the screen posts `messages.StartJob` with it and closes, and the app
opens a new search view.

The scatters' y axis zooms to the scores shown (charts.zoom, as every
accuracy plot does), so a fine stage's 0.88-0.91 spreads over the plot
instead of sitting on one row; the x axis is a log axis of the value. Each
stage has its own marker, so stages read apart without colour.
"""

from __future__ import annotations

import math
import time

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ... import formatting as fmt
from ...config import load_preset
from ...errors import UserError
from ...lab.charts import Chart, glyph, zoom
from ...lab.search.importance import points_of
from ...lab.search.refine import refine_path
from ...lab.search.runner import (
    SearchEnded,
    SearchStarted,
    StageEnded,
    StageStarted,
    TrialEnded,
    TrialStarted,
)
from ...lab.search.space import Trial, TrialResult, apply_params, best_trial, ranges_of, searched
from ...lab.search.texts import describe_start, fmt_next, fmt_range, fmt_value, heading, trial_line
from ...usertext import textual_markup
from ..jobs import SearchJob
from ..messages import JobUpdated, StartJob, StopJob, UseConfig
from ..widgets import palette
from ..widgets.cached_plot import CachedPlot
from ..widgets.hparam_pane import HyperparamPane

REDRAW_S = 0.25
# Scatter colours and markers per stage (later stages brighter), exploded trials red, the best one accent.
STAGE_COLOURS = ((108, 112, 134), (97, 175, 239), (152, 195, 121), (229, 192, 123))
STAGE_MARKERS = ("dot", "+", "o", "*")
EXPLODED = (224, 108, 117)
BEST = (229, 192, 123)
BEST_MARK = "◆"


# --- the scatter --------------------------------------------------------------------


def stage_marker(stage: int) -> str:
    return STAGE_MARKERS[min(stage, len(STAGE_MARKERS)) - 1]


class TrialScatter(CachedPlot):
    """Val accuracy of each ended trial over log10 of one searched value; the y axis
    fits the scores (an exploded trial without a val accuracy sits on its floor)."""

    def __init__(self, key: str, **kw) -> None:
        super().__init__(**kw)
        self.key = key  # "learning_rate" | "reg"
        # (log10 value, val acc (NaN: none), status, stage, id)
        self.points: list[tuple[float, float, str, int, str]] = []
        self.bounds: tuple[float, float] | None = None  # log10 of the explored range
        self.best: str | None = None
        self.value_name = "learning rate" if key == "learning_rate" else "reg"
        self.border_title = f"val acc over {self.value_name}"
        self._legend()

    def _legend(self) -> None:
        stages = sorted({p[3] for p in self.points}) or [1]
        marks = "  ".join(
            f"[{palette.hex(STAGE_COLOURS[min(s, len(STAGE_COLOURS)) - 1])}]{glyph(stage_marker(s))} stage {s}[/]"
            for s in stages
        )
        text = f"{marks}  [{palette.hex(EXPLODED)}]x exploded[/]  [{palette.hex(BEST)}]{BEST_MARK} best[/]"
        if self.border_subtitle != text:
            self.border_subtitle = text

    def show(self, results: list[TrialResult], bounds: tuple[float, float] | None, best: str | None) -> None:
        points = []
        for r in results:
            if r.status not in ("finished", "exploded"):
                continue  # failed and stopped trials have nothing to plot
            v = r.params.get(self.key)
            if v is None or v <= 0:
                continue  # no log of 0
            acc = r.best_val_acc if r.best_val_acc is not None and math.isfinite(r.best_val_acc) else math.nan
            points.append((math.log10(v), acc, r.status, r.stage, r.trial_id))
        self.points, self.bounds, self.best = points, bounds, best
        self._legend()
        self.refresh()

    def data_key(self) -> tuple:
        return (len(self.points), self.best, self.bounds)

    @property
    def y_range(self) -> tuple[float, float]:
        return zoom(p[1] for p in self.points)

    def plot(self) -> None:
        floor, top = self.y_range
        chart = Chart(self.size.width, self.size.height, xlabel=f"{self.value_name} (log axis)")

        def y(p) -> float:
            return p[1] if math.isfinite(p[1]) else floor

        for stage in sorted({p[3] for p in self.points}):
            ok = [p for p in self.points if p[3] == stage and p[2] == "finished" and p[4] != self.best]
            if ok:
                colour = STAGE_COLOURS[min(stage, len(STAGE_COLOURS)) - 1]
                chart.scatter([10 ** p[0] for p in ok], [y(p) for p in ok], marker=stage_marker(stage), color=colour)
        bad = [p for p in self.points if p[2] == "exploded"]
        if bad:
            chart.scatter([10 ** p[0] for p in bad], [y(p) for p in bad], marker="x", color=EXPLODED)
        best = [p for p in self.points if p[4] == self.best]
        if best:
            chart.scatter([10 ** best[0][0]], [y(best[0])], marker=BEST_MARK, color=BEST)
        bounds = self.bounds or (
            min((p[0] for p in self.points), default=-4.0),
            max((p[0] for p in self.points), default=0.0),
        )
        lo, hi = bounds if bounds[1] > bounds[0] else (bounds[0] - 0.5, bounds[1] + 0.5)
        chart.draw(self.plt, x=(10**lo, 10**hi), y=(floor, top), xlog=True)


# --- the screen --------------------------------------------------------------------


class SearchScreen(Screen):
    HELP_NAME = "search view"
    ABOUT = (
        ("Stages", "each stage's trials done, its epochs and its ranges"),
        ("Table", "every trial: its values, status, val accuracy and time (◆ the best)"),
        ("Scatters", "val accuracy over the learning rate and reg (log axes), a marker per stage, x exploded"),
        (
            "Hyperparameters (i)",
            "every searched value against val accuracy, a panel each (o a trial, * the best), and which one "
            "matters: Spearman's rank correlation with val acc, the largest first, within chance marked; "
            "↑ ↓ PgUp PgDn scroll it",
        ),
    )
    BINDINGS = [
        Binding("x", "stop", "Stop search", tooltip="stop the search: queued trials cancelled, running ones stopped"),
        Binding("u", "use_best", "Use best", tooltip="make the best trial the next run and go back"),
        Binding(
            "enter",
            "use_highlighted",
            "Use this",
            show=False,
            tooltip="make the highlighted trial the next run and go back",
        ),
        Binding("f", "refine", "Refine", tooltip="run the next, finer search this finished search suggests"),
        Binding("t", "toggle_plot", "lr/reg plot", tooltip="small screens: scatter over learning rate or reg"),
        Binding(
            "i",
            "toggle_hparams",
            "Hyperparams",
            tooltip="every searched value against val accuracy, and which matters (importance); again: the scatters",
        ),
        Binding("j", "cursor(1)", "Down", show=False, tooltip="the next trial"),
        Binding("k", "cursor(-1)", "Up", show=False, tooltip="the trial before"),
        Binding("escape", "close", "Back", tooltip="back to the workbench (stops a search still going)"),
    ]

    def __init__(self, job: SearchJob, redraw_interval: float = REDRAW_S, **kw) -> None:
        super().__init__(**kw)
        self.job = job
        self.redraw_interval = redraw_interval
        self.keys = searched(ranges_of(job.preset.search))  # a column each
        self.started: SearchStarted | None = None
        self.stage_info: dict[int, StageStarted] = {}
        self.stage_done: dict[int, int] = {}
        self.running: dict[str, tuple[TrialStarted, float]] = {}  # id -> (trial, monotonic start)
        self.results: dict[str, TrialResult] = {}  # every ended trial, stopped ones too
        self.best: TrialResult | None = None
        self.ended: SearchEnded | None = None
        self.bounds: dict[str, tuple[float, float]] = {}
        self.plot_key = "learning_rate"
        self._seen = 0  # the job's events applied so far
        self._changed = False  # something to redraw
        self._last_redraw = -math.inf  # time.monotonic() of the last redraw
        self._drawn: tuple[SearchEnded | None, bool] = (None, False)  # (ended, stopping) as last drawn
        self._plots_dirty = False

    def compose(self) -> ComposeResult:
        yield Static(id="search-title")
        yield Static(id="search-progress")
        yield DataTable(id="search-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="search-plots"):
            yield TrialScatter("learning_rate", id="scatter-lr", classes="-current")
            yield TrialScatter("reg", id="scatter-reg")
            yield HyperparamPane(id="search-hparams")
        yield Static(id="search-best")
        yield Static(id="search-warning")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key in self._columns():
            table.add_column("" if key == "mark" else heading(key), key=key)
        table.focus()
        self._show_title()
        self._show_best()
        self._catch_up()
        self.set_interval(self.redraw_interval, self.redraw)

    # --- events ---------------------------------------------------------------------

    def on_job_updated(self, _: JobUpdated) -> None:
        """At once for the odd event (a stop, the end); at most every redraw_interval in a
        burst of trials (the scatters are costly: the trials need the cores), the timer's
        tick drawing the rest."""
        self._catch_up()
        due = time.monotonic() - self._last_redraw >= self.redraw_interval
        if due or (self.ended, self.job.stopped) != self._drawn:
            self.redraw()

    def _catch_up(self) -> None:
        """Apply the events the search sent since the last time (the app folded them into the job)."""
        events = self.job.events
        for event in events[self._seen :]:
            self._apply(event)
        self._seen = len(events)
        if not self.job.running and self.ended is None and self.job.error:
            self.notify(f"the search failed: {textual_markup(self.job.error)}", severity="error", timeout=10)
            self.ended = SearchEnded(
                "failed", self.job.error, self.best, (), (), len(self.results), 0.0, str(self.job.path)
            )
            self.refresh_bindings()
        self._changed = True  # a stop shows as "stopping" too

    def redraw(self) -> None:
        """What changed since the last redraw; the timer's, a few times a second, also moves
        the running trials' clocks."""
        if not self.is_mounted or not (self._changed or self.running):
            return
        self._changed = False
        now = self._last_redraw = time.monotonic()
        self._drawn = (self.ended, self.job.stopped)
        table = self.query_one(DataTable)
        for tid, (_trial, t0) in self.running.items():
            table.update_cell(tid, "time", f"{now - t0:.0f}s…")
        if self._plots_dirty:
            self._plots_dirty = False
            self._show_plots()
        self._show_title()
        self._show_progress()
        self._show_best()

    def _apply(self, e) -> None:
        table = self.query_one(DataTable)
        if isinstance(e, SearchStarted):
            self.started = e
            self.stage_done = {i: 0 for i in range(1, len(e.stages) + 1)}
        elif isinstance(e, StageStarted):
            self.stage_info[e.stage] = e
            for key in ("learning_rate", "reg"):
                lo, hi = (math.log10(v) for v in e.ranges[key])
                old = self.bounds.get(key, (lo, hi))
                self.bounds[key] = (min(lo, old[0]), max(hi, old[1]))
            self._plots_dirty = True
        elif isinstance(e, TrialStarted):
            follow = table.row_count == 0 or table.cursor_row >= table.row_count - 1
            self.running[e.trial_id] = (e, time.monotonic())
            table.add_row(*self._cells(e, "running"), key=e.trial_id)
            if follow:
                table.move_cursor(row=table.row_count - 1, animate=False)
        elif isinstance(e, TrialEnded):
            self.running.pop(e.trial_id, None)
            self.results[e.trial_id] = e
            if e.trial_id not in table.rows:
                table.add_row(*self._cells(e, e.status), key=e.trial_id)
            for column, value in zip(self._columns(), self._cells(e, e.status)):
                table.update_cell(e.trial_id, column, value)
            if e.status != "stopped":
                self.stage_done[e.stage] = self.stage_done.get(e.stage, 0) + 1
            self._update_best()
            self._plots_dirty = True
        elif isinstance(e, StageEnded):
            pass  # its best is the best so far already; the next stage's ranges show when it starts
        elif isinstance(e, SearchEnded):
            self.ended = e
            self.refresh_bindings()  # x leaves the footer
            if e.best is not None:
                self._set_best(e.best)
                table.move_cursor(row=table.get_row_index(e.best.trial_id), animate=False)
            self._show_warnings(e)

    def _update_best(self) -> None:
        best = best_trial(self.results.values())
        if best is not None:
            self._set_best(best)

    def _set_best(self, best: TrialResult) -> None:
        table = self.query_one(DataTable)
        if self.best is not None and self.best.trial_id in table.rows:
            table.update_cell(self.best.trial_id, "mark", "")
        self.best = best
        if best.trial_id in table.rows:
            table.update_cell(best.trial_id, "mark", BEST_MARK)

    # --- the panes ---------------------------------------------------------------------

    def _columns(self) -> list[str]:
        """The columns' keys: a searched key's is its name (its heading reads "learning rate")."""
        return ["mark", "trial", "stage", "status", *self.keys, "val acc", "epochs", "time"]

    def _cells(self, t: Trial | TrialResult, status: str) -> list[str]:
        best = self.best is not None and self.best.trial_id == t.trial_id
        cells = [BEST_MARK if best else "", t.trial_id, str(t.stage), status]
        cells += [fmt_value(k, t.params.get(k)) for k in self.keys]
        if isinstance(t, TrialResult):
            epochs = self.stage_info[t.stage].epochs if t.stage in self.stage_info else None
            cells += [
                fmt.accuracy(t.best_val_acc) if t.status != "stopped" else "",
                f"{t.epochs}/{epochs}" if epochs else str(t.epochs),
                fmt.duration(t.elapsed_s, fine=True) if t.status != "stopped" else "",
            ]
        else:
            cells += ["", f"0/{t.epochs}", ""]
        return cells

    def _status(self) -> str:
        if self.ended is not None:
            return self.ended.status
        if self.job.control.stopped:
            return "stopping"
        return "running" if self.started is not None else "starting"

    def _show_title(self) -> None:
        status = self._status()
        text = Text()
        text.append(f" {status} ", style=f"bold reverse {_STATUS_STYLE.get(status, '')}")
        if self.started is not None:
            text.append(" " + describe_start(self.started).split("; recording in")[0])
        else:
            text.append(f" search {self.job.preset.name} on {self.job.where}")
        text.append("\n")
        if self.ended is not None:
            text.append(
                f"{self.ended.status} in {self.ended.elapsed_s:.1f}s"
                + (f" ({self.ended.reason})" if self.ended.status != "finished" else "")
                + "; "
            )
        text.append(f"recorded in {self.job.path}", style="dim")
        self.query_one("#search-title", Static).update(text)

    def _show_progress(self) -> None:
        if self.started is None:
            return
        rows = []
        for number, stage in enumerate(self.started.stages, 1):
            done = self.stage_done.get(number, 0)
            info = self.stage_info.get(number)
            rows.append(
                (
                    f"stage {number}/{len(self.started.stages)}",
                    ProgressBar(total=stage.trials, completed=done, width=20),
                    f"{done}/{stage.trials} trials x {fmt.plural(stage.epochs, 'epoch')}",
                    Text(fmt_range(info.ranges) if info is not None else "ranges set by the stage before", style="dim"),
                )
            )
        grid = Table.grid(padding=(0, 1))
        # the label, bar and count keep their width; the ranges give way
        for width in (max(len(r[0]) for r in rows), 20, max(len(r[2]) for r in rows)):
            grid.add_column(no_wrap=True, min_width=width)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        for row in rows:
            grid.add_row(*row)
        self.query_one("#search-progress", Static).update(grid)

    def _show_best(self) -> None:
        b = self.best
        if b is None:
            text = Text("best so far: none yet", style="dim")
        else:
            where = "best" if self.ended is not None else "best so far"
            text = Text.assemble(
                (f"{where}: {trial_line(b)}  (stage {b.stage})", "bold"),
                ("  u: the next run", "dim"),
            )
        self.query_one("#search-best", Static).update(text)

    def _show_warnings(self, e: SearchEnded) -> None:
        box = self.query_one("#search-warning", Static)
        lines = [Text(f"⚠ {w.message}") for w in e.warnings]
        if e.next_ranges is not None:
            lines.append(Text.assemble(f"next, finer search: {fmt_next(e.next_ranges)}", ("  f: run it", "dim")))
        box.update(Group(*lines))
        box.set_class(bool(lines), "-shown")

    def _show_plots(self) -> None:
        results = list(self.results.values())
        best = self.best.trial_id if self.best is not None else None
        for plot in self.query(TrialScatter):
            plot.show(results, self.bounds.get(plot.key), best)
        self.query_one(HyperparamPane).show(points_of(results))

    # --- actions ----------------------------------------------------------------------------

    def action_stop(self) -> None:
        if not self.job.running:
            self.notify("the search has ended", timeout=2)
            return
        self.app.post_message(StopJob(self.job, "x pressed"))

    def action_use_best(self) -> None:
        offer = self.job.offer()
        if offer is None:
            self.notify(self.job.no_offer(), severity="warning", timeout=3)
            return
        self.app.post_message(UseConfig(offer.preset, offer.said))
        self._leave()

    def action_use_highlighted(self) -> None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        tid = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        assert tid is not None  # every row is added with its trial id as key
        result = self.results.get(tid)
        if result is None or result.status == "stopped":
            self.notify(f"trial {tid} has not ended: u takes the best so far", severity="warning", timeout=3)
            return
        self._use(result)

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_use_highlighted()

    def _use(self, r: TrialResult) -> None:
        """The trial's sampled values on the next run's preset (its epochs kept)."""
        preset = apply_params(self.job.preset, r.params)
        self.app.post_message(UseConfig(preset, f"search trial {r.trial_id} (val acc {fmt.accuracy(r.best_val_acc)})"))
        self._leave()

    def action_refine(self) -> None:
        """The next, finer search (the folder's next.toml) in a new search view."""
        if self.ended is None or self.ended.next_ranges is None:
            why = "the search is still going" if self.ended is None else "this search suggested no next search"
            self.notify(f"{why}: f runs the next search once one has finished", severity="warning", timeout=3)
            return
        try:
            preset = load_preset(refine_path(self.job.path))
        except UserError as e:
            self.notify(textual_markup(e), severity="error", timeout=8)
            return
        self.dismiss()
        self.app.post_message(StartJob("search", preset))

    def _both_plots_shown(self) -> bool:
        """Wide and tall screens show both scatters (app.tcss), so `t` has nothing to toggle."""
        return self.has_class("-wide") and self.has_class("-tall")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_plot" and (self._both_plots_shown() or self.has_class("-hparams")):
            return False  # hidden from the footer and the palette
        if action == "stop" and self.ended is not None:
            return False  # nothing left to stop
        return True

    def on_resize(self) -> None:
        self.call_after_refresh(self.refresh_bindings)

    def action_cursor(self, step: int) -> None:
        table = self.query_one(DataTable)
        table.action_cursor_down() if step > 0 else table.action_cursor_up()

    def action_toggle_plot(self) -> None:
        self.plot_key = "reg" if self.plot_key == "learning_rate" else "learning_rate"
        self.query_one("#scatter-lr").set_class(self.plot_key == "learning_rate", "-current")
        self.query_one("#scatter-reg").set_class(self.plot_key == "reg", "-current")

    def action_toggle_hparams(self) -> None:
        """The hyperparameter pane in the scatters' place, focused so the scroll keys reach it; again: back."""
        shown = not self.has_class("-hparams")
        self.set_class(shown, "-hparams")
        (self.query_one(HyperparamPane) if shown else self.query_one(DataTable)).focus()
        self.refresh_bindings()

    def action_close(self) -> None:
        self._leave()

    def _leave(self) -> None:
        if self.job.running:
            self.app.post_message(StopJob(self.job, "the search view was closed"))
            self.notify(
                f"search stopped; {fmt.plural(len(self.results), 'trial')} recorded in {textual_markup(self.job.path)}",
                timeout=6,
            )
        self.dismiss()


_STATUS_STYLE = {
    "running": "green",
    "starting": "green",
    "stopping": "yellow",
    "stopped": "yellow",
    "finished": "blue",
    "failed": "red",
}

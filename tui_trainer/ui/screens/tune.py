"""The workbench's lr-find view (`f`) and tune view (`g`): each shows a job the app runs.

    LrFindScreen(job)     # job: jobs.LrFindJob on the next run's setup
    TuneScreen(job)       # job: jobs.TuneJob

The app starts the job (`f`, `g` on the workbench post messages.StartJob),
runs it in a thread worker, folds what it sends into the job and posts the
view messages.JobUpdated; the view draws from the job and posts intents back
(messages.StopJob, messages.UseConfig).

LrFindScreen shows the three smoothed curves of lr_find.find_lr on a log-x
axis with the suggestions marked, and the table of suggestions (recorded in
the runs directory as `tui-trainer lr-find` records it). `u` makes the
suggested rate the next run's learning rate and goes back; nothing else of
the next run changes: the sweeps train a net of their own, so the next run
starts exactly as it would have without lr-find.

TuneScreen logs each event of lab.tune.runner.run_tune in
lab.tune.texts.describe's words; `x` stops it (what is done stays in its
folder, for `tui-trainer tune PRESET --resume`), `u` makes the tuned preset
the next run once it has finished, escape goes back (stopping a tune still
going).
"""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Log, Static
from textual_plotext import PlotextPlot

from ... import formatting as fmt
from ...errors import UserError
from ...lab.lr_find import METHODS, SUGGESTED, LrFindEnded, LrSweep, draw_curves, suggestion_is_lower_bound
from ...lab.tune.texts import narrator
from ...usertext import clean, one_line, textual_markup
from ..jobs import LrFindJob, TuneJob
from ..messages import JobUpdated, StopJob, UseConfig

CURVE_COLOURS = [(97, 175, 239), (152, 195, 121), (198, 120, 221)]
MARK_COLOUR = (229, 192, 123)


# --- lr-find ------------------------------------------------------------------------


class LrFindScreen(Screen):
    HELP_NAME = "lr-find view"
    ABOUT = (
        (
            "Curve",
            "each seed's smoothed loss over the learning rate (log axis), named where it ends; | marks the suggestions",
        ),
        ("Table", "each method's suggestion per seed and their median (the suggested rate)"),
    )
    BINDINGS = [
        Binding("u", "use", "Use suggestion", tooltip="make the suggested rate the next run's learning rate"),
        Binding("escape", "close", "Back", tooltip="back to the workbench (stops the sweeps)"),
    ]
    DEFAULT_CSS = """
    LrFindScreen { layout: vertical; }
    #lr-title { height: auto; padding: 0 1; text-style: bold; }
    #lr-plot { height: 1fr; min-height: 10; }
    #lr-table { height: auto; padding: 0 1; }
    """

    def __init__(self, job: LrFindJob, **kw) -> None:
        super().__init__(**kw)
        self.job = job
        self._drawn = (-1, False)  # (sweeps, ended) last drawn

    @property
    def sweeps(self) -> list[LrSweep]:
        return self.job.sweeps

    @property
    def ended(self) -> LrFindEnded | None:
        return self.job.ended

    def compose(self) -> ComposeResult:
        yield Static(id="lr-title")
        yield PlotextPlot(id="lr-plot")
        yield Static(id="lr-table")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._show()

    def on_job_updated(self, _: JobUpdated) -> None:
        self._show()

    def _show(self) -> None:
        """The title always; the curves when a sweep landed, the table once at the end."""
        self._title()
        drawn = (len(self.sweeps), self.ended is not None)
        if drawn == self._drawn:
            return
        self._drawn = drawn
        self._plot()
        if self.ended is not None:
            self._table()

    def _title(self) -> None:
        e, preset = self.ended, self.job.preset
        if self.job.error:
            text = f"lr-find failed: {textual_markup(self.job.error)}"
        elif e is None:
            text = f"lr-find on {textual_markup(preset.name)}: sweep {len(self.sweeps) + 1}/3 (reg 0, lr 1e-7 -> 10)..."
        elif e.suggested_lr is None:
            text = f"lr-find {e.status}: {textual_markup(e.reason)}"
        else:
            bound = "at least " if suggestion_is_lower_bound(self.sweeps) else ""
            text = (
                f"suggested learning rate {bound}{fmt.hyperparameter(e.suggested_lr)} ({SUGGESTED}, median of 3 "
                f"seeds): u makes it the next run's (now {fmt.hyperparameter(preset.train.learning_rate)})"
            )
            text += "".join(f"\nwarning: {textual_markup(w)}" for w in e.warnings)
        self.query_one("#lr-title", Static).update(text)

    def _plot(self) -> None:
        """The smoothed curves and the suggestions: lr_find.draw_curves, as `tui-trainer lr-find` draws them."""
        widget = self.query_one("#lr-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        suggestions = self.ended.suggestions if self.ended is not None else {}
        title = "smoothed loss against the learning rate"
        draw_curves(plt, self.sweeps, suggestions, *widget.size, CURVE_COLOURS, MARK_COLOUR, title=title)
        widget.refresh()

    def _table(self) -> None:
        e = self.ended
        if e is None:
            return
        table = Table(box=None, padding=(0, 2))
        table.add_column("method")
        table.add_column("median", justify="right")
        for s in self.sweeps:
            table.add_column(f"seed {s.seed}", justify="right")

        def f(v) -> str:
            return "-" if v is None else fmt.hyperparameter(v)

        for m in METHODS:
            name = f"{m} (suggested)" if m == SUGGESTED else m
            table.add_row(name, f(e.suggestions.get(m)), *(f(s.suggestions.get(m)) for s in self.sweeps))
        spread = "" if e.spread is None else f"spread {f(e.spread[0])}..{f(e.spread[1])}; "
        self.query_one("#lr-table", Static).update(table)
        self.notify(f"lr-find: {spread}recorded in {textual_markup(e.path)}", timeout=4)

    def action_use(self) -> None:
        offer = self.job.offer()
        if offer is None:
            self.notify(
                f"{self.job.no_offer()}: u takes the suggestion once there is one", severity="warning", timeout=3
            )
            return
        self.app.post_message(UseConfig(offer.preset, offer.said))
        self.dismiss()

    def action_close(self) -> None:
        if self.job.running:
            self.app.post_message(StopJob(self.job, "the lr-find view was closed"))
        self.dismiss()


# --- tune --------------------------------------------------------------------------


class TuneScreen(Screen):
    HELP_NAME = "tune view"
    ABOUT = (("Log", "each stage's plan and result, every trial (named by its stage) and the final run's epochs"),)
    BINDINGS = [
        Binding("x", "stop", "Stop tune", tooltip="stop the stage running; what is done stays for --resume"),
        Binding("u", "use", "Use tuned", tooltip="make the tuned preset the next run (once tune has finished)"),
        Binding("escape", "close", "Back", tooltip="back to the workbench (stops a tune still going)"),
    ]
    DEFAULT_CSS = """
    TuneScreen { layout: vertical; }
    #tune-title { height: auto; padding: 0 1; text-style: bold; }
    #tune-log { height: 1fr; }
    """

    def __init__(self, job: TuneJob, **kw) -> None:
        super().__init__(**kw)
        self.job = job
        self._logged = 0  # the job's events written to the log so far
        self.describe = narrator()
        self._said_error = False

    @property
    def stage(self) -> str:
        return self.job.stage

    def compose(self) -> ComposeResult:
        yield Static(id="tune-title")
        yield Log(id="tune-log", auto_scroll=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._show()

    def on_job_updated(self, _: JobUpdated) -> None:
        self._show()

    def _show(self) -> None:
        """Log what the job sent since the last time, in tune.describe's words."""
        if self.job.ended is not None:
            self.refresh_bindings()
        log = self.query_one(Log)
        events = self.job.events
        for event in events[self._logged :]:
            line = self.describe(event)
            if line is not None:
                log.write_lines(clean(line).splitlines())  # a trial's reason, a path: the user's text
        self._logged = len(events)
        if self.job.error and not self._said_error:
            self._said_error = True
            log.write_line(one_line(f"tune failed: {self.job.error}"))
        self._title()

    def _title(self) -> None:
        e = self.job.ended
        if e is None:
            state = "stopping" if self.job.control.stopped else "running"
            name = textual_markup(self.job.preset.name)
            text = f"tune {name}: {state}, stage {self.stage or 'checks'}; x stops, escape goes back"
        elif e.status == "finished":
            tuned = textual_markup(e.tuned_preset)
            text = f"tuned: best val acc {fmt.accuracy(e.best_val_acc)}; u makes {tuned} the next run"
        else:
            text = f"tune {e.status}: {textual_markup(e.reason)}"
        self.query_one("#tune-title", Static).update(text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "stop" and self.job.ended is not None)  # x leaves the footer once tune has ended

    def action_stop(self) -> None:
        if not self.job.running:
            self.notify("tune has ended", timeout=2)
            return
        self.app.post_message(StopJob(self.job, "x pressed"))

    def action_use(self) -> None:
        try:
            offer = self.job.offer()
        except UserError as err:  # tuned.toml edited or removed since
            self.notify(textual_markup(err), severity="error", timeout=8)
            return
        if offer is None:
            self.notify("u takes the tuned preset once tune has finished", severity="warning", timeout=3)
            return
        self.app.post_message(UseConfig(offer.preset, offer.said))
        self.dismiss()

    def action_close(self) -> None:
        if self.job.running:
            self.app.post_message(StopJob(self.job, "the tune view was closed"))
            self.notify(f"tune stopped; what is done is in {textual_markup(self.job.record.path)}", timeout=6)
        self.dismiss()

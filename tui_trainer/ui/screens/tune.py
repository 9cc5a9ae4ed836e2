"""The workbench's lr-find view (`f`) and tune view (`g`), each running its job in a thread.

    app.push_screen(LrFindScreen(app.next_preset, app.data, app.runs_dir))
    app.push_screen(TuneScreen(job))              # job = TuneJob(app.next_preset, app.data, app.runs_dir)

LrFindScreen runs lr_find.find_lr on the next run's setup (recorded in the
runs directory as `tui-trainer lr-find` records it), then shows the three
smoothed curves on a log-x axis with the suggestions marked, and the table of
suggestions. `u` makes the suggested rate the next run's learning rate (the
screen posts `messages.UseConfig`, as the runs and search views do) and goes
back; nothing else of the next run changes: the sweeps train a net of their
own, so the next run starts exactly as it would have without lr-find.

TuneScreen runs lab.tune.runner.run_tune over a local process pool (as the search view
does) and logs each event in lab.tune.texts.describe's words; `x` stops it (what is
done stays in its folder, for `tui-trainer tune PRESET --resume`), `u` makes
the tuned preset the next run once it has finished, escape goes back
(stopping a tune still going).

`busy` says why neither can start now (no data yet, a run going).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from pathlib import Path

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Log, Static
from textual_plotext import PlotextPlot

from ... import formatting as fmt
from ...config import Preset, load_preset
from ...datasets import Dataset
from ...engine import RunControl
from ...errors import UserError
from ...lab.lr_find import METHODS, SUGGESTED, LrFindEnded, LrSweep, find_lr, suggestion_is_lower_bound
from ...lab.search.pool import TrialPool
from ...lab.tune.control import TuneControl
from ...lab.tune.events import TuneEnded
from ...lab.tune.runner import run_tune
from ...lab.tune.texts import describe
from ...records.tune_folder import TuneRecord
from ..messages import UseConfig
from ..trainer_host import start_resource_tracker

DRAIN_S = 0.25
CURVE_COLOURS = [(97, 175, 239), (152, 195, 121), (198, 120, 221)]
MARK_COLOUR = (229, 192, 123)


def busy(app) -> str:
    """Why lr-find or tune cannot start now ("" when they can)."""
    if app.data is None:
        return app.data_error or "the data are still loading"
    if app.running:
        return "a run is going and this needs the cores: x stops the run"
    return ""


# --- lr-find ------------------------------------------------------------------------


class LrFindScreen(Screen):
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

    def __init__(self, preset: Preset, data: Dataset, runs_dir: str | Path, **kw) -> None:
        super().__init__(**kw)
        self.preset, self.data, self.runs_dir = preset, data, runs_dir
        self.control = RunControl()
        self.sweeps: list[LrSweep] = []
        self.ended: LrFindEnded | None = None
        self.error = ""
        self.done = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static(id="lr-title")
        yield PlotextPlot(id="lr-plot")
        yield Static(id="lr-table")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._title()
        self.run_worker(self._find, thread=True, exit_on_error=False, name="lr-find")

    def _find(self) -> None:
        try:
            ended = find_lr(self.preset, self.data, self._sink, runs_dir=str(self.runs_dir), control=self.control)
        except Exception as e:  # noqa: BLE001 - shown on the screen
            self.error = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
            ended = None
        finally:
            self.done.set()
        self.app.call_from_thread(self._finished, ended)

    def _sink(self, event) -> None:
        if isinstance(event, LrSweep):
            self.app.call_from_thread(self._sweep_landed, event)

    def _sweep_landed(self, sweep: LrSweep) -> None:
        self.sweeps.append(sweep)
        if self.is_mounted:
            self._title()
            self._plot()

    def _finished(self, ended: LrFindEnded | None) -> None:
        self.ended = ended
        if self.is_mounted:
            self._title()
            self._plot()
            self._table()

    def _title(self) -> None:
        e = self.ended
        if self.error:
            text = f"lr-find failed: {self.error}"
        elif e is None:
            text = f"lr-find on {self.preset.name}: sweep {len(self.sweeps) + 1}/3 (reg 0, lr 1e-7 -> 10)..."
        elif e.suggested_lr is None:
            text = f"lr-find {e.status}: {e.reason}"
        else:
            bound = "at least " if suggestion_is_lower_bound(self.sweeps) else ""
            text = (
                f"suggested learning rate {bound}{fmt.hyperparameter(e.suggested_lr)} ({SUGGESTED}, median of 3 "
                f"seeds): u makes it the next run's (now {fmt.hyperparameter(self.preset.train.learning_rate)})"
            )
            text += "".join(f"\nwarning: {w}" for w in e.warnings)
        self.query_one("#lr-title", Static).update(text)

    def _plot(self) -> None:
        """The smoothed curves over log10 lr (drawn on a linear axis with decade ticks:
        plotext's own log axis fails inside the widget), the suggestions as lines."""
        widget = self.query_one("#lr-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("smoothed loss against the learning rate (log axis)")
        curves = [s for s in self.sweeps if s.smoothed]
        if not curves:
            widget.refresh()
            return
        for i, s in enumerate(curves):
            x = [math.log10(v) for v in s.learning_rates]
            plt.plot(x, list(s.smoothed), label=f"seed {s.seed}", color=CURVE_COLOURS[i % 3], marker="braille")
        low = min(min(s.smoothed) for s in curves)
        top = max(s.smoothed[0] for s in curves) * 1.5
        plt.ylim(low * 0.9, top)
        first = math.floor(math.log10(min(s.learning_rates[0] for s in curves)))
        last = math.ceil(math.log10(max(s.learning_rates[-1] for s in curves)))
        plt.xticks(list(range(first, last + 1)), [f"1e{e}" for e in range(first, last + 1)])
        if self.ended is not None:
            for i, (method, lr) in enumerate(self.ended.suggestions.items()):
                if lr is not None:
                    plt.vline(math.log10(lr), color=MARK_COLOUR)
                    plt.text(method, x=math.log10(lr), y=top - (top - low) * (0.08 + 0.1 * i), color=MARK_COLOUR)
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
        self.notify(f"lr-find: {spread}recorded in {e.path}", timeout=4)

    def action_use(self) -> None:
        e = self.ended
        if e is None or e.suggested_lr is None:
            why = "the sweeps are still going" if e is None else "lr-find found no rate"
            self.notify(f"{why}: u takes the suggestion once there is one", severity="warning", timeout=3)
            return
        lr = float(f"{e.suggested_lr:.3g}")
        preset = self.preset.replace(**{"train.learning_rate": lr})
        self.app.post_message(UseConfig(preset, f"lr-find (learning rate {fmt.hyperparameter(lr)})"))
        self.dismiss()

    def action_close(self) -> None:
        self.control.stop("the lr-find view was closed")
        self.dismiss()

    def on_unmount(self) -> None:
        self.control.stop("the lr-find view was closed")


# --- tune --------------------------------------------------------------------------


class TuneJob:
    """One tune: its pool and folder (made on the app's thread: a runs directory
    that cannot be created fails here, with a UserError), its control and events."""

    def __init__(self, preset: Preset, data: Dataset, runs_dir: str | Path, workers: int | None = None) -> None:
        self.preset, self.data = preset, data
        start_resource_tracker()
        self.pool = TrialPool.open(scheduler=None, workers=workers)
        try:
            self.record = TuneRecord.create(runs_dir, preset)
        except BaseException:
            self.pool.close(graceful=False)
            raise
        self.control = TuneControl()
        self.events: deque = deque()
        self.ended: TuneEnded | None = None
        self.error = ""
        self.done = threading.Event()

    def run(self) -> None:
        try:
            self.ended = run_tune(
                self.preset,
                self.data,
                self.record,
                self.events.append,
                self.control,
                self.pool.executor,
                capacity=self.pool.capacity,
                where=self.pool.where,
            )
        except Exception as e:  # noqa: BLE001 - shown on the screen
            self.error = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
        finally:
            self.pool.close(graceful=self.ended is not None and self.ended.status == "finished")
            self.done.set()

    @property
    def running(self) -> bool:
        return not self.done.is_set()


class TuneScreen(Screen):
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

    def __init__(self, job: TuneJob, drain_interval: float = DRAIN_S, **kw) -> None:
        super().__init__(**kw)
        self.job = job
        self.drain_interval = drain_interval
        self.stage = ""

    def compose(self) -> ComposeResult:
        yield Static(id="tune-title")
        yield Log(id="tune-log", auto_scroll=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._title()
        self.run_worker(self.job.run, thread=True, exit_on_error=False, name="tune")
        self.set_interval(self.drain_interval, self.drain)

    def drain(self) -> None:
        if not self.is_mounted:
            return
        log = self.query_one(Log)
        while self.job.events:
            event = self.job.events.popleft()
            stage = getattr(event, "stage", None)
            if isinstance(stage, str):
                self.stage = stage
            line = describe(event)
            if line is not None:
                log.write_lines(line.splitlines())
        if self.job.error and not getattr(self, "_said_error", False):
            self._said_error = True
            log.write_line(f"tune failed: {self.job.error}")
        self._title()

    def _title(self) -> None:
        e = self.job.ended
        if e is None:
            state = "stopping" if self.job.control.stopped else "running"
            text = f"tune {self.job.preset.name}: {state}, stage {self.stage or 'checks'}; x stops, escape goes back"
        elif e.status == "finished":
            text = f"tuned: best val acc {fmt.accuracy(e.best_val_acc)}; u makes {e.tuned_preset} the next run"
        else:
            text = f"tune {e.status}: {e.reason}"
        self.query_one("#tune-title", Static).update(text)

    def action_stop(self) -> None:
        if not self.job.running:
            self.notify("tune has ended", timeout=2)
            return
        self.job.control.stop("stopped with x")
        self._title()

    def action_use(self) -> None:
        e = self.job.ended
        if e is None or e.tuned_preset is None:
            self.notify("u takes the tuned preset once tune has finished", severity="warning", timeout=3)
            return
        try:
            preset = load_preset(e.tuned_preset)
        except UserError as err:
            self.notify(str(err), severity="error", timeout=8)
            return
        self.app.post_message(UseConfig(preset, f"tune (val acc {fmt.accuracy(e.best_val_acc)})"))
        self.dismiss()

    def action_close(self) -> None:
        if self.job.running:
            self.job.control.stop("the tune view was closed")
            self.notify(f"tune stopped; what is done is in {self.job.record.path}", timeout=6)
        self.dismiss()

    def on_unmount(self) -> None:
        if self.job.running:
            self.job.control.stop("the tune view was closed")

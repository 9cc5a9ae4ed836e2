"""The runs view: every run of the run directory (this session's marked), to compare.

    app.push_screen(RunsScreen("runs", session={"20261124-171500-default-3f2a"}))

A table sortable by val accuracy (or by date) with the hyperparameters, status
and duration of each run, j/k to move and / to filter it (by any part of a
row: a name, a status, an update rule); selecting runs (space, enter or a click) overlays
their loss and accuracy curves; the advisor's diagnoses of the highlighted run
show under the table. `u` makes the highlighted run's configuration the next
run's: the screen posts `messages.UseConfig(preset, run)` to the app and closes.

Everything shown comes from the run directory (runs.list_runs, read_metrics,
config.toml), so past sessions' runs look the same as this one's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from textual import on
from textual.app import ComposeResult, RenderResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from textual_plotext import PlotextPlot

from ... import formatting as fmt
from ...charts import Chart, accuracy_lines, draw_accuracy, glyph, marker
from ...config import Preset
from ...engine.events import Advice
from ...errors import UserError
from ...lab.advisor import diagnose
from ...records.run_folder import RunInfo, list_runs, read_metrics, recorded_preset
from ...usertext import markup, textual_markup
from ..messages import UseConfig
from ..plotdata import mean_per_bucket
from ..widgets import palette
from ..widgets.advice import AdvicePane

# One colour per selected run (the order they were selected), up to MAX_OVERLAY runs.
RUN_COLOURS = ((97, 175, 239), (229, 192, 123), (152, 195, 121), (198, 120, 221), (224, 108, 117), (86, 182, 194))
MAX_OVERLAY = len(RUN_COLOURS)
# The run column's folder name starts with the date and time it started.
COLUMNS = ("", "run", "status", "val acc", "learning rate", "reg", "batch", "hidden", "update", "epochs", "duration")


@dataclass
class RunCurves:
    """What the overlays and the advice line need from a run's metrics.jsonl."""

    epoch_x: np.ndarray  # per step: iteration / iterations_per_epoch
    loss: np.ndarray  # per step
    epochs: list[int] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    advice: list[Advice] = field(default_factory=list)


def load_curves(run_dir: Path) -> RunCurves:
    try:
        events = read_metrics(run_dir)
    except OSError:
        events = []
    per = 1
    x, loss = [], []
    curves = RunCurves(np.empty(0), np.empty(0))
    for e in events:
        kind = e.get("event")
        if kind == "step":
            x.append(e["iteration"] / per)
            loss.append(math.nan if e.get("loss") is None else float(e["loss"]))
        elif kind == "epoch":
            curves.epochs.append(int(e["epoch"]))
            curves.train_acc.append(float(e["train_acc"]))
            curves.val_acc.append(float(e["val_acc"]))
        elif kind == "run_started":
            per = max(int(e.get("iterations_per_epoch") or 1), 1)
    curves.epoch_x, curves.loss = np.asarray(x, np.float64), np.asarray(loss, np.float64)
    try:
        curves.advice = diagnose(events)
    except (KeyError, TypeError, ValueError):  # a metrics file from another version: no advice, no crash
        curves.advice = []
    return curves


class OverlayPlot(PlotextPlot):
    """Loss or accuracy curves of the selected runs: a colour and a marker each (the
    loss), train and val marked as in the workbench (the accuracy), every line named
    where it ends by the run's number in the legend."""

    def __init__(self, what: str, **kw) -> None:
        super().__init__(**kw)
        self.what = what  # "loss" | "accuracy"
        self.runs: list[tuple[str, RunCurves, tuple[int, int, int]]] = []
        self.border_title = (
            "Loss"
            if what == "loss"
            else f"Accuracy (train {palette.TRAIN_MARK}, val {palette.VAL_MARK}: the workbench's markers)"
        )

    def show(self, runs: list[tuple[str, RunCurves, tuple[int, int, int]]]) -> None:
        self.runs = runs
        self.refresh()

    def render(self) -> RenderResult:
        plt = self.plt
        plt.clear_data()
        chart = Chart(self.size.width, self.size.height, xlabel="epoch")
        cols = max(self.size.width - 8, 10)
        several = len(self.runs) > 1
        x_max = 1.0
        for i, (_, c, colour) in enumerate(self.runs):
            name = f"{i + 1} " if several else ""
            if c.epoch_x.size:
                x_max = max(x_max, float(np.nanmax(c.epoch_x)))
            if self.what == "loss":
                xs, ys = mean_per_bucket(c.epoch_x, c.loss, 2 * cols)
                if xs.size:
                    chart.line(xs, ys, marker=marker(i), color=colour, label=name.strip() or "loss")
            elif c.epochs:
                accuracy_lines(chart, c.epochs, c.train_acc, c.val_acc, colors=(colour, colour), name=name)
        if self.what == "loss":
            chart.draw(plt, x=(0.0, x_max))
        else:
            draw_accuracy(chart, plt, x=(0.0, x_max))
        return super().render()


def overlay_legend(names: list[str], colours: list[tuple[int, int, int]]) -> str:
    """The overlays' legend: each run's number (its lines' names), marker and short name."""
    several = len(names) > 1
    parts = []
    for i, (name, colour) in enumerate(zip(names, colours)):
        number = f"{i + 1} " if several else ""
        # a border's subtitle is Textual markup; a folder's name is the user's
        parts.append(f"[{palette.hex(colour)}]{number}{glyph(marker(i))} {textual_markup(fmt.short_run_name(name))}[/]")
    return "  ".join(parts)


class RunsScreen(Screen):
    HELP_NAME = "runs view"
    ABOUT = (
        ("Table", "every run of the run directory (● this session's), best val accuracy first (s: by date)"),
        ("Advice", "the advisor's diagnoses of the highlighted run, replayed from its metrics"),
        (
            "Loss, Accuracy",
            "the selected runs' curves (space selects; none: the highlighted run), each named "
            "where it ends by its number in the legend",
        ),
    )
    DEFAULT_CSS = """
    RunsScreen { layout: vertical; }
    RunsScreen #runs-title { height: 1; padding: 0 1; background: $panel; color: $text; text-style: bold; }
    RunsScreen #runs-filter { display: none; height: 1; border: none; padding: 0 1; }
    RunsScreen #runs-filter.-shown { display: block; }
    RunsScreen #runs-table { height: 1fr; min-height: 5; }
    RunsScreen #runs-advice-box { height: auto; max-height: 8; border-top: solid $foreground 25%; }
    RunsScreen #runs-plots { height: 1fr; min-height: 8; }
    RunsScreen OverlayPlot { width: 1fr; border: round $foreground 25%; border-title-color: $text; }
    """

    BINDINGS = [
        Binding("space", "toggle_selected", "Select", tooltip="overlay this run's curves (again: remove them)"),
        Binding("s", "sort", "Sort", tooltip="sort by val accuracy, best first; again: by date, newest first"),
        Binding("u", "use_config", "Use config", tooltip="make this run's configuration the next run's"),
        Binding("slash", "filter", "Filter", key_display="/", tooltip="show only the runs whose row holds a text"),
        Binding("j", "cursor(1)", "Down", show=False, tooltip="the next run"),
        Binding("k", "cursor(-1)", "Up", show=False, tooltip="the run before"),
        Binding("f5", "reload", "Reload", show=False, tooltip="read the run directory again"),
        Binding("escape", "close", "Back", tooltip="back to the workbench"),
    ]

    def __init__(
        self, runs_dir: str | Path = "runs", session: Iterable[str] = (), live: Mapping[str, str] | None = None, **kw
    ) -> None:
        """session: folder names of this session's runs (marked ●); live: folder name -> status
        for runs still going (their summary.json is not written yet)."""
        super().__init__(**kw)
        self.runs_dir = Path(runs_dir)
        self.session = set(session)
        self.live = dict(live or {})
        self.runs: dict[str, RunInfo] = {}
        self.presets: dict[str, Preset | None] = {}
        self.selected: list[str] = []  # overlay order
        self.sort_by = "val_acc"
        self.filter = ""  # rows shown hold this text (/), case aside
        self._curves: dict[str, tuple[float, RunCurves]] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="runs-title")
        yield Input(placeholder="filter: any part of a row (enter keeps it, escape clears it)", id="runs-filter")
        table: DataTable = DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield table
        with Vertical(id="runs-advice-box"):
            yield AdvicePane(id="runs-advice", empty="The advisor found nothing to say about this run.")
        with Horizontal(id="runs-plots"):
            yield OverlayPlot("loss", id="runs-loss")
            yield OverlayPlot("accuracy", id="runs-accuracy")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name or "mark")
        self.reload()
        table.focus()

    # --- data ------------------------------------------------------------------------

    def reload(self) -> None:
        self.runs = {r.name: r for r in list_runs(self.runs_dir)}
        for name, info in self.runs.items():
            if name not in self.presets:
                try:
                    self.presets[name] = recorded_preset(info.path)
                except UserError:
                    self.presets[name] = None
        self.selected = [s for s in self.selected if s in self.runs]
        self._fill_table()
        self._update_overlays()
        self._update_advice()

    def curves(self, name: str) -> RunCurves:
        """The run's curves, re-read only when its metrics.jsonl changed (a run still going)."""
        path = self.runs[name].path
        try:
            mtime = (path / "metrics.jsonl").stat().st_mtime
        except OSError:
            mtime = -1.0
        cached = self._curves.get(name)
        if cached is None or cached[0] != mtime:
            cached = self._curves[name] = (mtime, load_curves(path))
        return cached[1]

    def status_of(self, info: RunInfo) -> str:
        return self.live.get(info.name, info.status)

    def ordered(self) -> list[RunInfo]:
        runs = [r for r in self.runs.values() if self._matches(r)]
        if self.sort_by == "val_acc":
            # best first; runs without a val accuracy (exploded before epoch 1, still going) last
            return sorted(runs, key=lambda r: (r.best_val_acc is None, -(r.best_val_acc or 0.0), r.name))
        return sorted(runs, key=lambda r: r.name, reverse=True)

    def _matches(self, info: RunInfo) -> bool:
        if not self.filter:
            return True
        return self.filter.lower() in " ".join(self._row(info)[1:]).lower()

    # --- the table --------------------------------------------------------------------

    def _row(self, info: RunInfo) -> list[str]:
        p = self.presets.get(info.name)
        mark = ("●" if info.name in self.session else " ") + ("✓" if info.name in self.selected else " ")
        return [
            mark,
            markup(info.name),  # DataTable reads a str cell as Rich markup
            markup(self.status_of(info)),
            "" if info.best_val_acc is None else f"{info.best_val_acc:.3f}",
            "" if info.learning_rate is None else f"{info.learning_rate:.2e}",
            "" if info.reg is None else f"{info.reg:.2e}",
            "" if info.batch_size is None else str(info.batch_size),
            "?" if p is None else ("x".join(map(str, p.model.hidden)) or "none"),
            "?" if p is None else p.train.update,
            "?" if p is None else str(p.train.epochs),
            fmt.duration(info.elapsed_s),
        ]

    def _fill_table(self) -> None:
        table = self.query_one(DataTable)
        keep = self._highlighted()
        table.clear()
        for info in self.ordered():
            table.add_row(*self._row(info), key=info.name)
        if keep is not None and keep in table.rows:  # the filter may have hidden it
            table.move_cursor(row=table.get_row_index(keep))
        n, here = len(self.runs), len(self.session & set(self.runs))
        order = "val accuracy, best first" if self.sort_by == "val_acc" else "date, newest first"
        where = textual_markup(self.runs_dir)
        title = f"Runs in {where}/: {n}" + (f" ({here} this session, ●)" if here else "") + f" · by {order}"
        if self.filter:
            title += f" · {table.row_count} holding {textual_markup(self.filter)!r} (/)"
        if not n:
            title = f"No runs in {where}/ yet: start one with space in the workbench"
        self.query_one("#runs-title", Static).update(title)

    def _highlighted(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # the cursor is off the table (empty or just cleared)
            return None

    # --- overlays and advice --------------------------------------------------------------

    def _update_overlays(self) -> None:
        shown = self.selected or ([h] if (h := self._highlighted()) else [])
        runs = [(name, self.curves(name), RUN_COLOURS[i % MAX_OVERLAY]) for i, name in enumerate(shown)]
        legend = overlay_legend([name for name, _, _ in runs], [colour for _, _, colour in runs])
        for plot in self.query(OverlayPlot):
            plot.border_subtitle = legend
            plot.show(runs)

    def _update_advice(self) -> None:
        name = self._highlighted()
        pane = self.query_one(AdvicePane)
        pane.show(self.curves(name).advice if name else [])
        self.query_one("#runs-advice-box").border_title = f"Advice for {textual_markup(name)}" if name else ""

    @on(DataTable.RowHighlighted)
    def _highlight(self) -> None:
        self._update_advice()
        if not self.selected:
            self._update_overlays()

    @on(DataTable.RowSelected)
    def _select(self) -> None:
        self.action_toggle_selected()

    # --- actions ----------------------------------------------------------------------------

    def action_toggle_selected(self) -> None:
        name = self._highlighted()
        if name is None:
            return
        if name in self.selected:
            self.selected.remove(name)
        elif len(self.selected) >= MAX_OVERLAY:
            self.notify(f"at most {MAX_OVERLAY} runs overlay at once; unselect one first", severity="warning")
            return
        else:
            self.selected.append(name)
        table = self.query_one(DataTable)
        table.update_cell(name, "mark", self._row(self.runs[name])[0])
        self._update_overlays()

    def action_sort(self) -> None:
        self.sort_by = "date" if self.sort_by == "val_acc" else "val_acc"
        self._fill_table()

    def action_reload(self) -> None:
        self.reload()

    def action_use_config(self) -> None:
        name = self._highlighted()
        if name is None:
            return
        try:
            preset = recorded_preset(self.runs[name].path)
        except UserError as e:
            self.notify(textual_markup(e), severity="error", timeout=8)
            return
        self.app.post_message(UseConfig(preset, name))
        self.dismiss()

    def action_cursor(self, step: int) -> None:
        table = self.query_one(DataTable)
        table.action_cursor_down() if step > 0 else table.action_cursor_up()

    def action_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#runs-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter = event.value.strip()
        self._fill_table()
        self._update_advice()
        if not self.selected:
            self._update_overlays()

    @on(Input.Submitted, "#runs-filter")
    def _filter_kept(self) -> None:
        self.query_one(DataTable).focus()

    def action_close(self) -> None:
        """Escape: clears a filter first (and leaves its box), else goes back."""
        box = self.query_one("#runs-filter", Input)
        if box.has_class("-shown"):
            box.value = ""
            box.remove_class("-shown")
            self.query_one(DataTable).focus()
            return
        self.dismiss()

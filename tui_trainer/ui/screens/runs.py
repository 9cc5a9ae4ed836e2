"""The runs view: every run of the run directory (this session's marked), to compare.

    app.push_screen(RunsScreen("runs", session={"20261124-171500-default-3f2a"}))

A comparison table: each run's status, val accuracy, the settings that differ
between the runs shown (only those keys: lab.compare.settings_diff), its
hyperparameters, duration, tags and note. `s` sorts by val accuracy or by date,
`o` (or a click on a header) by any column, again to reverse; `g` groups the rows
by preset, then by data set; `/` filters (name, preset, data set, tag:
lab.compare.matches); `t` and `n` give the highlighted run tags and a one-line
note, kept in its folder (records.run_folder.write_labels). Narrower than all
its columns, the table drops the least needed first (COLUMNS' order of
priority); the run, its status, its val accuracy and the diff stay.

Selecting runs (space, enter or a click) overlays their loss and accuracy
curves; the advisor's diagnoses of the highlighted run show under the table.
`u` makes the highlighted run's configuration the next run's: the screen posts
`messages.UseConfig(preset, run)` to the app and closes.

Everything shown comes from the run directory (runs.list_runs, read_metrics,
config.toml), so past sessions' runs look the same as this one's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from ... import formatting as fmt
from ...errors import UserError
from ...lab.compare import Group, diff_text, matches, rows_of, settings_diff, spread_text
from ...records.follow import POLL_S
from ...records.run_folder import RunInfo, list_runs, parse_tags, recorded_preset, write_labels
from ...usertext import markup, one_line, textual_markup
from ..messages import UseConfig
from ..run_curves import RunCurves, group_curves, history_curves, load_curves
from ..watching import LiveRuns, folder_listing
from ..widgets.advice import AdvicePane
from ..widgets.overlay_plot import OverlayPlot

# One colour per selected run (the order they were selected), up to MAX_OVERLAY runs.
RUN_COLOURS = ((97, 175, 239), (229, 192, 123), (152, 195, 121), (198, 120, 221), (224, 108, 117), (86, 182, 194))
MAX_OVERLAY = len(RUN_COLOURS)
FOLLOW_S = 2 * POLL_S  # the table follows the folder: a stat a folder, a read a run still going


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    cell: Callable[[RunInfo], str]
    sort: Callable[[RunInfo], Any]  # None sorts last
    drop: int  # the order columns go in when the table is narrow (0: never)
    descending: bool = False  # its natural order: best or newest first


def _setting(key: str, show: Callable[[Any], str] = str) -> Callable[[RunInfo], str]:
    def cell(r: RunInfo) -> str:
        v = r.settings.get(key)
        return "?" if v is None else show(v)

    return cell


def _number(v: float | None) -> str:
    return "" if v is None else f"{v:.2e}"


# The run column's folder name starts with the date and time it started; the diff column is
# filled per table (the keys that differ between the runs shown), so its cell is the screen's.
COLUMNS = (
    Column("status", "status", lambda r: r.status, lambda r: r.status, 0),
    Column(
        "val_acc",
        "val acc",
        lambda r: "" if r.best_val_acc is None else f"{r.best_val_acc:.3f}",
        lambda r: r.best_val_acc,
        0,
        descending=True,
    ),
    Column("diff", "differs", lambda r: "", lambda r: "", 0),
    Column("learning_rate", "learning rate", lambda r: _number(r.learning_rate), lambda r: r.learning_rate, 7),
    Column("reg", "reg", lambda r: _number(r.reg), lambda r: r.reg, 6),
    Column("batch", "batch", lambda r: "" if r.batch_size is None else str(r.batch_size), lambda r: r.batch_size, 5),
    Column(
        "hidden",
        "hidden",
        _setting("model.hidden", lambda v: "x".join(map(str, v)) or "none"),
        lambda r: r.settings.get("model.hidden"),
        4,
    ),
    Column("update", "update", _setting("train.update"), lambda r: r.settings.get("train.update"), 3),
    Column("epochs", "epochs", _setting("train.epochs"), lambda r: r.settings.get("train.epochs"), 2),
    Column("duration", "duration", lambda r: fmt.duration(r.elapsed_s), lambda r: r.elapsed_s, 1),
    Column("tags", "tags", lambda r: " ".join(r.tags), lambda r: r.tags or None, 9),
    Column("note", "note", lambda r: r.note, lambda r: r.note or None, 8),
)
BY_KEY = {c.key: c for c in COLUMNS}
SORTS = ("val_acc", "date", "run", *(c.key for c in COLUMNS if c.key not in ("val_acc", "diff")))
GROUPS = (None, "preset", "dataset")  # what `g` groups rows by, in turn
GROUP_LABEL = {"preset": "preset", "dataset": "data set"}
DIFF_WIDTH = (12, 40)  # the diff column's width: at least, at most while other columns want the room


def group_row(g: Group) -> RunInfo:
    """A seed group as one row: its first run's settings under the group's id, its worst status,
    the mean best val accuracy (its column shows mean ± std) and the time all its runs took."""
    first = g.runs[0]
    times = [r.elapsed_s for r in g.runs if r.elapsed_s is not None]
    return dataclasses.replace(
        first, name=g.id, status=g.status, best_val_acc=g.mean, elapsed_s=sum(times) if times else None
    )


def visible_columns(width: int, widths: Mapping[str, int]) -> list[str]:
    """The columns that fit `width` cells, dropping the least needed first (Column.drop 1,
    then 2, ...; 0 stays); `widths` holds each column's content width (its cell padding added here)."""
    keep = [c for c in COLUMNS if c.key in widths]
    need = sum(widths[c.key] + 2 for c in keep)
    for c in sorted((c for c in keep if c.drop), key=lambda c: c.drop):
        if need <= width:
            break
        keep.remove(c)
        need -= widths[c.key] + 2
    return [c.key for c in keep]


class RunsScreen(Screen):
    HELP_NAME = "runs view"
    EMPTY = "start one with space in the workbench"  # the title over no runs
    ABOUT: tuple[tuple[str, str], ...] = (
        ("Table", "every run of the run directory (● this session's) and the settings that differ between them"),
        ("Advice", "the advisor's diagnoses of the highlighted run, replayed from its metrics"),
        (
            "Loss, Accuracy",
            "the selected runs' curves (space selects; none: the highlighted run), each named where it ends "
            "by its number in the legend",
        ),
    )
    DEFAULT_CSS = """
    RunsScreen { layout: vertical; }
    RunsScreen #runs-title { height: 1; padding: 0 1; background: $panel; color: $text; text-style: bold; }
    RunsScreen #runs-table { height: 1fr; min-height: 5; }
    RunsScreen #runs-input { display: none; height: 1; border: none; padding: 0 1; }
    RunsScreen #runs-input.-shown { display: block; }
    RunsScreen #runs-advice-box { height: auto; max-height: 8; border-top: solid $foreground 25%; }
    RunsScreen #runs-plots { height: 1fr; min-height: 8; }
    RunsScreen OverlayPlot { width: 1fr; border: round $foreground 25%; border-title-color: $text; }
    """

    BINDINGS = [
        Binding("space", "toggle_selected", "Select", tooltip="overlay this run's curves (again: remove them)"),
        Binding("s", "sort", "Sort", tooltip="sort by val accuracy, best first; again: by date, newest first"),
        Binding("o", "order", "Order by", tooltip="sort by the next column (a click on a header: by that one)"),
        Binding("g", "group", "Group", tooltip="group the rows by preset, then by data set, then not"),
        Binding("slash", "filter", "Filter", tooltip="show only runs whose name, preset, data set or tag has a word"),
        Binding("t", "edit('tags')", "Tags", tooltip="tag the highlighted run (words, spaces or commas between)"),
        Binding("n", "edit('note')", "Note", tooltip="a one-line note on the highlighted run"),
        Binding("u", "use_config", "Use config", tooltip="make this run's configuration the next run's"),
        Binding("j", "cursor(1)", "Down", show=False, tooltip="the next run"),
        Binding("k", "cursor(-1)", "Up", show=False, tooltip="the run before"),
        Binding("f5", "reload", "Reload", show=False, tooltip="read the run directory again"),
        Binding("escape", "close", "Back", tooltip="back to the workbench (typing: cancel)"),
    ]

    def __init__(
        self,
        runs_dir: str | Path = "runs",
        session: Iterable[str] = (),
        live: Mapping[str, str] | None = None,
        follow: bool = True,
        following: LiveRuns | None = None,
        **kw,
    ) -> None:
        """session: folder names of this session's runs (marked ●); live: folder name -> status
        for runs still going (their summary.json is not written yet); follow: poll the folder,
        so runs other processes write appear and update (ui/watching.py), with `following`
        when given (the session's, kept across the view's entries), else followers of its own."""
        super().__init__(**kw)
        self.runs_dir = Path(runs_dir)
        self.following = (following or LiveRuns(runs_dir)) if follow else None
        self._listing: dict[str, int] = {}  # each folder's mtime at the last reload
        self._infos: list[RunInfo] = []  # list_runs at the last reload
        self.session = set(session)
        self.live = dict(live or {})
        self.runs: dict[str, RunInfo] = {}  # a seed group's row by its id (the group's first run, its mean)
        self.groups: dict[str, Group] = {}
        self.selected: list[str] = []  # overlay order
        self.sort_by = "val_acc"
        self.reverse = False  # against the column's natural order
        self.group_by: str | None = None
        self.query_text = ""  # the `/` filter
        self.editing: str | None = None  # what the input line edits: "filter", "tags", "note"
        self.diff_keys: list[str] = []
        self.columns: list[str] = []  # the table's own, after the mark and the run
        self._curves: dict[str, tuple[float, RunCurves]] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="runs-title")
        table: DataTable = DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Input(id="runs-input")
        with Vertical(id="runs-advice-box"):
            yield AdvicePane(id="runs-advice", empty="The advisor found nothing to say about this run.")
        with Horizontal(id="runs-plots"):
            yield OverlayPlot("loss", id="runs-loss")
            yield OverlayPlot("accuracy", id="runs-accuracy")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.reload()
        self.query_one(DataTable).focus()
        if self.following is not None:
            self.set_interval(FOLLOW_S, self.follow)

    def follow(self) -> None:
        """Read the folder again when a run appeared, went or ended (a folder's mtime changes when
        summary.json is renamed into it); fold what the runs still going appended (LiveRuns)."""
        if self.following is None:
            return
        if folder_listing(self.runs_dir) != self._listing:
            self.reload()
        elif self.following.poll(self._infos):
            self._rebuild()

    def on_resize(self) -> None:
        if self.runs:
            self._fill_table()

    # --- data ------------------------------------------------------------------------

    def reload(self) -> None:
        self._listing = folder_listing(self.runs_dir)
        self._infos = list_runs(self.runs_dir)
        if self.following is not None:
            self.following.poll(self._infos)
        self._rebuild()

    def _rebuild(self) -> None:
        """The rows from the runs last listed, with what the runs still going say now."""
        self.runs, self.groups = {}, {}
        for row in rows_of([self._live(r) for r in self._infos]):
            if isinstance(row, Group):
                self.groups[row.id] = row
                self.runs[row.id] = group_row(row)
            else:
                self.runs[row.name] = row
        self.selected = [s for s in self.selected if s in self.runs]
        self._fill_table()
        self._update_overlays()
        self._update_advice()

    def _live(self, info: RunInfo) -> RunInfo:
        status = self.live.get(info.name)
        if self.following is not None and (status is None or info.name in self.following.runs):
            return self.following.info(info)
        return info if status is None else dataclasses.replace(info, status=status)

    def curves(self, name: str) -> RunCurves:
        """The run's curves, re-read only when its metrics.jsonl changed (a run still going);
        a seed group's, its mean with a band."""
        if name in self.groups:
            return group_curves([self._run_curves(r.name, r.path) for r in self.groups[name].runs])
        return self._run_curves(name, self.runs[name].path)

    def _run_curves(self, name: str, path: Path) -> RunCurves:
        followed = self.following.runs.get(name) if self.following is not None else None
        if followed is not None and followed.caught_up:  # still going: its fold so far, not a re-read
            return history_curves(followed)
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

    def shown(self) -> list[RunInfo]:
        """The runs that pass the filter, in the table's order."""
        runs = [r for r in self.runs.values() if matches(r, self.query_text)]
        if self.sort_by in ("date", "run"):
            runs.sort(key=lambda r: r.name, reverse=(self.sort_by == "date") != self.reverse)
        else:
            column = BY_KEY[self.sort_by]
            # the column's natural order (best first for val accuracy), runs without a value last;
            # ties by name, so the order is the same on every redraw
            present = sorted((r for r in runs if column.sort(r) is not None), key=lambda r: r.name)
            present.sort(key=column.sort, reverse=column.descending != self.reverse)
            runs = present + sorted((r for r in runs if column.sort(r) is None), key=lambda r: r.name)
        if self.group_by is not None:
            runs.sort(key=lambda r: getattr(r, self.group_by or "") or "")  # stable: sorted within each group
        return runs

    def ordered(self) -> list[RunInfo]:
        return self.shown()

    # --- the table --------------------------------------------------------------------

    def _cells(self, info: RunInfo, short: bool) -> dict[str, str]:
        mark = ("●" if info.name in self.session else " ") + ("✓" if info.name in self.selected else " ")
        group = self.groups.get(info.name)
        run = fmt.short_run_name(info.name) if short else info.name
        name = run if group is None else f"{run} ({fmt.plural(len(group.runs), 'seed')})"
        cells = {"mark": mark, "run": markup(name)}
        for c in COLUMNS:
            seeds = [r.seed for r in group.runs] if group is not None else []
            text = diff_text(info, self.diff_keys, seeds) if c.key == "diff" else c.cell(info)
            if group is not None and c.key == "val_acc":
                text = spread_text(group, n=False)  # the mean ± sample std over its runs
            cells[c.key] = markup(text)  # DataTable reads a str cell as Rich markup
        return cells

    def _row(self, info: RunInfo) -> list[str]:
        cells = self._cells(info, short=False)
        return [cells[k] for k in ("mark", "run", *self.columns)]

    def _fill_table(self) -> None:
        table = self.query_one(DataTable)
        keep = self._highlighted()
        runs = self.shown()
        self.diff_keys = settings_diff(runs) if len(runs) > 1 else []
        width = self.size.width or 80
        full = [self._cells(r, short=False) for r in runs]
        widths = {c.key: max([len(c.label), *(len(f[c.key]) for f in full)]) for c in COLUMNS}
        for key in ("diff", "tags", "note"):  # a column with nothing in it takes no room
            if not any(f[key] for f in full):
                del widths[key]
        run_width = max([3, *(len(f["run"]) for f in full)])
        short = width < run_width + 4 + sum(w + 2 for k, w in widths.items() if BY_KEY[k].drop == 0) + 40
        if short:
            full = [self._cells(r, short=True) for r in runs]
            run_width = max([3, *(len(f["run"]) for f in full)])
        group_width = 0
        if self.group_by:
            group_width = max([len(GROUP_LABEL[self.group_by]), *(len(getattr(r, self.group_by)) for r in runs)]) + 2
        room = width - 2 - (2 + 2) - (run_width + 2) - group_width  # the scrollbar, mark, run, group columns
        diff_need = widths.get("diff", 0)
        if "diff" in widths:
            others = sum(w + 2 for k, w in widths.items() if BY_KEY[k].drop == 0 and k != "diff")
            widths["diff"] = max(DIFF_WIDTH[0], min(widths["diff"], DIFF_WIDTH[1], room - others - 2))
        self.columns = visible_columns(room, widths)
        if "diff" in self.columns:  # the room the other columns leave, up to all the diff says
            labels = {k: len(BY_KEY[k].label) + 2 * (k == self.sort_by) for k in self.columns}  # " ▼"
            taken = sum(max(widths[k], labels[k]) + 2 for k in self.columns if k != "diff")
            widths["diff"] = max(widths["diff"], min(diff_need, room - taken - 2))
        # Each column as wide as measured here: a table filled before its first idle moment (a
        # screen pushed as the app starts) keeps the widths of its headers if it measures itself.
        table.clear(columns=True)
        if self.group_by:
            table.add_column(GROUP_LABEL[self.group_by], key="group", width=group_width - 2)
        table.add_column("", key="mark", width=2)
        table.add_column("run", key="run", width=run_width)
        for key in self.columns:
            label = BY_KEY[key].label + (" ▼" if key == self.sort_by and not self.reverse else "")
            label = label.replace(" ▼", " ▲") if key == self.sort_by and self.reverse else label
            table.add_column(label, key=key, width=widths[key] if key == "diff" else max(widths[key], len(label)))
        previous = None
        for info, cells in zip(runs, full, strict=True):
            row = [cells[k] for k in ("mark", "run", *self.columns)]
            if key_of := self.group_by:
                value = getattr(info, key_of) or "?"
                row.insert(0, markup(value) if value != previous else "")
                previous = value
            table.add_row(*row, key=info.name)
        if keep is not None and keep in {r.name for r in runs}:
            table.move_cursor(row=table.get_row_index(keep))
        self._update_title(len(runs))

    def _update_title(self, shown: int) -> None:
        n, here = len(self.runs), len(self.session & set(self.runs))
        if self.sort_by == "val_acc":
            order = "val accuracy, " + ("worst first" if self.reverse else "best first")
        elif self.sort_by == "date":
            order = "date, " + ("oldest first" if self.reverse else "newest first")
        else:
            order = (BY_KEY[self.sort_by].label if self.sort_by in BY_KEY else "name") + (" ▲" if self.reverse else "")
        where = textual_markup(self.runs_dir)
        title = f"Runs in {where}/: {n}" + (f" ({here} this session, ●)" if here else "") + f" · by {order}"
        if self.query_text:
            title += f" · {shown} match /{textual_markup(self.query_text)}"
        if self.group_by:
            title += f" · grouped by {GROUP_LABEL[self.group_by]}"
        if not n:
            title = f"No runs in {where}/ yet: {self.EMPTY}"
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
        for plot in self.query(OverlayPlot):
            plot.show(runs)

    def _update_advice(self) -> None:
        name = self._highlighted()
        pane = self.query_one(AdvicePane)
        pane.show(self.curves(name).advice if name else [])
        box = self.query_one("#runs-advice-box")
        box.border_title = f"Advice for {textual_markup(name)}" if name else ""
        box.display = name is not None  # no run: no advice to give (nor "nothing to say")

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
        self.reverse = False
        self._fill_table()

    def action_order(self) -> None:
        """Sort by the next column (after the last: val accuracy again)."""
        at = SORTS.index(self.sort_by) if self.sort_by in SORTS else -1
        self.sort_by, self.reverse = SORTS[(at + 1) % len(SORTS)], False
        self._fill_table()

    @on(DataTable.HeaderSelected)
    def _sort_by_header(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key in ("mark", "group", "diff") or key is None:
            return
        if key == self.sort_by:
            self.reverse = not self.reverse
        else:
            self.sort_by, self.reverse = key, False
        self._fill_table()

    def action_group(self) -> None:
        self.group_by = GROUPS[(GROUPS.index(self.group_by) + 1) % len(GROUPS)]
        self._fill_table()

    # --- the input line: the filter, a run's tags or note --------------------------------------

    def action_filter(self) -> None:
        self._open_input("filter", self.query_text, "filter: words of a name, preset, data set or tag")

    def action_edit(self, what: str) -> None:
        name = self._highlighted()
        if name is None:
            return
        info = self.runs[name]
        current = one_line(" ".join(info.tags) if what == "tags" else info.note)  # a line shows it as text
        hint = "tags, spaces or commas between" if what == "tags" else "a one-line note"
        self._open_input(
            what, current, one_line(f"{hint} for {fmt.short_run_name(name)} (enter keeps, escape cancels)")
        )

    def _open_input(self, what: str, value: str, placeholder: str) -> None:
        self.editing = what
        line = self.query_one("#runs-input", Input)
        line.placeholder = placeholder
        line.value = value
        line.add_class("-shown")
        line.focus()

    def _close_input(self) -> None:
        self.editing = None
        line = self.query_one("#runs-input", Input)
        line.remove_class("-shown")
        self.query_one(DataTable).focus()

    @on(Input.Changed, "#runs-input")
    def _typed(self, event: Input.Changed) -> None:
        if self.editing == "filter":  # the table follows the typing
            self.query_text = event.value.strip()
            self._fill_table()

    @on(Input.Submitted, "#runs-input")
    def _entered(self, event: Input.Submitted) -> None:
        what, name = self.editing, self._highlighted()
        self._close_input()
        if what in ("tags", "note") and name is not None:
            members = list(self.groups[name].runs) if name in self.groups else [self.runs[name]]
            try:
                for info in members:  # a seed group's go on each of its runs
                    tags = parse_tags(event.value) if what == "tags" else info.tags
                    note = event.value if what == "note" else info.note
                    write_labels(info.path, tags, note)
            except UserError as e:
                self.notify(textual_markup(e), severity="error", timeout=8)
                return
            self.reload()

    def action_cursor(self, step: int) -> None:
        table = self.query_one(DataTable)
        table.action_cursor_down() if step > 0 else table.action_cursor_up()

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

    def action_close(self) -> None:
        if self.editing is not None:  # escape while typing: cancel that (a filter is cleared)
            if self.editing == "filter":
                self.query_text = ""
                self._fill_table()
            self._close_input()
            return
        self.dismiss()

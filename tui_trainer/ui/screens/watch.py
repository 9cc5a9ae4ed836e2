"""The watcher's home (`tui-trainer watch`): the runs view following the folder, with the
searches, tunes and lr-finds below, each marked running while its process writes it.

    app.push_screen(WatchScreen("runs", opened=lambda: False))

Enter opens the highlighted row: a run in the workbench's panes, fed from its
metrics.jsonl as it grows (app.WorkbenchApp.on_watch_open); a search, a tune or an
lr-find in its view, read from its folder (watched_view). Everything is read-only:
the keys that would write (tags, notes, use config) are left out, and leaving or
quitting never touches a process.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Input

from ... import formatting as fmt
from ...errors import UserError
from ...records.watched import Job, list_jobs
from ...usertext import markup, textual_markup
from ..messages import WatchOpen
from .runs import RunsScreen

WRITES = {"edit", "use_config"}  # the runs view's keys a watcher leaves out: they write to a run's folder
LEAST = 4  # a table's rows (header and border counted) while the other needs more room than is left


def table_heights(room: int, runs: int, jobs: int) -> tuple[int, int]:
    """The heights of the runs table and the jobs table below it, sharing `room` lines: each
    as tall as its rows need (a header, the jobs' border) while both fit, else the room split
    by how many rows each has, neither under LEAST (or its need, when smaller)."""
    need_runs, need_jobs = runs + 1, jobs + 2
    if need_runs + need_jobs <= room:
        return room - need_jobs, need_jobs
    share = round(room * need_jobs / (need_runs + need_jobs))
    jobs_height = max(min(need_jobs, LEAST), min(share, room - min(need_runs, LEAST)))
    return room - jobs_height, jobs_height


class WatchScreen(RunsScreen):
    HELP_NAME = "watch"
    EMPTY = "they show here as they start"
    ABOUT = (
        *RunsScreen.ABOUT,
        ("Searches, tunes, lr-finds", "the other records of the folder, each with its status (running: its lock held)"),
    )
    BINDINGS = [
        Binding("enter", "open", "Open", priority=True, tooltip="follow the highlighted run, search, tune or lr-find"),
        *RunsScreen.BINDINGS,
    ]
    DEFAULT_CSS = """
    WatchScreen #watch-jobs { height: auto; border-top: solid $foreground 25%; }
    """

    def __init__(self, runs_dir: str | Path = "runs", opened: Callable[[], bool] = lambda: True, **kw) -> None:
        """opened: whether the workbench behind shows a run (escape goes back to it)."""
        kw.setdefault("follow", True)
        super().__init__(runs_dir, **kw)
        self.opened = opened
        self.jobs: dict[str, Job] = {}

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            yield widget
            if widget.id == "runs-table":
                jobs: DataTable = DataTable(id="watch-jobs", cursor_type="row", zebra_stripes=True)
                for label in ("", "search, tune or lr-find", "status", "so far"):
                    jobs.add_column(label, key=label or "mark")
                yield jobs

    def on_mount(self) -> None:  # Textual calls RunsScreen's too
        self._fill_jobs()

    def follow(self) -> None:
        super().follow()
        self._fill_jobs()

    def on_resize(self) -> None:  # Textual calls RunsScreen's too
        self._size_tables()

    def _fill_table(self) -> None:
        super()._fill_table()
        self._size_tables()

    def _size_tables(self) -> None:
        """The runs and the jobs share the upper half (table_heights); with no job the runs have it."""
        runs, jobs = self.query_one("#runs-table", DataTable), self.query_one("#watch-jobs", DataTable)
        jobs.display = bool(self.jobs)
        if not self.jobs:
            runs.styles.height = "1fr"
            return
        room = max(2 * LEAST, (self.size.height - 2) // 2)  # the title and the footer aside
        runs.styles.height, jobs.styles.height = table_heights(room, runs.row_count, len(self.jobs))

    def _fill_jobs(self) -> None:
        jobs = {j.name: j for j in reversed(list_jobs(self.runs_dir))}  # newest first: the one just started on top
        table = self.query_one("#watch-jobs", DataTable)
        if jobs == self.jobs:
            return
        keep = self._job_highlighted()
        self.jobs = jobs
        self._size_tables()
        table.clear()
        for job in jobs.values():
            mark = "●" if job.running else " "
            status = job.status + (f" (process {job.pid})" if job.pid else "")
            table.add_row(mark, markup(f"{job.kind} {job.name}"), markup(status), markup(job.detail), key=job.name)
        if keep in jobs:
            table.move_cursor(row=table.get_row_index(keep))

    def _job_highlighted(self) -> str | None:
        table = self.query_one("#watch-jobs", DataTable)
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # the cursor is off the table
            return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action not in WRITES

    async def action_open(self) -> None:
        if self.editing is not None:  # enter in the filter line: as the line takes it
            await self.query_one("#runs-input", Input).action_submit()
            return
        if self.focused is self.query_one("#watch-jobs", DataTable):
            name = self._job_highlighted()
            if name is not None:
                job = self.jobs[name]
                try:
                    self.app.push_screen(watched_view(job.kind, job.path))
                except UserError as e:  # its preset.toml cannot be read
                    self.notify(textual_markup(e), severity="error", timeout=8)
            return
        name = self._highlighted()
        if name is None:
            self.notify("no run to open yet: runs appear here as they start", timeout=3)
            return
        group = self.groups.get(name)
        info = group.runs[-1] if group is not None else self.runs[name]  # a seed group: its latest run
        self.app.post_message(WatchOpen(info.path))
        self.dismiss()
        if group is not None:  # the workbench follows one run: say which, and where the group shows
            self.app.notify(
                f"opened {textual_markup(fmt.short_run_name(info.name))}, the latest of the {len(group.runs)} "
                f"seeds of {textual_markup(group.id)}; h, then space on its row, overlays their mean and band",
                timeout=8,
            )

    def action_close(self) -> None:
        if self.editing is None and not self.opened():
            self.notify("enter opens the highlighted run; q quits (the runs go on)", timeout=3)
            return
        super().action_close()


def watched_view(kind: str, path: Path) -> Screen:
    """The view of a search, tune or lr-find another process writes (read-only)."""
    from .watched_jobs import WatchedLrFindScreen, WatchedSearchScreen, WatchedTuneScreen

    views = {"search": WatchedSearchScreen, "tune": WatchedTuneScreen, "lr-find": WatchedLrFindScreen}
    return views[kind](path)

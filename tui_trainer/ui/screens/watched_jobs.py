"""The views of a search, an lr-find and a tune another process writes (`tui-trainer watch`):
the workbench's own search and lr-find views, fed from the folder (ui/watched_jobs.py)
instead of a job, read-only (no key that stops, uses or refines); a tune's stages and
report as its folder holds them.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Markdown, Static

from ... import formatting as fmt
from ...lab.lr_find import SUGGESTED
from ...lab.search.space import TrialResult
from ...lab.search.texts import trial_line
from ...records.follow import POLL_S, held_locks, lock_holder
from ...records.reading import read_text
from ...records.tune_folder import REPORT
from ...records.watched import list_jobs
from ...usertext import clean, textual_markup
from ..watched_jobs import WatchedLrFind, WatchedSearch
from .search import SearchScreen
from .tune import LrFindScreen

POLL_JOB_S = 2 * POLL_S  # a search's store is re-read this often (its trials take seconds each)
READ_ONLY = {"stop", "use", "use_best", "use_highlighted", "refine"}  # what a watcher's views leave out
BACK = Binding("escape", "close", "Back", tooltip="back to the list (the search, tune or lr-find goes on)")


class WatchedSearchScreen(SearchScreen):
    """The search view over a search another process writes: its trials and scatters as they land."""

    HELP_NAME = "search view (watched)"
    BINDINGS = [
        *(
            b
            for b in SearchScreen.BINDINGS
            if isinstance(b, Binding) and b.action in ("toggle_plot", "cursor(1)", "cursor(-1)")
        ),
        BACK,
    ]

    def __init__(self, path: Path, **kw) -> None:
        super().__init__(WatchedSearch(path), **kw)  # type: ignore[arg-type]  # a job's reading side

    def on_mount(self) -> None:  # Textual calls SearchScreen's too, after this one: poll once it has
        self.set_interval(POLL_JOB_S, self.poll)
        self.call_after_refresh(self.poll)

    def poll(self) -> None:
        if self.job.poll():  # type: ignore[attr-defined]
            self._catch_up()
            self.redraw()

    def _use(self, r: TrialResult) -> None:
        self.notify("read-only: tui-trainer search --refine FOLDER continues from this search", timeout=3)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in READ_ONLY:
            return False  # another process's search: nothing here stops it or takes from it
        return super().check_action(action, parameters)

    def _show_best(self) -> None:
        b = self.best
        where = "best" if self.ended is not None else "best so far"
        text = f"{where}: {trial_line(b)}  (stage {b.stage})" if b is not None else "best so far: none yet"
        self.query_one("#search-best", Static).update(Text(text, style="bold" if b is not None else "dim"))


class WatchedLrFindScreen(LrFindScreen):
    """The lr-find view over an lr-find another process runs: its curve once its record is written."""

    HELP_NAME = "lr-find view (watched)"
    BINDINGS = [BACK]

    def __init__(self, path: Path, **kw) -> None:
        super().__init__(WatchedLrFind(path), **kw)  # type: ignore[arg-type]

    def on_mount(self) -> None:  # Textual calls LrFindScreen's too
        self.set_interval(POLL_JOB_S, self.poll)
        self.call_after_refresh(self.poll)

    def poll(self) -> None:
        self.job.poll()  # type: ignore[attr-defined]
        self._show()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action not in READ_ONLY  # u would make the suggestion a next run: none here

    def _title(self) -> None:
        e, job = self.ended, self.job
        if job.error:
            text = textual_markup(job.error)
        elif e is None:
            text = (
                f"lr-find on {textual_markup(job.preset.name)}: no result yet "
                "(an lr-find writes its curve and result when its sweeps end)"
            )
        elif e.suggested_lr is None:
            text = f"lr-find {e.status}: {textual_markup(e.reason)}"
        else:
            text = f"suggested learning rate {fmt.hyperparameter(e.suggested_lr)} ({SUGGESTED}, median of the seeds)"
            text += "".join(f"\nwarning: {textual_markup(w)}" for w in e.warnings)
        self.query_one("#lr-title", Static).update(text)


class WatchedTuneScreen(Screen):
    """A tune another process runs: its status, the stages its state.json holds, its report once
    written, rendered (its tables as tables) in a pane the scroll keys move."""

    HELP_NAME = "tune (watched)"
    ABOUT = (
        ("Title", "the tune's status (running while its process holds its folder) and the stages done"),
        ("Report", "report.md as the tune writes it when its final stage ends: each stage's plan and result"),
    )
    BINDINGS = [BACK]
    DEFAULT_CSS = """
    WatchedTuneScreen #tune-watch-title { height: auto; padding: 0 1; text-style: bold; }
    WatchedTuneScreen #tune-watch-scroll { height: 1fr; }
    WatchedTuneScreen #tune-watch-body { height: auto; padding: 0 1; }
    """

    def __init__(self, path: Path, **kw) -> None:
        super().__init__(**kw)
        self.path = path
        self._report: str | None = None  # the text last rendered: re-rendered only when it changes

    def compose(self) -> ComposeResult:
        yield Static(id="tune-watch-title")
        with VerticalScroll(id="tune-watch-scroll"):  # focused: ↑ ↓ PgUp PgDn Home End scroll it
            yield Markdown(id="tune-watch-body", open_links=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#tune-watch-scroll").focus()
        self.poll()
        self.set_interval(POLL_JOB_S, self.poll)

    def poll(self) -> None:
        job = next((j for j in list_jobs(self.path.parent) if j.path == self.path), None)
        pid = lock_holder(self.path, held_locks())
        status = job.status if job is not None else "gone"
        head = f"tune {self.path.name}: {status}" + (f" (process {pid})" if pid else "")
        if job is not None and job.detail:
            head += f" · {job.detail}"
        self.query_one("#tune-watch-title", Static).update(textual_markup(head))
        try:
            body = clean(read_text(self.path / REPORT))  # another process's text: no control character
        except (OSError, ValueError):
            body = "No report yet: tune writes report.md when its final stage ends."
        if body != self._report:
            self._report = body
            self.query_one("#tune-watch-body", Markdown).update(body)

    def action_close(self) -> None:
        self.dismiss()

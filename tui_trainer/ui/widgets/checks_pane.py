"""The sanity-checks pane: the four checks of `tui-trainer check`, each with
its value, what a healthy setup gives, and a verdict, filled in as each lands;
under the table, what each failed check advises (overfit-small: whether a
higher learning rate passes, or a bug is likely). It draws the round the app
keeps in the session (jobs.ChecksState), which the checks job fills in."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from ...lab.checks import CHECKS
from ...usertext import markup, textual_markup
from ..jobs import ChecksState


class ChecksPane(Vertical):
    COMPONENT_CLASSES = {"pass", "fail", "pending"}

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.border_title = "Sanity checks"
        self.state = ChecksState()  # the app's (session.checks): read, never written here
        self.stale = False

    def compose(self) -> ComposeResult:
        yield Static(id="checks-table")
        yield ProgressBar(total=len(CHECKS), show_eta=False, id="checks-progress")

    def on_mount(self) -> None:
        self._draw()

    def show(self, state: ChecksState, stale: bool = False) -> None:
        """Draw `state`; `stale`: the next run's setup has changed since (the results are
        about the one before, and say so)."""
        self.state = state
        self.stale = stale
        self._draw()

    def _draw(self) -> None:
        state = self.state
        self.query_one("#checks-progress", ProgressBar).update(progress=len(state.results))
        name = textual_markup(state.preset_name)
        if state.running:
            sub = f"{name}: {len(state.results)}/{len(CHECKS)} done"
        elif state.error:
            sub = f"{name}: {textual_markup(state.error)}"
        elif state.results:
            n = sum(r.passed for r in state.results)
            sub = f"{name}: {n}/{len(state.results)} passed"
        else:
            sub = "c to run"
        if self.stale and not state.running:
            sub = f"{sub} · stale: the next run changed; c checks it"
        self.border_subtitle = sub
        self.query_one("#checks-table", Static).update(Group(self._table(), *self._advice()))

    def _advice(self) -> list[Text]:
        fail = self.get_component_rich_style("fail", partial=True)
        return [Text.assemble((f"{r.name}: ", fail), r.advice) for r in self.state.results if not r.passed and r.advice]

    def _table(self) -> Table:
        style = {k: self.get_component_rich_style(k, partial=True) for k in ("pass", "fail", "pending")}
        # One line per check, the verdict next to its name, so every check is in view in a
        # pane of a few rows: a long value ends in … (`tui-trainer check` prints it whole;
        # a number key enlarges the pane).
        t = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, expand=True, header_style="bold")
        t.add_column("check", no_wrap=True)
        t.add_column("verdict", no_wrap=True)
        t.add_column("value", ratio=3, no_wrap=True, overflow="ellipsis")
        t.add_column("expected", ratio=2, no_wrap=True, overflow="ellipsis")
        done = {r.name: r for r in self.state.results}
        for i, name in enumerate(CHECKS):
            r = done.get(name)
            if r is not None:
                verdict = Text("pass ✓", style=style["pass"]) if r.passed else Text("FAIL ✗", style=style["fail"])
                t.add_row(name, verdict, markup(r.value), markup(r.expected))
            elif self.state.running and i == len(self.state.results):
                t.add_row(name, Text("…", style=style["pending"]), Text("running…", style=style["pending"]), "")
            else:
                t.add_row(name, Text("-", style=style["pending"]), Text("-", style=style["pending"]), "")
        return t

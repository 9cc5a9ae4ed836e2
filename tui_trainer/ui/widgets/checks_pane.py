"""The sanity-checks pane: the four checks of `tui-trainer check`, each with
its value, what a healthy setup gives, and a verdict, filled in as each lands;
under the table, what each failed check advises (overfit-small: whether a
higher learning rate passes, or a bug is likely)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from ...lab.checks import CHECKS, CheckResult
from ...usertext import markup, textual_markup


class ChecksPane(Vertical):
    COMPONENT_CLASSES = {"pass", "fail", "pending"}

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.border_title = "Sanity checks"
        self.results: list[CheckResult] = []
        self.running = False
        self.preset_name = ""
        self.error = ""

    def compose(self) -> ComposeResult:
        yield Static(id="checks-table")
        yield ProgressBar(total=len(CHECKS), show_eta=False, id="checks-progress")

    def on_mount(self) -> None:
        self._draw()

    def begin(self, preset_name: str) -> None:
        self.results, self.running, self.preset_name, self.error = [], True, preset_name, ""
        self._draw()

    def add(self, result: CheckResult) -> None:
        self.results.append(result)
        self._draw()

    def end(self, error: str = "") -> None:
        self.running, self.error = False, error
        self._draw()

    @property
    def passed(self) -> bool | None:
        if self.running or len(self.results) < len(CHECKS):
            return None
        return all(r.passed for r in self.results)

    def _draw(self) -> None:
        self.query_one("#checks-progress", ProgressBar).update(progress=len(self.results))
        if self.running:
            sub = f"{textual_markup(self.preset_name)}: {len(self.results)}/{len(CHECKS)} done"
        elif self.error:
            sub = f"{textual_markup(self.preset_name)}: {textual_markup(self.error)}"
        elif self.results:
            n = sum(r.passed for r in self.results)
            sub = f"{textual_markup(self.preset_name)}: {n}/{len(self.results)} passed"
        else:
            sub = "c to run"
        self.border_subtitle = sub
        self.query_one("#checks-table", Static).update(Group(self._table(), *self._advice()))

    def _advice(self) -> list[Text]:
        fail = self.get_component_rich_style("fail", partial=True)
        return [Text.assemble((f"{r.name}: ", fail), r.advice) for r in self.results if not r.passed and r.advice]

    def _table(self) -> Table:
        style = {k: self.get_component_rich_style(k, partial=True) for k in ("pass", "fail", "pending")}
        t = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, expand=True, header_style="bold")
        t.add_column("check", no_wrap=True)
        t.add_column("value", ratio=3, overflow="fold")
        t.add_column("expected", ratio=3, overflow="fold")
        t.add_column("verdict", no_wrap=True)
        done = {r.name: r for r in self.results}
        for i, name in enumerate(CHECKS):
            r = done.get(name)
            if r is not None:
                verdict = Text("pass ✓", style=style["pass"]) if r.passed else Text("FAIL ✗", style=style["fail"])
                t.add_row(name, markup(r.value), markup(r.expected), verdict)
            elif self.running and i == len(self.results):
                t.add_row(name, Text("running…", style=style["pending"]), "", Text("…", style=style["pending"]))
            else:
                t.add_row(name, Text("-", style=style["pending"]), "", Text("-", style=style["pending"]))
        return t

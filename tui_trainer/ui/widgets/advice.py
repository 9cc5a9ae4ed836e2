"""The advisor's pane: each diagnosis as it appears, newest first.

    pane = AdvicePane()
    pane.add(advice_event)        # or pane.show(run.advice) with all of a run's advice

Each entry gives the message and the lecture's remedy, coloured by severity
(advisor.SEVERITY: error, warning, info) and marked so it reads the same
under NO_COLOR: ✗ error, ! warning, i info.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import Static

from ...engine.events import Advice
from ...lab.advisor import SEVERITY

MARKS = {"error": "✗", "warning": "!", "info": "i"}
EMPTY = "No advice yet: the advisor speaks up when the curves show something worth knowing."


class AdvicePane(Static):
    COMPONENT_CLASSES = {"advice-error", "advice-warning", "advice-info", "advice-remedy", "advice-empty"}
    DEFAULT_CSS = """
    AdvicePane { height: auto; padding: 0 1; }
    AdvicePane > .advice-error   { color: $error; text-style: bold; }
    AdvicePane > .advice-warning { color: $warning; text-style: bold; }
    AdvicePane > .advice-info    { color: $primary; text-style: bold; }
    AdvicePane > .advice-remedy  { color: $text; }
    AdvicePane > .advice-empty   { color: $text-muted; }
    """

    def __init__(self, advice: Iterable[Advice] = (), empty: str = EMPTY, **kw) -> None:
        super().__init__(**kw)
        self.advice: list[Advice] = list(advice)  # oldest first, as they came
        self.empty = empty  # what shows when there is none

    def add(self, advice: Advice) -> None:
        self.advice.append(advice)
        self._render_advice()

    def show(self, advice: Iterable[Advice]) -> None:
        """Replace what the pane shows (a new run, or another run picked)."""
        advice = list(advice)
        if advice != self.advice:
            self.advice = advice
            self._render_advice()

    def clear(self) -> None:
        self.show([])

    def on_mount(self) -> None:
        self._render_advice()

    @property
    def plain(self) -> str:
        return "\n".join(f"{a.message} {a.remedy}" for a in reversed(self.advice))

    def _render_advice(self) -> None:
        if not self.is_attached:
            return
        if not self.advice:
            self.update(Text(self.empty, style=self.get_component_rich_style("advice-empty", partial=True)))
            return
        out = Text()
        remedy_style = self.get_component_rich_style("advice-remedy", partial=True)
        for i, a in enumerate(reversed(self.advice)):
            severity = SEVERITY.get(a.code, "info")
            style = self.get_component_rich_style(f"advice-{severity}", partial=True)
            if i:
                out.append("\n\n")
            out.append(f"{MARKS[severity]} ", style=style)
            out.append(a.message, style=style)
            out.append(f"\n  → {a.remedy}", style=remedy_style)
            out.append(f"  (iteration {a.iteration}, {a.code})", style="dim")
        self.update(out)

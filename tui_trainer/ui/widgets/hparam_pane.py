"""The search view's hyperparameter pane (`i`): every searched value against val accuracy at
once and which one matters, as the search's report and tune's report print them.

    pane.show(points)    # importance.points_of(results): redrawn by its screen, throttled

The picture is lab/search/importance.py's, drawn for the pane's size: the importance table
(Spearman's rank correlation with best val acc, the method named, "within chance" marked),
then the scatter matrix's val-accuracy row, one panel per searched key (`o` a trial, `*` the
best). Plain characters, so it reads without colour; wider and taller panes get wider and
taller panels, and what does not fit scrolls (the arrows, PgUp and PgDn once it has focus)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...lab.search.importance import Point, importance_lines, picture_lines

PANEL_ROWS = (8, 24)  # the panels' height: at least what the reports draw, at most what reads well
PANEL_COLUMNS = 60  # a panel's width at most: a wide screen spreads the trials twice as far as a report
WAITING = "no trial has a val accuracy yet: the picture and the importance come as trials end"


class HyperparamPane(VerticalScroll):
    can_focus = True

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.points: list[Point] = []
        self.lines: list[str] = []  # as last drawn
        self.border_title = "hyperparameters: val acc against each searched value, and which matters"

    def compose(self) -> ComposeResult:
        yield Static(id="hparams-text")

    def show(self, points: Sequence[Point]) -> None:
        self.points = list(points)
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        if not self.is_mounted:
            return
        region = self.scrollable_content_region
        width = max(region.width - 1, 40)
        rows = region.height - len(importance_lines(self.points)) - 6  # the table, a gap, the axes and labels
        height = min(max(rows, PANEL_ROWS[0]), PANEL_ROWS[1])
        lines = picture_lines(self.points, width, height, PANEL_COLUMNS) or [WAITING]
        if lines != self.lines:
            self.lines = lines
            self.query_one("#hparams-text", Static).update(Text("\n".join(lines)))

    @property
    def plain(self) -> str:
        return "\n".join(self.lines)

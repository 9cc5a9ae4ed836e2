"""The hyperparameters pane: this run's values beside the next run's, with the
ones that will change marked (changes made by keys or the form apply to the
next run, as the lecture's workflow goes: try, look, adjust, run again)."""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from ...config import Preset
from ...formatting import hyperparameter

ROWS: tuple[tuple[str, str, Callable[[Preset], str]], ...] = (
    ("learning rate", "l L", lambda p: hyperparameter(p.train.learning_rate)),
    ("reg", "r R", lambda p: hyperparameter(p.train.reg)),
    ("batch size", "b B", lambda p: str(p.train.batch_size)),
    ("epochs", "e", lambda p: str(p.train.epochs)),
    ("update", "e", lambda p: p.train.update),
    ("hidden", "e", lambda p: "[" + ", ".join(str(h) for h in p.model.hidden) + "]"),
)


class Hyperparams(Widget):
    COMPONENT_CLASSES = {"changed", "dim"}

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.border_title = "Hyperparameters"
        self.current: Preset | None = None
        self.next: Preset | None = None
        self.label = "this run"

    def show(self, current: Preset | None, next_: Preset | None, label: str = "this run") -> None:
        """`current`: the running (or last) run's preset; before any run, the opened preset, labelled so."""
        self.current, self.next, self.label = current, next_, label
        self.refresh()

    def render(self) -> Table | Text:
        return self._table()

    def changed(self) -> list[str]:
        """Names of the rows whose next value differs from this run's."""
        if self.current is None or self.next is None:
            return []
        return [name for name, _, get in ROWS if get(self.current) != get(self.next)]

    def _table(self) -> Table | Text:
        if self.next is None:
            return Text("no preset", style="dim")
        changed_style = self.get_component_rich_style("changed", partial=True)
        dim = self.get_component_rich_style("dim", partial=True)
        t = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, header_style="bold")
        t.add_column("")
        t.add_column(self.label, no_wrap=True)
        t.add_column("next run", no_wrap=True)
        keys = self.content_size.width >= 40 or not self.content_size.width
        if keys:
            t.add_column("keys", style=dim, no_wrap=True)
        changed = set(self.changed())
        for name, hint, get in ROWS:
            now = get(self.current) if self.current else "-"
            nxt = get(self.next)
            cells = [name, now, Text(f"{nxt} ●", style=changed_style) if name in changed else nxt]
            t.add_row(*cells, *([hint] if keys else []))
        return t

"""The notes beside the run: what the run and the checks said, in words.

This pane sits in the layout's advice slot (#advice-slot): it shows the run's
status and reason, `advice` events from the stream, the advice of failed
sanity checks, and what will change in the next run."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

KINDS = ("info", "good", "warn", "bad")


class RunNotes(Widget):
    COMPONENT_CLASSES = {f"note-{k}" for k in KINDS}
    MARKS = {"info": "·", "good": "✓", "warn": "!", "bad": "✗"}

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.lines: list[tuple[str, str]] = []
        self._text = Text()
        self._shown_rows = 0

    def show(self, lines: list[tuple[str, str]]) -> None:
        """lines: (kind, text) with kind one of info, good, warn, bad."""
        if lines == self.lines:
            return
        self.lines = list(lines)
        out = Text()
        for i, (kind, text) in enumerate(lines):
            if i:
                out.append("\n")
            style = self.get_component_rich_style(f"note-{kind}", partial=True)
            out.append(f"{self.MARKS[kind]} ", style=style)
            out.append(text, style=style if kind != "info" else "")
        self._text = out
        # Its height follows its lines; a new layout (of the whole screen) only when that changes.
        rows = self._rows()
        self.refresh(layout=rows != self._shown_rows)
        self._shown_rows = rows

    def _rows(self) -> int:
        width = max(self.content_size.width, 1)
        return sum(-(-(len(text) + 2) // width) for _, text in self.lines)

    def on_resize(self) -> None:
        self._shown_rows = self._rows()

    def render(self) -> Text:
        return self._text

    @property
    def plain(self) -> str:
        return "\n".join(text for _, text in self.lines)

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
        self.refresh(layout=True)  # its height follows its lines

    def render(self) -> Text:
        return self._text

    @property
    def plain(self) -> str:
        return "\n".join(text for _, text in self.lines)

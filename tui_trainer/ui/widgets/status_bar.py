"""The status bar: preset, data set, the device the run trains on, run number, status, epoch and iteration with a
progress bar, elapsed time and ETA. Two lines; it drops detail before it wraps."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widget import Widget

from ...formatting import clock

FLASH_S = 2.5

STATUS_STYLE = {
    "idle": "status-idle",
    "loading": "status-idle",
    "running": "status-running",
    "paused": "status-paused",
    "finished": "status-finished",
    "exploded": "status-bad",
    "stopped": "status-paused",
    "failed": "status-bad",
}


class StatusBar(Widget):
    COMPONENT_CLASSES = {
        "status-idle",
        "status-running",
        "status-paused",
        "status-finished",
        "status-bad",
        "bar-done",
        "bar-todo",
        "dim",
        "flash",
        "flash-warn",
    }

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.preset = ""
        self.dataset = ""
        self.device = ""  # "cpu" or "gpu" once a run has started
        self.run_number: int | None = None
        self.status = "idle"
        self.epoch = 0.0
        self.epochs = 0
        self.iteration = 0
        self.iterations: int | None = None
        self.elapsed: float | None = None
        self.eta: float | None = None
        self.note = ""
        self._flash = ("", "", 0.0)  # (text, style class, shown until: time.monotonic())
        self._shown: tuple = ()

    def flash(self, text: str, warn: bool = False) -> None:
        """A short message in place of the note for a few seconds (a key's effect):
        a repaint of this line, where a toast would lay the whole screen out twice."""
        self._flash = (text, "flash-warn" if warn else "flash", time.monotonic() + FLASH_S)
        self.show()

    def show(self, **values) -> None:
        """Set fields; redraws only when what it shows changed (it is updated several times a second)."""
        for k, v in values.items():
            setattr(self, k, v)
        if self._flash[0] and time.monotonic() > self._flash[2]:
            self._flash = ("", "", 0.0)
        key = (
            self._flash[0],
            self.preset,
            self.dataset,
            self.device,
            self.run_number,
            self.status,
            int(self.epoch),
            self.epochs,
            self.iteration,
            self.iterations,
            clock(self.elapsed),
            clock(self.eta),
            self.note,
        )
        if key != self._shown:
            self._shown = key
            self.refresh()

    def _s(self, name: str):
        return self.get_component_rich_style(name, partial=True)

    def render(self) -> Text:
        width = self.content_size.width or 80
        dim = self._s("dim")
        status = Text(f" {self.status} ", style=self._s(STATUS_STYLE.get(self.status, "status-idle")))
        line1 = Text.assemble(
            (self.preset, "bold"),
            (f" · {self.dataset}" if self.dataset else "", dim),
            (f" · {self.device}" if self.device else "", dim),
            ("  run ", dim),
            (str(self.run_number) if self.run_number else "-", "bold"),
            "  ",
            status,
        )
        if self._flash[0]:
            line1.append("  " + self._flash[0], style=self._s(self._flash[1]))
        elif self.note:
            line1.append("  " + self.note, style=dim)
        line1.truncate(width, overflow="ellipsis")

        total = self.iterations or 0
        fields = Text.assemble(
            ("epoch ", dim),
            f"{min(int(self.epoch), self.epochs)}/{self.epochs}",
            ("  iter ", dim),
            f"{self.iteration}/{total or '-'}",
            ("  ", dim),
            clock(self.elapsed),
            (" elapsed", dim),
            ("  ETA ", dim),
            clock(self.eta),
        )
        bar_width = max(width - fields.cell_len - 7, 0)
        line2 = Text()
        if bar_width >= 8:
            frac = min(self.iteration / total, 1.0) if total else 0.0
            done = int(round(frac * bar_width))
            line2.append("━" * done, style=self._s("bar-done"))
            line2.append("─" * (bar_width - done), style=self._s("bar-todo"))
            line2.append(f" {frac * 100:3.0f}%  ")
        line2.append_text(fields)
        line2.truncate(width, overflow="ellipsis")
        return Text("\n").join([line1, line2])

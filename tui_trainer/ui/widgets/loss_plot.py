"""The loss pane: per-iteration loss (faint), a smoothed line over it, and the
session's earlier runs as ghost curves; x in epochs, y linear or log."""

from __future__ import annotations

from textual.app import RenderResult
from textual_plotext import PlotextPlot

from ..history import RunHistory
from ..plotdata import mean_per_bucket, minmax_per_column
from . import palette

MAX_GHOSTS = 3
# The legend lives in the border: plotext's own legend would cover the first iterations.
LEGEND = (f"Loss  [{palette.hex(palette.RAW)}]• per iteration[/]  [{palette.hex(palette.SMOOTH)}]⠉⠒ smoothed[/]"
          f"  [{palette.hex(palette.GHOSTS[0])}]⠉⠒ earlier runs[/]")


class LossPlot(PlotextPlot):
    """Reads the runs it is given when it renders; `refresh()` redraws it."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.run: RunHistory | None = None
        self.ghosts: list[RunHistory] = []
        self.log_scale = False
        self._key: tuple | None = None
        self._text: RenderResult = ""
        self.border_title = LEGEND

    def show(self, run: RunHistory | None, ghosts: list[RunHistory]) -> None:
        self.run = run
        self.ghosts = ghosts[-MAX_GHOSTS:]
        self._subtitle()
        self.refresh()

    def toggle_log(self) -> bool:
        self.log_scale = not self.log_scale
        self._subtitle()
        self.refresh()
        return self.log_scale

    def _subtitle(self) -> None:
        parts = ["log y" if self.log_scale else "linear y"]
        run = self.run
        if run is not None and run.steps_smooth.size:
            parts.insert(0, f"smoothed {run.steps_smooth[-1]:.4g}")
        text = " · ".join(parts)
        if self.border_subtitle != text:  # setting it refreshes the border
            self.border_subtitle = text

    def render(self) -> RenderResult:
        # plotext is pure Python: build only when the data, the size or the scale changed.
        run = self.run
        key = (self.size, self.app.theme, self.log_scale, tuple(g.number for g in self.ghosts),
               None if run is None else (run.number, run.steps_x.size))
        if key != self._key:
            self._replot(max(self.size.width - 8, 10))
            self._key, self._text = key, super().render()
        return self._text

    def _replot(self, cols: int) -> None:
        plt = self.plt
        plt.clear_data()
        plt.yscale("log" if self.log_scale else "linear")
        plt.xlabel("epoch")
        run = self.run
        for age, ghost in enumerate(reversed(self.ghosts)):
            xs, ys = mean_per_bucket(ghost.steps_x, ghost.steps_smooth, 2 * cols)
            if xs.size:
                plt.plot(xs, ys, marker="braille", color=palette.GHOSTS[min(age, len(palette.GHOSTS) - 1)])
        if run is not None and run.steps_x.size:
            xs, ys = minmax_per_column(run.steps_x, run.steps_loss, cols)
            plt.plot(xs, ys, marker="dot", color=palette.RAW)
            xs, ys = mean_per_bucket(run.steps_x, run.steps_smooth, 2 * cols)
            plt.plot(xs, ys, marker="braille", color=palette.SMOOTH)
        if run is not None:
            plt.xlim(0, max(run.total_epochs, 1))
        elif self.ghosts:
            plt.xlim(0, max(g.total_epochs for g in self.ghosts))

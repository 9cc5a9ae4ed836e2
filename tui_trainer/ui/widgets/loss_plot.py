"""The loss pane: per-iteration loss (faint), a smoothed line over it, and the
session's earlier runs as ghost curves; x in epochs, y linear or log."""

from __future__ import annotations

from ..history import RunHistory
from ..plotdata import mean_per_bucket, minmax_per_column
from . import palette
from .cached_plot import CachedPlot

MAX_GHOSTS = 3
# The legend lives in the border: plotext's own legend would cover the first iterations.
LEGEND = (
    f"Loss  [{palette.hex(palette.RAW)}]• per iteration[/]  [{palette.hex(palette.SMOOTH)}]⠉⠒ smoothed[/]"
    f"  [{palette.hex(palette.GHOSTS[0])}]⠉⠒ earlier runs[/]"
)


class LossPlot(CachedPlot):
    """Reads the runs it is given when it renders; `refresh()` redraws it."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.run: RunHistory | None = None
        self.ghosts: list[RunHistory] = []
        self.log_scale = False
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

    def data_key(self) -> tuple:
        run = self.run
        return (
            self.log_scale,
            tuple(g.number for g in self.ghosts),
            None if run is None else (run.number, run.steps_x.size),
        )

    def plot(self) -> None:
        cols = max(self.size.width - 8, 10)
        plt = self.plt
        plt.yscale("log" if self.log_scale else "linear")
        plt.xlabel("epoch")
        run = self.run
        for age, ghost in enumerate(reversed(self.ghosts)):
            xs, ys = mean_per_bucket(ghost.steps_x, ghost.steps_smooth, 2 * cols)
            if xs.size:
                plt.plot(
                    xs.tolist(), ys.tolist(), marker="braille", color=palette.GHOSTS[min(age, len(palette.GHOSTS) - 1)]
                )
        if run is not None and run.steps_x.size:
            xs, ys = minmax_per_column(run.steps_x, run.steps_loss, cols)
            plt.plot(xs.tolist(), ys.tolist(), marker="dot", color=palette.RAW)
            xs, ys = mean_per_bucket(run.steps_x, run.steps_smooth, 2 * cols)
            plt.plot(xs.tolist(), ys.tolist(), marker="braille", color=palette.SMOOTH)
        if run is not None:
            plt.xlim(0, max(run.total_epochs, 1))
        elif self.ghosts:
            plt.xlim(0, max(g.total_epochs for g in self.ghosts))

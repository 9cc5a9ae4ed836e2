"""The loss pane: per-iteration loss (faint), a smoothed line over it, and the
session's earlier runs as ghost curves; x in epochs, y linear or log.

Ghosts are context, not the subject: the axes are the current run's, and a
ghost is drawn only where it is inside them (cut, not clipped: a clipped
curve would read as a plateau), so an exploded lr=10 run does not squash a
healthy curve under an axis reaching 24. They line up against the current
run's epochs or, as a toggle, against the fraction of their own run (runs of
different lengths line up start to end). Each series has its own marker and
its name where it ends (charts.Chart), so they read apart under NO_COLOR too."""

from __future__ import annotations

import numpy as np

from ...lab.charts import MARKERS, Chart, padded
from ..history import RunHistory
from ..plotdata import mean_per_bucket, minmax_per_column
from . import palette
from .cached_plot import CachedPlot

MAX_GHOSTS = 3
SMOOTH_MARKER, RAW_MARKER = MARKERS[0], MARKERS[1]  # plotext draws "dot" as •
GHOST_MARKERS = MARKERS[2 : 2 + MAX_GHOSTS]  # the newest earlier run first: + x *
GHOST_X = ("epochs", "fraction")  # what a ghost's x is: its epoch, or the fraction of its own run done


def legend(ghosts: bool) -> str:
    """The legend lives in the border: plotext's own legend would cover the first iterations."""
    text = f"Loss  [{palette.hex(palette.RAW)}]• per iteration[/]  [{palette.hex(palette.SMOOTH)}]⠉⠒ smoothed[/]"
    if ghosts:
        text += f"  [{palette.hex(palette.GHOSTS[0])}]{' '.join(GHOST_MARKERS)} earlier runs[/]"
    return text


def y_range(run: RunHistory | None, log: bool) -> tuple[float, float] | None:
    """The current run's loss range (finite values; positive ones on a log axis), or None
    before it has one. Ghosts are drawn only inside it."""
    if run is None or not run.steps_loss.size:
        return None
    y = run.steps_loss[np.isfinite(run.steps_loss)]
    if log:
        y = y[y > 0]
    if not y.size:
        return None
    lo, hi = float(y.min()), float(y.max())
    if hi <= lo:  # a flat curve: a little room around it
        pad = abs(lo) * 0.05 or 0.05
        lo, hi = (lo / 1.1, hi * 1.1) if log else (lo - pad, hi + pad)
    return lo, hi


def ghost_points(ghost: RunHistory, x_max: float, mode: str, points: int) -> tuple[np.ndarray, np.ndarray]:
    """A ghost's smoothed curve, at most `points` points, as the current plot shows it:
    x in epochs (cut at x_max) or its own run's fraction done scaled to 0..x_max (a run
    that ended early, exploded or stopped, spans the axis too)."""
    xs, ys = mean_per_bucket(ghost.steps_x, ghost.steps_smooth, points)
    if mode == "fraction" and ghost.steps_x.size:
        length = float(ghost.steps_x[-1]) if ghost.ended is not None else float(ghost.total_epochs)
        xs = xs / (length or 1.0) * x_max
    keep = xs <= x_max + 1e-9
    return xs[keep], ys[keep]


class LossPlot(CachedPlot):
    """Reads the runs it is given when it renders; `refresh()` redraws it."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.run: RunHistory | None = None
        self.ghosts: list[RunHistory] = []
        self.log_scale = False
        self.ghost_x = "epochs"
        self.ghosts_hidden = False
        self.border_title = legend(False)

    def show(self, run: RunHistory | None, ghosts: list[RunHistory]) -> None:
        self.run = run
        self.ghosts = ghosts[-MAX_GHOSTS:]
        self._titles()
        self.refresh()

    def toggle_log(self) -> bool:
        self.log_scale = not self.log_scale
        self._titles()
        self.refresh()
        return self.log_scale

    def toggle_ghost_x(self) -> str:
        self.ghost_x = GHOST_X[(GHOST_X.index(self.ghost_x) + 1) % len(GHOST_X)]
        self._titles()
        self.refresh()
        return self.ghost_x

    def toggle_ghosts(self) -> bool:
        """Hide or show the earlier runs; True when they show."""
        self.ghosts_hidden = not self.ghosts_hidden
        self._titles()
        self.refresh()
        return not self.ghosts_hidden

    @property
    def shown_ghosts(self) -> list[RunHistory]:
        return [] if self.ghosts_hidden else self.ghosts

    def _titles(self) -> None:
        parts = ["log y" if self.log_scale else "linear y"]
        run = self.run
        if run is not None and run.steps_smooth.size:
            parts.insert(0, f"smoothed {run.steps_smooth[-1]:.4g}")
        if self.ghosts:
            parts.append("earlier runs hidden" if self.ghosts_hidden else f"earlier runs by {self.ghost_x}")
        text = " · ".join(parts)
        if self.border_subtitle != text:  # setting it refreshes the border
            self.border_subtitle = text
        title = legend(bool(self.shown_ghosts))
        if self.border_title != title:
            self.border_title = title

    def data_key(self) -> tuple:
        run = self.run
        return (
            self.log_scale,
            self.ghost_x,
            tuple(g.number for g in self.shown_ghosts),
            None if run is None else (run.number, run.steps_x.size),
        )

    def plot(self) -> None:
        chart = Chart(self.size.width, self.size.height, xlabel="epoch")
        cols = max(self.size.width - 8, 10)
        run = self.run
        ghosts = self.shown_ghosts
        if run is not None:
            x_max = float(max(run.total_epochs, 1))
        elif ghosts:
            x_max = float(max(g.total_epochs for g in ghosts))
        else:
            x_max = 1.0
        for age, ghost in reversed(list(enumerate(reversed(ghosts)))):  # the newest drawn last, on top
            xs, ys = ghost_points(ghost, x_max, self.ghost_x if run is not None else "epochs", 2 * cols)
            if xs.size:
                colour = palette.GHOSTS[min(age, len(palette.GHOSTS) - 1)]
                chart.line(xs, ys, marker=GHOST_MARKERS[age], color=colour, label=f"run {ghost.number}", clip=True)
        if run is not None and run.steps_x.size:
            xs, ys = minmax_per_column(run.steps_x, run.steps_loss, cols)
            chart.line(xs, ys, marker=RAW_MARKER, color=palette.RAW, label="iter")
            xs, ys = mean_per_bucket(run.steps_x, run.steps_smooth, 2 * cols)
            chart.line(xs, ys, marker=SMOOTH_MARKER, color=palette.SMOOTH, label="smooth")
        y_lim = y_range(run, self.log_scale)
        chart.draw(
            self.plt,
            x=(0.0, x_max),
            y=None if y_lim is None else padded(*y_lim, log=self.log_scale),
            ylog=self.log_scale,
        )

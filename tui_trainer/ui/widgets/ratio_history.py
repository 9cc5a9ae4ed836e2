"""The update/weight ratio over time on a log axis, per parameter, the lecture's band shaded.

    view = RatioHistory()
    view.add(ratios_event)          # every stats_every iterations; O(parameters)
    view.show(list_of_ratios)       # or a whole (past) run at once

The lecture's rule of thumb is a ratio about 1e-3; the band of engine/stats.py
(RATIO_BAND, 1e-3..1e-2) is the shaded strip. Each parameter has its own
marker and its name where its line ends (charts.Chart), so W1 b1 W2 b2 read
apart without colour. Adding costs a few appends; the plot redraws at most
every `redraw_interval` seconds, with about two points per column.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from ...engine.events import Ratios
from ...engine.stats import RATIO_BAND
from ...lab.charts import Chart, glyph, marker
from ..plotdata import mean_per_bucket
from . import palette

BAND_FILL = (46, 82, 52)
# Weights bright, each bias a dimmer shade of its layer's colour.
LAYER_COLOURS = ((97, 175, 239), (229, 192, 123), (198, 120, 221), (86, 182, 194), (224, 108, 117))
Y_FLOOR, Y_CEIL = -8.0, 2.0


def marker_of(names: list[str], name: str) -> str:
    """A parameter's marker: its place among the run's parameters (W1 b1 W2 b2 ...)."""
    return marker(names.index(name))


def colour_of(name: str) -> tuple[int, int, int]:
    layer = int(name[1:]) - 1 if name[1:].isdigit() else 0
    r, g, b = LAYER_COLOURS[layer % len(LAYER_COLOURS)]
    return (r, g, b) if name.startswith("W") else (r * 3 // 5, g * 3 // 5, b * 3 // 5)


class RatioSeries:
    """log10(ratio) per parameter against iteration, folded from ratios events (no Textual)."""

    def __init__(self) -> None:
        self.iterations: list[int] = []
        self.log_ratio: dict[str, list[float]] = {}

    def add(self, r: Ratios) -> None:
        k = len(self.iterations)
        self.iterations.append(r.iteration)
        for p in r.params:
            ys = self.log_ratio.setdefault(p.name, [math.nan] * k)
            ys.append(
                math.log10(p.ratio) if p.ratio is not None and p.ratio > 0 and math.isfinite(p.ratio) else math.nan
            )
        for ys in self.log_ratio.values():  # a parameter missing from this event
            if len(ys) < k + 1:
                ys.append(math.nan)

    def __len__(self) -> int:
        return len(self.iterations)

    def latest(self) -> dict[str, float]:
        return {name: ys[-1] for name, ys in self.log_ratio.items() if ys}


class RatioHistory(PlotextPlot):
    def __init__(self, redraw_interval: float = 0.5, **kw) -> None:
        super().__init__(**kw)
        self.series = RatioSeries()
        self.redraw_interval = redraw_interval
        self._dirty = False
        self.border_title = "Update/weight ratio"
        self.border_subtitle = f"band {RATIO_BAND[0]:g}..{RATIO_BAND[1]:g} shaded"

    def on_mount(self) -> None:
        self.set_interval(self.redraw_interval, self.redraw_if_dirty)

    def add(self, ratios: Ratios) -> None:
        self.series.add(ratios)
        self._dirty = True

    def show(self, ratios: Iterable[Ratios]) -> None:
        """Replace the curves with these events' (a new run, or a past one)."""
        self.series = RatioSeries()
        for r in ratios:
            self.series.add(r)
        self._legend()
        self.refresh()

    def clear(self) -> None:
        self.show([])

    def redraw_if_dirty(self) -> None:
        if self._dirty:
            self._dirty = False
            self._legend()
            self.refresh()

    def _legend(self) -> None:
        names = list(self.series.log_ratio)
        title = "Update/weight ratio"
        if names:
            title += "  " + "  ".join(
                f"[{palette.hex(colour_of(n))}]{glyph(marker_of(names, n))} {n}[/]" for n in names
            )
        self.border_title = title
        latest = self.series.latest()
        w = [f"{n} {10**v:.1e}" for n, v in latest.items() if n.startswith("W") and math.isfinite(v)]
        self.border_subtitle = (
            " · ".join(w) + " · " if w else ""
        ) + f"band {RATIO_BAND[0]:g}..{RATIO_BAND[1]:g} shaded"

    def render(self) -> RenderResult:
        plt = self.plt
        plt.clear_data()
        chart = Chart(self.size.width, self.size.height, xlabel="iteration")
        x = np.asarray(self.series.iterations, dtype=np.float64)
        ys = {n: np.asarray(v, dtype=np.float64) for n, v in self.series.log_ratio.items()}
        finite = [v[np.isfinite(v)] for v in ys.values()]
        finite = [v for v in finite if v.size]
        lo, hi = math.log10(RATIO_BAND[0]), math.log10(RATIO_BAND[1])
        y_min = max(min([lo - 1] + [float(v.min()) for v in finite]), Y_FLOOR)
        y_max = min(max([hi + 1] + [float(v.max()) for v in finite]), Y_CEIL)
        chart.band(*RATIO_BAND, color=BAND_FILL)  # drawn first, so the curves sit on it
        cols = max(self.size.width - 8, 10)
        names = list(ys)
        for name, v in ys.items():
            xs, yv = mean_per_bucket(x, np.clip(v, Y_FLOOR, Y_CEIL), 2 * cols)
            if xs.size:
                chart.line(xs, 10.0**yv, marker=marker_of(names, name), color=colour_of(name), label=name)
        x_max = float(x[-1]) if x.size else 1.0
        chart.draw(plt, x=(0.0, x_max), y=(10.0**y_min, 10.0**y_max), ylog=True, x_integer=True)
        return super().render()

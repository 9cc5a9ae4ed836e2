"""The runs view's overlays: the selected runs' loss, or their train and val accuracy.

Each run has its colour and, for the loss, its own marker (charts.marker); with
more than one run, every line is named where it ends by the run's number in the
legend (`1 train`, `2 val`), so the runs read apart without colour. A seed
group's val accuracy band (the min..max of its runs) is drawn as two plain
lines of its colour."""

from __future__ import annotations

from typing import Any

from textual.app import RenderResult
from textual_plotext import PlotextPlot

from ... import formatting as fmt
from ...lab.charts import Chart, accuracy_lines, draw_accuracy, glyph, marker
from ...usertext import textual_markup
from ..plotdata import mean_per_bucket
from . import palette

BAND_MARKER = ":"  # a seed group's band edges


def overlay_legend(names: list[str], colours: list[tuple[int, int, int]]) -> str:
    """The overlays' legend: each run's number (its lines' names), marker and short name."""
    several = len(names) > 1
    parts = []
    for i, (name, colour) in enumerate(zip(names, colours)):
        number = f"{i + 1} " if several else ""
        # a border's subtitle is Textual markup; a folder's name is the user's
        parts.append(f"[{palette.hex(colour)}]{number}{glyph(marker(i))} {textual_markup(fmt.short_run_name(name))}[/]")
    return "  ".join(parts)


class OverlayPlot(PlotextPlot):
    """Loss or accuracy curves of the selected runs (runs: (name, curves, colour), the
    curves as the runs view reads them from metrics.jsonl)."""

    def __init__(self, what: str, **kw) -> None:
        super().__init__(**kw)
        self.what = what  # "loss" | "accuracy"
        self.runs: list[tuple[str, Any, tuple[int, int, int]]] = []
        self.border_title = (
            "Loss"
            if what == "loss"
            else f"Accuracy (train {palette.TRAIN_MARK}, val {palette.VAL_MARK}: the workbench's markers)"
        )

    def show(self, runs: list[tuple[str, Any, tuple[int, int, int]]]) -> None:
        self.runs = runs
        self.border_subtitle = overlay_legend([name for name, _, _ in runs], [colour for _, _, colour in runs])
        self.refresh()

    def render(self) -> RenderResult:
        plt = self.plt
        plt.clear_data()
        chart = Chart(self.size.width, self.size.height, xlabel="epoch")
        cols = max(self.size.width - 8, 10)
        several = len(self.runs) > 1
        x_max = 1.0
        for i, (_, c, colour) in enumerate(self.runs):
            name = f"{i + 1} " if several else ""
            if c.epoch_x.size:
                x_max = max(x_max, float(c.epoch_x.max()))
            if self.what == "loss":
                xs, ys = mean_per_bucket(c.epoch_x, c.loss, 2 * cols)
                if xs.size:
                    chart.line(xs, ys, marker=marker(i), color=colour, label=name.strip() or "loss")
            elif c.epochs:
                accuracy_lines(chart, c.epochs, c.train_acc, c.val_acc, colors=(colour, colour), name=name)
                if c.val_band is not None:  # a seed group: the spread of its runs' val accuracy
                    for edge in c.val_band:
                        chart.line(c.epochs, edge, marker=BAND_MARKER, color=colour)
        if self.what == "loss":
            chart.draw(plt, x=(0.0, x_max))
        else:
            draw_accuracy(chart, plt, x=(0.0, x_max))
        return super().render()

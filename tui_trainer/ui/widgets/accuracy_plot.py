"""The accuracy pane: train and val accuracy per epoch, two marked and named lines;
the gap between them is the lecture's overfitting gauge, so the y axis zooms to
the values shown (charts.zoom) and the x label says so."""

from __future__ import annotations

from ...lab.charts import Chart, accuracy_lines, draw_accuracy
from ..history import RunHistory
from . import palette
from .cached_plot import CachedPlot


class AccuracyPlot(CachedPlot):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.run: RunHistory | None = None
        self.border_title = (
            f"Accuracy  [{palette.hex(palette.TRAIN)}]{palette.TRAIN_MARK} train[/]"
            f"  [{palette.hex(palette.VAL)}]{palette.VAL_MARK} val[/]"
        )

    def show(self, run: RunHistory | None) -> None:
        self.run = run
        text = "after each epoch" if run is not None and run.ended is None else ""
        if run is not None and run.epochs:
            last = run.epochs[-1]
            text = f"train {last.train_acc:.3f} val {last.val_acc:.3f} gap {last.train_acc - last.val_acc:.3f}"
        if self.border_subtitle != text:
            self.border_subtitle = text
        self.refresh()

    def data_key(self) -> tuple | None:
        run = self.run
        return None if run is None else (run.number, len(run.epochs))

    def plot(self) -> None:
        chart = Chart(self.size.width, self.size.height, xlabel="epoch")
        run = self.run
        if run is not None and run.epochs:
            accuracy_lines(
                chart,
                [e.epoch for e in run.epochs],
                [e.train_acc for e in run.epochs],
                [e.val_acc for e in run.epochs],
                colors=(palette.TRAIN, palette.VAL),
            )
        draw_accuracy(chart, self.plt, x=(0.0, float(max(run.total_epochs, 1) if run is not None else 1)))

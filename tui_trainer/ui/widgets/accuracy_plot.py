"""The accuracy pane: train and val accuracy per epoch, two labelled lines;
the gap between them is the lecture's overfitting gauge."""

from __future__ import annotations

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
        plt = self.plt
        plt.xlabel("epoch")
        plt.ylim(0, 1)
        run = self.run
        if run is not None:
            plt.xlim(0, max(run.total_epochs, 1))
            if run.epochs:
                xs = [e.epoch for e in run.epochs]
                plt.plot(xs, [e.train_acc for e in run.epochs], marker=palette.TRAIN_MARKER, color=palette.TRAIN)
                plt.plot(xs, [e.val_acc for e in run.epochs], marker=palette.VAL_MARKER, color=palette.VAL)

"""The update/weight ratio over time: one log10 curve per parameter, the band shaded."""

import math
import re

from rich.console import Console
from textual.app import App, ComposeResult

from tui_trainer.config import load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer
from tui_trainer.engine.events import ParamStats, Ratios
from tui_trainer.ui.widgets.ratio_history import RatioHistory, RatioSeries


class PlotApp(App):
    CSS = "RatioHistory { height: 1fr; border: round white; }"

    def compose(self) -> ComposeResult:
        yield RatioHistory(redraw_interval=0.05)


def ratios(i, **named):
    return Ratios(i, tuple(ParamStats(n, (2, 2), 0, 1, -1, 1, 0, r or 0, 0, 0, r) for n, r in named.items()))


def test_series_keeps_log10_per_parameter_and_gaps_for_undefined_ratios():
    s = RatioSeries()
    s.add(ratios(10, W1=1e-3, b1=None))
    s.add(ratios(20, W1=1e-2, b1=1e-1))
    assert s.iterations == [10, 20]
    assert s.log_ratio["W1"] == [-3.0, -2.0]
    assert math.isnan(s.log_ratio["b1"][0]) and s.log_ratio["b1"][1] == -1.0


def plot_text(view, width=90):
    console = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))
    console.print(view.render())
    return console.export_text()


async def test_a_real_run_draws_its_ratios_with_the_band_shaded():
    preset = load_preset("default", ["train.epochs=2", "train.learning_rate=1e-6"])
    events = []
    Trainer(preset, load_dataset(preset.data), events.append).run()
    app = PlotApp()
    async with app.run_test(size=(96, 24)) as pilot:
        view = app.query_one(RatioHistory)
        for e in events:
            if isinstance(e, Ratios):
                view.add(e)
        await pilot.pause(0.2)  # the redraw timer picks it up
        assert len(view.series) == 4 and set(view.series.log_ratio) == {"W1", "b1", "W2", "b2"}
        assert "W1" in view.border_title and "b2" in view.border_title
        assert "e-05 · W2" in view.border_subtitle  # W1 below 1e-4 with lr 1e-6
        text = plot_text(view)
        ticks = re.findall(r"(\S+)┤", text)
        assert {"1e-4", "1e-3", "1e-2"} <= set(ticks) and all(re.fullmatch(r"[125]e-\d", t) for t in ticks)
        for name in ("W1", "b1", "W2", "b2"):  # each named where its line ends
            assert re.search(rf"{name}\s*│", text), name
        assert "█" in text  # the shaded band
        assert "iteration" in text
        view.clear()
        await pilot.pause()
        assert len(view.series) == 0

"""Under NO_COLOR every plot's series still read apart: a marker each and a name
where each line ends, in the workbench's loss (raw, smoothed, earlier runs),
accuracy and ratio history, and in the runs view's overlays."""

from __future__ import annotations

import re

from test_ui import loaded, make_app, run_to_end

from tui_trainer.lab.charts import glyph
from tui_trainer.ui.screens.runs import OverlayPlot, RunsScreen
from tui_trainer.ui.widgets.accuracy_plot import AccuracyPlot
from tui_trainer.ui.widgets.loss_plot import GHOST_MARKERS, LossPlot
from tui_trainer.ui.widgets.ratio_history import RatioHistory


def named(text: str, *names: str) -> bool:
    """Whether each name stands at the end of a row of the plot, apart from the curves
    (a blank before it, nothing but blanks after it to the frame)."""
    return all(re.search(rf"(?m) {re.escape(name)} *│ *$", text) for name in names)


async def test_without_colour_each_series_has_a_marker_and_a_name(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(tmp_path, epochs=3, engine="thread")
    async with app.run_test(size=(160, 48)) as pilot:
        assert app.no_color
        await loaded(pilot)
        await pilot.press("space")
        await run_to_end(pilot)
        await pilot.press("l", "space")  # a second run: the first becomes a ghost
        await run_to_end(pilot, 2)
        await pilot.pause(0.5)

        loss = str(app.query_one(LossPlot).render())
        assert named(loss, "iter", "smooth", "run 1"), loss
        assert "•" in loss and GHOST_MARKERS[0] in loss and any(0x2800 < ord(c) <= 0x28FF for c in loss)

        accuracy = str(app.query_one(AccuracyPlot).render())
        assert named(accuracy, "train", "val"), accuracy
        assert "zoomed" in accuracy  # the axis is not 0..1, and the plot says so

        await pilot.press("v", "v")
        await pilot.pause(0.7)  # the ratio history redraws on its own clock
        history = app.query_one(RatioHistory)
        ratios = str(history.render())
        assert named(ratios, "W1", "b1", "W2", "b2"), ratios
        legend = str(history.border_title)
        marks = re.findall(r"\](\S+) (W1|b1|W2|b2)", legend)
        assert len({m for m, _ in marks}) == 4, legend  # a different marker each

        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("space", "down", "space")  # overlay both runs
        await pilot.pause(0.2)
        overlay = app.screen.query_one("#runs-loss", OverlayPlot)
        drawn = str(overlay.render())
        assert named(drawn, "1", "2"), drawn
        assert f"1 {glyph('braille')}" in str(overlay.border_subtitle) and "2 •" in str(overlay.border_subtitle)
        acc = str(app.screen.query_one("#runs-accuracy", OverlayPlot).render())
        assert named(acc, "1 train", "1 val", "2 train", "2 val"), acc

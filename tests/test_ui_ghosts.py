"""Earlier runs ("ghosts") in the loss plot: inside the current run's y range
(cut where they leave it: the axes are the current run's), by epoch or by the
fraction of their own run, hidden (z) or cleared (Z), and told apart without
colour."""

from __future__ import annotations

import re

import numpy as np
from test_ui import loaded, make_app, run_to_end

from tui_trainer.config import Preset
from tui_trainer.engine.events import Step
from tui_trainer.ui.history import RunHistory
from tui_trainer.ui.widgets import loss_plot
from tui_trainer.ui.widgets.loss_plot import GHOST_MARKERS, LossPlot, ghost_points, y_range

GHOST_MARKER = GHOST_MARKERS[0]  # the newest earlier run's


def history(number: int, epochs: int, losses: list[float]) -> RunHistory:
    run = RunHistory(number=number, preset=Preset().replace(**{"train.epochs": epochs}))
    n = len(losses)
    for i, loss in enumerate(losses, start=1):
        run.add(Step(iteration=i, epoch=epochs * i / n, loss=loss, learning_rate=1e-3))
    return run


def test_a_ghost_is_cut_at_the_current_runs_epochs_and_lined_up_by_fraction():
    current = history(2, 4, list(np.linspace(2.3, 0.5, 40)))
    exploded = history(1, 10, list(np.linspace(2.3, 24.5, 100)))  # lr=10: up to 24.5
    assert y_range(current, log=False) == (0.5, 2.3)
    xs, ys = ghost_points(exploded, 4.0, "epochs", 200)
    assert xs.max() <= 4.0  # cut at 4 epochs
    xs, ys = ghost_points(exploded, 4.0, "fraction", 200)
    assert xs.max() == 4.0 and xs.size == 100  # its whole run, start to end, over the current one's axis
    # a flat curve gets a little room, on either axis scale
    flat = history(3, 2, [2.3] * 10)
    lo, hi = y_range(flat, log=False)
    assert lo < 2.3 < hi
    lo, hi = y_range(flat, log=True)
    assert 0 < lo < 2.3 < hi


def test_the_legend_marks_each_series_differently():
    legend = loss_plot.legend(True)
    marks = re.findall(r"\](\S+(?: \S)*) (per iteration|smoothed|earlier runs)", legend)
    assert [m for m, _ in marks] == ["•", "⠉⠒", " ".join(GHOST_MARKERS)] and len({m for m, _ in marks}) == 3
    assert "earlier runs" not in loss_plot.legend(False)


def y_tick_labels(plot) -> list[float]:
    return [float(m) for m in re.findall(r"([-\d.e+]+)┤", str(plot.render()))]


async def test_after_an_exploding_run_the_axes_are_the_current_runs_and_g_G_f_act(tmp_path):
    app = make_app(tmp_path, learning_rate=30.0, epochs=2)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        await pilot.press("space")
        await run_to_end(pilot)
        first = app.session.current
        assert float(np.nanmax(first.steps_loss)) > 5  # it blew up
        for _ in range(7):
            await pilot.press("l")  # back down to about 1e-2
        await pilot.press("space")
        await run_to_end(pilot, 2)
        await pilot.pause(0.5)
        plot = app.query_one(LossPlot)
        assert plot.ghosts == [first] and "earlier runs" in str(plot.border_title)
        top = float(np.nanmax(app.session.current.steps_loss))
        assert max(y_tick_labels(plot)) <= top * 1.01  # the ghost did not stretch the axis
        await pilot.press("a")
        await pilot.pause(0.1)
        assert plot.ghost_x == "fraction" and "earlier runs by fraction" in str(plot.border_subtitle)
        # it exploded at once: by fraction its start is drawn where it is inside the axis, and
        # the rest is cut, not clipped into a plateau along the top of the frame
        drawn = str(plot.render())
        assert 1 <= drawn.count(GHOST_MARKER) < 5 and "run 1" in drawn  # its marker, its name where it ends
        assert max(y_tick_labels(plot)) <= top * 1.01
        await pilot.press("z")
        await pilot.pause(0.1)
        assert plot.shown_ghosts == [] and "earlier runs" not in str(plot.border_title)
        assert GHOST_MARKER not in str(plot.render())
        await pilot.press("z")
        await pilot.pause(0.1)
        assert plot.shown_ghosts == [first]
        await pilot.press("Z")
        await pilot.pause(0.1)
        assert plot.ghosts == [] and GHOST_MARKER not in str(plot.render())

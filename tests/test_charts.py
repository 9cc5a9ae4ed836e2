"""The one rule for every plot's axes and series (tui_trainer/charts.py): round
ticks far enough apart to read, log axes that span their data, accuracy
zoomed to the values shown, and series told apart without colour."""

from __future__ import annotations

import math
import re

import plotext
import pytest

from tui_trainer.lab.charts import MARKERS, Chart, linear_axis, log_axis, marker, tick_label, zoom, zoom_note


def round_step(values: list[float]) -> bool:
    """Whether evenly spaced ticks step by 1, 2, 2.5 or 5 x 10^k."""
    steps = {round(b - a, 9) for a, b in zip(values, values[1:])}
    if len(steps) != 1:
        return False
    (step,) = steps
    mantissa = step / 10 ** math.floor(math.log10(step))
    return any(abs(mantissa - m) < 1e-6 for m in (1, 2, 2.5, 5))


@pytest.mark.parametrize(
    ("lo", "hi", "cells", "gap"),
    [
        (0.13, 2.3, 8, 2),  # a loss on a short pane
        (0.906, 0.998, 8, 2),  # accuracies close together
        (0.1, 20.0, 70, None),  # the runs view's epochs
        (-6.0, -3.5, 60, None),  # the search scatter's log10 learning rate
        (1, 595, 60, None),  # the headless loss plot's iterations
        (0.06, 1.0, 5, 2),  # the search scatter at 80x24
        (3.2e-5, 4.1e-4, 10, 2),
    ],
)
def test_linear_ticks_are_round_inside_the_axis_and_far_enough_apart(lo, hi, cells, gap):
    axis = linear_axis(lo, hi, cells, gap=gap)
    ticks = list(axis.ticks)
    assert len(ticks) >= 2 and round_step(ticks)
    assert axis.lo <= min(ticks) and max(ticks) <= axis.hi and axis.lo <= lo and hi <= axis.hi
    assert len(set(axis.labels)) == len(ticks)  # every label reads differently
    per_cell = (axis.hi - axis.lo) / (cells - 1)
    need = gap if gap is not None else max(max(map(len, axis.labels)) + 2, 6)
    assert (ticks[1] - ticks[0]) / per_cell >= need - 1e-9


def test_tick_labels_have_the_decimals_their_step_needs():
    assert linear_axis(0, 10, 40, gap=None).labels == ("0", "2", "4", "6", "8", "10")
    assert linear_axis(0, 8, 30, gap=None).labels == ("0", "2", "4", "6", "8")
    assert linear_axis(-6.0, -3.5, 60, gap=None).labels[:2] == ("-6.0", "-5.5")
    assert linear_axis(0.8896, 1.0, 8).labels == ("0.90", "0.95", "1.00")
    assert linear_axis(1, 595, 60, gap=None, integer=True).labels == ("100", "200", "300", "400", "500")


def test_a_tick_never_reads_minus_zero():
    # a loss plot at 80x24: two ticks, at the data's limits, the lower just under 0
    assert linear_axis(-0.03, 2.4, 1).labels == ("0.0", "2.4")
    assert linear_axis(-0.2, 2.3, 2).labels == ("-0.2", "2.3")  # the limits, with the digit they need
    assert tick_label(-0.004, 1) == "0" and tick_label(-0.004, 0.1) == "0.0" and tick_label(-0.4, 1) == "0"
    assert tick_label(-0.6, 1) == "-1"


def test_a_log_axis_is_in_log10_space_and_spans_its_data():
    axis = log_axis(0.13, 2.3, 10)
    assert axis.log and axis.lo == pytest.approx(math.log10(0.13)) and axis.hi == pytest.approx(math.log10(2.3))
    assert [float(t) for t in axis.labels] == [0.2, 0.5, 1, 2]
    assert axis.place(1.0) == 0.0 and math.isnan(axis.place(0.0))
    wide = log_axis(1e-8, 1e2, 8)
    assert all(re.fullmatch(r"1e-?\d+", t) for t in wide.labels) and len(wide.labels) >= 2
    dense = log_axis(1e-7, 10, 80, gap=None)
    assert dense.labels == ("1e-7", "1e-6", "1e-5", "1e-4", "1e-3", "1e-2", "1e-1", "1e0", "1e1")


def test_accuracy_zooms_to_the_values_shown_with_room_for_the_gap():
    lo, hi = zoom([0.998, 0.906, 0.95])
    assert 0.88 < lo < 0.906 and hi == 1.0
    assert zoom([0.88, 0.91, 0.9]) == pytest.approx((0.87, 0.92))  # at least 0.01 of room each side
    assert zoom([]) == (0.0, 1.0) and zoom([math.nan]) == (0.0, 1.0)
    assert zoom([0.0, 1.0]) == (0.0, 1.0)
    lo, hi = zoom([1.0, 1.0])  # one value: a little room, still inside 0..1
    assert hi == 1.0 and lo == pytest.approx(0.99)
    assert zoom_note(0.0, 1.0) == ""  # the whole range: nothing to say
    assert zoom_note(0.89, 1.0) == "y zoomed to 0.89..1.00"


def drawn(chart: Chart, **axes) -> str:
    plotext.clf()
    plotext.theme("clear")
    plotext.plotsize(chart.width, chart.height)
    chart.draw(plotext, **axes)
    text = plotext.uncolorize(plotext.build())
    plotext.clf()
    return text


def test_each_series_has_its_marker_and_its_name_right_of_every_curve():
    assert len(set(MARKERS)) == len(MARKERS) and marker(0) != marker(1)
    chart = Chart(60, 16, xlabel="epoch")
    xs = [i / 4 for i in range(41)]
    chart.line(xs, [0.5 + x / 25 for x in xs], marker=marker(2), label="train")
    chart.line(xs, [0.45 + x / 30 for x in xs], marker=marker(3), label="val")
    text = drawn(chart, x=(0, 10))
    rows = [line for line in text.splitlines() if "train" in line or "val" in line]
    assert len(rows) == 2  # each label on a row of its own
    for row in rows:
        label_at = row.index("train") if "train" in row else row.index("val")
        assert all(ch not in "+x" for ch in row[label_at:])  # nothing of a curve under or after a label
    assert text.count("+") > 10 and text.count("x") > 10


def test_an_empty_log_plot_draws_and_a_curve_of_zeros_too():
    # plotext's own log axis fails on an empty plot (the workbench's y then space)
    assert "┌" in drawn(Chart(40, 12), ylog=True)  # a frame, no ticks: nothing to scale yet
    chart = Chart(40, 12)
    chart.line([0, 1, 2], [0.0, 0.0, 1.0], marker=marker(0))
    assert "┤" in drawn(chart, ylog=True)

"""How every plot is laid out, in the workbench and in the headless commands.

One rule for the axes, one for telling series apart:

- Ticks are round numbers: steps of 1, 2, 2.5 or 5 x 10^k on a linear axis,
  1, 2, 5 x 10^k (or every decade, or every few) on a log one, at least two
  rows apart on a y axis and a label's width apart on an x axis.
- An axis spans its data: the limits are the data's, padded a little, and
  the ticks are the round values inside them. A log axis is drawn here, on
  log10 of the values (plotext's own log scale takes log10 of the data but not
  of the limits, and fails on an empty plot), so its limits and its data are
  always in the same space.
- Accuracy zooms to the values shown (`zoom`), padded so a gap between two
  curves stays readable; the plot says so in its titles.
- Each series has its own marker (MARKERS), so they read apart without
  colour, and a label at the height where it ends, in a margin right of the
  data that no curve enters (labels never cover data).

    chart = Chart(width, height, xlabel="epoch")
    chart.line(xs, ys, marker=MARKERS[0], label="train")
    chart.draw(plt, x=(0, epochs), y=zoom(values))   # plt: plotext, or a PlotextPlot's

plotext itself is the caller's: this module imports nothing of it, so every
layer may use it (the workbench's panes, `run`'s curves, lr-find's and tune's
text).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# One per series, in order: a braille line, dots, then plain characters that
# read apart in any terminal (plotext draws "dot" as •).
MARKERS = ("braille", "dot", "+", "x", "*", "o", "=", "%")
LINEAR_STEPS = (1.0, 2.0, 2.5, 5.0)
LOG_STEPS = ((1.0, 2.0, 5.0), (1.0,))  # mantissas per decade, densest first
Y_GAP = 2  # rows between two y ticks at least (one row apart they read as a column of numbers)
X_GAP = 6  # columns between two x ticks at least (and a label's width and two)
LABEL_SHARE = 4  # the end labels' margin takes at most a quarter of a plot's width
PAD = 0.04  # an axis fitted to data leaves this fraction of the span on each side
ZOOM_MIN_PAD = 0.01  # an accuracy axis leaves at least this much above and below the values
TRAIN_MARKER, VAL_MARKER = MARKERS[0], MARKERS[1]  # train and val accuracy, in every plot of them


def marker(i: int) -> str:
    """The marker of the i-th series of a plot."""
    return MARKERS[i % len(MARKERS)]


def glyph(marker: str) -> str:
    """How a marker looks, for a legend: a braille line as ⠉⠒, "dot" as •."""
    return {"braille": "⠉⠒", "dot": "•"}.get(marker, marker)


# --- ticks --------------------------------------------------------------------------------


def tick_label(v: float, step: float) -> str:
    """A tick's text: the decimals the step needs and no more (0.25 -> 2, 2.5 -> 1, 50 -> 0);
    very small or large values in short exponent form (2e-4, 1e6); never -0."""
    if v == 0:
        return "0"
    big = max(abs(v), step)
    if big >= 1e5 or step < 1e-3:
        m, e = f"{v:.2e}".split("e")
        m = m.rstrip("0").rstrip(".")
        return f"{m}e{int(e)}"
    k = math.floor(math.log10(step) + 1e-9)
    mantissa = step / 10**k
    decimals = max(0, -k + (1 if abs(mantissa - 2.5) < 1e-6 else 0))
    text = f"{v:.{decimals}f}"
    return text.lstrip("-") if float(text) == 0 else text  # a value just under 0 reads 0, never -0


def log_labels(values: Sequence[float]) -> list[str]:
    """A log axis's ticks: 0.2, 1, 50; all as 1e-5, 2e6 when one is beyond a few digits."""
    if all(1e-3 <= v < 1e4 for v in values):
        return [f"{v:.4g}" for v in values]
    return [f"{m}e{int(e)}" for m, e in (f"{v:.0e}".split("e") for v in values)]


@dataclass(frozen=True)
class Axis:
    """An axis as plotext is told it: limits and ticks in plot space (log10 of the values
    on a log axis), the ticks' labels in the values' own terms."""

    lo: float
    hi: float
    ticks: tuple[float, ...]
    labels: tuple[str, ...]
    log: bool = False

    def place(self, v: float) -> float:
        """A value's position on the axis (log10 on a log axis; NaN for v <= 0 there)."""
        if not self.log:
            return v
        return math.log10(v) if v > 0 else math.nan

    def label_width(self) -> int:
        return max((len(t) for t in self.labels), default=1)


def _fits(ticks: list[float], labels: list[str], lo: float, hi: float, cells: int, gap: int | None) -> bool:
    """Whether ticks on an axis of `cells` cells are far enough apart: `gap` cells (y), or
    the widest label and a space (x, gap None)."""
    if len(ticks) < 2:
        return True
    need = gap if gap is not None else max(max(len(t) for t in labels) + 2, X_GAP)
    span = (hi - lo) or 1.0
    closest = min(b - a for a, b in zip(ticks, ticks[1:]))
    return closest / span * max(cells - 1, 1) >= need


def linear_axis(lo: float, hi: float, cells: int, *, gap: int | None = Y_GAP, integer: bool = False) -> Axis:
    """Round ticks on lo..hi, as many as fit `cells` cells (`gap` cells apart, or a label's
    width and two apart when gap is None: an x axis). The limits stay the data's while two
    ticks fit inside them; else they widen to the round values around them.
    `integer`: no fractional steps (iterations)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi <= lo:
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    steps = [
        m * 10.0**k
        for k in range(math.floor(math.log10(hi - lo)) - 2, math.floor(math.log10(hi - lo)) + 3)
        for m in LINEAR_STEPS
        if not integer or m * 10.0**k >= 1 and m * 10.0**k == round(m * 10.0**k)
    ]
    for widen in (False, True):
        for step in steps:
            first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
            if widen:
                first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
            if last - first > 200:
                continue
            if last - first < 1:
                break  # larger steps hold even fewer
            a, b = (first * step, last * step) if widen else (lo, hi)
            ticks = [round(i * step, 12) for i in range(first, last + 1)]
            labels = [tick_label(t, step) for t in ticks]
            if _fits(ticks, labels, a, b, cells, gap):
                return Axis(a, b, tuple(ticks), tuple(labels))
    step = 10.0 ** math.floor(math.log10(hi - lo)) / 10  # the limits as they are: a digit more than the span's
    return Axis(lo, hi, (lo, hi), (tick_label(lo, step), tick_label(hi, step)))


def log_axis(lo: float, hi: float, cells: int, *, gap: int | None = Y_GAP) -> Axis:
    """A log axis over the positive values lo..hi: 1, 2, 5 x 10^k, else decades, else
    every few decades, whichever is the densest that fits."""
    if not (lo > 0 and math.isfinite(lo)):
        lo = hi / 10 if hi > 0 and math.isfinite(hi) else 0.1
    if not (hi > lo and math.isfinite(hi)):
        hi = lo * 10
    a, b = math.log10(lo), math.log10(hi)
    candidates: list[list[float]] = []
    for mantissas in LOG_STEPS:
        candidates.append(
            [
                e + math.log10(m)
                for e in range(math.floor(a), math.ceil(b) + 1)
                for m in mantissas
                if a - 1e-9 <= e + math.log10(m) <= b + 1e-9
            ]
        )
    for every in (2, 5, 10, 20):
        candidates.append([float(e) for e in range(math.ceil(a), math.floor(b) + 1) if e % every == 0])
    for ticks in candidates:
        labels = log_labels([10**t for t in ticks])
        if len(ticks) >= 2 and _fits(ticks, labels, a, b, cells, gap):
            return Axis(a, b, tuple(ticks), tuple(labels), log=True)
    return Axis(a, b, (a, b), tuple(log_labels([lo, hi])), log=True)


def padded(lo: float, hi: float, log: bool = False, pad: float = PAD) -> tuple[float, float]:
    """The data's range with a little room on each side (in log10 space on a log axis)."""
    if log:
        a, b = math.log10(lo), math.log10(hi)
        if b <= a:
            return lo / 1.2, hi * 1.2
        p = (b - a) * pad
        return 10 ** (a - p), 10 ** (b + p)
    if hi <= lo:
        p = abs(lo) * 0.05 or 0.05
        return lo - p, hi + p
    p = (hi - lo) * pad
    return lo - p, hi + p


def zoom(values: Iterable[float], lo: float = 0.0, hi: float = 1.0) -> tuple[float, float]:
    """The y range of an accuracy plot: the values shown, padded by a tenth of their spread
    and at least ZOOM_MIN_PAD (so two curves a little apart still read apart), within
    lo..hi; lo..hi itself when there are none."""
    shown = [v for v in values if v is not None and math.isfinite(v)]
    if not shown:
        return lo, hi
    a, b = min(shown), max(shown)
    pad = max((b - a) * 0.1, ZOOM_MIN_PAD)
    return max(lo, a - pad), min(hi, b + pad)


def zoom_note(lo: float, hi: float, full: tuple[float, float] = (0.0, 1.0)) -> str:
    """What a plot says when its y axis is zoomed ('' when it spans the full range)."""
    if lo <= full[0] + 1e-9 and hi >= full[1] - 1e-9:
        return ""
    decimals = 2 if hi - lo >= 0.1 else 3
    return f"y zoomed to {lo:.{decimals}f}..{hi:.{decimals}f}"


# --- a plot -------------------------------------------------------------------------------


@dataclass
class Series:
    xs: list[float]
    ys: list[float]
    marker: str
    color: Any = None
    label: str = ""
    scatter: bool = False
    clip: bool = False  # context (an earlier run): drawn only inside the axis, never sets it


@dataclass
class Chart:
    """The series of one plot, drawn through `draw` with round ticks and end labels.

    width, height: the plot's size in cells (a PlotextPlot's size, or plotext's plotsize)."""

    width: int
    height: int
    xlabel: str = ""
    title: str = ""
    ylabel: str = ""  # plotext writes it at the left of the x label's row
    series: list[Series] = field(default_factory=list)
    bands: list[tuple[float, float, Any]] = field(default_factory=list)
    marks: list[tuple[float, str, Any]] = field(default_factory=list)

    def line(self, xs: Iterable[float], ys: Iterable[float], *, marker: str, color=None, label="", clip=False) -> None:
        self.series.append(Series(list(map(float, xs)), list(map(float, ys)), marker, color, label, False, clip))

    def scatter(self, xs: Iterable[float], ys: Iterable[float], *, marker: str, color=None) -> None:
        self.series.append(Series(list(map(float, xs)), list(map(float, ys)), marker, color, "", True))

    def band(self, lo: float, hi: float, color=None) -> None:
        """A shaded strip across the plot between y = lo and hi (drawn under the series)."""
        self.bands.append((lo, hi, color))

    def mark(self, x: float, text: str, color=None) -> None:
        """A vertical line at x, named near its top (lr-find's suggestions)."""
        self.marks.append((x, text, color))

    # --- the axes ---

    @property
    def rows(self) -> int:
        """The canvas's rows: plotext keeps the frame (2), the x ticks (1), the x label's
        row (1, always) and the title's (1) for itself."""
        return max(self.height - 4 - (1 if self.title else 0), 2)

    def _data_range(self, axis: str, log: bool, everything: bool) -> tuple[float, float] | None:
        values = [
            v
            for s in self.series
            if everything or not s.clip
            for v in (s.xs if axis == "x" else s.ys)
            if math.isfinite(v) and (v > 0 or not log)
        ]
        if axis == "y":
            values += [v for lo, hi, _ in self.bands for v in (lo, hi) if v > 0 or not log]
        return (min(values), max(values)) if values else None

    def y_axis(self, y: tuple[float, float] | None = None, log: bool = False) -> Axis:
        if y is None:
            found = self._data_range("y", log, everything=False) or self._data_range("y", log, everything=True)
            y = padded(*found, log=log) if found else ((0.1, 10.0) if log else (0.0, 1.0))
        return log_axis(*y, self.rows) if log else linear_axis(*y, self.rows)

    def draw(
        self,
        plt: Any,
        *,
        x: tuple[float, float] | None = None,
        y: tuple[float, float] | None = None,
        xlog: bool = False,
        ylog: bool = False,
        x_integer: bool = False,
    ) -> tuple[Axis, Axis]:
        """Draw on plotext (the module, or a PlotextPlot's `plt`), whose data must be clear.
        x, y: the axes' value ranges (from the data, padded, when None). Returns the axes."""
        ya = self.y_axis(y, ylog)
        cols = max(self.width - ya.label_width() - 2, 4)
        labelled = [s for s in self.series if s.label and not s.scatter]
        room = max((len(s.label) for s in labelled), default=0) + 2 if labelled else 0
        if room * LABEL_SHARE > cols:  # a narrow plot keeps its width for the data (the title's legend still says)
            room = 0
        if x is None:
            found = self._data_range("x", xlog, everything=False)
            x = found if found else ((1.0, 10.0) if xlog else (0.0, 1.0))
            if x[1] <= x[0]:
                x = padded(*x, log=xlog)
        xa = log_axis(*x, cols - room, gap=None) if xlog else linear_axis(*x, cols - room, gap=None, integer=x_integer)
        x_hi = xa.hi
        if room:  # the labels' margin: the data end `room` cells before the frame
            x_hi = xa.lo + (xa.hi - xa.lo) * (cols - 1) / max(cols - 1 - room, 1)
        for lo, hi, color in self.bands:
            a, b = max(ya.place(lo), ya.lo), min(ya.place(hi), ya.hi)
            if b > a:  # across the data, not the labels' margin
                plt.plot([xa.lo, xa.hi], [b, b], color=color, fillx=a, marker="hd")
        for s in self.series:
            for xs, ys in _segments(s, xa, ya):
                if s.scatter:
                    plt.scatter(xs, ys, marker=s.marker, color=s.color)
                else:
                    plt.plot(xs, ys, marker=s.marker, color=s.color)
        for pos, _, color in self.marks:
            p = xa.place(pos)
            if math.isfinite(p):
                plt.vline(p, color=color)
        self._mark_texts(plt, xa, ya)
        if room:
            self._end_labels(plt, labelled, xa, ya, x_hi, cols)
        plt.xlim(xa.lo, x_hi)
        plt.ylim(ya.lo, ya.hi)
        plt.xticks(list(xa.ticks), list(xa.labels))
        plt.yticks(list(ya.ticks), list(ya.labels))
        if self.xlabel:
            plt.xlabel(self.xlabel)
        if self.ylabel:
            plt.ylabel(self.ylabel)
        if self.title:
            plt.title(self.title)
        return xa, ya

    def _row(self, ya: Axis, y: float) -> int:
        return round((y - ya.lo) / ((ya.hi - ya.lo) or 1.0) * (self.rows - 1))

    def _at_row(self, ya: Axis, row: int) -> float:
        return ya.lo + row / max(self.rows - 1, 1) * (ya.hi - ya.lo)

    def _end_labels(self, plt: Any, labelled: list[Series], xa: Axis, ya: Axis, x_hi: float, cols: int) -> None:
        """Each labelled line's label in the right margin, on the row where the line ends
        (moved to the nearest free row when two end on one; left out when none is free)."""
        ends = []
        for s in labelled:
            last = next((ya.place(v) for v in reversed(s.ys) if math.isfinite(ya.place(v))), None)
            if last is None:
                continue
            last = min(max(last, ya.lo), ya.hi)
            ends.append((self._row(ya, last), s))
        taken: set[int] = set()
        x_text = xa.hi + (x_hi - xa.lo) / max(cols - 1, 1) * 1.5  # a blank cell right of the data's end
        for row, s in sorted(ends, key=lambda e: e[0]):
            free = next(
                (r for d in range(self.rows) for r in (row + d, row - d) if 0 <= r < self.rows and r not in taken), None
            )
            if free is None:
                continue
            taken.add(free)
            plt.text(s.label, x=x_text, y=self._at_row(ya, free), color=s.color, alignment="left")

    def _mark_texts(self, plt: Any, xa: Axis, ya: Axis) -> None:
        """The marks' names near the top, one row each, left of their line when it is near the right."""
        for i, (pos, text, color) in enumerate(self.marks):
            p = xa.place(pos)
            if not math.isfinite(p):
                continue
            row = max(self.rows - 2 - i, 0)
            right = (p - xa.lo) / ((xa.hi - xa.lo) or 1.0) > 0.7
            plt.text(
                f"{text} " if right else f" {text}",
                x=p,
                y=self._at_row(ya, row),
                color=color,
                alignment="right" if right else "left",
            )


def _segments(s: Series, xa: Axis, ya: Axis) -> list[tuple[list[float], list[float]]]:
    """A series in plot space, cut where it leaves the axes or is not finite (a line is
    never drawn across a gap, and context curves never pile up on the frame)."""
    out: list[tuple[list[float], list[float]]] = []
    xs: list[float] = []
    ys: list[float] = []
    for x, y in zip(s.xs, s.ys):
        px, py = xa.place(x), ya.place(y)
        inside = math.isfinite(px) and math.isfinite(py) and ya.lo - 1e-12 <= py <= ya.hi + 1e-12
        if inside:
            xs.append(px)
            ys.append(py)
        elif xs:
            out.append((xs, ys))
            xs, ys = [], []
    if xs:
        out.append((xs, ys))
    return out


def accuracy_lines(chart: Chart, epochs, train, val, colors: tuple[Any, Any] = (None, None), name: str = "") -> None:
    """Train and val accuracy per epoch as two lines, marked as in every plot of them."""
    chart.line(epochs, train, marker=TRAIN_MARKER, color=colors[0], label=f"{name}train")
    chart.line(epochs, val, marker=VAL_MARKER, color=colors[1], label=f"{name}val")


def draw_accuracy(chart: Chart, plt: Any, x: tuple[float, float]) -> tuple[Axis, Axis]:
    """Draw an accuracy chart zoomed to its values, its x label saying so."""
    lo, hi = zoom(v for s in chart.series for v in s.ys)
    note = zoom_note(lo, hi)
    if note:
        chart.xlabel = f"{chart.xlabel} · {note}" if chart.xlabel else note
    return chart.draw(plt, x=x, y=(lo, hi))

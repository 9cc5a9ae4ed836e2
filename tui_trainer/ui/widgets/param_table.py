"""The weights-and-updates pane: one row per parameter, and the lecture's
ratio norm(update) / norm(weight) judged against its band (engine/stats.py).

The band shows in words and arrows as well as colour, so it reads the same
under NO_COLOR."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from ...engine.events import ParamStats, Ratios
from ...engine.stats import RATIO_BAND, ratio_band
from ...formatting import compact, compact_mean

STATS = ("mean", "std", "min", "max")
WIDE = 104  # content columns needed for the full table (shape column, 3 digits)


def band_label(ratio: float | None) -> tuple[str, str, str]:
    """(words, arrow, style class) for a ratio against the band."""
    band = ratio_band(ratio)
    if band == "none":
        return "n/a", " ", "band-none"
    if band == "ok":
        return "ok", " ", "band-ok"
    assert ratio is not None  # ratio_band says "none" for None
    high = ratio > RATIO_BAND[1]
    if band == "warn":
        return ("high", "↑", "band-warn") if high else ("low", "↓", "band-warn")
    return ("HIGH", "⇈", "band-alert") if high else ("LOW", "⇊", "band-alert")


class ParamTable(Widget):
    """Redrawn when a new `ratios` event arrives (every stats_every iterations).

    A plain Widget that repaints itself: a Static's update() would ask for a
    new layout of the whole screen each time.
    """

    COMPONENT_CLASSES = {"band-ok", "band-warn", "band-alert", "band-none"}
    # For the pane around it (it scrolls inside one).
    TITLE = "Weights and updates"
    SUBTITLE = f"ratio band {RATIO_BAND[0]:g}..{RATIO_BAND[1]:g} · ↑↓ near · ⇈⇊ far"

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.ratios: Ratios | None = None

    def show(self, ratios: Ratios | None) -> None:
        # Its height follows its rows: a new layout only when their number changes.
        rows = None if ratios is None else len(ratios.params)
        relayout = rows != (None if self.ratios is None else len(self.ratios.params))
        self.ratios = ratios
        self.refresh(layout=relayout)

    def render(self) -> Table | Text:
        return self._table()

    def _style(self, cls: str) -> str:
        return str(self.get_component_rich_style(cls, partial=True))

    def _table(self) -> Table | Text:
        if self.ratios is None:
            return Text("Weight and update statistics appear every train.stats_every iterations of a run.", style="dim")
        wide = self.content_size.width >= WIDE
        t = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, expand=False, header_style="bold")
        t.add_column("", no_wrap=True)
        if wide:
            t.add_column("shape", no_wrap=True)
        for who in ("w", "u"):
            for s in STATS:
                t.add_column(f"{who} {s}", justify="right", no_wrap=True)
        t.add_column("ratio", justify="right", no_wrap=True)
        if wide:
            t.add_column("band", no_wrap=True)
        for p in self.ratios.params:
            t.add_row(*self._row(p, wide))
        return t

    def _row(self, p: ParamStats, wide: bool) -> list:
        """Wide: 3 digits, shape and the band in words. Narrow (80 columns): every
        number in 7 characters, the band as an arrow after the ratio. A mean
        shows only the digits float32 carries (formatting.compact_mean)."""
        words, arrow, cls = band_label(p.ratio)
        style = self._style(cls)
        digits, width = (3, None) if wide else (2, 7)
        cells: list = [p.name]
        if wide:
            cells.append("x".join(str(s) for s in p.shape))
        for mean, std, low, high in (
            (p.weight_mean, p.weight_std, p.weight_min, p.weight_max),
            (p.update_mean, p.update_std, p.update_min, p.update_max),
        ):
            cells += [compact_mean(mean, std, digits, width)] + [compact(v, digits, width) for v in (std, low, high)]
        ratio = "n/a" if p.ratio is None else compact(p.ratio, digits, width)
        if wide:
            cells += [Text(ratio, style=style), Text(f"{words} {arrow}".strip(), style=style)]
        else:
            cells.append(Text(f"{ratio}{arrow}", style=style))
        return cells

"""The first layer's weights, drawn in the terminal: one tile per hidden unit.

Each character cell is two pixels, "▀" with the upper pixel as foreground and
the lower one as background, in true colour (Textual maps it down to 256
colours where the terminal has no more), so it works over plain SSH with no
image protocol. Grey for MNIST and digits, colour for CIFAR-10.

The trainer's host copies W1 after an epoch (at most once a second, and after
the last epoch: trainer_host.snapshot_hook) and sends it as a `LayerSnapshot`
event; the workbench's drain hands it to `show_weights` on the UI thread. The
tiles are normalised once per snapshot and the lines drawn once per snapshot
and pane size, then cached; between snapshots the view costs nothing.

    view = WeightsView()
    view.show_weights(W1, image_shape=(28, 28, 1), epoch=3)   # W1: (D, units)
"""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from ...lab.weights import PADDING, WeightsError, fit_layout, resize_tiles, tile_grid, unit_tiles, why_not_images

WAITING = "The first layer's weights appear here after the first epoch."
HALF = "▀"


class WeightsView(Widget):
    DEFAULT_CSS = """
    WeightsView { height: 1fr; width: 1fr; }
    """

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.tiles: np.ndarray | None = None  # (units, h, w, 3) uint8, normalised per tile
        self.message = WAITING
        self.epoch: int | None = None
        self._lines: list[Strip] | None = None
        self._lines_for: tuple[int, int] | None = None
        self._styles: dict[int, Style] = {}
        self.border_title = "First layer"

    # --- feeding it --------------------------------------------------------------------

    def show_weights(self, w1: np.ndarray, image_shape: tuple[int, ...], epoch: int | None = None) -> None:
        """Normalise W1's columns into tiles (UI thread); a message instead for data that are not images."""
        reason = why_not_images(tuple(w1.shape), tuple(image_shape))
        self.epoch = epoch
        if reason:
            self.tiles = None
            self.message = f"No weight pictures: {reason}."
        else:
            try:
                self.tiles = unit_tiles(w1, image_shape)
            except WeightsError as e:
                self.tiles, self.message = None, str(e)
        self._subtitle()
        self._invalidate()

    def show_message(self, text: str) -> None:
        """Show words instead of tiles (no run yet, a new data set, ...)."""
        self.tiles, self.message, self.epoch = None, text, None
        self._subtitle()
        self._invalidate()

    def _subtitle(self) -> None:
        if self.tiles is None:
            self.border_subtitle = ""
            return
        n, h, w, _ = self.tiles.shape
        colour = "grey" if self._grey else "colour"
        when = f"epoch {self.epoch} · " if self.epoch is not None else ""
        self.border_subtitle = f"{when}W1: {n} units, {h}x{w} {colour}"

    @property
    def _grey(self) -> bool:
        t = self.tiles
        return t is not None and bool((t[..., 0] == t[..., 1]).all() and (t[..., 1] == t[..., 2]).all())

    def _invalidate(self) -> None:
        self._lines = None
        self.refresh()

    # --- drawing -----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._lines is None or self._lines_for != (width, height):
            self._lines = self._draw(width, height)
            self._lines_for = (width, height)
        return self._lines[y] if y < len(self._lines) else Strip.blank(width, self.rich_style)

    def picture(self, width: int, height: int) -> np.ndarray | None:
        """The RGB picture (2*height pixel rows at most, width columns at most) this pane shows."""
        if self.tiles is None or width < 1 or height < 1:
            return None
        n, th, tw, _ = self.tiles.shape
        rows, cols, h, w = fit_layout(n, (th, tw), width, 2 * height, PADDING)
        return tile_grid(resize_tiles(self.tiles, (h, w)), cols)

    def _draw(self, width: int, height: int) -> list[Strip]:
        grid = self.picture(width, height)
        if grid is None:
            return self._draw_message(width, height)
        if grid.shape[0] % 2:  # an odd last row: its lower half is the pane's background
            grid = np.concatenate([grid, np.zeros((1,) + grid.shape[1:], np.uint8)])
        gh, gw, _ = grid.shape
        left = max((width - gw) // 2, 0)
        top = max((height - gh // 2) // 2, 0)
        blank = Strip.blank(width, self.rich_style)
        lines = [blank] * top
        cell = grid[:, :width].astype(np.int64)
        # One integer per cell for its (upper rgb, lower rgb): runs of equal cells become one segment.
        codes = (
            (cell[0::2, :, 0] << 40)
            | (cell[0::2, :, 1] << 32)
            | (cell[0::2, :, 2] << 24)
            | (cell[1::2, :, 0] << 16)
            | (cell[1::2, :, 1] << 8)
            | cell[1::2, :, 2]
        )
        for row in codes:
            segments = [Segment(" " * left, self.rich_style)] if left else []
            starts = np.concatenate([[0], np.flatnonzero(np.diff(row)) + 1, [len(row)]]).tolist()
            for a, b in zip(starts[:-1], starts[1:]):
                segments.append(Segment(HALF * (b - a), self._style(int(row[a]))))
            lines.append(Strip(segments).extend_cell_length(width, self.rich_style))
        return lines[:height] + [blank] * max(height - len(lines), 0)

    def _style(self, code: int) -> Style:
        """The style of a cell whose (upper, lower) colours pack into code (48 bits, upper first)."""
        style = self._styles.get(code)
        if style is None:
            if len(self._styles) > 65536:
                self._styles.clear()
            upper = Color.from_rgb((code >> 40) & 255, (code >> 32) & 255, (code >> 24) & 255)
            lower = Color.from_rgb((code >> 16) & 255, (code >> 8) & 255, code & 255)
            style = self._styles[code] = Style(color=upper, bgcolor=lower)
        return style

    def _draw_message(self, width: int, height: int) -> list[Strip]:
        text = Text(self.message, style="dim")
        lines = text.wrap(self.app.console, max(width, 1))
        # Every segment with a style: Textual's NO_COLOR filter cannot take a segment without one.
        strips = [
            Strip(
                [Segment(seg.text, seg.style or Style.null(), seg.control) for seg in line.render(self.app.console)],
                line.cell_len,
            ).extend_cell_length(width, self.rich_style)
            for line in lines
        ][:height]
        blank = Strip.blank(width, self.rich_style)
        return strips + [blank] * (height - len(strips))

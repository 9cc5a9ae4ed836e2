"""Which layout the workbench uses at a terminal size, chosen from what fits.

Every pane at once (a grid) when the screen holds each pane at the size it
needs; otherwise one pane at a time behind tabs. What a pane needs:

    a plot          PLOT_ROWS: room for at least 5 y-axis ticks and the x axis
    weights table   one row per parameter (W1, b1, ...), its header and border
    checks          the four checks, the header, the progress bar, the border
    weights width   the compact table (7-character numbers) in full

The grid, in three columns (a | b | side) and three rows:

    row 1   big view (loss, layer 1 or ratios): a+b   accuracy: side
    row 2   weights and updates: a+b                  hyperparameters: side
            (as tall as the taller of the two needs, while the plots keep their room)
    row 3   sanity checks: a                          advice: b+side

Rows the screen has to spare go to the plots, and some to the bottom row
(its advice grows). Every pane scrolls, so what does not fit is reached
from the keyboard (Tab to the pane, then the arrows, PageUp/PageDown,
Home/End).
"""

from __future__ import annotations

from dataclasses import dataclass

CHROME_ROWS = 3  # the status bar (2) and the footer (1)
TAB_ROWS = 2  # the tab bar of the narrow layout
PLOT_ROWS = 12  # a plot pane: border 2, x axis and label 2, frame 2, 6 rows of ticks
CHECKS_ROWS = 9  # border 2, header 1, four checks, a blank line, the progress bar
WEIGHTS_MIN_WIDTH = 80  # the compact weights table (76 columns) inside border and padding
SIDE_MIN_WIDTH = 40  # the accuracy plot and the hyperparameters
MAX_WEIGHT_ROWS = 10  # deeper nets scroll the weights table
MAX_BOTTOM_EXTRA = 6  # the checks and advice row grows by at most this much


@dataclass(frozen=True)
class Layout:
    grid: bool
    columns: tuple[int, int, int] = (0, 0, 0)  # a, b, side (grid only)
    rows: tuple[int, int, int] = (0, 0, 0)  # plots, weights, checks (grid only)
    pane_rows: int = 0  # the height of the one pane shown (tabs only)

    @property
    def grid_columns(self) -> str:
        return " ".join(str(c) for c in self.columns)

    @property
    def grid_rows(self) -> str:
        return " ".join(str(r) for r in self.rows)


def side_width(width: int) -> int:
    return max(SIDE_MIN_WIDTH, width * 3 // 10)


def weights_rows(n_params: int) -> int:
    """The weights pane's height for a net with n_params parameter arrays: one row each, header, border."""
    return min(n_params, MAX_WEIGHT_ROWS) + 3


def choose(width: int, height: int, n_params: int, hyper_rows: int = 0) -> Layout:
    """The layout for a width x height screen, a net with n_params parameter arrays and
    hyper_rows rows of hyperparameters (the middle row grows to show them while the
    plots keep their room; beyond that they scroll)."""
    rows = height - CHROME_ROWS
    side = side_width(width)
    weights = weights_rows(n_params)
    needed = PLOT_ROWS + weights + CHECKS_ROWS
    if width - side < WEIGHTS_MIN_WIDTH or rows < needed:
        return Layout(grid=False, pane_rows=max(rows - TAB_ROWS, 0))
    middle = max(weights, min(hyper_rows + 4, rows - PLOT_ROWS - CHECKS_ROWS))  # + header, border, scrollbar
    spare = rows - PLOT_ROWS - middle - CHECKS_ROWS
    bottom = CHECKS_ROWS + min(spare // 3, MAX_BOTTOM_EXTRA)
    plots = rows - middle - bottom
    a = width // 2
    return Layout(grid=True, columns=(a, width - side - a, side), rows=(plots, middle, bottom))

"""Which layout the workbench uses at a terminal size, chosen from what the panes need.

What a pane needs:

    a plot          PLOT_ROWS: the frame, the x axis and its label, and room for
                    three y ticks two rows apart
    weights table   one row per parameter (W1, b1, ...), its header and border;
                    WEIGHTS_MIN_WIDTH columns for the compact table
    hyperparameters one row per row of the table, its header and border; as wide
                    as the table (the side column grows to it when it can)
    checks          CHECKS_ROWS: one line per check (long values scroll sideways)
    first layer     FIRST_LAYER_MIN_WIDTH columns for its tiles

From the largest to the smallest, the first that fits:

    wide (4 columns: a | b | side | extra), from about 160x44:

        row 1   loss: a+b           accuracy: side    ratio history: extra
        row 2   weights: a+b        hyperparameters   first layer: extra
        row 3   checks: a           advice: b+side    (first layer)

    grid (3 columns: a | b | side), from about 120x36:

        row 1   big view (loss, first layer or ratios; v): a+b   accuracy: side
        row 2   weights and updates: a+b                          hyperparameters: side
        row 3   sanity checks: a                                  advice: b+side

    pairs: one tab at a time, two panes of it side by side (the loss beside the
    accuracy, the checks beside the advice, ...), from about 96 columns;

    tabs: one pane at a time.

Rows the screen has to spare go to the plots, and some to the bottom row (its
advice grows). Every pane scrolls, so what does not fit is reached from the
keyboard (Tab to the pane, then the arrows, PageUp/PageDown, Home/End), and
the number keys enlarge one pane over the others (or show its tab).
"""

from __future__ import annotations

from dataclasses import dataclass

CHROME_ROWS = 3  # the status bar (2) and the footer (1)
TAB_ROWS = 2  # the tab bar of the narrow layouts
PLOT_ROWS = 12  # a plot pane: border 2, x axis and label 2, frame 2, 6 rows for three ticks two apart
CHECKS_ROWS = 10  # border 2, header 1, four checks, a blank line, the progress bar, a sideways scrollbar
WEIGHTS_MIN_WIDTH = 80  # the compact weights table (76 columns) inside border and padding
SIDE_MIN_WIDTH = 40  # the accuracy plot and the hyperparameters
SIDE_MAX_WIDTH = 56  # past this the side column gives its room back to the big plots
EXTRA_MIN_WIDTH = 38  # the wide layout's fourth column: the ratio history and the first layer's tiles
PAIR_MIN_WIDTH = 96  # two panes side by side: a plot of 56 columns beside one of 40
MAX_WEIGHT_ROWS = 10  # deeper nets scroll the weights table
MAX_BOTTOM_EXTRA = 6  # the checks and advice row grows by at most this much
PANE_CHROME = 4  # a pane's border and padding around its table (and a scrollbar's column)


@dataclass(frozen=True)
class Layout:
    kind: str  # "wide" | "grid" | "pairs" | "tabs"
    columns: tuple[int, ...] = ()  # a, b, side (and extra in "wide")
    rows: tuple[int, ...] = ()  # plots, weights, checks (grids only)
    pane_rows: int = 0  # the height of the panes shown (pairs and tabs)

    @property
    def grid(self) -> bool:
        """Every pane at once (wide or grid)."""
        return self.kind in ("wide", "grid")

    @property
    def grid_columns(self) -> str:
        return " ".join(str(c) for c in self.columns)

    @property
    def grid_rows(self) -> str:
        return " ".join(str(r) for r in self.rows)


def side_width(width: int, hyper_width: int = 0) -> int:
    """The side column: 30% of the screen, at least SIDE_MIN_WIDTH, wider when the
    hyperparameters table needs it (up to SIDE_MAX_WIDTH)."""
    return min(max(SIDE_MIN_WIDTH, width * 3 // 10, hyper_width + PANE_CHROME), max(SIDE_MAX_WIDTH, SIDE_MIN_WIDTH))


def weights_rows(n_params: int) -> int:
    """The weights pane's height for a net with n_params parameter arrays: one row each, header, border."""
    return min(n_params, MAX_WEIGHT_ROWS) + 3


def choose(width: int, height: int, n_params: int, hyper_rows: int = 0, hyper_width: int = 0) -> Layout:
    """The layout for a width x height screen, a net with n_params parameter arrays and
    a hyperparameters table of hyper_rows rows and hyper_width columns (the middle row
    grows to show them while the plots keep their room; beyond that they scroll)."""
    rows = height - CHROME_ROWS
    weights = weights_rows(n_params)
    needed = PLOT_ROWS + weights + CHECKS_ROWS
    if rows >= needed:
        room = width - SIDE_MIN_WIDTH - WEIGHTS_MIN_WIDTH  # what a fourth column could have
        wide = min(room, max(EXTRA_MIN_WIDTH, width // 5)) if room >= EXTRA_MIN_WIDTH else 0
        for extra in dict.fromkeys((wide, 0)):  # the wide layout's fourth column, then none
            side = side_width(width - extra, hyper_width)
            # the side column gives way to the weights table's minimum, not below its own
            side = max(SIDE_MIN_WIDTH, min(side, width - extra - WEIGHTS_MIN_WIDTH))
            if width - extra - side < WEIGHTS_MIN_WIDTH:
                continue
            middle = max(weights, min(hyper_rows + 4, rows - PLOT_ROWS - CHECKS_ROWS))  # + header, border, scrollbar
            spare = rows - PLOT_ROWS - middle - CHECKS_ROWS
            bottom = CHECKS_ROWS + min(spare // 3, MAX_BOTTOM_EXTRA)
            plots = rows - middle - bottom
            a = (width - extra) // 2
            columns = (a, width - extra - side - a, side) + ((extra,) if extra else ())
            return Layout("wide" if extra else "grid", columns, (plots, middle, bottom))
    pane_rows = max(rows - TAB_ROWS, 0)
    return Layout("pairs" if width >= PAIR_MIN_WIDTH else "tabs", pane_rows=pane_rows)

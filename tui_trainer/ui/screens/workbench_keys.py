"""The workbench's keys and panes as tables: which pane each tab shows, the
bindings in the footer's order, the focus and scroll keys, the tab keys.

The workbench screen binds them (screens/workbench.py); the app lists them in
the help screen and the command palette (app.WorkbenchApp.KEYS)."""

from __future__ import annotations

from textual.binding import Binding

from .. import knobs

MIN_WIDTH, MIN_HEIGHT = 60, 16
# Narrow screens show one pane at a time behind tabs; each tab's panes:
TABS = {
    "loss": ("loss",),
    "accuracy": ("accuracy",),
    "weights": ("weights",),
    "checks": ("checks",),
    "run": ("hyper", "advice-slot"),
    "layer1": ("layer1",),
    "ratios": ("ratio-history",),
}
TAB_LABELS = {
    "loss": "1 Loss",
    "accuracy": "2 Accuracy",
    "weights": "3 Weights",
    "checks": "4 Checks",
    "run": "5 Advice",
    "layer1": "6 Layer 1",
    "ratios": "7 Ratios",
}
# Between a grid and one pane, two panes of a tab side by side (layout.py's pairs).
PAIRS = {
    "loss": ("loss", "accuracy"),
    "accuracy": ("loss", "accuracy"),
    "weights": ("weights",),
    "checks": ("checks", "advice-slot"),
    "run": ("hyper", "advice-slot"),
    "layer1": ("layer1", "ratio-history"),
    "ratios": ("layer1", "ratio-history"),
}
# The grid shows one of these in the big cell; `v` moves to the next (the four-column grid shows all three).
BIG_VIEWS = ("loss", "layer1", "ratio-history")
# The order a layout places the panes in (a grid fills its cells in order; Tab follows it too).
PANE_ORDER = {
    "grid": ("loss", "layer1", "ratio-history", "accuracy", "weights", "hyper", "checks", "advice-slot"),
    "wide": ("loss", "accuracy", "ratio-history", "weights", "hyper", "layer1", "checks", "advice-slot"),
}

LR = Binding.Group("lr", compact=True)
REG = Binding.Group("reg", compact=True)
BATCH = Binding.Group("batch", compact=True)

# The keys for the run and the next run, then the tab keys. In the footer's order:
# the run, then the lecture's flow (checks, lr-find, search, tune, the runs, the
# views), help and quit, then the next run's knobs (the hyperparameters pane lists
# them too: a narrow footer may cut them); p and x only while a run goes (check_action).
RUN_KEYS = [
    Binding("space", "start", "Run", tooltip="start the next run (restarts a running one)"),
    Binding("p", "pause", "Pause", tooltip="pause or resume the run"),
    Binding("x", "stop", "Stop", tooltip="stop the run (within one iteration)"),
    Binding(
        "n",
        "seeds",
        "Seeds",
        tooltip="run the next run over N train seeds, one after another, as one seed group (asks N; "
        "the runs view shows its mean ± std); x stops the whole group",
    ),
    Binding("c", "checks", "Checks", tooltip="run the four sanity checks on the next run's setup"),
    Binding(
        "f",
        "lr_find",
        "LR find",
        tooltip="learning-rate range test of the next run's setup: the curve and the suggestions; "
        "u makes the suggestion the next run's learning rate",
    ),
    Binding(
        "s",
        "search",
        "Search",
        tooltip="coarse-to-fine search of the next run's setup over its [search] "
        "ranges: live trials and scatter; u makes the best the next run",
    ),
    Binding(
        "g",
        "tune",
        "Tune",
        tooltip="tune the next run's setup: checks, lr-find, coarse and fine search, final run; "
        "u makes the tuned preset the next run",
    ),
    Binding("h", "runs", "Runs", tooltip="every run of the run directory: compare curves, reuse a configuration"),
    Binding("v", "next_view", "View", tooltip="the big pane: loss, first-layer weights, update/weight ratio over time"),
    Binding(
        "e",
        "edit",
        "Edit",
        tooltip="edit the next run: data (examples, preprocessing), model (hidden, loss, init), training "
        "(update, learning rate, momentum, decay, reg, batch, epochs, full batch, explode factor)",
    ),
    # The app's help and quit, here so the footer shows them before the knobs (the app's own come last).
    Binding("question_mark", "app.help", "Help", key_display="?", tooltip="the keys and panes of this screen"),
    Binding("q", "app.quit", "Quit", tooltip="stop the trainer and quit"),
    Binding(
        "l",
        "learning_rate(False)",
        "Learning rate down",
        group=LR,
        tooltip="next run's learning rate down half a decade (/ 10^0.5)",
    ),
    Binding(
        "L",
        "learning_rate(True)",
        "Learning rate up",
        group=LR,
        tooltip="next run's learning rate up half a decade (x 10^0.5)",
    ),
    Binding(
        "r",
        "reg(False)",
        "Reg down",
        group=REG,
        tooltip=f"next run's reg down half a decade ({knobs.REG_FLOOR:g} -> 0)",
    ),
    Binding(
        "R", "reg(True)", "Reg up", group=REG, tooltip=f"next run's reg up half a decade (0 -> {knobs.REG_FLOOR:g})"
    ),
    Binding("b", "batch(False)", "Batch halve", group=BATCH, tooltip="halve the next run's batch size (down to 1)"),
    Binding(
        "B",
        "batch(True)",
        "Batch double",
        group=BATCH,
        tooltip="double the next run's batch size (up to the training set)",
    ),
    Binding(
        "u",
        "use",
        "Use result",
        show=False,
        tooltip="make the last result the next run: a search's best trial, lr-find's rate or tune's preset",
    ),
    Binding("o", "open", "Open", show=False, tooltip="open another preset"),
    Binding("y", "log_scale", "Log y", show=False, tooltip="loss plot: toggle a log y axis"),
    Binding(
        "z",
        "ghosts",
        "Earlier runs",
        show=False,
        tooltip="loss plot: hide or show this session's earlier runs (+ x *, cut at this run's range)",
    ),
    Binding(
        "Z",
        "clear_ghosts",
        "Clear earlier runs",
        show=False,
        tooltip="loss plot: clear the earlier runs (records stay)",
    ),
    Binding(
        "a",
        "ghost_x",
        "Earlier runs' x",
        show=False,
        tooltip="loss plot: earlier runs by epoch, or by the fraction of their own run done",
    ),
]
# Scrolling the focused pane: the key, and the Widget method it calls.
SCROLLS = {
    "up": "scroll_up",
    "down": "scroll_down",
    "left": "scroll_left",
    "right": "scroll_right",
    "pageup": "scroll_page_up",
    "pagedown": "scroll_page_down",
    "home": "scroll_home",
    "end": "scroll_end",
}
FOCUS_KEYS = [
    Binding("tab", "app.focus_next", "Next pane", show=False, tooltip="move the focus to the next pane (marked)"),
    Binding("shift+tab", "app.focus_previous", "Previous pane", show=False, tooltip="move the focus back a pane"),
    *(Binding(key, f"scroll('{key}')", f"scroll {key}", show=False) for key in SCROLLS),
]
# The same keys as the help screen lists them: the scroll keys on one line.
FOCUS_HELP = [
    *FOCUS_KEYS[:2],
    Binding(
        ",".join(SCROLLS),
        "scroll('down')",
        "Scroll",
        key_display="↑ ↓ ← → PgUp PgDn Home End",
        tooltip="scroll the focused pane (every table and text pane scrolls)",
    ),
]
TAB_KEYS = [
    Binding(
        str(i),
        f"show_tab('{tab}')",
        f"{TAB_LABELS[tab][2:]} pane",
        show=False,
        tooltip=f"show the {TAB_LABELS[tab][2:].lower()} pane (behind tabs), or enlarge it (again: back)",
    )
    for i, tab in enumerate(TABS, start=1)
]

"""The `?` screen: the keys of the screen it opened over (from that screen's own
bindings, so it cannot drift from its footer) and what that screen shows."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

PANES = (
    (
        "Loss",
        "per-iteration loss (•), faint, with a smoothed line (⠉⠒) over it; earlier runs of this "
        "session (+) inside this run's range, by epoch or by the fraction of their own run (a), "
        "hidden with z, cleared with Z; x in epochs; y toggles log scale",
    ),
    (
        "Accuracy",
        "train and val accuracy per epoch; a wide gap means overfitting (raise reg), "
        "no gap and low accuracy means too little capacity",
    ),
    (
        "Weights and updates",
        "per parameter: weight and update mean/std/min/max, and "
        "norm(update)/norm(weight); the lecture's band is about 1e-3..1e-2",
    ),
    ("Sanity checks", "loss at init ~ ln(C), reg raises the loss, gradient check, overfit 20 examples"),
    ("First layer (v, 6)", "W1 as one picture per hidden unit, refreshed at most once a second"),
    ("Ratios (v, 7)", "log10 of norm(update)/norm(weight) per parameter over the run, the band shaded"),
    (
        "Hyperparameters",
        "this run beside the next, and every other key that differs from the preset; ● marks what the next run "
        "changes. reg (L2): the loss adds 0.5·reg·ΣW² over the weights (CS231n's assignment 1 adds reg·ΣW², so a "
        "reg copied from there is worth half as much here: double it)",
    ),
    (
        "Advice",
        "the advisor's diagnoses with the lecture's remedies, then the run's status and reason, "
        "failed checks' remedies and what the next run changes",
    ),
    ("Runs (h)", "every run of the run directory: sort, overlay curves, reuse a configuration"),
    (
        "Search (s)",
        "a coarse-to-fine search of the next run's setup over the preset's [search] ranges, "
        "recorded like `tui-trainer search`: the trials live, val acc over log10 learning rate "
        "and reg (x: exploded); x stops it, u makes the best trial the next run, f runs the next, "
        "finer search a finished one suggests",
    ),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", key_display="?"),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(
        self, bindings: list[Binding], name: str = "workbench", about: tuple[tuple[str, str], ...] = PANES
    ) -> None:
        super().__init__()
        self.app_bindings = bindings
        self.name_shown = name  # the screen it opened over
        self.about = about  # (part, what it shows) of that screen

    def compose(self) -> ComposeResult:
        keys = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False, show_header=False)
        keys.add_column(style="bold", no_wrap=True)
        keys.add_column()
        # Text, not markup: the descriptions name preset sections such as [search].
        for b in self.app_bindings:
            keys.add_row(Text(b.key_display or b.key), Text(b.tooltip or b.description))
        panes = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False, show_header=False)
        panes.add_column(style="bold", no_wrap=True)
        panes.add_column()
        for name, what in self.about:
            panes.add_row(Text(name), Text(what))
        with VerticalScroll(id="help-box") as box:
            box.border_title = f"tui-trainer · {self.name_shown} keys"
            box.border_subtitle = "escape closes"
            yield Static(keys)
            if self.about:
                yield Static(Text("\nPanes" if self.name_shown == "workbench" else "\nWhat it shows", style="bold"))
                yield Static(panes)
            yield Static(
                Text(
                    "\nChanges apply to the next run: try, look, adjust, run again. "
                    "ctrl+p opens the command palette with every action.",
                    style="dim",
                )
            )

    def action_close(self) -> None:
        self.dismiss(None)

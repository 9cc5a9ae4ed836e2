"""The `?` screen: the keys of the screen it opened over (from that screen's own
bindings, so it cannot drift from its footer) and what that screen shows.

`acting` is the one rule for which keys the help and the command palette list: those
the screen's check_action lets act now, as its footer shows them (a watcher's screens
leave out every key that trains or writes, so their help does too)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.actions import parse
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
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


# The line under the keys: what a change does, and where every action is.
NOTE = (
    "Changes apply to the next run: try, look, adjust, run again. ctrl+p opens the command palette with every action."
)
WATCH_NOTE = (
    "Read-only: nothing here trains, writes or stops a process; quitting leaves every run, search and tune "
    "running. ctrl+p opens the command palette with these actions."
)
WATCH_NO_PANES = {"Search (s)"}  # what a watcher's workbench has no key for
# What a pane shows when watched, where it differs: there is no next run, nor checks run here.
WATCH_PANES = {
    "Hyperparameters": "the watched run's values, as its config.toml recorded them. reg (L2): the loss adds "
    "0.5·reg·ΣW² over the weights (CS231n's assignment 1 adds reg·ΣW²: half as much here)",
    "Advice": "the advisor's diagnoses of the watched run with the lecture's remedies, then its status and "
    "reason, and what its files say (damaged lines, where its first layer comes from)",
    "Sanity checks": "not in a run's record: run tui-trainer check PRESET to see them",
}
WATCH_QUIT = "quit the watcher (what it watches goes on running)"  # q's words when watching


def own_keys(screen: Screen) -> list[Binding]:
    """A screen's keys: its class's bindings merged with its bases' as Textual merges them (a
    subclass's key replaces its base's), leaving out those Textual's own Screen binds."""
    keys: dict[str, Binding] = {}
    for cls in reversed(type(screen).__mro__):
        if not cls.__module__.startswith("textual."):
            keys.update((b.key, b) for b in cls.__dict__.get("BINDINGS", ()) if isinstance(b, Binding))
    return list(keys.values())


def acting(bindings: Iterable[Binding], node: DOMNode) -> list[Binding]:
    """The bindings whose action `node` (a screen, or the app for an `app.` action) lets act
    now: its check_action, the test the footer makes (False hides a key, None greys it out)."""
    kept = []
    for b in bindings:
        namespace, name, params = parse(b.action)
        target = node.app if namespace == "app" else node
        if target.check_action(name, params):
            kept.append(b)
    return kept


def watch_words(b: Binding) -> Binding:
    """A key as a watcher's help says it: q quits without stopping anything."""
    if b.action in ("quit", "app.quit"):
        return Binding(b.key, b.action, b.description, show=b.show, key_display=b.key_display, tooltip=WATCH_QUIT)
    return b


def keys_acting(
    screen: Screen, app_keys: list[Binding], workbench: list[Binding] | None = None, *, watching: bool = False
) -> list[Binding]:
    """The keys a screen's help and the palette list: those that act now (`acting`), the
    screen's own then the app's (`app_keys`) it does not bind itself; `workbench`: the
    workbench's keys as its help lists them (the scroll keys on one line), the app's among them."""
    if workbench is not None:
        keys = acting(workbench, screen)
    else:
        own = acting(own_keys(screen), screen)
        keys = [*own, *acting((b for b in app_keys if b.key not in {k.key for k in own}), screen.app)]
    return [watch_words(b) for b in keys] if watching else keys


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", key_display="?"),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(
        self,
        bindings: list[Binding],
        name: str = "workbench",
        about: tuple[tuple[str, str], ...] = PANES,
        note: str = NOTE,
    ) -> None:
        super().__init__()
        self.app_bindings = bindings
        self.name_shown = name  # the screen it opened over
        self.about = about  # (part, what it shows) of that screen
        self.note = note

    @classmethod
    def over(cls, screen: Screen, keys: list[Binding], *, workbench: bool, watching: bool) -> HelpScreen:
        """The help of `screen` (the workbench's: its panes, a watcher's without those it has no key for)."""
        note = WATCH_NOTE if watching else NOTE
        if workbench:
            panes = tuple(
                (name, WATCH_PANES.get(name, about) if watching else about)
                for name, about in PANES
                if not (watching and name in WATCH_NO_PANES)
            )
            return cls(keys, "workbench", panes, note)
        name = getattr(screen, "HELP_NAME", type(screen).__name__)
        return cls(keys, name, getattr(screen, "ABOUT", ()), note)

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
            yield Static(Text("\n" + self.note, style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)

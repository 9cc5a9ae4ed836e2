"""The `n` prompt: how many train seeds of the next run to train as one seed group.

    app.push_screen(SeedsPrompt(3), done)   # done(n) with the number asked for, or None

A number, not a cycle through a few: the user types the group they want (3 by default,
the last one asked for after that). Whether it is allowed is lab.session.seed_group's
rule, as for `tui-trainer run --seeds N`: the app asks it, and says why it refused."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

DEFAULT_SEEDS = 3


class SeedsPrompt(ModalScreen[int | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, seeds: int = DEFAULT_SEEDS) -> None:
        super().__init__()
        self.seeds = seeds

    def compose(self) -> ComposeResult:
        with Vertical(id="seeds-box") as box:
            box.border_title = "Seed group"
            yield Static(
                "Train the next run with this many train seeds, one after another, recorded as one group "
                "(the data split stays): the runs view shows the group as one row, mean ± std of best val acc.",
                id="seeds-about",
            )
            yield Input(str(self.seeds), type="integer", id="seeds-count")
            yield Static("enter starts · escape cancels · x stops the whole group", id="seeds-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if text.lstrip("-").isdigit():
            self.dismiss(int(text))
        else:
            self.notify("type a whole number of seeds (1 or more), or escape", severity="warning", timeout=3)

    def action_cancel(self) -> None:
        self.dismiss(None)

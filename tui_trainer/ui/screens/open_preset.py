"""The `o` picker: a shipped preset from the list, or a path to a .toml file."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from ...config import Preset, list_presets, load_preset
from ...errors import UserError
from ...usertext import textual_markup


class OpenPreset(ModalScreen[Preset | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        options, problems = [], []
        try:
            shipped = list_presets()
        except UserError as e:  # a broken shipped file should not hide the others' picker
            shipped, problems = [], [str(e)]
        for p in shipped:
            options.append(Option(f"{textual_markup(p.name)}  [dim]{textual_markup(p.description)}[/]", id=p.name))
        with Vertical(id="open-box") as box:
            box.border_title = "Open a preset"
            yield OptionList(*options, id="open-list")
            yield Input(placeholder="or a path to a .toml file, then enter", id="open-path")
            yield Static(
                "\n".join(map(textual_markup, problems)), id="open-error", classes="-shown" if problems else ""
            )
            yield Static("enter opens · tab moves · escape cancels", id="open-hint")

    def _open(self, name_or_path: str) -> None:
        try:
            preset = load_preset(name_or_path)
        except UserError as e:
            error = self.query_one("#open-error", Static)
            error.update(textual_markup(e))
            error.add_class("-shown")
            return
        self.dismiss(preset)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        assert event.option.id is not None  # every option is made with id=the preset's name
        self._open(event.option.id)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self._open(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)

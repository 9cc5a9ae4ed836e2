"""The `o` picker: a shipped preset from the list, or a path to a .toml file.

The list starts on the preset open now when its data are on disk, else on the
first that runs offline: enter at once never opens one that needs a download
(those say so in the list)."""

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
from ..texts import missing_data


class OpenPreset(ModalScreen[Preset | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: str = "") -> None:
        super().__init__()
        self.current = current  # the preset open now: the list starts on it when it runs offline
        self.start = 0  # the option highlighted first

    def compose(self) -> ComposeResult:
        options, problems = [], []
        try:
            shipped = list_presets()
        except UserError as e:  # a broken shipped file should not hide the others' picker
            shipped, problems = [], [str(e)]
        offline = [missing_data(p) is None for p in shipped]
        for p, here in zip(shipped, offline):
            fetch = "" if here else f"  [dim](needs tui-trainer data fetch {textual_markup(p.data.dataset)})[/]"
            options.append(
                Option(f"{textual_markup(p.name)}{fetch}  [dim]{textual_markup(p.description)}[/]", id=p.name)
            )
        names = [p.name for p in shipped]
        if self.current in names and offline[names.index(self.current)]:
            self.start = names.index(self.current)
        else:
            self.start = offline.index(True) if True in offline else 0
        with Vertical(id="open-box") as box:
            box.border_title = "Open a preset"
            yield OptionList(*options, id="open-list")
            yield Input(placeholder="or a path to a .toml file, then enter", id="open-path")
            yield Static(
                "\n".join(map(textual_markup, problems)), id="open-error", classes="-shown" if problems else ""
            )
            yield Static("enter opens · tab moves · escape cancels", id="open-hint")

    def on_mount(self) -> None:
        options = self.query_one("#open-list", OptionList)
        if options.option_count:
            options.highlighted = self.start

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

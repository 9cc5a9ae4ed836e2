"""The `e` form: every preset key a student changes in the lecture, grouped by
section, validated by config.py.

Whatever the form cannot parse, or `Preset.replace` refuses (a PresetError
naming the key and what is allowed), shows under that field, and the form
stays open (scrolled to it) until the values are good or it is cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ...config import INITS, LOSSES, UPDATES, Preset
from ...errors import PresetError
from ...usertext import textual_markup
from ..widgets.hyperparams import flat, shown


@dataclass(frozen=True)
class Field:
    key: str  # the dotted preset key
    label: str
    kind: str  # float, int, sizes (a list of ints), steps (a list of words), choice, bool
    choices: tuple[str, ...] = ()
    hint: str = ""  # the placeholder

    @property
    def id(self) -> str:
        return "f-" + self.key.replace(".", "-").replace("_", "-")


# In the preset's order of sections; what the lecture changes from run to run.
FIELDS = (
    Field("data.num_train", "training examples", "int"),
    Field("data.preprocess", "preprocess", "steps", hint="e.g. mean, std or pca:50, whiten (empty: none)"),
    Field("model.hidden", "hidden sizes", "sizes", hint="e.g. 100, 50 (empty: linear)"),
    Field("model.loss", "loss", "choice", LOSSES),
    Field("model.init", "init", "choice", INITS),
    Field("model.init_std", "init std", "float", hint="the gaussian init's scale, e.g. 1e-2"),
    Field("train.update", "update rule", "choice", UPDATES),
    Field("train.learning_rate", "learning rate", "float"),
    Field("train.momentum", "momentum", "float", hint="momentum and nesterov, in [0, 1)"),
    Field("train.learning_rate_decay", "lr decay", "float", hint="per epoch, in (0, 1]"),
    Field("train.reg", "reg", "float"),
    Field("train.batch_size", "batch size", "int"),
    Field("train.epochs", "epochs", "int"),
    Field("train.sample_batches", "batches", "bool", ("mini-batch", "full batch")),
    Field("train.explode_factor", "explode factor", "float", hint="stop when loss > factor x initial loss"),
)
SECTION_TITLES = {"data": "data", "model": "model", "train": "training"}


def parse_form(values: dict[str, str]) -> dict[str, Any]:
    """Form text -> dotted preset keys. FieldError names the field and what it wants."""
    out: dict[str, Any] = {}
    for f in FIELDS:
        out[f.key] = parse_field(f, values[f.key].strip())
    return out


class FieldError(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def parse_field(f: Field, text: str) -> Any:
    if f.kind == "float":
        try:
            return float(text)
        except ValueError:
            raise FieldError(f.key, f"{f.label}: {text!r} is not a number (e.g. 1e-3)") from None
    if f.kind == "int":
        try:
            return int(text)
        except ValueError:
            raise FieldError(f.key, f"{f.label}: {text!r} is not a whole number") from None
    if f.kind == "sizes":
        try:
            return [int(t) for t in _words(text)]
        except ValueError:
            raise FieldError(f.key, f"{f.label}: {text!r}: give layer sizes like 100, 50 (empty: linear)") from None
    if f.kind == "steps":
        return _words(text)
    if f.kind == "bool":
        return text == f.choices[0]
    return text


def _words(text: str) -> list[str]:
    return [t for t in text.replace(",", " ").split() if t]


def initial_text(f: Field, preset: Preset) -> str:
    value = flat(preset)[f.key]
    if f.kind == "bool":
        return f.choices[0] if value else f.choices[1]
    if f.kind in ("sizes", "steps"):
        return ", ".join(str(v) for v in value)
    if f.kind == "float":
        return shown(value)
    return str(value)


class EditForm(ModalScreen[Preset | None]):
    """Returns the next run's preset, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "apply", "Apply"),
    ]

    def __init__(self, preset: Preset, n_train: int | None = None) -> None:
        super().__init__()
        self.preset = preset
        self.n_train = n_train

    def compose(self) -> ComposeResult:
        p = self.preset
        with Vertical(id="edit-box") as box:
            box.border_title = "Next run"
            # Scrolls to the focused field by itself; the first field, not the scroller, takes the focus.
            with VerticalScroll(id="edit-fields", can_focus=False):
                section = ""
                for f in FIELDS:
                    if f.key.split(".")[0] != section:
                        section = f.key.split(".")[0]
                        yield Static(SECTION_TITLES[section], classes="edit-section")
                    with Grid(classes="edit-row"):
                        yield Label(f.label, classes="field-label")
                        if f.kind in ("choice", "bool"):
                            yield Select(
                                [(c, c) for c in f.choices],
                                value=initial_text(f, p),
                                allow_blank=False,
                                id=f.id,
                                compact=True,
                            )
                        else:
                            yield Input(
                                initial_text(f, p), id=f.id, select_on_focus=True, compact=True, placeholder=f.hint
                            )
                    yield Static("", id=f"{f.id}-error", classes="field-error")
            yield Static("", id="edit-error")
            yield Static("enter or ctrl+s applies · escape cancels · tab moves between fields", id="edit-hint")
            with Horizontal(id="edit-buttons"):
                yield Button("Apply", variant="primary", id="apply", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def values(self) -> dict[str, str]:
        out = {}
        for f in FIELDS:
            w = self.query_one(f"#{f.id}")
            assert isinstance(w, (Input, Select))  # compose makes each field one or the other
            out[f.key] = str(w.value)
        return out

    def action_apply(self) -> None:
        for shown_error in self.query(".field-error.-shown"):
            shown_error.remove_class("-shown")
        self.query_one("#edit-error").remove_class("-shown")
        try:
            changes = parse_form(self.values())
            if self.n_train is not None and changes["train.batch_size"] > min(self.n_train, changes["data.num_train"]):
                n = min(self.n_train, changes["data.num_train"])
                raise FieldError(
                    "train.batch_size",
                    f"batch size: {changes['train.batch_size']} is more than the {n} training examples",
                )
            new = self.preset.replace(**changes)
        except FieldError as e:
            self._show_error(str(e), e.key)
            return
        except PresetError as e:
            message = _without_source(str(e), self.preset.source)
            self._show_error(message, next((f.key for f in FIELDS if message.startswith(f.key + ":")), None))
            return
        self.dismiss(new)

    def _show_error(self, message: str, key: str | None) -> None:
        """Under the field it names, which takes the focus and is scrolled to; else under the form."""
        field = next((f for f in FIELDS if f.key == key), None)
        at = self.query_one("#edit-error" if field is None else f"#{field.id}-error", Static)
        at.update(textual_markup(message))
        at.add_class("-shown")
        if field is not None:
            self.query_one(f"#{field.id}").focus()
            self.call_after_refresh(at.scroll_visible, animate=False)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_apply() if event.button.id == "apply" else self.action_cancel()


def _without_source(message: str, source: str) -> str:
    """PresetError messages start with the preset's path; in the form the key is what matters."""
    prefix = f"{source}: "
    return message[len(prefix) :] if message.startswith(prefix) else message

"""The `e` form: the next run's hyperparameters, validated by config.py.

Whatever the form cannot parse, or `Preset.replace` refuses (a PresetError
naming the key and what is allowed), shows under the fields; the form stays
open until the values are good or it is cancelled."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ...config import UPDATES, Preset
from ...errors import PresetError
from ...formatting import hyperparameter
from ...usertext import textual_markup


def parse_form(values: dict[str, str]) -> dict[str, Any]:
    """Form text -> dotted preset keys; ValueError names the field and what it wants."""
    out: dict[str, Any] = {}
    for key, label, kind in FIELDS:
        text = values[key].strip()
        if kind == "float":
            try:
                out[key] = float(text)
            except ValueError:
                raise ValueError(f"{label}: {text!r} is not a number (e.g. 1e-3)") from None
        elif kind == "int":
            try:
                out[key] = int(text)
            except ValueError:
                raise ValueError(f"{label}: {text!r} is not a whole number") from None
        elif kind == "sizes":
            parts = [t for t in text.replace(",", " ").split() if t]
            try:
                out[key] = [int(t) for t in parts]
            except ValueError:
                raise ValueError(
                    f"{label}: {text!r}: give layer sizes like 100, 50 (empty: a linear classifier)"
                ) from None
        else:
            out[key] = text
    return out


FIELDS = (
    ("train.learning_rate", "learning rate", "float"),
    ("train.reg", "reg", "float"),
    ("train.batch_size", "batch size", "int"),
    ("train.epochs", "epochs", "int"),
    ("train.update", "update rule", "choice"),
    ("model.hidden", "hidden sizes", "sizes"),
)


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
        initial = {
            "train.learning_rate": hyperparameter(p.train.learning_rate),
            "train.reg": hyperparameter(p.train.reg),
            "train.batch_size": str(p.train.batch_size),
            "train.epochs": str(p.train.epochs),
            "model.hidden": ", ".join(str(h) for h in p.model.hidden),
        }
        with Vertical(id="edit-box") as box:
            box.border_title = "Next run"
            with Grid(id="edit-grid"):
                for key, label, kind in FIELDS:
                    yield Label(label, classes="field-label")
                    if kind == "choice":
                        yield Select(
                            [(u, u) for u in UPDATES],
                            value=p.train.update,
                            allow_blank=False,
                            id=_id(key),
                            compact=True,
                        )
                    else:
                        yield Input(
                            initial[key],
                            id=_id(key),
                            select_on_focus=True,
                            compact=True,
                            placeholder="e.g. 100, 50 (empty: linear)" if kind == "sizes" else "",
                        )
            yield Static("", id="edit-error")
            yield Static("enter or ctrl+s applies · escape cancels · tab moves between fields", id="edit-hint")
            with Horizontal(id="edit-buttons"):
                yield Button("Apply", variant="primary", id="apply", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def values(self) -> dict[str, str]:
        out = {}
        for key, _, _kind in FIELDS:
            w = self.query_one(f"#{_id(key)}")
            assert isinstance(w, (Input, Select))  # compose makes each field one or the other
            out[key] = str(w.value)
        return out

    def action_apply(self) -> None:
        error = self.query_one("#edit-error", Static)
        try:
            changes = parse_form(self.values())
            if self.n_train is not None and changes["train.batch_size"] > self.n_train:
                raise ValueError(
                    f"batch size: {changes['train.batch_size']} is more than the {self.n_train} training examples"
                )
            new = self.preset.replace(**changes)
        except (ValueError, PresetError) as e:
            error.update(textual_markup(_without_source(str(e), self.preset.source)))
            error.add_class("-shown")
            return
        self.dismiss(new)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_apply() if event.button.id == "apply" else self.action_cancel()


def _id(key: str) -> str:
    return "f-" + key.replace(".", "-").replace("_", "-")


def _without_source(message: str, source: str) -> str:
    """PresetError messages start with the preset's path; in the form the key is what matters."""
    prefix = f"{source}: "
    return message[len(prefix) :] if message.startswith(prefix) else message

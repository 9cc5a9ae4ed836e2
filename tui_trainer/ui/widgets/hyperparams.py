"""The hyperparameters pane: this run's values beside the next run's, with the
ones that will change marked (changes made by keys or the form apply to the
next run, as the lecture's workflow goes: try, look, adjust, run again).

The six the keys change are always listed; below them, every other preset key
whose value in this run or the next differs from the opened preset's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from ...config import Preset
from ...formatting import hyperparameter
from ...usertext import markup

# (name, preset key, the keys that change it, its value as shown)
ROWS: tuple[tuple[str, str, str, Callable[[Preset], str]], ...] = (
    ("learning rate", "train.learning_rate", "l L", lambda p: hyperparameter(p.train.learning_rate)),
    ("reg", "train.reg", "r R", lambda p: hyperparameter(p.train.reg)),
    ("batch size", "train.batch_size", "b B", lambda p: str(p.train.batch_size)),
    ("epochs", "train.epochs", "e", lambda p: str(p.train.epochs)),
    ("update", "train.update", "e", lambda p: p.train.update),
    ("hidden", "model.hidden", "e", lambda p: "[" + ", ".join(str(h) for h in p.model.hidden) + "]"),
)
ROW_KEYS = {key for _, key, _, _ in ROWS}
SECTIONS = ("data", "model", "train")  # the search section shapes searches, not a run


def flat(p: Preset) -> dict[str, Any]:
    """The preset's run keys as dotted names: {"data.num_train": 1000, ...}."""
    d = p.to_dict()
    return {f"{section}.{k}": v for section in SECTIONS for k, v in d[section].items()}


def shown(value: Any) -> str:
    """A preset value as the pane shows it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    return str(value)


def other_keys(base: Preset, *others: Preset) -> list[str]:
    """The dotted keys beyond ROWS whose value in any of `others` differs from `base`'s, in preset order."""
    b = flat(base)
    differ = {k for o in others for k, v in flat(o).items() if b.get(k) != v}
    return [k for k in b if k in differ and k not in ROW_KEYS]


def differences(a: Preset, b: Preset) -> list[tuple[str, str, str]]:
    """(name, a's value, b's value) for every run key that differs: ROWS by their names, the rest by key."""
    out = [(name, get(a), get(b)) for name, _, _, get in ROWS if get(a) != get(b)]
    fa, fb = flat(a), flat(b)
    out += [(k, shown(fa[k]), shown(fb[k])) for k in other_keys(a, b)]
    return out


class Hyperparams(Widget):
    COMPONENT_CLASSES = {"changed", "dim"}
    TITLE = "Hyperparameters"  # for the pane around it (it scrolls inside one)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.current: Preset | None = None
        self.next: Preset | None = None
        self.base: Preset | None = None
        self.label = "this run"
        self._extra: list[str] = []
        self.read_only = False  # a run another process trains (`tui-trainer watch`): its values only

    def show(
        self, current: Preset | None, next_: Preset | None, label: str = "this run", base: Preset | None = None
    ) -> None:
        """`current`: the running (or last) run's preset; before any run, the opened preset, labelled so.
        `base`: the opened preset; keys beyond ROWS show where this run or the next differs from it."""
        self.current, self.next, self.label, self.base = current, next_, label, base
        extra = self.extra_keys()
        relayout = extra != self._extra  # its height follows its rows
        self._extra = extra
        self.refresh(layout=relayout)

    def extra_keys(self) -> list[str]:
        if self.next is None:
            return []
        base = self.base or self.current or self.next
        return other_keys(base, *[p for p in (self.current, self.next) if p is not None])

    def render(self) -> Table | Text:
        return self._table()

    def get_content_width(self, container: Size, viewport: Size) -> int:
        """The table's natural width, not the pane's: a narrow pane scrolls it sideways
        instead of cutting its columns."""
        console = self.app.console
        return Measurement.get(console, console.options.update_width(1000), self._table()).maximum

    def changed(self) -> list[str]:
        """Names of the rows whose next value differs from this run's (ROWS by name, the rest by key)."""
        if self.current is None or self.next is None:
            return []
        return [name for name, _, _ in differences(self.current, self.next)]

    def _table(self) -> Table | Text:
        if self.next is None:
            return Text("no preset", style="dim")
        changed_style = self.get_component_rich_style("changed", partial=True)
        dim = self.get_component_rich_style("dim", partial=True)
        t = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, header_style="bold")
        t.add_column("", no_wrap=True)
        t.add_column(self.label, no_wrap=True)
        if not self.read_only:
            t.add_column("next run", no_wrap=True)
            t.add_column("keys", style=dim, no_wrap=True)
        changed = set(self.changed())
        rows: list[tuple[str, str, Callable[[Preset], str]]] = [(name, hint, get) for name, _, hint, get in ROWS]
        rows += [(key, "e", _getter(key)) for key in self._extra]
        for name, hint, get in rows:
            now = markup(get(self.current)) if self.current else "-"  # a value may be a path: user text
            nxt = get(self.next)
            if self.read_only:
                t.add_row(name, now)
                continue
            t.add_row(name, now, Text(f"{nxt} ●", style=changed_style) if name in changed else markup(nxt), hint)
        return t


def _getter(key: str) -> Callable[[Preset], str]:
    return lambda p: shown(flat(p)[key])

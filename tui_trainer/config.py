"""Presets: TOML -> validated, frozen dataclasses shared by every face.

A preset holds only what it changes; every key has its default here, in one
place. Unknown keys, wrong types and values out of range are `PresetError`s
that name the file and the dotted key, and suggest the closest valid key.

    preset = load_preset("default", overrides=["train.learning_rate=1e-4"])
    preset.train.learning_rate   # 0.0001
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import tomllib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .errors import PresetError
from .searched import CHOICE, SEARCHED, Searched
from .usertext import one_line


def shipped(folder: str) -> Path:
    """A folder the project ships beside its code: "presets" or "data". An installed wheel holds it
    inside the package (tui_trainer/presets); a checkout, and an editable install of one, at the top
    of the repository (presets/), where pyproject.toml's package-dir takes it from."""
    package = Path(__file__).resolve().parent
    installed = package / folder
    return installed if installed.is_dir() else package.parent / folder


PRESETS_DIR = shipped("presets")

DATASETS = ("mnist-5k", "digits", "cifar10", "mnist", "fashion-mnist", "npz", "spiral")
FILE_DATASETS = ("cifar10", "mnist", "fashion-mnist", "npz")
LOSSES = ("softmax", "svm")
INITS = ("gaussian", "xavier", "he")
DTYPES = ("float32", "float64")
UPDATES = ("sgd", "momentum", "nesterov", "rmsprop", "adam")
DEVICES = ("cpu", "gpu", "auto")  # where a run trains: engine/backend.py
_PREPROCESS_RE = re.compile(r"^(mean|std|whiten|pca:(\d+))$")
T = TypeVar("T")


# --- the schema --------------------------------------------------------------
# Each field carries its own constraint in metadata["check"]: a function that
# returns None when the value is fine, else a phrase saying what is allowed.
Check = Callable[[Any], str | None]


def _choice(options: Iterable[str]) -> Check:
    options = tuple(options)
    return lambda v: None if v in options else "one of " + ", ".join(repr(o) for o in options)


def _rule(test: Callable[[Any], bool], expected: str) -> Check:
    return lambda v: None if test(v) else expected


_positive = _rule(lambda v: v > 0, "a number > 0")
_non_negative = _rule(lambda v: v >= 0, "a number >= 0")
_in_open_unit = _rule(lambda v: 0 <= v < 1, "a number in [0, 1)")
_decay = _rule(lambda v: 0 < v <= 1, "a number in (0, 1]")
_explode = _rule(lambda v: v > 1, "a number > 1")
_hidden = _rule(lambda v: all(h >= 1 for h in v), "a list of layer sizes, each >= 1 (empty for a linear classifier)")
LOG_LIMITS = (1e-100, 1e100)  # a log range a search pads by decades (lab/search/space.py) stays a finite float
_LOG_RANGE = f"[low, high] with {LOG_LIMITS[0]:g} <= low < high <= {LOG_LIMITS[1]:g} (sampled log-uniformly)"
_log_range = _rule(lambda v: len(v) == 2 and LOG_LIMITS[0] <= v[0] < v[1] <= LOG_LIMITS[1], _LOG_RANGE)
_int_choices = _rule(lambda v: all(x >= 1 for x in v), "a list of integers >= 1 to choose from (empty: not searched)")
# The spread of a spiral arm's angle, in radians: past a few it is uniform noise, and past float32's range infinity.
_noise = _rule(lambda v: 0 <= v <= 1000, "a number from 0 to 1000 (the angle's spread in radians; 0.2 is usual)")
MAX_TRIALS = 10_000  # per stage, sampled before it starts: a billion would fill the memory before the first ran


def _at_least(lo: int) -> Check:
    return lambda v: None if v >= lo else f"an integer >= {lo}"


def _between(lo: int, hi: int) -> Check:
    return lambda v: None if lo <= v <= hi else f"an integer from {lo} to {hi:,}"


MAX_CLASSES = 10_000  # datasets/limits.py holds every data set to the same


def _preprocess(v: tuple[str, ...]) -> str | None:
    for step in v:
        m = _PREPROCESS_RE.match(step)
        if not m or (m.group(2) is not None and int(m.group(2)) < 1):
            return 'a list of "mean", "std", "pca:K" (K >= 1), "whiten"'
    if "whiten" in v and v.index("whiten") != len(v) - 1:
        return '"whiten" as the last step'
    if sum(step.startswith("pca:") for step in v) > 1:
        return 'at most one "pca:K" step'
    return None


def _range_spec(s: Searched) -> tuple[str, Check]:
    """A searched key's range in [search]: its type and check ([] allowed where it has no default)."""
    if s.sample == CHOICE:
        return "tuple[int, ...]", _int_choices
    return "tuple[float, ...]", _log_range if s.default else lambda v: _log_range(v) if v else None


def _f(default: T, check: Check | None = None, **kw: Any) -> T:
    """A schema field: its default and its check (and any other metadata)."""
    return field(default=default, metadata={"check": check, **kw})


@dataclass(frozen=True)
class DataConfig:
    dataset: str = _f("mnist-5k", _choice(DATASETS))
    path: str = _f("")
    num_train: int = _f(4000, _at_least(1))
    num_val: int = _f(500, _at_least(1))
    num_test: int = _f(500, _at_least(0))
    preprocess: tuple[str, ...] = _f(("mean",), _preprocess)
    seed: int = _f(0, _at_least(0))
    classes: int = _f(3, _between(2, MAX_CLASSES))
    noise: float = _f(0.2, _noise)


@dataclass(frozen=True)
class ModelConfig:
    hidden: tuple[int, ...] = _f((50,), _hidden)
    loss: str = _f("softmax", _choice(LOSSES))
    init: str = _f("gaussian", _choice(INITS))
    init_std: float = _f(1e-4, _positive)
    dtype: str = _f("float32", _choice(DTYPES))


@dataclass(frozen=True)
class TrainConfig:
    update: str = _f("momentum", _choice(UPDATES))
    learning_rate: float = _f(1e-3, _positive)
    momentum: float = _f(0.9, _in_open_unit)
    learning_rate_decay: float = _f(0.95, _decay)
    reg: float = _f(1e-3, _non_negative)
    batch_size: int = _f(200, _at_least(1))
    epochs: int = _f(10, _at_least(1))
    sample_batches: bool = _f(True)
    explode_factor: float = _f(3.0, _explode)
    stats_every: int = _f(10, _at_least(1))
    seed: int = _f(0, _at_least(0))
    # "gpu" trains with CuPy on an NVIDIA GPU (pip install 'tui-trainer[gpu]');
    # "auto" takes the GPU when there is one, else the CPU.
    device: str = _f("cpu", _choice(DEVICES))


@dataclass(frozen=True)
class Stage:
    trials: int = _f(10, _between(1, MAX_TRIALS))
    epochs: int = _f(1, _at_least(1))


@dataclass(frozen=True)
class SearchConfig:
    # Each searched key's range by name (SEARCHED: every key, () where not searched),
    # written in TOML as a key of [search] itself: `learning_rate = [1e-6, 1e-1]`.
    ranges: dict[str, tuple[float, ...]] = field(default_factory=lambda: {k: s.default for k, s in SEARCHED.items()})
    stages: tuple[Stage, ...] = _f((Stage(30, 1), Stage(10, 5)), lambda v: None if v else "at least one stage")
    keep: int = _f(5, _at_least(1))
    seed: int = _f(0, _at_least(0))
    # Seeds each leader (its best LEADERS trials) reruns with at the end, its own included, so the
    # best is chosen by the mean and a lead within seed noise says so; 0 or 1: off (one seed each).
    leader_seeds: int = _f(0, _at_least(0))


@dataclass(frozen=True)
class TuneConfig:
    """`tui-trainer tune`'s budget: trials and epochs per stage. The defaults
    finish on mnist-5k well within a minute on 2 cores
    (5-7 s on a busy shared machine)."""

    coarse_trials: int = _f(30, _between(1, MAX_TRIALS))
    coarse_epochs: int = _f(2, _at_least(1))
    fine_trials: int = _f(10, _between(1, MAX_TRIALS))
    fine_epochs: int = _f(10, _at_least(1))
    final_epochs: int = _f(20, _at_least(1))
    # The best fine configurations continued to final_epochs; the best of them is the final run.
    final_candidates: int = _f(3, _between(1, MAX_TRIALS))
    # Train seeds the final stage's leaders (its best candidates, at most three) each run with at
    # final_epochs, their own included: the final run is the best mean, and a lead within seed
    # noise says so; 0 or 1: off (each candidate's one run decides).
    leader_seeds: int = _f(0, _at_least(0))


@dataclass(frozen=True)
class Preset:
    name: str = "unnamed"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    # Where the preset came from, for messages; not part of the contract.
    source: str = field(default="<preset>", compare=False)
    # The dotted keys whose values came from `--set`, for messages; not part of the contract.
    set_keys: frozenset[str] = field(default=frozenset(), compare=False)

    def where(self, dotted: str) -> str:
        """Where a key's value came from, for a message: `--set data.preprocess`
        for one given on the command line, `FILE: data.preprocess` for one from the file."""
        return _where(SET_SOURCE if dotted in self.set_keys else self.source, dotted)

    def replace(self, **dotted: Any) -> Preset:
        """A validated copy with dotted keys changed: `p.replace(**{"train.reg": 0.0})`."""
        raw = to_dict(self)
        for key, value in dotted.items():
            _set_dotted(raw, key, value, self.source)
        return dataclasses.replace(from_dict(raw, self.source), set_keys=self.set_keys - dotted.keys())

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "search": SearchConfig,
    "tune": TuneConfig,
}
TOP_LEVEL = ("name", "description")


# --- loading -----------------------------------------------------------------


def list_presets() -> list[Preset]:
    """The shipped presets (the presets/ folder), by name."""
    return [load_preset(p) for p in sorted(PRESETS_DIR.glob("*.toml"))]


def resolve_preset_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists() or "/" in str(name_or_path):
        if p.is_dir():
            raise PresetError(f"{p}: a folder, not a preset file; give the path of a .toml file or a preset's name")
        if not p.is_file():
            raise PresetError(f"{p}: no such preset file" if not p.exists() else f"{p}: not a regular file")
        return p
    shipped = PRESETS_DIR / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    names = sorted(q.stem for q in PRESETS_DIR.glob("*.toml"))
    close = difflib.get_close_matches(str(name_or_path), names, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}? Shipped" if close else "; shipped"
    raise PresetError(
        f"unknown preset {str(name_or_path)!r}{hint} presets: {', '.join(names)}; or give the path to a .toml file"
    )


def load_preset(name_or_path: str | Path, overrides: Iterable[str] = ()) -> Preset:
    """Read a preset by shipped name or path, apply `--set KEY=VALUE` overrides, validate.

    A file without a `name` is named after the file (`my-run.toml` -> "my-run").
    """
    path = resolve_preset_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte order mark, as some editors write, is no error
    except OSError as e:
        raise PresetError(f"{path}: cannot read preset: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise PresetError(
            f"{path}: cannot read preset: not UTF-8 text (byte {e.start}); a preset is TOML in UTF-8"
        ) from None
    return loads_preset(text, source=str(path), overrides=overrides, default_name=path.stem)


def loads_preset(
    text: str, source: str = "<preset>", overrides: Iterable[str] = (), default_name: str | None = None
) -> Preset:
    """Parse and validate preset text. Problems in the text name `source`; problems
    in an override name `--set` and the key, so the user knows which one to fix."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PresetError(f"{source}: not valid TOML: {e}") from None
    except RecursionError:  # arrays or tables nested hundreds deep
        raise PresetError(f"{source}: not valid TOML for a preset: nested too deep") from None
    if default_name and "name" not in raw:
        raw["name"] = default_name
    set_keys: set[str] = set()
    for item in overrides:
        key, value = parse_override(item)
        _set_dotted(raw, key, value, SET_SOURCE, file_source=source)
        _check_one(key, value)
        set_keys.add(key)
    preset = from_dict(raw, source)
    return dataclasses.replace(preset, set_keys=frozenset(set_keys)) if set_keys else preset


def parse_override(item: str) -> tuple[str, Any]:
    """`train.learning_rate=1e-4` -> ("train.learning_rate", 0.0001).

    The value is read as TOML; a bare word that is not TOML (`digits`) is a string.
    """
    if "=" not in item:
        raise PresetError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.learning_rate=1e-4")
    key, text = item.split("=", 1)
    key, text = key.strip(), text.strip()
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    except RecursionError:
        raise PresetError(
            f"--set {key}: the value is nested too deep; a preset value is a number, a word or a list"
        ) from None
    return key, value


SET_SOURCE = "--set"  # the `source` of a value that came from the command line


def _set_dotted(raw: dict[str, Any], key: str, value: Any, source: str, file_source: str | None = None) -> None:
    parts = key.split(".")
    if len(parts) == 1:
        if key not in TOP_LEVEL:
            raise PresetError(_unknown(source, key, key, [*TOP_LEVEL, *(f"{s}.KEY" for s in SECTIONS)]))
        raw[key] = value
        return
    if len(parts) > 2:
        raise PresetError(
            f"{_where(source, key)}: unknown key; keys have two parts, SECTION.KEY, e.g. train.learning_rate"
        )
    if parts[0] not in SECTIONS:
        raise PresetError(_unknown(source, key, parts[0], list(SECTIONS)))
    section, name = parts
    allowed = list(_keys(SECTIONS[section]))
    if name not in allowed:
        raise PresetError(_unknown(source, key, name, allowed))
    table = raw.setdefault(section, {})
    if not isinstance(table, dict):
        raise PresetError(f"{file_source or source}: [{section}] must be a table, got {_show(table)}")
    table[name] = value


def _check_one(key: str, value: Any) -> None:
    """Validate one overridden value on its own, so its error names --set, not the file."""
    if "." not in key:
        _check_text(SET_SOURCE, key, value)
        return
    section, name = key.split(".", 1)
    _build(SECTIONS[section], {name: value}, section, SET_SOURCE)


def _check_text(source: str, key: str, value: Any) -> None:
    """name and description are strings; the name, shown in every face and in folder
    names, is plain text on one line: no escape sequence may ride along (usertext.py)."""
    if not isinstance(value, str):
        raise PresetError(f"{_where(source, key)}: expected a string, got {_show(value)}")
    if key == "name" and one_line(value) != value:
        raise PresetError(
            f"{_where(source, key)}: holds control characters, escape sequences or line breaks; "
            "expected plain text on one line"
        )


def from_dict(raw: Mapping[str, Any], source: str = "<preset>") -> Preset:
    """Validate a parsed TOML document into a Preset; every problem is a PresetError."""
    if not isinstance(raw, Mapping):
        raise PresetError(f"{source}: a preset must be a TOML table")
    kwargs: dict[str, Any] = {"source": source}
    for key, value in raw.items():
        if key in TOP_LEVEL:
            _check_text(source, key, value)
            kwargs[key] = value
        elif key in SECTIONS:
            if not isinstance(value, Mapping):
                raise PresetError(f"{source}: [{key}] must be a table, got {_show(value)}")
            kwargs[key] = _build(SECTIONS[key], value, key, source)
        else:
            raise PresetError(_unknown(source, key, key, list(TOP_LEVEL) + list(SECTIONS)))
    preset = Preset(**kwargs)
    _check_whole(preset)
    return preset


def _keys(cls: type) -> dict[str, tuple[str, Check | None]]:
    """A section's keys in TOML, (type, check) by name: [search] has a range per SEARCHED key too."""
    keys = {f.name: (str(f.type), f.metadata.get("check")) for f in dataclasses.fields(cls) if f.name != "ranges"}
    if cls is SearchConfig:
        keys = {**{name: _range_spec(s) for name, s in SEARCHED.items()}, **keys}
    return keys


def _build(cls: type, table: Mapping[str, Any], prefix: str, source: str) -> Any:
    """An instance of the section or Stage class `cls` from a TOML table, each value coerced and checked."""
    keys = _keys(cls)
    values = {}
    for name, value in table.items():
        dotted = f"{prefix}.{name}"
        if name not in keys:
            raise PresetError(_unknown(source, dotted, name, list(keys)))
        t, check = keys[name]
        values[name] = _coerce(t, value, dotted, source)
        problem = check(values[name]) if check else None
        if problem:
            raise PresetError(f"{_where(source, dotted)}: {_show(value)} is not allowed; expected {problem}")
    if cls is SearchConfig:
        values["ranges"] = {name: values.pop(name, s.default) for name, s in SEARCHED.items()}
    return cls(**values)


def _coerce(t: str, value: Any, dotted: str, source: str) -> Any:
    """Check the TOML value against the key's declared type."""

    def bad(expected: str) -> PresetError:
        return PresetError(f"{_where(source, dotted)}: expected {expected}, got {_show(value)}")

    if t == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if t == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if t == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        if not math.isfinite(value):
            raise bad("a finite number")
        return float(value)
    if t == "str":
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if t == "tuple[str, ...]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return tuple(value)
    if t == "tuple[int, ...]":
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise bad("a list of integers")
        return tuple(value)
    if t == "tuple[float, ...]":
        if not isinstance(value, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
        ):
            raise bad("a list of numbers")
        return tuple(float(v) for v in value)
    if t == "tuple[Stage, ...]":
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise bad("a list of tables like { trials = 30, epochs = 1 }")
        return tuple(_build(Stage, v, f"{dotted}[{i}]", source) for i, v in enumerate(value))
    raise AssertionError(f"no coercion for {t}")  # a schema bug, not user input


def _check_whole(p: Preset) -> None:
    """Constraints between keys. A public file data set without a path is read
    from where `tui-trainer data fetch` puts it; an npz file has no such place."""
    d = p.data
    if d.dataset == "npz" and not d.path:
        raise PresetError(f"{p.source}: data.path: the 'npz' data set needs a path to its file")


# --- writing -----------------------------------------------------------------


def to_dict(p: Preset) -> dict[str, Any]:
    """The resolved preset as plain TOML-able data (lists, not tuples)."""
    out: dict[str, Any] = {"name": p.name, "description": p.description}
    for section in SECTIONS:
        values = dataclasses.asdict(getattr(p, section))
        out[section] = _plain({**values.pop("ranges", {}), **values})  # [search]: each range a key of its own
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def to_toml(p: Preset, leave_out: Collection[str] = ()) -> str:
    """Write a preset back as TOML; `loads_preset(to_toml(p)) == p` (less `leave_out`'s dotted keys)."""
    d = to_dict(p)
    lines = [f"name = {_toml_value(d['name'])}", f"description = {_toml_value(d['description'])}"]
    for section in SECTIONS:
        lines += ["", f"[{section}]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in d[section].items() if f"{section}.{k}" not in leave_out]
    return "\n".join(lines) + "\n"


_TOML_ESCAPES = {chr(c): f"\\u{c:04x}" for c in (*range(0x20), 0x7F)}  # TOML strings cannot hold controls raw
_TOML_ESCAPES |= {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + "".join(_TOML_ESCAPES.get(c, c) for c in v) + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


# --- messages ----------------------------------------------------------------


def _where(source: str, dotted: str) -> str:
    """`file.toml: train.reg` for a file, `--set train.reg` for the command line."""
    if not dotted.isprintable() or not dotted:
        dotted = repr(dotted)  # a key with a newline in it must not break the one-line message
    return f"{source} {dotted}" if source == SET_SOURCE else f"{source}: {dotted}"


def _all_keys() -> list[str]:
    return list(TOP_LEVEL) + [f"{s}.{name}" for s, cls in SECTIONS.items() for name in _keys(cls)]


# Names people bring from other tools, and the key that means the same here.
_ALIASES = {
    "lr": "learning_rate",
    "weight_decay": "reg",
    "l2": "reg",
    "regularization": "reg",
    "optimizer": "update",
    "optim": "update",
    "batch": "batch_size",
    "bs": "batch_size",
    "lr_decay": "learning_rate_decay",
    "decay": "learning_rate_decay",
    "layers": "hidden",
    "hidden_sizes": "hidden",
    "hidden_size": "hidden",
    "n_epochs": "epochs",
    "num_epochs": "epochs",
    "weight_scale": "init_std",
    "std": "init_std",
}


def _suggest(dotted: str, word: str, allowed: list[str]) -> str | None:
    """The key the user most likely meant: a close spelling in the same table
    (`train.learnig_rate`), a known alias (`train.lr`), the same or a close name
    in another section (`train.hidden` -> `model.hidden`)."""
    at = dotted.rfind(word)
    prefix, suffix = dotted[:at], dotted[at + len(word) :]
    alias = _ALIASES.get(word)
    same_table = ([alias] if alias in allowed else []) + difflib.get_close_matches(word, allowed, n=1, cutoff=0.6)
    if same_table and prefix + same_table[0] + suffix != dotted:
        return prefix + same_table[0] + suffix
    if "[" in dotted or suffix:  # inside search.stages, or an unknown section: nothing better
        return None
    section = prefix.rstrip(".")
    others = [k for k in _all_keys() if "." in k and not k.startswith(section + ".")]
    lasts = [k.rsplit(".", 1)[1] for k in others]
    for name in ([alias] if alias else []) + [word] + difflib.get_close_matches(word, lasts, n=1, cutoff=0.8):
        if name in lasts:
            return others[lasts.index(name)]
    return None


def _unknown(source: str, dotted: str, word: str, allowed: list[str]) -> str:
    guess = _suggest(dotted, word, allowed)
    if guess:
        return f"{_where(source, dotted)}: unknown key; did you mean {guess!r}?"
    return f"{_where(source, dotted)}: unknown key; allowed here: {', '.join(allowed)}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

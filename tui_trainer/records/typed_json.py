"""Records a person may edit by hand (tune's state.json, lr-find's result.json), read
back as the frozen dataclasses that wrote them, by their annotations. A value that is
not what was written is a BadField naming its dotted path (`lr-find.result.spread`,
`sweeps[1].losses[3]`); the reader turns it into a UserError naming the file, so a
record edited into something else is one line and exit 2, never a traceback later.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Union

from ..formatting import plural


class BadField(ValueError):
    """A field of a record that is not what was written: `field` is its dotted path."""

    def __init__(self, field: str, what: str):
        super().__init__(f"{field}: {what}")
        self.field, self.what = field, what


def read_as(hint: Any, value: Any, at: str) -> Any:
    """`value` (read from JSON) as the type `hint`, or BadField naming the field `at`.
    Numbers stay as JSON gave them (an int where a float is declared), so a file
    read and written again is the same file."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        problems = []
        for option in (a for a in args if a is not type(None)):
            try:
                return read_as(option, value, at)
            except BadField as e:
                problems.append(e)
        raise problems[0] if len(problems) == 1 else BadField(at, f"{show(value)} is not {_name(hint)}")
    if hint is Any:
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadField(at, f"expected a number, got {show(value)}")
        return value
    if hint in (int, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise BadField(at, f"expected {_name(hint)}, got {show(value)}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise BadField(at, f"expected a list, got {show(value)}")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis) and len(value) != len(args):
            raise BadField(at, f"expected a list of {len(args)}, got {plural(len(value), 'item')}")
        each = [args[0] if args[-1] is Ellipsis or origin is list else args[i] for i in range(len(value))]
        items = [read_as(h, v, f"{at}[{i}]") for i, (h, v) in enumerate(zip(each, value))]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise BadField(at, f"expected a JSON object, got {show(value)}")
        return {k: read_as(args[1], v, _dot(at, k)) for k, v in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _read_dataclass(hint, value, at)
    raise AssertionError(f"no reading of {hint} from JSON")  # a type no record writes


def _read_dataclass(cls: type, value: Any, at: str) -> Any:
    """A dataclass from its JSON object. One whose JSON spells a mapping field out among
    its own keys says so in `SPELLED_OUT = (field, its keys)` (a search trial's values:
    {"trial_id": ..., "learning_rate": 0.01, "hidden": null, ...}); a null there is no item."""
    if not isinstance(value, dict):
        raise BadField(at, f"expected a JSON object, got {show(value)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    spelled: dict[str, Any] = {}
    spelled_out = getattr(cls, "SPELLED_OUT", None)
    if spelled_out is not None:
        mapping, keys = spelled_out
        fields.pop(mapping)
        item = typing.get_args(hints[mapping])[1]
        spelled = {k: read_as(item | None, v, _dot(at, k)) for k, v in value.items() if k in keys}
        value = {k: v for k, v in value.items() if k not in keys}
    for key in value:
        if key not in fields:
            raise BadField(_dot(at, key), f"not a field of {cls.__name__} (its fields: {', '.join(fields)})")
    read = {}
    for name, f in fields.items():
        if name in value:
            read[name] = read_as(hints[name], value[name], _dot(at, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise BadField(_dot(at, name), "missing")
    if spelled_out is not None:
        read[spelled_out[0]] = {k: v for k, v in spelled.items() if v is not None}
    return cls(**read)


def _dot(at: str, key: str) -> str:
    """The path of a key: `at.key`, or `key` at the top of the file."""
    return f"{at}.{key}" if at else key


def _name(hint: Any) -> str:
    names = {float: "a number", int: "an integer", str: "a string", bool: "true or false", type(None): "null"}
    if hint in names:
        return names[hint]
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_name(a) for a in args)
    return getattr(hint, "__name__", str(hint))


def show(value: Any) -> str:
    """A JSON value as a message quotes it, cut to 40 characters (a store's column may hold
    what JSON cannot: binary data is said so)."""
    if isinstance(value, (bytes, bytearray)):
        return f"{len(value)} byte(s) of binary data"
    text = json.dumps(value, default=repr)
    return text if len(text) <= 40 else text[:37] + "..."

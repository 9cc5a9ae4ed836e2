"""The event stream: what the trainer tells every face.

The trainer calls one sink, `sink(event)`, with these frozen dataclasses.
`to_dict(event)` is the JSON form (`{"event": "step", ...}`), the same in
`--json` output, in `metrics.jsonl` and in the workbench; `from_dict` reads it
back, so a past run's metrics can be replayed through the same code.
`event_line(event)` is that form as one line of JSON, the one writer of it
(the search's, lr-find's and tune's events too).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from .rules import InputScale


@dataclass(frozen=True)
class RunStarted:
    kind: ClassVar[str] = "run_started"
    run_id: str
    config: dict[str, Any]  # the resolved preset, as to_dict(Preset)
    classes: int
    n_train: int
    n_val: int
    iterations_per_epoch: int
    total_iterations: int
    initial_loss: float  # loss at init (reg included) on the train-accuracy subset
    label_names: tuple[str, ...] = ()
    image_shape: tuple[int, ...] = ()  # (H, W, C) when the inputs are images, else ()
    device: str = "cpu"  # where the run trains: "cpu" or "gpu" (records from before it: the CPU)
    # The inputs' scale as the net sees them (after data.preprocess), on the train-accuracy
    # subset; None in records from before it.
    input_scale: InputScale | None = None
    # Each class's share of the validation labels: what accuracy at chance is read against
    # (a net that answers the majority class scores its share); () in records from before it.
    val_class_shares: tuple[float, ...] = ()


@dataclass(frozen=True)
class Step:
    kind: ClassVar[str] = "step"
    iteration: int  # 1-based count of updates done
    epoch: float  # iteration / iterations_per_epoch
    loss: float  # the mini-batch loss (data + reg) before this update
    learning_rate: float


@dataclass(frozen=True)
class ParamStats:
    name: str  # W1, b1, W2, ...
    shape: tuple[int, ...]
    weight_mean: float
    weight_std: float
    weight_min: float
    weight_max: float
    update_mean: float
    update_std: float
    update_min: float
    update_max: float
    ratio: float | None  # norm(update) / norm(weight); None while the weights are all zero


@dataclass(frozen=True)
class Ratios:
    kind: ClassVar[str] = "ratios"
    iteration: int
    params: tuple[ParamStats, ...]


@dataclass(frozen=True)
class Epoch:
    kind: ClassVar[str] = "epoch"
    epoch: int  # 1-based
    loss: float  # mean mini-batch loss over the epoch
    train_acc: float  # on a fixed subset of at most 1,000 training examples
    val_acc: float  # on the whole validation split
    learning_rate: float  # the rate used during this epoch (decay applies after)
    elapsed_s: float
    # The class the net predicts most often on the validation split, and the share of the
    # predictions it gets (1.0: one class only); None in records from before them.
    val_top_class: int | None = None
    val_top_share: float | None = None


@dataclass(frozen=True)
class Advice:
    kind: ClassVar[str] = "advice"
    iteration: int
    code: str
    message: str
    remedy: str


@dataclass(frozen=True)
class RunEnded:
    kind: ClassVar[str] = "run_ended"
    status: str  # finished | exploded | stopped | failed
    reason: str
    best_val_acc: float | None
    best_epoch: int | None
    iterations: int
    elapsed_s: float


Event = RunStarted | Step | Ratios | Epoch | Advice | RunEnded
Sink = Callable[[Event], None]
EVENT_TYPES: dict[str, type[Event]] = {c.kind: c for c in (RunStarted, Step, Ratios, Epoch, Advice, RunEnded)}


def to_dict(event: Event) -> dict[str, Any]:
    """The JSON form: {"event": kind, field: value, ...}; non-finite floats become null."""
    out: dict[str, Any] = {"event": event.kind}
    for name, value in _fields(event).items():
        out[name] = jsonable(value)
    return out


def _fields(v: Any) -> dict[str, Any]:
    """A dataclass's fields by name; one with a `json_fields()` method gives its own
    (a search trial spells the mapping of its values out among its fields)."""
    own = getattr(v, "json_fields", None)
    if own is not None:
        return dict(own())
    return {f.name: getattr(v, f.name) for f in dataclasses.fields(v)}


def from_dict(d: dict[str, Any]) -> Event:
    """Inverse of to_dict (for reading metrics.jsonl back)."""
    cls = EVENT_TYPES[d["event"]]
    kwargs = {k: v for k, v in d.items() if k != "event"}
    if cls is Ratios:
        kwargs["params"] = tuple(ParamStats(**{**p, "shape": tuple(p["shape"])}) for p in kwargs["params"])
    for key in ("label_names", "image_shape", "val_class_shares"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    if isinstance(kwargs.get("input_scale"), dict):
        kwargs["input_scale"] = InputScale(**kwargs["input_scale"])
    for key in ("loss", "initial_loss"):
        if key in kwargs and kwargs[key] is None:
            kwargs[key] = math.nan
    return cls(**kwargs)


def jsonable(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {name: jsonable(x) for name, x in _fields(v).items()}
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v


class Fanout:
    """One sink that calls several, in order: `Fanout(store, printer)` (None: no sink there)."""

    def __init__(self, *sinks: Sink | None):
        self.sinks: list[Sink] = [s for s in sinks if s is not None]

    def __call__(self, event: Event) -> None:
        for sink in self.sinks:
            sink(event)


def event_line(event: Any) -> str:
    """The event as one line of JSON (no newline): exactly json.dumps(to_dict(event)).

    Any event dataclass with a `kind` (the engine's, and the search's, lr-find's
    and tune's events) takes this one path to JSON. Step events come every
    iteration, so they take a direct path (about 1 us instead of 9), and the
    last line is remembered, so the run store and the --json face serialize
    each event once between them.
    """
    global _last_line
    last = _last_line  # read once: another thread (a search's, a trainer's) may replace it meanwhile
    if event is last[0]:
        return last[1]
    if type(event) is Step:
        line = (
            f'{{"event": "step", "iteration": {int(event.iteration)}, "epoch": {_num(event.epoch)}, '
            f'"loss": {_num(event.loss)}, "learning_rate": {_num(event.learning_rate)}}}'
        )
    else:
        line = json.dumps(to_dict(event))
    _last_line = (event, line)
    return line


_last_line: tuple[Any, str] = (None, "")  # (event, its line)


def _num(x: float) -> str:
    x = float(x)
    return float.__repr__(x) if math.isfinite(x) else "null"  # what json.dumps writes, with to_dict's null

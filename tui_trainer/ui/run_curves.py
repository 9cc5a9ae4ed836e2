"""A run's curves as the runs view overlays them: read from its metrics.jsonl (a past run),
from its fold so far (a run still going: ui/watching.py), or a seed group's mean with a band.
Nothing here imports Textual."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..engine.events import Advice
from ..lab.advisor import diagnose
from ..lab.compare import mean_band
from ..lab.history import History
from ..records.run_folder import read_metrics


@dataclass
class RunCurves:
    """What the overlays and the advice line need from a run's metrics.jsonl."""

    epoch_x: np.ndarray  # per step: iteration / iterations_per_epoch
    loss: np.ndarray  # per step
    epochs: list[int] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    advice: list[Advice] = field(default_factory=list)
    # A seed group's: the min..max of its runs' val accuracy around the mean (val_acc)
    val_band: tuple[list[float], list[float]] | None = None


def group_curves(members: list[RunCurves]) -> RunCurves:
    """A seed group drawn as one run: its mean loss and accuracies (lab.compare.mean_band),
    with the band of its val accuracy; no advice (each run has its own)."""
    loss, _, _ = mean_band([c.loss.tolist() for c in members])
    train, _, _ = mean_band([c.train_acc for c in members])
    val, lo, hi = mean_band([c.val_acc for c in members])
    longest = min(members, key=lambda c: c.loss.size)
    return RunCurves(
        longest.epoch_x[: len(loss)],
        np.asarray(loss, np.float64),
        longest.epochs[: len(val)],
        train,
        val,
        val_band=(lo, hi),
    )


def load_curves(run_dir: Path) -> RunCurves:
    try:
        events = read_metrics(run_dir)
    except OSError:
        events = []
    per = 1
    x, loss = [], []
    curves = RunCurves(np.empty(0), np.empty(0))
    for e in events:
        kind = e.get("event")
        if kind == "step":
            x.append(e["iteration"] / per)
            loss.append(math.nan if e.get("loss") is None else float(e["loss"]))
        elif kind == "epoch":
            curves.epochs.append(int(e["epoch"]))
            curves.train_acc.append(float(e["train_acc"]))
            curves.val_acc.append(float(e["val_acc"]))
        elif kind == "run_started":
            per = max(int(e.get("iterations_per_epoch") or 1), 1)
    curves.epoch_x, curves.loss = np.asarray(x, np.float64), np.asarray(loss, np.float64)
    try:
        curves.advice = diagnose(events)
    except (KeyError, TypeError, ValueError):  # a metrics file from another version: no advice, no crash
        curves.advice = []
    return curves


def history_curves(h: History) -> RunCurves:
    """A run's curves from its fold (a run followed as it is written: ui/watching.py)."""
    return RunCurves(
        h.steps_x.copy(),
        h.steps_loss.copy(),
        [e.epoch for e in h.epochs],
        [e.train_acc for e in h.epochs],
        [e.val_acc for e in h.epochs],
        list(h.advice),
    )

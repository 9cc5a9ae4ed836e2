"""One search trial, run wherever the executor puts it: a local process or a Dask worker.

    result = run_trial(TrialSpec(preset, trial, stop=FileFlag(path)))

`run_trial` is a pure function of (preset, trial values, preset seeds) that
returns a `TrialResult` and never raises: a trial whose training fails is
recorded as `failed` with the error in `reason`. It trains as a run does
(lab/session.py's record_run, with no run folder and no advice), so the
engine's explosion rule ends a diverging trial early (`exploded`). The data
set is loaded once per worker process and reused.

Stopping is cooperative through a stop flag the trial watches from a small
thread: when the flag is set, the trial's RunControl is stopped and the
trainer returns within one iteration. The flag has to reach wherever the
trial runs; the pool it runs on makes it (pool.py: TrialPool.stop_flag).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from ...config import DataConfig, Preset
from ...datasets import Dataset, load_dataset
from ...datasets.base import Source
from ...engine import RunControl
from ...engine.events import Epoch
from ..session import record_run
from .pool import StopFlag
from .space import Trial, TrialResult, apply_params

STOP_REASON = "the search was stopped"
WATCH_INTERVAL_S = 0.25


@dataclass(frozen=True)
class TrialSpec:
    preset: Preset
    trial: Trial
    stop: Any  # a StopFlag that pickles to wherever the trial runs


def trial_preset(preset: Preset, trial: Trial) -> Preset:
    """The preset a trial trains: its values set (space.apply_params) and its stage's
    epochs, everything else as given."""
    return apply_params(preset, trial.params, **{"train.epochs": trial.epochs})


def run_trial(spec: TrialSpec) -> TrialResult:
    t0 = time.perf_counter()
    trial, worker = spec.trial, f"{socket.gethostname()}:{os.getpid()}"

    def result(status: str, reason: str, **outcome) -> TrialResult:
        values = {
            "best_val_acc": None,
            "best_epoch": None,
            "epochs": 0,
            "iterations": 0,
            "elapsed_s": time.perf_counter() - t0,
            **outcome,
        }
        return TrialResult.of(trial, status=status, reason=reason, worker=worker, **values)

    try:
        if spec.stop.is_set():  # queued before the stop, started after it
            return result("stopped", STOP_REASON)
        control = RunControl()
        done = threading.Event()
        threading.Thread(
            target=_watch, args=(spec.stop, control, done), daemon=True, name=f"stop-watch-{trial.trial_id}"
        ).start()
        try:
            preset = trial_preset(spec.preset, trial)
            data = cached_dataset(preset.data, preset.where)
            epochs = _EpochCounter()
            # A run as every other (lab/session.py), without a run folder (the search's
            # store keeps the trial's result) and without advice (nothing would read it).
            run = record_run(preset, data, None, control, epochs, advise=False, run_id=trial.trial_id)
            # On a GPU the run hands its memory back as it ends, to the workers sharing it (Trainer._release).
            ended = run.run()
        finally:
            done.set()
        return result(
            ended.status,
            ended.reason,
            best_val_acc=ended.best_val_acc,
            best_epoch=ended.best_epoch,
            epochs=epochs.count,
            iterations=ended.iterations,
            elapsed_s=ended.elapsed_s,
        )
    except Exception as e:  # a bad sampled value, a data set missing on this worker
        return result("failed", f"{type(e).__name__}: {e}")


def _watch(flag: StopFlag, control: RunControl, done: threading.Event) -> None:
    while not done.is_set():
        try:
            if flag.wait(WATCH_INTERVAL_S):
                control.stop(STOP_REASON)
                return
        except Exception:  # the flag became unreachable: keep training, try again
            done.wait(WATCH_INTERVAL_S)


class _EpochCounter:
    """The trial's sink: it keeps only the number of epochs run."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, event) -> None:
        if isinstance(event, Epoch):
            self.count = event.epoch


_DATASETS: dict[DataConfig, Dataset] = {}


def cached_dataset(cfg: DataConfig, source: Source = "<preset>") -> Dataset:
    """The data set for cfg, loaded once per process (a worker runs many trials)."""
    data = _DATASETS.get(cfg)
    if data is None:
        data = _DATASETS[cfg] = load_dataset(cfg, source=source)
    return data

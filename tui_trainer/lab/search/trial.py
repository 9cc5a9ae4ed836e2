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
trial runs: `FileFlag` (a file: local processes, or Dask workers sharing the
file system), `DaskFlag` (a `distributed.Event` on the scheduler: any Dask
worker), `MemoryFlag` (threads of this process).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ...config import DataConfig, Preset
from ...datasets import Dataset, load_dataset
from ...datasets.base import Source
from ...engine import RunControl
from ...engine.events import Epoch
from ..session import record_run
from .space import Trial, TrialResult

STOP_REASON = "the search was stopped"
WATCH_INTERVAL_S = 0.25


class StopFlag(Protocol):
    def set(self) -> None: ...
    def is_set(self) -> bool: ...
    def wait(self, timeout: float) -> bool: ...


@dataclass(frozen=True)
class TrialSpec:
    preset: Preset
    trial: Trial
    stop: Any  # a StopFlag that pickles to wherever the trial runs


def hidden_layers(preset: Preset, units: int) -> list[int]:
    """model.hidden for a searched hidden size: `units` in every hidden layer of the
    preset (one layer when the preset has none: a linear classifier gains one)."""
    return [units] * max(1, len(preset.model.hidden))


def trial_preset(preset: Preset, trial: Trial) -> Preset:
    """The preset a trial trains: the sampled values set (the hidden size as
    hidden_layers says), everything else as given."""
    changes: dict[str, Any] = {
        "train.learning_rate": trial.learning_rate,
        "train.reg": trial.reg,
        "train.epochs": trial.epochs,
    }
    if trial.batch_size is not None:
        changes["train.batch_size"] = trial.batch_size
    if trial.hidden is not None:
        changes["model.hidden"] = hidden_layers(preset, trial.hidden)
    return preset.replace(**changes)


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
            ended = run.run()
            backend = run.trainer.backend
            del run  # the trainer's arrays go back to the memory pool...
            if backend is not None:
                backend.free_memory()  # ...and the pool's blocks back to a GPU the other workers share
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


# --- stop flags --------------------------------------------------------------


class FileFlag:
    """A stop flag that is a file: set when it exists. Reaches local worker
    processes (and Dask workers on the same file system); checking it is a stat."""

    POLL_S = 0.01

    def __init__(self, path: str | Path):
        self.path = str(path)

    def set(self) -> None:
        Path(self.path).touch()

    def clear(self) -> None:
        Path(self.path).unlink(missing_ok=True)

    def is_set(self) -> bool:
        return os.path.exists(self.path)

    def wait(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not self.is_set():
            if time.monotonic() >= end:
                return False
            time.sleep(self.POLL_S)
        return True


class DaskFlag:
    """A stop flag kept by the Dask scheduler (`distributed.Event`): reaches every
    worker of the cluster. Pickles as its name; each side binds its own client
    (the search's, or the worker's own `get_client()` inside a task). A trial
    checks it every POLL_S seconds: one small message to the scheduler each time."""

    POLL_S = 0.2

    def __init__(self, name: str, client=None):
        self.name = name
        self._client = client
        self._event = None

    def __getstate__(self):
        return {"name": self.name}

    def __setstate__(self, state):
        self.__init__(state["name"])

    def _ev(self):
        if self._event is None:
            from distributed import Event

            self._event = Event(self.name, client=self._client)
            self._event.client  # bind the client now, in this (task) thread  # noqa: B018
        return self._event

    def set(self) -> None:
        self._ev().set()

    def clear(self) -> None:
        self._ev().clear()

    def is_set(self) -> bool:
        return bool(self._ev().is_set())

    def wait(self, timeout: float) -> bool:
        # Polled rather than Event.wait: a wait still pending on the scheduler when
        # the cluster closes is logged there as an error.
        end = time.monotonic() + timeout
        while not self.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self.POLL_S, left))
        return True


class MemoryFlag:
    """A stop flag for trials run by threads of this process (does not pickle)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)

"""A recorded run: one preset trained on one data set, recorded, advised, watched.

    run = record_run(preset, data, "runs", control, face)
    ended = run.run()            # the trainer's RunEnded; the record is closed after it
    run.path                     # runs/20261124-171500-default-3f2a

The one composition `tui-trainer run`, the workbench's host and tune's final
run train through, and a search's trials without a record and without advice:

    Trainer(preset, data, Advisor(Fanout(store, *faces)), control,
            run_id=the store's folder name, on_epoch=the store's hook, then the face's)

- the preset is the one the run uses (as_trained: a batch larger than the training
  set is capped to it, as the trainer takes it), so config.toml records what the
  run did; `notice` says what changed, for a face to print;
- the store (records/run_folder.RunStore) is created before anything trains, so a
  record problem (a full disk, a read-only folder) is the caller's error at once;
- the advisor (lab/advisor.Advisor) sits in front of the store and every face, so
  its advice events reach metrics.jsonl, --json and the screens alike;
- the store's epoch hook keeps best.npz current (nothing is saved before the
  first epoch: there is no best yet); a face's hook runs after it;
- NumPy's overflow warnings are silenced: an exploding loss overflows on its way
  to inf, the trainer reports that as status "exploded", and a warning would only
  scribble on a live display;
- a KeyboardInterrupt (a second Ctrl+C) ends the run at once; the record and the
  faces still get their one run_ended, and the run reports status "stopped".

A search trial is the same run with no store (`runs_dir=None`) and no advisor
(`advise=False`): the search's own store keeps each trial's result, and nothing
would read a trial's advice.
"""

from __future__ import annotations

import datetime as _dt
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..config import Preset
from ..datasets import Dataset
from ..engine import RunControl, Trainer
from ..engine.events import Fanout, RunEnded, Sink
from ..engine.trainer import build_net, effective_batch_size
from ..errors import PresetError
from ..records.atomic import safe_name
from ..records.run_folder import RunStore
from .advisor import Advisor

# (runs_dir, preset, data) and, for a run of a seed group, group=its id: RunStore.create's signature
StoreFactory = Callable[..., RunStore]
EpochHook = Callable[[Trainer], None]

STOPPED_AT_ONCE = "interrupted twice; stopped at once"


class RecordedRun:
    """What record_run put together: `run()` trains it, once."""

    def __init__(
        self, trainer: Trainer, store: RunStore | None, sinks: Fanout, advisor: Advisor | None, notice: str = ""
    ):
        self.trainer = trainer
        self.notice = notice  # what as_trained changed in the preset ("": nothing)
        self.store = store
        self.advisor = advisor  # its diagnoses, when the run is advised
        self._sinks = sinks  # the store first, then the faces

    @property
    def path(self) -> Path | None:
        """The run's folder (None without a record)."""
        return self.store.path if self.store is not None else None

    def watch(self, face: Sink) -> None:
        """Add a face before the run starts (one that names the run's folder, made after it)."""
        self._sinks.sinks.append(face)

    def run(self) -> RunEnded:
        """Train; the trainer's RunEnded (it never raises for a failed run), or a
        "stopped" one of this run's own when a KeyboardInterrupt ended it at once."""
        t0 = time.perf_counter()
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return self.trainer.run()
        except KeyboardInterrupt:
            return self._ended_at_once(time.perf_counter() - t0)
        finally:
            if self.store is not None:
                self.store.close()

    def _ended_at_once(self, elapsed_s: float) -> RunEnded:
        trainer = self.trainer
        ended = RunEnded(
            status="stopped",
            reason=STOPPED_AT_ONCE,
            best_val_acc=trainer.best_val_acc,
            best_epoch=trainer.best_epoch,
            iterations=trainer.iteration,
            elapsed_s=elapsed_s,
        )
        # The trainer was cut off before its run_ended; the advisor has nothing to add to it.
        for sink in self._sinks.sinks:
            if not getattr(sink, "ended", False):
                try:
                    sink(ended)
                except Exception:  # noqa: BLE001 - stopping at once: each sink gets its chance
                    pass
        return ended


def record_run(
    preset: Preset,
    data: Dataset,
    runs_dir: str | Path | None,
    control: RunControl | None = None,
    *faces: Sink,
    advise: bool = True,
    run_id: str | None = None,
    on_epoch: EpochHook | None = None,
    trainer_cls: type[Trainer] = Trainer,
    store_factory: StoreFactory = RunStore.create,
    group: str | None = None,
) -> RecordedRun:
    """The run of `preset` on `data`, recorded in a new folder in `runs_dir` (None: not
    recorded), advised unless `advise` is False, its events sent to each face.
    `run_id` names an unrecorded run (a recorded one is named by its folder);
    `on_epoch` is a face's epoch hook; `trainer_cls` and `store_factory` are for tests;
    `group` is the seed group the run belongs to (seed_group), kept in its folder."""
    preset, notice = as_trained(preset, data)
    store = None
    if runs_dir is not None:
        store = (
            store_factory(Path(runs_dir), preset, data, group=group)
            if group
            else store_factory(Path(runs_dir), preset, data)
        )
    sinks = Fanout(store, *faces)  # the store first: it has every event before a face shows it
    advisor = Advisor(sinks) if advise else None
    trainer = trainer_cls(
        preset,
        data,
        advisor if advisor is not None else sinks,
        control=control,
        run_id=store.run_id if store is not None else run_id,
        on_epoch=_epoch_hooks(store, on_epoch),
    )
    return RecordedRun(trainer, store, sinks, advisor, notice)


def as_trained(preset: Preset, data: Dataset) -> tuple[Preset, str]:
    """The preset as the trainer takes it on `data`, and what changed in words ("":
    nothing): a batch size over the training set is capped to it (the engine's
    effective_batch_size), so the record holds the batch the run used."""
    n = len(data.y_train)
    batch = effective_batch_size(preset.train, n)
    if not preset.train.sample_batches or batch == preset.train.batch_size:
        return preset, ""
    notice = (
        f"train.batch_size {preset.train.batch_size} is more than the {n} training examples: "
        f"the run takes batches of {batch} (recorded so in config.toml)"
    )
    return preset.replace(**{"train.batch_size": batch}), notice


def held_out_accuracy(preset: Preset, data: Dataset, params: dict[str, np.ndarray] | None) -> float | None:
    """The accuracy of `params` (a run's best, on the host) on the test split: the held-out
    figure, read once a configuration is chosen (the val reading chose it, so it is optimistic).
    None with no test examples (data.num_test = 0) or no parameters. On the CPU, whatever the
    run trained on: a GPU run's net is gone by now, and the test split is small."""
    if params is None or data.X_test.shape[0] == 0:
        return None
    net = build_net(preset, data.input_dim, data.num_classes)
    net.set_params(params)
    dtype = np.dtype(preset.model.dtype)
    return net.accuracy(data.X_test.astype(dtype, copy=False), data.y_test)


def seed_group(preset: Preset, seeds: int) -> tuple[str, list[Preset]]:
    """A seed group of `preset`: a new group id and `seeds` presets that differ only in
    train.seed (the preset's, then the next ones up). The train seed draws the initial
    weights and the batches' order; data.seed, which draws the split, stays, so the runs
    differ by seed noise alone, and the data set is loaded once for all of them."""
    if seeds < 1:
        raise PresetError(f"--seeds {seeds}: must be a whole number of at least 1")
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    group = f"{stamp}-{safe_name(preset.name)}-x{seeds}-{uuid.uuid4().hex[:6]}"
    first = preset.train.seed
    return group, [preset.replace(**{"train.seed": first + i}) for i in range(seeds)]


def _epoch_hooks(store: RunStore | None, face_hook: EpochHook | None) -> EpochHook | None:
    """The store's hook (best.npz), then the face's."""
    if store is None:
        return face_hook
    if face_hook is None:
        return store.on_epoch

    def hook(trainer: Trainer) -> None:
        store.on_epoch(trainer)
        face_hook(trainer)

    return hook

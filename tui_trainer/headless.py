"""Headless runs: `tui-trainer run PRESET [--json]`.

Every event goes to the run directory; `--json` also writes each one as a
JSON line on stdout (and nothing else goes to stdout); otherwise one plain
line per epoch goes to stderr.
"""

from __future__ import annotations

import json
import sys

from .config import load_preset
from .datasets import load_dataset
from .engine import RunControl, Trainer
from .engine.events import Epoch, Fanout, RunEnded, RunStarted, to_dict
from .runs import RunStore

EXIT_FOR_STATUS = {"finished": 0, "exploded": 3, "stopped": 130, "failed": 1}


def command(args) -> int:
    preset = load_preset(args.preset, args.overrides)
    data = load_dataset(preset.data, source=preset.source)
    store = RunStore.create(args.runs_dir, preset, data)
    control = RunControl()
    face = _json_sink if args.json else _plain_sink
    trainer = Trainer(preset, data, Fanout(store, face), control=control, run_id=store.run_id,
                      on_epoch=store.on_epoch)
    ended = trainer.run()
    store.save_best(trainer.best_params)
    if ended.status == "failed" and trainer.traceback:
        print(trainer.traceback, file=sys.stderr)
    return EXIT_FOR_STATUS[ended.status]


def _json_sink(event) -> None:
    sys.stdout.write(json.dumps(to_dict(event)) + "\n")
    sys.stdout.flush()


def _plain_sink(event) -> None:
    if isinstance(event, RunStarted):
        print(f"run {event.run_id}: {event.n_train} train / {event.n_val} val, {event.classes} classes, "
              f"{event.total_iterations} iterations; initial loss {event.initial_loss:.4f}", file=sys.stderr)
    elif isinstance(event, Epoch):
        print(f"epoch {event.epoch}: loss {event.loss:.4f}  train acc {event.train_acc:.3f}  "
              f"val acc {event.val_acc:.3f}  lr {event.learning_rate:.3g}  {event.elapsed_s:.1f}s", file=sys.stderr)
    elif isinstance(event, RunEnded):
        best = "n/a" if event.best_val_acc is None else f"{event.best_val_acc:.3f} (epoch {event.best_epoch})"
        print(f"{event.status}: {event.reason}; best val acc {best}; {event.elapsed_s:.1f}s", file=sys.stderr)

"""`tui-trainer tune PRESET [--set KEY=VALUE]... [--workers N] [--scheduler ADDRESS] [--resume]
[--json] [--runs-dir DIR]`: the lecture's sequence in one command (lab/tune): the sanity
checks, lr-find, a coarse search, a fine search, a final run of the best configuration.

- people: one line per stage as it starts and ends (its plan, its verdict and
  what it found), a line per search trial and per epoch of the final run, then
  where the tuned preset and the report are;
- `--json`: JSON Lines: `tune_started`, `tune_stage_started` / `tune_stage_ended`
  per stage, the searches' `trial_ended` and the final run's `epoch` events, and
  `tune_ended` last (status, best_val_acc, tuned_preset, report, path).

Trials run where search trials run: local worker processes (`--workers`) or a
Dask cluster (`--scheduler`). Ctrl+C, SIGTERM or a hangup stops the stage
running and keeps what is done; `--resume` continues the latest tune of the
preset (its exact name), ending first the record of a final run the stop cut off.
One process at a time works in a tune folder: resuming one still running is exit 2.

Exit status: 0 done, 1 a sanity check (or a stage) failed, 2 bad input, 130 stopped.
"""

from __future__ import annotations

import contextlib
import shlex
import sys

from ..config import load_preset
from ..errors import UserError
from ..threads import apply_training_blas_threads
from ..usertext import clean, one_line
from .console import StopOnSignals, exit_status, preflight, say


def command(args) -> int:
    apply_training_blas_threads()  # the checks, lr-find and the final run train here
    from ..lab.search.pool import TrialPool
    from ..lab.search.trial import cached_dataset
    from ..lab.tune.control import TuneControl
    from ..lab.tune.runner import read_state, run_tune
    from ..records.tune_folder import TuneRecord

    preset = load_preset(args.preset, args.overrides)
    record = None
    with contextlib.ExitStack() as held:
        if args.resume:
            record = TuneRecord.latest(args.runs_dir, preset.name)
            if args.overrides:
                raise UserError(
                    f"{record.path}: --resume continues a tune with the preset it started with "
                    f"({record.path / 'preset.toml'}); drop the --set options, or start a new tune without --resume"
                )
            preset = record.preset
            held.enter_context(record.locked())  # a tune still running elsewhere: exit 2 now
            read_state(record)  # a state.json tune cannot read: exit 2 now, before the workers start
        data = cached_dataset(preset.data, preset.where)  # bad data: exit 2 here
        backend = preflight(preset, data)

        pool = TrialPool.open(args.scheduler, args.workers, device=backend.name)
        ended = None
        try:
            record = record or TuneRecord.create(args.runs_dir, preset)
            control = TuneControl()
            face = _json if args.json else _Plain()
            # A hangup (the terminal went away) stops the tune as it stops a run or a search.
            with StopOnSignals(lambda name: control.stop(f"interrupted by {name}"), hangup=True):
                ended = run_tune(preset, data, record, face, control, pool)
        finally:
            pool.close(graceful=ended is not None and ended.status == "finished")
    if ended.status == "stopped":
        say(f"tui-trainer: tune stopped: {one_line(ended.reason)}; continue it with: {resume_command(args)}")
    elif ended.status == "failed":
        say(f"tui-trainer: tune failed at {one_line(ended.reason)}")
    return exit_status(ended.status)


def resume_command(args) -> str:
    words = ["tui-trainer", "tune", args.preset, "--resume"]
    if str(args.runs_dir) != "runs":
        words += ["--runs-dir", str(args.runs_dir)]
    return " ".join(shlex.quote(w) for w in words)


def _json(event) -> None:
    from ..engine.events import event_line

    sys.stdout.write(event_line(event) + "\n")
    sys.stdout.flush()


class _Plain:
    """Lines for people (a terminal or a log): stages, trials, epochs, the result (lab.tune.texts.describe).
    A resumed stage's plan and summary come from state.json: what reaches the terminal is cleaned."""

    def __init__(self) -> None:
        from ..lab.tune.texts import narrator

        self.describe = narrator()

    def __call__(self, event) -> None:
        from ..lab.tune.events import TuneEnded

        line = self.describe(event)
        if isinstance(event, TuneEnded) and event.status != "finished":
            line = f"the report: {event.report}"  # stderr says why it ended
        if line is not None:
            print(clean(line), flush=True)

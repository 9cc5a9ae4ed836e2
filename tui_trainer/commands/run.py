"""`tui-trainer run PRESET [--set KEY=VALUE]... [--json] [--seeds N] [--runs-dir DIR]`: one headless run.

With --seeds N, N runs of the preset that differ only in train.seed (the data split stays),
recorded as one seed group, then one line with the group's spread of best val accuracy
(--json: a `group_started` line first and a `group_ended` line with the group's document last).

One recorded run (lab/session.py: the run directory, the advisor, the trainer)
and one of three faces on it (run_faces.py):

    --json              every event as one JSON line on stdout, nothing else there;
                        stderr stays quiet unless something goes wrong
    stdout a terminal   a live display (progress, loss, accuracies, learning rate,
                        ETA), then a summary table and the curves drawn with plotext
    otherwise           one plain line per epoch on stdout, no control codes (a file
                        or a pipe gets the log: `run default > log.txt`)

Errors and warnings go to stderr in every face, so a log on stdout stays clean.

The trainer runs in the main thread and calls the sinks once per event.

Ctrl+C, SIGTERM or a hangup stops the run at the next iteration (status
`stopped`, exit 130, summary written); a second one stops at once.

A reader that goes away (`run ... | head -2`) stops the run too: its record
ends `stopped`, and the exit status is 141, as for a writer killed by SIGPIPE
(quietly: no "stopped" on stderr; the reader had all it wanted).

Exit status: 0 finished, 3 exploded, 130 stopped, 141 stdout closed, 1 failed
(the traceback goes to stderr), 2 bad input; for a seed group, the worst of its
runs' (a stop ends the group).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..config import load_preset
from ..errors import UserError
from ..threads import apply_training_blas_threads
from .console import (
    BAD_INPUT,
    INTERRUPTED,
    PIPE_CLOSED,
    StopOnSignals,
    exit_status,
    is_terminal,
    preflight,
    say,
    worst_exit_status,
)

if TYPE_CHECKING:
    from ..config import Preset
    from ..datasets import Dataset
    from ..engine import RunControl
    from .run_faces import Record


def command(args) -> int:
    # The workbench's BLAS threads policy, so a headless run and the workbench are
    # like for like; it must come before NumPy loads, hence the imports below.
    apply_training_blas_threads()
    from ..datasets import load_dataset
    from ..lab.session import seed_group

    preset = load_preset(args.preset, args.overrides)
    seeds = getattr(args, "seeds", None)
    group, presets = seed_group(preset, seeds) if seeds is not None else (None, [preset])
    data = load_dataset(preset.data, source=preset.where)  # once: the seeds share the data split
    preflight(preset, data)  # bad input, before anything is recorded
    if group is None:
        return run_one(args, preset, data)
    if args.json:
        _json_line({"event": "group_started", "group": group, "seeds": [p.train.seed for p in presets]})
    statuses = []
    for p in presets:
        status = run_one(args, p, data, group)
        statuses.append(status)
        if status in (BAD_INPUT, INTERRUPTED, PIPE_CLOSED):  # stopped, nowhere to say it, or cannot record: no more
            break
    return end_group(args, group, statuses)


def end_group(args, group: str, statuses: list[int]) -> int:
    """Say how the group did (its spread over the runs it recorded); the worst run's exit status."""
    from ..lab.compare import group_line, group_runs, runs_document
    from ..records.run_folder import list_runs

    members = [r for r in list_runs(args.runs_dir) if r.group == group]
    for g in group_runs(members):
        if args.json:
            (doc,) = runs_document(members)["groups"]
            _json_line({"event": "group_ended", **doc})
        else:
            say(group_line(g), sys.stdout)
    return worst_exit_status(statuses)


def run_one(args, preset: Preset, data: Dataset, group: str | None = None) -> int:
    from ..engine import RunControl
    from ..engine.events import Fanout
    from ..lab.session import record_run
    from .run_faces import JsonLines, LiveDisplay, PlainLines, Record

    control = RunControl()
    record = Record(input_dim=data.input_dim, classes=data.num_classes)
    interactive = not args.json and is_terminal(sys.stdout)
    with stop_on_signals(control, record):
        run = record_run(preset, data, args.runs_dir, control, group=group)
        assert run.store is not None
        if run.notice:
            say(f"tui-trainer: {run.notice}")
        face: JsonLines | PlainLines | None = None
        if args.json:
            run.watch(face := JsonLines(sys.stdout, control))
        elif interactive:
            run.watch(record)
        else:
            face = PlainLines(sys.stdout, control, run.store.path)
            run.watch(Fanout(record, face))
        if interactive:
            with LiveDisplay(record, preset, sys.stdout) as live:
                ended = run.run()
            live.report(run.store.path)
        else:
            ended = run.run()

    trainer = run.trainer
    if ended.status == "failed" and isinstance(trainer.error, UserError):
        # the machine's problem (a full disk under the record), not a bug: one line, what to do
        say(f"tui-trainer: {trainer.error}")
        return BAD_INPUT
    if ended.status == "failed" and trainer.traceback:
        say(trainer.traceback.rstrip())
        say(f"tui-trainer: the run failed; its record is in {run.store.path}")
    if ended.status == "stopped" and face is not None and face.closed:
        return PIPE_CLOSED
    return exit_status(ended.status)


def _json_line(d: dict) -> None:
    import json

    say(json.dumps(d), sys.stdout)  # ensure_ascii: a control is escaped, not cleaned


def stop_on_signals(control: RunControl, record: Record) -> StopOnSignals:
    """Ctrl+C, SIGTERM or a hangup ask the trainer to stop at the next iteration,
    and the live view says so; a second signal stops at once (lab/session.py)."""

    def stop(signal_name: str) -> None:
        control.stop(f"interrupted by {signal_name}")
        record.stopping = signal_name

    return StopOnSignals(stop, hangup=True)

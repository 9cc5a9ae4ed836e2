"""`tui-trainer run PRESET [--set KEY=VALUE]... [--json] [--runs-dir DIR]`: one headless run.

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
(the traceback goes to stderr), 2 bad input.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..config import load_preset
from ..errors import UserError
from ..threads import apply_training_blas_threads
from .console import BAD_INPUT, PIPE_CLOSED, StopOnSignals, exit_status, is_terminal, preflight, say

if TYPE_CHECKING:
    from ..engine import RunControl
    from .run_faces import Record


def command(args) -> int:
    # The workbench's BLAS threads policy, so a headless run and the workbench are
    # like for like; it must come before NumPy loads, hence the imports below.
    apply_training_blas_threads()
    from ..datasets import load_dataset
    from ..engine import RunControl
    from ..engine.events import Fanout
    from ..lab.session import record_run
    from .run_faces import JsonLines, LiveDisplay, PlainLines, Record

    preset = load_preset(args.preset, args.overrides)
    data = load_dataset(preset.data, source=preset.where)
    preflight(preset, data)  # bad input, before anything is recorded

    control = RunControl()
    record = Record(input_dim=data.input_dim, classes=data.num_classes)
    interactive = not args.json and is_terminal(sys.stdout)
    with stop_on_signals(control, record):
        run = record_run(preset, data, args.runs_dir, control)
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


def stop_on_signals(control: RunControl, record: Record) -> StopOnSignals:
    """Ctrl+C, SIGTERM or a hangup ask the trainer to stop at the next iteration,
    and the live view says so; a second signal stops at once (lab/session.py)."""

    def stop(signal_name: str) -> None:
        control.stop(f"interrupted by {signal_name}")
        record.stopping = signal_name

    return StopOnSignals(stop, hangup=True)

"""The sentences both faces show about a tune's events: the command prints
them, the workbench's tune view logs them. A trial's line names the tune
stage it belongs to (coarse s1-002, fine s1-002): each stage is a search of
its own, numbered from s1, so the id alone would not tell them apart."""

from __future__ import annotations

from collections.abc import Callable

from ...engine.events import Epoch
from ...formatting import accuracy, duration, plural
from ..search.runner import TrialEnded
from ..search.texts import trial_line
from .events import TuneEnded, TuneStageEnded, TuneStageStarted, TuneStarted


def held_out_line(val_acc: float | None, test_acc: float | None, n_test: int) -> str:
    """The tuned preset's test accuracy beside its val reading, said once, at the end: the val
    split chose the configuration, so its figure is optimistic; the test split was never looked at."""
    if test_acc is None:
        return "held-out test acc: none (no test split: data.num_test = 0, or a tune from before it was read)"
    return (
        f"held-out test acc {accuracy(test_acc)} on {n_test} test examples, read once now "
        f"(val acc {accuracy(val_acc)} chose this configuration, so it reads optimistic)"
    )


def narrator() -> Callable[[object], str | None]:
    """describe, for a tune's events in the order they come: it knows the stage running."""
    stage = [""]

    def tell(event: object) -> str | None:
        if isinstance(event, TuneStageStarted):
            stage[0] = event.stage
        return describe(event, stage[0])

    return tell


def describe(event, stage: str = "") -> str | None:
    """One line for people about a tune event (None: nothing to say), as the command
    prints it and the workbench's tune view logs it; `stage`: the tune stage a
    trial belongs to."""
    if isinstance(event, TuneStarted):
        note = " (resumed: stages already done are not run again)" if event.resumed else ""
        return f"tune {event.preset}: trials on {event.where}; recording in {event.path}{note}"
    if isinstance(event, TuneStageStarted):
        earlier = " (done earlier)" if event.resumed else ""
        return f"[{event.number}/{event.stages}] {event.stage}{earlier}: {event.plan}"
    if isinstance(event, TuneStageEnded):
        return f"    {event.verdict.upper()}: {event.summary}  ({duration(event.elapsed_s)})"
    if isinstance(event, TrialEnded):
        return (
            f"    {event.status:<8} {f'{stage} ' if stage else ''}{trial_line(event)}  {plural(event.epochs, 'epoch')}"
        )
    if isinstance(event, Epoch):
        return (
            f"    epoch {event.epoch}: loss {event.loss:.4f}  train acc {accuracy(event.train_acc)}  "
            f"val acc {accuracy(event.val_acc)}"
        )
    if isinstance(event, TuneEnded):
        if event.status == "finished":
            return (
                f"tuned: best val acc {accuracy(event.best_val_acc)} in {duration(event.elapsed_s)}\n"
                f"{held_out_line(event.best_val_acc, event.test_acc, event.n_test)}\n"
                f"the tuned preset: {event.tuned_preset}  (train it: tui-trainer run {event.tuned_preset})\n"
                f"the report: {event.report}"
            )
        return f"tune {event.status}: {event.reason}\nthe report: {event.report}"
    return None

"""The advisor: what the curves mean, the way Lecture 6 reads them.

Pure functions from a run's history (lab/history.py: the event stream folded
as every face folds it) to diagnoses (`Advice` events), and `Advisor`, a sink
wrapper that watches a run as it goes:

    sink = Advisor(Fanout(store, printer))      # forwards every event, and
    Trainer(preset, data, sink).run()          # adds an `advice` event when a
    sink.diagnoses                             # diagnosis first appears

    diagnose(read_metrics(run_dir))            # the same diagnoses, after the fact

Each diagnosis has a code, a measurable trigger (constants beside each check), a
message with the numbers that tripped it, and the lecture's remedy; SEVERITY
says how each code is shown. Each code fires at most once per run. Every
remedy agrees with the evidence the others read: a loss that rose is never
"raise the rate", a rate is raised by the same factor wherever it is named,
and a flat loss waits out a small init's plateau (lab/evidence.py states the rules).
`diagnose(events)` replays a history through an `Advisor`, so a past run gets
exactly the advice it got live.

The search's check, "the best value sits at the edge of its range", is not
advice on a run: it is `search.space.edge_warnings`, sent with the search's end.

Cost: the trainer thread shares the GIL with the workbench, so a step event
costs its fold into the history and the explosion rule; a ratios event a loop
over the parameters; the checks that look at many steps run at epoch ends only, over
bounded windows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..engine.events import Advice, Event, RunStarted, Sink, from_dict
from ..engine.rules import ExplosionWatch, expected_initial_loss, initial_loss_is_off
from .evidence import initial_loss_fix, lower_rate_remedy, run_input_scale
from .fit_checks import (
    check_accuracy_without_loss,
    check_one_class,
    check_overfit_small,
    check_overfitting,
    check_underfitting,
    check_val_at_chance,
)
from .history import EPOCHS, LOSS, RATIOS, History
from .loss_checks import check_loss_flat, check_loss_linear, check_loss_noisy, check_loss_rising, loss_noise
from .ratio_watch import RatioWatch

__all__ = ["SEVERITY", "EPOCH_CHECKS", "Advisor", "diagnose", "advise_initial_loss", "loss_noise"]

# --- triggers ------------------------------------------------------------------
# Thresholds measured on the bundled mnist-5k with the default preset (seeded):
# the default run (val acc ~0.91) trips none of them. The diagnoses of the loss's
# shape are lab/loss_checks.py's, of the accuracies lab/fit_checks.py's, of the
# update/weight ratios lab/ratio_watch.py's, each with its triggers; the readings
# they share (the loss's direction, the ratios' verdict on the rate, chance, the
# small init's plateau) are lab/evidence.py's.

# loss_exploding: the trainer's own stop rule (engine/rules.py ExplosionWatch): a
# step loss that is not finite, or the smoothed step loss above explode_factor
# times the initial loss.
# The factor is the run's train.explode_factor; this default is for a history
# whose config does not name it.
DEFAULT_EXPLODE_FACTOR = 3.0

# initial_loss: the loss at init lies further outside what the init gives
# (engine/rules.py expected_initial_loss: ln(C) or C - 1 for small weights, up to
# the He or Xavier scores' loss) than the sanity check allows (INITIAL_LOSS_TOL, a
# fraction of it): the same rule as lab/checks.py's check, with the same remedy.

SEVERITY = {
    "loss_exploding": "error",
    "initial_loss": "warning",
    "loss_rising": "warning",
    "loss_flat": "warning",
    "ratio_low": "warning",
    "ratio_high": "warning",
    "overfitting": "warning",
    "one_class": "warning",
    "val_at_chance": "warning",
    "loss_linear": "info",
    "loss_noisy": "info",
    "underfitting": "info",
    "accuracy_without_loss": "info",
    "overfit_small": "info",
}


def advise_initial_loss(h: History) -> Advice | None:
    """The run's loss at init (reg included, as the trainer measures it) against the
    sanity check's expectation; a loss that is not finite is the explosion rule's."""
    if h.started is None or not math.isfinite(h.started.initial_loss):
        return None
    c = h.started.classes
    svm = h.setting("model", "loss", "softmax") == "svm"
    init = h.setting("model", "init", "gaussian")
    expected = expected_initial_loss("svm" if svm else "softmax", c, init, len(h.setting("model", "hidden", [])))
    loss = h.started.initial_loss
    if not initial_loss_is_off(loss, expected):
        return None
    std = float(h.setting("model", "init_std", 0.0))
    init_desc = f"{init}, init_std {std:g}" if init == "gaussian" else init
    preprocess = list(h.setting("data", "preprocess", []))
    fix = initial_loss_fix(loss, expected, init, std, preprocess, run_input_scale(h))
    if fix:
        remedy = f"{fix[0].upper()}{fix[1:]}. If not, check the loss (and whether train.reg adds a large term)."
    else:
        remedy = (
            f"Check the init (model.init: {init_desc}) and the input scale (data.preprocess): the scores should "
            "start at the init's scale. If they do, check the loss (and whether train.reg adds a large term)."
        )
    over = f"{loss / expected.high:.2f}x" if loss > expected.high else f"{loss / expected.low:.2f}x"
    if expected.low == expected.high:
        expect = f"the {expected.what} that small random weights give"
    else:
        expect = f"the {'top' if loss > expected.high else 'bottom'} of {expected.what}, what the {init} init gives"
    return Advice(
        iteration=0,
        code="initial_loss",
        message=f"The loss at init is {loss:.4g}, {over} {expect} with {'the SVM' if svm else 'softmax'} loss "
        f"over {c} classes.",
        remedy=remedy,
    )


def _exploding_advice(h: History, watch: ExplosionWatch) -> Advice:
    """The advice for the step that tripped the trainer's explosion rule (the Advisor runs the same watch)."""
    return Advice(
        iteration=watch.iteration,
        code="loss_exploding",
        message=f"The loss is exploding: {watch.why()}.",
        remedy=lower_rate_remedy(h),
    )


EPOCH_CHECKS = {
    "loss_rising": check_loss_rising,
    "loss_flat": check_loss_flat,
    "loss_linear": check_loss_linear,
    "loss_noisy": check_loss_noisy,
    "one_class": check_one_class,
    "val_at_chance": check_val_at_chance,
    "overfit_small": check_overfit_small,
    "overfitting": check_overfitting,
    "underfitting": check_underfitting,
    "accuracy_without_loss": check_accuracy_without_loss,
}


# --- the watcher ------------------------------------------------------------------


class Advisor:
    """A sink wrapper: forwards every event to `sink`, and sends an `Advice`
    event into the same sink when a diagnosis first appears (once per code per
    run; a new `run_started` starts over).

    `diagnoses` holds this run's diagnoses in the order they appeared.
    """

    def __init__(self, sink: Sink | None = None):
        self.sink = sink
        self.diagnoses: list[Advice] = []
        self._seen: set[str] = set()
        self._history = History()
        self._ratios = RatioWatch()
        self._explosion: ExplosionWatch | None = None

    def __call__(self, event: Event) -> None:
        if self.sink is not None:
            self.sink(event)
        h = self._history
        what = h.add(event)
        if what == LOSS:
            if self._explosion is not None and self._explosion.update(h.loss):
                self._emit(_exploding_advice(h, self._explosion))
        elif what == RATIOS:
            assert h.ratios is not None
            for d in self._ratios.update(h.ratios, h, self._seen):
                self._emit(d)
        elif what == EPOCHS:
            for code, check in EPOCH_CHECKS.items():
                if code not in self._seen:
                    self._emit(check(h))
        elif isinstance(event, RunStarted):  # the history has started over
            self.diagnoses = []
            self._seen = set()
            self._ratios = RatioWatch()
            factor = float(h.setting("train", "explode_factor", DEFAULT_EXPLODE_FACTOR))
            self._explosion = ExplosionWatch(event.initial_loss, factor)
            self._emit(advise_initial_loss(h))

    def _emit(self, advice: Advice | None) -> None:
        if advice is None or advice.code in self._seen:
            return
        self._seen.add(advice.code)
        self.diagnoses.append(advice)
        if self.sink is not None:
            self.sink(advice)


def diagnose(events: Iterable[Event | Mapping[str, Any]]) -> list[Advice]:
    """The diagnoses of a finished (or partial) run, as the live Advisor gave them.

    `events`: dataclasses, or dicts as read from metrics.jsonl; recorded
    `advice` events are ignored and recomputed.
    """
    advisor = Advisor()
    for event in events:
        e = from_dict(dict(event)) if isinstance(event, Mapping) else event
        if not isinstance(e, Advice):
            advisor(e)
    return advisor.diagnoses

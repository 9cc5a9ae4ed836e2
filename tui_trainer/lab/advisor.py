"""The advisor: what the curves mean, the way Lecture 6 reads them.

Pure functions from a run's history (lab/history.py: the event stream folded
as every face folds it) to diagnoses (`Advice` events), and `Advisor`, a sink
wrapper that watches a run as it goes:

    sink = Advisor(Fanout(store, printer))      # forwards every event, and
    Trainer(preset, data, sink).run()          # adds an `advice` event when a
    sink.diagnoses                             # diagnosis first appears

    diagnose(read_metrics(run_dir))            # the same diagnoses, after the fact

Each diagnosis has a code, a measurable trigger (the constants below), a
message with the numbers that tripped it, and the lecture's remedy; SEVERITY
says how each code is shown. Each code fires at most once per run.
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

import numpy as np

from ..engine.events import Advice, Event, Ratios, RunStarted, Sink, from_dict
from ..engine.rules import ExplosionWatch, expected_initial_loss, initial_loss_is_off
from ..engine.stats import RATIO_BAND
from .history import EPOCHS, LOSS, RATIOS, History

# --- triggers ------------------------------------------------------------------
# Thresholds measured on the bundled mnist-5k with the default preset (seeded):
# the default run (val acc ~0.91) trips none of them.

# loss_flat: over the first epoch (at least FLAT_MIN_STEPS iterations), the
# mean of its last quarter of mini-batch losses fell less than FLAT_DROP of the
# initial loss. (default: 6.9%; learning rate 1e-6: 0.0%.)
FLAT_DROP = 0.03
FLAT_MIN_STEPS = 10
# ... and the remedy blames the regularization too only when train.reg is at least this.
STRONG_REG = 1.0
# ... and the remedy mentions the init when it is gaussian with init_std at most this.
TINY_INIT = 1e-3

# loss_exploding: the trainer's own stop rule (engine/rules.py ExplosionWatch): a
# step loss that is not finite, or the smoothed step loss above explode_factor
# times the initial loss.
# The factor is the run's train.explode_factor; this default is for a history
# whose config does not name it.
DEFAULT_EXPLODE_FACTOR = 3.0

# loss_linear: from epoch LINEAR_MIN_EPOCHS on (at least LINEAR_MIN_STEPS
# iterations), the step losses so far, averaged in LINEAR_BINS bins, fell by at
# least LINEAR_MIN_DROP of the first bin, the first half of the fall is within
# a factor LINEAR_BALANCE of the second half (no early drop, no late
# acceleration), and a straight line fits the bins with R^2 >= LINEAR_R2.
LINEAR_MIN_EPOCHS = 2
LINEAR_MIN_STEPS = 30
LINEAR_BINS = 12
LINEAR_MIN_DROP = 0.05
LINEAR_BALANCE = 1.5
LINEAR_R2 = 0.97

# loss_noisy: at an epoch end, over the last NOISE_WINDOW mini-batch losses
# (NOISE_MIN_STEPS at least), the step-to-step noise (std of successive
# differences / sqrt 2, so a smooth trend hardly counts) is above NOISE_LEVEL
# of the initial loss. Mini-batch sampling only. Measured (seeded, first
# 100 steps): mnist-5k batch 200 0.04, 100 0.06, 50 0.08, 20 0.14, 10 0.27;
# spiral batch 100 0.04, 30 0.06, 10 0.14.
NOISE_WINDOW = 100
NOISE_MIN_STEPS = 20
NOISE_LEVEL = 0.10

# overfitting: at an epoch end, train accuracy - val accuracy >= GAP.
GAP = 0.15

# underfitting: train accuracy < LOW_ACCURACY, train - val < NO_GAP, the loss has
# learned something (at least UNDERFIT_LEARNED below the initial loss), and both
# curves have flattened: over the last UNDERFIT_WINDOW epochs the val accuracy
# made no new high (its best is at most VAL_RISE above the best before them) and
# the lowest epoch loss is less than PLATEAU below the lowest before them. So it
# waits UNDERFIT_WINDOW + 1 epochs at least: a net still climbing (spiral at
# epoch 4, at val 0.57 on its way to 1.00) is not underfitting.
UNDERFIT_WINDOW = 5
LOW_ACCURACY = 0.70
NO_GAP = 0.05
UNDERFIT_LEARNED = 0.10
VAL_RISE = 0.01
PLATEAU = 0.03
# ... and its remedy suggests this hidden layer for a linear classifier, and
# lowering train.reg only when it is at least REG_MATTERS.
FIRST_HIDDEN = 100
REG_MATTERS = 1e-2

# accuracy_without_loss: at an epoch end after FLAT_MIN_STEPS iterations at
# least, the epoch's mean loss is within STILL_LOSS of the initial loss while
# train accuracy is at least ABOVE_CHANCE over chance (1 / classes).
STILL_LOSS = 0.01
ABOVE_CHANCE = 0.10

# ratio_low / ratio_high: a weight matrix's update/weight ratio stays below the
# band (engine/stats.py RATIO_BAND, 1e-3..1e-2) or above RATIO_HIGH for
# RATIO_PERSIST ratios events in a row. Weights only: biases start at zero, so
# their ratio starts huge and means nothing. Both sides allow a decade outside
# the band (where the ratio table's colour turns from warning to alert): with
# momentum and a tiny gaussian init, good runs sit at 1e-2..1e-1 for their first
# epochs (the default preset does) while the weights grow, and a healthy
# output layer can sit a little under 1e-3 (digits-fast's W2, about 7e-4).
RATIO_PERSIST = 5
RATIO_LOW = RATIO_BAND[0] / 10
RATIO_HIGH = RATIO_BAND[1] * 10
# A low ratio means "raise the learning rate" only while training still has
# something to learn at the preset's rate: not once it has converged (the last
# epoch's train accuracy is at least CONVERGED_ACC: the gradients are small
# because the loss is) and not once the schedule (train.learning_rate_decay) has
# taken the rate below DECAYED of its start. Then ratio_low says nothing.
CONVERGED_ACC = 0.99
DECAYED = 0.5

# initial_loss: the loss at init is further from ln(C) (softmax) or C - 1 (SVM),
# what small random weights give, than the sanity check allows (engine/rules.py
# INITIAL_LOSS_TOL, a fraction of it): the same rule as lab/checks.py's check.

SEVERITY = {
    "loss_exploding": "error",
    "initial_loss": "warning",
    "loss_flat": "warning",
    "ratio_low": "warning",
    "ratio_high": "warning",
    "overfitting": "warning",
    "loss_linear": "info",
    "loss_noisy": "info",
    "underfitting": "info",
    "accuracy_without_loss": "info",
}


# --- the checks: each reads the history as it stands ----------------------------------


def advise_initial_loss(h: History) -> Advice | None:
    """The run's loss at init (reg included, as the trainer measures it) against the
    sanity check's expectation; a loss that is not finite is the explosion rule's."""
    if h.started is None or not math.isfinite(h.started.initial_loss):
        return None
    c = h.started.classes
    svm = h.setting("model", "loss", "softmax") == "svm"
    expected, what = expected_initial_loss("svm" if svm else "softmax", c)
    loss = h.started.initial_loss
    if not initial_loss_is_off(loss, expected):
        return None
    init = h.setting("model", "init", "gaussian")
    std = float(h.setting("model", "init_std", 0.0))
    init_desc = f"{init}, init_std {std:g}" if init == "gaussian" else init
    preprocess = list(h.setting("data", "preprocess", []))
    if loss > expected and init == "gaussian" and std > 0:
        fix = f" Scores grow with the init: try model.init_std = {_g(std / 10)}."
    elif loss > expected and "std" not in preprocess:
        fix = f" Scores grow with the inputs: try data.preprocess = {[*preprocess, 'std']} (unit variance)."
    else:
        fix = ""
    return Advice(
        iteration=0,
        code="initial_loss",
        message=f"The loss at init is {loss:.4g}, {loss / expected:.2f}x the {what} that small random weights give "
        f"with {'the SVM' if svm else 'softmax'} loss over {c} classes.",
        remedy=f"Check the init (model.init: {init_desc}) and the input scale (data.preprocess): the scores should "
        f"start near zero.{fix} If they do, check the loss (and whether train.reg adds a large term).",
    )


def check_loss_flat(h: History) -> Advice | None:
    """Judged once, at the end of the first epoch that completes FLAT_MIN_STEPS iterations."""
    if h.started is None or not h.epochs:
        return None
    per = h.iterations_per_epoch
    n_epochs = max(1, math.ceil(FLAT_MIN_STEPS / per))
    if len(h.epochs) < n_epochs:
        return None
    window = h.steps_loss[: n_epochs * per]
    if not len(window):
        return None
    tail = window[-max(1, len(window) // 4) :]
    if not np.all(np.isfinite(tail)):
        return None  # that is an explosion, not a flat loss
    initial = h.started.initial_loss
    drop = (initial - float(tail.mean())) / initial
    if not drop < FLAT_DROP:
        return None
    lr, reg = h.setting("train", "learning_rate"), h.setting("train", "reg")
    span = "first epoch" if n_epochs == 1 else f"first {n_epochs} epochs"
    remedy = f"The learning rate is probably too low (train.learning_rate = {lr:g}): try it 10x higher, {_g(lr * 10)}."
    if reg >= STRONG_REG:
        remedy += f" Or the regularization is too strong (train.reg = {reg:g}): try {_g(reg / 10)}."
    init_std = h.setting("model", "init_std", 0.0)
    if h.setting("model", "hidden") and h.setting("model", "init") == "gaussian" and init_std <= TINY_INIT:
        # Every layer's gradient scales with the weights of the layers around it: all tiny at first.
        remedy += (
            f" With a tiny init (model.init_std = {init_std:g}) a net with hidden layers also starts "
            "slowly: the loss can sit still for a while, then drop."
        )
    return Advice(
        iteration=len(window),
        code="loss_flat",
        message=f"The loss is not going down: {_pct(drop)} over the {span} ({len(window)} iterations), "
        f"from {initial:.4g} to {tail.mean():.4g}.",
        remedy=remedy,
    )


def _exploding_advice(h: History, watch: ExplosionWatch) -> Advice:
    """The advice for the step that tripped the trainer's explosion rule (the Advisor runs the same watch)."""
    lr = _lr(h)
    return Advice(
        iteration=watch.iteration,
        code="loss_exploding",
        message=f"The loss is exploding: {watch.why()}.",
        remedy=f"The learning rate is too high (train.learning_rate = {lr:g}): "
        f"lower it, by 10x to start with (train.learning_rate = {_g(lr / 10)}).",
    )


def _g(x: float) -> str:
    """A number as a preset would hold it: 3 significant digits, never a negative zero."""
    return f"{x + 0.0:.3g}"


def _pct(fraction: float) -> str:
    """A signed percentage with one decimal, never "-0.0%" (a change that rounds to nothing)."""
    return f"{round(fraction * 100, 1) + 0.0:+.1f}%"


def check_loss_linear(h: History) -> Advice | None:
    if h.started is None or len(h.epochs) < LINEAR_MIN_EPOCHS or h.steps < LINEAR_MIN_STEPS:
        return None
    x = h.steps_loss
    if not np.all(np.isfinite(x)):
        return None
    n = (len(x) // LINEAR_BINS) * LINEAR_BINS
    bins = x[:n].reshape(LINEAR_BINS, -1).mean(axis=1)
    fall = bins[0] - bins[-1]
    if bins[0] <= 0 or fall < LINEAR_MIN_DROP * bins[0]:
        return None
    half = LINEAR_BINS // 2
    first, second = bins[0] - bins[half - 1], bins[half] - bins[-1]
    # Equal-width halves of a straight line fall by the same amount
    # (the step between bin half-1 and half belongs to neither).
    if first <= 0 or second <= 0 or not (1 / LINEAR_BALANCE <= first / second <= LINEAR_BALANCE):
        return None
    t = np.arange(LINEAR_BINS, dtype=np.float64)
    slope, intercept = np.polyfit(t, bins, 1)
    resid = bins - (slope * t + intercept)
    r2 = 1.0 - float(resid @ resid) / float(((bins - bins.mean()) ** 2).sum())
    if r2 < LINEAR_R2:
        return None
    return Advice(
        iteration=h.iteration,
        code="loss_linear",
        message=f"The loss falls in a straight line ({fall / bins[0]:.0%} over {h.iteration} iterations, "
        f"R\u00b2 {r2:.2f} for a line) without the early drop a good learning rate gives.",
        remedy=f"The learning rate is low (train.learning_rate = {_lr(h):g}): try it 3-10x higher, "
        f"{_g(3 * _lr(h))} to {_g(10 * _lr(h))}.",
    )


def check_loss_noisy(h: History) -> Advice | None:
    if h.started is None or not h.epochs or not h.setting("train", "sample_batches", True):
        return None
    window = h.steps_loss[-NOISE_WINDOW:]
    if len(window) < NOISE_MIN_STEPS or not np.all(np.isfinite(window)):
        return None
    noise = loss_noise(window) / h.started.initial_loss
    if noise <= NOISE_LEVEL:
        return None
    batch = int(h.setting("train", "batch_size", 1))
    bigger = min(4 * batch, max(h.started.n_train, 1))
    return Advice(
        iteration=h.iteration,
        code="loss_noisy",
        message=f"The loss is very noisy around its trend: step-to-step noise {noise:.0%} of the initial loss "
        f"over the last {len(window)} iterations.",
        remedy=f"The batch size is small (train.batch_size = {batch}): try {bigger} "
        "(and the learning rate may be a little high for it).",
    )


def loss_noise(losses: np.ndarray) -> float:
    """Noise of a loss series around its trend, in loss units: the std of
    successive differences / sqrt(2) (for independent noise of std s, a
    difference has std s * sqrt 2). A smooth trend changes little from one
    step to the next, so it hardly counts."""
    d = np.diff(losses)
    return float(d.std()) / math.sqrt(2) if d.size else 0.0


def check_overfitting(h: History) -> Advice | None:
    if not h.epochs:
        return None
    e = h.epochs[-1]
    gap = e.train_acc - e.val_acc
    if gap < GAP:
        return None
    reg = float(h.setting("train", "reg", 0.0))
    return Advice(
        iteration=h.iteration,
        code="overfitting",
        message=f"A big gap between train and val accuracy at epoch {e.epoch}: {e.train_acc:.1%} vs "
        f"{e.val_acc:.1%} ({gap:.0%}). The net is overfitting.",
        remedy=f"Raise the regularization strength (train.reg = {reg:g}): try {_g(reg * 10) if reg > 0 else '1e-3'}. "
        f"Or get more data (data.num_train = {h.started.n_train if h.started else '?'}).",
    )


def check_underfitting(h: History) -> Advice | None:
    if h.started is None or len(h.epochs) < UNDERFIT_WINDOW + 1:
        return None
    e = h.epochs[-1]
    recent, before = h.epochs[-UNDERFIT_WINDOW:], h.epochs[:-UNDERFIT_WINDOW]
    losses_recent = [x.loss for x in recent if math.isfinite(x.loss)]
    losses_before = [x.loss for x in before if math.isfinite(x.loss)]
    if not losses_recent or not losses_before or min(losses_before) <= 0:
        return None
    initial = h.started.initial_loss
    learned = (initial - e.loss) / initial >= UNDERFIT_LEARNED
    val_flat = max(x.val_acc for x in recent) <= max(x.val_acc for x in before) + VAL_RISE
    loss_flat = (min(losses_before) - min(losses_recent)) / min(losses_before) < PLATEAU
    if not (e.train_acc < LOW_ACCURACY and e.train_acc - e.val_acc < NO_GAP and learned and val_flat and loss_flat):
        return None
    hidden = list(h.setting("model", "hidden", []))
    bigger = [2 * u for u in hidden] if hidden else [FIRST_HIDDEN]
    reg = float(h.setting("train", "reg", 0.0))
    remedy = f"Raise the model's capacity (model.hidden = {hidden}): try {bigger}" + (
        ", or another layer." if hidden else ", a hidden layer: a linear classifier draws straight boundaries."
    )
    if reg >= REG_MATTERS:
        remedy += f" Or lower the regularization (train.reg = {reg:g}): try {_g(reg / 10)}."
    return Advice(
        iteration=h.iteration,
        code="underfitting",
        message=f"No gap and low accuracy at epoch {e.epoch}: train {e.train_acc:.1%}, val {e.val_acc:.1%}; "
        f"val accuracy and the loss ({e.loss:.4g}) have levelled off over the last {UNDERFIT_WINDOW} epochs. "
        "The net is underfitting.",
        remedy=remedy,
    )


def check_accuracy_without_loss(h: History) -> Advice | None:
    if h.started is None or not h.epochs or h.iteration < FLAT_MIN_STEPS:
        return None
    e = h.epochs[-1]
    initial = h.started.initial_loss
    chance = 1.0 / h.started.classes
    if not math.isfinite(e.loss) or abs(initial - e.loss) / initial >= STILL_LOSS:
        return None
    if e.train_acc < chance + ABOVE_CHANCE:
        return None
    svm = h.setting("model", "loss", "softmax") == "svm"
    why = (
        "the SVM loss sums margins over every wrong class: the scores are still tiny and nearly equal, "
        "so the margins (and the loss) barely change, while the correct score is already the largest "
        "for more examples"
        if svm
        else "this is softmax: the scores are still tiny, so the probabilities stay nearly uniform and the loss "
        "barely changes, while the correct class's score has become the largest for more examples, "
        "which is all accuracy counts"
    )
    return Advice(
        iteration=h.iteration,
        code="accuracy_without_loss",
        message=f"Train accuracy has risen to {e.train_acc:.0%} (chance is {chance:.0%}) while the loss barely "
        f"moved ({initial:.4g} -> {e.loss:.4g}): {why}.",
        remedy="Nothing is broken. If the loss stays this still, the learning rate is low "
        f"(train.learning_rate = {_lr(h):g}): try it 10x higher, {_g(10 * _lr(h))}, and the loss will move too.",
    )


class RatioWatch:
    """Counts, per weight matrix, how many ratios events in a row sat out of band.

    O(parameters) per ratios event.
    """

    def __init__(self) -> None:
        self.low: dict[str, int] = {}
        self.high: dict[str, int] = {}

    def update(self, r: Ratios, h: History, seen: Iterable[str] = ()) -> list[Advice]:
        found = []
        low_now, high_now = [], []
        for p in r.params:
            if not p.name.startswith("W"):
                continue
            ratio = p.ratio
            is_low = ratio is not None and math.isfinite(ratio) and ratio < RATIO_LOW
            is_high = ratio is not None and (not math.isfinite(ratio) or ratio > RATIO_HIGH)
            self.low[p.name] = self.low.get(p.name, 0) + 1 if is_low else 0
            self.high[p.name] = self.high.get(p.name, 0) + 1 if is_high else 0
            if self.low[p.name] >= RATIO_PERSIST:
                low_now.append(p)
            if self.high[p.name] >= RATIO_PERSIST:
                high_now.append(p)
        lr = _lr(h)
        lr_text = f"train.learning_rate = {lr:g}"
        if low_now and "ratio_low" not in seen and still_learning(h):
            up = _factor(RATIO_BAND[0] / min(p.ratio or math.inf for p in low_now))  # to the band's floor
            found.append(
                Advice(
                    iteration=r.iteration,
                    code="ratio_low",
                    message=f"The update/weight {_ratio_word(low_now)} of {_names(low_now)} {_has(low_now)} "
                    f"stayed below {RATIO_LOW:g} for {RATIO_PERSIST} readings (now {_ratios(low_now)}); "
                    "the lecture's rule of thumb is about 1e-3.",
                    remedy=f"The learning rate is probably too low ({lr_text}): raise it about {up}x, "
                    f"to {_g(lr * up)}.",
                )
            )
        if high_now and "ratio_high" not in seen:
            down = _factor(_max_ratio(high_now) / RATIO_BAND[1])  # to the band's top
            found.append(
                Advice(
                    iteration=r.iteration,
                    code="ratio_high",
                    message=f"The update/weight {_ratio_word(high_now)} of {_names(high_now)} {_has(high_now)} "
                    f"stayed above {RATIO_HIGH:g} for {RATIO_PERSIST} readings (now {_ratios(high_now)}); "
                    "the lecture's rule of thumb is about 1e-3.",
                    remedy=f"The learning rate is probably too high ({lr_text}): lower it about {down}x, "
                    f"to {_g(lr / down)}.",
                )
            )
        return found


def still_learning(h: History) -> bool:
    """Whether a low update/weight ratio still means the preset's rate is low: training
    has not converged (last train accuracy below CONVERGED_ACC) and the schedule has not
    taken the rate below DECAYED of its start."""
    if h.epochs and h.epochs[-1].train_acc >= CONVERGED_ACC:
        return False
    return not math.isfinite(h.learning_rate) or h.learning_rate >= DECAYED * _lr(h)


def _factor(x: float) -> int:
    """How many times to change the learning rate to move a ratio x-fold: a power of
    ten, at least 10 (the ratio scales about linearly with the rate)."""
    return int(10 ** max(1, round(math.log10(x)))) if x > 0 and math.isfinite(x) else 10


def _max_ratio(params) -> float:
    finite = [p.ratio for p in params if p.ratio is not None and math.isfinite(p.ratio)]
    return max(finite) if finite else math.inf


def _lr(h: History) -> float:
    """The run's configured (starting) learning rate."""
    return float(h.setting("train", "learning_rate", 1e-3))


def _names(params) -> str:
    names = [p.name for p in params]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _ratio_word(params) -> str:
    return "ratio" if len(params) == 1 else "ratios"


def _has(params) -> str:
    return "has" if len(params) == 1 else "have"


def _ratios(params) -> str:
    return ", ".join(f"{p.name} {p.ratio:.1e}" for p in params)


# The checks run at each epoch end, by the code they give.
EPOCH_CHECKS = {
    "loss_flat": check_loss_flat,
    "loss_linear": check_loss_linear,
    "loss_noisy": check_loss_noisy,
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

"""The advisor's diagnoses of the accuracy curves: against chance and the majority class,
overfitting (and the overfit-small check's success), underfitting, accuracy that rises
while the loss stays put.

Pure functions of a run's history, run at epoch ends by the Advisor (lab/advisor.py);
chance, the one-class reading and the rate's evidence are lab/evidence.py's.
"""

from __future__ import annotations

import math

from ..engine.events import Advice
from .checks import OVERFIT_EXAMPLES
from .evidence import (
    FIRST_HIDDEN,
    FLAT_MIN_STEPS,
    GAP,
    REG_MATTERS,
    answers_one_class,
    chance,
    number,
    one_class,
    past_plateau,
    raise_rate_remedy,
    rate_evidence,
    val_at_chance,
)
from .history import History
from .loss_checks import flat_cause, loss_fell

# overfitting: at an epoch end, train accuracy - val accuracy >= evidence.GAP, unless
# val sits at chance (val_at_chance), the net answers one class (one_class), or the
# run is the lecture's overfit-small check (overfit_small).

# overfit_small: a run on at most checks.OVERFIT_EXAMPLES training examples with reg 0
# is the lecture's sanity check (the overfit-small preset): train accuracy 1.00 is
# its success, told as such, and its gap is the point, not a warning.

# one_class / val_at_chance: evidence.one_class and evidence.val_at_chance, at an epoch end.

# underfitting: train accuracy < LOW_ACCURACY, train - val < NO_GAP, and both curves
# have flattened: over the last UNDERFIT_ITERS iterations (UNDERFIT_WINDOW epochs at
# least) the val accuracy made no new high (its best is at most VAL_RISE above the
# best before them) and the lowest epoch loss is less than PLATEAU below the lowest
# before them. Windows count iterations, not epochs: a full-batch run takes one step
# an epoch, and five steps say nothing. A loss that never fell counts (a linear
# classifier on circles learns nothing), except where the ratios say the rate is
# low (loss_flat's) or the net answers one class or sits at chance (theirs). A net
# still climbing (spiral at epoch 4, at val 0.57 on its way to 1.00) is not
# underfitting.
UNDERFIT_WINDOW = 5
UNDERFIT_ITERS = 100
LOW_ACCURACY = 0.70
NO_GAP = 0.05
VAL_RISE = 0.01
PLATEAU = 0.03
# ... and its remedy lowers train.reg only when it is at least evidence.REG_MATTERS.

# accuracy_without_loss: at an epoch end after FLAT_MIN_STEPS iterations at
# least, the epoch's mean loss is within STILL_LOSS of the initial loss while
# train accuracy is at least ABOVE_CHANCE over chance (1 / classes).
STILL_LOSS = 0.01
ABOVE_CHANCE = 0.10


def overfit_run(h: History) -> bool:
    """The lecture's overfit-small sanity check: at most OVERFIT_EXAMPLES training examples, reg 0."""
    return h.started is not None and h.started.n_train <= OVERFIT_EXAMPLES and not h.setting("train", "reg", 0.0)


def check_overfit_small(h: History) -> Advice | None:
    if not h.epochs or not overfit_run(h) or h.epochs[-1].train_acc < 1.0:
        return None
    assert h.started is not None
    e = h.epochs[-1]
    return Advice(
        iteration=h.iteration,
        code="overfit_small",
        message=f"The net fits all {h.started.n_train} training examples: train accuracy 100% at epoch {e.epoch} "
        f"(val {e.val_acc:.1%}). The overfit-small sanity check passes: the loss, its gradient and the update work.",
        remedy="Nothing to fix: overfitting a tiny set with reg 0 is the point. To generalize, train on the "
        "full set (data.num_train) with some regularization (train.reg).",
    )


def check_overfitting(h: History) -> Advice | None:
    if h.started is None or not h.epochs or overfit_run(h) or one_class(h) or val_at_chance(h):
        return None
    e = h.epochs[-1]
    gap = e.train_acc - e.val_acc
    c = chance(h)
    if gap < GAP or max(x.val_acc for x in h.epochs) <= c.level + c.margin:
        return None  # no gap; or val has not left chance yet: val_at_chance's to judge, not overfitting
    reg = float(h.setting("train", "reg", 0.0))
    return Advice(
        iteration=h.iteration,
        code="overfitting",
        message=f"A big gap between train and val accuracy at epoch {e.epoch}: {e.train_acc:.1%} vs "
        f"{e.val_acc:.1%} ({gap:.0%}). The net is overfitting.",
        remedy=f"Raise the regularization strength (train.reg = {reg:g}): try {number(reg * 10) if reg else '1e-3'}. "
        f"Or get more data (data.num_train = {h.started.n_train if h.started else '?'}).",
    )


def check_one_class(h: History) -> Advice | None:
    if h.started is None or not past_plateau(h) or not one_class(h):
        return None
    e = h.epochs[-1]
    c = chance(h)
    names = h.started.label_names
    top = e.val_top_class
    which = names[top] if top is not None and top < len(names) else str(top)
    if top is not None and top == c.majority_class and c.skewed:
        what = f"class {which}, the majority ({c.majority:.0%} of the val split)"
    else:
        what = f"class {which}"
    reg = float(h.setting("train", "reg", 0.0))
    if reg >= REG_MATTERS:
        remedy = (
            f"The regularization may hold every weight near zero, leaving only the biases (train.reg = {reg:g}): "
            f"try {number(reg / 10)}."
        )
    else:
        remedy = (
            "Judge this run by its loss, not its accuracy. If the loss has stopped falling, the inputs may not tell "
            "the classes apart: check the features and the labels; with a rare class, give the training set more "
            "of its examples so the loss rewards learning it."
        )
    return Advice(
        iteration=h.iteration,
        code="one_class",
        message=f"The net predicts one class only: {e.val_top_share:.1%} of its val predictions are {what}, "
        f"so val accuracy ({e.val_acc:.1%}) is that class's share, whatever the net has learned.",
        remedy=remedy,
    )


def check_val_at_chance(h: History) -> Advice | None:
    if h.started is None or not val_at_chance(h):
        return None
    e = h.epochs[-1]
    best = max(x.val_acc for x in h.epochs)
    return Advice(
        iteration=h.iteration,
        code="val_at_chance",
        message=f"Val accuracy sits at chance ({chance(h).words()}): its best is {best:.1%} while train accuracy "
        f"reached {e.train_acc:.1%}. Nothing the net learns of the training set carries over.",
        remedy="Nothing learned that generalizes: check the labels and the data (labels that do not belong to "
        "their inputs, or a val split from another source, give this). More regularization or data cannot help "
        "until val leaves chance.",
    )


def check_underfitting(h: History) -> Advice | None:
    if h.started is None:
        return None
    per = h.iterations_per_epoch
    n = max(UNDERFIT_WINDOW, math.ceil(UNDERFIT_ITERS / per))
    if len(h.epochs) < n + 1 or one_class(h) or val_at_chance(h):
        return None
    rate = rate_evidence(h)
    if rate.slow and rate.may_raise:
        return None  # the rate is low: loss_flat and ratio_low say so
    if not loss_fell(h) and flat_cause(h):
        return None  # a flat loss with a cause of its own (scale, small init, reg): loss_flat names it
    e = h.epochs[-1]
    recent, before = h.epochs[-n:], h.epochs[:-n]
    losses_recent = [x.loss for x in recent if math.isfinite(x.loss)]
    losses_before = [x.loss for x in before if math.isfinite(x.loss)]
    if not losses_recent or not losses_before or min(losses_before) <= 0:
        return None
    val_flat = max(x.val_acc for x in recent) <= max(x.val_acc for x in before) + VAL_RISE
    loss_flat = (min(losses_before) - min(losses_recent)) / min(losses_before) < PLATEAU
    if not (e.train_acc < LOW_ACCURACY and e.train_acc - e.val_acc < NO_GAP and val_flat and loss_flat):
        return None
    hidden = list(h.setting("model", "hidden", []))
    bigger = [2 * u for u in hidden] if hidden else [FIRST_HIDDEN]
    reg = float(h.setting("train", "reg", 0.0))
    remedy = f"Raise the model's capacity (model.hidden = {hidden}): try {bigger}" + (
        ", or another layer." if hidden else ", a hidden layer: a linear classifier draws straight boundaries."
    )
    remedy += (
        " If a bigger net does not raise train accuracy either, the data cap it (noisy labels, or features that "
        "do not tell the classes apart): check them."
    )
    if reg >= REG_MATTERS:
        remedy += f" Or lower the regularization (train.reg = {reg:g}): try {number(reg / 10)}."
    return Advice(
        iteration=h.iteration,
        code="underfitting",
        message=f"No gap and low accuracy at epoch {e.epoch}: train {e.train_acc:.1%}, val {e.val_acc:.1%}; "
        f"val accuracy and the loss ({e.loss:.4g}) have levelled off over the last {n * per} iterations "
        f"({n} epochs). The net is underfitting.",
        remedy=remedy,
    )


def check_accuracy_without_loss(h: History) -> Advice | None:
    if h.started is None or not h.epochs or h.iteration < FLAT_MIN_STEPS:
        return None
    e = h.epochs[-1]
    initial = h.started.initial_loss
    c = chance(h)
    chance_level = c.level  # a net that answers the majority class scores its share
    if not math.isfinite(e.loss) or abs(initial - e.loss) / initial >= STILL_LOSS:
        return None
    if e.train_acc < chance_level + ABOVE_CHANCE or answers_one_class(e):
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
    rate = rate_evidence(h)
    if rate.slow and rate.may_raise:
        raise_it = raise_rate_remedy(h, rate, "the weights barely move")
        after = f"If the loss stays this still, the rate is the cause. {raise_it}"
    else:
        after = "The weights are moving: the loss follows once the scores have grown."
    return Advice(
        iteration=h.iteration,
        code="accuracy_without_loss",
        message=f"Train accuracy has risen to {e.train_acc:.0%} (chance is {c.words()}) while the loss barely "
        f"moved ({initial:.4g} -> {e.loss:.4g}): {why}.",
        remedy=f"Nothing is broken. {after}",
    )

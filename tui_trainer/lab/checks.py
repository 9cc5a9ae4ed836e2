"""The sanity-check suite: the lecture's checks before a long run.

    results = run_checks(preset)            # on the data set the preset loads
    [r.passed for r in results]

1. initial-loss    at init with reg 0, softmax loss ~ ln(C); SVM loss ~ C - 1
2. regularization  raising reg raises the loss at init
3. gradient        analytic vs centred numerical gradients, float64, a few examples
4. overfit-small   20 examples, reg 0, plain sgd, full batch: train accuracy 1.00 within
                   200 epochs (the run stops there); when the preset's learning rate fails,
                   the same at 10x, 100x and 1000x it (OVERFIT_LADDER), to tell a rate too
                   low (one passes: `passing_lr`) from a bug

`tui-trainer check PRESET [--json]` prints a table (or one JSON object) and
exits 0 when all pass, 1 when any fails, 2 on bad input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np

from ..config import Preset
from ..datasets import Dataset, load_dataset
from ..engine import RunControl, Trainer, build_net
from ..engine.events import Epoch
from ..engine.gradcheck import gradient_check
from ..engine.rules import expected_initial_loss, initial_loss_is_off, input_scale
from .evidence import initial_loss_fix

CHECKS = ("initial-loss", "regularization", "gradient", "overfit-small")
GRADIENT_PASS = 1e-7
GRADIENT_WORRY = 1e-4
OVERFIT_EXAMPLES = 20
OVERFIT_EPOCHS = 200
# The overfitting run's validation rows: the check never reads val accuracy, but a
# run's epoch events carry one (and a run has at least one val row). The whole split
# (500 rows on default) was most of the run's arithmetic.
OVERFIT_VAL = 20
# When overfit-small fails at the preset's learning rate (without exploding), the
# rates tried next, as multiples of it: the first that passes is reported.
OVERFIT_LADDER = (10, 100, 1000)


@dataclass(frozen=True)
class CheckResult:
    name: str
    value: str  # what was measured, as people read it
    expected: str  # what a healthy setup gives
    passed: bool
    advice: str  # one line when it failed, else ""
    measured: float | None = None  # the raw number, for programs
    # overfit-small only: the first learning rate of the ladder that passes (None:
    # none did, or the preset's own rate passed, or the check is another one)
    passing_lr: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.name != "overfit-small":
            del d["passing_lr"]
        if d["measured"] is not None and not math.isfinite(d["measured"]):
            d["measured"] = None
        return d


def check_initial_loss(preset: Preset, data: Dataset) -> CheckResult:
    net = build_net(preset, data.input_dim, data.num_classes)
    X, y = _sample(data, 1000)
    loss = net.loss(X, y, reg=0.0, grads=False)
    m = preset.model
    expected = expected_initial_loss(m.loss, data.num_classes, m.init, len(m.hidden))
    passed = not initial_loss_is_off(loss, expected)
    advice = ""
    if not passed:
        fix = initial_loss_fix(loss, expected, m.init, m.init_std, list(preset.data.preprocess), input_scale(X))
        init = f"{m.init}" + (f", {m.init_std:g}" if m.init == "gaussian" else "")
        advice = (
            f"the loss at init should be {'about' if expected.low == expected.high else 'within'} {expected.what}; "
            + (fix or f"check model.init / model.init_std (now {init}) and the data scale (data.preprocess)")
        )
    return CheckResult("initial-loss", f"{loss:.4f}", expected.text, passed, advice, loss)


def check_regularization(preset: Preset, data: Dataset, high_reg: float = 1e3) -> CheckResult:
    net = build_net(preset, data.input_dim, data.num_classes)
    X, y = _sample(data, 1000)
    base = net.loss(X, y, reg=0.0, grads=False)
    raised = net.loss(X, y, reg=high_reg, grads=False)
    passed = math.isfinite(raised) and raised > base
    advice = (
        ""
        if passed
        else (
            "the loss did not rise with reg: the regularization term is missing from the loss, "
            "or the weights are all zero"
        )
    )
    return CheckResult(
        "regularization",
        f"{base:.4f} -> {raised:.4f}",
        f"loss rises with reg 0 -> {high_reg:g}",
        passed,
        advice,
        raised - base,
    )


def check_gradient(
    preset: Preset,
    data: Dataset,
    examples: int = 5,
    max_hidden: int = 20,
    entries_per_param: int = 60,
    reg: float | None = None,
) -> CheckResult:
    """Analytic against centred numerical gradients (see engine/gradcheck.py).

    The preset's architecture in float64, hidden layers shrunk to at most
    `max_hidden` units, on a few real training examples; up to
    `entries_per_param` random entries of each parameter (CS231n's
    grad_check_sparse). The weights are scaled to the data so every layer's
    pre-activations are O(1): with the tiny init of a preset, float64 rounding,
    not the math, would decide the result. Each weight's step is scaled to the
    inputs it multiplies (engine/gradcheck.py), so unscaled features (a 1e4
    scale) do not push the step across kinks; entries whose perturbation still
    crosses one (a ReLU or hinge changing sides) are skipped, as the course
    notes advise, and the result says how many.
    """
    hidden = tuple(min(h, max_hidden) for h in preset.model.hidden)
    small = preset.replace(**{"model.hidden": list(hidden), "model.dtype": "float64"})
    net = build_net(small, data.input_dim, data.num_classes)
    X = data.X_train[:examples].astype(np.float64)
    y = data.y_train[:examples]
    reg = preset.train.reg if reg is None else reg
    report = gradient_check(net, X, y, reg, entries_per_param, seed=preset.train.seed)
    worst = report.errors
    blind = [k for k, v in worst.items() if math.isnan(v)]
    err = max((v for v in worst.values() if not math.isnan(v)), default=math.nan)
    passed = err < GRADIENT_PASS and not blind
    per = ", ".join(f"{k} {v:.1e}" for k, v in worst.items() if not math.isnan(v))
    if blind:
        advice = (
            f"every entry of {', '.join(blind)} tried crossed a ReLU kink, so none could be compared; "
            "run the check again with other examples (train.seed)"
        )
    elif passed:
        advice = ""
    elif err < GRADIENT_WORRY:
        advice = f"uncomfortable ({per}): look for float32 leaking into the check or a slightly wrong term"
    else:
        bad = max(worst, key=lambda k: -1.0 if math.isnan(worst[k]) else worst[k])
        advice = f"the analytic gradient of {bad} is wrong ({per}); check its backward pass"
    skipped = f"{report.kinks} skipped: their step crossed a ReLU or hinge kink" if report.kinks else "none skipped"
    value = f"{err:.2e} ({per}; {report.checked} entries compared, {skipped})"
    return CheckResult("gradient", value, f"max relative error < {GRADIENT_PASS:g}", passed, advice, err)


def check_overfit_small(
    preset: Preset, data: Dataset, control: RunControl | None = None, progress: Callable[[float], None] | None = None
) -> CheckResult:
    """Can the net fit OVERFIT_EXAMPLES examples (reg 0, plain sgd, full batch) within
    OVERFIT_EPOCHS epochs? When the preset's learning rate fails without exploding, try
    the OVERFIT_LADDER of higher rates: one that passes says the rate was too low; none
    says a bug."""
    tiny = data.subset(OVERFIT_EXAMPLES, OVERFIT_VAL)
    lr = preset.train.learning_rate
    ended, acc, loss, epochs = _overfit(preset, tiny, lr, control, progress)
    expected = f"train acc 1.00 on {OVERFIT_EXAMPLES} examples within {OVERFIT_EPOCHS} epochs"
    value = f"train acc {acc:.2f} after {epochs} epoch{'s' if epochs != 1 else ''}, loss {loss:.3g}"
    passing_lr = None
    if ended.status == "finished" and acc >= 1.0:
        return CheckResult("overfit-small", value, expected, True, "", acc)
    if ended.status == "exploded":
        advice = f"the loss exploded ({ended.reason}); lower train.learning_rate"
    elif ended.status != "finished":
        advice = f"the run did not finish: {ended.reason}"
    else:
        tried = [lr * m for m in OVERFIT_LADDER]
        for rate in tried:
            rung, rung_acc, _, _ = _overfit(preset, tiny, rate, control)
            if rung.status == "stopped":
                return CheckResult(
                    "overfit-small", value, expected, False, f"the run did not finish: {rung.reason}", acc
                )
            if rung.status == "finished" and rung_acc >= 1.0:
                passing_lr = rate
                break
        at = f"lr {lr:g} with plain sgd"
        if passing_lr is not None:
            advice = (
                f"passes at lr {passing_lr:g}: the preset's rate is too low ({at} reaches train acc {acc:.2f}); "
                f"raise train.learning_rate"
            )
        else:
            advice = (
                f"fails at every rate tried ({', '.join(f'{r:g}' for r in [lr, *tried])}): look for a bug "
                "in the loss, the gradient or the update"
            )
    return CheckResult("overfit-small", value, expected, False, advice, acc, passing_lr)


def _overfit(
    preset: Preset,
    tiny: Dataset,
    learning_rate: float,
    control: RunControl | None,
    progress: Callable[[float], None] | None = None,
):
    """One overfitting run, ended at the first epoch with train accuracy 1.00 (the
    check's verdict cannot change after it): (run_ended, last train accuracy, last
    epoch's loss, epochs trained)."""
    small = preset.replace(
        **{
            "train.learning_rate": learning_rate,
            "train.reg": 0.0,
            "train.update": "sgd",
            "train.learning_rate_decay": 1.0,
            "train.sample_batches": False,
            "train.epochs": OVERFIT_EPOCHS,
            # explosion keeps its meaning: a rate that blows up fails the check
        }
    )
    last: list[Epoch] = []

    def sink(event) -> None:
        if isinstance(event, Epoch):
            last[:] = [event]
            if progress is not None:
                progress(event.epoch / OVERFIT_EPOCHS)

    def fitted(trainer: Trainer) -> None:
        if last[0].train_acc >= 1.0:
            trainer.finish(f"train accuracy 1.00 at epoch {last[0].epoch}")

    ended = Trainer(small, tiny, sink, control=control, on_epoch=fitted).run()
    acc = last[0].train_acc if last else float("nan")
    loss = last[0].loss if last else float("nan")
    return ended, acc, loss, last[0].epoch if last else 0


def iter_checks(preset: Preset, data: Dataset, control: RunControl | None = None) -> Iterator[CheckResult]:
    """The four checks in order, one result at a time (the workbench shows each as it lands)."""
    yield check_initial_loss(preset, data)
    yield check_regularization(preset, data)
    yield check_gradient(preset, data)
    yield check_overfit_small(preset, data, control=control)


def run_checks(preset: Preset, data: Dataset | None = None) -> list[CheckResult]:
    if data is None:
        data = load_dataset(preset.data, source=preset.where)
    return list(iter_checks(preset, data))


def _sample(data: Dataset, n: int) -> tuple[np.ndarray, np.ndarray]:
    return data.X_train[:n], data.y_train[:n]

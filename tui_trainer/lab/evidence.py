"""What a run's history says about its learning rate, its accuracy against chance, and
its inputs' scale: the readings every diagnosis of the advisor (lab/advisor.py), the
sanity check's initial-loss advice (lab/checks.py) and tune's report share, so no
two of them read the same evidence two ways.

    rate = rate_evidence(h)          # did the loss rise, do the ratios say high or low,
    rate.may_raise, rate.factor      #   and by how much to raise the rate when they agree
    c = chance(h)                    # 1/C, the majority's share, the margin of the val split
    one_class(h), val_at_chance(h)   # the net answers one class; val sits at chance
    past_plateau(h)                  # a small init's plateau has had its time

The rules, in words:

- The direction of the loss comes first. A loss that rose (a block of RISE_BLOCK
  mini-batches averaging RISE above the loss at init) says the rate is too high,
  whatever else says: no remedy raises the rate in such a run.
- The update/weight ratios (engine/stats.py RATIO_BAND, 1e-3..1e-2) say how fast
  the weights move. A weight matrix above the band's top means the rate is not low:
  no remedy raises it then either. The rate is low when every weight matrix is
  below the band's floor; it is raised by a power of ten (`factor`) that brings the
  slowest to the floor without taking the fastest past the band's top: the flat
  loss and the low ratio name the same factor.
- A small gaussian init in a net with hidden layers starts on a plateau: each
  layer's gradient scales with the tiny weights of the others, so the loss sits
  at its start while the weights grow (measured at the best rate of eleven sets:
  10 to 113 iterations; the ratios read 1e-2..4e-1 there, not low). A flat loss with
  weights that move (or no ratios to tell) is judged only `past_plateau`: after a
  quarter of the run's iterations, at least PLATEAU_MIN and at most PLATEAU_WAIT.
- Chance is the accuracy of a guess that ignores the input: 1/C, or the majority
  class's share of the val split where that is more than the split's noise above
  1/C; give or take three binomial standard errors of the val split (at least
  CHANCE_MARGIN). Val sits at chance when train accuracy has left it by GAP and
  val's best has not; a net answers one class when ONE_CLASS of its val
  predictions went to one class two epochs running, once its loss has fallen.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np

from ..engine.events import Epoch, ParamStats
from ..engine.rules import ExpectedLoss, InputScale
from ..engine.stats import RATIO_BAND
from .history import History

# The flat-loss window's start: at least this many iterations before any judgment.
FLAT_MIN_STEPS = 10
# A small init's plateau is given a quarter of the run, at least PLATEAU_MIN and at most
# PLATEAU_WAIT iterations (measured at the best rate of eleven sets, bench/lr_find_vs_grid.py's:
# the loss had fallen 3% after 10 to 26 iterations, and after 113 on the label-noise set).
PLATEAU_SHARE = 0.25
PLATEAU_MIN = 50
PLATEAU_WAIT = 300
# The loss rose: a block of RISE_BLOCK mini-batches (a quarter of an epoch when that is
# longer) averaged RISE (a fraction) above the loss at init. Measured: Adam at 0.01 on the
# default +83%; at the best rates of bench/lr_find_vs_grid.py's eleven sets no block
# above +4%, at 3x those rates spiral +22% (the others explode, or stay within 1%).
RISE_BLOCK = 10
RISE = 0.10
# Chance: at least this far above it is more than chance.
CHANCE_MARGIN = 0.02
# One class only: the most predicted class takes at least ONE_CLASS of the val predictions
# in each of the last ONE_CLASS_EPOCHS epochs.
ONE_CLASS = 0.99
ONE_CLASS_EPOCHS = 2
ONE_CLASS_FELL = 0.03
# Overfitting: train accuracy - val accuracy >= GAP (the advisor and tune's report read the same).
GAP = 0.15
# The weights sit near zero: their std is below NEAR_ZERO of the fan-in scale 1/sqrt(fan_in)
# (what Xavier starts from). A healthy layer grows towards it; reg or a net that cannot
# use its inputs keeps it far below.
NEAR_ZERO = 0.1


# --- the learning rate -------------------------------------------------------------------


@dataclass(frozen=True)
class RateEvidence:
    rise: float  # the largest block mean above the loss at init, as a fraction of it (<= 0: never rose)
    fast: tuple[ParamStats, ...]  # weight matrices above the band's top in the last ratios reading
    slow: bool  # every weight matrix below the band's floor in the last ratios reading
    known: bool  # a ratios reading exists
    factor: int  # a power of ten: how many times to raise the rate when it is low
    down: int  # a power of ten: how many times to lower it when it is high

    @property
    def rose(self) -> bool:
        return self.rise >= RISE

    @property
    def may_raise(self) -> bool:
        """Whether a remedy may raise the rate: the loss never rose and no weight matrix moves
        faster than the band's top."""
        return not self.rose and not self.fast


def weights(h: History) -> list[ParamStats]:
    """The weight matrices of the last ratios reading (biases start at zero: their ratio means nothing)."""
    if h.ratios is None:
        return []
    return [p for p in h.ratios.params if p.name.startswith("W")]


def loss_rise(h: History) -> float:
    """The largest mean of RISE_BLOCK (or a quarter-epoch) consecutive mini-batch losses so far,
    above the loss at init, as a fraction of it; a loss that is not finite counts as a rise.
    Each block is averaged once: the checks ask at every epoch end, over a run's every step."""
    if h.started is None or not h.steps or h.started.initial_loss <= 0:
        return 0.0
    block = max(RISE_BLOCK, h.iterations_per_epoch // 4)
    run, done, top = _RISE_SEEN.get(h, (None, 0, -math.inf))
    if run is not h.started:  # a new run in the same history: start over
        done, top = 0, -math.inf
    x = h.steps_loss[done:]
    n = (len(x) // block) * block
    if n:
        blocks = x[:n].reshape(-1, block).mean(axis=1)
        top = max(top, float(blocks.max()) if np.all(np.isfinite(blocks)) else math.inf)
        done += n
    _RISE_SEEN[h] = (h.started, done, top)
    return (top - h.started.initial_loss) / h.started.initial_loss if math.isfinite(top) else top


# What loss_rise has read of each history: (its run_started, steps read, the highest block mean).
_RISE_SEEN: weakref.WeakKeyDictionary[History, tuple[object, int, float]] = weakref.WeakKeyDictionary()


def rate_evidence(h: History) -> RateEvidence:
    ws = [p for p in weights(h) if p.ratio is not None]
    finite = [p.ratio for p in ws if p.ratio is not None and math.isfinite(p.ratio) and p.ratio > 0]
    fast = tuple(p for p in ws if p.ratio is not None and (not math.isfinite(p.ratio) or p.ratio > RATIO_BAND[1]))
    slow = bool(ws) and all(p.ratio is not None and p.ratio < RATIO_BAND[0] for p in ws)
    factor = 10
    if finite:
        up = min(RATIO_BAND[0] / min(finite), RATIO_BAND[1] / max(finite))
        factor = power_of_ten(up)
    # Lowering brings the fastest weight matrix to the band's top; weights near zero are left
    # out: their ratio is large because they are small (a small init's start), not the rate.
    sized = [p.ratio for p in fast if p.ratio is not None and math.isfinite(p.ratio) and not near_zero(p)]
    down = power_of_ten(max(sized) / RATIO_BAND[1]) if sized else 10
    return RateEvidence(loss_rise(h), fast, slow, bool(ws), factor, down)


def power_of_ten(x: float) -> int:
    """The power of ten nearest x, at least 10 (a smaller change is not worth a new run)."""
    return int(10 ** max(1, round(math.log10(x)))) if x > 0 and math.isfinite(x) else 10


def plateau_wait(h: History) -> int:
    """The iterations a small init's plateau is given (see the module's docstring)."""
    total = h.total_iterations or 0
    return int(max(PLATEAU_MIN, min(PLATEAU_SHARE * total, PLATEAU_WAIT)))


def past_plateau(h: History) -> bool:
    return h.iteration >= plateau_wait(h)


def small_init(h: History) -> bool:
    """A gaussian init in a net with hidden layers: the case that starts on a plateau
    (He and Xavier scale each layer to its fan-in, and a linear classifier has no
    layer to wait for)."""
    return bool(h.setting("model", "hidden")) and h.setting("model", "init", "gaussian") == "gaussian"


def near_zero(p: ParamStats) -> bool:
    """A weight matrix whose std is far below its fan-in scale 1/sqrt(fan_in)."""
    fan_in = p.shape[0] if p.shape else 1
    return p.weight_std < NEAR_ZERO / math.sqrt(max(fan_in, 1))


# --- accuracy against chance -----------------------------------------------------------


@dataclass(frozen=True)
class Chance:
    uniform: float  # 1 / C
    majority: float  # the largest class's share of the val split (1 / C when not recorded)
    majority_class: int | None  # which class that is (None when not recorded)
    margin: float  # how far above the level still reads as chance

    @property
    def skewed(self) -> bool:
        """One class is more common than the split's noise explains."""
        return self.majority > self.uniform + self.margin

    @property
    def level(self) -> float:
        """The accuracy of a guess that ignores the input: answering the majority class where
        the classes are skewed, else 1/C."""
        return self.majority if self.skewed else self.uniform

    def words(self) -> str:
        if self.skewed:
            return f"{self.majority:.0%}, the majority class's share of the val split"
        return f"{self.uniform:.0%}: 1/{round(1 / self.uniform)} classes"


def chance(h: History) -> Chance:
    assert h.started is not None
    s = h.started
    uniform = 1.0 / max(s.classes, 1)
    shares = s.val_class_shares
    majority, which = (max(shares), int(np.argmax(shares))) if shares else (uniform, None)
    top = max(uniform, majority)
    noise = 3 * math.sqrt(top * (1 - top) / max(s.n_val, 1))
    return Chance(uniform, majority, which, max(CHANCE_MARGIN, noise))


def answers_one_class(e: Epoch) -> bool:
    """This epoch's val predictions went to one class (ONE_CLASS of them at least)."""
    return e.val_top_share is not None and e.val_top_share >= ONE_CLASS


def one_class(h: History) -> bool:
    """The net predicted one class only on the val split in each of the last ONE_CLASS_EPOCHS
    epochs, after its loss had fallen (ONE_CLASS_FELL below the loss at init): on a small
    init's plateau every score is near zero and the biases alone pick the answer, which says
    nothing yet."""
    last = h.epochs[-ONE_CLASS_EPOCHS:]
    if h.started is None or len(last) < ONE_CLASS_EPOCHS or not all(answers_one_class(e) for e in last):
        return False
    initial = h.started.initial_loss
    return any(e.loss < initial * (1 - ONE_CLASS_FELL) for e in h.epochs)


def val_at_chance(h: History) -> bool:
    """Train accuracy has left chance (by GAP at least) while the best val accuracy has not:
    what the net learns of the training set does not carry over at all."""
    if h.started is None or not h.epochs or one_class(h):
        return False
    c = chance(h)
    best_val = max(e.val_acc for e in h.epochs)
    return h.epochs[-1].train_acc >= c.level + max(2 * c.margin, GAP) and best_val <= c.level + c.margin


def fit_words(h: History) -> str:
    """How the last epoch's accuracies read (tune's report says it under its final run's curves).
    Without a run_started event (a record cut to its epochs) there is no chance to read against."""
    if not h.epochs:
        return ""
    e = h.epochs[-1]
    if h.started is not None:
        c = chance(h)
        if one_class(h):
            return f"the net predicts one class only (val {e.val_acc:.1%}; chance is {c.words()}): accuracy says little"
        if val_at_chance(h):
            return (
                f"val accuracy sits at chance ({c.words()}) while train accuracy reached {e.train_acc:.1%}: "
                "nothing learned carries over to val; check the labels and the data"
            )
    if e.train_acc - e.val_acc >= GAP:
        return "a large gap between train and val accuracy: overfitting; more reg would help"
    return (
        "train and val accuracy stay close: no strong overfitting; a bigger model may use more capacity, "
        "unless the data cap accuracy (label noise, features that do not tell the classes apart)"
    )


# --- the inputs' scale and the loss at init -------------------------------------------------


def run_input_scale(h: History) -> InputScale | None:
    return h.started.input_scale if h.started is not None else None


def initial_loss_fix(
    loss: float,
    expected: ExpectedLoss,
    init: str,
    init_std: float,
    preprocess: list[str],
    scale: InputScale | None,
) -> str:
    """The one thing to change for a loss at init off its expectation (the advisor's remedy
    and the sanity check's advice): the inputs' scale when it is large or unequal (or, for
    He and Xavier, which assume unit-scale inputs, above it), else a gaussian init's std."""
    std_step = [*preprocess, "std"] if "std" not in preprocess else preprocess
    if loss > expected.high and scale is not None and "std" not in preprocess:
        if scale.needs_std or (init != "gaussian" and scale.rms > 1.0):
            return (
                f"the scores grow with the inputs ({scale.words}, rms {scale.rms:.2g}): "
                f"try data.preprocess = {std_step} (each feature to unit variance)"
            )
    if loss > expected.high and init == "gaussian" and init_std > 0:
        return f"the scores grow with the init: try model.init_std = {init_std / 10:.3g}"
    if loss > expected.high and "std" not in preprocess and scale is None:
        return f"the scores grow with the inputs: try data.preprocess = {std_step} (unit variance)"
    return ""


# --- what several diagnoses say alike --------------------------------------------------
# A remedy that lowers train.reg, or suggests a layer, does so from these.
REG_MATTERS = 1e-2
FIRST_HIDDEN = 100


def number(x: float) -> str:
    """A number as a preset would hold it: 3 significant digits, never a negative zero."""
    return f"{x + 0.0:.3g}"


def configured_lr(h: History) -> float:
    """The run's configured (starting) learning rate."""
    return float(h.setting("train", "learning_rate", 1e-3))


def ratios_text(params: list[ParamStats] | tuple[ParamStats, ...]) -> str:
    return ", ".join(f"{p.name} {p.ratio:.1e}" for p in params if p.ratio is not None)


def lower_rate_remedy(h: History) -> str:
    """The one remedy for a rate too high (the loss rose or exploded, or a ratio is high), with the
    factor every diagnosis of it names: 10x, or what brings the fastest weights to the band's top."""
    lr, down = configured_lr(h), rate_evidence(h).down
    how = ", by 10x to start with" if down == 10 else f" about {down}x"
    return f"The learning rate is too high (train.learning_rate = {lr:g}): lower it{how} (to {number(lr / down)})."


def raise_rate_remedy(h: History, rate: RateEvidence, why: str) -> str:
    """The one remedy for a rate too low, with the factor every diagnosis of it names."""
    lr, up = configured_lr(h), rate.factor
    evidence = f"update/weight {ratios_text(weights(h))}, under {RATIO_BAND[0]:g}" if rate.known else "no ratios yet"
    return (
        f"The learning rate is too low (train.learning_rate = {lr:g}; {evidence}: {why}): "
        f"raise it about {up}x, to {number(lr * up)}."
    )

"""The advisor's reading of the update/weight ratios: ratio_low and ratio_high.

`RatioWatch` counts, per weight matrix, the ratios events in a row out of the band
(engine/stats.py RATIO_BAND); the Advisor (lab/advisor.py) feeds it each one. Its
remedies agree with the loss's direction and the other diagnoses through
lab/evidence.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..engine.events import Advice, ParamStats, Ratios
from ..engine.stats import RATIO_BAND
from .evidence import (
    FIRST_HIDDEN,
    REG_MATTERS,
    configured_lr,
    lower_rate_remedy,
    near_zero,
    number,
    raise_rate_remedy,
    rate_evidence,
    ratios_text,
)
from .history import History

# ratio_low / ratio_high: a weight matrix's update/weight ratio stays below the
# band (engine/stats.py RATIO_BAND, 1e-3..1e-2) or above RATIO_HIGH for
# RATIO_PERSIST ratios events in a row. Weights only: biases start at zero, so
# their ratio starts huge and means nothing. Both sides allow a decade outside
# the band (where the ratio table's colour turns from warning to alert): with
# momentum and a tiny gaussian init, good runs sit at 1e-2..1e-1 for their first
# epochs (the default preset does) while the weights grow, and a healthy
# output layer can sit a little under 1e-3 (digits-fast's W2, about 7e-4).
# A high ratio on weights near zero (evidence.near_zero) is not the rate's: while
# they grow (their std at least GROWING x where the streak began) it is a small
# init's start and says nothing; else reg or a net that cannot use its inputs holds
# them there, and the remedy names that.
RATIO_PERSIST = 5
RATIO_LOW = RATIO_BAND[0] / 10
RATIO_HIGH = RATIO_BAND[1] * 10
GROWING = 2.0
# A low ratio means "raise the learning rate" only while training still has
# something to learn at the preset's rate: not once it has converged (the last
# epoch's train accuracy is at least CONVERGED_ACC: the gradients are small
# because the loss is) and not once the schedule (train.learning_rate_decay) has
# taken the rate below DECAYED of its start; nor where the loss rose or another
# weight matrix moves above the band (evidence.RateEvidence.may_raise).
CONVERGED_ACC = 0.99
DECAYED = 0.5


class RatioWatch:
    """Counts, per weight matrix, how many ratios events in a row sat out of band, and
    the weights' std where a high streak began (growing weights are a small init's start).

    O(parameters) per ratios event.
    """

    def __init__(self) -> None:
        self.low: dict[str, int] = {}
        self.high: dict[str, int] = {}
        self.high_from: dict[str, float] = {}  # the weight std at a high streak's first reading

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
            if self.high[p.name] == 1:
                self.high_from[p.name] = p.weight_std
            if self.low[p.name] >= RATIO_PERSIST:
                low_now.append(p)
            if self.high[p.name] >= RATIO_PERSIST:
                high_now.append(p)
        if low_now and "ratio_low" not in seen and still_learning(h):
            rate = rate_evidence(h)
            if rate.may_raise:
                found.append(
                    Advice(
                        iteration=r.iteration,
                        code="ratio_low",
                        message=f"The update/weight {_ratio_word(low_now)} of {_names(low_now)} {_has(low_now)} "
                        f"stayed below {RATIO_LOW:g} for {RATIO_PERSIST} readings (now {ratios_text(low_now)}); "
                        "the lecture's rule of thumb is about 1e-3.",
                        remedy=raise_rate_remedy(h, rate, "the weights barely move"),
                    )
                )
        if high_now and "ratio_high" not in seen:
            advice = self._high(r, h, high_now)
            if advice is not None:
                found.append(advice)
        return found

    def _high(self, r: Ratios, h: History, high_now: list[ParamStats]) -> Advice | None:
        message = (
            f"The update/weight {_ratio_word(high_now)} of {_names(high_now)} {_has(high_now)} "
            f"stayed above {RATIO_HIGH:g} for {RATIO_PERSIST} readings (now {ratios_text(high_now)}); "
            "the lecture's rule of thumb is about 1e-3."
        )
        small = [p for p in high_now if near_zero(p)]
        if not small:
            return Advice(iteration=r.iteration, code="ratio_high", message=message, remedy=lower_rate_remedy(h))
        if any(p.weight_std >= GROWING * self.high_from.get(p.name, math.inf) for p in small):
            return None  # weights growing out of a small init: their ratio falls as they grow
        stds = ", ".join(
            f"{p.name} std {p.weight_std:.1e} (fan-in scale {1 / math.sqrt(p.shape[0]):.2g})" for p in small
        )
        reg = float(h.setting("train", "reg", 0.0))
        if reg >= REG_MATTERS:
            cause = (
                f"the regularization holds them there (train.reg = {reg:g}), so each update is large beside them: "
                f"try train.reg = {number(reg / 10)}."
            )
        else:
            hidden = list(h.setting("model", "hidden", []))
            cause = (
                "the data give them little to fit, so each update is large beside them: a net that cannot use its "
                f"inputs. Raise the model's capacity (model.hidden = {hidden}): try "
                + (
                    f"{[2 * u for u in hidden]}."
                    if hidden
                    else f"[{FIRST_HIDDEN}]: a linear classifier draws straight boundaries."
                )
            )
        return Advice(
            iteration=r.iteration,
            code="ratio_high",
            message=message,
            remedy=f"Not the learning rate: the weights stay near zero ({stds}); {cause}",
        )


def still_learning(h: History) -> bool:
    """Whether a low update/weight ratio still means the preset's rate is low: training
    has not converged (last train accuracy below CONVERGED_ACC) and the schedule has not
    taken the rate below DECAYED of its start."""
    if h.epochs and h.epochs[-1].train_acc >= CONVERGED_ACC:
        return False
    return not math.isfinite(h.learning_rate) or h.learning_rate >= DECAYED * configured_lr(h)


def _names(params) -> str:
    names = [p.name for p in params]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _ratio_word(params) -> str:
    return "ratio" if len(params) == 1 else "ratios"


def _has(params) -> str:
    return "has" if len(params) == 1 else "have"

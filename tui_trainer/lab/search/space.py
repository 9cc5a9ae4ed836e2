"""The search space: sampling in log space, ranking, the best trial, narrowing, edge warnings.

Pure functions over plain values (NumPy only), shared by the search core,
its store and any face:

    ranges = Ranges.from_config(preset.search)
    trials = stage_trials(seed=0, stage=1, count=30, epochs=1, ranges=ranges)
    ...                                   # run them, collect TrialResults
    kept = rank(results)[:keep]
    ranges = narrow(ranges, kept)         # the next stage's ranges
    best_trial(results)                   # what every face calls the best
    edge_warnings(results, explored)      # the best may lie beyond the range searched
    suggest_next(results, explored, keep) # the ranges for a next, finer search

A trial's values come from a generator seeded with (seed, stage, index), so a
stage samples the same trials whatever order they finish in, and a resumed
search samples exactly what the killed one did.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ...config import SearchConfig

# Next-stage ranges span the kept trials in log10 space, padded on each side by
# this fraction of that span, and by at least MIN_PAD decades (so that one kept
# trial, or several with the same value, still leave a range to sample).
WIDEN = 0.1
MIN_PAD = 0.1
# The best value is "at the edge" when it lies within this fraction of the
# explored log10 span from either end.
EDGE_FRACTION = 0.1
# ... or when accuracy keeps improving toward an end of the range through the
# best trials (the trend rule, see edge_warnings): the better half of the
# finished trials, at least TREND_MIN_TRIALS of them, has a Spearman rank
# correlation of at least TREND_RHO between log10(value) and val accuracy
# (-TREND_RHO toward the low end); the best trial lies in the outer
# TREND_FRACTION of the span on that side; and no trial beyond the best, toward
# that end, exploded, failed or scored more than TREND_TOLERANCE below it.
TREND_MIN_TRIALS = 4
TREND_RHO = 0.7
TREND_FRACTION = 1 / 3
TREND_TOLERANCE = 0.02
# The next search's ranges span the best `keep` finished trials that reached at
# least NEXT_WITHIN of the best val accuracy (a trial far behind says little
# about where the optimum is) ...
NEXT_WITHIN = 0.9
# ... and a suggested next range that meets an edge warning extends this many decades
# past the edge that was searched.
EXTEND_DECADES = 1.0
CONTINUOUS = ("learning_rate", "reg")


@dataclass(frozen=True)
class Ranges:
    """What one stage samples: log-uniform [low, high] ranges and integer choices.

    hidden / batch_size are () when the search does not vary them.
    """

    learning_rate: tuple[float, float]
    reg: tuple[float, float]
    hidden: tuple[int, ...] = ()
    batch_size: tuple[int, ...] = ()

    @classmethod
    def from_config(cls, search: SearchConfig) -> Ranges:
        r = search.ranges
        return cls(
            learning_rate=(r["learning_rate"][0], r["learning_rate"][1]),
            reg=(r["reg"][0], r["reg"][1]),
            hidden=tuple(int(h) for h in r["hidden"]),
            batch_size=tuple(int(b) for b in r["batch_size"]),
        )

    def to_dict(self) -> dict:
        return {
            "learning_rate": list(self.learning_rate),
            "reg": list(self.reg),
            "hidden": list(self.hidden),
            "batch_size": list(self.batch_size),
        }


@dataclass(frozen=True)
class Trial:
    """One sampled configuration; hidden / batch_size are None when not searched."""

    trial_id: str  # "s1-007": stage 1, trial index 7
    stage: int  # 1-based
    index: int  # 0-based within the stage
    learning_rate: float
    reg: float
    hidden: int | None
    batch_size: int | None
    epochs: int  # what the stage trains it for

    def values(self) -> dict:
        """The sampled values by key (what identifies the trial's configuration)."""
        return {
            "learning_rate": self.learning_rate,
            "reg": self.reg,
            "hidden": self.hidden,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
        }


@dataclass(frozen=True)
class TrialResult:
    """What a finished trial reports: its values and how training went."""

    trial_id: str
    stage: int
    index: int
    learning_rate: float
    reg: float
    hidden: int | None
    batch_size: int | None
    status: str  # finished | exploded | failed | stopped (engine statuses)
    reason: str
    best_val_acc: float | None
    best_epoch: int | None
    epochs: int  # epochs actually run
    iterations: int
    elapsed_s: float  # seconds training (the worker's one-off data loading aside)
    worker: str = ""  # host:pid that ran it

    @classmethod
    def of(cls, trial: Trial, **outcome) -> TrialResult:
        return cls(
            trial_id=trial.trial_id,
            stage=trial.stage,
            index=trial.index,
            learning_rate=trial.learning_rate,
            reg=trial.reg,
            hidden=trial.hidden,
            batch_size=trial.batch_size,
            **outcome,
        )


def trial_id(stage: int, index: int) -> str:
    return f"s{stage}-{index:03d}"


def sample_trial(seed: int, stage: int, index: int, ranges: Ranges, epochs: int) -> Trial:
    """The trial at (stage, index): log-uniform learning rate and reg, uniform choices.

    Every value is always drawn, in a fixed order, so the learning rate and reg
    of a trial do not change when a choice list is added or removed.
    """
    rng = np.random.default_rng([seed, stage, index])
    u = rng.random(4)
    lr = _log_uniform(ranges.learning_rate, u[0])
    reg = _log_uniform(ranges.reg, u[1])
    hidden = ranges.hidden[int(u[2] * len(ranges.hidden))] if ranges.hidden else None
    batch = ranges.batch_size[int(u[3] * len(ranges.batch_size))] if ranges.batch_size else None
    return Trial(trial_id(stage, index), stage, index, lr, reg, hidden, batch, epochs)


def stage_trials(seed: int, stage: int, count: int, epochs: int, ranges: Ranges) -> list[Trial]:
    return [sample_trial(seed, stage, i, ranges, epochs) for i in range(count)]


def _log_uniform(bounds: Sequence[float], u: float) -> float:
    lo, hi = math.log10(bounds[0]), math.log10(bounds[1])
    return float(10 ** (lo + (hi - lo) * u))


def rank(results: Iterable[TrialResult]) -> list[TrialResult]:
    """Best first: finished trials before the rest, then by best val accuracy;
    ties go to the later stage (more epochs), then the lower index."""

    def key(r: TrialResult):
        acc = r.best_val_acc if r.best_val_acc is not None and math.isfinite(r.best_val_acc) else -1.0
        return (r.status != "finished", -acc, -r.stage, r.index)

    return sorted(results, key=key)


def best_trial(results: Iterable[TrialResult]) -> TrialResult | None:
    """The best trial: the first of rank(), so a finished trial beats an exploded one
    with a higher val accuracy. Stopped trials are left out (they did not run their
    epochs, and a resumed search runs them again). None when the first has no val
    accuracy: no trial got as far as an epoch.

    The one definition of "best": the runner's stage and search ends, the command's
    live view and the workbench's search view all call it."""
    ranked = rank(r for r in results if r.status != "stopped")
    return ranked[0] if ranked and ranked[0].best_val_acc is not None else None


def narrow(ranges: Ranges, kept: Sequence[TrialResult]) -> Ranges:
    """The next stage's ranges: the log range spanning the kept trials, widened a
    little; the choices the kept trials used. No usable trial: the same ranges."""
    kept = [r for r in kept if r.best_val_acc is not None]
    if not kept:
        return ranges
    hidden = tuple(sorted({r.hidden for r in kept if r.hidden is not None}))
    batch = tuple(sorted({r.batch_size for r in kept if r.batch_size is not None}))
    return Ranges(
        learning_rate=_span([r.learning_rate for r in kept]),
        reg=_span([r.reg for r in kept]),
        hidden=hidden or ranges.hidden,
        batch_size=batch or ranges.batch_size,
    )


def _span(values: Sequence[float]) -> tuple[float, float]:
    logs = [math.log10(v) for v in values]
    lo, hi = min(logs), max(logs)
    pad = max(WIDEN * (hi - lo), MIN_PAD)
    return (float(10 ** (lo - pad)), float(10 ** (hi + pad)))


def union(ranges: Iterable[Ranges]) -> Ranges:
    """The whole region a search explored: the widest bounds over its stages."""
    ranges = list(ranges)
    return Ranges(
        learning_rate=(min(r.learning_rate[0] for r in ranges), max(r.learning_rate[1] for r in ranges)),
        reg=(min(r.reg[0] for r in ranges), max(r.reg[1] for r in ranges)),
        hidden=tuple(sorted({h for r in ranges for h in r.hidden})),
        batch_size=tuple(sorted({b for r in ranges for b in r.batch_size})),
    )


@dataclass(frozen=True)
class EdgeWarning:
    """The best value lies at the edge of the region searched: the optimum may lie beyond."""

    key: str  # learning_rate | reg
    value: float
    edge: str  # low | high
    low: float
    high: float
    message: str
    rule: str = "edge"  # edge: within EDGE_FRACTION of the end; trend: accuracy rising toward it


def edge_warnings(results: Iterable[TrialResult], explored: Ranges) -> list[EdgeWarning]:
    """Warn for each log-range key whose best value may lie beyond the explored range:
    the best trial (best_trial) sits within EDGE_FRACTION of the span from either end
    (the lecture's worrying best result), or val accuracy keeps improving toward an
    end through the best trials (the trend rule above)."""
    results = list(results)
    best = best_trial(results)
    if best is None or best.best_val_acc is None:
        return []
    out = []
    for key in CONTINUOUS:
        value = getattr(best, key)
        low, high = getattr(explored, key)
        lo, hi, v = math.log10(low), math.log10(high), math.log10(value)
        margin = EDGE_FRACTION * (hi - lo)
        edge = "low" if v <= lo + margin else "high" if v >= hi - margin else None
        beyond = {"low": "below", "high": "above"}
        if edge is not None:
            message = (
                f"the best {key} {value:.3g} (trial {best.trial_id}) sits at the {edge} edge of the "
                f"searched range [{low:.3g}, {high:.3g}]: a better value may lie {beyond[edge]} it, so this "
                f"best result is worrying; widen search.{key} and search again"
            )
            out.append(EdgeWarning(key, value, edge, low, high, message, "edge"))
            continue
        trend = _trend(results, best, key, lo, hi)
        if trend is not None:
            edge, rho, n = trend
            message = (
                f"val accuracy keeps rising toward the {edge} end of search.{key} [{low:.3g}, {high:.3g}] "
                f"through the best {n} trials (rank correlation {rho:+.2f}), up to the best {value:.3g} "
                f"(trial {best.trial_id}): a better value may lie {beyond[edge]} the range; widen search.{key} "
                "and search again"
            )
            out.append(EdgeWarning(key, value, edge, low, high, message, "trend"))
    return out


def _trend(
    results: Sequence[TrialResult], best: TrialResult, key: str, lo: float, hi: float
) -> tuple[str, float, int] | None:
    """(edge, rank correlation, trials) when the trend rule fires for key, else None."""
    done = [r for r in results if r.status == "finished" and r.best_val_acc is not None]
    better = rank(done)[: len(done) // 2]
    if len(better) < TREND_MIN_TRIALS or hi <= lo:
        return None
    rho = spearman([math.log10(getattr(r, key)) for r in better], [float(r.best_val_acc or 0.0) for r in better])
    if not abs(rho) >= TREND_RHO:
        return None
    edge = "high" if rho > 0 else "low"
    position = (math.log10(getattr(best, key)) - lo) / (hi - lo)
    if (position if edge == "high" else 1 - position) < 1 - TREND_FRACTION:
        return None
    value = getattr(best, key)
    floor = float(best.best_val_acc or 0.0) - TREND_TOLERANCE
    for r in results:
        there = getattr(r, key) > value if edge == "high" else getattr(r, key) < value
        if there and r.status != "stopped":
            if r.status != "finished" or r.best_val_acc is None or r.best_val_acc < floor:
                return None  # beyond the best it gets worse: the optimum is inside
    return edge, rho, len(better)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (ties get their average rank); 0.0 when either is constant."""
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(values: Sequence[float]) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    order = np.argsort(a, kind="stable")
    ranks = np.empty(len(a))
    ranks[order] = np.arange(len(a), dtype=np.float64)
    for v in np.unique(a):  # ties: the mean of their ranks
        tied = a == v
        ranks[tied] = ranks[tied].mean()
    return ranks


def suggest_next(results: Iterable[TrialResult], explored: Ranges, keep: int) -> Ranges | None:
    """The ranges for a next, finer search: the log span of the best `keep` finished
    trials that reached NEXT_WITHIN of the best val accuracy, widened a little
    (narrow); where edge_warnings says the best sits at an edge, extended
    EXTEND_DECADES past that edge. hidden / batch_size: the choices the kept trials
    used (empty when not searched). None when no trial finished with a val accuracy."""
    results = list(results)
    kept = rank(r for r in results if r.status == "finished" and r.best_val_acc is not None)[:keep]
    if not kept:
        return None
    top = float(kept[0].best_val_acc or 0.0)
    kept = [r for r in kept if float(r.best_val_acc or 0.0) >= NEXT_WITHIN * top]
    ranges = narrow(explored, kept)
    bounds = {key: list(getattr(ranges, key)) for key in CONTINUOUS}
    for w in edge_warnings(results, explored):
        if w.edge == "high":
            bounds[w.key][1] = max(bounds[w.key][1], w.high * 10**EXTEND_DECADES)
        else:
            bounds[w.key][0] = min(bounds[w.key][0], w.low / 10**EXTEND_DECADES)
    return Ranges(
        learning_rate=(_round(bounds["learning_rate"][0]), _round(bounds["learning_rate"][1])),
        reg=(_round(bounds["reg"][0]), _round(bounds["reg"][1])),
        hidden=ranges.hidden if explored.hidden else (),
        batch_size=ranges.batch_size if explored.batch_size else (),
    )


def _round(x: float) -> float:
    """Two significant digits: a range people read and type (1.5e-3, not 0.0014874...)."""
    return float(f"{x:.2g}")

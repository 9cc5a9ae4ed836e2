"""The search space: sampling, ranking, the best trial, narrowing, edge warnings.

Pure functions over plain values (NumPy only), shared by the search core and
any face. The keys searched and how each is sampled come from one table,
searched.SEARCHED; here a trial's values are one mapping, `params` (name ->
value, the keys searched only), and a stage's ranges another, `Ranges`
(name -> [low, high] for a log key, the choices for a choice key; () or
absent: not searched), as Optuna's trials hold `params` beside their
distributions:

    ranges = ranges_of(preset.search)
    trials = stage_trials(seed=0, stage=1, count=30, epochs=1, ranges=ranges)
    ...                                   # run them, collect TrialResults
    kept = rank(results)[:keep]
    ranges = narrow(ranges, kept)         # the next stage's ranges
    best_trial(results)                   # what every face calls the best
    edge_warnings(results, explored)      # the best may lie beyond the range searched
    suggest_next(results, explored, keep) # the ranges for a next, finer search
    apply_params(preset, trial.params)    # the one way values reach a preset

A trial's values come from a generator seeded with (seed, stage, index), so a
stage samples the same trials whatever order they finish in, and a resumed
search samples exactly what the killed one did.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ...config import LOG_LIMITS, Preset, SearchConfig
from ...records.typed_json import BadField, read_as, show
from ...searched import CHOICE, LOG, SEARCHED

STATUSES = ("finished", "exploded", "failed", "stopped")  # how a trial ended: a run's statuses

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

# name -> [low, high] (a LOG key) or the choices (a CHOICE key); () or absent: not searched
Ranges = dict[str, tuple[float, ...]]
# name -> the sampled value (an int for a CHOICE key), for the keys searched only
Params = dict[str, float]


def ranges_of(search: SearchConfig) -> Ranges:
    """The ranges a preset's [search] declares, every key of SEARCHED."""
    return {name: tuple(search.ranges.get(name, s.default)) for name, s in SEARCHED.items()}


def searched(ranges: Mapping[str, Sequence[float]], sample: str | None = None) -> list[str]:
    """The keys the ranges search (of one kind of sampling when given), in SEARCHED's order."""
    return [k for k, s in SEARCHED.items() if ranges.get(k) and (sample is None or s.sample == sample)]


def apply_params(preset: Preset, params: Mapping[str, float], **changes: Any) -> Preset:
    """The preset a trial's values make: each sets its key's preset key (SEARCHED[name].sets),
    and any other dotted `changes` go along. A list-valued key (model.hidden) gets the
    value for each item: a searched hidden size sizes every hidden layer (one layer
    when the preset has none). The one way search values reach a preset: a trial,
    the workbench's `u`, next.toml and tune's final run."""
    values: dict[str, Any] = {}
    for name, value in params.items():
        key = SEARCHED[name].sets
        section, field = key.split(".")
        now = getattr(getattr(preset, section), field)
        values[key] = [value] * max(1, len(now)) if isinstance(now, tuple) else value
    return preset.replace(**values, **changes)


def range_changes(ranges: Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
    """The dotted [search] keys that make a preset search `ranges` (a key absent: not searched)."""
    return {f"search.{name}": list(ranges.get(name, ())) for name in SEARCHED}


def _flat(trial: Any) -> dict[str, Any]:
    """A trial's fields with its params spelled out among them, every searched key (None
    where not searched): the JSON form its events, the store and tune's state have
    always had ({"trial_id": ..., "learning_rate": ..., "hidden": null, ...})."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(trial):
        value = getattr(trial, f.name)
        if f.name == "params":
            out |= {name: value.get(name) for name in SEARCHED} | value
        else:
            out[f.name] = value
    return out


@dataclass(frozen=True)
class Trial:
    """One sampled configuration."""

    trial_id: str  # "s1-007": stage 1, trial index 7
    stage: int  # 1-based
    index: int  # 0-based within the stage
    params: Params  # the sampled values by name (SEARCHED)
    epochs: int  # what the stage trains it for

    def json_fields(self) -> dict[str, Any]:
        return _flat(self)


@dataclass(frozen=True)
class TrialResult:
    """What a finished trial reports: its values and how training went."""

    trial_id: str
    stage: int
    index: int
    params: Params
    status: str  # finished | exploded | failed | stopped (engine statuses)
    reason: str
    best_val_acc: float | None
    best_epoch: int | None
    epochs: int  # epochs actually run
    iterations: int
    elapsed_s: float  # seconds training (the worker's one-off data loading aside)
    worker: str = ""  # host:pid that ran it
    # Its JSON spells params out among its fields, a key per searched key (_flat); the
    # typed reader of tune's state.json (records/typed_json.py) reads it back so.
    SPELLED_OUT: ClassVar[tuple[str, Mapping[str, Any]]] = ("params", SEARCHED)

    @classmethod
    def of(cls, trial: Trial, **outcome: Any) -> TrialResult:
        return cls(trial_id=trial.trial_id, stage=trial.stage, index=trial.index, params=trial.params, **outcome)

    def json_fields(self) -> dict[str, Any]:
        """The flat form the events, the store and tune's state.json hold (see _flat)."""
        return _flat(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialResult:
        """Back from the flat form: every key that is not a field of its own is a param (a
        null one was not searched), so a store or state.json of any table reads back."""
        own = {f.name for f in dataclasses.fields(cls)} - {"params"}
        params = {k: v for k, v in d.items() if k not in own and v is not None}
        return cls(params=params, **{k: v for k, v in d.items() if k in own})

    @classmethod
    def read(cls, d: Mapping[str, Any], at: str) -> TrialResult:
        """from_dict for a record read back (a store's row, edited by hand or damaged): each
        field of its annotated type, a status a run ends with, every other non-null value a
        number; else a BadField naming the field (`at.name`, or `name` when `at` is "")."""
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        params: dict[str, float] = {}
        fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "params"}

        def where(name: str) -> str:
            return f"{at}.{name}" if at else name

        for name, f in fields.items():
            if name in d:
                values[name] = read_as(hints[name], d[name], where(name))
            elif f.default is dataclasses.MISSING:
                raise BadField(where(name), "missing")
        if values["status"] not in STATUSES:
            raise BadField(where("status"), f"{show(values['status'])} is not one of {', '.join(STATUSES)}")
        for name, value in d.items():
            if name not in fields and value is not None:
                params[name] = read_as(float, value, where(name))
        return cls(params=params, **values)


def trial_id(stage: int, index: int) -> str:
    return f"s{stage}-{index:03d}"


def sample_trial(seed: int, stage: int, index: int, ranges: Mapping[str, Sequence[float]], epochs: int) -> Trial:
    """The trial at (stage, index): each searched key drawn as SEARCHED says.

    Every key of the table draws its number, in the table's order, searched or
    not, so a trial's values do not change when a choice list is added or
    removed, nor when a key is added at the end of the table."""
    rng = np.random.default_rng([seed, stage, index])
    draws = rng.random(len(SEARCHED))
    params = {
        name: _SAMPLERS[s.sample](ranges[name], float(u))
        for (name, s), u in zip(SEARCHED.items(), draws)
        if ranges.get(name)
    }
    return Trial(trial_id(stage, index), stage, index, params, epochs)


def stage_trials(seed: int, stage: int, count: int, epochs: int, ranges: Mapping[str, Sequence[float]]) -> list[Trial]:
    return [sample_trial(seed, stage, i, ranges, epochs) for i in range(count)]


def _log_uniform(bounds: Sequence[float], u: float) -> float:
    lo, hi = math.log10(bounds[0]), math.log10(bounds[1])
    return float(10 ** (lo + (hi - lo) * u))


def _choose(choices: Sequence[float], u: float) -> float:
    return choices[int(u * len(choices))]


_SAMPLERS = {LOG: _log_uniform, CHOICE: _choose}


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
    """The next stage's ranges: for a log key the range spanning the kept trials,
    widened a little; for a choice key the choices they used. No usable trial: the
    same ranges."""
    kept = [r for r in kept if r.best_val_acc is not None]
    out = dict(ranges)
    for name in searched(ranges):
        values = [r.params[name] for r in kept if name in r.params]
        if values:
            out[name] = _span(values) if SEARCHED[name].sample == LOG else tuple(sorted(set(values)))
    return out


def _span(values: Sequence[float]) -> tuple[float, float]:
    logs = [math.log10(v) for v in values]
    lo, hi = min(logs), max(logs)
    pad = max(WIDEN * (hi - lo), MIN_PAD)
    floor, ceiling = (math.log10(x) for x in LOG_LIMITS)
    return _within_limits(10 ** max(lo - pad, floor), 10 ** min(hi + pad, ceiling))


def _within_limits(lo: float, hi: float) -> tuple[float, float]:
    """A log range held within config.LOG_LIMITS: what a preset may search (a search near
    a limit would otherwise pad or extend past it, to infinity past float's range)."""
    low, high = LOG_LIMITS
    return (float(min(max(lo, low), high / 10)), float(max(min(hi, high), low * 10)))


def union(stages: Iterable[Ranges]) -> Ranges:
    """The whole region a search explored: the widest bounds (every choice) over its stages."""
    stages = list(stages)
    out: Ranges = {}
    for name, s in SEARCHED.items():
        given = [r[name] for r in stages if r.get(name)]
        if not given:
            out[name] = ()
        elif s.sample == LOG:
            out[name] = (min(r[0] for r in given), max(r[1] for r in given))
        else:
            out[name] = tuple(sorted({v for r in given for v in r}))
    return out


@dataclass(frozen=True)
class EdgeWarning:
    """The best value lies at the edge of the region searched: the optimum may lie beyond."""

    key: str  # a log key of SEARCHED: learning_rate | reg
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
    for key in searched(explored, LOG):
        if key not in best.params:
            continue
        value = best.params[key]
        low, high = explored[key]
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
    done = [r for r in results if r.status == "finished" and r.best_val_acc is not None and key in r.params]
    better = rank(done)[: len(done) // 2]
    if len(better) < TREND_MIN_TRIALS or hi <= lo:
        return None
    rho = spearman([math.log10(r.params[key]) for r in better], [float(r.best_val_acc or 0.0) for r in better])
    if not abs(rho) >= TREND_RHO:
        return None
    edge = "high" if rho > 0 else "low"
    value = best.params[key]
    position = (math.log10(value) - lo) / (hi - lo)
    if (position if edge == "high" else 1 - position) < 1 - TREND_FRACTION:
        return None
    floor = float(best.best_val_acc or 0.0) - TREND_TOLERANCE
    for r in results:
        if key not in r.params:
            continue
        there = r.params[key] > value if edge == "high" else r.params[key] < value
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
    EXTEND_DECADES past that edge. A choice key: the choices the kept trials used
    (empty when not searched). None when no trial finished with a val accuracy."""
    results = list(results)
    kept = rank(r for r in results if r.status == "finished" and r.best_val_acc is not None)[:keep]
    if not kept:
        return None
    top = float(kept[0].best_val_acc or 0.0)
    kept = [r for r in kept if float(r.best_val_acc or 0.0) >= NEXT_WITHIN * top]
    ranges = narrow(explored, kept)
    bounds = {key: list(ranges[key]) for key in searched(explored, LOG)}
    for w in edge_warnings(results, explored):
        if w.edge == "high":
            bounds[w.key][1] = max(bounds[w.key][1], w.high * 10**EXTEND_DECADES)
        else:
            bounds[w.key][0] = min(bounds[w.key][0], w.low / 10**EXTEND_DECADES)
    return ranges | {key: _within_limits(_round(lo), _round(hi)) for key, (lo, hi) in bounds.items()}


def _round(x: float) -> float:
    """Two significant digits: a range people read and type (1.5e-3, not 0.0014874...)."""
    return float(f"{x:.2g}")

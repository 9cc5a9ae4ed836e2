"""A search's leaders over seeds: its best trials run again with other train seeds, so the
best is chosen by the mean and a lead within seed noise is said to be one.

    leaders = reseed_leaders(preset, ranking, pool, flag, seeds=3)   # [search] leader_seeds
    best = leaders[0].result                                          # the best mean's trial

Each leader runs `seeds - 1` more times with train.seed + 1, + 2, ... (the data split,
data.seed, stays) at its stage's epochs, on the search's pool. These runs are not trials of
the search: its store, its ranking and its importance keep one reading per sampled point.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass

from ...config import Preset
from ..compare import mean_std_text, sample_std, within_seed_noise
from .pool import StopFlag, TrialPool
from .space import Trial, TrialResult
from .trial import TrialSpec, run_trial

LEADERS = 3  # at most; fewer when the search keeps fewer ([search] keep)


@dataclass(frozen=True)
class Leader:
    result: TrialResult  # the trial as the search ran it
    accs: tuple[float, ...]  # best val acc per seed that recorded one, the trial's own first
    seeds: int  # runs it had (some may have exploded: not in accs)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.accs) if self.accs else None

    @property
    def std(self) -> float | None:
        return sample_std(self.accs)


def reseed_leaders(
    preset: Preset,
    ranking: Sequence[TrialResult],
    pool: TrialPool,
    flag: StopFlag,
    seeds: int,
    trial_fn: Callable[[TrialSpec], TrialResult] = run_trial,
) -> list[Leader]:
    """The best min(LEADERS, keep) finished trials of `ranking`, each with `seeds` readings,
    the best mean first; [] when seeds < 2."""
    if seeds < 2:
        return []
    leaders = [r for r in ranking if r.best_val_acc is not None][: min(LEADERS, preset.search.keep)]
    futures: dict[str, list[Future]] = {}
    for r in leaders:
        epochs = preset.search.stages[r.stage - 1].epochs if r.stage <= len(preset.search.stages) else r.epochs
        trial = Trial(r.trial_id, r.stage, r.index, r.params, epochs)
        futures[r.trial_id] = [
            pool.submit(trial_fn, TrialSpec(preset.replace(**{"train.seed": preset.train.seed + i}), trial, flag))
            for i in range(1, seeds)
        ]
    wait([f for fs in futures.values() for f in fs])
    out = []
    for r in leaders:
        accs = [r.best_val_acc] if r.best_val_acc is not None else []
        for f in futures[r.trial_id]:
            try:
                acc = f.result().best_val_acc
            except Exception:  # the worker died: that seed says nothing
                acc = None
            if acc is not None and math.isfinite(acc):
                accs.append(acc)
        out.append(Leader(r, tuple(accs), seeds))
    return by_mean(out)


def by_mean(leaders: Sequence[Leader]) -> list[Leader]:
    """The leaders, the best mean over seeds first (ties: the better ranked first; no mean: last)."""
    return sorted(leaders, key=lambda leader: -(leader.mean if leader.mean is not None else -1.0))


def leader_lines(leaders: Sequence[Leader]) -> list[str]:
    """What a search's faces say of its leaders: each one's mean ± sample std over its seeds,
    and whether the best mean's lead over the next is within seed noise (compare.within_seed_noise)."""
    if not leaders:
        return []
    lines = [f"leaders over {leaders[0].seeds} train seeds (best val acc, mean ± sample std):"]
    for leader in leaders:
        spread = mean_std_text(leader.mean, leader.std) if leader.mean is not None else "no val acc"
        lines.append(f"  {leader.result.trial_id}  {spread}  n={len(leader.accs)}")
    if len(leaders) > 1:
        first, second = leaders[0], leaders[1]
        if within_seed_noise(first.accs, second.accs):
            lines.append(
                f"  {first.result.trial_id} and {second.result.trial_id} are within seed noise: "
                "their difference is not a real one at this many seeds"
            )
        else:
            lines.append(f"  {first.result.trial_id} leads {second.result.trial_id} by more than seed noise")
    return lines


def leader_summary(leaders: Sequence[Leader]) -> str:
    """leader_lines in one sentence, for a stage's summary line ("" without leaders)."""
    if not leaders:
        return ""
    each = ", ".join(
        f"{leader.result.trial_id} {mean_std_text(leader.mean, leader.std)}"
        if leader.mean is not None
        else f"{leader.result.trial_id} no val acc"
        for leader in leaders
    )
    said = f"chosen by the mean over {leaders[0].seeds} train seeds (best val acc, mean ± sample std): {each}"
    if len(leaders) < 2:
        return said
    first, second = leaders[0], leaders[1]
    if within_seed_noise(first.accs, second.accs):
        return f"{said}; {first.result.trial_id} and {second.result.trial_id} are within seed noise"
    return f"{said}; {first.result.trial_id} leads {second.result.trial_id} by more than seed noise"

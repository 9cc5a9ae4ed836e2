"""The stages' decisions, pure functions of the preset and the earlier stages'
results (no training here): each search's ranges and preset, the final stage's
candidates, the tuned preset, and each stage's plan in words. work.py carries
them out; runner.py's table says which stage uses which."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ...config import Preset
from ...formatting import accuracy, hyperparameter, plural
from ..checks import CheckResult
from ..search.leaders import LEADERS, Leader, by_mean
from ..search.space import TrialResult, apply_params, best_trial, range_changes
from .results import ChecksResult, LrFindResult, SearchStageResult, TuneState

LR_MARGIN = 3.0


def _rate_too_low(r: CheckResult) -> bool:
    """An overfit-small that fails at the preset's rate but passes higher up its ladder: the net
    can learn, the rate is too low, and lr-find finds one next. No bug, so no reason to stop."""
    return not r.passed and r.name == "overfit-small" and r.passing_lr is not None


def check_fails(r: CheckResult) -> bool:
    """Whether this check stops the tune (the checks after it are not run)."""
    return not r.passed and not _rate_too_low(r)


def checks_outcome(results: list[CheckResult], learning_rate: float) -> tuple[str, str, ChecksResult]:
    """The checks stage's verdict, summary and result from the checks run (up to the first that
    fails); `learning_rate`: the preset's."""
    failed = next((r for r in results if check_fails(r)), None)
    if failed is not None:
        return (
            "failed",
            f"{failed.name} failed: {failed.value}, expected {failed.expected}. Remedy: {failed.advice}",
            ChecksResult(tuple(results), failed=failed.name, remedy=failed.advice),
        )
    note = "".join(
        f"; overfit-small passes at lr {r.passing_lr:g} but not at the preset's {learning_rate:g}: "
        "the rate is too low, not a bug, and lr-find finds it next"
        for r in results
        if _rate_too_low(r)
    )
    return "passed", f"all {len(results)} checks passed{note}", ChecksResult(tuple(results))


def coarse_ranges(preset: Preset, spread: tuple[float, float] | list[float]) -> dict:
    """The coarse search's ranges: lr-find's spread widened LR_MARGIN x each side; reg from [search]."""
    lo, hi = spread
    return {"learning_rate": [lo / LR_MARGIN, hi * LR_MARGIN], "reg": list(preset.search.ranges["reg"])}


def coarse_preset(preset: Preset, spread: tuple[float, float] | list[float]) -> Preset:
    r = coarse_ranges(preset, spread)
    tc = preset.tune
    p = preset.replace(
        **{
            "search.learning_rate": [float(f"{r['learning_rate'][0]:.3g}"), float(f"{r['learning_rate'][1]:.3g}")],
            "search.reg": r["reg"],
            "search.stages": [{"trials": tc.coarse_trials, "epochs": tc.coarse_epochs}],
        }
    )
    return dataclasses.replace(p, name=f"{preset.name}-coarse")


def fine_preset(preset: Preset, next_ranges: dict) -> Preset:
    tc = preset.tune
    p = preset.replace(
        **range_changes(next_ranges),
        **{
            "search.stages": [{"trials": tc.fine_trials, "epochs": tc.fine_epochs}],
            "search.seed": preset.search.seed + 1,  # other samples than the coarse stage's
        },
    )
    return dataclasses.replace(p, name=f"{preset.name}-fine")


def final_candidates(fine: SearchStageResult | None, coarse: SearchStageResult, count: int) -> list[TrialResult]:
    """The configurations the final stage continues, best first: the best `count` finished
    fine trials (the fine search's ranking); else its best trial, or the coarse one's when
    no fine trial got as far as an epoch."""
    ranked = list(fine.ranking) if fine is not None else []
    finished = [r for r in ranked if r.status == "finished" and r.best_val_acc is not None]
    if finished:
        return finished[:count]
    for best in (fine.best if fine is not None else None, coarse.best):
        if best is not None:
            return [best]
    raise AssertionError("the final stage runs only after a search found a best trial")


def final_choice(results: Sequence[TrialResult], leaders: Sequence[Leader]) -> TrialResult | None:
    """The candidate the final run is: with [tune] leader_seeds, the leader with the best mean
    over its seeds (search.leaders.by_mean: one lucky seed does not choose), else the best
    candidate's one reading (space.best_trial); None when none has a val accuracy."""
    means = [leader for leader in leaders if leader.mean is not None]
    if means:
        return by_mean(means)[0].result
    return best_trial(results)


def final_preset(preset: Preset, best: TrialResult, ranges: dict | None) -> Preset:
    """The tuned preset: the best trial's values, final_epochs, the fine search's ranges
    (the coarse search's suggestion) as [search].

    The values are the trial's own, unrounded: with the same seed the final run then
    repeats that trial's epochs before it goes on, so its best val accuracy is at
    least the trial's (a rate rounded to 3 digits takes another path and may land
    below it)."""
    changes: dict[str, Any] = {"train.epochs": preset.tune.final_epochs}
    if ranges:
        changes |= range_changes(ranges)
    p = apply_params(preset, best.params, **changes)
    return dataclasses.replace(
        p,
        name=f"{preset.name}-tuned",
        description=(
            f"Tuned from {preset.name} by tui-trainer tune: lr {hyperparameter(best.params['learning_rate'])}, "
            f"reg {hyperparameter(best.params['reg'])} (trial {best.trial_id}, val acc {accuracy(best.best_val_acc)})"
        ),
    )


# --- what the inputs of each stage are, from the earlier stages' results ---------------------


# A stage runs only after the ones before it are done, and a done stage's result
# has what the next needs (results.py checks that of a state.json read back).


def coarse_input(preset: Preset, state: TuneState) -> Preset:
    spread = state.result("lr-find", LrFindResult).spread
    assert spread is not None
    return coarse_preset(preset, spread)


def fine_input(preset: Preset, state: TuneState) -> Preset:
    ranges = state.result("coarse", SearchStageResult).next_ranges
    assert ranges is not None
    return fine_preset(preset, ranges)


def final_inputs(preset: Preset, state: TuneState) -> list[TrialResult]:
    fine = state.entry("fine")
    return final_candidates(
        fine.result if fine is not None and isinstance(fine.result, SearchStageResult) else None,
        state.result("coarse", SearchStageResult),
        preset.tune.final_candidates,
    )


def tuned_ranges(state: TuneState) -> dict | None:
    """The [search] ranges of the tuned preset: the fine search's, which the coarse one suggested."""
    return state.result("coarse", SearchStageResult).next_ranges


# --- the plans: what each stage is about to do, in words -------------------------------------


def plan_checks(preset: Preset, state: TuneState) -> str:
    return "the four sanity checks: loss at init, reg raises it, gradient, overfit 20 examples"


def plan_lr_find(preset: Preset, state: TuneState) -> str:
    return "the learning-rate range test, 3 seeds, reg 0, from the initial weights"


def plan_coarse(preset: Preset, state: TuneState) -> str:
    s = coarse_input(preset, state).search
    lr, reg = s.ranges["learning_rate"], s.ranges["reg"]
    return (
        f"{plural(s.stages[0].trials, 'trial')} x {plural(s.stages[0].epochs, 'epoch')}, log-uniform lr "
        f"{hyperparameter(lr[0])}..{hyperparameter(lr[1])} (lr-find's spread, "
        f"{LR_MARGIN:g}x wider each side), reg {hyperparameter(reg[0])}..{hyperparameter(reg[1])} ([search] reg)"
    )


def plan_fine(preset: Preset, state: TuneState) -> str:
    s = fine_input(preset, state).search
    lr, reg = s.ranges["learning_rate"], s.ranges["reg"]
    return (
        f"{plural(s.stages[0].trials, 'trial')} x {plural(s.stages[0].epochs, 'epoch')} over the coarse search's "
        "suggested ranges: "
        f"lr {hyperparameter(lr[0])}..{hyperparameter(lr[1])}, reg {hyperparameter(reg[0])}..{hyperparameter(reg[1])}"
    )


def plan_final(preset: Preset, state: TuneState) -> str:
    tc = preset.tune
    cands = final_inputs(preset, state)
    values = "; ".join(
        f"{c.trial_id}: lr {hyperparameter(c.params['learning_rate'])}, reg {hyperparameter(c.params['reg'])}"
        for c in cands
    )
    seeds = ""
    if tc.leader_seeds > 1 and len(cands) == 1:
        seeds = f"; it runs over {tc.leader_seeds} train seeds too ([tune] leader_seeds): its mean is said beside"
    elif tc.leader_seeds > 1:
        seeds = (
            f"; the best {min(len(cands), LEADERS)} then run over {tc.leader_seeds} train seeds each "
            "([tune] leader_seeds) and the best mean is the final run"
        )
    if len(cands) == 1:
        return (
            f"a {tc.final_epochs}-epoch run of the best trial {cands[0].trial_id} (its values and seed: "
            f"it repeats that trial's {plural(cands[0].epochs, 'epoch')}, then goes on){seeds}: {values}"
        )
    best = "" if seeds else "; the best is the final run"
    return (
        f"the best {len(cands)} fine trials continued to {tc.final_epochs} epochs (each with its values and seed "
        f"repeats its {plural(cands[0].epochs, 'epoch')}, then goes on){best}{seeds}: {values}"
    )

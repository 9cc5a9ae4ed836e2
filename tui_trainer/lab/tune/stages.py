"""The stages' decisions, pure functions of the preset and the stages' results
(no training here): each search's ranges and preset, the final stage's
candidates and the tuned preset. runner.py carries them out."""

from __future__ import annotations

import dataclasses
from typing import Any

from ...config import Preset
from ...formatting import accuracy, hyperparameter
from ..search.space import TrialResult
from ..search.trial import hidden_layers

STAGES = ("checks", "lr-find", "coarse", "fine", "final")
LR_MARGIN = 3.0


def coarse_ranges(preset: Preset, spread: tuple[float, float] | list[float]) -> dict:
    """The coarse search's ranges: lr-find's spread widened LR_MARGIN x each side; reg from [search]."""
    lo, hi = spread
    return {"learning_rate": [lo / LR_MARGIN, hi * LR_MARGIN], "reg": list(preset.search.reg)}


def coarse_preset(preset: Preset, spread) -> Preset:
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
        **{
            "search.learning_rate": next_ranges["learning_rate"],
            "search.reg": next_ranges["reg"],
            "search.hidden": next_ranges.get("hidden", []),
            "search.batch_size": next_ranges.get("batch_size", []),
            "search.stages": [{"trials": tc.fine_trials, "epochs": tc.fine_epochs}],
            "search.seed": preset.search.seed + 1,  # other samples than the coarse stage's
        }
    )
    return dataclasses.replace(p, name=f"{preset.name}-fine")


def final_candidates(state: dict, count: int) -> list[TrialResult]:
    """The configurations the final stage continues, best first: the best `count` finished
    fine trials (the fine search's ranking); else its best trial, or the coarse one's when
    no fine trial got as far as an epoch."""
    fine = state.get("fine", {}).get("result", {})
    ranked = [TrialResult(**r) for r in fine.get("ranking", [])]
    finished = [r for r in ranked if r.status == "finished" and r.best_val_acc is not None]
    if finished:
        return finished[:count]
    for best in (fine.get("best"), state.get("coarse", {}).get("result", {}).get("best")):
        if best is not None:
            return [TrialResult(**best)]
    raise AssertionError("the final stage runs only after a search found a best trial")


def best_configuration(state: dict) -> TrialResult:
    """The best fine trial; the best coarse one when no fine trial finished."""
    return final_candidates(state, 1)[0]


def final_preset(preset: Preset, best: TrialResult, state: dict) -> Preset:
    """The tuned preset: the best trial's values, final_epochs, the fine ranges as [search].

    The values are the trial's own, unrounded: with the same seed the final run then
    repeats that trial's epochs before it goes on, so its best val accuracy is at
    least the trial's (a rate rounded to 3 digits takes another path and may land
    below it)."""
    changes: dict[str, Any] = {
        "train.learning_rate": best.learning_rate,
        "train.reg": best.reg,
        "train.epochs": preset.tune.final_epochs,
    }
    if best.hidden is not None:
        changes["model.hidden"] = hidden_layers(preset, best.hidden)
    if best.batch_size is not None:
        changes["train.batch_size"] = best.batch_size
    ranges = state.get("coarse", {}).get("result", {}).get("next_ranges")
    if ranges:
        changes |= {"search.learning_rate": ranges["learning_rate"], "search.reg": ranges["reg"]}
    p = preset.replace(**changes)
    return dataclasses.replace(
        p,
        name=f"{preset.name}-tuned",
        description=(
            f"Tuned from {preset.name} by tui-trainer tune: lr {hyperparameter(best.learning_rate)}, "
            f"reg {hyperparameter(best.reg)} (trial {best.trial_id}, val acc {accuracy(best.best_val_acc)})"
        ),
    )

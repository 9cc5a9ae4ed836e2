"""The next, finer search a finished search suggests: its preset, next.toml.

A finished search ends with the ranges it suggests for a next search
(space.suggest_next), in its `search_ended` event as `next_ranges` and as a
ready preset, `next.toml` in the search folder (`next_preset`), which
`tui-trainer search --refine FOLDER` and the search view's `f` run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

from ...config import Preset, to_toml
from ...errors import UserError
from ...records.atomic import write_record_text
from ...searched import LOG, SEARCHED
from .space import TrialResult, apply_params, range_changes

# The ready preset of the suggested next search, in the search folder.
NEXT_PRESET = "next.toml"
# The next search: one stage of half as many trials as the last stage (at least
# NEXT_MIN_TRIALS), each trained NEXT_EPOCHS_FACTOR times as long.
NEXT_MIN_TRIALS = 4
NEXT_EPOCHS_FACTOR = 5
REFINED = "-refined"


def next_ranges_dict(ranges: Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
    """The JSON form of suggested ranges (SearchEnded.next_ranges): the keys searched only."""
    return {name: list(r) for name, r in ranges.items() if r}


def refine_path(folder: str | Path) -> Path:
    """The next.toml a finished search left in its folder (what --refine runs); a
    UserError naming the folder when there is none."""
    path = Path(folder)
    if not path.is_dir():
        raise UserError(f"--refine {folder}: no such search folder (give a runs/search-PRESET-... folder)")
    if not (path / NEXT_PRESET).is_file():
        raise UserError(
            f"--refine {folder}: no {NEXT_PRESET} in it; a search writes one when it finishes with a trial "
            "that finished (run or --resume it to the end first)"
        )
    return path / NEXT_PRESET


def next_preset(
    preset: Preset, ranges: Mapping[str, Sequence[float]], best: TrialResult | None, search_id: str
) -> Preset:
    """The preset of the next, finer search: `ranges` to sample, one stage of half as
    many trials as the last (at least NEXT_MIN_TRIALS) trained NEXT_EPOCHS_FACTOR x as
    long, and the best trial's values as its own (a log value to 3 significant digits,
    for people to read), so `tui-trainer run next.toml` trains the best so far."""
    last = preset.search.stages[-1]
    stage = {"trials": max(NEXT_MIN_TRIALS, last.trials // 2), "epochs": last.epochs * NEXT_EPOCHS_FACTOR}
    base = preset.name[: -len(REFINED)] if preset.name.endswith(REFINED) else preset.name
    acc = "" if best is None or best.best_val_acc is None else f" (val acc {best.best_val_acc:.3f})"
    params = {} if best is None else {k: _readable(k, v) for k, v in best.params.items()}
    out = apply_params(preset, params, **range_changes(ranges), **{"search.stages": [stage]})
    description = (
        f"Refines search {search_id}: around its best trials, best {best.trial_id if best else '-'}"
        f"{acc}; {stage['trials']} trials x {stage['epochs']} epochs"
    )
    return dataclasses.replace(out, name=base + REFINED, description=description)


def _readable(name: str, value: float) -> float:
    return float(f"{value:.3g}") if SEARCHED[name].sample == LOG else value


def save_next(folder: Path, preset: Preset) -> None:
    """Write next.toml, with the command that runs it."""
    text = f"# the next, finer search: tui-trainer search --refine {folder}\n{to_toml(preset)}"
    write_record_text(folder / NEXT_PRESET, text, "the next search's preset")

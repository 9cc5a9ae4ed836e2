"""Comparing past runs, as W&B users do: seed groups and their spread, the settings that
differ, and every curve as tidy rows for a notebook.

The rules live here, one function each, and every face calls them: `tui-trainer runs`
(its table, `--json` and `--export-csv`) and the workbench's runs view.

    groups = group_runs(list_runs("runs"))      # seed groups: n, mean ± std of best val acc
    keys = settings_diff(runs)                  # the settings that differ between these runs
    rows = curve_rows(run)                      # one row per step or epoch and metric
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..engine.events import Epoch, RunStarted, Step, from_dict
from ..formatting import short_number
from ..records.run_folder import RunInfo, read_metrics, read_summary
from .history import History

# What varies within a seed group, so it is never a shared setting of one, nor a difference
# worth a column between its runs.
SEED_KEY = "train.seed"


# Run statuses from best to worst, for a group's one status.
_STATUS_ORDER = {"finished": 0, "running": 1, "incomplete": 2, "stopped": 3, "exploded": 4, "failed": 5}


@dataclass(frozen=True)
class Group:
    """The runs of one seed group and the spread of their best val accuracy.

    The spread is the mean ± the sample standard deviation (n - 1 in the denominator; none
    for one run: sample_std) of each run's best val accuracy, with min..max beside it; runs that recorded no
    val accuracy (killed before an epoch) are members but not in n."""

    id: str
    runs: tuple[RunInfo, ...]
    n: int
    mean: float | None
    std: float | None
    lo: float | None
    hi: float | None
    shared: dict[str, Any]  # the settings every member has alike (the seed excluded)

    @property
    def preset(self) -> str:
        return self.runs[0].preset

    @property
    def status(self) -> str:
        """The worst way one of its runs ended or stands (records.run_live.run_status: running, or
        incomplete once killed)."""
        return max((r.status for r in self.runs), key=lambda s: _STATUS_ORDER.get(s, len(_STATUS_ORDER)))

    @property
    def dataset(self) -> str:
        return self.runs[0].dataset


def group_of(group_id: str, runs: Sequence[RunInfo]) -> Group:
    accs = [r.best_val_acc for r in runs if r.best_val_acc is not None and math.isfinite(r.best_val_acc)]
    mean = statistics.fmean(accs) if accs else None
    std = sample_std(accs)
    return Group(
        id=group_id,
        runs=tuple(runs),
        n=len(accs),
        mean=mean,
        std=std,
        lo=min(accs) if accs else None,
        hi=max(accs) if accs else None,
        shared=shared_settings(runs),
    )


def group_runs(runs: Iterable[RunInfo]) -> list[Group]:
    """Every seed group among `runs`, in the order of its first run; lone runs are in none."""
    members: dict[str, list[RunInfo]] = {}
    for r in runs:
        if r.group is not None:
            members.setdefault(r.group, []).append(r)
    # its runs by train seed, the order they ran in (folder names of one second sort by their random id)
    return [
        group_of(gid, sorted(rs, key=lambda r: (r.seed is None, r.seed or 0, r.name))) for gid, rs in members.items()
    ]


def rows_of(runs: Sequence[RunInfo]) -> list[RunInfo | Group]:
    """What a listing shows, in the runs' order: a lone run as itself, a seed group as one row
    where its first run is."""
    groups = {g.id: g for g in group_runs(runs)}
    out: list[RunInfo | Group] = []
    for r in runs:
        if r.group is None:
            out.append(r)
        elif r.group in groups:
            out.append(groups.pop(r.group))
    return out


def sample_std(values: Sequence[float]) -> float | None:
    """The sample standard deviation (n - 1 in the denominator), None under two values: one
    run has no spread, and "± 0.000" would claim it had none (a group's, a leader's)."""
    return statistics.stdev(values) if len(values) > 1 else None


def mean_std_text(mean: float, std: float | None, sep: str = " ± ") -> str:
    """A mean over seeds as it reads: "0.912 ± 0.004", or "0.912" alone with no spread (one seed)."""
    return f"{mean:.3f}" if std is None else f"{mean:.3f}{sep}{std:.3f}"


def spread_text(g: Group, n: bool = True) -> str:
    """How a group's best val accuracy reads: "0.912 ± 0.004 n=3" (the mean ± the sample std);
    without `n`, "0.912±0.004" for a narrow column; one run: "0.918 n=1"."""
    if g.mean is None:
        return f"n={g.n}" if n else ""
    if not n:
        return mean_std_text(g.mean, g.std, "±")
    return f"{mean_std_text(g.mean, g.std)} n={g.n}"


def within_seed_noise(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two setups' best val accuracies over seeds differ by no more than seed noise:
    their means less than twice the difference's standard error apart (Welch's; one run a
    side has no spread to tell by, so it counts as within). The one rule a seed group's, a
    search's and a tune's faces say it by."""
    if len(a) < 2 or len(b) < 2:
        return True
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    return abs(statistics.fmean(a) - statistics.fmean(b)) <= 2 * se


def group_line(g: Group) -> str:
    """The sentence a face ends a seed group with."""
    seeds = sorted(r.seed for r in g.runs if r.seed is not None)
    text = f"seed group {g.id}: best val acc {spread_text(g)} (mean ± sample std"
    if g.lo is not None and g.hi is not None:
        text += f"; min..max {g.lo:.3f}..{g.hi:.3f}"
    return text + f"), train seeds {', '.join(map(str, seeds))}"


def mean_band(series: Sequence[Sequence[float]]) -> tuple[list[float], list[float], list[float]]:
    """A group's curve: the mean of its runs' values point by point and the band (min, max)
    around it, over the points every run reached (a run stopped early shortens them all, so
    the mean never mixes a different number of runs)."""
    n = min((len(s) for s in series), default=0)
    columns = [[s[i] for s in series] for i in range(n)]
    return (
        [statistics.fmean(c) for c in columns],
        [min(c) for c in columns],
        [max(c) for c in columns],
    )


def shared_settings(runs: Sequence[RunInfo]) -> dict[str, Any]:
    """The settings every run in `runs` has with the same value (the seed excluded)."""
    if not runs:
        return {}
    first = runs[0].settings
    differ = set(settings_diff(runs))
    return {k: v for k, v in first.items() if k not in differ and k != SEED_KEY}


def settings_diff(runs: Sequence[RunInfo], ignore: Iterable[str] = ("description",)) -> list[str]:
    """The settings whose values are not the same in every run of `runs` (a key some runs lack
    counts as differing), in config order; the description is prose, not a setting."""
    skip = set(ignore)
    keys: dict[str, None] = {}
    for r in runs:
        keys.update(dict.fromkeys(r.settings))
    out = []
    for k in keys:
        if k in skip:
            continue
        values = {_hashable(r.settings.get(k, _MISSING)) for r in runs}
        if len(values) > 1:
            out.append(k)
    return out


_MISSING = object()


def _hashable(v: Any) -> Any:
    try:
        hash(v)
    except TypeError:  # a tuple of tables (search.stages): compared by its text
        return repr(v)
    return v


def diff_text(run: RunInfo, keys: Sequence[str], seeds: Sequence[int | None] = ()) -> str:
    """One run's values of the differing keys, as "lr=0.1 reg=1e-05" (the key's last part);
    a seed group's row gives its runs' `seeds`, shown as "seed=1..3" in place of one run's."""
    parts = []
    for k in keys:
        v = run.settings.get(k)
        known = sorted(x for x in seeds if x is not None)
        if k == SEED_KEY and known:
            text = f"{known[0]}..{known[-1]}" if len(known) > 1 else str(known[0])
        elif isinstance(v, float):
            text = short_number(v)
        elif isinstance(v, tuple):
            text = ",".join(str(x) for x in v)
        else:
            text = "-" if v is None else str(v)
        parts.append(f"{k.rsplit('.', 1)[-1]}={text}")
    return " ".join(parts)


def matches(run: RunInfo, query: str) -> bool:
    """Whether a run passes a filter as typed: every word (case ignored) is part of its name,
    preset, data set or one of its tags. An empty query passes every run."""
    fields = [run.name, run.preset, run.dataset, *run.tags]
    if run.group:
        fields.append(run.group)
    haystack = "\n".join(fields).lower()
    return all(word in haystack for word in query.lower().split())


# --- one JSON document: `tui-trainer runs --json` ---------------------------------------


def run_document(r: RunInfo) -> dict[str, Any]:
    return {
        "name": r.name,
        "path": str(r.path),
        "preset": r.preset,
        "dataset": r.dataset,
        "status": r.status,
        "group": r.group,
        "seed": r.seed,
        "best_val_acc": r.best_val_acc,
        "tags": list(r.tags),
        "note": r.note,
        "summary": read_summary(r.path),
        "settings": {k: _jsonable(v) for k, v in r.settings.items()},
    }


def runs_document(runs: Sequence[RunInfo]) -> dict[str, Any]:
    """Every run (its summary and settings) and every seed group (n, the mean, std, min and
    max of best val accuracy, the settings its runs share), as one JSON-ready mapping."""
    return {
        "runs": [run_document(r) for r in runs],
        "groups": [
            {
                "id": g.id,
                "preset": g.preset,
                "dataset": g.dataset,
                "runs": [r.name for r in g.runs],
                "n": g.n,
                "best_val_acc": {"mean": g.mean, "std": g.std, "min": g.lo, "max": g.hi},
                "shared_settings": {k: _jsonable(v) for k, v in g.shared.items()},
            }
            for g in group_runs(runs)
        ],
    }


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


# --- tidy rows: `tui-trainer runs --export-csv` ---------------------------------------------

CSV_COLUMNS = ("run", "group", "seed", "epoch", "iteration", "metric", "value", "smoothed")
# What each event gives: a step its mini-batch loss (smoothed as the loss curve draws it) and
# rate; an epoch its mean loss, accuracies and rate.
STEP_METRICS = ("loss", "learning_rate")
EPOCH_METRICS = {
    "epoch_loss": "loss",
    "train_acc": "train_acc",
    "val_acc": "val_acc",
    "epoch_learning_rate": "learning_rate",
}


def curve_rows(run: RunInfo) -> Iterator[dict[str, Any]]:
    """One row per (step or epoch, metric) of a run's metrics.jsonl, values as the events hold
    them (None where the event wrote null: a loss that was not finite). A step's epoch is its
    fraction (iteration / iterations per epoch); an epoch's iteration is where it ended. The
    loss's `smoothed` is the curve the workbench draws (lab.history's moving average); the
    other metrics have none. Only the last run in the file counts, as History reads it."""
    events = []
    for d in read_metrics(run.path):
        try:
            events.append(from_dict(d))
        except (KeyError, TypeError, ValueError):
            continue
    starts = [i for i, e in enumerate(events) if isinstance(e, RunStarted)]
    events = events[starts[-1] :] if starts else events
    history = History.from_events(events)
    smoothed = history.steps_smooth
    per_epoch = history.iterations_per_epoch
    base = {"run": run.name, "group": run.group, "seed": run.seed}
    step_index = 0
    for e in events:
        if isinstance(e, Step):
            smooth = float(smoothed[step_index])
            step_index += 1
            yield {
                **base,
                "epoch": e.epoch,
                "iteration": e.iteration,
                "metric": "loss",
                "value": _finite(e.loss),
                "smoothed": smooth if math.isfinite(smooth) else None,
            }
            yield {
                **base,
                "epoch": e.epoch,
                "iteration": e.iteration,
                "metric": "learning_rate",
                "value": e.learning_rate,
                "smoothed": None,
            }
        elif isinstance(e, Epoch):
            for metric, attr in EPOCH_METRICS.items():
                yield {
                    **base,
                    "epoch": e.epoch,
                    "iteration": e.epoch * per_epoch,
                    "metric": metric,
                    "value": _finite(getattr(e, attr)),
                    "smoothed": None,
                }


def _finite(v: float) -> float | None:
    """None for what the event wrote as null (from_dict reads a null loss back as NaN)."""
    return v if math.isfinite(v) else None

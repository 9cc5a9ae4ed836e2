"""Which searched hyperparameter matters: every searched value against val accuracy at once,
and an importance table; both faces of a search and tune's report show them as text.

    points = [(trial.params, trial.best_val_acc) for trial in results]
    rows = importance(points)            # per key: Spearman's rho with val acc, over n trials
    lines = importance_lines(points)     # the table, with its method stated
    lines = scatter_row(points, width)   # each key's values against val acc, side by side

The method is Spearman's rank correlation between each searched value and the trial's best
val accuracy, over the trials that recorded one. It needs no extra library, it is blind to
the scale (a log-uniform rate and a linear batch size alike) and to any monotone bend, and
its sign says which way to move; it is blind to a peak inside the range (a learning rate
that is best in the middle reads near 0), which the scatter row shows. A random forest or
fANOVA would see the peak, at the price of a dependency and of tens of trials more.

The picture is a scatter matrix's val-accuracy row, not parallel coordinates: each key's
panel reads on its own without colour (one trial a mark, the best a `*`), where parallel
coordinates need a colour or a line style per trial to follow one across the axes, and a
terminal's rows are too few for that with tens of trials.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...records.search_store import read_results
from ...searched import LOG, SEARCHED
from .space import TrialResult
from .texts import fmt_value, in_order

Point = tuple[Mapping[str, float], float | None]  # a trial's values and its best val accuracy

METHOD = "Spearman's rank correlation of each searched value with best val acc"
READING = "|rho| near 1: it matters; +: higher is better, -: lower is; near 0: no trend, or a peak inside the range"


@dataclass(frozen=True)
class Importance:
    key: str
    rho: float | None  # None: the key took one value only, or val acc did
    n: int  # trials with a val accuracy and a value for the key


def points_of(results: Iterable[TrialResult]) -> list[Point]:
    """Trials as points: every one recorded (a trial without a val accuracy is left out later)."""
    return [(r.params, r.best_val_acc) for r in results]


def recorded_points(folder: str | Path) -> list[Point]:
    """Every trial a search folder recorded, as points (read without taking the folder)."""
    results = []
    for row in read_results(folder):
        try:
            results.append(TrialResult.from_dict(row))
        except (KeyError, TypeError, ValueError):
            continue
    return points_of(results)


def report_lines(folder: str | Path, width: int = 80) -> list[str]:
    """What a search's report adds: the importance table and the scatter row of its trials."""
    return picture_lines(recorded_points(folder), width)


def picture_lines(points: Sequence[Point], width: int = 80, height: int = 8, panel: int = 30) -> list[str]:
    """The importance table, then the scatter row `width` wide with panels `height` rows tall
    and at most `panel` wide: the hyperparameter view of every face (the reports, the search
    view's `i`)."""
    table = importance_lines(points)
    picture = scatter_row(points, width, height, panel)
    return [*table, *([""] if table and picture else []), *picture]


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties given the mean of the ranks they share."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson's correlation of the ranks; None when either side is constant."""
    if len(x) < 2:
        return None
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def _usable(points: Sequence[Point]) -> list[tuple[Mapping[str, float], float]]:
    return [(p, acc) for p, acc in points if acc is not None and math.isfinite(acc)]


def importance(points: Sequence[Point]) -> list[Importance]:
    """Each searched key's rho with val accuracy, the most important (largest |rho|) first."""
    usable = _usable(points)
    keys = in_order({k for p, _ in usable for k in p})
    rows = []
    for key in keys:
        pairs = [(float(p[key]), acc) for p, acc in usable if p.get(key) is not None]
        rho = spearman([a for a, _ in pairs], [b for _, b in pairs])
        rows.append(Importance(key, rho, len(pairs)))
    return sorted(rows, key=lambda r: -abs(r.rho) if r.rho is not None else 1.0)


def within_chance(r: Importance) -> bool:
    """Whether |rho| is one that keys with no effect reach by chance: under 2 / sqrt(n - 1),
    twice rho's standard error when there is no relation (about 95% of such keys stay under it)."""
    return r.rho is not None and (r.n < 3 or abs(r.rho) < 2 / math.sqrt(r.n - 1))


def importance_lines(points: Sequence[Point]) -> list[str]:
    """The importance table as text lines (a bar of |rho| beside each key), its method stated."""
    rows = importance(points)
    if not rows:
        return []
    width = max(len(r.key) for r in rows)
    lines = [f"importance: {METHOD}", f"  ({READING})"]
    for r in rows:
        if r.rho is None:
            lines.append(f"  {r.key:<{width}}     -   (one value only: cannot tell; n={r.n})")
        else:
            bar = "#" * round(abs(r.rho) * 20)
            chance = "  within chance" if within_chance(r) else ""
            lines.append(f"  {r.key:<{width}}  {r.rho:+.2f}  {bar:<20}  n={r.n}{chance}")
    return lines


def scatter_row(points: Sequence[Point], width: int = 80, height: int = 8, panel_max: int = 30) -> list[str]:
    """Every searched key's values (x; log scale for a log-sampled key) against best val acc
    (y, shared), one panel per key side by side, each at most `panel_max` wide; `o` a trial,
    `*` the best one. Fits `width`."""
    usable = _usable(points)
    keys = [k for k in in_order({k for p, _ in usable for k in p}) if len({p.get(k) for p, _ in usable}) > 1]
    if not usable or not keys:
        return []
    accs = [acc for _, acc in usable]
    lo, hi = min(accs), max(accs)
    best = max(range(len(usable)), key=lambda i: accs[i])
    axis = 7  # "0.912 |"
    panel = max(min((width - axis) // len(keys) - 2, panel_max), 10)
    grids = []
    for key in keys:
        log = key in SEARCHED and SEARCHED[key].sample == LOG
        xs = [_x(float(p[key]), log) if p.get(key) is not None else None for p, _ in usable]
        present = [x for x in xs if x is not None]
        x0, x1 = min(present), max(present)
        grid = [[" "] * panel for _ in range(height)]
        for i, ((_, acc), x) in enumerate(zip(usable, xs, strict=True)):
            if x is None:
                continue
            col = round((x - x0) / (x1 - x0) * (panel - 1)) if x1 > x0 else panel // 2
            row = height - 1 - (round((acc - lo) / (hi - lo) * (height - 1)) if hi > lo else height // 2)
            if i == best or grid[row][col] != "*":
                grid[row][col] = "*" if i == best else "o"
        low = [p[key] for p, _ in usable if p.get(key) is not None]
        grids.append((key, grid, fmt_value(key, min(low)), fmt_value(key, max(low))))
    lines = [f"val acc against each searched value ({len(usable)} trials; * the best)"]
    for r in range(height):
        label = f"{hi:.3f}" if r == 0 else (f"{lo:.3f}" if r == height - 1 else "")
        lines.append(f"{label:>5} |" + "  ".join("".join(g[r]) for _, g, _, _ in grids).rstrip())
    lines.append(" " * 6 + "+" + "  ".join("-" * panel for _ in grids))
    lines.append(" " * axis + "  ".join(_ends(a, b, panel) for _, _, a, b in grids).rstrip())
    lines.append(" " * axis + "  ".join(f"{k + (' (log)' if _is_log(k) else ''):^{panel}}"[:panel] for k, *_ in grids))
    return [line.rstrip() for line in lines]


def _is_log(key: str) -> bool:
    return key in SEARCHED and SEARCHED[key].sample == LOG


def _x(v: float, log: bool) -> float:
    return math.log10(v) if log and v > 0 else v


def _ends(a: str, b: str, width: int) -> str:
    """A panel's lowest and highest value under its two ends."""
    gap = max(width - len(a) - len(b), 1)
    return (a + " " * gap + b)[: max(width, len(a) + 1 + len(b))]

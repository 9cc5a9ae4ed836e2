"""The learning-rate range test (Smith 2015; fastai's `lr_find`, Lightning's `Tuner.lr_find`).

    ended = find_lr(preset, data, sink=print)        # -> LrFindEnded; every event to sink
    ended.suggested_lr, ended.spread                 # the median minimum/10, [lo, hi] of every suggestion
    ended.warnings                                   # what the curve could not say (see `warnings`)

From the preset's initial weights (its model and train.seed), with its update
rule and batch size, the learning rate grows exponentially from START_LR to
END_LR over STEPS mini-batches, one update each. The loss is smoothed with a
debiased moving average (beta SMOOTH_BETA, as fastai and Lightning do) and the
sweep stops once the smoothed loss passes STOP_FACTOR x its best so far (or a
loss is not finite): past that point the rate only makes it diverge.

The sweep is a run of the trainer's one loop (engine/trainer.py), as fastai's
finder is a callback on its loop: the trainer sets each mini-batch's rate
(`learning_rate_at`), the sweep's sink reads each Step's loss and ends the run
(`trainer.finish`) at the stop; batching, the device and the update are the
trainer's. The suggestions stay pure functions of the rates and losses.

Why reg 0: the test asks how fast the data loss can fall; the reg term is the
search's to choose later, and a rate chosen with one reg would carry that reg's
pull into every trial. At the small init the reg term is near zero anyway.

Why not the run's explode rule (engine.rules.ExplosionWatch): that rule
compares the smoothed loss with the loss at init (train.explode_factor, 3x),
because a run must not stop for noise. Here the loss has usually fallen far
below its start when the rate becomes too high; 3x the initial loss would let
the sweep run on well into divergence and flatten the plot. The stop compares
with the best loss of the sweep instead, 4x as fastai and Lightning do.

Each of SEEDS repeats the sweep with another mini-batch order (the same initial
weights); every suggestion is computed per seed and reported as the median
over seeds. A single sweep's suggestion moves between runs and can be fooled by
an early spike; the median of three, and the spread of all of them, say how far
to trust it. `spread` is [lowest, highest] of every method's suggestion over
every seed: the range a search should cover.

The suggestions (each a pure function of one sweep's rates and smoothed losses):
- valley: fastai's default: the longest stretch where the loss keeps falling,
  taken a little past its first third (the steep part before the minimum);
- steepest: where the smoothed loss falls fastest per decade of learning rate
  (Lightning's default);
- minimum/10: the rate of the lowest smoothed loss, divided by ten (fastai's
  first rule: safely below where the loss turns up).
`suggested_lr` is the median minimum/10. Not the valley: a net started with
the lecture's small weights (init_std 1e-4) sits on a plateau for most of the
sweep, and the smoothed loss drifts down there by a hair per step; the
longest falling stretch then starts on the plateau and the valley lands a
decade or more too low (on mnist-5k, 1.4e-4, at which a one-epoch run barely
moves the loss). Not the steepest: it sits close to where the loss turns up,
and one spike's recovery fools it. The minimum of the smoothed loss is robust
to both, and a tenth of it keeps clear of the divergence.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..config import Preset
from ..datasets.base import Dataset
from ..engine import RunControl, Trainer
from ..engine.events import Event, Step
from ..engine.rules import MovingAverage
from ..engine.trainer import iterations_per_epoch
from ..records.locks import in_use
from ..records.lr_find_folder import LrFindEnded, LrSweep, create, write_record
from .charts import Chart, marker

START_LR = 1e-7
END_LR = 10.0
STEPS = 100
SMOOTH_BETA = 0.98
STOP_FACTOR = 4.0
SEEDS = 3
# A sweep says little when its best smoothed loss is less than LITTLE_FALL (a fraction)
# below its start: it ran on a small init's plateau, and its minimum is noise.
LITTLE_FALL = 0.05
END_REACHED = "reached the end of the sweep"  # how a sweep that never diverged says why it stopped
# The first mini-batches of a sweep are not used by `steepest`: the debiased
# average still moves there with the noise of a handful of losses.
SKIP_START = 10
METHODS = ("valley", "steepest", "minimum/10")
SUGGESTED = "minimum/10"


@dataclass(frozen=True)
class LrFindStarted:
    kind: ClassVar[str] = "lr_find_started"
    preset: str
    path: str  # the record folder
    start_lr: float
    end_lr: float
    steps: int
    seeds: tuple[int, ...]  # the mini-batch seeds of the sweeps
    stop_factor: float
    batch_size: int
    update: str


# The sweep (LrSweep) and the result (LrFindEnded) are the lr-find folder's record too:
# records/lr_find_folder.py holds them.
LrFindEvent = LrFindStarted | LrSweep | LrFindEnded


# --- the suggestions: pure functions of one sweep -------------------------------


def smooth(losses: Sequence[float], beta: float = SMOOTH_BETA) -> list[float]:
    """The losses as a sweep smooths them: the debiased moving average (engine/rules.py)."""
    average = MovingAverage(beta)
    return [average.update(loss) for loss in losses]


def valley(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """fastai's valley: the longest run of falling losses (a longest decreasing
    subsequence), and the rate a third and a half of a third into it."""
    n = len(losses)
    if n < 3:
        return None
    lds = [1] * n
    start = end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
        if lds[end] < lds[i]:
            end = i
            start = end - lds[end]
    if end == 0:
        return None
    sections = (end - start) / 3
    return float(lrs[max(0, start + int(sections) + int(sections / 2))])


def steepest(lrs: Sequence[float], losses: Sequence[float], skip: int = SKIP_START) -> float | None:
    """The rate where the smoothed loss falls fastest per decade (the most
    negative slope against log10 lr), past the first `skip` mini-batches."""
    if len(losses) < skip + 3:
        return None
    x = np.log10(np.asarray(lrs[skip:], float))
    y = np.asarray(losses[skip:], float)
    slope = np.gradient(y, x)
    i = int(np.argmin(slope))
    return float(lrs[skip + i]) if slope[i] < 0 else None


def minimum_tenth(lrs: Sequence[float], losses: Sequence[float]) -> float | None:
    """A tenth of the rate at the lowest smoothed loss."""
    if not losses:
        return None
    return float(lrs[int(np.argmin(np.asarray(losses, float)))]) / 10


def suggest(lrs: Sequence[float], smoothed: Sequence[float]) -> dict[str, float | None]:
    """Every method's suggestion for one sweep."""
    return {
        "valley": valley(lrs, smoothed),
        "steepest": steepest(lrs, smoothed),
        "minimum/10": minimum_tenth(lrs, smoothed),
    }


def combine(sweeps: Sequence[LrSweep]) -> tuple[dict[str, float | None], tuple[float, float] | None]:
    """(method -> median over the sweeps, [lowest, highest] of every suggestion)."""
    medians: dict[str, float | None] = {}
    every: list[float] = []
    for method in METHODS:
        values = [s.suggestions[method] for s in sweeps if s.suggestions.get(method) is not None]
        found = [float(v) for v in values if v is not None]
        every += found
        medians[method] = _log_median(found)
    spread = (min(every), max(every)) if every else None
    return medians, spread


def _log_median(values: Sequence[float]) -> float | None:
    """The median (the middle value; of an even count, the geometric mean of the
    middle two: rates spread over decades)."""
    if not values:
        return None
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else math.sqrt(v[mid - 1] * v[mid])


# --- the sweep -------------------------------------------------------------------


def sweep_preset(preset: Preset, n_train: int, steps: int = STEPS) -> Preset:
    """The preset a sweep trains: the same model, update rule and batch size, reg 0,
    mini-batches whatever train.sample_batches says, epochs enough for `steps`
    mini-batches, and no explosion short of a loss that is not finite (the sweep's
    own stop compares with its best loss instead: see the docstring above)."""
    p = preset.replace(**{"train.reg": 0.0, "train.sample_batches": True})
    per_epoch = iterations_per_epoch(p.train, n_train)
    return p.replace(
        **{
            "train.epochs": -(-steps // per_epoch),
            # the largest a preset takes (it holds finite numbers): only a loss that is not finite explodes
            "train.explode_factor": sys.float_info.max,
        }
    )


def sweep(
    preset: Preset,
    data: Dataset,
    seed: int,
    control: RunControl | None = None,
    steps: int = STEPS,
    start_lr: float = START_LR,
    end_lr: float = END_LR,
) -> LrSweep:
    """One range test with mini-batch order `seed`, from the preset's initial weights:
    the trainer's loop, its rate set each mini-batch, read and stopped by `_Curve`."""
    factor = (end_lr / start_lr) ** (1 / max(steps - 1, 1))
    curve = _Curve(steps, end_lr)
    trainer = Trainer(
        sweep_preset(preset, len(data.X_train), steps),
        data,
        curve,
        control=control,
        learning_rate_at=lambda t: start_lr * factor ** (t - 1),
        shuffle_seed=seed,
    )
    curve.trainer = trainer
    ended = trainer.run()
    if ended.status == "failed" and trainer.error is not None:
        raise trainer.error  # a bug or bad input, as before the sweep drove the trainer
    stopped = curve.stopped if ended.status == "exploded" else ended.reason
    return LrSweep(
        seed, tuple(curve.lrs), tuple(curve.losses), tuple(curve.smoothed), stopped, suggest(curve.lrs, curve.smoothed)
    )


class _Curve:
    """The sweep's sink: each mini-batch's rate and loss, the loss smoothed, and the
    stop once it passes STOP_FACTOR x its best (or after `steps` mini-batches)."""

    def __init__(self, steps: int, end_lr: float):
        self.steps, self.end_lr = steps, end_lr
        self.trainer: Trainer | None = None
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.average, self.best = MovingAverage(SMOOTH_BETA), math.inf
        self.stopped = ""  # why the loss stopped the sweep: a loss that is not finite

    def __call__(self, event: Event) -> None:
        if not isinstance(event, Step):
            return
        lr, loss = event.learning_rate, event.loss
        if not math.isfinite(loss):  # the trainer ends the run as exploded
            self.stopped = f"the loss was not finite at lr {lr:.3g}"
            return
        s = self.average.update(loss)
        self.lrs.append(lr)
        self.losses.append(loss)
        self.smoothed.append(s)
        self.best = min(self.best, s)
        assert self.trainer is not None
        if s > STOP_FACTOR * self.best:
            self.trainer.finish(f"the smoothed loss passed {STOP_FACTOR:g}x its best at lr {lr:.3g}")
        elif len(self.losses) == self.steps:
            self.trainer.finish(f"{END_REACHED} ({self.end_lr:g})")


def find_lr(
    preset: Preset,
    data: Dataset,
    sink: Callable[[LrFindEvent], None] = lambda e: None,
    runs_dir: str | None = "runs",
    control: RunControl | None = None,
    seeds: int = SEEDS,
) -> LrFindEnded:
    """SEEDS sweeps and their combined suggestions; recorded in a folder
    `lr-find-PRESET-STAMP-ID/` under runs_dir (none when runs_dir is None):
    preset.toml, curve.csv (seed, step, lr, loss, smoothed) and result.json."""
    t0 = time.perf_counter()
    path = create(runs_dir, preset) if runs_dir is not None else None
    seed_list = tuple(preset.train.seed + i for i in range(seeds))
    sink(
        LrFindStarted(
            preset.name,
            str(path or ""),
            START_LR,
            END_LR,
            STEPS,
            seed_list,
            STOP_FACTOR,
            preset.train.batch_size,
            preset.train.update,
        )
    )
    with in_use(path) if path is not None else contextlib.nullcontext():  # running while held: watch
        sweeps: list[LrSweep] = []
        status, reason = "finished", f"{seeds} sweeps done"
        for seed in seed_list:
            s = sweep(preset, data, seed, control)
            if control is not None and control.stopped:
                status, reason = "stopped", control.stop_reason
                break
            sweeps.append(s)
            sink(s)
        suggestions, spread = combine(sweeps)
        if status == "finished" and suggestions[SUGGESTED] is None:
            status, reason = "failed", "no sweep's loss fell: no learning rate in the range lowers it"
        notes = warnings(sweeps, suggestions[SUGGESTED]) if status == "finished" else ()
        ended = LrFindEnded(
            status=status,
            reason=reason,
            suggested_lr=suggestions[SUGGESTED] if status == "finished" else None,
            suggestions=suggestions,
            spread=spread,
            path=str(path or ""),
            elapsed_s=time.perf_counter() - t0,
            warnings=notes,
        )
        if path is not None:
            write_record(path, sweeps, ended)
    sink(ended)
    return ended


def draw_curves(
    plt: Any,
    sweeps: Sequence[LrSweep],
    suggestions: dict[str, float | None],
    width: int,
    height: int,
    colours: Sequence[Any] = (),
    mark_colour: Any = None,
    title: str = "",
) -> bool:
    """The smoothed loss of each seed against the learning rate on a log axis, each seed
    with its marker and its name where it ends, the suggestions as named vertical lines,
    on plotext (the module, or a workbench pane's): the one picture of both faces. The
    y axis stops a little above the loss at the start: the divergence past the stop
    would flatten the part that matters. False when there is nothing to draw."""
    curves = [s for s in sweeps if s.smoothed]
    if not curves:  # every sweep stopped at its first mini-batch
        return False
    chart = Chart(
        width, height, xlabel="learning rate (log axis); | marks the suggestions", title=title, ylabel="smoothed loss"
    )
    for i, s in enumerate(curves):
        colour = colours[i % len(colours)] if colours else None
        chart.line(s.learning_rates, s.smoothed, marker=marker(i), color=colour, label=f"seed {s.seed}")
    for method, lr in suggestions.items():
        if lr is not None:
            chart.mark(lr, method, mark_colour)
    low = min(min(s.smoothed) for s in curves)
    top = max(s.smoothed[0] for s in curves) * 1.5
    lo_x = min(s.learning_rates[0] for s in curves)
    hi_x = max(s.learning_rates[-1] for s in curves)
    chart.draw(plt, x=(lo_x, hi_x), y=(low * 0.9, top), xlog=True)
    return True


def warnings(sweeps: Sequence[LrSweep], suggested: float | None) -> tuple[str, ...]:
    """What the sweeps could not tell: that no loss diverged up to END_LR (so the minimum
    is where the sweep ended and minimum/10 a lower bound), and that the loss barely fell
    (the sweep ran on a small init's plateau). A pure function of the sweeps."""
    out = []
    if suggestion_is_lower_bound(sweeps):
        calm = [s for s in sweeps if _never_diverged(s)]
        at = f"{suggested:.3g}" if suggested is not None else "the suggestion"
        out.append(
            f"{len(calm)} of {len(sweeps)} sweeps never diverged up to lr {END_LR:g} (the smoothed loss never "
            f"passed {STOP_FACTOR:g}x its best): their minimum is where the sweep ended, so {at} is a lower "
            "bound; higher rates may train as well or better: try a few, or search up from it"
        )
    fell = [(s.smoothed[0] - min(s.smoothed)) / s.smoothed[0] for s in sweeps if s.smoothed and s.smoothed[0] > 0]
    if fell and max(fell) < LITTLE_FALL:
        start = max(s.smoothed[0] for s in sweeps if s.smoothed)
        best = min(min(s.smoothed) for s in sweeps if s.smoothed)
        out.append(
            f"the loss barely fell in any sweep ({start:.4g} to {best:.4g} at best, under {LITTLE_FALL:.0%}): the "
            "sweeps ran on the plateau of a small init and their minimum is noise; the suggestion says little. "
            'A larger init (model.init = "he") lets the sweep show the rate'
        )
    return tuple(out)


def suggestion_is_lower_bound(sweeps: Sequence[LrSweep]) -> bool:
    """Half the sweeps or more never diverged: their minimum/10 is the sweep's end / 10 or near it."""
    calm = [s for s in sweeps if s.smoothed and _never_diverged(s)]
    return bool(calm) and len(calm) * 2 >= len(sweeps)


def _never_diverged(s: LrSweep) -> bool:
    """The sweep ran to END_LR without its loss passing STOP_FACTOR x its best or leaving the finite."""
    return s.stopped.startswith(END_REACHED)


def curve_text(
    sweeps: Sequence[LrSweep], suggestions: dict[str, float | None], width: int = 100, height: int = 20
) -> str:
    """draw_curves as plain text ("" when there is nothing to draw)."""
    import plotext as plt  # only when a face asks for the picture

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    text: str = plt.uncolorize(plt.build()) if draw_curves(plt, sweeps, suggestions, width, height) else ""
    plt.clear_figure()
    return text

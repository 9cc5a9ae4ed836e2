"""What each headless face costs the trainer, as ratios measured in one process.

    python bench/bench_headless.py

A face costs the trainer in two ways: the time its sink takes per event (paid
in the trainer's thread, every iteration), and, for the live display, the
time rich's refresh thread holds the GIL to redraw (paid 4 times a second).
Whole-run timings on a shared 2-core machine are too noisy to show either, so
this measures them directly and prints them against a training step:

  sink per step      us per Step event through the face's sinks, averaged over 20,000
  step               us per training iteration of the preset (bare sink)
  share of step      sink / step: the fraction of training time the face takes
  live redraw        ms per redraw of the live view; x 4 Hz = GIL share per second
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui_trainer.commands.run_faces import REFRESH_PER_SECOND, JsonLines, PlainLines, Record, live_view  # noqa: E402
from tui_trainer.config import load_preset  # noqa: E402
from tui_trainer.datasets import load_dataset  # noqa: E402
from tui_trainer.engine import RunControl, Trainer  # noqa: E402
from tui_trainer.engine.events import Fanout, Step  # noqa: E402
from tui_trainer.records.run_folder import RunStore  # noqa: E402

EVENTS = 20_000


def sink_cost_us(make_sink) -> float:
    """us per Step event, best of 3."""
    best = float("inf")
    for _ in range(3):
        sink = make_sink()
        steps = [Step(i, i / 20, 2.3 / (1 + i * 1e-3), 1e-3) for i in range(1, EVENTS + 1)]
        t0 = time.perf_counter()
        for e in steps:
            sink(e)
        best = min(best, (time.perf_counter() - t0) / EVENTS * 1e6)
    return best


def step_cost_us(preset, data) -> float:
    """us per training iteration with a sink that does nothing, best of 3."""
    best = float("inf")
    for _ in range(3):
        ended = Trainer(preset, data, lambda e: None).run()
        assert ended.status == "finished", ended
        best = min(best, ended.elapsed_s / ended.iterations * 1e6)
    return best


def main() -> None:
    runs_dir = tempfile.mkdtemp(prefix="bench-headless-")
    devnull = open(os.devnull, "w")
    preset = load_preset("digits-fast")
    data = load_dataset(preset.data)

    def store():
        return RunStore.create(runs_dir, preset, data)

    control = RunControl()
    faces = {
        "store (always on)": store,
        "--json": lambda: Fanout(store(), JsonLines(devnull, control)),
        "plain (not a tty)": lambda: Fanout(store(), Record(), PlainLines(devnull, control)),
        "live (a terminal)": lambda: Fanout(store(), Record()),
    }
    costs = {name: sink_cost_us(make) for name, make in faces.items()}

    from tui_trainer.engine.events import RunStarted

    record = Record(64, 10)
    record(RunStarted("bench", {}, 10, 1000, 100, 20, 100_000, 2.3))  # first: a run_started starts a history over
    for e in [Step(i, i / 20, 2.3 / (1 + i * 1e-3), 1e-3) for i in range(1, 100_001)]:
        record(e)  # a long run's history: the sparkline samples 100,000 losses
    from rich.console import Console

    console = Console(file=devnull, force_terminal=True, width=100)
    t0 = time.perf_counter()
    for _ in range(50):
        console.print(live_view(record, preset))
    redraw_ms = (time.perf_counter() - t0) / 50 * 1e3

    for name, overrides in (("digits-fast", ["train.epochs=60"]), ("default", ["train.epochs=2"])):
        p = load_preset(name, overrides)
        step = step_cost_us(p, load_dataset(p.data))
        print(f"{name}: a training step takes {step:.0f} us")
        for face, cost in costs.items():
            print(f"  {face:18s} sink {cost:5.1f} us per step   {cost / step:6.1%} of a step")
    print(
        f"live redraw: {redraw_ms:.2f} ms each, {REFRESH_PER_SECOND} per second = "
        f"{redraw_ms * REFRESH_PER_SECOND / 1000:.1%} of the GIL"
    )


if __name__ == "__main__":
    main()

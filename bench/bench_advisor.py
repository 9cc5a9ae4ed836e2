"""The advisor's cost to training: steps per second with and without it, side by side.

    python bench/bench_advisor.py [PRESET] [--rounds N]

Trains the preset (default: `default`, mnist-5k) alternately with a plain list
sink and with `Advisor(list sink)`, and prints the ratio of training speeds
and the advisor's own time per event (the same events replayed without training).
"""

from __future__ import annotations

import argparse
import time

from tui_trainer.config import load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer
from tui_trainer.lab.advisor import Advisor


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("preset", nargs="?", default="default")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    preset = load_preset(args.preset)
    data = load_dataset(preset.data, source=preset.source)
    plain, advised = [], []
    events: list = []
    for _ in range(args.rounds):
        for times, wrap in ((plain, lambda s: s), (advised, Advisor)):
            events = []
            t0 = time.perf_counter()
            ended = Trainer(preset, data, wrap(events.append)).run()
            times.append(ended.iterations / (time.perf_counter() - t0))
    best_plain, best_advised = max(plain), max(advised)
    t0 = time.perf_counter()
    reps = 20
    for _ in range(reps):
        sink = Advisor(lambda e: None)
        for e in events:
            sink(e)
    per_event_us = (time.perf_counter() - t0) / (reps * len(events)) * 1e6
    print(
        f"{args.preset}: {best_plain:.0f} steps/s plain, {best_advised:.0f} steps/s with the advisor "
        f"(ratio {best_advised / best_plain:.3f}, best of {args.rounds})"
    )
    print(f"advisor alone: {per_event_us:.1f} us per event over {len(events)} events")


if __name__ == "__main__":
    main()

"""The advisor's harder cases (issue 22's "Why"): what the tool says on each, one line per diagnosis.

    python bench/advice_cases.py [CASE ...]       # all cases when none is named

Each case is a real run (a shipped preset, or one on a generated set from
tests/gensets.py) through the Advisor; the gradient-check cases run
`lab.checks.check_gradient` and `check_initial_loss`. Prints, per case, how the
run ended, its last train/val accuracy, and each advice as "code: message |
remedy", so the output before and after a change can be compared side by side.
Runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import gensets as g  # noqa: E402

from tui_trainer.config import Preset, load_preset  # noqa: E402
from tui_trainer.datasets import load_dataset  # noqa: E402
from tui_trainer.engine import Trainer  # noqa: E402
from tui_trainer.engine.events import Advice, Epoch, RunEnded  # noqa: E402
from tui_trainer.lab.advisor import Advisor  # noqa: E402


def run(preset: Preset) -> list[str]:
    data = load_dataset(preset.data, source=preset.source)
    out: list = []
    Trainer(preset, data, Advisor(out.append)).run()
    ended = next(e for e in out if isinstance(e, RunEnded))
    epochs = [e for e in out if isinstance(e, Epoch)]
    last = f"train {epochs[-1].train_acc:.3f} val {epochs[-1].val_acc:.3f}" if epochs else "no epoch"
    lines = [f"{ended.status} after {ended.iterations} iterations ({len(epochs)} epochs); {last}"]
    for a in out:
        if isinstance(a, Advice):
            lines.append(f"  [{a.iteration}] {a.code}: {a.message} | {a.remedy}")
    return lines or ["  (no advice)"]


def checks(preset: Preset) -> list[str]:
    from tui_trainer.lab.checks import check_gradient, check_initial_loss

    data = load_dataset(preset.data, source=preset.source)
    lines = []
    for c in (check_initial_loss(preset, data), check_gradient(preset, data)):
        lines.append(f"  {c.name}: {'pass' if c.passed else 'FAIL'} {c.value} | {c.advice}")
    return lines


def cases(tmp: Path) -> dict[str, Callable[[], list[str]]]:
    def npz(name: str, xy, n_train: int, n_val: int, *overrides: str, base: str = "default") -> Preset:
        return g.npz_preset(g.write(tmp, name, *xy), n_train, n_val, *overrides, base=base)

    std = 'data.preprocess=["mean", "std"]'
    blobs = g.blobs(1500, 20, 4, spread=1.5)
    return {
        "default lr 0.008": lambda: run(load_preset("default", ["train.learning_rate=0.008"])),
        "default adam 0.01": lambda: run(load_preset("default", ["train.update=adam", "train.learning_rate=0.01"])),
        "lr-too-low": lambda: run(load_preset("lr-too-low", ["train.epochs=3"])),
        "default (healthy)": lambda: run(load_preset("default", [])),
        "digits-fast (init 1e-2)": lambda: run(load_preset("digits-fast", ["train.epochs=5"])),
        "random labels": lambda: run(
            npz(
                "random",
                g.random_labels(*blobs),
                400,
                300,
                std,
                "model.hidden=[200]",
                "model.init=he",
                "train.batch_size=50",
                "train.learning_rate=0.05",
                "train.epochs=40",
            )
        ),
        "95/5 imbalance": lambda: run(
            npz(
                "imbalance",
                g.imbalanced(3000),
                2000,
                1000,
                std,
                "train.batch_size=20",
                "train.learning_rate=0.01",
                "train.epochs=10",
            )
        ),
        "95/5 imbalance, reg 1": lambda: run(
            npz("imbalance", g.imbalanced(3000), 2000, 1000, std, "train.reg=1.0", "train.epochs=20")
        ),
        "95/5 imbalance, reg 1, lr 0.1": lambda: run(
            npz("imbalance", g.imbalanced(3000), 2000, 1000, std, "train.reg=1.0", "train.learning_rate=0.1")
        ),
        "unequal scales, init 1e-4, lr 1e-4": lambda: run(
            npz("unequal", g.scaled(*blobs, 1e-1, 1e3), 1200, 300, "train.learning_rate=1e-4", "train.epochs=10")
        ),
        "label noise, init 1e-4, lr 1e-2": lambda: run(
            npz(
                "noise10",
                g.label_noise(*g.blobs(1500, 10, 3, spread=0.7), 0.3),
                1000,
                500,
                std,
                "train.batch_size=50",
                "train.learning_rate=1e-2",
                "train.epochs=10",
            )
        ),
        "circles, linear": lambda: run(
            npz(
                "circles",
                g.circles(1200),
                900,
                300,
                std,
                "model.hidden=[]",
                "model.init=xavier",
                "train.batch_size=50",
                "train.learning_rate=1",
                "train.epochs=30",
            )
        ),
        "circles, linear, full batch": lambda: run(
            npz(
                "circles",
                g.circles(1200),
                900,
                300,
                std,
                "model.hidden=[10]",
                "model.init=xavier",
                "train.sample_batches=false",
                "train.learning_rate=0.02",
                "train.learning_rate_decay=1.0",
                "train.epochs=500",
            )
        ),
        "label noise 30%": lambda: run(
            npz(
                "noise",
                g.label_noise(*g.blobs(2000, 10, 3, spread=0.5), 0.32),
                1500,
                500,
                std,
                "model.init=he",
                "train.learning_rate=0.01",
                "train.epochs=30",
            )
        ),
        "overfit-small": lambda: run(load_preset("overfit-small", [])),
        "1e4 scale, mean only": lambda: run(
            npz("scale", g.scaled(*blobs, 1e4, 1e4), 1200, 300, "model.init_std=1e-2", "train.epochs=10")
        ),
        "1e4 scale checks": lambda: checks(npz("scale", g.scaled(*blobs, 1e4, 1e4), 1200, 300)),
        "unequal scales, mean only": lambda: run(
            npz("unequal", g.scaled(*blobs, 1e-1, 1e3), 1200, 300, "model.init_std=1e-2", "train.epochs=10")
        ),
        "he init, std": lambda: run(npz("he", blobs, 1200, 300, std, "model.init=he", "train.epochs=10")),
        "xavier init, std": lambda: run(npz("xavier", blobs, 1200, 300, std, "model.init=xavier", "train.epochs=10")),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("case", nargs="*")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        table = cases(Path(tmp))
        for name in args.case or table:
            t0 = time.perf_counter()
            lines = table[name]()
            print(f"== {name} ({time.perf_counter() - t0:.1f}s)")
            print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()

"""tune against its peers, side by side, on the same split and the same wall-clock budget.

    pip install -e '.[peers]'        # scikit-learn and Optuna: this benchmark only
    python bench/tune_vs_peers.py [--workers 2] [--datasets default,digits-fast]

For each preset (mnist-5k: `default`; digits: `digits-fast`):

1. `tune` (tune.run_tune, its [tune] defaults, `--workers` local processes):
   its wall time T is the budget the peers get, and its best val accuracy is the
   final run's.
2. scikit-learn: RandomizedSearchCV over MLPClassifier (the preset's hidden
   sizes, sgd with momentum 0.9, the preset's batch size, FINE_EPOCHS epochs),
   learning_rate_init and alpha log-uniform over [search]'s default ranges
   (1e-6..1e-1, 1e-5..10), scored on the same validation split
   (PredefinedSplit: fitted on the training split only), `--workers` jobs;
   rounds of 2 x workers candidates until T has passed.
3. Optuna: the TPE sampler with its median pruner driving our own trial
   function (the engine's Trainer, FINE_EPOCHS epochs, each epoch's val accuracy
   reported, a pruned trial stopped at once), over the same ranges, `--workers`
   threads, with a timeout of T.

Each peer's best val accuracy is the best of any of its trials (the most
favourable reading for them). It prints one table: preset, method, best val
accuracy, wall time, trials. Target: tune's best val accuracy at least each
peer's at equal wall time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one BLAS thread per worker, as search workers have
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from tui_trainer.config import load_preset  # noqa: E402
from tui_trainer.datasets import load_dataset  # noqa: E402

LR_RANGE = (1e-6, 1e-1)
REG_RANGE = (1e-5, 1e1)
FINE_EPOCHS = 10


def run_tune(preset, data, workers: int) -> tuple[float, float, int]:
    from tui_trainer.search.runner import close_executor, local_pool
    from tui_trainer.tune import TuneControl, TuneRecord, run_tune

    pool = local_pool(workers)
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            record = TuneRecord.create(tmp, preset)
            ended = run_tune(preset, data, record, lambda e: None, TuneControl(), pool, capacity=workers)
            trials = sum(record.state[s]["result"]["trials"] for s in ("coarse", "fine"))
    finally:
        close_executor(pool)
    assert ended.status == "finished", ended.reason
    return ended.best_val_acc or 0.0, time.perf_counter() - t0, trials + 1


def run_sklearn(preset, data, budget_s: float, workers: int) -> tuple[float, float, int]:
    from scipy.stats import loguniform
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import PredefinedSplit, RandomizedSearchCV
    from sklearn.neural_network import MLPClassifier

    X = np.concatenate([data.X_train, data.X_val]).astype(np.float64)
    y = np.concatenate([data.y_train, data.y_val])
    fold = np.r_[np.full(len(data.y_train), -1), np.zeros(len(data.y_val), int)]
    model = MLPClassifier(
        hidden_layer_sizes=tuple(preset.model.hidden),
        solver="sgd",
        momentum=0.9,
        batch_size=preset.train.batch_size,
        max_iter=FINE_EPOCHS,
        random_state=0,
    )
    space = {"learning_rate_init": loguniform(*LR_RANGE), "alpha": loguniform(*REG_RANGE)}
    best, trials, round_ = 0.0, 0, 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < budget_s:
        search = RandomizedSearchCV(
            model,
            space,
            n_iter=2 * workers,
            cv=PredefinedSplit(fold),
            n_jobs=workers,
            refit=False,
            random_state=round_,
            error_score=0.0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            search.fit(X, y)
        best = max(best, float(np.nanmax(search.cv_results_["mean_test_score"])))
        trials += 2 * workers
        round_ += 1
    return best, time.perf_counter() - t0, trials


def run_optuna(preset, data, budget_s: float, workers: int) -> tuple[float, float, int]:
    import optuna

    from tui_trainer.engine import RunControl, Trainer
    from tui_trainer.engine.events import Epoch

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("learning_rate", *LR_RANGE, log=True)
        reg = trial.suggest_float("reg", *REG_RANGE, log=True)
        p = preset.replace(**{"train.learning_rate": lr, "train.reg": reg, "train.epochs": FINE_EPOCHS})
        control = RunControl()
        last: list[Epoch] = []
        pruned: list[bool] = []

        def sink(event) -> None:
            if isinstance(event, Epoch):
                last[:] = [event]

        def on_epoch(trainer) -> None:  # called right after the epoch event
            trial.report(last[0].val_acc, last[0].epoch)
            if trial.should_prune():
                pruned.append(True)
                control.stop("pruned")

        with np.errstate(all="ignore"):
            ended = Trainer(p, data, sink, control=control, on_epoch=on_epoch).run()
        if pruned:
            raise optuna.TrialPruned()
        return ended.best_val_acc or 0.0

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=0), pruner=optuna.pruners.MedianPruner()
    )
    t0 = time.perf_counter()
    study.optimize(objective, timeout=budget_s, n_jobs=workers)
    values = [t.value for t in study.trials if t.value is not None]
    return max(values, default=0.0), time.perf_counter() - t0, len(study.trials)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--datasets", default="default,digits-fast", help="presets, comma-separated")
    args = ap.parse_args()
    rows = []
    for name in args.datasets.split(","):
        preset = load_preset(name)
        data = load_dataset(preset.data, source=preset.source)
        acc, wall, n = run_tune(preset, data, args.workers)
        rows.append((name, data.name, "tui-trainer tune", acc, wall, n))
        print(f"{name}: tune {acc:.3f} in {wall:.1f}s", file=sys.stderr, flush=True)
        for label, fn in (("scikit-learn RandomizedSearchCV", run_sklearn), ("Optuna TPE + median pruner", run_optuna)):
            peer_acc, peer_wall, peer_n = fn(preset, data, wall, args.workers)
            rows.append((name, data.name, label, peer_acc, peer_wall, peer_n))
            print(f"{name}: {label} {peer_acc:.3f} in {peer_wall:.1f}s", file=sys.stderr, flush=True)
    print("| preset (data) | method | best val acc | wall time | trials |")
    print("| --- | --- | --- | --- | --- |")
    for name, dname, label, acc, wall, n in rows:
        print(f"| {name} ({dname}) | {label} | {acc:.3f} | {wall:.1f}s | {n} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

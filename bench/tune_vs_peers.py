"""tune against its peers, side by side, on the same split and the same wall-clock budget.

    pip install -e '.[peers]'        # scikit-learn and Optuna: this benchmark only
    python bench/tune_vs_peers.py [--repeats 5] [--workers 2] [--datasets default,digits-fast]

For each preset (mnist-5k: `default`; digits: `digits-fast`), --repeats times,
the methods taking turns (tune, then the two peers, their order swapped every
repetition), each repetition with its own seed s = 0, 1, ... for every method:

1. `tune` (lab.tune.runner.run_tune, its [tune] defaults, `--workers` local processes,
   train.seed and search.seed = s): its wall time T is the budget both peers get
   in that repetition.
2. scikit-learn: RandomizedSearchCV over MLPClassifier (the preset's hidden
   sizes, sgd with momentum 0.9, the preset's batch size, PEER_EPOCHS epochs,
   random_state s), learning_rate_init and alpha log-uniform over [search]'s
   default ranges (1e-6..1e-1, 1e-5..10), scored on the same validation split
   (PredefinedSplit: fitted on the training split only), `--workers` jobs;
   rounds of 2 x workers candidates until T has passed.
3. Optuna: the TPE sampler (seed s) with its median pruner driving our own trial
   function (the engine's Trainer, PEER_EPOCHS epochs, train.seed s, each
   epoch's val accuracy reported, a pruned trial stopped at once), over the same
   ranges, `--workers` processes sharing one study (Optuna's journal storage, its
   documented way to use several cores; threads would share one GIL), each
   with a timeout ending at T. Their start (imports, data) is inside T, as the
   start of tune's worker pool is inside tune's.

A peer starts no new trial once T has passed; one running then finishes (its
wall time shows by how much).

The same two readings for every method:

- best val acc: the best validation reading the method saw, of any trial or
  stage, which is what each tool shows its user as its best (Optuna's
  best_value, RandomizedSearchCV's best_score_; tune's best trial or final
  run, whichever read higher). It is a maximum over many noisy readings of the
  same split, so it is optimistic, and the more trials the more so.
- test acc: the configuration the method picked (tune: tuned.toml; a peer: its
  best trial's values), trained again from scratch on the training split with
  the method's own trainer, epochs and seed, and scored once on the held-out
  test split at the weights that trainer delivers (ours: the best val epoch's,
  as best.npz; MLPClassifier: its last). Training is deterministic, so these are
  the weights of the run that was picked. No method ever sees the test split.

It prints a table of each method's median and [min, max] over the repetitions
(wall time and trials as medians). Target: tune's median best val acc at least
each peer's, at equal wall time; the test accuracy says whether either
reading's lead is real.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one BLAS thread per worker, as search workers have
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from tui_trainer.config import Preset, load_preset  # noqa: E402
from tui_trainer.datasets import Dataset, load_dataset  # noqa: E402

LR_RANGE = (1e-6, 1e-1)
REG_RANGE = (1e-5, 1e1)
PEER_EPOCHS = 10  # a peer trial's epochs: those of tune's fine trials ([tune] fine_epochs' default)

TUNE = "tui-trainer tune"
SKLEARN = "scikit-learn RandomizedSearchCV"
OPTUNA = "Optuna TPE + median pruner"


@dataclass(frozen=True)
class Outcome:
    val_acc: float  # the best validation reading the method saw
    test_acc: float  # its pick, trained again, on the test split
    wall_s: float
    trials: int
    picked: str  # the configuration it picked, in words


def test_accuracy(preset: Preset, data: Dataset) -> tuple[float, float | None]:
    """Train preset with our Trainer; (test accuracy at its best val epoch's weights, that best val accuracy)."""
    from tui_trainer.engine import Trainer

    trainer = Trainer(preset, data, lambda e: None)
    with np.errstate(all="ignore"):
        ended = trainer.run()
    assert trainer.net is not None and trainer.best_params is not None, ended.reason
    trainer.net.set_params(trainer.best_params)  # into its flat buffer: params are views of it
    return trainer.net.accuracy(data.X_test, data.y_test), ended.best_val_acc


def same_run(label: str, again: float | None, picked: float | None) -> None:
    """Say so when training a pick again did not give the run that was picked (BLAS threads that differ
    between the worker and this process can change the last bits); its test accuracy is then a close cousin's."""
    if again != picked:
        print(f"note: {label}'s pick trained again reads val {again} where its run read {picked}", file=sys.stderr)


def seeded(preset: Preset, seed: int) -> Preset:
    return preset.replace(**{"train.seed": seed, "search.seed": seed})


# --- tune ------------------------------------------------------------------------------


def run_tune(preset: Preset, data: Dataset, workers: int, seed: int) -> Outcome:
    from tui_trainer.lab.search.pool import TrialPool
    from tui_trainer.lab.tune.control import TuneControl
    from tui_trainer.lab.tune.runner import run_tune
    from tui_trainer.records.tune_folder import TUNED, TuneRecord

    preset = seeded(preset, seed)
    pool = TrialPool.local(workers)
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            record = TuneRecord.create(tmp, preset)
            ended = run_tune(preset, data, record, lambda e: None, TuneControl(), pool)
            wall = time.perf_counter() - t0
            assert ended.status == "finished", ended.reason
            state = record.read_state()  # state.json as JSON: each stage's result as its event carries it
            tuned = load_preset(record.path / TUNED)
    finally:
        pool.close(graceful=True)
    readings = [state["final"]["result"]["best_val_acc"]]
    readings += [state[s]["result"]["best"]["best_val_acc"] for s in ("coarse", "fine") if state[s]["result"]["best"]]
    final = state["final"]["result"]
    candidates = final.get("candidates", [])
    again = bool(candidates) and final["trial"] != candidates[0]["trial"]  # a candidate of the workers won
    trials = sum(state[s]["result"]["trials"] for s in ("coarse", "fine")) + max(len(candidates), 1) + again
    test, val_again = test_accuracy(tuned, data)
    same_run(TUNE, val_again, state["final"]["result"]["best_val_acc"])
    picked = f"lr {tuned.train.learning_rate:.3g}, reg {tuned.train.reg:.3g}, {tuned.train.epochs} epochs"
    return Outcome(max(readings), test, wall, trials, picked)


# --- scikit-learn ------------------------------------------------------------------------


def run_sklearn(preset: Preset, data: Dataset, budget_s: float, workers: int, seed: int) -> Outcome:
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
        max_iter=PEER_EPOCHS,
        random_state=seed,
    )
    space = {"learning_rate_init": loguniform(*LR_RANGE), "alpha": loguniform(*REG_RANGE)}
    best, params, trials, round_ = -1.0, {}, 0, 0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        while time.perf_counter() - t0 < budget_s:
            search = RandomizedSearchCV(
                model,
                space,
                n_iter=2 * workers,
                cv=PredefinedSplit(fold),
                n_jobs=workers,
                refit=False,
                random_state=1000 * seed + round_,
                error_score=0.0,
            )
            search.fit(X, y)
            if search.best_score_ > best:
                best, params = float(search.best_score_), search.best_params_
            trials += 2 * workers
            round_ += 1
        wall = time.perf_counter() - t0
        picked = model.set_params(**params).fit(data.X_train.astype(np.float64), data.y_train)
    test = float(picked.score(data.X_test.astype(np.float64), data.y_test))
    words = f"lr {params['learning_rate_init']:.3g}, alpha {params['alpha']:.3g}, {PEER_EPOCHS} epochs"
    return Outcome(best, test, wall, trials, words)


# --- Optuna ------------------------------------------------------------------------------


def optuna_objective(preset: Preset, data: Dataset, seed: int):
    import optuna

    from tui_trainer.engine import RunControl, Trainer
    from tui_trainer.engine.events import Epoch

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("learning_rate", *LR_RANGE, log=True)
        reg = trial.suggest_float("reg", *REG_RANGE, log=True)
        p = optuna_preset(preset, seed, lr, reg)
        control = RunControl()
        pruned: list[bool] = []

        def sink(event) -> None:
            if isinstance(event, Epoch):
                trial.report(event.val_acc, event.epoch)
                if trial.should_prune():
                    pruned.append(True)
                    control.stop("pruned")  # the trainer returns before its next step

        with np.errstate(all="ignore"):
            ended = Trainer(p, data, sink, control=control).run()
        if pruned:
            raise optuna.TrialPruned()
        return ended.best_val_acc or 0.0

    return objective


def optuna_preset(preset: Preset, seed: int, lr: float, reg: float) -> Preset:
    changes = {"train.learning_rate": lr, "train.reg": reg, "train.epochs": PEER_EPOCHS, "train.seed": seed}
    return preset.replace(**changes)


def _optuna_worker(preset_name: str, journal: str, study_name: str, deadline: float, seed: int, worker: int) -> None:
    """One of the study's processes: TPE (seeded per worker) until the shared deadline."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    preset = load_preset(preset_name)
    data = load_dataset(preset.data, source=preset.source)
    study = optuna.load_study(
        study_name=study_name,
        storage=JournalStorage(JournalFileBackend(journal)),
        sampler=optuna.samplers.TPESampler(seed=1000 * seed + worker),
        pruner=optuna.pruners.MedianPruner(),
    )
    study.optimize(optuna_objective(preset, data, seed), timeout=max(deadline - time.time(), 0.0))


def run_optuna(preset: Preset, data: Dataset, budget_s: float, workers: int, seed: int) -> Outcome:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t0 = time.perf_counter()
    deadline = time.time() + budget_s
    with tempfile.TemporaryDirectory() as tmp:
        storage = JournalStorage(JournalFileBackend(str(Path(tmp) / "journal.log")))
        study = optuna.create_study(direction="maximize", storage=storage, study_name="peers")
        ctx = multiprocessing.get_context("spawn")
        procs = [
            ctx.Process(
                target=_optuna_worker,
                args=(preset.source, str(Path(tmp) / "journal.log"), "peers", deadline, seed, w),
            )
            for w in range(workers)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        wall = time.perf_counter() - t0
        study = optuna.load_study(study_name="peers", storage=storage)
        done = [t for t in study.trials if t.value is not None]
        assert done, "no Optuna trial finished within the budget"
        best = max(done, key=lambda t: t.value)
        trials = len(study.trials)
    lr, reg = best.params["learning_rate"], best.params["reg"]
    test, val_again = test_accuracy(optuna_preset(preset, seed, lr, reg), data)
    same_run(OPTUNA, val_again, best.value)
    return Outcome(float(best.value), test, wall, trials, f"lr {lr:.3g}, reg {reg:.3g}, {PEER_EPOCHS} epochs")


# --- the table ----------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5, help="repetitions of every method, seeds 0..N-1")
    ap.add_argument("--datasets", default="default,digits-fast", help="presets, comma-separated")
    args = ap.parse_args()
    peers = [(SKLEARN, run_sklearn), (OPTUNA, run_optuna)]
    table: list[tuple[str, str, str, list[Outcome]]] = []
    verdicts: list[str] = []
    for name in args.datasets.split(","):
        preset = load_preset(name)
        data = load_dataset(preset.data, source=preset.source)
        got: dict[str, list[Outcome]] = {TUNE: [], SKLEARN: [], OPTUNA: []}
        for seed in range(args.repeats):
            mine = run_tune(preset, data, args.workers, seed)
            got[TUNE].append(mine)
            log(name, seed, TUNE, mine)
            for label, fn in peers if seed % 2 == 0 else peers[::-1]:
                theirs = fn(preset, data, mine.wall_s, args.workers, seed)
                got[label].append(theirs)
                log(name, seed, label, theirs)
        for label, outcomes in got.items():
            table.append((name, data.name, label, outcomes))
        mine_val = statistics.median(o.val_acc for o in got[TUNE])
        for label, _ in peers:
            theirs_val = statistics.median(o.val_acc for o in got[label])
            verdicts.append(
                f"{name}: tune's median best val acc {mine_val:.3f} vs {label}'s {theirs_val:.3f}: "
                + ("met" if mine_val >= theirs_val else "NOT met")
            )
    print(f"{args.repeats} repetitions, {args.workers} workers; median [min, max]")
    print()
    print("| preset (data) | method | best val acc | test acc of its pick | wall time | trials |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, dname, label, outcomes in table:
        print(
            f"| {name} ({dname}) | {label} | {spread([o.val_acc for o in outcomes])} | "
            f"{spread([o.test_acc for o in outcomes])} | {statistics.median(o.wall_s for o in outcomes):.1f}s | "
            f"{statistics.median(o.trials for o in outcomes):g} |"
        )
    print()
    for line in verdicts:
        print(line)
    return 0


def log(name: str, seed: int, label: str, o: Outcome) -> None:
    print(
        f"{name} seed {seed}: {label}: val {o.val_acc:.3f}, test {o.test_acc:.3f} in {o.wall_s:.1f}s, "
        f"{o.trials} trials; picked {o.picked}",
        file=sys.stderr,
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())

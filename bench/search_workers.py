"""Search throughput and per-trial overhead, measured side by side in one run.

    python bench/search_workers.py [--trials 16] [--epochs 150] [--overhead-trials 40] [--repeat 2] [--no-dask]

1. Trials per minute of the same search (UCI digits, one stage) with 2 local
   worker processes and with 1; target: 2 workers >= 1.7x one worker. The
   time counts the whole search as a user sees it: starting the pool, loading
   the data set in each worker, the trials, recording each in SQLite.
2. Per-trial overhead: a trial of one iteration (a tiny spiral), run N times
   through run_search on an in-process thread, on a local pool of one process,
   and on a Dask LocalCluster of one worker process; overhead = the extra time
   per trial over calling run_trial in-process (events, the SQLite commit,
   pickling, queues, scheduling; with one worker a trial is submitted only as
   the previous one ends, so none of it is hidden).

Prints one line per measurement and the ratios. Timings on a shared machine
are noisy: each figure is the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui_trainer.config import loads_preset  # noqa: E402
from tui_trainer.lab.search.pool import MemoryFlag, TrialPool  # noqa: E402
from tui_trainer.lab.search.runner import SearchControl, run_search  # noqa: E402
from tui_trainer.lab.search.space import ranges_of, sample_trial  # noqa: E402
from tui_trainer.lab.search.trial import TrialSpec, run_trial  # noqa: E402
from tui_trainer.records.search_store import SearchStore  # noqa: E402

THROUGHPUT = """
name = "bench-throughput"
[data]
dataset = "digits"
num_train = 1200
num_val = 300
num_test = 0
[model]
hidden = [50]
[train]
batch_size = 100
[search]
learning_rate = [1e-3, 3e-2]
reg = [1e-5, 1e-2]
stages = [{{ trials = {trials}, epochs = {epochs} }}]
keep = 2
"""

ONE_ITERATION = """
name = "bench-overhead"
[data]
dataset = "spiral"
num_train = 30
num_val = 30
num_test = 0
[model]
hidden = [10]
[train]
batch_size = 30
[search]
learning_rate = [1e-3, 1e-2]
reg = [1e-5, 1e-3]
stages = [{{ trials = {trials}, epochs = 1 }}]
keep = 1
"""


def timed_search(preset, pool: TrialPool, runs_dir: Path) -> tuple[float, int]:
    """Seconds for the whole search on the pool, and the trials it recorded."""
    store = SearchStore.create(runs_dir, preset)
    t0 = time.perf_counter()
    ended = run_search(preset, pool, store, lambda event: None, SearchControl.for_pool(pool, store))
    elapsed = time.perf_counter() - t0
    store.close()
    assert ended.status == "finished", ended.reason
    return elapsed, ended.trials


def local_search(preset, workers: int, runs_dir: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    pool = TrialPool.local(workers)
    try:
        _, trials = timed_search(preset, pool, runs_dir)
    finally:
        pool.close(graceful=True)
    return time.perf_counter() - t0, trials  # pool start included


def throughput(args, runs_dir: Path) -> float:
    preset = loads_preset(THROUGHPUT.format(trials=args.trials, epochs=args.epochs))
    print(f"throughput: digits, {args.trials} trials x {args.epochs} epochs, best of {args.repeat}")
    best = {1: float("inf"), 2: float("inf")}
    for _ in range(args.repeat):
        for workers in (1, 2):  # alternate, so drifting load hits both alike
            elapsed, trials = local_search(preset, workers, runs_dir)
            best[workers] = min(best[workers], elapsed)
    for workers in (1, 2):
        print(
            f"  {workers} local worker{'s' if workers > 1 else ' '}: {best[workers]:6.2f}s  "
            f"{args.trials / best[workers] * 60:7.1f} trials/min"
        )
    ratio = best[1] / best[2]
    print(f"  ratio 2 workers / 1 worker: {ratio:.2f}x (target >= 1.7x) {'ok' if ratio >= 1.7 else 'BELOW TARGET'}")
    return ratio


def overhead(args, runs_dir: Path) -> None:
    n = args.overhead_trials
    preset = loads_preset(ONE_ITERATION.format(trials=n))
    print(f"per-trial overhead: {n} trials of one iteration each (spiral, 30 examples), best of {args.repeat}")

    # The bare trial function, in this process (the data set cached after the first call).
    trial = sample_trial(0, 1, 0, ranges_of(preset.search), 1)
    run_trial(TrialSpec(preset, trial, MemoryFlag()))
    t0 = time.perf_counter()
    for _ in range(n):
        run_trial(TrialSpec(preset, trial, MemoryFlag()))
    bare = (time.perf_counter() - t0) / n
    print(f"  run_trial in-process:           {bare * 1e3:7.2f} ms/trial")

    def best_of(make) -> float:
        best = float("inf")
        for _ in range(args.repeat):
            pool = make()
            try:
                timed_search(preset.replace(**{"search.seed": 1}), pool, runs_dir)  # warm: workers up, data loaded
                elapsed, _ = timed_search(preset, pool, runs_dir)
            finally:
                pool.close(graceful=True)
            best = min(best, elapsed / n)
        return best

    thread = best_of(lambda: TrialPool.threads(1))
    print(
        f"  run_search, in-process thread:  {thread * 1e3:7.2f} ms/trial  "
        f"(+{(thread - bare) * 1e3:.2f} ms: events, SQLite commit, one trial in flight at a time)"
    )
    pool = best_of(lambda: TrialPool.local(1))
    print(
        f"  run_search, local pool (1 proc): {pool * 1e3:7.2f} ms/trial  "
        f"(+{(pool - bare) * 1e3:.2f} ms over a bare run_trial)"
    )
    if args.no_dask:
        return
    try:
        import distributed
    except ImportError:
        print("  Dask: not installed (pip install 'tui-trainer[cluster]'), skipped")
        return
    import logging

    logging.getLogger("distributed").setLevel(logging.ERROR)
    with distributed.LocalCluster(
        processes=True, n_workers=1, threads_per_worker=1, dashboard_address=None, host="127.0.0.1"
    ) as cluster:
        dask = best_of(lambda: TrialPool.dask(cluster.scheduler_address))
    print(
        f"  run_search, Dask (1 worker):    {dask * 1e3:7.2f} ms/trial  "
        f"(+{(dask - bare) * 1e3:.2f} ms over a bare run_trial)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--overhead-trials", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        ratio = throughput(args, Path(tmp))
        overhead(args, Path(tmp))
    return 0 if ratio >= 1.7 else 1


if __name__ == "__main__":
    raise SystemExit(main())

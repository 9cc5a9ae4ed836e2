"""Search trials on a real Dask cluster (scheduler and 2 worker processes on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import distributed  # the cluster extra, also in the test extra
import pytest

# The same small digits search as test_search.py (read from the shared file, not
# imported, so this file runs alone under any import mode), under its own name and seed.
PRESET = (
    (Path(__file__).parent / "digits-search.toml")
    .read_text()
    .replace('name = "digits-search"', 'name = "digits-dask"')
    .replace("seed = 7", "seed = 11")
)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=":0", host="127.0.0.1"
    ) as c:
        yield c


def search(preset, runs, *where) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "search", str(preset), "--runs-dir", str(runs), "--json", *where],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def outcomes(stream: list[dict]) -> dict[str, tuple]:
    return {
        e["trial_id"]: (e["learning_rate"], e["reg"], e["hidden"], e["status"], e["best_val_acc"], e["epochs"])
        for e in stream
        if e["event"] == "trial_ended"
    }


def test_a_dask_cluster_gives_the_same_trials_and_results_as_local_workers(cluster, tmp_path):
    preset = tmp_path / "digits-dask.toml"
    preset.write_text(PRESET)
    on_dask = search(preset, tmp_path / "dask", "--scheduler", cluster.scheduler_address)
    local = search(preset, tmp_path / "local", "--workers", "2")

    assert on_dask[0]["where"].startswith(f"Dask scheduler {cluster.scheduler_address}")
    assert on_dask[0]["capacity"] == 2
    dask_pids = {e["worker"].rsplit(":", 1)[1] for e in on_dask if e["event"] == "trial_ended"}
    with distributed.Client(cluster) as client:
        worker_pids = {str(pid) for pid in client.run(os.getpid).values()}
    assert dask_pids <= worker_pids  # the trials really ran on the cluster's workers
    assert len(outcomes(on_dask)) == 9
    # each trial is deterministic (one BLAS thread): the same values and the same accuracy, to the bit
    assert outcomes(on_dask) == outcomes(local)
    assert on_dask[-1]["event"] == "search_ended"
    assert on_dask[-1]["best"]["trial_id"] == local[-1]["best"]["trial_id"]
    assert on_dask[-1]["best"]["best_val_acc"] == local[-1]["best"]["best_val_acc"]


def test_stopping_a_search_frees_the_dask_workers(cluster, tmp_path):
    """Not timed: a trial of 100,000 epochs holds its worker for most of an hour
    (500 take about 3 s), so a worker that answers within the minute given below
    is one whose trial stopped."""
    preset = tmp_path / "digits-dask-slow.toml"
    preset.write_text(
        PRESET.replace("stages = [{ trials = 6, epochs = 3 }", "stages = [{ trials = 6, epochs = 100000 }")
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui_trainer",
            "search",
            str(preset),
            "--runs-dir",
            str(tmp_path / "runs"),
            "--json",
            "--scheduler",
            cluster.scheduler_address,
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        seen = []
        for line in proc.stdout:
            seen.append(json.loads(line))
            if sum(e["event"] == "trial_started" for e in seen) == 2:
                break
        time.sleep(3.0)  # both trials are training on the workers (loading the data first: slow under load)
        proc.send_signal(signal.SIGTERM)
        seen += [json.loads(line) for line in proc.stdout]
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    assert seen[-1]["event"] == "search_ended" and seen[-1]["status"] == "stopped"
    # The trials must have stopped on the workers themselves, not only been abandoned by the search:
    # each worker has one thread, so new tasks run only once the trial in it has returned.
    with distributed.Client(cluster) as client:
        futures = [client.submit(os.getpid, workers=[w], pure=False) for w in client.nthreads()]
        distributed.wait(futures, timeout=60)  # raises TimeoutError when a worker is still busy


def test_a_malformed_scheduler_address_is_bad_input(tmp_path):
    preset = tmp_path / "digits-dask.toml"
    preset.write_text(PRESET)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_trainer",
            "search",
            str(preset),
            "--scheduler",
            "tcp://localhost",
            "--runs-dir",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--scheduler tcp://localhost: not a scheduler address" in done.stderr and "tcp://HOST:PORT" in done.stderr


def test_a_scheduler_that_dies_mid_search_ends_it_with_one_line_exit_1_and_the_trials_kept(tmp_path):
    import queue
    import threading

    from tui_trainer.records.search_store import SearchStore

    preset = tmp_path / "digits-dask-dies.toml"
    preset.write_text(
        PRESET.replace('name = "digits-dask"', 'name = "digits-dask-dies"').replace(
            "stages = [{ trials = 6, epochs = 3 }", "stages = [{ trials = 6, epochs = 200 }"
        )
    )
    cluster = distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=":0", host="127.0.0.1"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_trainer", "search", str(preset), "--runs-dir", str(tmp_path / "runs")]
        + ["--json", "--scheduler", cluster.scheduler_address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        seen: list[dict] = []
        deadline = time.monotonic() + 60
        while not any(e["event"] == "trial_ended" for e in seen):  # one trial finished and recorded
            seen.append(json.loads(lines.get(timeout=max(deadline - time.monotonic(), 0.1))))
        cluster.close(timeout=30)  # the scheduler and its workers go away mid-search
        proc.wait(timeout=60)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        cluster.close(timeout=30)
    assert proc.returncode == 1, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("tui-trainer: search failed: trial ") and "went away" in err, err
    assert "--resume" in err, err
    finished = [e["trial_id"] for e in seen if e["event"] == "trial_ended" and e["status"] != "stopped"]
    recorded = SearchStore.latest(tmp_path / "runs", "digits-dask-dies").results()
    assert finished and set(finished) <= {r["trial_id"] for r in recorded}  # kept for --resume

"""Coarse-to-fine search: stages, local worker processes, stop and resume, the command's faces.
The pure decisions (sampling, ranking, narrowing, the store's round trip) are in test_search_space.py."""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from tui_trainer.cli import main
from tui_trainer.config import loads_preset
from tui_trainer.errors import UserError
from tui_trainer.lab.search.pool import TrialPool
from tui_trainer.lab.search.runner import SearchControl, run_search
from tui_trainer.lab.search.space import TrialResult
from tui_trainer.lab.search.trial import TrialSpec
from tui_trainer.records.search_store import SearchStore

# A small real search: UCI digits, 2 stages, a searched hidden size (seed 7).
SMALL = (Path(__file__).parent / "digits-search.toml").read_text()

# Trials long enough (hundreds of milliseconds each) to kill or stop a search mid-stage.
SLOW = SMALL.replace('name = "digits-search"', 'name = "digits-slow"').replace(
    "stages = [{ trials = 6, epochs = 3 }, { trials = 3, epochs = 6 }]",
    "stages = [{ trials = 8, epochs = 120 }, { trials = 2, epochs = 12 }]",
)


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui_trainer", *args], capture_output=True, text=True, timeout=120, **kw
    )


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def db_rows(search_dir: Path) -> dict[str, dict]:
    con = sqlite3.connect(search_dir / "search.sqlite")
    con.row_factory = sqlite3.Row
    try:
        return {r["trial_id"]: dict(r) for r in con.execute("SELECT * FROM trials")}
    finally:
        con.close()


@pytest.fixture
def small(tmp_path) -> Path:
    path = tmp_path / "digits-search.toml"
    path.write_text(SMALL)
    return path


# --- the search core in-process, on a synthetic problem --------------------------

PEAK_LR = 10**-2.0


def synthetic_trial(spec: TrialSpec) -> TrialResult:
    """Val accuracy falls off with the distance from PEAK_LR in log space."""
    t = spec.trial
    acc = max(0.0, 1.0 - 0.2 * abs(math.log10(t.params["learning_rate"]) - math.log10(PEAK_LR)))
    return TrialResult.of(
        t,
        status="finished",
        reason="",
        best_val_acc=acc,
        best_epoch=t.epochs,
        epochs=t.epochs,
        iterations=t.epochs,
        elapsed_s=0.0,
    )


def synthetic_search(tmp_path, lr_range: str, seed: int = 0):
    preset = loads_preset(
        SMALL.replace("learning_rate = [1e-4, 1e-1]", f"learning_rate = {lr_range}")
        .replace("seed = 7", f"seed = {seed}")
        .replace(
            "stages = [{ trials = 6, epochs = 3 }, { trials = 3, epochs = 6 }]",
            "stages = [{ trials = 20, epochs = 1 }, { trials = 10, epochs = 2 }]",
        )
    )
    store = SearchStore.create(tmp_path, preset)
    seen = []
    with TrialPool.threads(2) as pool:
        ended = run_search(preset, pool, store, seen.append, SearchControl(), trial_fn=synthetic_trial)
    store.close()
    return ended, seen


def test_the_search_says_so_when_the_best_sits_at_the_edge(tmp_path):
    # the range stops two decades short of the peak: the best is pinned to its top
    ended, seen = synthetic_search(tmp_path, "[1e-6, 1e-4]")
    assert ended.status == "finished"
    assert [(w.key, w.edge) for w in ended.warnings] == [("learning_rate", "high")]
    assert seen[-1] is ended
    # the fine stage was narrowed towards the top of the coarse range
    stage_ended = [e for e in seen if e.kind == "stage_ended"]
    assert stage_ended[0].next_ranges["learning_rate"][0] > 1e-5
    # a range around the peak: the fine stage closes in on it and nothing is worrying
    ended, _ = synthetic_search(tmp_path, "[1e-5, 1e1]")
    assert ended.warnings == () and abs(math.log10(ended.best.params["learning_rate"]) + 2) < 0.3


def test_the_same_seed_gives_the_same_search_and_another_seed_another(tmp_path):
    a, _ = synthetic_search(tmp_path / "a", "[1e-5, 1e1]", seed=1)
    b, _ = synthetic_search(tmp_path / "b", "[1e-5, 1e1]", seed=1)
    c, _ = synthetic_search(tmp_path / "c", "[1e-5, 1e1]", seed=2)
    assert [(r.trial_id, r.params) for r in a.ranking] == [(r.trial_id, r.params) for r in b.ranking]
    assert a.best.params != c.best.params


def test_resume_picks_the_latest_search_of_that_preset_only(tmp_path):
    preset = loads_preset(SMALL)
    older = SearchStore.create(tmp_path, preset)
    newer = SearchStore.create(tmp_path, preset)
    other = SearchStore.create(tmp_path, preset.replace(name="digits-search-fast"))  # a name with ours as prefix
    for store in (older, newer, other):
        store.close()
    latest = SearchStore.latest(tmp_path, "digits-search")
    assert latest.path == newer.path and latest.preset == preset
    latest.close()
    assert SearchStore.latest(tmp_path, "digits-search-fast").path == other.path
    with pytest.raises(UserError, match="no search of preset 'default' to resume"):
        SearchStore.latest(tmp_path, "default")


# --- local worker processes ----------------------------------------------------------


def blas_probe() -> tuple[str | None, int]:
    """In a worker: the BLAS thread setting, and the threads alive after a matrix
    product that are not Python's own (BLAS worker threads)."""
    import threading

    import numpy as np

    a = np.ones((256, 256))
    (a @ a).sum()
    python_threads = {t.native_id for t in threading.enumerate()}
    return os.environ.get("OPENBLAS_NUM_THREADS"), len({int(t) for t in os.listdir("/proc/self/task")} - python_threads)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through /proc (Linux)")
def test_each_local_worker_runs_one_blas_thread(monkeypatch):
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    with TrialPool.local(1) as pool:
        assert pool.submit(blas_probe).result(timeout=60) == ("1", 0)
    assert "OPENBLAS_NUM_THREADS" not in os.environ  # set for the children only
    if len(os.sched_getaffinity(0)) > 1:  # the control: a plain spawned worker runs more BLAS threads
        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
            env, threads = pool.submit(blas_probe).result(timeout=60)
        assert env is None and threads > 0


def test_a_search_with_two_local_workers_through_the_cli(small, tmp_path):
    runs = tmp_path / "runs"
    done = cli("search", str(small), "--workers", "2", "--runs-dir", str(runs), "--json")
    assert done.returncode == 0, done.stderr
    stream = events(done.stdout)  # every stdout line is JSON
    kinds = [e["event"] for e in stream]
    assert kinds[0] == "search_started" and kinds.count("search_ended") == 1 and kinds[-1] == "search_ended"
    assert kinds.count("stage_ended") == 2
    started = [e for e in stream if e["event"] == "trial_started"]
    ended = [e for e in stream if e["event"] == "trial_ended"]
    assert sorted(e["trial_id"] for e in started) == sorted(e["trial_id"] for e in ended)
    assert len(ended) == 9 and {e["stage"] for e in ended} == {1, 2}
    for e in ended:
        assert e["status"] in ("finished", "exploded")
        assert e["hidden"] in (20, 40) and e["learning_rate"] > 0 and e["reg"] > 0 and e["elapsed_s"] >= 0
        assert e["epochs"] == (3 if e["stage"] == 1 else 6) or e["status"] == "exploded"
    assert started[0]["epochs"] == 3

    stage1 = next(e for e in stream if e["event"] == "stage_ended" and e["stage"] == 1)
    lo, hi = stage1["next_ranges"]["learning_rate"]
    kept = [e for e in ended if e["trial_id"] in stage1["kept"]]
    assert len(kept) == 2 and all(lo < e["learning_rate"] < hi for e in kept)
    assert stage1["best"]["trial_id"] == stage1["kept"][0]
    stage2_lrs = [e["learning_rate"] for e in ended if e["stage"] == 2]
    assert all(lo <= v <= hi for v in stage2_lrs)

    last = stream[-1]
    assert last["status"] == "finished"
    best_acc = max(e["best_val_acc"] for e in ended if e["best_val_acc"] is not None)
    assert last["best"]["best_val_acc"] == best_acc and best_acc > 0.8  # digits are learnable
    assert isinstance(last["warnings"], list)

    (search_dir,) = runs.iterdir()
    assert search_dir.name.startswith("search-digits-search-") and search_dir == Path(last["path"])
    rows = db_rows(search_dir)
    assert set(rows) == {e["trial_id"] for e in ended}
    assert all(rows[e["trial_id"]]["best_val_acc"] == e["best_val_acc"] for e in ended)
    con = sqlite3.connect(search_dir / "search.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    assert loads_preset((search_dir / "preset.toml").read_text()).search.seed == 7
    assert not list(search_dir.glob(".stop-*"))  # the stop flag is cleaned up


def test_the_plain_face_prints_lines_and_the_ranking(small, tmp_path):
    done = cli(
        "search",
        str(small),
        "--workers",
        "1",
        "--runs-dir",
        str(tmp_path),
        "--set",
        "search.stages=[{trials=3,epochs=2}]",
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("search digits-search: 1 stage (3 trials x 2 epochs)")
    assert "s1-002" in out and "ranking:" in out and "best: s1-" in out
    assert out.count("\n  [") == 3  # one line per trial
    assert "  hidden " in out.split("ranking:")[1]  # each trial's values, the searched hidden size too
    # the next, finer search it suggests, and how to run it
    assert "next, finer search: learning_rate [" in out and ", hidden [" in out
    assert "run it with: tui-trainer search --refine " in out


def start_search(preset: Path, runs: Path) -> subprocess.Popen:
    """A search with 2 local workers in a process group of its own (to signal or kill it whole)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui_trainer",
            "search",
            str(preset),
            "--workers",
            "2",
            "--runs-dir",
            str(runs),
            "--json",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def children(pid: int) -> set[int]:
    """The worker processes the search spawned (Linux /proc), its resource tracker aside."""
    found = set()
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(int(child))
        except OSError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's reaping is left


def read_until(proc, want, count: int) -> list[dict]:
    seen = []
    for line in proc.stdout:
        seen.append(json.loads(line))
        if sum(e["event"] == want for e in seen) >= count:
            return seen
    raise AssertionError(f"the search ended before {count} {want} events: {seen}")


@pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").is_file(),
    reason="finds the worker processes through /proc (Linux)",
)
def test_a_killed_search_resumes_without_losing_or_repeating_a_trial(tmp_path):
    preset = tmp_path / "digits-slow.toml"
    preset.write_text(SLOW)
    runs = tmp_path / "runs"
    proc = start_search(preset, runs)
    try:
        before = read_until(proc, "trial_ended", 3)
        workers = children(proc.pid)
        proc.kill()  # SIGKILL, mid-stage
        proc.wait(timeout=30)
        before += [json.loads(line) for line in proc.stdout]  # what it wrote before it died
        # the orphaned workers notice and end themselves (a pool's workers would otherwise wait forever);
        # they look every ORPHAN_CHECK_S, so a minute is a bound only a worker that never looks misses
        deadline = time.monotonic() + 60
        while any(map(alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert workers and not any(map(alive, workers))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group
    (search_dir,) = runs.iterdir()
    recorded = db_rows(search_dir)
    seen_ended = {e["trial_id"] for e in before if e["event"] == "trial_ended"}
    assert seen_ended <= set(recorded)  # every trial reported ended survived the kill
    assert len(recorded) < 8 and all(r["stage"] == 1 and r["status"] != "stopped" for r in recorded.values())
    running_at_kill = {e["trial_id"] for e in before if e["event"] == "trial_started"} - set(recorded)
    assert running_at_kill

    done = cli("search", str(preset), "--workers", "2", "--runs-dir", str(runs), "--json", "--resume")
    assert done.returncode == 0, done.stderr
    stream = events(done.stdout)
    assert stream[0]["event"] == "search_started" and stream[0]["resumed"] is True
    assert stream[0]["path"] == str(search_dir) and stream[0]["trials_done"] == len(recorded)
    restored = {e["trial_id"] for e in stream if e["event"] == "trial_ended" and e["resumed"]}
    rerun = [e["trial_id"] for e in stream if e["event"] == "trial_started"]
    assert restored == set(recorded)
    assert not restored & set(rerun) and len(rerun) == len(set(rerun))
    assert running_at_kill <= set(rerun)
    assert restored | set(rerun) == {f"s1-{i:03d}" for i in range(8)} | {"s2-000", "s2-001"}
    final = db_rows(search_dir)
    assert len(final) == 10
    assert all(final[t] == row for t, row in recorded.items())  # rows written before the kill are untouched
    assert stream[-1]["event"] == "search_ended" and stream[-1]["status"] == "finished"
    assert stream[-1]["trials"] == 10


def test_stopping_a_search_stops_its_running_trials_mid_training(tmp_path):
    """Not timed: each trial's epochs show it stopped mid-training, not at its end
    (5,000 epochs take half a minute), so the search did not wait for them."""
    preset = tmp_path / "digits-slow.toml"
    preset.write_text(SLOW.replace("epochs = 120 }, { trials = 2", "epochs = 5000 }, { trials = 2"))
    runs = tmp_path / "runs"
    proc = start_search(preset, runs)
    try:
        before = read_until(proc, "trial_started", 2)
        time.sleep(4.0)  # both trials are training (workers start and load the data first: slow under load)
        os.killpg(proc.pid, signal.SIGINT)  # as Ctrl+C does: the search and its workers
        rest = [json.loads(line) for line in proc.stdout]
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    stream = before + rest
    ended = [e for e in stream if e["event"] == "trial_ended"]
    assert {e["status"] for e in ended} == {"stopped"} and len(ended) == 2
    assert all(0 < e["epochs"] < 5000 for e in ended)  # stopped mid-training, not before it began
    assert [e["event"] for e in stream].count("trial_started") == 2  # nothing queued was started
    assert stream[-1]["event"] == "search_ended" and stream[-1]["status"] == "stopped"
    assert "SIGINT" in stream[-1]["reason"]
    (search_dir,) = runs.iterdir()
    assert db_rows(search_dir) == {}  # stopped trials are not recorded: a resume runs them


# --- bad input ---------------------------------------------------------------------


def one_line_exit_2(capsys, *args: str) -> str:
    """`tui-trainer ARGS` in this process: exit status 2 and one line on stderr, which it returns."""
    assert main(list(args)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_bad_search_options_exit_2_with_one_clear_line(small, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert "--workers 0" in one_line_exit_2(capsys, "search", str(small), "--workers", "0", "--runs-dir", str(runs))
    err = one_line_exit_2(capsys, "search", str(small), "--resume", "--runs-dir", str(runs))
    assert "no search of preset 'digits-search' to resume" in err
    err = one_line_exit_2(
        capsys, "search", str(small), "--set", "search.learning_rate=[1e-1, 1e-3]", "--runs-dir", str(runs)
    )
    assert "search.learning_rate" in err
    assert not runs.exists()  # nothing was started


def test_refine_bad_input_is_one_line_exit_2(tmp_path, capsys):
    assert "no such search folder" in one_line_exit_2(capsys, "search", "--refine", str(tmp_path / "nope"))
    assert "no next.toml" in one_line_exit_2(capsys, "search", "--refine", str(tmp_path))
    assert "give no PRESET" in one_line_exit_2(capsys, "search", "coarse-search", "--refine", str(tmp_path))
    assert "--refine SEARCH_FOLDER" in one_line_exit_2(capsys, "search")


def test_scheduler_without_dask_installed_says_how_to_install_it(small, tmp_path):
    code = (
        "import sys; sys.modules['distributed'] = None; "  # makes `import distributed` fail
        "from tui_trainer.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    runs = tmp_path / "runs"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "search",
            str(small),
            "--scheduler",
            "tcp://127.0.0.1:8786",
            "--runs-dir",
            str(runs),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "pip install 'tui-trainer[cluster]'" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == "" and not runs.exists()


def test_resume_refuses_a_set_that_changes_the_search(small, tmp_path):
    done = cli(
        "search",
        str(small),
        "--workers",
        "1",
        "--runs-dir",
        str(tmp_path),
        "--json",
        "--set",
        "search.stages=[{trials=2,epochs=1}]",
    )
    assert done.returncode == 0, done.stderr
    done = cli(
        "search", str(small), "--workers", "1", "--runs-dir", str(tmp_path), "--resume", "--set", "search.seed=8"
    )
    assert done.returncode == 2
    assert "search.seed" in done.stderr and "search.stages" in done.stderr


def test_search_without_the_data_says_how_to_fetch_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["search", "cifar10-2layer", "--workers", "1", "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tui-trainer data fetch cifar10" in err and "cifar10-2layer.toml" in err

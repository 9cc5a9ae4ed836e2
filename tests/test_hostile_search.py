"""A search under hostile conditions: a hangup, a second process resuming it while it
runs, trials that all fail on bad input, a scheduler address that is not one."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from test_search import SLOW, SMALL, cli, read_until

REPO = Path(__file__).resolve().parent.parent


def popen_search(preset: Path, runs: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tui_trainer", "search", str(preset), "--workers", "2"]
        + ["--runs-dir", str(runs), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def long_search(tmp_path: Path) -> Path:
    preset = tmp_path / "digits-slow.toml"
    preset.write_text(SLOW.replace("epochs = 120 }, { trials = 2", "epochs = 5000 }, { trials = 2"))
    return preset


def test_a_hangup_stops_the_search_cleanly_as_it_stops_a_run(tmp_path):
    runs = tmp_path / "runs"
    proc = popen_search(long_search(tmp_path), runs)
    try:
        before = read_until(proc, "trial_started", 2)
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGHUP)  # the terminal went away: the search process only
        rest = [json.loads(line) for line in proc.stdout]
        stderr = proc.stderr.read()
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    end = (before + rest)[-1]
    assert end["event"] == "search_ended" and end["status"] == "stopped" and "SIGHUP" in end["reason"]
    assert "leaked semaphore" not in stderr and "Traceback" not in stderr
    (search_dir,) = runs.iterdir()
    con = sqlite3.connect(search_dir / "search.sqlite")
    try:
        assert con.execute("SELECT value FROM meta WHERE key = 'status'").fetchone()[0] == "stopped"
    finally:
        con.close()


def test_resuming_a_search_that_is_still_running_says_so(tmp_path):
    runs = tmp_path / "runs"
    preset = long_search(tmp_path)
    proc = popen_search(preset, runs)
    try:
        read_until(proc, "trial_started", 1)
        second = cli("search", str(preset), "--workers", "1", "--runs-dir", str(runs), "--resume")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert second.returncode == 2 and "Traceback" not in second.stderr
    (line,) = second.stderr.strip().splitlines()
    assert f"this search is still running (process {proc.pid})" in line and "--resume" in line
    # killed (kill -9), the lock went with it (test_search resumes a killed search in full)
    from tui_trainer.records.search_store import SearchStore

    SearchStore.latest(runs, "digits-slow").close()


def test_a_search_whose_trials_all_fail_on_bad_input_exits_2_with_the_first_message(tmp_path):
    preset = tmp_path / "digits-search.toml"
    preset.write_text(SMALL.replace("hidden = [20, 40]", "hidden = []"))
    done = cli(
        "search", str(preset), "--workers", "1", "--runs-dir", str(tmp_path / "runs"),
        "--set", "model.hidden=[100000000]",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("tui-trainer: every trial failed; the first: PresetError:")
    assert "model.hidden: [100000000]" in last


def test_a_scheduler_address_of_another_protocol_is_one_line_at_once(tmp_path):
    preset = tmp_path / "digits-search.toml"
    preset.write_text(SMALL)
    # Not timed: the line below comes from reading the address, before any attempt to
    # connect; one that tried to reach http://x would end with a connection error instead.
    done = cli("search", str(preset), "--scheduler", "http://x", "--runs-dir", str(tmp_path / "runs"))
    if "distributed package" in done.stderr:  # no Dask here: that line is the answer
        return
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "--scheduler http://x: not a scheduler address (http:// is not a Dask protocol" in line


def test_a_hangup_of_the_searchs_terminal_stops_it_and_keeps_its_record(tmp_path):
    from test_headless import run_in_terminal

    runs = tmp_path / "runs"
    status, out = run_in_terminal(
        tmp_path,
        ["search", str(long_search(tmp_path)), "--workers", "2", "--runs-dir", str(runs)],
        env={"PYTHONPATH": str(REPO)},
        columns=120,
        hang_up_after=b"running",
    )
    assert status == 130, out
    (search_dir,) = runs.iterdir()
    con = sqlite3.connect(search_dir / "search.sqlite")
    try:
        assert con.execute("SELECT value FROM meta WHERE key = 'status'").fetchone()[0] == "stopped"
    finally:
        con.close()

"""Processes and terminals (issue 26): worker processes that cannot outlive a parent
killed with SIGKILL (even while its pool starts), tune and lr-find stopped by a hangup
as run and search are, a closed stdout, and a workbench asked for without a terminal.
Subprocesses only: a signal, a closed stream or a terminal is the point of each."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui_trainer.records.run_folder import read_metrics

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
GONE_WITHIN_S = 60  # a hang guard: orphans left by the old parent-watch lived for minutes


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def wait_gone(pids: list[int]) -> list[int]:
    deadline = time.monotonic() + GONE_WITHIN_S
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    left = [p for p in pids if alive(p)]
    for p in left:  # do not leave them to the next test
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    return left


# A pool's parent that dies by SIGKILL the moment its workers are spawned, before any has
# run its initializer (they are still importing): what the old parent-watch missed.
KILLED_AT_START = """
import os, signal, sys
from multiprocessing import resource_tracker
from tui_trainer.lab.search.pool import TrialPool
pool = TrialPool.local(2)
futures = [pool.submit(os.getpid) for _ in range(2)]
if sys.argv[1] == "idle":
    [f.result() for f in futures]  # the workers are up, waiting for work
print(*[p.pid for p in pool._context.processes], resource_tracker._resource_tracker._pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("when", ["starting", "idle"])
def test_workers_and_the_resource_tracker_end_with_a_parent_killed_by_sigkill(when):
    proc = subprocess.Popen([sys.executable, "-c", KILLED_AT_START, when], stdout=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL and len(pids) == 3
    assert wait_gone(pids) == []
    assert proc.stdout.read() == ""  # and nothing holds the caller's pipe open: it ends


def test_a_hangup_stops_a_tune_and_its_final_run_keeps_its_record(tmp_path):
    small = [f"tune.{k}" for k in ("coarse_trials=2", "coarse_epochs=5", "fine_trials=2", "fine_epochs=5")]
    sets = [w for s in [*small, "tune.final_epochs=100000", "tune.final_candidates=1"] for w in ("--set", s)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_trainer", "tune", "spiral", *sets, "--workers", "1", "--json"]
        + ["--runs-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line)["event"] == "epoch":  # the final run is training
            proc.send_signal(signal.SIGHUP)
            break
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert json.loads(rest.splitlines()[-1])["status"] == "stopped" and "SIGHUP" in err
    (tune,) = tmp_path.iterdir()
    (run,) = [d for d in tune.iterdir() if (d / "config.toml").is_file()]
    assert json.loads((run / "summary.json").read_text())["status"] == "stopped"
    assert read_metrics(run)[-1]["event"] == "run_ended"
    assert json.loads((tune / "state.json").read_text())["final"]["verdict"] == "stopped"


def test_a_hangup_stops_lr_find_and_keeps_its_record(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_trainer", "lr-find", "default", "--set", "model.hidden=[3000]", "--json"]
        + ["--runs-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline())["event"] == "lr_find_started"
    proc.send_signal(signal.SIGHUP)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert json.loads(rest.splitlines()[-1])["status"] == "stopped"
    (folder,) = tmp_path.iterdir()
    result = json.loads((folder / "result.json").read_text())
    assert result["status"] == "stopped" and "SIGHUP" in result["reason"]


@pytest.mark.parametrize("json_lines", [False, True])
def test_a_run_with_stdout_closed_trains_and_keeps_its_record(tmp_path, json_lines):
    command = [sys.executable, "-m", "tui_trainer", "run", "digits-fast", "--set", "train.epochs=2"]
    command += ["--runs-dir", "runs"] + (["--json"] if json_lines else [])
    r = subprocess.run(
        command,
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        pass_fds=(),
        preexec_fn=lambda: os.close(1),
    )
    assert r.returncode == 0 and r.stderr == "", r.stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "summary.json").read_text())["status"] == "finished"
    # nothing a worker or the run printed went into its record
    assert all(line.startswith('{"event": ') for line in (run / "metrics.jsonl").read_text().splitlines())


def test_bad_input_with_stderr_and_stdout_closed_still_exits_2(tmp_path):
    def close_both() -> None:
        os.close(1)
        os.close(2)

    r = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "run", "no-such-preset"],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
        preexec_fn=close_both,
    )
    assert r.returncode == 2


@pytest.mark.parametrize("closed", ["stdin", "no terminal"])
def test_the_workbench_without_a_terminal_is_one_line_and_exit_2(tmp_path, closed):
    r = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "ui", "spiral", "--runs-dir", "runs"],
        cwd=tmp_path,
        env=ENV,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,  # a hang guard: the workbench without a terminal ran until killed
        preexec_fn=(lambda: os.close(0)) if closed == "stdin" else None,
        start_new_session=True,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert "the workbench needs a terminal" in line and "tui-trainer run spiral" in line
    assert not (tmp_path / "runs").exists()

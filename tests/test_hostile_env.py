"""The machine misbehaves: a full disk under the runs folder, a file size limit, a
read-only runs folder, a burst of signals. One line saying what to do, exit 2 (or
130 for signals), and the record keeps what was written."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui_trainer.config import load_preset
from tui_trainer.errors import EnvironmentProblem
from tui_trainer.records.run_folder import RunStore, read_metrics

REPO = Path(__file__).resolve().parent.parent


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui_trainer", *args]


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_a_full_disk_under_the_record_fails_the_write_with_one_line(tmp_path):
    preset = load_preset("digits-fast")
    store = RunStore.create(tmp_path, preset)
    store._metrics.close()
    store._metrics = open("/dev/full", "a", encoding="utf-8")  # every flush: ENOSPC, as on a full disk
    from tui_trainer.engine.events import Step

    with pytest.raises(
        EnvironmentProblem, match=r"metrics.jsonl: cannot write the run's record: the disk is full"
    ) as e:
        store(Step(iteration=1, epoch=0.1, loss=2.3, learning_rate=0.1))
    assert "free some space, or give --runs-dir a folder" in str(e.value)


def _limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_record_that_cannot_grow_ends_the_run_with_one_line_and_whole_lines(tmp_path):
    result = subprocess.run(
        cli("run", "digits-fast", "--set", "train.epochs=20", "--runs-dir", "runs"),
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_file_size(30_000),
    )
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert "metrics.jsonl: cannot write the run's record" in last and "--runs-dir" in last
    (run,) = (tmp_path / "runs").iterdir()
    events = read_metrics(run)  # every line written before is whole
    assert events and events[0]["event"] == "run_started"
    assert len(events) == len((run / "metrics.jsonl").read_text().splitlines())
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_runs_folder_says_so(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs").chmod(0o500)
    result = subprocess.run(
        cli("run", "digits-fast", "--runs-dir", "runs"), cwd=tmp_path, env=env(), capture_output=True, text=True
    )
    assert result.returncode == 2 and "permission denied" in result.stderr and "Traceback" not in result.stderr


def test_signals_after_the_second_do_not_interrupt_the_stop_at_once():
    from tui_trainer.commands.console import StopOnSignals

    stops = []
    s = StopOnSignals(stops.append)
    s._handle(signal.SIGINT, None)
    with pytest.raises(KeyboardInterrupt):
        s._handle(signal.SIGINT, None)
    s._handle(signal.SIGINT, None)  # the cleanup is under way: no second KeyboardInterrupt
    s._handle(signal.SIGTERM, None)
    assert stops == ["SIGINT"]


def test_three_interrupts_a_millisecond_apart_keep_the_summary(tmp_path):
    for attempt in range(4):
        runs = tmp_path / f"runs{attempt}"
        proc = subprocess.Popen(
            cli("run", "digits-fast", "--set", "train.epochs=200", "--json", "--runs-dir", str(runs)),
            cwd=tmp_path,
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            for line in proc.stdout:
                if b'"event": "epoch"' in line:
                    break
            for _ in range(3):
                proc.send_signal(signal.SIGINT)
                time.sleep(0.001)
            proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 130
        (run,) = runs.iterdir()
        summary = json.loads((run / "summary.json").read_text())
        assert summary["status"] == "stopped"
        assert [e["event"] for e in read_metrics(run)].count("run_ended") == 1
        assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]


# The half-written ZipFile the interrupt leaves behind complains again when it is collected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_second_interrupt_inside_the_checkpoint_write_still_ends_the_run_stopped(tmp_path, monkeypatch):
    # The second Ctrl+C can land while best.npz is being zipped; zipfile then turns the
    # KeyboardInterrupt into a ValueError of its own as it unwinds. That is a stop, not a
    # failure: the run ends "stopped", once, and no temporary file is left.
    import zipfile

    from tui_trainer.datasets import load_dataset
    from tui_trainer.lab.session import record_run

    preset = load_preset("digits-fast", ["train.epochs=5"])
    data = load_dataset(preset.data)
    real_close = zipfile.ZipFile.close

    def interrupted_close(self):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            real_close(self)
            raise ValueError("Can't close the ZIP file while there is an open writing handle on it.") from None

    run = record_run(preset, data, tmp_path)  # preprocess.npz is written here, before any signal
    monkeypatch.setattr(zipfile.ZipFile, "close", interrupted_close)
    ended = run.run()
    monkeypatch.undo()
    assert ended.status == "stopped"
    assert run.path is not None
    assert json.loads((run.path / "summary.json").read_text())["status"] == "stopped"
    assert [e["event"] for e in read_metrics(run.path)].count("run_ended") == 1
    assert not [p.name for p in run.path.iterdir() if p.name.endswith(".tmp")]

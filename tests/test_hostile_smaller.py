"""The smaller cases of issue 26, one line each: a full disk under a search, an lr-find
and a tune; searched ranges at the edge of float's range; a status no run ends with;
markup in a preset's name; COLUMNS=0; the mode of a record's files; a mirror that never
stops sending; and Dask's noise after an address it cannot use."""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_fetch import md5, mnist_files

from tui_trainer.cli import main
from tui_trainer.config import LOG_LIMITS, load_preset
from tui_trainer.datasets import fetch as fetching
from tui_trainer.errors import DataError, EnvironmentProblem, PresetError
from tui_trainer.lab.search import space
from tui_trainer.lab.search.space import TrialResult
from tui_trainer.records import atomic
from tui_trainer.records.run_folder import RunStore
from tui_trainer.records.search_store import SearchStore

REPO = Path(__file__).resolve().parent.parent


# --- a full disk -----------------------------------------------------------------------------------


def test_a_search_store_on_a_full_disk_is_one_line_and_keeps_what_it_recorded(tmp_path):
    store = SearchStore.create(tmp_path, load_preset("spiral"))
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # no room to grow: SQLite's "disk is full"
    trial = TrialResult("s1-000", 1, 0, {"learning_rate": 0.1, "reg": 1e-4}, "finished", "x" * 4096, 0.5, 1, 1, 6, 0.1)
    with pytest.raises(EnvironmentProblem) as e:
        for i in range(100):
            store.record({**trial.json_fields(), "trial_id": f"s1-{i:03d}", "index": i})
    store.close()
    message = str(e.value)
    assert message.startswith(f"{store.db_path}: cannot write the search's record: the disk is full")
    assert "--runs-dir" in message and "--resume continues" in message


@pytest.mark.parametrize("code, why", [(778, "a write failed"), (13, "the disk is full"), (8, "read-only")])
def test_a_failed_sqlite_write_by_its_extended_code_is_the_machines_problem(tmp_path, code, why):
    store = SearchStore.create(tmp_path, load_preset("spiral"))
    store.close()
    e = __import__("sqlite3").OperationalError("disk I/O error")
    e.sqlite_errorcode = code  # SQLITE_IOERR_WRITE (a file size limit), SQLITE_FULL, SQLITE_READONLY
    problem = store._problem(e)
    assert isinstance(problem, EnvironmentProblem) and why in str(problem)


def fail_writing(monkeypatch, name: str) -> None:
    """Every whole-file write of a record file called `name` fails as on a full disk."""
    real = atomic.atomic_write

    def write(path, *args, **kwargs):
        if Path(path).name == name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(atomic, "atomic_write", write)


@pytest.mark.parametrize(
    "argv, file",
    [
        (["lr-find", "digits-fast"], "result.json"),
        (["lr-find", "digits-fast"], "preset.toml"),
        (["tune", "spiral", "--workers", "1"], "state.json"),
        (["tune", "spiral", "--workers", "1"], "checks.json"),
    ],
)
def test_lr_find_and_tune_on_a_full_disk_are_one_line(tmp_path, monkeypatch, capsys, argv, file):
    fail_writing(monkeypatch, file)
    tiny = ["--set", "tune.coarse_trials=1", "--set", "tune.fine_trials=1"] if argv[0] == "tune" else []
    assert main([*argv, *tiny, "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    (line,) = err.strip().splitlines()
    assert f"{file}: cannot write the" in line and "the disk is full (No space left on device)" in line


# --- searched ranges at the edge of float's range ---------------------------------------------------


@pytest.mark.parametrize("bounds", ["[1e-320, 1e-318]", "[1.5e308, 1.7e308]", "[0, 1]", "[1e-101, 1e-3]"])
def test_a_log_range_past_the_limits_is_a_preset_error(bounds):
    with pytest.raises(PresetError, match=r"--set search.learning_rate: .* expected \[low, high\] with 1e-100 <= low"):
        load_preset("spiral", [f"search.learning_rate={bounds}"])


@pytest.mark.parametrize("bounds", [(1e-100, 2e-100), (5e99, 1e100), LOG_LIMITS])
def test_a_search_at_the_limits_narrows_and_suggests_finite_ranges_within_them(bounds):
    ranges = {"learning_rate": bounds, "reg": (1e-5, 1e-1), "hidden": (), "batch_size": ()}
    trials = space.stage_trials(0, 1, 8, 1, ranges)
    results = [
        TrialResult.of(
            t,
            status="finished",
            reason="",
            best_val_acc=0.3 + 0.05 * (i % 3),
            best_epoch=1,
            epochs=1,
            iterations=1,
            elapsed_s=0.1,
        )
        for i, t in enumerate(trials)
    ]
    for lo, hi in (
        space.narrow(ranges, space.rank(results)[:3])["learning_rate"],
        space.suggest_next(results, ranges, 3)["learning_rate"],
    ):
        assert math.isfinite(lo) and math.isfinite(hi) and LOG_LIMITS[0] <= lo < hi <= LOG_LIMITS[1]


# --- statuses, markup and widths -------------------------------------------------------------------


@pytest.fixture(scope="module")
def a_run(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    store = RunStore.create(runs, load_preset("digits-fast"))
    store.close()
    return runs


@pytest.mark.parametrize("status", ["weird", "[/]", "[bold red]x", "\x1b[2Jcleared"])
def test_runs_lists_a_status_no_run_ends_with_as_written(a_run, capsys, status):
    (run,) = a_run.iterdir()
    (run / "summary.json").write_text(json.dumps({"status": status, "best_val_acc": 0.5}))
    assert main(["runs", "--runs-dir", str(a_run)]) == 0
    out = capsys.readouterr().out
    assert status.replace("\x1b[2J", "") in out and "\x1b" not in out


def test_lr_find_shows_a_preset_name_holding_markup_as_written(tmp_path, capsys):
    name = "a[/bold]b[red]\\"
    (tmp_path / "p.toml").write_text(
        f'name = {json.dumps(name)}\n[data]\ndataset = "digits"\nnum_train = 600\nnum_val = 100\nnum_test = 0\n'
    )
    assert main(["lr-find", str(tmp_path / "p.toml"), "--runs-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out.replace("\u200b", "")
    assert f"lr-find: {name} on digits" in out and f"try it: tui-trainer run {name} --set" in out


@pytest.mark.parametrize("argv", [["presets"], ["runs"]])
def test_columns_0_is_read_as_an_unknown_width_not_as_no_room_at_all(a_run, monkeypatch, capsys, argv):
    monkeypatch.setenv("COLUMNS", "0")
    assert main([*argv, *(["--runs-dir", str(a_run)] if argv == ["runs"] else [])]) == 0
    out = capsys.readouterr().out
    assert ("digits-fast" in out) and max(len(line) for line in out.splitlines()) <= 80


def test_a_console_of_columns_0_or_3_is_laid_out_80_or_20_wide(monkeypatch):
    from tui_trainer.commands.console import rich_console

    for columns, width in (("0", 80), ("3", 20), ("100", 100)):
        monkeypatch.setenv("COLUMNS", columns)
        assert rich_console().width == width


# --- file modes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_records_files_get_the_mode_any_new_file_gets(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        store = RunStore.create(tmp_path, load_preset("digits-fast"))
        store.save_best({"W1": __import__("numpy").zeros((2, 2))})
        store.close()
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in store.path.iterdir()}
    assert modes == {"config.toml": mode, "metrics.jsonl": mode, "best.npz": mode}


# --- a mirror that never stops -------------------------------------------------------------------------


class Endless:
    """Answers every file with `length` (a Content-Length header, or none) and zeros without end."""

    def __init__(self, length: int | None):
        stop = self.stop = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                if length is not None:
                    self.send_header("Content-Length", str(length))
                self.end_headers()
                block = bytes(1 << 16)
                while not stop.is_set():
                    try:
                        self.wfile.write(block)
                    except OSError:
                        return

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("length", [None, 10**12])
def test_a_mirror_that_streams_forever_stops_at_the_published_size(tmp_path, length):
    server = Endless(length)
    try:
        with pytest.raises(DataError) as e:
            fetching.fetch("mnist", tmp_path, base_url=server.url, retries=0)
    finally:
        server.close()
    published = fetching.SOURCES["mnist"].sizes["train-images-idx3-ubyte.gz"]
    assert f"train-images-idx3-ubyte.gz is {published:,} bytes (its published size)" in str(e.value)
    assert "the download was deleted" in str(e.value)
    assert not list((tmp_path / ".mnist.download").glob("*.part"))


def test_a_file_of_a_checksum_given_by_hand_stops_at_the_stated_maximum(tmp_path, monkeypatch):
    monkeypatch.setattr(fetching, "MAX_DOWNLOAD_BYTES", 1 << 20)
    server = Endless(None)
    files = mnist_files()
    try:
        with pytest.raises(DataError, match="a download may take 1,048,576 bytes at most"):
            fetching.fetch(
                "mnist", tmp_path, base_url=server.url, retries=0, checksums={k: md5(v) for k, v in files.items()}
            )
    finally:
        server.close()


# --- Dask's noise ---------------------------------------------------------------------------------------


def test_an_address_dask_cannot_use_is_one_line_and_nothing_after_it(tmp_path):
    pytest.importorskip("distributed")
    r = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "search", "spiral", "--scheduler", "inproc://x", "--runs-dir", "r"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()  # no "Exception ignored in ... Client.__del__" after it
    assert line.startswith("tui-trainer: --scheduler inproc://x: cannot reach a Dask scheduler there")

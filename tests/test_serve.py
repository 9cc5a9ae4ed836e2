"""`tui-trainer serve` refuses what it cannot serve safely, before it starts, with one line
and exit 2. (In a real browser: test_serve_browser.py.)"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tui_trainer.cli import main
from tui_trainer.commands import serve

ROOT = Path(__file__).resolve().parent.parent


def refused(capsys, *argv: str) -> str:
    """serve's one line for `argv`, having checked that it exits 2 and says nothing else."""
    assert main(["serve", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::"])
def test_a_host_that_is_not_the_loopback_is_refused_without_allow_remote(capsys, host):
    err = refused(capsys, "--host", host, "spiral")
    assert f"--host {host}: not a loopback address" in err
    assert "127.0.0.0/8, ::1 or localhost" in err and "--allow-remote" in err


def test_loopback_hosts_are_the_loopback_whatever_their_spelling():
    for host in ("127.0.0.1", "127.8.9.10", "localhost", "::1"):
        assert serve.is_loopback(host), host
    assert not serve.is_loopback("0.0.0.0")


def test_a_host_that_does_not_resolve_is_named(capsys):
    err = refused(capsys, "--host", "no-such-host.invalid", "spiral")
    assert err.startswith("tui-trainer: --host no-such-host.invalid: cannot resolve it")


@pytest.mark.parametrize("port", ["0", "65536", "-1"])
def test_a_port_out_of_range_is_refused(capsys, port):
    assert f"--port {port}: a port is 1 to 65535" in refused(capsys, "--port", port, "spiral")


def test_a_port_in_use_is_refused(capsys):
    pytest.importorskip("textual_serve")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = refused(capsys, "--port", str(port), "spiral")
    assert f"--port {port}: already in use on 127.0.0.1" in err


def test_a_bad_preset_is_refused_as_the_workbench_refuses_it(capsys):
    served = refused(capsys, "no-such-preset")
    assert main(["ui", "no-such-preset"]) == 2
    assert served == capsys.readouterr().err
    assert "unknown preset 'no-such-preset'" in served


def test_more_than_one_preset_or_folder_is_refused(capsys):
    assert "serve takes one preset, not 2" in refused(capsys, "spiral", "default")
    assert "serve watch takes one folder, not 2" in refused(capsys, "watch", "a", "b")
    assert "give the folder once" in refused(capsys, "--runs-dir", "a", "watch", "b")


def test_without_textual_serve_it_says_which_extra_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)  # importing it raises ImportError
    err = refused(capsys, "spiral")
    assert "textual-serve, which is not installed: pip install 'tui-trainer[web]'" in err


def test_each_session_runs_the_workbench_with_its_words_quoted(tmp_path):
    odd = tmp_path / "a b; $(touch pwned) `x`.toml"
    odd.write_text((ROOT / "presets" / "spiral.toml").read_text())
    argv = serve.child_command([str(odd)], str(tmp_path / "my runs"))
    assert argv == [sys.executable, "-m", "tui_trainer", "ui", f"--runs-dir={tmp_path / 'my runs'}", "--", str(odd)]
    # /bin/sh reads it back word for word, and runs none of it
    shown = subprocess.run(
        ["/bin/sh", "-c", serve.shell_command([sys.executable, "-c", "import sys; print(sys.argv[1:])", *argv[3:]])],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout
    assert shown.strip() == repr(argv[3:])
    assert not (tmp_path / "pwned").exists()
    assert shlex.split(serve.shell_command(argv)) == ["exec", *argv]


def test_watch_runs_the_watcher_over_its_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for folder in ("runs", "elsewhere", "mine"):
        (tmp_path / folder).mkdir()
    base = [sys.executable, "-m", "tui_trainer"]
    assert serve.child_command(["watch"], None) == [*base, "watch", "--", "runs"]
    assert serve.child_command(["watch", "elsewhere"], None) == [*base, "watch", "--", "elsewhere"]
    assert serve.child_command(["watch"], "mine") == [*base, "watch", "--", "mine"]
    assert serve.child_command([], None) == [*base, "ui", "--runs-dir=runs", "--", "default"]


def test_a_watched_folder_that_is_not_there_is_refused_before_the_server_starts(tmp_path, capsys):
    """Checked once, at the console, as `watch` checks it: not in each browser tab."""
    err = refused(capsys, "watch", str(tmp_path / "gone"))
    assert "gone: does not exist" in err and "runs are recorded" in err
    (tmp_path / "file").write_text("")
    assert "file: is not a folder" in refused(capsys, "watch", str(tmp_path / "file"))


def test_requests_must_name_the_loopback():
    assert serve.loopback_name("localhost:8000") and serve.loopback_name("127.0.0.1:8000")
    assert serve.loopback_name("[::1]:8000") and serve.loopback_name("localhost")
    assert not serve.loopback_name("rebound.example:8000") and not serve.loopback_name("10.0.0.1:8000")


def test_allow_remote_warns_that_anyone_who_reaches_the_port_can_start_runs(tmp_path):
    pytest.importorskip("textual_serve")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tui_trainer", "serve", "--allow-remote", "--port", str(port), "spiral"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        assert f"http://127.0.0.1:{port}" in process.stdout.readline()  # listening
        warning = process.stderr.readline()
        assert warning.startswith("tui-trainer: warning: serving on 127.0.0.1 with --allow-remote")
        assert "anyone who can reach port" in warning and "can start runs and write to the runs folder" in warning
    finally:
        process.send_signal(signal.SIGINT)  # as Ctrl+C: a clean stop
        assert process.wait(10) == 0

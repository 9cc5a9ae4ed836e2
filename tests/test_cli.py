"""The command line's own contracts: the table of commands, the BLAS threads policy
applied before NumPy loads (and only by the commands that train), and the console
concerns every command shares (commands/console.py)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys

import pytest

from tui_trainer.cli import COMMANDS, build_parser
from tui_trainer.commands import console
from tui_trainer.threads import BLAS_ENV, cores

# Runs a command the way the console script does, and at NumPy's first import
# prints the BLAS variables as NumPy would find them, then exits; if the command
# never loads NumPy, prints them at its end.
AT_NUMPY_IMPORT = """
import builtins, os, sys
real_import = builtins.__import__
def spy(name, *args, **kwargs):
    if name.partition(".")[0] == "numpy" and "numpy" not in sys.modules:
        print("numpy:", os.environ.get("OPENBLAS_NUM_THREADS"), os.environ.get("OMP_NUM_THREADS"), flush=True)
        os._exit(0)
    return real_import(name, *args, **kwargs)
builtins.__import__ = spy
from tui_trainer.cli import main
main(sys.argv[1:])
print("end:", os.environ.get("OPENBLAS_NUM_THREADS"), os.environ.get("OMP_NUM_THREADS"), flush=True)
"""


def blas_at_numpy_import(tmp_path, *args: str, **user_env: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in BLAS_ENV} | user_env
    r = subprocess.run(
        [sys.executable, "-c", AT_NUMPY_IMPORT, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()[-1]


# --- the table of commands -----------------------------------------------------------


def test_the_help_lists_exactly_the_commands_of_the_table(capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["--help"])
    assert exit_.value.code == 0
    listed = capsys.readouterr().out.split("  COMMAND\n")[1].split("\n\n")[0]
    names = [line.split()[0] for line in listed.splitlines() if line[4] != " "]  # not a wrapped help line
    assert names == list(COMMANDS)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_module_has_a_command_and_says_its_exit_statuses(name):
    import importlib

    module = importlib.import_module(COMMANDS[name])
    assert callable(module.command)
    assert "Exit status" in module.__doc__


# --- the BLAS threads policy ---------------------------------------------------------


@pytest.mark.parametrize("name", ["run", "check", "ui"])
def test_importing_a_command_that_trains_loads_no_numpy(name):
    # The command applies the policy when it runs; NumPy loaded at import would be too early.
    code = f"import sys, tui_trainer.cli, {COMMANDS[name]}; print('numpy' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "False", r.stderr


@pytest.mark.parametrize(
    "args, threads",
    [
        (["run", "digits-fast", "--set", "train.epochs=1", "--json", "--runs-dir", "runs"], cores()),
        (["check", "spiral", "--json"], cores()),
        (["lr-find", "spiral", "--json", "--runs-dir", "runs"], cores()),
        (["ui", "spiral"], max(1, cores() - 1)),  # the app keeps a core for keys and redraws
    ],
)
def test_commands_that_train_set_the_blas_threads_before_numpy_loads(tmp_path, args, threads):
    assert blas_at_numpy_import(tmp_path, *args) == f"numpy: {threads} {threads}"


def test_the_users_own_blas_setting_is_left_alone(tmp_path):
    assert (
        blas_at_numpy_import(tmp_path, "run", "digits-fast", "--json", "--runs-dir", "runs", OPENBLAS_NUM_THREADS="3")
        == "numpy: 3 None"
    )


@pytest.mark.parametrize("args", [["runs", "--runs-dir", "runs"], ["presets"]])
def test_commands_that_do_not_train_leave_blas_alone(tmp_path, args):
    assert blas_at_numpy_import(tmp_path, *args) in ("numpy: None None", "end: None None")


# --- console concerns ---------------------------------------------------------------


def test_exit_status_of_each_way_a_run_or_search_ends():
    assert [console.exit_status(s) for s in ("finished", "exploded", "stopped", "failed")] == [0, 3, 130, 1]


def test_the_first_signal_stops_and_the_second_aborts():
    asked = []
    with console.StopOnSignals(asked.append) as signals:
        assert signal.getsignal(signal.SIGTERM) == signals._handle
        assert signal.getsignal(signal.SIGHUP) != signals._handle  # only with hangup=True
        os.kill(os.getpid(), signal.SIGTERM)
        assert asked == ["SIGTERM"]
        with pytest.raises(KeyboardInterrupt):
            signals._handle(signal.SIGINT, None)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_signal_the_caller_ignores_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with console.StopOnSignals(lambda name: None, hangup=True) as signals:
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGINT) == signals._handle
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_terminal_is_a_tty_that_can_move_its_cursor(monkeypatch):
    primary, secondary = os.openpty()
    try:
        with open(secondary, "w", closefd=False) as tty:
            monkeypatch.setenv("TERM", "xterm-256color")
            assert console.is_terminal(tty)
            monkeypatch.setenv("TERM", "dumb")
            assert not console.is_terminal(tty)
    finally:
        os.close(primary)
        os.close(secondary)
    assert not console.is_terminal(io.StringIO())


def test_a_silenced_stream_writes_to_dev_null():
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone
    with open(write_end, "w") as stream:
        with pytest.raises(BrokenPipeError):
            stream.write("x\n")
            stream.flush()
        console.silence(stream)
        stream.write("y\n")
        stream.flush()  # no BrokenPipeError: the stream is /dev/null now


def test_a_rich_console_lets_a_broken_pipe_surface():
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "w") as stream:
        with pytest.raises(BrokenPipeError):
            console.rich_console(file=stream).print("to nobody")
        console.silence(stream)

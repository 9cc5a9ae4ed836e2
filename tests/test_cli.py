"""The console concerns every command shares (commands/console.py)."""

from __future__ import annotations

import io
import os
import signal

import pytest

from tui_trainer.commands import console


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

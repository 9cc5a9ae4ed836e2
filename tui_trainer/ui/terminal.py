"""The terminal the workbench draws on, and how the app learns that it is gone.

A terminal goes away in three ways, and each must quit as `q` does (the
running run stopped, its record ended, within the quit budget), not end the
process where it stands:

- SIGTERM (kill, a shutdown) and SIGHUP (a dropped SSH session hangs up its
  terminal's processes): `on_quit_signals` turns them into a call on the
  app's loop (a signal the caller ignores, as under nohup, stays ignored);
- a terminal closed without a hangup reaching this process (it was not the
  terminal's controlling process): reads then see an end and writes fail,
  and Textual's input thread reads that end forever; `gone` says so (the
  terminal's settings can no longer be read), the app asks every CHECK_S;
- meanwhile Textual's writer thread dies on the first write that fails, and
  the queue it no longer empties blocks the app's exit: `tolerant` gives the
  driver a stream that drops what cannot be written instead.

Served in a browser (`tui-trainer serve`: textual-serve runs the workbench with
Textual's web driver, its keys and screen on pipes to the server), the terminal
is the server: the server gone (killed outright, so it could not say quit) is
the workbench handed to another parent, and writes to its pipe fail the same way.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

QUIT_SIGNALS = ("SIGTERM", "SIGHUP")
CHECK_S = 1.0  # how often the app looks whether its terminal is still there
WEB_DRIVER = "textual.drivers.web_driver:WebDriver"  # what textual-serve puts in TEXTUAL_DRIVER
_PARENT = os.getppid()  # served, the server: the process that started this one


def served() -> bool:
    """Whether this workbench is served in a browser: Textual draws through its web driver
    on pipes to textual-serve's server, not on a terminal."""
    return os.environ.get("TEXTUAL_DRIVER") == WEB_DRIVER


def leave_the_servers_group() -> None:
    """Served, start a session of this workbench's own (it and its trainer). A Ctrl+C at the
    server's terminal goes to the terminal's whole foreground group: the server would stop
    this workbench as q does, while the same SIGINT made its trainer stop the run on its
    own, and the record read "interrupted twice". Now the server alone hears it. (Not
    served, the workbench stays in its terminal's group: that is how its hangup reaches it.)"""
    if served():
        try:
            os.setsid()
        except OSError:  # already a group leader (started so by something else): nothing to leave
            pass


def on_quit_signals(quit_by: Callable[[str], None]) -> None:
    """Call `quit_by(signal name)` on the running loop for each of QUIT_SIGNALS."""
    loop = asyncio.get_running_loop()
    for name in QUIT_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is None or signal.getsignal(sig) is signal.SIG_IGN:
            continue
        try:
            loop.add_signal_handler(sig, quit_by, name)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no such handlers
            pass


def gone() -> bool:
    """Whether the terminal on stdin went away (POSIX; elsewhere never); served, whether the
    server went away."""
    if served():
        return os.getppid() != _PARENT
    try:
        import termios
    except ImportError:
        return False
    try:
        termios.tcgetattr(sys.__stdin__.fileno() if sys.__stdin__ is not None else 0)
    except (termios.error, OSError, ValueError):
        return True
    return False


class _Tolerant:
    """A stream whose writes that fail (EIO: the terminal is gone) are dropped, and so
    is all that follows: nothing reads them any more."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.failed = False

    def write(self, text: str) -> int:
        if not self.failed:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):
                self.failed = True
        return len(text)

    def flush(self) -> None:
        if not self.failed:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self.failed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def tolerant(driver_class: type) -> type:
    """`driver_class` drawing through a _Tolerant stream (Textual's Linux driver draws on
    its `_file`, the web driver writes with its `_write`); any other driver as it is."""
    from textual.drivers.linux_driver import LinuxDriver
    from textual.drivers.web_driver import WebDriver

    if issubclass(driver_class, WebDriver):

        class TolerantWebDriver(driver_class):  # type: ignore[valid-type,misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                driver: Any = self
                write, failed = driver._write, [False]

                def write_or_drop(data: bytes) -> int:
                    if not failed[0]:
                        try:
                            return write(data)
                        except OSError:
                            failed[0] = True
                    return len(data)

                driver._write = write_or_drop

        return TolerantWebDriver
    if not issubclass(driver_class, LinuxDriver):
        return driver_class

    class TolerantDriver(driver_class):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            driver: Any = self
            driver._file = _Tolerant(driver._file)

    return TolerantDriver

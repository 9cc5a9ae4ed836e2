"""What every command does the same way at the console, each in one place.

- Exit statuses: 0 ok; 1 a failure (a run or search that failed, a sanity
  check that failed, or an internal error: a bug, with its traceback);
  2 bad input, with one clear line on stderr; 3 a run exploded; 130 interrupted;
  141 a run cut short because its reader went away (`run ... | head`).
- Stopping on signals: the first Ctrl+C (or SIGTERM) stops the work
  cooperatively, so its record ends properly; a second stops it at once.
- Broken pipes: a reader that goes away (`| head`) has all it wanted; that is
  not a failure, and the interpreter's last flush must not say otherwise.
- Terminal detection: a live display only where a terminal can draw one.

This module imports nothing heavy (rich only when a console is asked for), so
a command can use it before its BLAS threads policy is applied (threads.py).
"""

from __future__ import annotations

import codecs
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

RUNS_DIR = "runs"  # where every command records, and what `watch` and `serve watch` follow, unless told otherwise

# --- exit statuses ----------------------------------------------------------------

OK = 0
FAILED = 1  # the work failed: a run, a search's executor, a sanity check
INTERNAL = 1  # a bug: main prints the traceback
BAD_INPUT = 2  # one line on stderr says what is wrong
EXPLODED = 3  # the loss went to inf or nan
INTERRUPTED = 130  # 128 + SIGINT, as shells report a job stopped by Ctrl+C
PIPE_CLOSED = 141  # 128 + SIGPIPE, as shells report a writer whose reader went away

_EXIT_FOR_STATUS = {"finished": OK, "exploded": EXPLODED, "stopped": INTERRUPTED, "failed": FAILED}


def exit_status(status: str) -> int:
    """The exit status for how a run or a search ended (the `status` of run_ended or search_ended)."""
    return _EXIT_FOR_STATUS[status]


# Exit statuses from best to worst: a stop is the user's, an explosion the setup's, a failure
# a bug's, and bad input (a full disk under the record) ends what was asked before its end.
_SEVERITY = (OK, PIPE_CLOSED, INTERRUPTED, EXPLODED, FAILED, BAD_INPUT)


def worst_exit_status(statuses: Iterable[int]) -> int:
    """The exit status of several runs (a seed group): the worst of theirs (exit_status each)."""
    return max(statuses, key=_SEVERITY.index, default=OK)


# --- stopping on signals ----------------------------------------------------------


class StopOnSignals:
    """While active, the first SIGINT or SIGTERM calls `stop(signal_name)`, which
    asks the work to stop at its next step so its record ends properly; a second
    raises KeyboardInterrupt to stop at once. With `hangup`, SIGHUP (the terminal
    went away: a dropped SSH session) does the same. More signals right after the
    second do not interrupt the cleanup it started (ABORT_GRACE_S). A signal the
    caller ignores (`nohup`, a background job) stays ignored. Handlers belong to the main thread;
    entered from any other thread this does nothing."""

    def __init__(self, stop: Callable[[str], None], hangup: bool = False):
        names = ("SIGINT", "SIGTERM", "SIGHUP") if hangup else ("SIGINT", "SIGTERM")
        self.signals = [getattr(signal, name) for name in names if hasattr(signal, name)]  # no SIGHUP on Windows
        self.stop = stop
        self.count = 0
        self._aborted_at: float | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    # After the second signal raised, the stop at once is under way: writing the
    # summary, removing temporary files. Signals within this many seconds are
    # repeats of the same impatience and must not interrupt that cleanup.
    ABORT_GRACE_S = 2.0

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1
        if self.count == 1:
            self.stop(signal.Signals(signum).name)
            return
        now = time.monotonic()
        if self._aborted_at is not None and now - self._aborted_at < self.ABORT_GRACE_S:
            return
        self._aborted_at = now
        raise KeyboardInterrupt


def preflight(preset, data, check_size: bool = True):
    """Before anything is recorded: train.device can be had and (check_size)
    the net fits there, else a PresetError: exit 2 with its line. When "auto"
    fell back to the CPU (or a GPU's fused kernels did not compile), one line on
    stderr says so: the command's only notice of it. Returns the backend."""
    import sys

    from ..engine.trainer import check_model_fits, resolve_device

    if check_size:
        backend = check_model_fits(preset, data.input_dim, data.num_classes)
    else:
        backend = resolve_device(preset)
    if backend.notice:
        print(f"tui-trainer: {backend.notice}", file=sys.stderr, flush=True)
    return backend


def ignore_further_signals() -> None:
    """For a process on its way out after a signal stopped its work (exit 130): a
    repeat arriving now (three Ctrl+C a millisecond apart) must not kill it with a
    KeyboardInterrupt in its exit, after the record was kept."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name) and threading.current_thread() is threading.main_thread():
            signal.signal(getattr(signal, name), signal.SIG_IGN)


# --- text the terminal cannot encode ------------------------------------------------


def _escape_or_pass_bytes(e: UnicodeError) -> tuple[str | bytes, int]:
    """A file name's undecodable bytes (surrogateescape) go out as they came in;
    any other character the encoding lacks as an escape (\\xe9)."""
    if not isinstance(e, UnicodeEncodeError):
        raise e
    bad = e.object[e.start : e.end]
    if all("\udc80" <= c <= "\udcff" for c in bad):
        return bytes(ord(c) - 0xDC00 for c in bad), e.end
    return codecs.backslashreplace_errors(e)


codecs.register_error("tui-trainer-escape", _escape_or_pass_bytes)


def tolerate_unencodable(*streams: IO[str]) -> None:
    """Let a stream whose encoding lacks a character (PYTHONIOENCODING=ascii,
    LC_ALL=C) write it as an escape (\\xe9) instead of failing: a non-ASCII path
    is no reason to lose a run's report."""
    for stream in streams:
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", "") in ("strict", "surrogateescape"):
            try:
                reconfigure(errors="tui-trainer-escape")
            except (ValueError, OSError):  # closed, or not a text file
                pass


# --- saying one thing on stderr ----------------------------------------------------


def say(text: str, stream: IO[str] | None = None) -> None:
    """A line (or a few) for people on stderr (or `stream`), without control characters or
    escape sequences (usertext.clean: it may hold a reason, a name, a path); nothing when
    the terminal is gone (a hangup, a closed stderr): the record says it all."""
    from ..usertext import clean

    out = stream if stream is not None else sys.stderr
    try:
        print(clean(text), file=out, flush=True)
    except (OSError, ValueError, AttributeError):  # gone, closed, or None
        pass


# --- broken pipes -----------------------------------------------------------------


def silence(stream: IO[str]) -> None:
    """Point a stream whose reader has gone at /dev/null, so later writes and the
    interpreter's final flush do not fail on the broken pipe (exit 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError):
        pass  # not a real file (a test's StringIO) or already closed: nothing to flush
    finally:
        os.close(devnull)


PIPE_WIDTH = 100_000  # a file or a pipe has no width: rich's 80 would wrap tables and split words


def rich_console(**options: Any) -> Console:
    """A rich Console (`options` as rich's) for a command's output. Rich answers a
    closed pipe with SystemExit(1), which reads as a failure and skips main's
    handler; this one lets the BrokenPipeError surface, so a command piped into
    `head` exits 0 as print() does. Into a file or a pipe, nothing is wrapped
    (a table row stays one line, a key is never split; unless COLUMNS asks for
    a width) and no line ends in the spaces rich pads table cells with."""
    import sys

    from rich.console import Console

    class PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

        def _render_buffer(self, buffer) -> str:
            text = super()._render_buffer(buffer)
            if self.is_terminal:
                return text
            return "\n".join(line.rstrip() for line in text.split("\n"))

    stream = options.get("file") or (sys.stderr if options.get("stderr") else sys.stdout)
    asked = "width" in options or os.environ.get("COLUMNS", "").isdigit()  # COLUMNS=100 tui-trainer runs | ...
    if not asked and not options.get("force_terminal") and not is_terminal(stream):
        options["width"] = PIPE_WIDTH
    # No :emoji: codes: a path or a name that holds one is shown as written (usertext.py).
    console = PipeConsole(**{"emoji": False, **options})
    if "width" not in options and console.width < MIN_WIDTH:
        # COLUMNS=0 says nothing of the width (rich would lay out for 0 and print nothing):
        # rich's width for a console of unknown size; a tiny one, the narrowest worth drawing.
        console.width = DEFAULT_WIDTH if console.width <= 0 else MIN_WIDTH
    return console


MIN_WIDTH = 20  # narrower wraps in the terminal rather than losing the text
DEFAULT_WIDTH = 80


def listing_table(title: str) -> Table:
    """A borderless rich table with a bold title on the left: how `presets` and
    `runs` list things, so the two read alike. `title` is rich markup."""
    from rich.table import Table

    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=None,
        header_style="bold",
        pad_edge=False,
        padding=(0, 1),
    )


# --- closed standard streams ----------------------------------------------------------


def fill_closed_std_streams() -> None:
    """Give a standard stream the caller closed (`run ... >&-`) /dev/null instead.

    Python starts with sys.stdout None when file descriptor 1 is closed, and a face
    writing to it fails the run; worse, the next file opened (a record's
    metrics.jsonl) would get descriptor 1, and every worker process would write its
    stdout into it. Writing to nowhere is what a closed stdout asked for."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        try:
            new = os.open(os.devnull, os.O_RDWR)
        except OSError:
            return
        if new != fd:
            os.dup2(new, fd)
            os.close(new)
    for name, fd, mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, encoding="utf-8", errors="replace", closefd=False))


# --- terminal detection -----------------------------------------------------------


def is_terminal(stream: IO[str]) -> bool:
    """Whether `stream` is a terminal that can draw a live display: a tty, and
    not one that declares it cannot move the cursor (TERM=dumb or unknown)."""
    try:
        tty = stream.isatty()
    except (ValueError, AttributeError):  # closed, or not a file at all
        return False
    return tty and os.environ.get("TERM", "").lower() not in ("dumb", "unknown")

"""Where the workbench's trainer runs: a child process (the default) or a thread.

Both hosts take the same orders (run, stop, pause, resume, close) and hand the
app the same event stream: `on_events(number, [event, ...])` from a
background thread, then `on_done(number, where)` when the run is over (where:
the last frame of a failure's traceback, else ""). Both record and advise each
run exactly as a headless run does: they train through lab/session.py's record_run.

Why a process: the trainer is NumPy driven from Python, and a Textual app
redrawing plots is Python too; in one process they share the GIL, and the
measurements in bench/ui_bench.py showed the thread costing training speed
and key response beyond the targets. In a child process the trainer keeps
its own interpreter; its sink batches events and sends them down a pipe at
most every `FLUSH_S` seconds (at once for run start and end and advice).
`TUI_TRAINER_ENGINE=thread` picks the thread host (for comparison in the bench).

The child is started once per session (spawn, so no inherited Textual state)
and keeps the last data set it loaded, so a run starts without reloading.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Any, Protocol

from ..config import DataConfig, Preset
from ..datasets import Dataset, load_dataset
from ..engine import RunControl, Trainer
from ..engine.events import RunEnded
from ..errors import UserError, in_words
from ..lab.session import StoreFactory, record_run
from ..records.run_folder import RunStore
from ..threads import training_blas_env
from .host_events import URGENT, HostEvent, HostSink, LayerSnapshot, StoreOpened

FLUSH_S = 0.05
SNAPSHOT_S = 1.0  # the first layer's weights go up at most once a second (and after the last epoch)

OnEvents = Callable[[int, list[HostEvent]], None]
OnDone = Callable[[int, str], None]


class Host(Protocol):
    """What the app asks of a trainer host, whichever kind (ThreadHost, ProcessHost).

    One run at a time: `run` starts run `number`; its events reach the host's
    `on_events` on a background thread, then `on_done(number, where)` once."""

    kind: str  # "thread" | "process"

    def run(
        self,
        number: int,
        preset: Preset,
        data: Dataset,
        runs_dir: Path,
        trainer_cls: type[Trainer] = Trainer,
        store_factory: StoreFactory = RunStore.create,
        group: str | None = None,
    ) -> None: ...

    def stop(self, reason: str) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def close(self, timeout: float) -> None:
        """Stop the run and wait up to `timeout` seconds for it to end."""

    @property
    def idle(self) -> bool:
        """No run is going."""


def default_host() -> str:
    return "thread" if os.environ.get("TUI_TRAINER_ENGINE", "").lower() == "thread" else "process"


def train_one(
    number: int,
    preset: Preset,
    data: Dataset | Callable[[], Dataset],
    runs_dir: Path,
    sink: HostSink,
    control: RunControl,
    trainer_cls: type[Trainer],
    store_factory: StoreFactory,
    group: str | None = None,
) -> str:
    """One run, recorded in the run directory as a headless run is (lab/session.py).
    Never raises; returns where a failure happened ('' when none). `sink` also gets
    StoreOpened and LayerSnapshot, which are for the app only and are not recorded."""
    try:
        if callable(data):
            data = data()
        run = record_run(
            preset,
            data,
            runs_dir,
            control,
            sink,
            on_epoch=snapshot_hook(sink, preset.train.epochs),
            trainer_cls=trainer_cls,
            store_factory=store_factory,
            group=group,
        )
        assert run.path is not None
        sink(StoreOpened(run.path.name))
        run.run()  # sends run_ended, also when it fails
        return last_frame(run.trainer.traceback) if run.trainer.traceback else ""
    except Exception as e:  # noqa: BLE001 - the run fails; the workbench keeps working
        sink(RunEnded("failed", in_words(e), None, None, 0, 0.0))
        return "" if isinstance(e, UserError) else last_frame(traceback.format_exc())


def snapshot_hook(sink: HostSink, epochs: int) -> Callable[[Trainer], None]:
    """A copy of W1 for the first-layer view, at most every SNAPSHOT_S and always
    after the last epoch (after the store's own hook: lab/session.py)."""
    epoch, sent = 0, -SNAPSHOT_S

    def hook(trainer: Trainer) -> None:
        nonlocal epoch, sent
        epoch += 1
        now = time.perf_counter()
        net = trainer.net
        if net is None or "W1" not in net.params:
            return
        if now - sent >= SNAPSHOT_S or epoch == epochs:
            sent = now
            sink(LayerSnapshot(trainer.param_on_host("W1"), tuple(trainer.data.image_shape), epoch))

    return hook


def last_frame(tb: str) -> str:
    """'trainer.py:123 in _train' from a formatted traceback."""
    for line in reversed(tb.strip().splitlines()):
        line = line.strip()
        if line.startswith('File "'):
            path, _, rest = line[6:].partition('", line ')
            lineno, _, func = rest.partition(", in ")
            return f"{Path(path).name}:{lineno} in {func}"
    return ""


# --- the thread host ---------------------------------------------------------------------


class ThreadHost:
    """The trainer in a daemon thread of this process, which nothing joins: quitting
    during a step that will not end does not wait for it (`close` abandons the run's
    record after its timeout; the app ends the record with runs.close_abandoned, as
    for a process that had to be killed). `spawn(fn)` runs fn in another thread."""

    kind = "thread"

    def __init__(
        self, on_events: OnEvents, on_done: OnDone, spawn: Callable[[Callable[[], None]], object] | None = None
    ):
        self.on_events, self.on_done = on_events, on_done
        self.spawn = spawn or _daemon_thread
        self.control: RunControl | None = None
        self.busy = threading.Event()
        self._store: RunStore | None = None  # the record of the run going, if it has one yet
        self._closed = False

    def run(
        self,
        number: int,
        preset: Preset,
        data: Dataset,
        runs_dir: Path,
        trainer_cls: type[Trainer] = Trainer,
        store_factory: StoreFactory = RunStore.create,
        group: str | None = None,
    ) -> None:
        control = self.control = RunControl()
        self.busy.set()
        on_events = self.on_events

        def sink(event: HostEvent) -> None:
            if not self._closed:
                on_events(number, [event])

        def store(runs_dir: Path, preset: Preset, data: Dataset, **group: str) -> RunStore:
            made = self._store = store_factory(runs_dir, preset, data, **group)
            return made

        def work() -> None:
            try:
                where = train_one(number, preset, data, runs_dir, sink, control, trainer_cls, store, group)
            finally:
                self.busy.clear()
            if not self._closed:
                self.on_done(number, where)

        self.spawn(work)

    def stop(self, reason: str) -> None:
        if self.control is not None:
            self.control.stop(reason)

    def pause(self) -> None:
        if self.control is not None:
            self.control.pause()

    def resume(self) -> None:
        if self.control is not None:
            self.control.resume()

    def close(self, timeout: float) -> None:
        """Stop the run and wait up to `timeout` seconds; a run still in a step then is
        left to its thread, which records nothing more (the app ends its record)."""
        self.stop("the workbench closed")
        deadline = time.monotonic() + timeout
        while self.busy.is_set() and time.monotonic() < deadline:
            time.sleep(0.005)
        if self.busy.is_set():
            self._closed = True
            if self._store is not None:
                self._store.abandon()

    @property
    def idle(self) -> bool:
        return not self.busy.is_set()


def _daemon_thread(fn: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True, name="tui-trainer trainer")
    thread.start()
    return thread


# --- the process host ----------------------------------------------------------------------


@contextmanager
def real_stderr() -> Iterator[None]:
    """Starting processes from inside the app: Textual replaces sys.stderr with a
    capture whose fileno() is -1, and multiprocessing hands stderr's fd to the
    processes it starts (its resource tracker too); give them the real one."""
    saved = sys.stderr
    sys.stderr = sys.__stderr__ or saved
    try:
        yield
    finally:
        sys.stderr = saved


def start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (once) with the real stderr, before
    a worker pool inside the app needs it (the search and tune views)."""
    with real_stderr():
        resource_tracker.ensure_running()


class ProcessHost:
    """The trainer in a child process, started once; orders go down a pipe, events come up."""

    kind = "process"

    def __init__(self, on_events: OnEvents, on_done: OnDone):
        self.on_events, self.on_done = on_events, on_done
        self._send_lock = threading.Lock()
        self._running: set[int] = set()
        self._start()

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve, args=(child,), daemon=True, name="tui-trainer engine")
        saved_env = dict(os.environ)
        # BLAS threads for the child: one core fewer than the machine has, so the
        # trainer's threads and the app never fight over a core (threads.py).
        os.environ.update(training_blas_env("workbench"))
        try:
            with real_stderr():
                self.process.start()
        finally:
            os.environ.clear()
            os.environ.update(saved_env)
        child.close()
        self._reader = threading.Thread(
            target=self._read, args=(self._conn, self.process), daemon=True, name="tui-trainer events"
        )
        self._reader.start()

    def run(
        self,
        number: int,
        preset: Preset,
        data: Any,
        runs_dir: Path,
        trainer_cls: type[Trainer] = Trainer,
        store_factory: StoreFactory = RunStore.create,
        group: str | None = None,
    ) -> None:
        """`data` is not sent: the child loads (and keeps) the data set the preset names.
        A child that died (killed, out of memory) is replaced first."""
        if not self.process.is_alive():
            self._reader.join(1)  # it reports the dead child's runs first
            self._start()
        self._running.add(number)
        self._send(("run", number, preset, str(runs_dir), trainer_cls, store_factory, group))

    def stop(self, reason: str) -> None:
        self._send(("stop", reason))

    def pause(self) -> None:
        self._send(("pause",))

    def resume(self) -> None:
        self._send(("resume",))

    def close(self, timeout: float) -> None:
        """Stop the run, let the child finish its files, and end it; kill it past the timeout.
        With no run going there are no files to finish (a run's "done" comes after its
        record is closed): the idle child is ended at once, so quitting does not wait
        for its interpreter to wind down."""
        deadline = time.monotonic() + timeout
        self._send(("quit",))
        if not self._running:
            self.process.terminate()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1)
        # The reader hands on what the child said last (its run's end) before the pipe closes.
        self._reader.join(max(deadline - time.monotonic(), 0.1))
        self._conn.close()

    @property
    def idle(self) -> bool:
        return not self._running

    def _send(self, msg: tuple) -> None:
        with self._send_lock:
            try:
                self._conn.send(msg)
            except (OSError, ValueError, BrokenPipeError):
                pass  # the child is gone; the reader reports it

    def _read(self, conn, process) -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            if msg[0] == "events":
                self.on_events(msg[1], msg[2])
            elif msg[0] == "done":
                self._running.discard(msg[1])
                self.on_done(msg[1], msg[2])
        # The child died (or closed): runs it had are failed runs.
        process.join(1)
        code = process.exitcode
        for number in sorted(self._running):
            self.on_events(
                number, [RunEnded("failed", f"the trainer process ended (exit code {code})", None, None, 0, 0.0)]
            )
            self.on_done(number, "")
        self._running.clear()


class _PipeSink:
    """The child's sink: batches events, sends at most every FLUSH_S (urgent ones at once)."""

    def __init__(self, conn, number: int, lock: threading.Lock):
        self.conn, self.number, self.lock = conn, number, lock
        self.buf: list = []
        self.last = time.perf_counter()

    def __call__(self, event) -> None:
        self.buf.append(event)
        now = time.perf_counter()
        if isinstance(event, (*URGENT, StoreOpened)) or now - self.last >= FLUSH_S:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if self.buf:
            with self.lock:
                self.conn.send(("events", self.number, self.buf))
            self.buf = []
        self.last = time.perf_counter() if now is None else now


def serve(conn) -> None:
    """The child process: one listener thread applies stop/pause/resume at once;
    the main thread trains the runs it is asked for, one after another."""
    # The app draws on the terminal this process inherited: nothing from here may
    # reach it (a warning, a stray print). Failures travel as run_ended events.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    # A hangup (the terminal went away) reaches this process too, the terminal's: the app
    # decides, and stops the run through the pipe, or its end (the app gone) stops it here.
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    orders: queue.Queue = queue.Queue()
    controls: list[RunControl] = []
    send_lock = threading.Lock()

    def listen() -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                msg = ("quit",)
            kind = msg[0]
            if kind == "run":
                controls.append(RunControl())  # made here, so a stop sent right after applies
                orders.put((*msg, controls[-1]))
            elif kind in ("stop", "pause", "resume"):
                if controls:
                    getattr(controls[-1], kind)(*msg[1:])
            if kind == "quit":
                for c in controls:
                    c.stop("the workbench closed")
                orders.put(msg)
                return

    threading.Thread(target=listen, daemon=True).start()
    cached: tuple[DataConfig, Dataset] | None = None  # (the data section asked for, the data set loaded)
    while True:
        msg = orders.get()
        if msg[0] == "quit":
            break
        _, number, preset, runs_dir, trainer_cls, store_factory, group, control = msg

        def data(preset=preset) -> Dataset:
            nonlocal cached
            if cached is None or cached[0] != preset.data:
                cached = (preset.data, load_dataset(preset.data, source=preset.where))
            return cached[1]

        sink = _PipeSink(conn, number, send_lock)
        where = train_one(number, preset, data, Path(runs_dir), sink, control, trainer_cls, store_factory, group)
        sink.flush()
        with send_lock:
            conn.send(("done", number, where))
    conn.close()

"""Where trials run: a local process pool, a Dask cluster or threads, as one TrialPool.

    pool = TrialPool.open(scheduler=args.scheduler, workers=args.workers)
    try:
        ended = run_search(preset, pool, store, sink, control)
    finally:
        pool.close(graceful=ended.status == "finished")

A TrialPool holds a concurrent.futures Executor and what a search needs to
know of it, learnt when it was made rather than read from the executor's
insides: how many trials run at once (capacity), what the faces call it
(where), its kind, the stop flag its trials can see (stop_flag) and how to
shut it down, ending local worker processes that would not stop (close).
`search` and `tune` take the same --workers / --scheduler options and check
them the same way here (TrialPool.open); the workbench's views open a local one.

Stopping is cooperative through a stop flag each trial watches (trial.py): a
FileFlag (a file: local processes, or Dask workers sharing the file system),
a DaskFlag (a `distributed.Event` on the scheduler: any Dask worker) or a
MemoryFlag (threads of this process).

Local workers never outlive the process that made them, however it ends
(kill -9 included, even while the pool is starting): each holds the read end
of a pipe whose only write end is the pool's, and exits when a read of it
ends (ParentWatch). A pool has at most MAX_WORKERS_PER_CORE workers per core.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing.context import SpawnContext, SpawnProcess
from pathlib import Path
from typing import Any, Protocol

from ...errors import UserError
from ...formatting import plural
from ...threads import cores, one_thread_env

ORPHAN_CHECK_S = 1.0
LOCAL, DASK, THREADS = "local", "dask", "threads"  # TrialPool.kind
# More worker processes than cores only wait for a core, each holding its own copy of the
# data; past a few per core they add nothing but memory (and 1000 could take the machine down).
MAX_WORKERS_PER_CORE = 4


# --- stop flags --------------------------------------------------------------


class StopFlag(Protocol):
    def set(self) -> None: ...
    def clear(self) -> None: ...
    def is_set(self) -> bool: ...
    def wait(self, timeout: float) -> bool: ...


class FileFlag:
    """A stop flag that is a file: set when it exists. Reaches local worker
    processes (and Dask workers on the same file system); checking it is a stat."""

    POLL_S = 0.01

    def __init__(self, path: str | Path):
        self.path = str(path)

    def set(self) -> None:
        Path(self.path).touch()

    def clear(self) -> None:
        Path(self.path).unlink(missing_ok=True)

    def is_set(self) -> bool:
        return os.path.exists(self.path)

    def wait(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not self.is_set():
            if time.monotonic() >= end:
                return False
            time.sleep(self.POLL_S)
        return True


class DaskFlag:
    """A stop flag kept by the Dask scheduler (`distributed.Event`): reaches every
    worker of the cluster. Pickles as its name; each side binds its own client
    (the search's, or the worker's own `get_client()` inside a task). A trial
    checks it every POLL_S seconds: one small message to the scheduler each time."""

    POLL_S = 0.2

    def __init__(self, name: str, client=None):
        self.name = name
        self._client = client
        self._event = None

    def __getstate__(self):
        return {"name": self.name}

    def __setstate__(self, state):
        self.__init__(state["name"])

    def _ev(self):
        if self._event is None:
            from distributed import Event

            self._event = Event(self.name, client=self._client)
            self._event.client  # bind the client now, in this (task) thread  # noqa: B018
        return self._event

    def set(self) -> None:
        self._ev().set()

    def clear(self) -> None:
        self._ev().clear()

    def is_set(self) -> bool:
        return bool(self._ev().is_set())

    def wait(self, timeout: float) -> bool:
        # Polled rather than Event.wait: a wait still pending on the scheduler when
        # the cluster closes is logged there as an error.
        end = time.monotonic() + timeout
        while not self.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self.POLL_S, left))
        return True


class MemoryFlag:
    """A stop flag for trials run by threads of this process (does not pickle)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


# --- local worker processes ---------------------------------------------------


class _OneBlasThreadProcess(SpawnProcess):
    """A spawned process whose environment says one BLAS thread (threads.py's
    worker policy) from its first instruction, before anything (the parent's
    main module included) imports NumPy. The variables are set only while the
    child is created."""

    @staticmethod
    def _Popen(process_obj):
        env = one_thread_env()
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            return SpawnProcess._Popen(process_obj)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class _OneBlasThreadContext(SpawnContext):
    """Makes a pool's worker processes and keeps them, so that the pool can end
    those that would not stop (TrialPool.close)."""

    def __init__(self) -> None:
        super().__init__()
        self.processes: list[_OneBlasThreadProcess] = []

    # ProcessPoolExecutor makes each worker with context.Process(...): a method here, a class in multiprocessing
    def Process(self, *args, **kwargs) -> _OneBlasThreadProcess:  # type: ignore[override]  # noqa: N802
        process = _OneBlasThreadProcess(*args, **kwargs)
        self.processes.append(process)
        return process


class ParentWatch:
    """How a worker knows its parent is gone, however it died.

    A pool's workers would outlive a search killed with SIGKILL (they wait on a
    queue nobody will write to again), keeping the caller's stdout open. The
    pool makes a pipe and keeps its write end, which no child inherits; each
    worker gets the read end (passed as a file descriptor when it is spawned,
    by pickling this object) and a thread blocked reading it (`watch`): the
    kernel ends that read when the last write end closes, that is when the
    parent is gone, even if it died before the worker got this far. Where file
    descriptors cannot be passed so, the worker compares its parent's pid with
    the pool's instead (`os.getppid()` read in the worker could already be init's)."""

    def __init__(self, parent: int | None = None, read_fd: int | None = None) -> None:
        self.read_fd: int | None
        self.write_fd: int | None
        if parent is None:  # the pool's own
            self.parent = os.getpid()
            self.read_fd, self.write_fd = os.pipe()  # neither inherited by a child unless passed
        else:  # as a worker receives it
            self.parent, self.read_fd, self.write_fd = parent, read_fd, None

    def __reduce__(self):
        from multiprocessing import reduction

        try:  # spawning a worker: its read end goes with it
            return (ParentWatch._in_worker, (self.parent, reduction.DupFd(self.read_fd)))
        except (ValueError, OSError):
            return (ParentWatch._in_worker, (self.parent, None))

    @classmethod
    def _in_worker(cls, parent: int, dup_fd: Any) -> ParentWatch:
        return cls(parent, dup_fd.detach() if dup_fd is not None else None)

    def watch(self) -> None:
        """In a worker: end the process when the parent is gone (a daemon thread waits for it)."""
        threading.Thread(target=self._wait_and_exit, daemon=True, name="parent-watch").start()

    def _wait_and_exit(self) -> None:
        if self.read_fd is not None:
            try:
                while os.read(self.read_fd, 1):  # nothing is ever written: returns at EOF
                    pass
            except OSError:
                pass
        else:
            while os.getppid() == self.parent:
                time.sleep(ORPHAN_CHECK_S)
        os._exit(1)

    def close(self) -> None:
        """The pool's, after its workers are gone (or abandoned): any left see their parent gone."""
        for fd in (self.read_fd, self.write_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.read_fd = self.write_fd = None


def _init_worker(workers: int = 1, parent: ParentWatch | None = None) -> None:
    # Ctrl+C reaches the whole foreground process group; the search stops its
    # trials through their stop flag, so the workers themselves ignore it.
    import signal

    if parent is not None:  # first: the parent may already be gone
        parent.watch()
    from ...engine.backend import share_device

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Trials on a GPU: the pool's workers share one device, each with its
    # share of its memory (engine/backend.py; nothing is imported for it on the CPU).
    share_device(workers)


def default_workers(device: str = "cpu") -> int:
    """One worker per core this process may use (each runs one BLAS thread); on a
    GPU, GPU_WORKERS (engine/backend.py): each worker more only adds a CUDA context."""
    if device == "gpu":
        from ...engine.backend import GPU_WORKERS

        return GPU_WORKERS
    return cores()


def max_workers() -> int:
    """The most local worker processes a pool may have: MAX_WORKERS_PER_CORE per core."""
    return MAX_WORKERS_PER_CORE * cores()


def local_pool_name(capacity: int) -> str:
    """Where a local pool runs trials: "1 local worker process", "4 local worker processes"."""
    return f"{capacity} local worker process{'es' if capacity != 1 else ''}"


# --- a Dask cluster -----------------------------------------------------------


def connect_dask(address: str, timeout: float = 10.0):
    """A Dask client of the scheduler at address; UserError when Dask is missing or
    the scheduler cannot be reached."""
    try:
        import distributed
    except ImportError:
        raise UserError(
            f"--scheduler {address}: sending trials to a Dask cluster needs Dask's distributed package, "
            "which is not installed; install it with: pip install 'tui-trainer[cluster]' "
            "(tui-trainer must be installed on every Dask worker too)"
        ) from None
    from distributed.comm.addressing import get_address_host_port, parse_address
    from distributed.comm.registry import backends

    try:  # a malformed address fails inside Client() and then hangs its cleanup: check it first
        scheme = parse_address(address)[0]
        if scheme not in backends:
            raise ValueError(f"{scheme}:// is not a Dask protocol; one of {', '.join(sorted(backends))}")
        if scheme in ("tcp", "tls"):
            get_address_host_port(address)
    except (ValueError, TypeError) as e:
        raise UserError(
            f"--scheduler {address}: not a scheduler address ({e}); "
            "give it as tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786"
        ) from None
    # Made in two steps so that a client whose constructor failed is ours to put away: left
    # to the garbage collector, its __del__ would try to close a connection it never had,
    # for 20 s at exit, and print "Exception ignored in ... Client.__del__" after our line.
    client = distributed.Client.__new__(distributed.Client)
    try:
        distributed.Client.__init__(client, address, timeout=timeout, set_as_default=False)
        # A scheduler lost mid-search is reported as the search's one line (exit 1),
        # not as Dask's log lines on stderr.
        for handler in logging.getLogger("distributed").handlers:
            handler.setLevel(logging.CRITICAL + 1)
    except Exception as e:  # OSError, TimeoutError, ValueError for a malformed address
        _discard(client)
        raise UserError(
            f"--scheduler {address}: cannot reach a Dask scheduler there ({type(e).__name__}: {e}); "
            "start one with `dask scheduler` and workers with `dask worker ADDRESS`, "
            "and give its address as tcp://HOST:PORT"
        ) from None
    return client


def _discard(client: Any) -> None:
    """A Dask client whose constructor failed: marked closed (its __del__ then does
    nothing) and its event loop's thread stopped."""
    client.status = "closed"
    runner = getattr(client, "_loop_runner", None)
    if runner is not None:
        try:
            runner.stop()
        except Exception:  # noqa: BLE001 - best effort on a client that never worked
            pass


# --- the pool ------------------------------------------------------------------


class TrialPool:
    """An executor of trials and what the search knows of it (see the module's docstring)."""

    def __init__(
        self,
        executor: Executor,
        capacity: int,
        where: str,
        kind: str,
        *,
        client: Any = None,
        context: _OneBlasThreadContext | None = None,
        watch: ParentWatch | None = None,
    ) -> None:
        self.executor = executor
        self.capacity = capacity  # trials that run at once
        self.where = where  # what the faces say of it: "2 local worker processes", "Dask scheduler tcp://..."
        self.kind = kind  # LOCAL | DASK | THREADS
        self.client = client  # the Dask client, closed with the pool
        self._context = context  # a local pool's process maker, which knows its processes
        self._watch = watch  # a local pool's pipe its workers watch

    @classmethod
    def open(cls, scheduler: str | None, workers: int | None, device: str = "cpu") -> TrialPool:
        """A Dask executor when `scheduler` is given, else `workers` local processes
        (default: `default_workers` for the device the trials train on, "cpu" or
        "gpu" as train.device resolved); UserError for options that do not go together."""
        if workers is not None and not 1 <= workers <= max_workers():
            raise UserError(
                f"--workers {workers}: expected an integer from 1 to {max_workers()} (local worker processes: at most "
                f"{MAX_WORKERS_PER_CORE} per core, and this process may use {plural(cores(), 'core')})"
            )
        if scheduler and workers is not None:
            raise UserError(
                "--workers counts local processes; with --scheduler the Dask cluster's workers run "
                "the trials: give one or the other"
            )
        return cls.dask(scheduler) if scheduler else cls.local(workers, device)

    @classmethod
    def local(cls, workers: int | None = None, device: str = "cpu") -> TrialPool:
        """Worker processes (spawn), one BLAS thread each, ignoring SIGINT; on a GPU,
        each caps its memory pool at its share of the device, and a UserError naming
        --workers says when their CUDA contexts would not fit in it."""
        workers = workers or default_workers(device)
        if device == "gpu":
            from ...engine.backend import check_workers_fit, resolve

            check_workers_fit(resolve("gpu"), workers)  # the command resolved it: cached
        context = _OneBlasThreadContext()
        watch = ParentWatch()
        executor = ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(workers, watch)
        )
        return cls(executor, workers, local_pool_name(workers), LOCAL, context=context, watch=watch)

    @classmethod
    def dask(cls, address: str) -> TrialPool:
        """The workers of the Dask scheduler at address: as many trials at once as they have threads."""
        client = connect_dask(address)
        capacity = max(1, sum(client.nthreads().values()))
        where = f"Dask scheduler {address} ({capacity} worker threads)"
        return cls(client.get_executor(pure=False), capacity, where, DASK, client=client)

    @classmethod
    def threads(cls, workers: int) -> TrialPool:
        """Threads of this process (trials given as plain functions: tests, the in-process views)."""
        return cls(ThreadPoolExecutor(workers), workers, f"{workers} threads", THREADS)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        return self.executor.submit(fn, *args)

    def stop_flag(self, folder: str | Path, name: str) -> StopFlag:
        """A new stop flag the trials of this pool can see: a Dask event named after
        `name`, an in-memory flag for threads, a file in `folder` for local processes."""
        session = uuid.uuid4().hex[:8]
        if self.kind == DASK:
            return DaskFlag(f"tui-trainer-stop-{name}-{session}", client=self.client)
        if self.kind == THREADS:
            return MemoryFlag()
        return FileFlag(Path(folder) / f".stop-{session}")

    def close(self, graceful: bool) -> None:
        """Shut the executor down, waiting for running trials when `graceful`, else
        cancelling what is queued and ending the local processes still alive; then
        close the Dask client."""
        if self.kind == DASK:  # Dask's ClientExecutor: wait=False cancels what is left
            self.executor.shutdown(wait=graceful)
        else:
            self.executor.shutdown(wait=graceful, cancel_futures=True)
        if not graceful and self._context is not None:
            for p in self._context.processes:
                if p.is_alive():
                    p.terminate()
        if self._watch is not None:
            self._watch.close()
        if self.client is not None:
            self.client.close()

    def __enter__(self) -> TrialPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(graceful=True)

"""Where trials run, as the commands open it: a local pool or a Dask cluster.

    pool = TrialPool.open(scheduler=args.scheduler, workers=args.workers)
    try:
        run_search(preset, pool.executor, store, sink, control, capacity=pool.capacity, where=pool.where)
    finally:
        pool.close(graceful=ended.status == "finished")

`search` and `tune` take the same --workers / --scheduler options and check
them the same way here.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from ...errors import UserError
from .runner import close_executor, connect_dask, default_workers, executor_capacity, local_pool
from .texts import local_pool_name


@dataclass
class TrialPool:
    executor: Executor
    capacity: int  # trials that run at once
    where: str  # what the faces say of it: "2 local worker processes", "Dask scheduler tcp://..."
    client: Any = None  # the Dask client, closed with the pool

    @classmethod
    def open(cls, scheduler: str | None, workers: int | None) -> TrialPool:
        """A Dask executor when `scheduler` is given, else `workers` local processes
        (default: one per core); UserError for options that do not go together."""
        if workers is not None and workers < 1:
            raise UserError(f"--workers {workers}: expected an integer >= 1 (local worker processes)")
        if scheduler and workers is not None:
            raise UserError(
                "--workers counts local processes; with --scheduler the Dask cluster's workers run "
                "the trials: give one or the other"
            )
        if scheduler:
            client, executor = connect_dask(scheduler)
            capacity = executor_capacity(executor)
            return cls(executor, capacity, f"Dask scheduler {scheduler} ({capacity} worker threads)", client)
        executor = local_pool(workers or default_workers())
        capacity = executor_capacity(executor)
        return cls(executor, capacity, local_pool_name(capacity))

    def close(self, graceful: bool) -> None:
        """Shut the executor down (waiting for running trials when `graceful`), then the client."""
        close_executor(self.executor, graceful=graceful)
        if self.client is not None:
            self.client.close()

"""Stopping a tune from any thread (a signal handler, the workbench's `x`)."""

from __future__ import annotations

from ...engine import RunControl
from ..search.pool import StopFlag
from ..search.runner import SearchControl


class TuneControl:
    """Stop a tune from any thread: the stage running stops within one iteration."""

    def __init__(self) -> None:
        self.run = RunControl()
        self.search: SearchControl | None = None
        self.flag: StopFlag | None = None  # the final stage's trials on the workers

    def stop(self, reason: str = "stopped by request") -> None:
        self.run.stop(reason)
        search = self.search
        if search is not None:
            search.stop(reason)
        flag = self.flag
        if flag is not None:
            flag.set()

    @property
    def stopped(self) -> bool:
        return self.run.stopped

    @property
    def reason(self) -> str:
        return self.run.stop_reason

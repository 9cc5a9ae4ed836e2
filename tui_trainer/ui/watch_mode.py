"""The app's part in `tui-trainer watch` (a mixin of app.WorkbenchApp, kept apart so the
app stays readable): the list as home screen, a run opened from it, and the poll that
feeds the opened run's events to the app's queue, where a trainer's events go.

A watched run is a RunHistory (watching.WatchedRun) like the runs the app trains, so the
drain folds it and the workbench's panes draw it as they draw those.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..records.follow import POLL_S
from .history import EventQueue
from .messages import ALL, NEW_RUN, OPENED, STATUS, WatchOpen
from .screens.watch import WatchScreen
from .session import Session
from .watching import WatchedRun, first_events

if TYPE_CHECKING:
    from textual.app import App

    _App = App[int]
else:
    _App = object


class WatchMode(_App):
    """What WorkbenchApp does when made with watch=True (its session's `watching`)."""

    session: Session
    events: EventQueue
    if TYPE_CHECKING:

        def _changed(self, *parts: str) -> None: ...

    def watch_home(self) -> None:
        """The list of what the folder holds, over the workbench, and the poll of the run opened."""
        self.set_interval(POLL_S, self._follow)
        s = self.session
        home = WatchScreen(s.runs_dir, opened=lambda: s.current is not None, following=s.live_runs)
        self.call_after_refresh(self.push_screen, home)  # over the workbench once it has its size

    def on_watch_open(self, message: WatchOpen) -> None:
        """The watcher's list opened a run: the workbench's panes show it, fed from its folder."""
        s = self.session
        run = WatchedRun.open(message.path, number=1, root=s.runs_dir)
        s.current, s.base_preset, s.next_preset = run, run.preset, run.preset
        self.events.push(run, first_events(run))
        self._changed(NEW_RUN, ALL, OPENED)
        self._follow()

    def _follow(self) -> None:
        """Every POLL_S: the watched run's new events join the queue, as a trainer's do (app._drain)."""
        s = self.session
        run = s.current
        if not isinstance(run, WatchedRun):
            return
        events, reset = run.poll()
        if reset:
            s.current = run = run.reopened()
            self._changed(NEW_RUN, ALL)
        if events:
            self.events.push(run, events)
        elif run.quiet:
            self._changed(STATUS)
        if run.behind:  # a long run's file, a part a poll: the rest after the keys waiting
            self.call_later(self._follow)

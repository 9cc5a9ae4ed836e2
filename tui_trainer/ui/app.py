"""The workbench: `tui-trainer` / `tui-trainer ui [PRESET] [--set K=V] [--runs-dir DIR]`.

The app owns what outlives a screen: the session state (session.Session:
the presets, the data, this session's runs, the checks shown) and the jobs
(the runs on the trainer host, the data loading, the checks, a search,
lr-find, tune: jobs.py). The screens own their panes and keys: they draw
what they read in the session or in a job, and post intents (messages.py)
back; the app changes the state and posts the screen what changed. A screen
pushed over the workbench silences its keys by itself. Help, quit and the
command palette are the app's, so they work over every screen.

Background work reaches the app one way, as messages: the data loader and
the jobs' thread workers post DataLoaded, JobEvent and JobEnded, the trainer
host RunDone and Wake. The trainer's steps are the exception, for speed (see
_drain): the host hands them over on its own thread with one deque extend
(history.EventQueue); a timer drains the queue a few times a second, folds
the events into the runs' histories and posts the screen what changed
(messages.Drained); the screen redraws only that: the status bar every
drain, the weights table at most every `table_interval`, the plots at most
every `plot_interval` seconds, downsampled to about two points per column.
The panes never read the trainer's arrays, only the events.

Each run is recorded in the run directory exactly as a headless run is
(runs.RunStore through a Fanout beside the app's sink, in the host).
Layout and colour: app.tcss. Keys: the screen's and the app's BINDINGS (the
footer, the help screen and the command palette are all made from them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.driver import Driver
from textual.markup import escape
from textual.screen import Screen

from ..config import Preset
from ..datasets import Dataset, load_dataset
from ..engine import Trainer
from ..engine.events import RunEnded
from ..errors import PresetError, UserError, in_words
from ..lab.compare import group_line, group_runs
from ..lab.session import as_trained, seed_group
from ..records.run_folder import RunStore, close_abandoned, list_runs
from ..usertext import textual_markup
from . import terminal, texts
from .history import LAYER, NOTES, RATIOS, EventQueue, RunHistory
from .host_events import HostEvent
from .jobs import JOBS, AnyJob, ChecksJob, ChecksState, LrFindJob, SearchJob, TuneJob, make_job
from .knobs import AtLimit
from .messages import (
    ALL,
    CHECKS,
    NEW_CHECKS,
    NEW_RUN,
    NEXT,
    OPENED,
    STATUS,
    ChangeNext,
    DataLoaded,
    Drained,
    Flash,
    JobEnded,
    JobEvent,
    JobUpdated,
    PresetChosen,
    RunDone,
    SessionChanged,
    StartGroup,
    StartJob,
    StartRun,
    StopJob,
    StopRun,
    TogglePause,
    UseConfig,
    Wake,
)
from .screens.help import HelpScreen, keys_acting
from .screens.search import SearchScreen
from .screens.tune import LrFindScreen, TuneScreen
from .screens.workbench import WorkbenchScreen
from .screens.workbench_keys import FOCUS_HELP, MIN_HEIGHT, MIN_WIDTH, RUN_KEYS, TAB_KEYS
from .session import SeedGroup, Session, cannot_start
from .trainer_host import Host, ProcessHost, ThreadHost, default_host
from .watch_mode import WatchMode
from .watching import LiveRuns

INTERRUPTED = 130  # the exit status of a workbench a signal closed, as of a command it stopped

# Keys that work over every screen (the screens' own keys come first).
GLOBAL_KEYS = [
    Binding("question_mark", "help", "Help", key_display="?", tooltip="the keys and panes of this screen"),
    Binding("q", "quit", "Quit", tooltip="stop the trainer and quit"),
]
# The events a pane keeps itself (the rest it reads from the run's history when it redraws).
FOLLOWED = {RATIOS, NOTES, LAYER}


class WorkbenchApp(WatchMode, App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "tui-trainer"
    ENABLE_COMMAND_PALETTE = True
    HORIZONTAL_BREAKPOINTS = [(0, "-tiny-w"), (MIN_WIDTH, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-tiny-h"), (MIN_HEIGHT, "-short"), (36, "-tall")]

    BINDINGS = [*GLOBAL_KEYS]
    # Every key of the workbench, in the order the help screen lists them (RUN_KEYS holds help and quit).
    KEYS = [*RUN_KEYS, *TAB_KEYS, *FOCUS_HELP]

    def __init__(
        self,
        preset: Preset,
        runs_dir: str | Path = "runs",
        *,
        clock: Callable[[], float] = time.monotonic,
        store_factory: Callable[[Path, Preset, Dataset], RunStore] = RunStore.create,
        trainer_cls: type[Trainer] = Trainer,
        engine: str | None = None,
        drain_interval: float = 0.2,
        plot_interval: float = 0.4,
        table_interval: float = 0.5,
        screenshots_dir: str | Path | None = None,
        watch: bool = False,
    ) -> None:
        """watch: `tui-trainer watch`, read-only over what other processes write (ui/watching.py)."""
        super().__init__()
        # The palette's Screenshot saves here (Textual's default, ~/Downloads, may not exist).
        self.screenshots_dir = Path(screenshots_dir) if screenshots_dir else Path(runs_dir).parent / "screenshots"
        self.session = Session(
            base_preset=preset,
            next_preset=preset,
            data_preset=preset,
            runs_dir=Path(runs_dir),
            clock=clock,
            watching=watch,
            live_runs=LiveRuns(runs_dir),
        )
        self.store_factory = store_factory
        self.trainer_cls = trainer_cls
        self.engine = engine or default_host()  # "process" (default) or "thread"
        self.host: Host | None = None
        self.drain_interval = drain_interval
        self.workbench = WorkbenchScreen(self.session, plot_interval, table_interval, id="_default")
        self.events = EventQueue(self._wake)
        self._views: dict[AnyJob, Screen] = {}  # the screen showing each job that has one
        self._start_when_loaded = False
        self._quit_reason = "the workbench closed"  # what a run stopped by quitting records

    def get_default_screen(self) -> Screen:
        return self.workbench

    def on_mount(self) -> None:
        if self.session.watching:
            self.watch_home()
        else:
            self.load_data(self.session.base_preset)
        self.set_interval(self.drain_interval, self._drain)
        if not self.is_headless:  # not under a test's Pilot, whose loop is the test's
            terminal.on_quit_signals(lambda name: self._quit_for(f"interrupted by {name}"))
            self.set_interval(terminal.CHECK_S, self._check_terminal)

    def get_driver_class(self) -> type[Driver]:
        return terminal.tolerant(super().get_driver_class())

    def _check_terminal(self) -> None:
        if terminal.gone():
            self._quit_for("interrupted: the terminal went away")

    def _quit_for(self, reason: str) -> None:
        """Quit as q does when the terminal goes away (ui/terminal.py), saying why in the record."""
        if self._quit_reason != "the workbench closed":
            return  # quitting already
        self._quit_reason = reason
        self._stop_everything(reason)
        self.exit(return_code=INTERRUPTED)

    @property
    def _showing(self) -> bool:
        """True while the workbench's panes are up: not before its screen is mounted, nor
        once the app is exiting (late messages from workers find no panes then)."""
        return self.workbench.is_mounted and self.workbench.is_attached

    def _changed(self, *parts: str) -> None:
        """Tell the workbench which parts of the session changed (messages.SessionChanged)."""
        self.workbench.post_message(SessionChanged(*parts))

    def _flash(self, text: str, warn: bool = False) -> None:
        self.workbench.post_message(Flash(text, warn))

    # --- data ---------------------------------------------------------------------

    def load_data(self, preset: Preset) -> None:
        """Load the preset's data set in a thread; DataLoaded says when it is there."""
        s = self.session
        s.data, s.data_error, s.data_preset = None, "", preset
        # A daemon thread, not a worker: loading cannot be interrupted, and quitting
        # must not wait for it (the app's workers are joined when it exits). A load
        # superseded by another preset's is ignored when it arrives (on_data_loaded).
        threading.Thread(target=self._read_data, args=(preset,), daemon=True, name="load data").start()

    def _read_data(self, preset: Preset) -> None:
        missing = texts.missing_data(preset)
        if missing is not None:
            self.post_message(DataLoaded(preset, None, missing))
            return
        try:
            data = load_dataset(preset.data, source=preset.where)
        except Exception as e:  # noqa: BLE001 - shown in the app, which keeps working
            self.post_message(DataLoaded(preset, None, in_words(e)))
        else:
            self.post_message(DataLoaded(preset, data))

    def on_data_loaded(self, message: DataLoaded) -> None:
        s = self.session
        if message.preset is not s.data_preset:
            return  # another preset (or data setting) was chosen meanwhile
        s.data, s.data_error = message.data, message.error
        if message.error:
            self._start_when_loaded = False
            self.notify(textual_markup(message.error), title="cannot load the data", severity="error", timeout=8)
        if not self._showing:
            return  # the screen shows the data when it mounts
        if self._start_when_loaded:
            self._start_when_loaded = False
            self.start()
        self._changed(ALL)
        # The trainer's process starts once the screen shows the data: on two cores its
        # start (an interpreter importing NumPy) slowed the load and the first usable
        # frame by half a second; a space pressed before starts it at once (start()).
        self.call_after_refresh(self._ensure_host)

    # --- the next run ----------------------------------------------------------------

    def set_next(self, preset: Preset) -> None:
        s = self.session
        s.next_preset = preset
        if preset.data != s.data_preset.data:  # the form changed num_train or preprocess: load again
            self.load_data(preset)
        self._changed(NEXT)

    def open_preset(self, preset: Preset) -> None:
        s = self.session
        s.base_preset = s.next_preset = preset
        s.checks = ChecksState(preset.name)  # the pane waits for c on the preset opened
        parts = [ALL, CHECKS, OPENED]
        if not s.running:
            s.current = None  # the header and the panes show the opened preset at once
            parts.append(NEW_RUN)
        self.load_data(preset)
        self._changed(*parts)

    def on_change_next(self, message: ChangeNext) -> None:
        try:
            preset, said = message.change(self.session.next_preset)
        except AtLimit as e:
            self._flash(str(e), warn=True)
            return
        except PresetError as e:
            self.notify(textual_markup(e), severity="error")
            return
        self.set_next(preset)
        if said:
            self._flash(f"next run: {said}")

    def on_preset_chosen(self, message: PresetChosen) -> None:
        self.open_preset(message.preset)

    def on_use_config(self, message: UseConfig) -> None:
        """A past run's (or a search trial's) configuration becomes the next run's (its data set too)."""
        preset = message.preset
        if preset.data != self.session.base_preset.data:
            self.session.base_preset = preset
        self.set_next(preset)  # loads its data set when it differs
        self._flash(f"next run: the configuration of {message.run}")

    # --- runs ---------------------------------------------------------------------

    def _ensure_host(self) -> Host:
        if self.host is None:
            if self.engine == "thread":
                # its own daemon thread, not a Textual worker: quitting must not wait for a step
                self.host = ThreadHost(self._host_events, self._host_done)
            else:
                self.host = ProcessHost(self._host_events, self._host_done)
        return self.host

    def on_start_run(self, _: StartRun) -> None:
        self.session.group = None  # space: one run of the next setup, a group going or not
        self.start()

    def on_start_group(self, message: StartGroup) -> None:
        """n: the next run over message.seeds train seeds, one after another, as one seed group
        (the id and the presets from lab.session.seed_group, as `run --seeds N` makes them)."""
        try:
            group, presets = seed_group(self.session.next_preset, message.seeds)
        except PresetError as e:
            self.notify(textual_markup(e), severity="error")
            return
        self.session.group = SeedGroup(group, presets)
        self.start("a seed group started")

    def start(self, why: str = "restarted with space") -> None:
        """Start the next run (the group's next seed while a group goes); during a run, stop it
        (`why`) and start the next when it has ended."""
        s = self.session
        if s.data is None:
            if s.data_error:
                self.notify(textual_markup(s.data_error), title="no data to train on", severity="error")
            else:
                self._start_when_loaded = True
                self.notify("the run starts when the data are loaded", timeout=2)
            return
        if s.running:
            s.restarting = True
            self._ensure_host().stop(why)
            self._changed(STATUS)
            return
        self._start_run(s.data)

    def _start_run(self, data: Dataset) -> None:
        s = self.session
        preset, seed = s.group.next() if s.group is not None else (s.next_preset, None)
        run = RunHistory(number=len(s.runs) + 1, preset=preset)
        run.seed = seed
        run.t_start = s.clock()
        s.runs.append(run)
        s.current = run
        self._ensure_host().run(
            run.number,
            preset,
            data,
            s.runs_dir,
            trainer_cls=self.trainer_cls,
            store_factory=self.store_factory,
            group=s.group.id if s.group is not None else None,
        )
        self._changed(NEW_RUN, ALL)
        _, notice = as_trained(preset, data)  # the host records the run as trained: say what changed
        if notice:
            self._flash(notice, warn=True)

    def _host_events(self, number: int, events: list[HostEvent]) -> None:
        """On the host's thread: queue the events for the next drain."""
        self.events.push(self.session.runs[number - 1], events)

    def _host_done(self, number: int, where: str) -> None:
        self.post_message(RunDone(self.session.runs[number - 1], where))

    def on_run_done(self, message: RunDone) -> None:
        if not self._showing:
            return
        s = self.session
        message.run.error_where = message.where
        self._drain()
        message.run.finish(s.clock())
        self._changed(ALL)
        if s.restarting and message.run is s.current:
            s.restarting = False
            # start() again, not _start_run: a preset opened meanwhile may have its data still loading
            self.start()
        elif s.group is not None and message.run is s.current:
            self._group_step(s.group, message.run)

    def _group_step(self, group: SeedGroup, run: RunHistory) -> None:
        """A run of the seed group ended: the next seed starts, or the group ends and says its spread."""
        if group.goes_on(run.ended.status if run.ended is not None else "failed"):
            self.start()
            return
        self.session.group = None
        members = [r for r in list_runs(self.session.runs_dir) if r.group == group.id]
        for g in group_runs(members):
            self.notify(f"{textual_markup(group_line(g))}; h: the runs view", title="seed group ended", timeout=10)

    def on_toggle_pause(self, _: TogglePause) -> None:
        self.toggle_pause()

    def toggle_pause(self) -> None:
        s = self.session
        run = s.current
        if run is None or not s.running:
            self.notify("no run to pause; space starts one", timeout=2)
            return
        host = self._ensure_host()
        if run.paused_since is not None:
            host.resume()
            run.resume(s.clock())
        else:
            host.pause()
            run.pause(s.clock())
        self._changed(STATUS)

    def on_stop_run(self, _: StopRun) -> None:
        self.stop_run()

    def stop_run(self) -> None:
        if not self.session.running:
            self.notify("no run to stop", timeout=2)
            return
        if self.session.group is not None:
            self.session.group.stopped = True  # x stops the whole group: no seed after this one
        self.session.restarting = False
        self._ensure_host().stop("x pressed")

    async def action_quit(self) -> None:
        self._stop_everything(self._quit_reason)
        self.exit(0)

    def _stop_everything(self, reason: str) -> None:
        self.session.restarting = False
        self.session.group = None
        self._start_when_loaded = False
        if self.host is not None:
            self.host.stop(reason)
        for job in self.session.jobs.values():
            job.stop(reason)

    def on_unmount(self) -> None:
        # Stop the trainer and wait for it (at most a second), so the process
        # exits now and not at the end of an epoch; the run's files are whole.
        self._stop_everything(self._quit_reason)
        deadline = time.monotonic() + 1.0
        if self.host is not None:
            self.host.close(0.6)
            # A step that would not end in time: its process was killed; its record still ends.
            for run in self.session.runs:
                if run.ended is None and run.run_dir:
                    close_abandoned(self.session.runs_dir / run.run_dir, "the workbench closed during a step")
        # The jobs' workers end within an iteration; trials that do not stop in time lose their processes.
        for job in self.session.jobs.values():
            job.close(max(deadline - time.monotonic(), 0))

    # --- the event stream ---------------------------------------------------------------

    def _wake(self) -> None:
        """Called on the trainer thread; post_message is thread-safe and does not block."""
        self.post_message(Wake())

    def on_wake(self, _: Wake) -> None:
        self._drain()

    def _drain(self) -> None:
        """Fold every queued event into its run's history; post the screen what changed.

        A drain, not a message per event: a run sends hundreds of steps a second,
        and a message each would cost a dispatch on this thread per step and a
        redraw decision per step, where one deque extend on the host's thread and
        one fold every drain_interval held the workbench at about the headless
        speed (bench/ui_bench.py). What is urgent (a run's start and end, advice)
        posts Wake and is drained at once."""
        if not self._showing:
            return
        touched: set[str] = set()
        followed: list[HostEvent] = []
        current = self.session.current
        for run, event in self.events.drain():
            what = run.add(event)
            if run is current:
                touched.add(what)
                if what in FOLLOWED:
                    followed.append(event)
            if isinstance(event, RunEnded):
                run.finish(self.session.clock())
        self.workbench.post_message(Drained(current, touched, followed))

    # --- the jobs: checks, search, lr-find, tune ------------------------------------------------

    def on_start_job(self, message: StartJob) -> None:
        self.start_job(message.kind, message.preset)

    def start_job(self, kind: str, preset: Preset | None = None) -> None:
        """Start a job of `kind` on `preset` (else the next run's) in a thread worker, and
        show it: the checks in their pane, the others in a view of their own."""
        s = self.session
        why = cannot_start(s, kind)
        if why or s.data is None:
            self.notify(textual_markup(why), severity="warning", timeout=3)
            return
        try:
            job = make_job(kind, preset or s.next_preset, s.data, s.runs_dir)
        except UserError as e:  # a runs directory that cannot be made, a pool that cannot start
            self.notify(textual_markup(e), title=f"cannot start {JOBS[kind]}", severity="error", timeout=8)
            return
        s.jobs[kind] = job
        if isinstance(job, ChecksJob):
            s.checks = job.state
            self._changed(NEW_CHECKS)
        else:
            self._views[job] = view = self._view(job)
            self.push_screen(view)
        self._work(job)

    @staticmethod
    def _view(job: SearchJob | LrFindJob | TuneJob) -> Screen:
        if isinstance(job, SearchJob):
            return SearchScreen(job)
        if isinstance(job, LrFindJob):
            return LrFindScreen(job)
        return TuneScreen(job)

    @work(thread=True, exit_on_error=False, group="jobs", name="job")
    def _work(self, job: AnyJob) -> None:
        """On a worker thread: run the job; its events and its end reach the app as messages
        (the job's own code never sees the app: jobs.py)."""

        def emit(event: object) -> None:
            self.post_message(JobEvent(job, event))

        ended, error = None, ""
        try:
            ended = job.run(emit)
        except Exception as e:  # noqa: BLE001 - shown in the job's view
            error = in_words(e)
        finally:
            job.done.set()
        self.post_message(JobEnded(job, ended, error))

    def on_job_event(self, message: JobEvent) -> None:
        message.job.fold(message.event)
        self._job_changed(message.job)

    def on_job_ended(self, message: JobEnded) -> None:
        job = message.job
        job.finish(message.ended, message.error)
        self._job_changed(job)
        self._views.pop(job, None)
        if isinstance(job, ChecksJob) and job.state is self.session.checks and job.state.passed is not None:
            results = job.state.results
            self.notify(
                f"sanity checks: {sum(r.passed for r in results)}/{len(results)} passed",
                severity="information" if job.state.passed else "warning",
                timeout=3,
            )

    def on_stop_job(self, message: StopJob) -> None:
        message.job.stop(message.reason)
        self._job_changed(message.job)

    def _job_changed(self, job: AnyJob) -> None:
        """Tell whoever shows the job that it changed."""
        if isinstance(job, ChecksJob):
            if job.state is self.session.checks:  # not a round the user has moved on from (o)
                self._changed(CHECKS)
            return
        view = self._views.get(job)
        if view is not None:
            view.post_message(JobUpdated(job))

    # --- help, screenshots and the command palette ------------------------------------------------

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Save an SVG of the screen in screenshots_dir (made if missing) and say where."""
        folder = Path(path) if path else self.screenshots_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
            saved = self.save_screenshot(filename, str(folder), time_format)
        except OSError as e:
            self.notify(
                f"{folder}: cannot save the screenshot ({e.strerror or e})", severity="error", timeout=8, markup=False
            )
            return None
        self.notify(f"saved {saved}", title="Screenshot", timeout=8, markup=False)
        return saved

    def keys_of(self, screen: Screen) -> list[Binding]:
        """The keys of `screen` that act now, as its help and the palette list them (help.keys_acting):
        the workbench's KEYS there; over another view, its own, then help and quit."""
        workbench = self.KEYS if screen is self.workbench else None
        return keys_acting(screen, GLOBAL_KEYS, workbench, watching=self.session.watching)

    def action_help(self) -> None:
        screen, watching = self.screen, self.session.watching
        if not isinstance(screen, HelpScreen):
            keys = self.keys_of(screen)
            self.push_screen(HelpScreen.over(screen, keys, workbench=screen is self.workbench, watching=watching))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The base palette, then the keys of the screen it opened over (keys_of), each by
        its short name, with what it does and its key as the help line."""
        yield from super().get_system_commands(screen)
        for b in self.keys_of(screen):
            if b.action in ("quit", "app.quit") or b in FOCUS_HELP:
                continue  # the base palette has Quit; focus and scrolling need the keys themselves
            title = escape(b.description[0].upper() + b.description[1:])  # the palette reads markup
            key = b.key_display or b.key
            help_line = escape(f"{key} · {b.tooltip}" if b.tooltip else key)
            target = self if b in GLOBAL_KEYS else screen
            yield SystemCommand(title, help_line, partial(self.run_action, b.action, target))

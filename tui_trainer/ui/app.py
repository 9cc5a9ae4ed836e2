"""The workbench: `tui-trainer` / `tui-trainer ui [PRESET] [--set K=V] [--runs-dir DIR]`.

The app owns what outlives a screen: the trainer host, the loaded data, this
session's runs and the jobs (the run lifecycle, the event drain, the checks,
the data loading, the search). The panes and their keys belong to the
workbench screen (screens/workbench.py), the app's default screen; a screen
pushed over it silences its keys by itself. Help, quit and the command
palette are the app's, so they work over every screen.

The trainer runs behind a host (trainer_host.Host): a child process by
default, a thread worker on request. Either way its events reach the app on
a background thread and cost one deque extend there (history.EventQueue);
the rare ones (run start and end, advice) also post a `Wake` message so they
show at once. A timer drains the queue a few times a second, folds the
events into the runs' histories and hands the screen what changed; the
screen redraws only that: the status bar every drain, the weights table at
most every `table_interval`, the plots at most every `plot_interval`
seconds, downsampled to about two points per column. The panes never read
the trainer's arrays, only the events.

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
from textual.markup import escape
from textual.screen import Screen

from ..config import Preset
from ..datasets import Dataset, load_dataset
from ..engine import RunControl, Trainer
from ..engine.events import RunEnded
from ..errors import UserError
from ..lab.checks import iter_checks
from ..records.run_folder import RunStore, close_abandoned
from ..usertext import textual_markup
from . import texts
from .history import LAYER, NOTES, RATIOS, EventQueue, RunHistory
from .host_events import HostEvent
from .messages import CheckLanded, ChecksDone, DataLoaded, RefineSearch, RunDone, UseConfig, Wake
from .screens.help import HelpScreen
from .screens.search import SearchJob, SearchScreen
from .screens.workbench import FOCUS_HELP, MIN_HEIGHT, MIN_WIDTH, RUN_KEYS, TAB_KEYS, WorkbenchScreen
from .trainer_host import Host, ProcessHost, ThreadHost, default_host

# Keys that work over every screen (the screens' own keys come first).
GLOBAL_KEYS = [
    Binding("question_mark", "help", "Help", key_display="?", tooltip="this help"),
    Binding("q", "quit", "Quit", tooltip="stop the trainer and quit"),
]
# The events a pane keeps itself (the rest it reads from the run's history when it redraws).
FOLLOWED = {RATIOS, NOTES, LAYER}


class WorkbenchApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "tui-trainer"
    ENABLE_COMMAND_PALETTE = True
    HORIZONTAL_BREAKPOINTS = [(0, "-tiny-w"), (MIN_WIDTH, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-tiny-h"), (MIN_HEIGHT, "-short"), (36, "-tall")]

    BINDINGS = [*GLOBAL_KEYS]
    # Every key, in the order the help screen lists them.
    KEYS = [*RUN_KEYS, *GLOBAL_KEYS, *TAB_KEYS, *FOCUS_HELP]

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
    ) -> None:
        super().__init__()
        # The palette's Screenshot saves here (Textual's default, ~/Downloads, may not exist).
        self.screenshots_dir = Path(screenshots_dir) if screenshots_dir else Path(runs_dir).parent / "screenshots"
        self.base_preset = preset  # the opened preset
        self.data_preset = preset  # whose data set is loaded, or loading
        self.next_preset = preset  # what space will run
        self.runs_dir = Path(runs_dir)
        self.clock = clock  # injectable: snapshot tests freeze it
        self.store_factory = store_factory
        self.trainer_cls = trainer_cls
        self.engine = engine or default_host()  # "process" (default) or "thread"
        self.host: Host | None = None
        self.drain_interval = drain_interval
        self.workbench = WorkbenchScreen(plot_interval, table_interval, id="_default")

        self.data: Dataset | None = None
        self.data_error = ""
        self.runs: list[RunHistory] = []  # this session's runs, oldest first
        self.current: RunHistory | None = None
        self.restarting = False  # space during a run: the next one starts when it has ended
        self.checks_control: RunControl | None = None
        self.checks_running = False
        self.search_job: SearchJob | None = None  # the search view's (it may outlive the view while stopping)
        self.events = EventQueue(self._wake)
        self.workers_done: list[threading.Event] = []
        self._start_when_loaded = False

    def get_default_screen(self) -> Screen:
        return self.workbench

    def on_mount(self) -> None:
        self.load_data(self.base_preset)
        self.call_after_refresh(self._ensure_host)  # after the first frame: starting a process takes a moment
        self.set_interval(self.drain_interval, self._drain)

    @property
    def _showing(self) -> bool:
        """True while the workbench's panes are up: not before its screen is mounted, nor
        once the app is exiting (late messages from workers find no panes then)."""
        return self.workbench.is_mounted and self.workbench.is_attached

    # --- data ---------------------------------------------------------------------

    def load_data(self, preset: Preset) -> None:
        """Load the preset's data set in a thread; DataLoaded says when it is there."""
        self.data, self.data_error = None, ""
        self.data_preset = preset
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
        except UserError as e:
            self.post_message(DataLoaded(preset, None, str(e)))
        except Exception as e:  # noqa: BLE001 - shown in the app, which keeps working
            self.post_message(DataLoaded(preset, None, f"{type(e).__name__}: {e}"))
        else:
            self.post_message(DataLoaded(preset, data))

    def on_data_loaded(self, message: DataLoaded) -> None:
        if message.preset is not self.data_preset:
            return  # another preset (or data setting) was chosen meanwhile
        self.data, self.data_error = message.data, message.error
        if message.error:
            self._start_when_loaded = False
            self.notify(textual_markup(message.error), title="cannot load the data", severity="error", timeout=8)
        if not self._showing:
            return  # the screen shows the data when it mounts
        if self._start_when_loaded:
            self._start_when_loaded = False
            self.start()
        self.workbench.refresh_all()

    @property
    def n_train(self) -> int:
        return self.data.X_train.shape[0] if self.data is not None else self.next_preset.data.num_train

    # --- the next run ----------------------------------------------------------------

    def set_next(self, preset: Preset) -> None:
        self.next_preset = preset
        if preset.data != self.data_preset.data:  # the form changed num_train or preprocess: load again
            self.load_data(preset)
        self.workbench.next_changed()

    def open_preset(self, preset: Preset) -> None:
        self.base_preset = self.next_preset = preset
        if not self.running:
            self.current = None  # the header and the panes show the opened preset at once
            self.workbench.new_run()
        self.load_data(preset)
        self.workbench.refresh_all()

    def on_use_config(self, message: UseConfig) -> None:
        """A past run's (or a search trial's) configuration becomes the next run's (its data set too)."""
        preset = message.preset
        if preset.data != self.base_preset.data:
            self.base_preset = preset
        self.set_next(preset)  # loads its data set when it differs
        self.workbench.flash(f"next run: the configuration of {message.run}")

    # --- runs ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.current is not None and self.current.t_end is None

    def ghosts(self) -> list[RunHistory]:
        """This session's earlier runs that have a loss curve."""
        return [r for r in self.runs if r is not self.current and r.steps_x.size]

    def _ensure_host(self) -> Host:
        if self.host is None:
            if self.engine == "thread":
                # its own daemon thread, not a Textual worker: quitting must not wait for a step
                self.host = ThreadHost(self._host_events, self._host_done)
            else:
                self.host = ProcessHost(self._host_events, self._host_done)
        return self.host

    def start(self) -> None:
        """Start the next run; during a run, stop it and start the next when it has ended."""
        if self.data is None:
            if self.data_error:
                self.notify(textual_markup(self.data_error), title="no data to train on", severity="error")
            else:
                self._start_when_loaded = True
                self.notify("the run starts when the data are loaded", timeout=2)
            return
        if self.running:
            self.restarting = True
            self._ensure_host().stop("restarted with space")
            self.workbench.refresh_status()
            return
        self._start_run(self.data)

    def _start_run(self, data: Dataset) -> None:
        run = RunHistory(number=len(self.runs) + 1, preset=self.next_preset)
        run.t_start = self.clock()
        self.runs.append(run)
        self.current = run
        self.workbench.new_run()
        self._ensure_host().run(
            run.number,
            self.next_preset,
            data,
            self.runs_dir,
            trainer_cls=self.trainer_cls,
            store_factory=self.store_factory,
        )
        self.workbench.refresh_all()

    def _host_events(self, number: int, events: list[HostEvent]) -> None:
        """On the host's thread: queue the events for the next drain."""
        self.events.push(self.runs[number - 1], events)

    def _host_done(self, number: int, where: str) -> None:
        self.post_message(RunDone(self.runs[number - 1], where))

    def on_run_done(self, message: RunDone) -> None:
        if not self._showing:
            return
        message.run.error_where = message.where
        self._drain()
        message.run.finish(self.clock())
        self.workbench.refresh_all()
        if self.restarting and message.run is self.current:
            self.restarting = False
            # start() again, not _start_run: a preset opened meanwhile may have its data still loading
            self.start()

    def toggle_pause(self) -> None:
        run = self.current
        if run is None or not self.running:
            self.notify("no run to pause; space starts one", timeout=2)
            return
        host = self._ensure_host()
        if run.paused_since is not None:
            host.resume()
            run.resume(self.clock())
        else:
            host.pause()
            run.pause(self.clock())
        self.workbench.refresh_status()

    def stop_run(self) -> None:
        if not self.running:
            self.notify("no run to stop", timeout=2)
            return
        self.restarting = False
        self._ensure_host().stop("stopped with x")

    async def action_quit(self) -> None:
        self._stop_everything("the workbench closed")
        self.exit(0)

    def _stop_everything(self, reason: str) -> None:
        self.restarting = False
        self._start_when_loaded = False
        if self.host is not None:
            self.host.stop(reason)
        if self.checks_control is not None:
            self.checks_control.stop(reason)
        if self.search_job is not None:
            self.search_job.stop(reason)

    def on_unmount(self) -> None:
        # Stop the trainer and wait for it (at most a second), so the process
        # exits now and not at the end of an epoch; the run's files are whole.
        self._stop_everything("the workbench closed")
        deadline = time.monotonic() + 1.0
        if self.host is not None:
            self.host.close(0.6)
            # A step that would not end in time: its process was killed; its record still ends.
            for run in self.runs:
                if run.ended is None and run.run_dir:
                    close_abandoned(self.runs_dir / run.run_dir, "the workbench closed during a step")
        for done in self.workers_done:
            done.wait(max(deadline - time.monotonic(), 0))
        if self.search_job is not None:  # trials that did not stop in time: end their processes
            self.search_job.close(max(deadline - time.monotonic(), 0))

    def _worker_done_event(self, done: threading.Event | None = None) -> threading.Event:
        """Made on the app's thread before a worker starts; the worker sets it on return
        (worker threads are pooled, so joining the thread would wait for the pool)."""
        done = done or threading.Event()
        self.workers_done = [d for d in self.workers_done if not d.is_set()] + [done]
        return done

    # --- the event stream ---------------------------------------------------------------

    def _wake(self) -> None:
        """Called on the trainer thread; post_message is thread-safe and does not block."""
        self.post_message(Wake())

    def on_wake(self, _: Wake) -> None:
        self._drain()

    def _drain(self) -> None:
        """Fold every queued event into its run's history; the screen redraws what changed."""
        if not self._showing:
            return
        screen = self.workbench
        touched: set[str] = set()
        current = self.current
        for run, event in self.events.drain():
            what = run.add(event)
            if run is current:
                touched.add(what)
                if what in FOLLOWED:
                    screen.follow(event)
            if isinstance(event, RunEnded):
                run.finish(self.clock())
        screen.show_drained(current, touched)

    # --- the search --------------------------------------------------------------------

    def on_refine_search(self, message: RefineSearch) -> None:
        self.start_search(message.preset)

    def start_search(self, preset: Preset | None = None) -> None:
        """Search the next run's preset (or `preset`: a refined search's) in the search view."""
        if self.data is None:
            self.notify(textual_markup(self.data_error or "the data are still loading"), severity="warning", timeout=2)
            return
        if self.running:
            self.notify("a run is going and the search needs the cores: x stops the run", timeout=3)
            return
        if self.search_job is not None and self.search_job.running:
            self.notify("the last search is still stopping", timeout=2)
            return
        try:
            job = SearchJob(preset or self.next_preset, self.runs_dir)
        except UserError as e:
            self.notify(textual_markup(e), title="cannot start the search", severity="error", timeout=8)
            return
        self.search_job = job
        self._worker_done_event(job.done)  # on_unmount waits for the search thread like the others
        self._search(job)
        self.push_screen(SearchScreen(job))

    @work(thread=True, group="search", exit_on_error=False, name="search")
    def _search(self, job: SearchJob) -> None:
        job.run()

    # --- sanity checks ---------------------------------------------------------------------

    def start_checks(self) -> bool:
        """Run the four sanity checks on the next run's setup in a thread; False when they cannot start."""
        if self.checks_running:
            self.notify("the checks are running", timeout=2)
            return False
        if self.data is None:
            self.notify(textual_markup(self.data_error or "the data are still loading"), severity="warning", timeout=2)
            return False
        self.checks_running = True
        self.checks_control = RunControl()
        self.workbench.checks_pane.begin(self.next_preset.name)
        self._run_checks(self.next_preset, self.data, self.checks_control, self._worker_done_event())
        return True

    @work(thread=True, exclusive=True, group="checks", exit_on_error=False, name="checks")
    def _run_checks(self, preset: Preset, data: Dataset, control: RunControl, done: threading.Event) -> None:
        error = ""
        try:
            for result in iter_checks(preset, data, control=control):
                self.post_message(CheckLanded(result))
                if control.stopped:
                    break
        except Exception as e:  # noqa: BLE001 - shown in the pane
            error = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
        finally:
            done.set()
        self.post_message(ChecksDone(error))

    def on_check_landed(self, message: CheckLanded) -> None:
        if not self._showing:
            return
        self.workbench.checks_pane.add(message.result)
        self.workbench.refresh_notes()

    def on_checks_done(self, message: ChecksDone) -> None:
        if not self._showing:
            return
        self.checks_running = False
        pane = self.workbench.checks_pane
        pane.end(message.error)
        self.workbench.refresh_notes()
        if pane.passed is not None:
            n = sum(r.passed for r in pane.results)
            self.notify(
                f"sanity checks: {n}/{len(pane.results)} passed",
                severity="information" if pane.passed else "warning",
                timeout=3,
            )

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

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.KEYS))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The base palette, then every key of the screen it opened over (the workbench's
        keys only there: over another view they would act unseen) and help."""
        yield from super().get_system_commands(screen)
        keys = self.KEYS if screen is self.workbench else GLOBAL_KEYS
        for b in keys:
            if b.action in ("quit",) or b in FOCUS_HELP:
                continue  # the base palette has Quit; focus and scrolling need the keys themselves
            title = b.tooltip or b.description
            title = escape(title[0].upper() + title[1:])  # the palette reads markup: "[search]" is text
            target = self if b in GLOBAL_KEYS else screen
            yield SystemCommand(title, f"key: {b.key_display or b.key}", partial(self.run_action, b.action, target))

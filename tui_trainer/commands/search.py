"""`tui-trainer search PRESET [--set KEY=VALUE]... [--workers N] [--scheduler ADDRESS] [--resume]
[--runs-dir DIR] [--json]`: a coarse-to-fine hyperparameter search. `--refine SEARCH_FOLDER`
instead of PRESET runs the next, finer search a finished search suggested (its next.toml).

The command's faces over the search runner (search.runner.run_search):
- a terminal: a live table of the trials, progress per stage, then the ranking;
- not a terminal: one plain line per trial and stage, then the ranking;
- `--json`: one JSON line per search event on stdout, and nothing else there.

Trials run on local worker processes (`--workers`, default: the cores this
process may use) or on a Dask cluster (`--scheduler tcp://HOST:PORT`, with
the `cluster` extra installed). Ctrl+C, SIGTERM or a hangup stops the search: queued
trials are cancelled, running ones stop within one iteration, and the
finished ones stay recorded for `--resume`. A second Ctrl+C aborts at once;
a signal the caller ignores (`nohup`, a background job) stays ignored.

Exit status: 0 finished, 130 stopped (Ctrl+C, SIGTERM or a hangup), 1 the
executor failed (a worker died; `--resume` continues), 2 bad input (also when
every trial failed on it, with the first trial's message) or the search is
already running in another process.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from ..config import Preset, load_preset
from ..config import to_dict as preset_dict
from ..engine.events import event_line
from ..errors import UserError, user_error_names
from ..formatting import accuracy, plural
from ..lab.search.importance import report_lines
from ..lab.search.leaders import leader_lines
from ..lab.search.pool import TrialPool
from ..lab.search.refine import refine_path
from ..lab.search.runner import (
    SearchControl,
    SearchEnded,
    SearchStarted,
    StageEnded,
    StageStarted,
    TrialEnded,
    TrialStarted,
    run_search,
)
from ..lab.search.space import TrialResult, best_trial, searched
from ..lab.search.texts import (
    describe_end,
    describe_next,
    describe_start,
    fmt_range,
    fmt_value,
    fmt_values,
    heading,
    in_order,
    trial_line,
)
from ..lab.search.trial import cached_dataset
from ..records.search_store import SearchStore
from ..usertext import clean, markup, one_line
from .console import BAD_INPUT, FAILED, StopOnSignals, exit_status, is_terminal, preflight, rich_console, say


def command(args) -> int:
    preset = load_preset(_preset_source(args), args.overrides)
    store = None
    if args.resume:
        store = SearchStore.latest(args.runs_dir, preset.name)
        preset = _resumed_preset(preset, store, bool(args.overrides))
    data = cached_dataset(preset.data, preset.where)  # bad data: exit 2 here, not once per trial
    device = "cpu"
    if not args.scheduler:  # a Dask cluster's workers have their own devices: their trials say what they lack
        # train.device, likewise; not the net's size: the searched hidden sizes decide
        # each trial's, and a trial too big fails with the line that says so.
        device = preflight(preset, data, check_size=False).name

    pool = TrialPool.open(args.scheduler, args.workers, device=device)
    ended: SearchEnded | None = None
    try:
        store = store or SearchStore.create(args.runs_dir, preset)
        control = SearchControl.for_pool(pool, store)
        face = _face(args)
        tally = _Tally(face)
        try:
            # A hangup (the terminal went away) stops the search as it stops a run.
            with StopOnSignals(lambda signal_name: control.stop(f"interrupted by {signal_name}"), hangup=True):
                ended = run_search(preset, pool, store, tally, control)
        finally:
            tally.close()
            control.close()
            store.close()
    finally:
        pool.close(graceful=ended is not None and ended.status == "finished")
    if ended.status == "finished" and tally.all_failed:
        # Every trial failed: not a search result but (almost always) bad input every trial hit.
        say(f"tui-trainer: every trial failed; the first: {one_line(tally.first_failure)}")
        return BAD_INPUT if tally.bad_input else FAILED
    if ended.status != "finished":
        say(
            f"tui-trainer: search {ended.status}: {one_line(ended.reason)}"
            + (f"; continue it with: {resume_command(args)}" if ended.trials or ended.status == "failed" else "")
        )
    return exit_status(ended.status)


def _preset_source(args) -> str:
    """The preset to search: PRESET, or with --refine the next.toml a finished search left."""
    if args.refine is None:
        if args.preset is None:
            raise UserError("search: give a PRESET (a name or .toml path), or --refine SEARCH_FOLDER")
        return args.preset
    if args.preset is not None or args.resume:
        raise UserError(
            f"--refine {args.refine} runs the search that folder's next.toml describes: "
            "give no PRESET and no --resume with it"
        )
    return str(refine_path(args.refine))


def resume_command(args) -> str:
    """The command that continues this search: the same preset, runs dir and overrides."""
    import shlex

    preset = args.preset or str(refine_path(args.refine))  # a refined search resumes from its next.toml
    words = ["tui-trainer", "search", preset, "--resume"]
    if str(args.runs_dir) != "runs":
        words += ["--runs-dir", str(args.runs_dir)]
    for item in args.overrides:
        words += ["--set", item]
    return " ".join(shlex.quote(w) for w in words)


def _resumed_preset(given: Preset, store: SearchStore, overridden: bool) -> Preset:
    """A resumed search keeps the preset it started with; --set must agree with it."""
    differs = _differences(given, store.preset)
    if differs and overridden:
        raise UserError(
            f"{store.path}: --resume continues a search with the preset it started with, and this one "
            f"differs in {', '.join(differs)}; drop the --set options, or start a new search without --resume"
        )
    if differs:
        say(
            f"tui-trainer: note: continuing {store.path.name} with the preset it started with "
            f"({store.path / 'preset.toml'}); the preset now differs in {', '.join(differs)}"
        )
    return store.preset


def _differences(a: Preset, b: Preset) -> list[str]:
    da, db = preset_dict(a), preset_dict(b)
    keys = []
    for section in da:
        if isinstance(da[section], dict):
            keys += [f"{section}.{k}" for k in da[section] if da[section][k] != db[section].get(k)]
        elif da[section] != db[section]:
            keys.append(section)
    return keys


class _Tally:
    """Passes the search's events to the face, remembering whether every trial failed
    and the first failure's reason; a face whose terminal is gone is left alone."""

    def __init__(self, face):
        self.face = face
        self.ended = 0
        self.failed = 0
        self.first_failure = ""
        self.gone = False

    def __call__(self, event) -> None:
        if isinstance(event, TrialEnded) and event.status != "stopped":
            self.ended += 1
            if event.status == "failed":
                self.failed += 1
                self.first_failure = self.first_failure or event.reason
        if self.gone:
            return
        try:
            self.face(event)
        except OSError:  # the terminal went away (a hangup): the search's record is what matters
            self.gone = True

    def close(self) -> None:
        if not self.gone:
            try:
                self.face.close()
            except OSError:
                self.gone = True

    @property
    def all_failed(self) -> bool:
        return self.ended > 0 and self.failed == self.ended

    @property
    def bad_input(self) -> bool:
        """The first failure is a UserError (the trial reports `TypeName: message`)."""
        return self.first_failure.split(":", 1)[0] in user_error_names()


# --- faces -------------------------------------------------------------------


def _face(args):
    if args.json:
        return _JsonFace()
    if is_terminal(sys.stdout):
        return _LiveFace()
    return _PlainFace()


class _JsonFace:
    def __call__(self, event) -> None:
        sys.stdout.write(event_line(event) + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        pass


class _PlainFace:
    """One line per ended trial and per stage; for logs and pipes. A resumed trial's reason
    comes from the store: what is printed is cleaned (usertext.clean)."""

    def __init__(self) -> None:
        self.stage_trials = 0
        self.ended = 0

    def __call__(self, event) -> None:
        if isinstance(event, SearchStarted):
            self._print(describe_start(event))
        elif isinstance(event, StageStarted):
            self.stage_trials, self.ended = event.trials, 0
            self._print(
                f"stage {event.stage}/{event.stages}: {plural(event.trials, 'trial')} x "
                f"{plural(event.epochs, 'epoch')}; {fmt_range(event.ranges)}"
            )
        elif isinstance(event, TrialEnded):
            if event.status != "stopped":
                self.ended += 1
            note = "  (recorded earlier)" if event.resumed else ""
            reason = f"  {event.reason}" if event.status in ("exploded", "failed") else ""
            self._print(
                f"  [{self.ended}/{self.stage_trials}] {event.trial_id} {event.status:<8} "
                f"{fmt_values(event.params)}  val acc {accuracy(event.best_val_acc)}  "
                f"{plural(event.epochs, 'epoch')}  {event.elapsed_s:.1f}s{note}{reason}"
            )
        elif isinstance(event, StageEnded):
            best = (
                "no trial with a val accuracy"
                if event.best is None
                else (
                    f"{event.best.trial_id} val acc {accuracy(event.best.best_val_acc)} "
                    f"({fmt_values(event.best.params)})"
                )
            )
            nxt = "" if event.next_ranges is None else f"; next: {fmt_range(event.next_ranges)}"
            self._print(f"stage {event.stage} best: {best}{nxt}")
        elif isinstance(event, SearchEnded):
            for line in describe_end(event):
                self._print(line)
            if event.ranking:
                self._print("ranking:")
                for i, r in enumerate(event.ranking, 1):
                    self._print(f"  {i:>2}. {trial_line(r)}  stage {r.stage}  {r.status}")
            for line in leader_lines(event.leaders):
                self._print(line)
            for line in report_lines(event.path):
                self._print(line)
            for w in event.warnings:
                self._print(f"warning: {w.message}")
            for line in describe_next(event):
                self._print(line)

    @staticmethod
    def _print(line: str) -> None:
        print(clean(line), flush=True)

    def close(self) -> None:
        pass


class _LiveFace:
    """A live rich table: stage progress bars, the current stage's trials, the best so far."""

    def __init__(self) -> None:
        from rich.live import Live

        self.console = rich_console()
        self.started: SearchStarted | None = None
        self.stages: dict[int, list[int]] = {}  # stage -> [ended, trials]
        self.stage_info: StageStarted | None = None
        self.rows: dict[str, Any] = {}  # trial id -> TrialStarted | TrialEnded (current stage)
        self.results: dict[str, TrialResult] = {}  # trial id -> every ended trial, all stages
        self.best: TrialResult | None = None
        self.notes: list[str] = []
        self._lock = threading.Lock()
        self.live = Live(
            get_renderable=self._render,
            console=self.console,
            refresh_per_second=4,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.live.start()

    def __call__(self, event) -> None:
        with self._lock:
            self._apply(event)
        if isinstance(event, SearchEnded):
            self.live.stop()
            self._final(event)

    def _apply(self, event) -> None:
        if isinstance(event, SearchStarted):
            self.started = event
            for i, s in enumerate(event.stages, 1):
                self.stages[i] = [0, s.trials]
        elif isinstance(event, StageStarted):
            self.stage_info, self.rows = event, {}
        elif isinstance(event, TrialStarted):
            self.rows[event.trial_id] = event
        elif isinstance(event, TrialEnded):
            self.rows[event.trial_id] = event
            self.results[event.trial_id] = event
            self.best = best_trial(self.results.values())
            if event.status != "stopped":
                self.stages[event.stage][0] += 1
        elif isinstance(event, StageEnded) and event.next_ranges is not None:
            self.notes.append(f"stage {event.stage} kept {', '.join(event.kept)}; next: {fmt_range(event.next_ranges)}")

    def _render(self):
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            parts: list[Any] = []
            if self.started is not None:
                parts.append(Text(describe_start(self.started), style="bold"))
                grid = Table.grid(padding=(0, 1))
                for number, (ended, total) in self.stages.items():
                    s = self.started.stages[number - 1]
                    grid.add_row(
                        f"stage {number}",
                        ProgressBar(total=total, completed=ended, width=30),
                        f"{ended}/{total} trials x {plural(s.epochs, 'epoch')}",
                    )
                parts.append(grid)
            for note in self.notes[-2:]:
                parts.append(Text(note, style="dim"))
            if self.stage_info is not None:
                parts.append(self._table())
            if self.best is not None:
                parts.append(Text(f"best so far: {trial_line(self.best)}", style="green"))
            return Group(*parts)

    def _table(self):
        from rich.table import Table

        info = self.stage_info
        table = Table(title=f"stage {info.stage}/{info.stages}: {fmt_range(info.ranges)}", title_justify="left")
        table.add_column("trial")
        table.add_column("status")
        keys = searched(info.ranges)
        for key in keys:
            table.add_column(heading(key), justify="right")
        table.add_column("val acc", justify="right")
        table.add_column("epochs", justify="right")
        table.add_column("time", justify="right")
        rows = list(self.rows.values())
        running = [r for r in rows if isinstance(r, TrialStarted)]
        ended = sorted(
            (r for r in rows if isinstance(r, TrialEnded)),
            key=lambda r: -(r.best_val_acc if r.best_val_acc is not None else -1),
        )
        room = max(3, self.console.height - 12)
        shown = (running + ended)[:room]
        colours = {"finished": "green", "exploded": "red", "failed": "red", "stopped": "yellow"}
        for r in shown:
            values = [fmt_value(k, r.params.get(k)) for k in keys]
            if isinstance(r, TrialStarted):
                cells = [r.trial_id, "[cyan]running[/]", *values]
                tail = ["", f"/{r.epochs}", ""]
            else:
                status = f"[{colours.get(r.status, 'white')}]{markup(r.status)}[/]" + (
                    " (earlier)" if r.resumed else ""
                )
                cells = [r.trial_id, status, *values]
                tail = [accuracy(r.best_val_acc), str(r.epochs), f"{r.elapsed_s:.1f}s"]
            table.add_row(*cells, *tail)
        if len(running) + len(ended) > len(shown):
            table.caption = f"{len(running) + len(ended) - len(shown)} more not shown"
        return table

    def _final(self, event: SearchEnded) -> None:
        from rich.table import Table

        for line in describe_end(event):
            self.console.print(markup(line), highlight=False)
        if event.ranking:
            keys = in_order({k for r in event.ranking for k in r.params})
            table = Table(title="ranking", title_justify="left")
            names = ["#", "trial", "stage", "status", *map(heading, keys), "val acc", "epochs"]
            for name in names:
                table.add_column(name, justify="left" if name in ("trial", "status") else "right")
            for i, r in enumerate(event.ranking, 1):
                cells = [str(i), markup(r.trial_id), str(r.stage), markup(r.status)]
                cells += [fmt_value(k, r.params.get(k)) for k in keys]
                table.add_row(*cells, accuracy(r.best_val_acc), str(r.epochs))
            self.console.print(table)
        for line in leader_lines(event.leaders):
            self.console.print(markup(line), highlight=False)
        for line in report_lines(event.path, self.console.width):
            self.console.print(markup(line), highlight=False, overflow="ignore", crop=False)
        for w in event.warnings:
            self.console.print(f"[bold yellow]warning:[/] {markup(w.message)}", highlight=False)
        for line in describe_next(event):
            self.console.print(markup(line), highlight=False)

    def close(self) -> None:
        if self.live.is_started:
            self.live.stop()

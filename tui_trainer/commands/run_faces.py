"""The three faces of `tui-trainer run` (see run.py), each a sink for the trainer's events:

    JsonLines     every event as one JSON line, for programs
    PlainLines    one line per epoch on stdout, for logs and CI
    Record        the numbers people see, folded per event; LiveDisplay draws them
                  a few times a second, then the summary table and the curves

The sinks only store numbers or write a line; the live display is redrawn by
rich's own refresh thread, so drawing never runs per step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from .. import formatting as fmt
from ..config import Preset
from ..engine import RunControl
from ..engine.events import Advice, Epoch, Event, RunEnded, RunStarted, event_line
from ..lab.charts import MARKERS, Chart, accuracy_lines, draw_accuracy
from ..lab.history import History
from ..usertext import clean, markup
from .console import rich_console, silence

REFRESH_PER_SECOND = 4


class JsonLines:
    """Every event as one JSON line on `out`, flushed, so a reader sees it at once.

    When the reader goes away (`| head`), the run stops instead of training for
    nobody; the record in the run directory is complete either way.
    """

    def __init__(self, out: IO[str], control: RunControl):
        self.out = out
        self.control = control
        self.ended = False
        self.closed = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunEnded):
            self.ended = True
        if self.closed:
            return
        try:
            self.out.write(event_line(event) + "\n")
            self.out.flush()
        except BrokenPipeError:
            self.closed = True
            silence(self.out)
            self.control.stop("stdout was closed (broken pipe)")


class PlainLines:
    """One line per epoch (and one at the start and the end) for logs and CI."""

    def __init__(self, out: IO[str], control: RunControl, run_dir: Path | None = None):
        self.out = out
        self.control = control
        self.run_dir = run_dir
        self.ended = False
        self.closed = False
        self.epochs = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            cfg = event.config
            self.epochs = cfg["train"]["epochs"]
            self._line(
                f"run {self.run_dir or event.run_id}: {cfg['data']['dataset']}, "
                f"{event.n_train} train / {event.n_val} val, "
                f"{event.classes} classes; {fmt.plural(self.epochs, 'epoch')} x "
                f"{fmt.plural(event.iterations_per_epoch, 'iteration')}; "
                f"initial loss {event.initial_loss:.4f}"
            )
        elif isinstance(event, Epoch):
            self._line(
                f"epoch {event.epoch}/{self.epochs}: loss {event.loss:.4f}  train acc {event.train_acc:.3f}  "
                f"val acc {event.val_acc:.3f}  lr {event.learning_rate:.3g}  {event.elapsed_s:.1f}s"
            )
        elif isinstance(event, Advice):
            self._line(f"advice: {event.message} {event.remedy}")
        elif isinstance(event, RunEnded):
            self.ended = True
            best = "n/a" if event.best_val_acc is None else f"{event.best_val_acc:.3f} (epoch {event.best_epoch})"
            self._line(
                f"{event.status}: {event.reason}; best val acc {best}; "
                f"{event.iterations} iterations in {event.elapsed_s:.1f}s"
            )

    def _line(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.out.write(clean(text) + "\n")  # a failure's reason may quote a path, a server's reply
            self.out.flush()
        except BrokenPipeError:
            self.closed = True
            silence(self.out)
            self.control.stop("stdout was closed (broken pipe)")


class Record(History):
    """The numbers the human faces show: the run's history (lab/history.py),
    folded on the trainer's thread and read by the display, plus the net's
    sizes and the signal that asked for a stop."""

    def __init__(self, input_dim: int = 0, classes: int = 0) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.classes = classes
        self.stopping: str | None = None  # the signal that asked for a stop


class LiveDisplay:
    """The live view for people, redrawn by rich's refresh thread, and the
    report (summary table and curves) after the run."""

    def __init__(self, record: Record, preset: Preset, stream: IO[str]):
        from rich.live import Live

        self.record = record
        self.preset = preset
        self.gone = False
        self.console = rich_console(file=stream, force_terminal=True)
        self.live = Live(
            console=self.console,
            get_renderable=self._render,
            transient=True,
            refresh_per_second=REFRESH_PER_SECOND,
            redirect_stdout=False,
        )

    def __enter__(self) -> LiveDisplay:
        self.live.start(refresh=True)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.live.stop()
        except OSError:  # the terminal is gone (a hangup); the run's record is what matters
            self.gone = True

    def _render(self):
        return live_view(self.record, self.preset)

    def report(self, run_path: Path) -> None:
        if self.gone:
            return
        try:
            self.console.print(summary_table(self.record, self.preset, run_path))
            curves = curves_text(self.record, self.console.width)
            if curves:
                from rich.text import Text

                self.console.print(Text.from_ansi(curves))
        except OSError:
            silence(self.console.file)


# --- what people see ----------------------------------------------------------------

SPARKS = "▁▂▃▄▅▆▇█"


def live_view(record: Record, preset: Preset):
    """The live panel: progress with ETA, loss with a sparkline, accuracies, learning rate."""
    from rich.console import Group, RenderableType
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    r, t = record, preset.train
    head = Text.assemble(
        (clean(preset.name), "bold"),
        f"  {preset.data.dataset}  {net_shape(r, preset)}  {t.update}",
        ("  lr ", "dim"),
        f"{t.learning_rate:g}",
        ("  reg ", "dim"),
        f"{t.reg:g}",
        ("  batch ", "dim"),
        str(t.batch_size),
    )
    if r.stopping:
        head = Text(f"stopping ({r.stopping}); press Ctrl+C again to stop at once", style="bold yellow")
    if r.started is None:
        return Group(head, Text("starting...", style="dim"))

    total = r.started.total_iterations
    elapsed = time.perf_counter() - r.started_clock
    rate = r.iteration / elapsed if elapsed > 0 else 0.0
    eta = (total - r.iteration) / rate if rate > 0 else math.nan
    epoch_now = min(int(r.current_epoch) + 1, t.epochs) if r.iteration else 1

    bar = Table.grid(expand=True, padding=(0, 1))
    bar.add_column(no_wrap=True)
    bar.add_column(ratio=1)
    bar.add_column(no_wrap=True, justify="right")
    bar.add_row(
        f"epoch {epoch_now}/{t.epochs}",
        ProgressBar(total=max(total, 1), completed=r.iteration),
        f"{r.iteration}/{total} it  {fmt.clock(elapsed)}  ETA {fmt.clock(eta)}",
    )
    loss = Text.assemble(
        ("loss ", "dim"),
        (f"{r.loss:.4f}", "bold"),
        " ",
        (sparkline(r.steps_loss, 24), "cyan"),
        (f"  initial {r.started.initial_loss:.4f}", "dim"),
        ("  lr ", "dim"),
        f"{r.learning_rate:.3g}",
        ("  ", ""),
        (f"{rate:.0f} it/s", "dim"),
    )
    last, best = (r.epochs[-1] if r.epochs else None), r.best
    acc = Text.assemble(
        ("train acc ", "dim"),
        fmt.accuracy(last.train_acc if last else None),
        ("  val acc ", "dim"),
        fmt.accuracy(last.val_acc if last else None),
    )
    if best:
        acc.append(f"  best val {best.val_acc:.3f} (epoch {best.epoch})", style="green")
    lines: list[RenderableType] = [head, bar, loss, acc]
    lines += [Text(f"advice: {a.message}", style="yellow") for a in r.advice[-2:]]
    return Group(*lines)


def summary_table(record: Record, preset: Preset, run_path: Path):
    from rich.table import Table

    r, e = record, record.ended
    table = Table(
        title=f"{markup(preset.name)}: {e.status if e else 'unknown'}",
        show_header=False,
        title_justify="left",
        box=None,
        padding=(0, 2, 0, 0),
    )
    table.add_column(style="dim", no_wrap=True)
    table.add_column(overflow="fold")
    style = {"finished": "green", "exploded": "red", "failed": "red", "stopped": "yellow"}.get(e.status if e else "")
    if e:
        table.add_row("status", f"[{style}]{e.status}[/]: {markup(e.reason)}")
    best = r.best
    table.add_row("best val acc", f"{best.val_acc:.3f} (epoch {best.epoch})" if best else "-")
    if r.epochs:
        last = r.epochs[-1]
        table.add_row(
            "last epoch",
            f"{last.epoch}: loss {last.loss:.4f}, train acc {last.train_acc:.3f}, val acc {last.val_acc:.3f}",
        )
    if r.started:
        table.add_row("loss", f"initial {r.started.initial_loss:.4f}, last step {r.loss:.4g}")
    if e:
        rate = f" ({e.iterations / e.elapsed_s:.0f} it/s)" if e.elapsed_s > 0 and e.iterations else ""
        table.add_row("iterations", f"{e.iterations} in {e.elapsed_s:.1f}s{rate}")
    t = preset.train
    table.add_row(
        "settings", f"{t.update}, lr {t.learning_rate:g}, reg {t.reg:g}, batch {t.batch_size}, {net_shape(r, preset)}"
    )
    for i, a in enumerate(r.advice):
        table.add_row("advice" if i == 0 else "", f"[yellow]{markup(a.message)}[/] {markup(a.remedy)}")
    table.add_row("run directory", markup(run_path))
    return table


def curves_text(record: Record, width: int, height: int = 14) -> str:
    """The loss per iteration and the accuracies per epoch, drawn by plotext into
    `width` columns: side by side when there is room, else one above the other.
    "" when there is nothing to draw."""
    r = record
    xs, losses = downsample(r.steps_loss, max(width, 40))  # about two points per column
    finite = [(x, v) for x, v in zip(xs, losses) if math.isfinite(v)]
    if not finite:
        return ""
    side_by_side = width >= 100 and r.epochs
    plot_width = max((width - 1) // 2 if side_by_side else width - 1, 20)
    loss = Chart(plot_width, height, xlabel="iteration", title="loss per iteration")
    loss.line([x for x, _ in finite], [v for _, v in finite], marker=MARKERS[0], color="cyan")
    plots = [_drawn(loss, lambda plt: loss.draw(plt, x=(0.0, float(len(r.steps_loss))), x_integer=True))]
    if r.epochs:
        acc = Chart(plot_width, height, xlabel="epoch", title="accuracy per epoch")
        epochs = [e.epoch for e in r.epochs]
        accuracy_lines(
            acc, epochs, [e.train_acc for e in r.epochs], [e.val_acc for e in r.epochs], colors=("green", "orange")
        )
        plots.append(_drawn(acc, lambda plt: draw_accuracy(acc, plt, x=(0.0, float(max(epochs[-1], 1))))))
    if side_by_side:
        left, right = (p.splitlines() for p in plots)
        return "\n".join(f"{a} {b}" for a, b in zip(left, right))
    return "\n".join(plots)


def _drawn(chart: Chart, draw: Callable[[Any], object]) -> str:
    """A chart drawn by plotext, as its text (in colour: the live view prints it on a terminal)."""
    import plotext as plt

    plt.clf()
    plt.theme("clear")
    plt.plotsize(chart.width, chart.height)
    draw(plt)
    text: str = plt.build()
    plt.clf()
    return text


def downsample(values: np.ndarray, points: int) -> tuple[list[int], list[float]]:
    """At most `points` (iteration, value) pairs: every k-th, so a plot never draws
    more points than it has room for. Iterations are 1-based."""
    step = max(1, math.ceil(len(values) / max(points, 1)))
    xs = list(range(1, len(values) + 1, step))
    return xs, values[::step].tolist()


def sparkline(values: np.ndarray, width: int) -> str:
    """The whole history in `width` block characters, each the mean of its bucket."""
    sample = values[:: max(1, len(values) // (width * 8))]
    finite = sample[np.isfinite(sample)].tolist()
    if not finite:
        return ""
    buckets = [finite[i * len(finite) // width : (i + 1) * len(finite) // width] for i in range(width)]
    means = [sum(b) / len(b) for b in buckets if b]
    lo, hi = min(means), max(means)
    span = hi - lo or 1.0
    return "".join(SPARKS[min(int((m - lo) / span * len(SPARKS)), len(SPARKS) - 1)] for m in means)


def net_shape(record: Record, preset: Preset) -> str:
    """The layer sizes, input to classes: 784-50-10."""
    return "-".join(str(x) for x in [record.input_dim or "?", *preset.model.hidden, record.classes or "?"])

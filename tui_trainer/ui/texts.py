"""What the status bar and the notes say: pure functions of the workbench's state.

No Textual here: each takes plain values (the runs' histories, the presets,
the data set's sizes) and returns what a pane shows, so a test reads the
words without driving the app.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config import FILE_DATASETS, Preset
from ..datasets import Dataset
from ..datasets.cache import data_dir
from ..datasets.loading import data_path
from ..engine.events import RunEnded
from ..lab.checks import CheckResult
from ..usertext import clean, one_line
from .history import RunHistory
from .widgets.hyperparams import differences


def status_fields(
    run: RunHistory | None, next_preset: Preset, *, loaded: bool, data_error: str, restarting: bool, now: float
) -> dict[str, object]:
    """The status bar's fields (StatusBar.show's keywords) for the current run, or for the
    next one before any run; `now` is on the app's clock, in seconds."""
    preset = next_preset if run is None else run.preset
    # The device the run actually trains on, from its run_started (train.device
    # "auto" may have fallen back to the CPU); nothing before it has started.
    device = run.started.device if run is not None and run.started is not None else ""
    fields: dict[str, object] = dict(preset=preset.name, dataset=preset.data.dataset, device=device)
    if run is None:
        status = "failed" if data_error else ("idle" if loaded else "loading")
        note = "cannot load the data" if data_error else "space starts a run" if loaded else "loading the data…"
        return dict(
            **fields,
            run_number=None,
            status=status,
            epoch=0,
            epochs=preset.train.epochs,
            iteration=0,
            iterations=None,
            elapsed=None,
            eta=None,
            note=note,
        )
    note = ""
    if run.ended is not None:
        note = ended_note(run.ended)
    elif restarting:
        note = "restarting…"
    elif run.started is None:
        note = "starting…"
    if run.seed is not None:  # a seed group's run (n): which seed, before how it ended
        note = f"seed {run.seed[0]} of {run.seed[1]}" + (f" · {note}" if note else "")
    return dict(
        **fields,
        run_number=run.number,
        status=run.status,
        epoch=run.current_epoch,
        epochs=run.total_epochs,
        iteration=run.iteration,
        iterations=run.total_iterations,
        elapsed=run.elapsed(now),
        eta=run.eta(now),
        note=one_line(note),  # a run's reason: a failure's message, a path
    )


def ended_note(e: RunEnded) -> str:
    """How a run ended, in the status bar: its best val accuracy when it finished, else why it ended."""
    if e.status == "finished" and e.best_val_acc is not None:
        return f"best val acc {e.best_val_acc:.3f} (epoch {e.best_epoch})"
    return e.reason


def missing_data(preset: Preset) -> str | None:
    """What to do, inside the workbench, when the preset's data set is not on disk; None when it is
    (or is bundled). The headless commands' message offers --set, which the workbench has not."""
    cfg = preset.data
    if cfg.dataset not in FILE_DATASETS or data_path(cfg).exists():
        return None
    if cfg.dataset == "npz":
        return (
            f"{preset.name}: data.path {cfg.path or '(not set)'} does not exist; "
            f"give the path of an .npz file in {preset.source}, then press o and open it again"
        )
    if cfg.path:
        return (
            f"{preset.name}: data.path {cfg.path} does not exist; fix it in {preset.source}, or run "
            f"`tui-trainer data fetch {cfg.dataset} --dir {cfg.path}` in a shell, then press o and open it again"
        )
    return (
        f"{preset.name} trains on {cfg.dataset}, which is not downloaded yet: run "
        f"`tui-trainer data fetch {cfg.dataset}` in a shell (it goes to {data_dir()}), "
        f"then press o and open {preset.name} again"
    )


def notes(
    run: RunHistory | None,
    *,
    base_preset: Preset,
    next_preset: Preset,
    data: Dataset | None,
    data_error: str,
    runs_dir_name: str,
    checks: Sequence[CheckResult] = (),
    checks_error: str = "",
) -> list[tuple[str, str]]:
    """The advice slot's lines, (kind, text) with kind info/good/warn/bad: the data or the
    run's status and reason, failed checks, and what the next run changes."""
    lines: list[tuple[str, str]] = []
    p = next_preset
    if data_error:
        lines.append(("bad", data_error))
        if missing_data(p) is None:  # the missing-data sentence already says what to do
            lines.append(("info", "o opens another preset"))
    elif data is None:
        lines.append(("info", f"loading {p.data.dataset}…"))
    elif run is None:
        lines.append(("info", f"{p.name}: {p.description}" if p.description else p.name))
        lines.append(
            (
                "info",
                f"{data.name}: {data.X_train.shape[0]} train / {data.X_val.shape[0]} val, "
                f"{data.num_classes} classes, {data.input_dim} inputs",
            )
        )
        lines.append(("info", "space trains; c runs the sanity checks first, as the lecture does"))
    if run is not None:
        lines += run_lines(run, runs_dir_name)
    for r in checks:
        if not r.passed:
            lines.append(("warn", f"check {r.name} failed: {r.advice}"))
    if checks_error:
        lines.append(("bad", f"checks: {checks_error}"))
    base = run.preset if run is not None else base_preset
    changes = [f"{name} {was} → {will}" for name, was, will in differences(base, p)]
    if changes:
        lines.append(("info", "next run: " + ", ".join(changes)))
    # A preset's description, a path, a failure's reason: the user's text, shown as written
    # without what would reach the terminal as escape sequences.
    return [(kind, clean(text)) for kind, text in lines]


def run_lines(run: RunHistory, runs_dir_name: str) -> list[tuple[str, str]]:
    """Where the run is recorded, how it started and how it ended."""
    lines: list[tuple[str, str]] = []
    if run.run_dir:
        lines.append(("info", f"run {run.number} is recorded in {runs_dir_name}/{run.run_dir}"))
    if run.started is not None:
        s = run.started
        lines.append(
            (
                "info",
                f"initial loss {s.initial_loss:.4f} · {s.n_train} train, {s.n_val} val, "
                f"{s.iterations_per_epoch} iterations per epoch",
            )
        )
        if s.device == "cpu" and run.preset.train.device == "auto":
            lines.append(("info", 'train.device "auto" found no usable GPU: this run trains on the CPU'))
    if run.ended is not None:
        e = run.ended
        kind = {"finished": "good", "stopped": "warn"}.get(e.status, "bad")
        text = f"{e.status}: {e.reason}"
        if e.best_val_acc is not None:
            text += f"; best val acc {e.best_val_acc:.3f} (epoch {e.best_epoch})"
        lines.append((kind, text))
        if run.error_where:
            lines.append(("bad", f"at {run.error_where}"))
    return lines

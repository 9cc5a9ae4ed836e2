"""The run directory: one folder per run, written so a crash loses nothing earlier.

    runs/20261124-171500-default-3f2a/
        config.toml       the resolved preset
        preprocess.npz    the preprocessing statistics fitted on the training split
        metrics.jsonl     every event, one JSON line each, flushed as written
        summary.json      status, best val acc, timings (written atomically at the end)
        group.txt         the seed group's id, for a run of `run --seeds N` (absent otherwise)
        labels.json       the tags and one-line note a user gave it in the runs view (absent otherwise)
        best.npz          the best parameters by val accuracy (written atomically)

    store = RunStore.create("runs", preset, dataset)
    trainer = Trainer(preset, dataset, sink=Fanout(store, other_sink), on_epoch=store.on_epoch,
                      run_id=store.run_id)

Whole files (config, summary, checkpoint) are written to a temporary file in
the same folder and renamed over the target, so a killed process leaves
either the old file or the new one, never half of one.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time as _time
import tomllib
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import FILE_DATASETS, Preset, loads_preset, to_toml
from ..datasets.base import Dataset
from ..datasets.limits import check_npz
from ..engine.events import Epoch, Event, RunEnded, RunStarted, Step, event_line, from_dict, jsonable
from ..errors import UserError
from ..formatting import short_run_name
from .atomic import atomic_save_npz, atomic_write_text, new_record_dir, record_problem
from .follow import held_locks
from .locks import mark_in_use
from .reading import read_lines, read_text
from .run_live import INCOMPLETE, best_val_so_far, run_status

GROUP_FILE = "group.txt"  # the seed group's id, one line; absent for a lone run and for older records
LABELS_FILE = "labels.json"  # the user's tags and one-line note ({"tags": [...], "note": "..."}); absent until set


class RunStore:
    """A sink that records one run in its own folder."""

    def __init__(self, path: Path, preset: Preset, run_id: str, group: str | None = None):
        self.path = Path(path)
        self.preset = preset
        self.run_id = run_id
        self.group = group  # the seed group this run belongs to (`run --seeds N`); None for a lone run
        self.started_at = _dt.datetime.now().astimezone()
        self._metrics = open(self.path / "metrics.jsonl", "a", encoding="utf-8")
        mark_in_use(self._metrics.fileno())  # running while held: dropped when closed or the process dies
        self._started: RunStarted | None = None
        self._last_epoch: Epoch | None = None
        self.ended = False  # summary.json written; the record is complete
        self._logged_end = False
        self._abandoned = False  # abandon(): nothing more is written

    @classmethod
    def create(
        cls, runs_dir: str | Path, preset: Preset, dataset: Dataset | None = None, group: str | None = None
    ) -> RunStore:
        path = new_record_dir(runs_dir, "{stamp}-{name}-{id}", preset.name)
        try:
            atomic_write_text(path / "config.toml", to_toml(preset, moot_keys(preset)))  # what the run used
            if dataset is not None and dataset.preprocess:
                atomic_save_npz(path / "preprocess.npz", dataset.preprocess)
            if group is not None:  # written first, so a run killed mid-way still shows in its group
                atomic_write_text(path / GROUP_FILE, group + "\n")
            return cls(path, preset, f"{path.name}", group)
        except OSError as e:
            raise record_problem(path, "write the run's record", e) from None

    def __call__(self, event: Event) -> None:
        if self.ended or self._abandoned:
            return
        # One run_ended line per run, even when an interrupt repeats the event
        # after the line was written but before the summary was (or before this
        # store could note that it was: hence the look at the file's last line).
        if isinstance(event, RunEnded) and not self._logged_end and not self._metrics.closed:
            self._logged_end = self._ends_with_run_ended()
        if not self._metrics.closed and not (isinstance(event, RunEnded) and self._logged_end):
            try:
                self._metrics.write(event_line(event) + "\n")
                self._metrics.flush()
            except OSError as e:
                # A full disk: the lines before stay whole; the run fails with one line saying why.
                self._drop_metrics()
                raise record_problem(self.path / "metrics.jsonl", "write the run's record", e) from None
            self._logged_end = isinstance(event, RunEnded)
        if isinstance(event, RunStarted):
            self._started = event
        elif isinstance(event, Epoch):
            self._last_epoch = event
        elif isinstance(event, RunEnded):
            self._finish(event)

    def _ends_with_run_ended(self) -> bool:
        try:
            self._metrics.flush()
            with open(self.path / "metrics.jsonl", "rb") as f:
                end = f.seek(0, os.SEEK_END)
                f.seek(max(end - 4096, 0))
                last = f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        except OSError:
            return False
        return last.startswith(b'{"event": "run_ended"')

    def on_epoch(self, trainer) -> None:
        """Trainer hook: keep best.npz current whenever the best epoch is the one just done."""
        if trainer.best_epoch is not None and trainer.best_epoch == (
            self._last_epoch.epoch if self._last_epoch else None
        ):
            self.save_best(trainer.best_params)

    def save_best(self, params: dict[str, np.ndarray] | None) -> None:
        if params and not self._abandoned:
            try:
                atomic_save_npz(self.path / "best.npz", params)
            except OSError as e:
                raise record_problem(self.path / "best.npz", "save the best parameters", e) from None

    def _finish(self, ended: RunEnded) -> None:
        t = self.preset.train
        summary = {
            "run_id": self.run_id,
            "preset": self.preset.name,
            "dataset": self.preset.data.dataset,
            "status": ended.status,
            "reason": ended.reason,
            "best_val_acc": ended.best_val_acc,
            "best_epoch": ended.best_epoch,
            "final_train_acc": self._last_epoch.train_acc if self._last_epoch else None,
            "final_val_acc": self._last_epoch.val_acc if self._last_epoch else None,
            "epochs_run": self._last_epoch.epoch if self._last_epoch else 0,
            "iterations": ended.iterations,
            "initial_loss": self._started.initial_loss if self._started else None,
            "learning_rate": t.learning_rate,
            "reg": t.reg,
            "batch_size": t.batch_size,
            "update": t.update,
            "hidden": list(self.preset.model.hidden),
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "ended_at": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "elapsed_s": ended.elapsed_s,
        }
        if self.group is not None:  # a lone run's summary stays as it was
            summary["group"] = self.group
        summary = jsonable(summary)
        try:
            atomic_write_text(self.path / "summary.json", json.dumps(summary, indent=2) + "\n")
        except OSError as e:
            self._drop_metrics()
            raise record_problem(self.path / "summary.json", "write the run's summary", e) from None
        self.ended = True
        self.close()

    def _drop_metrics(self) -> None:
        """Close the metrics log after a failed write, and cut the torn line the
        disk took part of, so every line left is a whole event."""
        try:
            self._metrics.close()
        except OSError:
            pass
        cut_torn_line(self.path / "metrics.jsonl")

    def close(self) -> None:
        if not self._metrics.closed:
            self._metrics.close()

    def abandon(self) -> None:
        """Write nothing more: the workbench left a trainer thread stuck in a step,
        and close_abandoned ends the record in its place (a step that ends later
        must not add a second run_ended or overwrite the summary)."""
        self._abandoned = True
        self.close()


@dataclass(frozen=True)
class RunInfo:
    """One past run as `tui-trainer runs` and the runs view list it."""

    path: Path
    name: str
    started_at: str
    status: str
    best_val_acc: float | None
    learning_rate: float | None
    reg: float | None
    batch_size: int | None
    preset: str
    elapsed_s: float | None
    dataset: str = ""
    seed: int | None = None  # train.seed: what varies within a seed group
    group: str | None = None  # the seed group (summary.json's "group"); None for a lone run or an old record
    settings: dict[str, Any] = field(default_factory=dict)  # config.toml flattened: "train.reg" -> value
    tags: tuple[str, ...] = ()  # labels.json's
    note: str = ""


def cut_torn_line(path: Path) -> None:
    """Cut a last line without its newline (a write a full disk or a kill broke off),
    so every line left is a whole event."""
    try:
        with open(path, "rb+") as f:
            end = f.seek(0, os.SEEK_END)
            start = max(end - (1 << 20), 0)
            f.seek(start)
            tail = f.read()
            if tail and not tail.endswith(b"\n"):
                cut = tail.rfind(b"\n")
                if cut >= 0 or start == 0:
                    f.truncate(start + cut + 1)
    except OSError:
        pass  # the lines before are whole either way; read_metrics skips a torn last one


def close_abandoned(path: str | Path, reason: str) -> bool:
    """End the record of a run whose process was killed mid-step (the workbench closing
    on a step that would not end): a torn last line cut, run_ended appended (status
    stopped, `reason`), summary.json written from what metrics.jsonl holds, and the
    temporary files of an interrupted write removed. False if the run had ended."""
    path = Path(path)
    for tmp in path.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    if (path / "summary.json").exists() or not (path / "metrics.jsonl").is_file():
        return False
    try:
        preset = recorded_preset(path)
    except UserError:
        return False
    cut_torn_line(path / "metrics.jsonl")
    started, last_epoch, best, iterations, ended = None, None, None, 0, None
    for d in read_metrics(path):
        try:
            event = from_dict(d)
        except (KeyError, TypeError, ValueError):
            continue
        if isinstance(event, RunStarted):
            started = event
        elif isinstance(event, Epoch):
            last_epoch = event
            best = event if best is None or event.val_acc > best.val_acc else best
        elif isinstance(event, Step):
            iterations = event.iteration
        elif isinstance(event, RunEnded):
            ended = event
    store = RunStore(path, preset, path.name, _group_of(path))
    store._started, store._last_epoch = started, last_epoch
    try:  # when it began: the folder's stamp (the store's own clock says now)
        store.started_at = _dt.datetime.strptime(path.name[:15], "%Y%m%d-%H%M%S").astimezone()
    except ValueError:
        pass
    if ended is None:
        elapsed = last_epoch.elapsed_s if last_epoch else 0.0
        ended = RunEnded(
            "stopped",
            reason,
            best.val_acc if best else None,
            best.epoch if best else None,
            iterations,
            elapsed,
        )
        store(ended)  # the run_ended line and the summary
    else:
        store._logged_end = True
        store(ended)  # the line is there: the summary only
    return True


def recorded_preset(run_dir: str | Path) -> Preset:
    """The preset a run was trained with (its config.toml, read as a record is:
    reading.read_text); a UserError naming the file when it cannot be used."""
    file = Path(run_dir) / "config.toml"
    try:
        text = read_text(file)
    except OSError as e:
        raise UserError(f"{file}: cannot read the run's preset: {e.strerror or e}") from None
    except ValueError as e:  # not UTF-8
        raise UserError(f"{file}: cannot read the run's preset: not UTF-8 text ({e})") from None
    return loads_preset(text, source=str(file))


def list_runs(runs_dir: str | Path) -> list[RunInfo]:
    """Every run folder under runs_dir, oldest first. A run without summary.json is
    "running" or "incomplete" (killed, or made by hand) by run_live.run_status, with the
    best val accuracy of the epochs its metrics.jsonl holds so far: the one rule every
    face that lists runs shows."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    out = []
    held, now = held_locks(), _time.time()  # read once for the whole listing
    for d in sorted(p for p in runs_dir.iterdir() if p.is_dir() and (p / "config.toml").is_file()):
        summary = _table(_read(d / "summary.json", json.loads))
        cfg = _table(_read(d / "config.toml", tomllib.loads))
        train = _table(cfg.get("train"))
        stamp = d.name[:15]
        try:
            started = _dt.datetime.strptime(stamp, "%Y%m%d-%H%M%S").strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            started = _of(str, summary.get("started_at")) or ""
        info = RunInfo(
            path=d,
            name=d.name,
            started_at=started,
            status=_of(str, summary.get("status")) or INCOMPLETE,
            best_val_acc=_of(float, summary.get("best_val_acc")),
            learning_rate=_of(float, train.get("learning_rate")),
            reg=_of(float, train.get("reg")),
            batch_size=_of(int, train.get("batch_size")),
            preset=_of(str, cfg.get("name")) or "",
            elapsed_s=_of(float, summary.get("elapsed_s")),
            dataset=_of(str, _table(cfg.get("data")).get("dataset")) or "",
            seed=_of(int, train.get("seed")),
            group=_group_of(d),
            settings=flat_settings(cfg),
            **_labels(d),
        )
        if info.status == INCOMPLETE:
            best = best_val_so_far(d / "metrics.jsonl")
            info = replace(info, status=run_status(info, now, held), best_val_acc=best)
        out.append(info)
    return out


MAX_NOTE = 200  # characters: a note is one line in a table, not a lab book
MAX_TAGS = 20


def _group_of(path: Path) -> str | None:
    """The seed group group.txt names (read bounded, on one line), None for a lone run."""
    return _read(path / GROUP_FILE, lambda text: " ".join(text.split())[:MAX_NOTE]) or None


def _labels(path: Path) -> dict[str, Any]:
    """labels.json as write_labels keeps it; what a hand edit made of it that is not (not a table,
    tags not a list of words, a note of many lines or too long) is read as write_labels would write it."""
    raw = _table(_read(path / LABELS_FILE, json.loads))
    tags, note = raw.get("tags"), raw.get("note")
    words = " ".join(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else ""
    return {"tags": parse_tags(words), "note": " ".join(note.split())[:MAX_NOTE] if isinstance(note, str) else ""}


def parse_tags(text: str) -> tuple[str, ...]:
    """Tags as a user types them: separated by commas or spaces, each once, in order."""
    words = text.replace(",", " ").split()
    return tuple(dict.fromkeys(words))[:MAX_TAGS]


def write_labels(path: str | Path, tags: tuple[str, ...], note: str) -> None:
    """Keep a run's tags and note in its folder (labels.json, written atomically); a note is one
    line (line breaks become spaces) of at most MAX_NOTE characters."""
    path = Path(path)
    note = " ".join(note.split())[:MAX_NOTE]
    try:
        atomic_write_text(path / LABELS_FILE, json.dumps({"tags": list(tags), "note": note}, indent=2) + "\n")
    except OSError as e:
        raise record_problem(path / LABELS_FILE, "write the run's tags and note", e) from None


def flat_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """A config.toml as one level of "section.key" -> value (lists as tuples, so values compare);
    the top-level keys (name, description) keep their own names."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                out[f"{key}.{sub}"] = _frozen(v)
        else:
            out[key] = _frozen(value)
    return out


def _frozen(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_frozen(x) for x in v)
    if isinstance(v, dict):  # a table in a list (search.stages): kept a table, so --json shows it as one
        return {k: _frozen(x) for k, x in v.items()}
    return v


# A run's files may have been edited by hand or torn by a crash: what cannot be
# read, or is not of the type a record holds, reads as missing, never as an error.


def moot_keys(p: Preset) -> set[str]:
    """The keys the preset's other settings make moot, which a run's config.toml leaves
    out (they read back as their defaults): the spiral's shape on any other data set, a
    path on a bundled one, init_std for xavier and he, momentum for the rules without it,
    batch_size for full-batch descent."""
    moot = set()
    if p.data.dataset != "spiral":
        moot |= {"data.classes", "data.noise"}
    if p.data.dataset not in FILE_DATASETS:
        moot.add("data.path")
    if p.model.init != "gaussian":
        moot.add("model.init_std")
    if p.train.update not in ("momentum", "nesterov"):
        moot.add("train.momentum")
    if not p.train.sample_batches:
        moot.add("train.batch_size")
    return moot


def find_run(run: str, runs_dir: str | Path) -> Path | None:
    """The run folder `run` names: a path to one, a folder name in runs_dir, or that name
    without its date and time (default-3f2a), as `tui-trainer runs` lists it on a narrow
    terminal, when one run has it (else None: none, or several)."""
    for candidate in (Path(run), Path(runs_dir) / run):
        if candidate.is_dir() and (candidate / "config.toml").is_file():
            return candidate
    if "/" in run or os.sep in run:
        return None
    found = [p.parent for p in Path(runs_dir).glob("*/config.toml") if short_run_name(p.parent.name) == run]
    return found[0] if len(found) == 1 else None


def _read(path: Path, parse: Any) -> Any:
    try:
        return parse(read_text(path))
    except (OSError, ValueError, RecursionError):  # UnicodeDecodeError and TOMLDecodeError are ValueErrors
        return None


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _of(kind: type, value: Any) -> Any:
    """value if it is a `kind` (an int counts as a float, a bool as neither), else None."""
    if isinstance(value, bool):
        return None
    if kind is float and isinstance(value, int):
        return float(value)
    return value if isinstance(value, kind) else None


def read_summary(path: str | Path) -> dict[str, Any] | None:
    """A run's summary.json as written; None while it runs, or when the file cannot be read."""
    summary = _read(Path(path) / "summary.json", json.loads)
    return summary if isinstance(summary, dict) else None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The events of a run's metrics.jsonl; a torn last line (a killed writer) is skipped,
    and so is anything after a line that is not an event (reading.read_lines bounds each)."""
    events = []
    for line in read_lines(Path(path) / "metrics.jsonl"):
        try:
            events.append(json.loads(line))
        except (ValueError, RecursionError):
            break
    return events


def read_w1(run_dir: str | Path) -> np.ndarray:
    """The first layer's weights of a run's best.npz (what `runs --export-weights` draws and the
    watcher shows), a UserError naming the file when they cannot be drawn."""
    path = Path(run_dir) / "best.npz"
    if not path.is_file():
        raise UserError(f"{path}: missing; the run saved no parameters (it ended before its first epoch?)")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "W1" not in f.files:
                raise UserError(f"{path}: holds no W1 (found {', '.join(f.files) or 'nothing'})")
            check_npz(f, path, ("W1",))  # a header that lies is refused before it is read
            w1 = np.asarray(f["W1"])
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(f"{path}: not a readable .npz file ({e})") from None
    if w1.ndim != 2 or w1.shape[1] == 0 or not np.issubdtype(w1.dtype, np.floating):
        raise UserError(
            f"{path}: W1 must be a real (inputs, units) matrix with at least one unit; "
            f"found dtype {w1.dtype}, shape {w1.shape}"
        )
    if not np.all(np.isfinite(w1)):
        raise UserError(f"{path}: W1 holds NaN or infinite weights (the run exploded?); nothing to draw")
    return w1

"""How a run, a search and an lr-find that other processes write (or wrote, and were killed)
read in every face: run_live.run_status and the best val so far, the runs view's followers,
a watched run once its process or its folder is gone, a search that finished without a
next.toml, an lr-find still sweeping. Fake folders and held locks; one short real lr-find."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tui_trainer.cli import main
from tui_trainer.config import load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer
from tui_trainer.engine.events import Epoch, Step, event_line
from tui_trainer.lab.search.texts import describe_end
from tui_trainer.records.follow import POLL_BYTES, held_locks
from tui_trainer.records.run_folder import RunStore, list_runs
from tui_trainer.records.run_live import RUN_SILENT_S, UNLOCKED_SILENT_S, best_val_so_far, run_status
from tui_trainer.records.search_store import SearchStore
from tui_trainer.records.watched import list_jobs
from tui_trainer.ui.watched_jobs import WatchedSearch
from tui_trainer.ui.watching import LiveRuns, WatchedRun, notes

LOCKS = held_locks() is not None
needs_locks = pytest.mark.skipif(not LOCKS, reason="no /proc/locks: a run's lock cannot be seen")


def age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def epochs(*accs: float) -> str:
    return "".join(event_line(Epoch(i, 1.0, 0.5, acc, 0.1, float(i))) + "\n" for i, acc in enumerate(accs, 1))


def killed_run(runs: Path, *accs: float) -> Path:
    """A run folder whose process is gone: no summary, no lock, its epochs in metrics.jsonl."""
    store = RunStore.create(runs, load_preset("spiral"))
    with open(store.path / "metrics.jsonl", "a") as f:
        f.write(epochs(*accs))
    store.close()  # as the kernel closes a killed process's files: its lock goes
    return store.path


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    """A short spiral run, recorded whole (its folder is copied, then cut, by the tests)."""
    preset = load_preset("spiral", ["train.epochs=3"])
    data = load_dataset(preset.data)
    store = RunStore.create(tmp_path_factory.mktemp("one") / "runs", preset, data)
    Trainer(preset, data, store, run_id=store.run_id, on_epoch=store.on_epoch).run()
    return store.path


def cut_short(real_run: Path, runs: Path) -> Path:
    """A copy of a real run as its killing left it: no summary, no run_ended line, quiet."""
    folder = shutil.copytree(real_run, runs / real_run.name)
    (folder / "summary.json").unlink()
    lines = (folder / "metrics.jsonl").read_text().splitlines(keepends=True)
    (folder / "metrics.jsonl").write_text("".join(lines[:-1]))
    age(folder / "metrics.jsonl", 60)
    return folder


# --- 1. the rule --------------------------------------------------------------------------------------


def test_an_unlocked_run_reads_running_only_within_a_short_grace(tmp_path):
    """A run killed with kill -9, or a folder made by hand, holds no lock: with /proc/locks
    readable it is incomplete once its file is quiet for UNLOCKED_SILENT_S (not two minutes);
    within that grace (a writer on another machine of a shared folder) it is running. Without
    /proc/locks only the file's age tells, as before."""
    killed_run(tmp_path, 0.5)
    (info,) = list_runs(tmp_path)
    metrics = info.path / "metrics.jsonl"
    now = time.time()
    age(metrics, 30)
    assert run_status(info, now, held={}) == "incomplete"  # readable, nothing held
    assert run_status(info, now, held=None) == "running"  # unreadable: 30 s < RUN_SILENT_S
    age(metrics, UNLOCKED_SILENT_S / 4)
    assert run_status(info, now, held={}) == "running"  # it grew just now: a writer this machine cannot see
    age(metrics, RUN_SILENT_S + 5)
    assert run_status(info, now, held=None) == "incomplete"


@needs_locks
def test_a_killed_run_is_incomplete_at_once_in_the_listing_and_not_followed(tmp_path):
    path = killed_run(tmp_path, 0.5)
    age(path / "metrics.jsonl", 30)
    (info,) = list_runs(tmp_path)
    assert info.status == "incomplete"
    live = LiveRuns(tmp_path)
    live.poll([info])
    assert live.runs == {} and live.info(info).status == "incomplete"


# --- 2. every face that lists runs: one status, the best val so far ------------------------------------------


def runs_json(runs: Path, capsys) -> dict:
    capsys.readouterr()
    assert main(["runs", "--json", "--runs-dir", str(runs)]) == 0
    (run,) = json.loads(capsys.readouterr().out)["runs"]
    return run


@needs_locks
def test_runs_says_a_live_run_is_running_and_a_killed_one_incomplete_both_with_their_best_so_far(tmp_path, capsys):
    store = RunStore.create(tmp_path, load_preset("spiral"))
    try:
        for event in (Epoch(1, 1.0, 0.5, 0.61, 0.1, 1.0), Epoch(2, 0.9, 0.6, 0.72, 0.1, 2.0)):
            store(event)
        age(store.path / "metrics.jsonl", 600)  # paused for ten minutes: its lock says it runs
        run = runs_json(tmp_path, capsys)
        assert (run["status"], run["best_val_acc"]) == ("running", 0.72)
        assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
        table = capsys.readouterr().out
        assert "running" in table and "0.720" in table
    finally:
        store.close()  # killed
    run = runs_json(tmp_path, capsys)
    assert (run["status"], run["best_val_acc"]) == ("incomplete", 0.72)  # its epochs are still there
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "incomplete" in table and "0.720" in table


def test_the_best_so_far_reads_only_what_was_appended_and_starts_over_when_replaced(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    step = event_line(Step(1, 0.1, 2.3, 1e-3)) + "\n"
    metrics.write_text(step + epochs(0.4, 0.6) + step)
    assert best_val_so_far(metrics) == 0.6
    with open(metrics, "a") as f:
        f.write('{"event":"epoch","epoch":3,"loss":1,"train_acc":0.5,"val_acc":0.8,"learning_rate":0.1,')
    assert best_val_so_far(metrics) == 0.6  # a line without its newline waits for it
    with open(metrics, "a") as f:
        f.write('"elapsed_s":3}\n{"event": "epoch", "val_acc": null}\n')
    assert best_val_so_far(metrics) == 0.8  # compact JSON too; a null is no accuracy
    replacement = tmp_path / "new.jsonl"
    replacement.write_text(epochs(0.3))
    os.replace(replacement, metrics)
    assert best_val_so_far(metrics) == 0.3  # a new file: read anew
    metrics.unlink()
    assert best_val_so_far(metrics) is None


# --- 3. the runs view's followers -------------------------------------------------------------------------


def test_a_killed_run_is_not_followed_and_shows_its_best_so_far(tmp_path):
    path = killed_run(tmp_path, 0.5, 0.7, 0.6)
    age(path / "metrics.jsonl", RUN_SILENT_S + 5)  # quiet for long: incomplete with or without /proc/locks
    live = LiveRuns(tmp_path)
    (info,) = list_runs(tmp_path)
    live.poll([info])
    assert live.runs == {}
    shown = live.info(info)
    assert (shown.status, shown.best_val_acc) == ("incomplete", 0.7)


@needs_locks
def test_a_long_run_shows_its_latest_state_while_its_follower_catches_up(tmp_path):
    """A run whose file is more than a poll reads: the view shows the run's best so far read
    from the file, not the epochs of the part folded so far; the session keeps the follower,
    so the view entered again starts where it was."""
    store = RunStore.create(tmp_path, load_preset("spiral"))
    try:
        lines = [event_line(Step(i, i / 1000, 2.3, 1e-3)) for i in range(1, 40001)]
        with open(store.path / "metrics.jsonl", "a") as f:
            f.write(epochs(0.3) + "\n".join(lines) + "\n" + epochs(0.3, 0.9))
        assert (store.path / "metrics.jsonl").stat().st_size > POLL_BYTES
        live = LiveRuns(tmp_path)
        (info,) = list_runs(tmp_path)
        live.poll([info])
        assert not live.runs[info.name].caught_up  # a poll read 2 MiB of it
        shown = live.info(info)
        assert (shown.status, shown.best_val_acc) == ("running", 0.9)  # not 0.3, the part read so far
        while not live.runs[info.name].caught_up:
            live.poll([info])
        shown = live.info(info)
        assert (shown.status, shown.best_val_acc) == (f"running 2/{live.runs[info.name].total_epochs}", 0.9)
        follower = live.runs[info.name]
        live.poll([info])  # the view entered again, with the session's followers
        assert live.runs[info.name] is follower and live.info(info).status == shown.status
    finally:
        store.close()


async def test_the_runs_view_entered_again_keeps_the_sessions_followers(tmp_path):
    from tui_trainer.config import Preset
    from tui_trainer.ui.app import WorkbenchApp
    from tui_trainer.ui.screens.runs import RunsScreen

    app = WorkbenchApp(Preset(name="watch"), runs_dir=tmp_path, watch=True)
    async with app.run_test(size=(130, 40)) as pilot:
        await pilot.pause(0.2)
        first = app.screen
        assert isinstance(first, RunsScreen) and first.following is app.session.live_runs


# --- 4. a watched run whose process, or folder, is gone -------------------------------------------------------


def test_a_killed_run_opened_says_no_process_trains_it_and_has_no_eta(tmp_path, real_run):
    folder = cut_short(real_run, tmp_path)
    age(folder / "metrics.jsonl", RUN_SILENT_S + 5)
    run = WatchedRun.open(folder, root=tmp_path)
    events, _ = run.poll()
    for event in events:
        run.add(event)
    assert run.status == "incomplete" and run.iteration > 2
    assert run.eta(time.monotonic()) is None
    said = " ".join(text for _, text in notes(run, "runs"))
    assert "another process trains it" not in said and "its process has gone" in said


def test_a_run_whose_folder_is_deleted_says_so_and_keeps_what_was_read(tmp_path, real_run):
    folder = cut_short(real_run, tmp_path)
    os.utime(folder / "metrics.jsonl")  # written just now: still running for all it can tell
    run = WatchedRun.open(folder, root=tmp_path)
    events, _ = run.poll()
    for event in events:
        run.add(event)
    epochs_read = len(run.epochs)
    shutil.rmtree(folder)
    events, reset = run.poll()
    assert (events, reset) == ([], False) and len(run.epochs) == epochs_read == 3
    assert run.status == "deleted" and run.eta(time.monotonic()) is None
    said = " ".join(text for _, text in notes(run, "runs"))
    assert "was deleted" in said and "following" not in said and "another process" not in said


# --- 5. a search that finished without a next.toml ------------------------------------------------------------


def search(runs: Path, stamp: str = "20200101-000000"):
    """A search store whose folder's name says it began long ago (the old elapsed: now - that)."""
    preset = load_preset("spiral", ["search.stages=[{trials=2,epochs=1}]"])
    store = SearchStore.create(runs, preset)
    old = store.path.with_name(store.path.name[:-22] + stamp + store.path.name[-7:])
    return store, preset, old


def test_a_search_whose_trials_all_exploded_reads_finished_with_the_time_it_ran(tmp_path):
    from tui_trainer.lab.search.pool import TrialPool
    from tui_trainer.lab.search.runner import SearchControl, run_search
    from tui_trainer.lab.search.space import TrialResult

    def exploded(spec):
        return TrialResult.of(
            spec.trial, status="exploded", reason="loss is nan", best_val_acc=None, best_epoch=None,
            epochs=spec.trial.epochs, iterations=1, elapsed_s=0.0, worker="test",
        )  # fmt: skip

    store, preset, old = search(tmp_path)
    with TrialPool.threads(1) as pool:
        ended = run_search(preset, pool, store, lambda e: None, SearchControl(), trial_fn=exploded)
    store.close()
    assert ended.status == "finished" and not (store.path / "next.toml").exists(), ended.reason
    os.rename(store.path, old)
    (job,) = list_jobs(tmp_path)
    assert job.status == "finished"
    watched = WatchedSearch(old)
    watched.poll()
    assert watched.ended is not None and watched.ended.status == "finished"
    assert watched.ended.elapsed_s == pytest.approx(ended.elapsed_s, abs=1e-3)  # not years since the stamp


def test_a_killed_search_reads_stopped_for_the_time_its_trials_took_in_one_pair_of_brackets(tmp_path):
    store, preset, old = search(tmp_path)
    from tui_trainer.lab.search.space import TrialResult, ranges_of, stage_trials

    (t, _) = stage_trials(preset.search.seed, 1, 2, 1, ranges_of(preset.search))
    result = TrialResult.of(
        t, status="finished", reason="", best_val_acc=0.5, best_epoch=1, epochs=1, iterations=6,
        elapsed_s=0.1, worker="test",
    )  # fmt: skip
    store.record(result.json_fields())
    store.close()  # killed: its status stays "running" in its store, its lock goes
    os.rename(store.path, old)
    if LOCKS:
        (job,) = list_jobs(tmp_path)
        assert job.status == "stopped"
    watched = WatchedSearch(old)
    watched.poll()
    if watched.ended is None:  # no /proc/locks: a search's end cannot be told
        return
    assert watched.ended.status == "stopped" and watched.ended.elapsed_s < 60
    text = "\n".join(describe_end(watched.ended))
    assert "((" not in text and "))" not in text and "--resume continues it" in text


# --- 6. an lr-find still sweeping --------------------------------------------------------------------------


@needs_locks
def test_an_lr_find_reads_running_while_it_sweeps_and_no_result_yet_when_nothing_tells(tmp_path):
    from tui_trainer.lab.lr_find import LrSweep, find_lr

    preset = load_preset("spiral")
    seen = []

    def sink(event) -> None:
        if isinstance(event, LrSweep):
            seen.extend((j.status, j.pid) for j in list_jobs(tmp_path))

    find_lr(preset, load_dataset(preset.data), sink, runs_dir=str(tmp_path), seeds=1)
    assert seen == [("running", os.getpid())]
    (job,) = list_jobs(tmp_path)
    assert job.status == "finished"
    (job.path / "result.json").unlink()  # as one killed before its end leaves it: nothing holds it
    (job,) = list_jobs(tmp_path)
    assert job.status == "no result yet" and job.pid is None

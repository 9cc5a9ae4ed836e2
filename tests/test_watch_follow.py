"""The tail that follows a file another process writes (records/follow.py), and the scan of
which record folders are still being written (records/watched.py): pure, on files made here."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tui_trainer.records.follow import POLL_BYTES, Tail, held_locks, lock_holder
from tui_trainer.records.reading import MAX_LINE_BYTES
from tui_trainer.records.watched import RUNNING, list_jobs


def write(path: Path, data: bytes, mode: str = "ab") -> None:
    with open(path, mode) as f:
        f.write(data)


def test_only_whole_lines_and_only_what_was_appended(tmp_path):
    f = tmp_path / "metrics.jsonl"
    write(f, b'{"a": 1}\n{"b": ')
    tail = Tail(f)
    got = tail.poll()
    assert got.lines == ['{"a": 1}'] and not got.reset and not got.error
    assert tail.poll().lines == []  # nothing new
    write(f, b'2}\n{"c": 3}\n')
    assert tail.poll().lines == ['{"b": 2}', '{"c": 3}']  # the partial line, completed later


def test_truncation_and_replacement_start_over(tmp_path):
    f = tmp_path / "metrics.jsonl"
    write(f, b"one\ntwo\n")
    tail = Tail(f)
    assert tail.poll().lines == ["one", "two"]
    write(f, b"x\n", "wb")  # truncated to a shorter file
    got = tail.poll()
    assert got.reset and got.lines == ["x"]
    other = tmp_path / "new.jsonl"
    write(other, b"fresh\nlines\nhere, longer than before\n")
    os.replace(other, f)  # a rotation: a new file renamed over the old one
    got = tail.poll()
    assert got.reset and got.lines == ["fresh", "lines", "here, longer than before"]
    f.unlink()
    got = tail.poll()
    assert got.reset and got.error  # gone: the caller drops what it folded
    write(f, b"back\n")
    assert tail.poll().lines == ["back"]


def test_garbage_bytes_are_damaged_lines_not_a_failure(tmp_path):
    f = tmp_path / "metrics.jsonl"
    write(f, b"good\n\xff\xfe\x00garbage\nalso good\n")
    got = Tail(f).poll()
    assert got.lines == ["good", "also good"] and got.damaged == 1


def test_a_line_past_the_limit_is_dropped_in_chunks(tmp_path):
    f = tmp_path / "metrics.jsonl"
    write(f, b"before\n")
    with open(f, "ab") as out:  # a sparse hole of zeros: an 8 MiB line without writing 8 MiB
        out.truncate(f.stat().st_size + (8 << 20))
    write(f, b"\nafter\n")
    tail = Tail(f, chunk=1 << 20, poll_bytes=3 << 20)
    lines, damaged, polls = [], 0, 0
    while True:  # a poll reads 3 MiB at most, and says when there is more
        got = tail.poll()
        lines, damaged, polls = lines + got.lines, damaged + got.damaged, polls + 1
        if not got.behind:
            break
    assert lines == ["before", "after"] and damaged == 1 and polls == 3
    # a line over the limit that arrives across polls, its newline last
    write(f, b"x" * (MAX_LINE_BYTES + 10))
    assert tail.poll().damaged == 1
    write(f, b"y" * 100 + b"\nnext\n")
    got = tail.poll()
    assert got.lines == ["next"] and got.damaged == 0


def test_a_one_gigabyte_line_is_refused_and_a_long_one_skipped_in_bounded_memory(tmp_path):
    """Hostile metrics.jsonl files, made of sparse holes (no disk used): a 1 GiB line makes
    the file larger than a record may be, refused in one stat with the limit named; a 200
    MiB line between two events is stepped over poll by poll, never holding more than a
    poll's bytes."""
    import tracemalloc

    def with_a_long_line(name: str, size: int) -> Path:
        f = tmp_path / name
        write(f, b"before\n")
        with open(f, "ab") as out:
            out.truncate(f.stat().st_size + size)
        write(f, b"\nafter\n")
        return f

    got = Tail(with_a_long_line("huge.jsonl", 1 << 30)).poll()
    assert got.lines == [] and "too big to be a record" in got.error and "268,435,456" in got.error
    tail = Tail(with_a_long_line("long.jsonl", 200 << 20))
    lines, damaged = [], 0
    tracemalloc.start()
    try:
        while True:
            got = tail.poll()
            assert not got.error
            lines, damaged = lines + got.lines, damaged + got.damaged
            if not got.behind:
                break
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert lines == ["before", "after"] and damaged == 1
    assert peak < 3 * POLL_BYTES, f"{peak / 2**20:.0f} MiB held to skip the line"


def test_a_link_leading_outside_is_refused(tmp_path):
    outside = tmp_path / "secret.txt"
    write(outside, b"not yours\n")
    watched = tmp_path / "runs" / "run"
    watched.mkdir(parents=True)
    (watched / "metrics.jsonl").symlink_to(outside)
    got = Tail(watched / "metrics.jsonl", root=tmp_path / "runs").poll()
    assert got.lines == [] and "outside" in got.error
    (watched / "fifo.jsonl").unlink(missing_ok=True)
    os.mkfifo(watched / "fifo.jsonl")
    got = Tail(watched / "fifo.jsonl", root=tmp_path / "runs").poll()  # refused, not waited on
    assert got.lines == [] and "not a regular file" in got.error


def test_a_held_folder_lock_is_seen_without_taking_it(tmp_path):
    folder = tmp_path / "search-x"
    folder.mkdir()
    if held_locks() is None:  # not Linux: the answer is "unknown"
        assert lock_holder(folder, None) is None
        return
    assert lock_holder(folder, held_locks()) == 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import os, fcntl, sys
                fd = os.open({str(folder)!r}, os.O_RDONLY)
                fcntl.flock(fd, fcntl.LOCK_EX)
                print("held", flush=True)
                sys.stdin.read()
            """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert lock_holder(folder, held_locks()) == holder.pid
    finally:
        holder.communicate("")
    assert lock_holder(folder, held_locks()) == 0


def test_jobs_listed_with_their_status_and_a_damaged_one_shown(tmp_path):
    from tui_trainer.config import load_preset
    from tui_trainer.records.search_store import SearchStore

    preset = load_preset("default")
    store = SearchStore.create(tmp_path, preset)
    try:
        store.record(
            {
                "trial_id": "1-0",
                "stage": 1,
                "index": 0,
                "status": "finished",
                "reason": "",
                "best_val_acc": 0.5,
                "epochs": 1,
                "iterations": 10,
                "elapsed_s": 0.1,
                "worker": "test",
            }
        )
        (search,) = list_jobs(tmp_path)
        assert search.kind == "search" and search.detail == "1 trial"
        if held_locks() is not None:
            assert search.status == RUNNING and search.pid == os.getpid()
    finally:
        store.close()
    (search,) = list_jobs(tmp_path)
    assert search.status == "stopped"  # no lock, no next.toml: it can be resumed
    tune = tmp_path / "tune-default-20261124-171500-3f2a1c"
    tune.mkdir()
    write(tune / "preset.toml", b'name = "default"\n')
    write(tune / "state.json", b"\xff not json")
    jobs = {j.kind: j for j in list_jobs(tmp_path)}
    assert jobs["tune"].status == "damaged"


def test_a_run_quiet_for_long_is_running_while_its_writer_holds_it_and_incomplete_once_gone(tmp_path):
    """A run paused in the workbench, or in a step that takes minutes, writes nothing for
    long: it is still running while its RunStore is open; killed (the store gone with its
    process), it is incomplete at once, not two minutes later."""
    from tui_trainer.config import load_preset
    from tui_trainer.records.run_folder import RunStore, list_runs
    from tui_trainer.records.run_live import RUN_SILENT_S, run_status

    store = RunStore.create(tmp_path, load_preset("spiral"))
    metrics = store.path / "metrics.jsonl"
    long_ago = metrics.stat().st_mtime - 10 * RUN_SILENT_S
    os.utime(metrics, (long_ago, long_ago))  # quiet for twenty minutes
    (info,) = list_runs(tmp_path)
    if held_locks() is None:  # not Linux: only the file's age can tell, and it is old
        assert run_status(info) == "incomplete"
        store.close()
        return
    assert run_status(info) == RUNNING
    assert lock_holder(metrics, held_locks()) == os.getpid()
    store.close()  # as a killed process's files are closed
    assert run_status(info) == "incomplete"
    fresh = RunStore.create(tmp_path, load_preset("spiral"))
    fresh.close()  # closed without a summary just now: its file's age still says running
    (newest,) = [i for i in list_runs(tmp_path) if i.path == fresh.path]
    assert run_status(newest) == RUNNING

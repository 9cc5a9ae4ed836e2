"""What following a very long run costs the watcher (records/follow.py), measured side by side.

    python bench/follow.py [--steps 1000000] [--repeat 3] [--samples 10] [--screen 10]

Builds a metrics.jsonl of --steps step events (an epoch every 1000, written with
engine.events.event_line as a run writes them, not by training), then measures:

1. opening it: the polls that read the whole file and fold it into a History,
   follow.POLL_BYTES a poll (what opening a long run costs, once), and the
   longest of those polls (how long the watcher's keys wait at most);
2. one poll when nothing was appended (a stat);
3. one poll after 100 lines were appended (read and fold only those);
4. against re-reading the whole file (records.run_folder.read_metrics and the
   same fold), what a viewer without offsets would pay every poll;
5. the follow latency: a writer thread appends a line at a random moment; the
   time until the watcher's fold holds it, polling every follow.POLL_S;
6. with --screen N, the same from write to screen: `tui-trainer watch` (headless,
   under Textual's test driver) follows a run, and the time is until its status
   bar shows the iteration written (the poll, the app's drain, the redraw).

Prints one line per measurement and the ratios. Each figure is the best of --repeat.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui_trainer.engine.events import Epoch, RunStarted, Step, event_line  # noqa: E402
from tui_trainer.lab.history import History  # noqa: E402
from tui_trainer.records.follow import POLL_BYTES, POLL_S, EventTail  # noqa: E402
from tui_trainer.records.run_folder import read_metrics  # noqa: E402

PER_EPOCH = 1000


def build(path: Path, steps: int) -> None:
    started = RunStarted("bench", {"train": {"epochs": steps // PER_EPOCH}}, 10, 1000, 100, PER_EPOCH, steps, 2.3)
    with open(path, "w", encoding="utf-8") as f:
        f.write(event_line(started) + "\n")
        lines = []
        for i in range(1, steps + 1):
            lines.append(event_line(Step(i, i / PER_EPOCH, 2.3 / (1 + i / 1e4), 1e-3)))
            if i % PER_EPOCH == 0:
                e = i // PER_EPOCH
                lines.append(event_line(Epoch(e, i, 0.5 + e / (4 * steps / PER_EPOCH), 0.4, 1.0, 1e-3, 0.1 * e)))
            if len(lines) >= 10000:
                f.write("\n".join(lines) + "\n")
                lines = []
        if lines:
            f.write("\n".join(lines) + "\n")


def follow(path: Path, longest: list[float] | None = None) -> tuple[EventTail, History]:
    """A follower that has caught up with the file, poll by poll (the longest poll in `longest`)."""
    tail, history = EventTail(path), History()
    while True:
        t = time.perf_counter()
        got = tail.poll()
        for event in got.events:
            history.add(event)
        if longest is not None:
            longest.append(time.perf_counter() - t)
        if not got.behind:
            return tail, history


def poll_into(tail: EventTail, history: History) -> int:
    got = tail.poll()
    for event in got.events:
        history.add(event)
    return len(got.events)


def reread(path: Path) -> History:
    return History.from_events(read_metrics(path.parent))


def best(f, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def append(path: Path, start: int, n: int) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(event_line(Step(i, i / PER_EPOCH, 1.0, 1e-3)) + "\n" for i in range(start, start + n)))


def latency(path: Path, samples: int) -> list[float]:
    """Seconds from a line's write to the fold holding it, a watcher polling every POLL_S."""
    tail, history = follow(path)
    written: list[float] = []
    seen: list[float] = []
    done = threading.Event()

    def writer() -> None:
        for _ in range(samples):
            time.sleep(random.uniform(0.1, 1.1))
            written.append(time.perf_counter())
            append(path, 10**9 + len(written), 1)
        done.set()

    threading.Thread(target=writer, daemon=True).start()
    while not (done.is_set() and len(seen) >= len(written)):
        new = poll_into(tail, history)
        seen.extend([time.perf_counter()] * new)  # two writes in one poll interval: both seen now
        time.sleep(POLL_S)
    return [s - w for s, w in zip(seen, written, strict=False)]


def screen_latency(samples: int) -> list[float]:
    """Seconds from a step line's write to the watcher's status bar showing its iteration."""
    import asyncio

    from tui_trainer.config import Preset
    from tui_trainer.ui.app import WorkbenchApp
    from tui_trainer.ui.messages import WatchOpen

    async def measure(run: Path) -> list[float]:
        app = WorkbenchApp(Preset(name="watch"), runs_dir=run.parent, watch=True)
        out: list[float] = []
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause(0.5)
            app.post_message(WatchOpen(run))
            await pilot.pause(1.0)
            bar = app.workbench.status_bar
            for i in range(samples):
                await asyncio.sleep(random.uniform(0.1, 1.1))
                iteration = 10**6 + i
                written = time.perf_counter()
                append(run / "metrics.jsonl", iteration, 1)
                while bar.iteration != iteration:
                    await asyncio.sleep(0.005)
                out.append(time.perf_counter() - written)
        return out

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "20261124-171500-bench-3f2a1c"
        run.mkdir()
        (run / "config.toml").write_text('name = "bench"\n')
        build(run / "metrics.jsonl", 1000)
        return asyncio.run(measure(run))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--samples", type=int, default=10, help="latency samples")
    ap.add_argument("--screen", type=int, default=0, help="write-to-screen samples through the watcher (0: none)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "metrics.jsonl"
        t = time.perf_counter()
        build(path, a.steps)
        size = path.stat().st_size
        print(f"metrics.jsonl: {a.steps:,} steps, {size / 1e6:.1f} MB, built in {time.perf_counter() - t:.1f} s")

        polls: list[float] = []
        first = best(lambda: follow(path, polls), a.repeat)
        tail, history = follow(path)
        idle = best(lambda: poll_into(tail, history), max(a.repeat, 200))
        at = [a.steps + 1]

        def hundred() -> None:
            append(path, at[0], 100)
            at[0] += 100
            t = time.perf_counter()
            poll_into(tail, history)
            hundred.took.append(time.perf_counter() - t)  # type: ignore[attr-defined]

        hundred.took = []  # type: ignore[attr-defined]
        for _ in range(max(a.repeat, 20)):
            hundred()
        new100 = min(hundred.took)  # type: ignore[attr-defined]
        whole = best(lambda: reread(path), a.repeat)
        assert history.steps == reread(path).steps, "the follower's fold differs from a whole re-read"

        print(
            f"open: the polls that read and fold it all:  {first:8.3f} s   "
            f"({len(polls) // a.repeat} polls of {POLL_BYTES >> 20} MiB; the longest {max(polls) * 1e3:.0f} ms)"
        )
        print(f"re-read the whole file and fold it:        {whole:8.3f} s")
        print(f"poll, nothing new:                         {idle * 1e6:8.1f} us   ({whole / idle:,.0f}x cheaper)")
        print(f"poll, 100 new lines:                       {new100 * 1e3:8.3f} ms   ({whole / new100:,.0f}x cheaper)")
        lat = latency(path, a.samples)
        print(
            f"follow latency at a {POLL_S} s poll (write -> fold), {len(lat)} samples: "
            f"median {statistics.median(lat) * 1e3:.0f} ms, max {max(lat) * 1e3:.0f} ms"
        )
    if a.screen:
        lat = screen_latency(a.screen)
        print(
            f"write -> the watcher's status bar, {len(lat)} samples: "
            f"median {statistics.median(lat) * 1e3:.0f} ms, max {max(lat) * 1e3:.0f} ms"
        )


if __name__ == "__main__":
    main()

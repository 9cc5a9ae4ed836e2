"""The workbench's performance guards, measured side by side in one run.

    python bench/ui_bench.py [--preset default] [--epochs 40] [--rounds 3] [--size 160x48]
                             [--engines process,thread]

1. Training speed: steps per second of the same preset run headless
   (`tui-trainer run`) and in the workbench (`tui-trainer ui`, in a real
   pseudo-terminal, redrawing as it trains), alternated round by round so
   machine noise hits both alike. Both read the trainer's own clock from the
   run's summary.json. Target: workbench / headless >= 0.9. Measured for
   the trainer in a child process (the workbench's default) and, for
   comparison, in a thread of the app (TUI_TRAINER_ENGINE=thread).
2. Key press to updated screen while training: `L` (then `l`) is written to
   the terminal and the clock stops when the new learning rate shows up in
   the bytes the app writes back. Target: p95 <= 100 ms.
3. First frame: from spawning `tui-trainer` to the first drawn screen
   (the loss pane's title), and to the first usable one (the data loaded:
   "space starts a run"). Target: usable <= 1 s.
4. Each screen's key to the screen drawn, idle after a finished run: the
   edit form (e), open (o), help (?), the palette (ctrl+p), the runs view
   (h), the search (s), lr-find (f) and tune (g) views, the next big view
   (v), and q to the process gone. The clock stops when the screen's own
   words show up in the bytes written back. Target: <= 300 ms each.

Everything runs as a user would run it: separate processes, a real pty.

Reading the ratios: each face gets its own BLAS threads (tui_trainer/threads.py):
a headless run every core, the workbench's trainer process one core fewer
(the app keeps one for keys and redraws), unless the user set
OPENBLAS_NUM_THREADS and friends; the ratio is what a user gets from each
face as shipped. `--blas-threads N` pins every process to N.
Alternating rounds and medians keep a busy moment from deciding.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tui_trainer.formatting import hyperparameter
from tui_trainer.threads import BLAS_ENV  # noqa: E402
from tui_trainer.ui.knobs import half_decade  # noqa: E402

PY = sys.executable
EXTRA_ENV: dict[str, str] = {}  # --blas-threads N sets the BLAS threads of every process measured


class Terminal:
    """A child process on a pty of a given size; a thread keeps reading what it writes."""

    def __init__(self, argv: list[str], cols: int, rows: int, cwd: Path, env: dict | None = None):
        self.t0 = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:  # the child
            os.chdir(cwd)
            env = dict(
                os.environ,
                TERM="xterm-256color",
                COLORTERM="truecolor",
                COLUMNS=str(cols),
                LINES=str(rows),
                **EXTRA_ENV,
                **(env or {}),
            )
            env.pop("NO_COLOR", None)
            os.execvpe(argv[0], argv, env)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.pid, self.fd = pid, fd
        self.chunks: list[tuple[float, bytes]] = []
        self.lock = threading.Lock()
        self.closed = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.5)
                if not r:
                    if self.closed:
                        return
                    continue
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.chunks.append((time.perf_counter(), data))

    def send(self, text: str) -> float:
        t = time.perf_counter()
        os.write(self.fd, text.encode())
        return t

    def output_since(self, t: float) -> list[tuple[float, bytes]]:
        with self.lock:
            return [(ts, d) for ts, d in self.chunks if ts >= t]

    def wait_for(self, needle: str, since: float, timeout: float) -> float | None:
        """The time the bytes written after `since` first contain `needle`, or None."""
        want = needle.encode()
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            seen = b""
            for ts, data in self.output_since(since):
                seen += data
                if want in seen:
                    return ts
            time.sleep(0.002)
        return None

    def close(self, timeout: float = 10) -> None:
        try:
            os.write(self.fd, b"q")
        except OSError:
            pass
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
        else:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        self.closed = True
        os.close(self.fd)


def summary_rate(runs_dir: Path, timeout: float) -> tuple[float, dict]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = list(runs_dir.glob("*/summary.json"))
        if found:
            s = json.loads(found[0].read_text())
            return s["iterations"] / s["elapsed_s"], s
        time.sleep(0.1)
    raise SystemExit(f"no summary.json under {runs_dir} after {timeout}s")


def headless_rate(preset: str, overrides: list[str], work: Path) -> float:
    runs = work / f"headless-{time.time_ns()}"
    sets = [x for o in overrides for x in ("--set", o)]
    subprocess.run(
        [PY, "-m", "tui_trainer", "run", preset, *sets, "--runs-dir", str(runs)],
        check=True,
        capture_output=True,
        cwd=work,
        env=dict(os.environ, **EXTRA_ENV),
    )
    rate, _ = summary_rate(runs, 5)
    shutil.rmtree(runs)
    return rate


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (not its children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ui_rate(preset: str, overrides: list[str], work: Path, cols: int, rows: int, engine: str) -> tuple[float, float]:
    """(steps per second, the app process's CPU use while training, in cores)."""
    runs = work / f"ui-{time.time_ns()}"
    sets = [x for o in overrides for x in ("--set", o)]
    term = Terminal(
        [PY, "-m", "tui_trainer", "ui", preset, *sets, "--runs-dir", str(runs)],
        cols,
        rows,
        work,
        env={"TUI_TRAINER_ENGINE": engine},
    )
    try:
        if term.wait_for("space starts a run", term.t0, 30) is None:
            raise SystemExit("the workbench did not get ready")
        cpu0 = cpu_seconds(term.pid)
        term.send(" ")
        rate, summary = summary_rate(runs, 600)
        cpu = (cpu_seconds(term.pid) - cpu0) / summary["elapsed_s"]
    finally:
        term.close()
    shutil.rmtree(runs)
    return rate, cpu


def first_frame(work: Path, cols: int, rows: int) -> tuple[float, float]:
    """(seconds to the first frame, seconds to the first usable one: the data loaded)."""
    term = Terminal([PY, "-m", "tui_trainer", "ui", "default", "--runs-dir", str(work / "ff")], cols, rows, work)
    try:
        t = term.wait_for("Loss", term.t0, 30)
        usable = term.wait_for("space starts a run", term.t0, 30)
        if t is None or usable is None:
            raise SystemExit("no first frame")
        return t - term.t0, usable - term.t0
    finally:
        term.close()


# Each screen: the key that opens it, the words it draws, the keys that leave it.
SCREENS = [
    ("e", "edit form", "Next run", "\x1b"),
    ("o", "open preset", "Open a preset", "\x1b"),
    ("?", "help", "workbench keys", "\x1b"),
    ("\x10", "palette", "for commands", "\x1b"),  # its first letter sits under the blinking cursor
    ("h", "runs view", "Runs in", "\x1b"),
    ("v", "next view", "view: First layer", ""),
    ("f", "lr-find view", "lr-find on", "\x1b"),
    ("s", "search view", "search digits-fast", "\x1b"),
    ("g", "tune view", "tune digits-fast:", "\x1b"),
]


def screen_times(work: Path, cols: int, rows: int, rounds: int) -> dict[str, list[float]]:
    """Seconds from each screen's key to its words on the terminal, idle after a finished
    run of digits-fast; and q to the process gone."""
    times: dict[str, list[float]] = {name: [] for _, name, _, _ in SCREENS}
    times["q to exit"] = []
    for _ in range(rounds):
        runs = work / f"screens-{time.time_ns()}"
        term = Terminal(
            [PY, "-m", "tui_trainer", "ui", "digits-fast", "--set", "train.epochs=2", "--runs-dir", str(runs)],
            cols,
            rows,
            work,
        )
        try:
            if term.wait_for("space starts a run", term.t0, 30) is None:
                raise SystemExit("the workbench did not get ready")
            term.send(" ")
            if term.wait_for("finished", term.t0, 60) is None:
                raise SystemExit("the run did not finish")
            time.sleep(1.0)
            for key, name, words, leave in SCREENS:
                t = term.send(key)
                shown = term.wait_for(words, t, 10)
                if shown is None:
                    raise SystemExit(f"{name}: {words!r} never showed")
                times[name].append(shown - t)
                time.sleep(0.5)
                if leave:
                    term.send(leave)
                    time.sleep(1.5)  # a job's view stops its job on the way out
            t = term.send("q")
            while not os.waitpid(term.pid, os.WNOHANG)[0]:
                if time.perf_counter() - t > 10:
                    raise SystemExit("q did not end the workbench")
                time.sleep(0.005)
            times["q to exit"].append(time.perf_counter() - t)
            term.closed = True
            os.close(term.fd)
        finally:
            if not term.closed:
                term.close()
        shutil.rmtree(runs, ignore_errors=True)
    return times


def key_latency(
    preset: str, overrides: list[str], work: Path, cols: int, rows: int, presses: int, training: bool, engine: str
) -> list[float]:
    runs = work / f"keys-{time.time_ns()}"
    sets = [x for o in overrides for x in ("--set", o)]
    term = Terminal(
        [PY, "-m", "tui_trainer", "ui", preset, *sets, "--runs-dir", str(runs)],
        cols,
        rows,
        work,
        env={"TUI_TRAINER_ENGINE": engine},
    )
    from tui_trainer.config import load_preset

    lr = load_preset(preset, overrides).train.learning_rate
    out = []
    try:
        if term.wait_for("space starts a run", term.t0, 30) is None:
            raise SystemExit("the workbench did not get ready")
        if training:
            term.send(" ")
            if term.wait_for("running", time.perf_counter() - 1, 30) is None:
                raise SystemExit("the run did not start")
            time.sleep(1.0)
        for i in range(presses):
            up = i < presses // 2
            lr = half_decade(lr, up)
            t = term.send("L" if up else "l")
            shown = term.wait_for(hyperparameter(lr), t, 5)
            if shown is None:
                raise SystemExit(f"learning rate {hyperparameter(lr)} never showed")
            out.append(shown - t)
            time.sleep(0.15)
        if training:
            running = not list(runs.glob("*/summary.json"))
            if not running:
                print("  (warning: the run ended before the key presses did; use more epochs)")
            term.send("x")
    finally:
        term.close()
    shutil.rmtree(runs, ignore_errors=True)
    return out


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size", default="160x48")
    ap.add_argument("--presses", type=int, default=30)
    ap.add_argument(
        "--engines",
        default="process,thread",
        help="where the workbench's trainer runs: process (the default) and/or thread",
    )
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated parts to run: speed, keys, frame, screens (default: all)",
    )
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="pin BLAS threads in every process measured (headless and workbench alike)",
    )
    args = ap.parse_args()
    if args.blas_threads:
        EXTRA_ENV.update({k: str(args.blas_threads) for k in BLAS_ENV})
    cols, rows = (int(v) for v in args.size.split("x"))
    overrides = [f"train.epochs={args.epochs}"]
    work = Path(tempfile.mkdtemp(prefix="ui-bench-"))
    print(
        f"preset {args.preset} with {overrides}, terminal {cols}x{rows}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}, BLAS threads {args.blas_threads or 'default'}"
    )

    engines = args.engines.split(",")
    parts = set(args.only.split(",")) if args.only else {"speed", "keys", "frame", "screens"}
    if "speed" in parts:
        speed(args, overrides, work, cols, rows, engines)
    if "keys" in parts:
        keys(args, work, cols, rows, engines)
    if "frame" in parts:
        print("\n3. first frame and first usable frame after start (s):")
        ff = [first_frame(work, cols, rows) for _ in range(5)]
        first, usable = [f for f, _ in ff], [u for _, u in ff]
        print(f"  first frame  median {statistics.median(first):.3f}  max {max(first):.3f}")
        print(f"  usable frame median {statistics.median(usable):.3f}  max {max(usable):.3f}  (target <= 1.0)")
    if "screens" in parts:
        print("\n4. key to the screen drawn, idle after a run (ms):")
        for name, ts in screen_times(work, cols, rows, args.rounds).items():
            ms = [t * 1000 for t in ts]
            print(f"  {name:13} median {statistics.median(ms):6.0f}  max {max(ms):6.0f}  (target <= 300)")
    shutil.rmtree(work, ignore_errors=True)


def speed(args, overrides: list[str], work: Path, cols: int, rows: int, engines: list[str]) -> None:
    print(
        f"\n1. training steps per second, alternated (headless, then the workbench with the trainer in a "
        f"{' / '.join(engines)}):"
    )
    ratios: dict[str, list[float]] = {e: [] for e in engines}
    for r in range(args.rounds):
        h = headless_rate(args.preset, overrides, work)
        line = f"  round {r + 1}: headless {h:7.1f}/s"
        for engine in engines:
            u, cpu = ui_rate(args.preset, overrides, work, cols, rows, engine)
            ratios[engine].append(u / h)
            line += f"   {engine} {u:7.1f}/s ({u / h:.3f}, app {cpu * 100:.0f}% of a core)"
        print(line)
    for engine in engines:
        print(
            f"  median ratio workbench ({engine}) / headless: {statistics.median(ratios[engine]):.3f}  (target >= 0.9)"
        )


def keys(args, work: Path, cols: int, rows: int, engines: list[str]) -> None:
    print("\n2. key press to updated screen (ms):")
    for engine in engines:
        for training in (False, True):
            lat = [
                x * 1000
                for x in key_latency(
                    args.preset, [f"train.epochs={args.epochs * 10}"], work, cols, rows, args.presses, training, engine
                )
            ]
            print(
                f"  {engine:7} {'while training' if training else 'idle          '}: median "
                f"{statistics.median(lat):6.1f}  p95 {p95(lat):6.1f}  max {max(lat):6.1f}  (n={len(lat)}; "
                "target p95 <= 100 while training)"
            )


if __name__ == "__main__":
    main()

"""`tui-trainer run` through the real command, in a subprocess: the JSON stream,
exit statuses, bad input, signals, a killed process, and the three faces."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest

from tui_trainer.config import loads_preset
from tui_trainer.records.run_folder import read_metrics

TIMEOUT = 120
RUN_FILES = {"config.toml", "metrics.jsonl", "summary.json", "best.npz", "preprocess.npz"}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui_trainer", *args]


def run(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli(*args), cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT, env={**os.environ, **(env or {})}
    )


def the_run_dir(runs: Path) -> Path:
    dirs = [d for d in runs.iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def events_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


class Lines:
    """The child's stdout line by line, with a deadline instead of a hang. Reads
    the raw pipe itself: a buffered reader could hold lines that select() cannot see."""

    def __init__(self, proc: subprocess.Popen):
        self.fd = proc.stdout.fileno()
        self.buffer = b""
        self.eof = False

    def next(self, deadline: float) -> str | None:
        while b"\n" not in self.buffer and not self.eof:
            left = deadline - time.monotonic()
            assert left > 0, "the run printed nothing in time"
            if select.select([self.fd], [], [], left)[0]:
                chunk = os.read(self.fd, 65536)
                self.buffer += chunk
                self.eof = not chunk
        if b"\n" not in self.buffer:
            return None
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    def rest(self, seconds: float = TIMEOUT) -> list[dict]:
        deadline = time.monotonic() + seconds
        out = []
        while (line := self.next(deadline)) is not None:
            out.append(json.loads(line))
        assert self.buffer == b"", "a torn last line"
        return out


def read_until(lines: Lines, want, seconds: float = 60) -> list[dict]:
    deadline = time.monotonic() + seconds
    seen: list[dict] = []
    while True:
        line = lines.next(deadline)
        assert line is not None, f"the run ended before the event we waited for; saw {seen[-3:]}"
        seen.append(json.loads(line))
        if want(seen[-1], seen):
            return seen


def check_stream(events: list[dict]) -> None:
    """run_started first, steps counting up by one, epochs in order, one run_ended last."""
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started"
    assert kinds[-1] == "run_ended" and kinds.count("run_ended") == 1
    assert kinds.count("run_started") == 1
    steps = [e["iteration"] for e in events if e["event"] == "step"]
    assert steps == list(range(1, len(steps) + 1))
    epochs = [e["epoch"] for e in events if e["event"] == "epoch"]
    assert epochs == list(range(1, len(epochs) + 1))


# --- programs: --json --------------------------------------------------------------


def test_default_for_one_epoch_streams_every_event_as_json(tmp_path):
    r = run(tmp_path, "run", "default", "--set", "train.epochs=1", "--json", "--runs-dir", "runs")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # --json: stderr stays quiet when nothing goes wrong
    events = events_of(r.stdout)  # every line on stdout is one JSON event, nothing else
    check_stream(events)
    started, ended = events[0], events[-1]
    assert started["n_train"] == 4000 and started["n_val"] == 500 and started["classes"] == 10
    assert started["total_iterations"] == started["iterations_per_epoch"] == 20
    assert abs(started["initial_loss"] - np.log(10)) < 0.01
    assert sum(e["event"] == "step" for e in events) == 20
    assert sum(e["event"] == "ratios" for e in events) == 2  # stats_every = 10
    (epoch,) = [e for e in events if e["event"] == "epoch"]
    assert epoch["val_acc"] > 0.2  # one epoch already beats chance (0.1)
    assert ended["status"] == "finished" and ended["best_val_acc"] == epoch["val_acc"]

    # The run directory holds the same numbers.
    d = the_run_dir(tmp_path / "runs")
    assert {p.name for p in d.iterdir()} == RUN_FILES
    assert read_metrics(d) == events
    summary = json.loads((d / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["best_val_acc"] == ended["best_val_acc"]
    assert summary["learning_rate"] == 1e-3 and summary["batch_size"] == 200
    config = loads_preset((d / "config.toml").read_text())
    assert config.train.epochs == 1 and config.name == "default"
    with np.load(d / "best.npz") as best:
        assert best["W1"].shape == (784, 50) and best["W2"].shape == (50, 10)
    with np.load(d / "preprocess.npz") as pre:
        assert list(pre["steps"]) == ["mean"] and pre["0.mean"].shape == (784,)


def test_lr_too_high_exits_3_with_status_exploded(tmp_path):
    r = run(tmp_path, "run", "lr-too-high", "--json", "--runs-dir", "runs")
    assert r.returncode == 3, r.stderr
    events = events_of(r.stdout)
    check_stream(events)
    assert events[-1]["status"] == "exploded" and "learning rate" in events[-1]["reason"]
    assert events[-1]["iterations"] <= 20  # quickly: within the first epoch
    summary = json.loads((the_run_dir(tmp_path / "runs") / "summary.json").read_text())
    assert summary["status"] == "exploded"


def test_a_loss_that_overflows_is_reported_once_not_warned_about(tmp_path):
    r = run(
        tmp_path,
        "run",
        "lr-too-high",
        "--set",
        "train.learning_rate=1e6",
        "--set",
        "train.explode_factor=1e30",
        "--json",
        "--runs-dir",
        "runs",
    )
    assert r.returncode == 3
    assert r.stderr == ""  # no numpy RuntimeWarnings: the run_ended event says it
    assert events_of(r.stdout)[-1]["reason"].startswith("loss not finite")


def test_a_failed_run_exits_1_with_the_traceback_and_a_summary(tmp_path):
    # A bug inside training (here: a backward pass that breaks at the third step).
    script = (
        "import sys, tui_trainer.engine.model as m\n"
        "real = m.FullyConnectedNet.loss\n"
        "calls = []\n"
        "def broken(self, *a, **k):\n"
        "    calls.append(1)\n"
        "    if len(calls) > 3: raise FloatingPointError('backward broke')\n"
        "    return real(self, *a, **k)\n"
        "m.FullyConnectedNet.loss = broken\n"
        "from tui_trainer.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", script, "run", "digits-fast", "--json", "--runs-dir", "runs"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert r.returncode == 1
    assert "Traceback" in r.stderr and "FloatingPointError" in r.stderr
    assert events_of(r.stdout)[-1]["status"] == "failed"
    summary = json.loads((the_run_dir(tmp_path / "runs") / "summary.json").read_text())
    assert summary["status"] == "failed" and "backward broke" in summary["reason"]


# --- bad input: exit 2, one line, no traceback ---------------------------------------


def test_a_misspelled_key_exits_2_naming_file_and_key(tmp_path):
    preset = tmp_path / "mine.toml"
    preset.write_text('name = "mine"\n[train]\nlearnig_rate = 1e-3\n')
    r = run(tmp_path, "run", str(preset), "--runs-dir", "runs")
    assert r.returncode == 2
    assert r.stderr == f"tui-trainer: {preset}: train.learnig_rate: unknown key; did you mean 'train.learning_rate'?\n"
    assert r.stdout == ""
    assert not (tmp_path / "runs").exists()  # nothing ran, nothing recorded


@pytest.mark.parametrize(
    "args,expected",
    [
        (
            ["default", "--set", "train.batch_size=0"],
            "--set train.batch_size: 0 is not allowed; expected an integer >= 1",
        ),
        (["default", "--set", "model.hidden=[50, 0]"], "--set model.hidden: [50, 0] is not allowed"),
        (["nope"], "unknown preset 'nope'"),
        (
            ["digits-fast", "--set", 'data.preprocess=["pca:100"]'],
            # the value came from --set: the message names --set, not the preset file
            "tui-trainer: --set data.preprocess: 'pca:100' asks for more components than the 64 input features",
        ),
        (["digits-fast", "--set", "data.num_train=5000"], "digits-fast.toml: data.num_train + num_val + num_test"),
        (["cifar10-2layer"], "cifar10-2layer.toml: data.path: not set, and cifar10 is not in "),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(tmp_path, args, expected):
    r = run(tmp_path, "run", *args, "--json", "--runs-dir", "runs")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("tui-trainer: ") and r.stderr.count("\n") == 1, r.stderr
    assert expected in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_a_data_error_about_a_key_from_the_file_names_the_file(tmp_path):
    preset = tmp_path / "mine.toml"
    preset.write_text(
        'name = "mine"\n[data]\ndataset = "digits"\nnum_train = 1297\nnum_val = 250\nnum_test = 250\n'
        'preprocess = ["pca:100"]\n'
    )
    r = run(tmp_path, "run", str(preset), "--set", "train.epochs=1", "--json", "--runs-dir", "runs")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"tui-trainer: {preset}: data.preprocess: 'pca:100' asks for more components"), r.stderr


def test_cifar10_without_its_data_says_how_to_fetch_it(tmp_path):
    r = run(tmp_path, "run", "cifar10-2layer", "--runs-dir", "runs", env={"TUI_TRAINER_DATA_DIR": str(tmp_path)})
    assert r.returncode == 2
    assert "tui-trainer data fetch cifar10" in r.stderr and str(tmp_path) in r.stderr


# --- signals and crashes ------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_run_stops_at_the_next_step_with_exit_130(tmp_path, sig):
    proc = subprocess.Popen(
        cli("run", "default", "--set", "train.epochs=500", "--json", "--runs-dir", "runs"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        lines = Lines(proc)
        seen = read_until(lines, lambda e, _: e["event"] == "step")
        proc.send_signal(sig)
        events = seen + lines.rest()
        err = proc.stderr.read().decode()
        proc.wait(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    check_stream(events)
    ended = events[-1]
    assert ended["status"] == "stopped" and ended["reason"] == f"interrupted by {sig.name}"
    assert ended["iterations"] < 500 * 20
    summary = json.loads((the_run_dir(tmp_path / "runs") / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["iterations"] == ended["iterations"]
    assert "Traceback" not in err


@pytest.mark.parametrize("epochs_before_kill", [1, 6])
def test_sigkill_leaves_whole_lines_and_whole_files(tmp_path, epochs_before_kill):
    # digits-fast's epochs are short, so best.npz is rewritten often while we kill.
    proc = subprocess.Popen(
        cli("run", "digits-fast", "--set", "train.epochs=100000", "--json", "--runs-dir", "runs"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        read_until(Lines(proc), lambda e, seen: sum(x["event"] == "epoch" for x in seen) >= epochs_before_kill)
    finally:
        proc.kill()
        proc.wait(timeout=TIMEOUT)
    d = the_run_dir(tmp_path / "runs")
    text = (d / "metrics.jsonl").read_text()
    assert text.endswith("\n")
    events = [json.loads(line) for line in text.splitlines()]  # every line parses
    assert events[0]["event"] == "run_started"
    assert sum(e["event"] == "epoch" for e in events) >= epochs_before_kill
    assert "run_ended" not in [e["event"] for e in events]
    visible = {p.name for p in d.iterdir() if not p.name.startswith(".")}
    assert visible <= RUN_FILES and "summary.json" not in visible  # killed: no summary, nothing half-named
    assert all(p.name.endswith(".tmp") for p in d.iterdir() if p.name.startswith("."))
    # best.npz is saved just after each epoch's event; once a later epoch was
    # seen it must be there, and whenever it is there it must be whole.
    assert (d / "best.npz").exists() or epochs_before_kill == 1
    if (d / "best.npz").exists():
        with np.load(d / "best.npz") as best:
            assert best["W1"].shape == (64, 50) and np.isfinite(best["W1"]).all()
    loads_preset((d / "config.toml").read_text())


def test_a_closed_stdout_stops_the_run_without_a_traceback(tmp_path):
    proc = subprocess.Popen(
        cli("run", "default", "--set", "train.epochs=500", "--json", "--runs-dir", "runs"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        read_until(Lines(proc), lambda e, _: e["event"] == "step")
        proc.stdout.close()  # like `| head -1` exiting
        err = proc.stderr.read().decode()
        proc.wait(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == 141  # as a writer killed by SIGPIPE (130 would say Ctrl+C)
    assert err == ""
    summary = json.loads((the_run_dir(tmp_path / "runs") / "summary.json").read_text())
    assert summary["status"] == "stopped" and "broken pipe" in summary["reason"]


# --- people: plain lines and the live display -------------------------------------


def test_without_a_terminal_one_plain_line_per_epoch(tmp_path):
    # FORCE_COLOR is set on many CI systems; a pipe still gets plain text.
    r = run(
        tmp_path,
        "run",
        "digits-fast",
        "--set",
        "train.epochs=3",
        "--runs-dir",
        "runs",
        env={"FORCE_COLOR": "1", "NO_COLOR": ""},
    )
    assert r.returncode == 0
    assert r.stderr == ""  # the log is stdout's; stderr is for errors and warnings
    lines = r.stdout.splitlines()
    assert "\x1b" not in r.stdout and "\r" not in r.stdout
    assert lines[0].startswith("run runs/") and "1297 train / 250 val" in lines[0]
    assert [line.split(":")[0] for line in lines[1:4]] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert re.match(r"epoch 1/3: loss \d\.\d{4}  train acc 0\.\d{3}  val acc 0\.\d{3}  lr 0\.02  \d+\.\ds$", lines[1])
    assert lines[4].startswith("finished: 3 epochs done; best val acc 0.")
    assert len(lines) == 5


def test_a_log_file_gets_the_plain_lines_when_stderr_is_a_terminal(tmp_path):
    """`tui-trainer run default > log.txt` typed in a terminal: the file gets the log."""
    master, slave = pty.openpty()
    log = tmp_path / "log.txt"
    with log.open("w") as out:
        proc = subprocess.run(
            cli("run", "digits-fast", "--set", "train.epochs=2", "--runs-dir", "runs"),
            cwd=tmp_path,
            stdin=slave,
            stdout=out,
            stderr=slave,
            env={**os.environ, "TERM": "xterm-256color"},
            timeout=TIMEOUT,
        )
    os.close(slave)
    drawn = b""
    while select.select([master], [], [], 0)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(master)
    assert proc.returncode == 0
    lines = log.read_text().splitlines()
    assert [line.split(":")[0] for line in lines[1:3]] == ["epoch 1/2", "epoch 2/2"]
    assert lines[-1].startswith("finished: 2 epochs done")
    assert drawn == b""  # nothing drawn on the terminal: no error, no warning


def run_in_terminal(
    tmp_path: Path,
    args: list[str],
    env: dict,
    columns: int = 80,
    ctrl_c_after: bytes | None = None,
    hang_up_after: bytes | None = None,
) -> tuple[int, str]:
    """Run the command with a pseudo-terminal as its controlling terminal; optionally
    press Ctrl+C, or close the terminal (a dropped SSH session), once the given bytes
    have been drawn. Returns (exit status, output)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))

    def take_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        cli(*args),
        cwd=tmp_path,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "TERM": "xterm-256color", **env},
        preexec_fn=take_terminal,
    )
    os.close(slave)
    out = b""
    pressed = False
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            if ctrl_c_after and not pressed and ctrl_c_after in out:
                os.write(master, b"\x03")
                pressed = True
            if hang_up_after and hang_up_after in out:
                os.close(master)
                master = None
                break
        proc.wait(timeout=TIMEOUT)
    finally:
        proc.kill()
        if master is not None:
            os.close(master)
    return proc.returncode, out.decode("utf-8", "replace")


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def colour_codes(text: str) -> list[str]:
    """SGR parameters that set a colour (30-38, 40-48, 90-107); bold and dim are not colour."""
    found = []
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        found += [p for p in params.split(";") if p and (30 <= int(p) <= 48 or 90 <= int(p) <= 107)]
    return found


def test_in_a_terminal_a_live_display_then_a_summary_and_curves(tmp_path):
    rc, out = run_in_terminal(
        tmp_path,
        ["run", "digits-fast", "--set", "train.epochs=40", "--runs-dir", "runs"],
        env={"NO_COLOR": ""},
        columns=80,
    )
    assert rc == 0, out
    plain = strip_ansi(out)
    assert re.search(r"epoch \d+/40 ", plain) and "it  " in plain and "ETA" in plain  # the live view
    assert re.search(r"loss \d\.\d{4} [▁▂▃▄▅▆▇█]+", plain)  # loss and its sparkline
    report = plain[plain.index("digits-fast: finished") :]
    assert "best val acc" in report and "run directory" in report and "runs/" in report
    assert "loss per iteration" in report and "accuracy per epoch" in report  # the plotext curves
    assert all(len(line) <= 80 for line in report.splitlines()), max(report.splitlines(), key=len)
    assert colour_codes(out)  # colour by default


def test_no_color_in_a_terminal_draws_without_colour(tmp_path):
    rc, out = run_in_terminal(
        tmp_path,
        ["run", "digits-fast", "--set", "train.epochs=2", "--runs-dir", "runs"],
        env={"NO_COLOR": "1"},
        columns=120,
    )
    assert rc == 0, out
    assert colour_codes(out) == []
    report = strip_ansi(out)
    assert "loss per iteration" in report and "accuracy per epoch" in report
    line = next(x for x in report.splitlines() if "loss per iteration" in x)
    assert "accuracy per epoch" in line  # 120 columns: the two curves side by side
    # train and val named where they end, not by a legend over the curves; round ticks
    assert re.search(r" train *│", report) and re.search(r" val *│", report)
    lines = report.splitlines()
    ticks = lines[next(i for i, x in enumerate(lines) if x.lstrip().startswith("└")) + 1]
    loss_ticks = [float(t) for t in ticks[: len(ticks) // 2].split()]
    steps = {b - a for a, b in zip(loss_ticks, loss_ticks[1:])}
    assert len(loss_ticks) >= 3 and len(steps) == 1 and steps.pop() in (1, 2, 2.5, 5, 10, 20, 25, 50, 100), ticks


def test_ctrl_c_in_a_terminal_stops_the_run_with_exit_130(tmp_path):
    rc, out = run_in_terminal(
        tmp_path, ["run", "default", "--set", "train.epochs=500", "--runs-dir", "runs"], env={}, ctrl_c_after=b"it/s"
    )
    assert rc == 130, strip_ansi(out)[-2000:]
    assert "stopped" in strip_ansi(out) and "Traceback" not in out
    summary = json.loads((the_run_dir(tmp_path / "runs") / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["reason"] == "interrupted by SIGINT"


# --- in process: the second Ctrl+C ---------------------------------------------------


def test_the_second_interrupt_stops_at_once_and_the_record_still_ends_once(tmp_path):
    import io

    from tui_trainer.commands import run as run_command
    from tui_trainer.commands.run_faces import JsonLines, Record
    from tui_trainer.config import load_preset
    from tui_trainer.datasets import load_dataset
    from tui_trainer.engine import RunControl
    from tui_trainer.engine.events import Step
    from tui_trainer.lab.session import record_run

    preset = load_preset("digits-fast", ["train.epochs=50"])
    data = load_dataset(preset.data)
    control = RunControl()
    out = io.StringIO()
    face = JsonLines(out, control)
    signals = run_command.stop_on_signals(control, Record())

    def ctrl_c_twice(event):  # two presses within one step: what the signal handler does
        if isinstance(event, Step) and event.iteration == 20:
            signals._handle(signal.SIGINT, None)
            assert control.stopped
            signals._handle(signal.SIGINT, None)  # raises KeyboardInterrupt

    run = record_run(preset, data, tmp_path, control, face, ctrl_c_twice)
    ended = run.run()
    assert ended.status == "stopped" and ended.reason == "interrupted twice; stopped at once"
    assert ended.iterations == 20
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    check_stream(events)
    assert events[-1]["reason"] == ended.reason
    assert read_metrics(run.path) == events
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["iterations"] == 20


def test_a_hangup_stops_the_run_and_keeps_its_record(tmp_path):
    """Over SSH the terminal can vanish mid-run: the run stops and its record still ends."""
    run_in_terminal(
        tmp_path, ["run", "default", "--set", "train.epochs=500", "--runs-dir", "runs"], env={}, hang_up_after=b"it/s"
    )
    summary = json.loads((the_run_dir(tmp_path / "runs") / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["reason"] == "interrupted by SIGHUP"
    check_stream(read_metrics(the_run_dir(tmp_path / "runs")))


def test_a_signal_the_caller_ignores_stays_ignored(tmp_path):
    """Like a job started with nohup or in the background: SIGINT ignored, SIGTERM still stops it."""
    proc = subprocess.Popen(
        cli("run", "default", "--set", "train.epochs=500", "--json", "--runs-dir", "runs"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        lines = Lines(proc)
        read_until(lines, lambda e, _: e["event"] == "step")
        proc.send_signal(signal.SIGINT)
        seen = read_until(lines, lambda e, seen: e["event"] == "epoch")  # still training
        assert all(e["event"] != "run_ended" for e in seen)
        proc.send_signal(signal.SIGTERM)
        events = lines.rest()
        proc.wait(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert events[-1]["reason"] == "interrupted by SIGTERM"


def test_every_commands_events_take_the_one_path_to_json():
    """run, search, lr-find and tune write their --json lines with engine/events.py's event_line."""
    import math

    from tui_trainer.engine.events import Step, event_line, to_dict
    from tui_trainer.lab.lr_find import LrFindEnded

    ended = LrFindEnded("finished", "", 1e-3, {"valley": 2e-3, "steepest": None}, (1e-4, 1e-2), "p", 1.5)
    assert json.loads(event_line(ended)) == {
        "event": "lr_find_ended",
        "status": "finished",
        "reason": "",
        "suggested_lr": 1e-3,
        "suggestions": {"valley": 2e-3, "steepest": None},
        "spread": [1e-4, 1e-2],
        "path": "p",
        "elapsed_s": 1.5,
        "warnings": [],
    }
    step = Step(3, 0.5, math.inf, 1e-3)
    assert event_line(step) == json.dumps(to_dict(step))

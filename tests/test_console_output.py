"""What the commands leave in a file or a pipe, as a script or a log reads it:
tables neither wrapped nor padded, a closed pipe that ends a run quietly, the
run's record as it trained (a capped batch, only the keys that apply), run
names as `runs` lists them, words in the singular and plural they need."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from tui_trainer.config import load_preset, loads_preset, to_toml
from tui_trainer.records.run_folder import moot_keys

TIMEOUT = 120


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui_trainer", *args]


# As a shell starts a command: no COLUMNS (Textual's import sets it in this process).
ENV = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}


def run(tmp_path: Path, *args: str, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli(*args), cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT, stdin=stdin, env=ENV
    )


def test_a_run_whose_reader_goes_away_ends_quietly(tmp_path):
    proc = subprocess.Popen(
        cli("run", "default", "--set", "train.epochs=200", "--runs-dir", "runs"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.readline()
    proc.stdout.close()  # `| head -2`
    rc = proc.wait(timeout=TIMEOUT)
    err = proc.stderr.read().decode()
    assert rc == 141, (rc, err)  # as a writer killed by SIGPIPE: not 130, which says Ctrl+C
    assert err == ""
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert "stdout was closed" in (run_dir / "summary.json").read_text()  # the record says why it stopped


def test_piped_tables_are_neither_wrapped_nor_padded(tmp_path):
    for args in (["presets"], ["check", "digits-fast"]):
        out = run(tmp_path, *args)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert all(line == line.rstrip() for line in lines), [line for line in lines if line != line.rstrip()]
        assert all("\x1b" not in line for line in lines)
    checks = [line for line in lines if line.startswith("│ ")]
    assert len(checks) == 4, out.stdout  # one line per check: none wrapped onto a second
    assert any("overfit-small" in line and "within 200 epochs" in line for line in checks)


def test_the_record_holds_the_batch_used_and_only_the_keys_that_apply(tmp_path):
    out = run(tmp_path, "run", "digits-fast", "--set", "train.batch_size=100000", "--set", "train.epochs=1")
    assert out.returncode == 0, out.stderr
    assert "train.batch_size 100000 is more than the 1297 training examples" in out.stderr
    assert "1 epoch x 1 iteration;" in out.stdout  # the whole set in one batch: singular
    (run_dir,) = (tmp_path / "runs").iterdir()
    config = tomllib.loads((run_dir / "config.toml").read_text())
    assert config["train"]["batch_size"] == 1297
    assert "classes" not in config["data"] and "noise" not in config["data"] and "path" not in config["data"]
    assert load_preset(str(run_dir / "config.toml")).train.batch_size == 1297  # it reads back
    # the runs view and --export-weights name it as `runs` lists it on a narrow terminal
    short = run_dir.name[len("20261124-171500-") :]
    exported = run(tmp_path, "runs", "--export-weights", short)
    assert exported.returncode == 0, exported.stderr
    assert (run_dir / "W1.png").is_file()


def test_moot_keys_are_left_out_only_where_they_are_moot():
    spiral = load_preset("spiral")
    assert {"data.classes", "data.noise"} & moot_keys(spiral) == set()
    text = to_toml(spiral, moot_keys(spiral))
    assert "classes =" in text and "noise =" in text and "path =" not in text
    adam = load_preset("default").replace(**{"train.update": "adam", "model.init": "he"})
    assert {"train.momentum", "model.init_std", "data.classes", "data.noise"} <= moot_keys(adam)
    back = loads_preset(to_toml(adam, moot_keys(adam)))  # the moot keys read back as their defaults
    assert back.replace(**{"train.momentum": adam.train.momentum, "model.init_std": adam.model.init_std}) == adam
    assert loads_preset(to_toml(adam)) == adam  # the whole preset still round-trips


def test_plurals_in_the_plain_log(tmp_path):
    out = run(tmp_path, "run", "digits-fast", "--set", "train.epochs=2")
    assert out.returncode == 0, out.stderr
    assert "2 epochs x 25 iterations;" in out.stdout
    assert "(s)" not in out.stdout + out.stderr

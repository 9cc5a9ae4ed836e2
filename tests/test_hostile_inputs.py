"""Hostile presets, edited run records and odd terminals: one line and exit 2 for bad
input, never a traceback; what can be shown is shown."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cli_errors import one_clean_line

from tui_trainer.config import loads_preset, parse_override
from tui_trainer.errors import PresetError
from tui_trainer.records.run_folder import list_runs

REPO = Path(__file__).resolve().parent.parent


def cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui_trainer", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )


# --- presets -------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(depth=st.integers(1, 3000), kind=st.sampled_from(["array", "inline table", "table"]))
def test_toml_nested_any_depth_is_a_preset_error_or_a_preset(depth, kind):
    if kind == "array":
        text = "x = " + "[" * depth + "]" * depth
    elif kind == "inline table":
        text = "x = " + "{a = " * depth + "1" + "}" * depth
    else:
        text = "[" + ".".join(["a"] * depth) + "]"
    with pytest.raises(PresetError):  # never RecursionError: deep, or an unknown key
        loads_preset(text, source="deep.toml")


def test_a_deep_value_from_set_is_a_preset_error():
    with pytest.raises(PresetError, match=r"--set train.reg: the value is nested too deep"):
        parse_override("train.reg=" + "[" * 1000 + "]" * 1000)


def test_deep_nesting_through_the_cli_is_one_line(tmp_path):
    (tmp_path / "deep.toml").write_text("a = " + "[" * 1000 + "]" * 1000 + "\n")
    one_clean_line(cli(tmp_path, "run", "deep.toml"), "deep.toml: not valid TOML for a preset: nested too deep")
    one_clean_line(cli(tmp_path, "run", "spiral", "--set", "train.reg=" + "[" * 1000), "--set train.reg")


def test_a_preset_with_a_byte_order_mark_loads(tmp_path):
    (tmp_path / "bom.toml").write_bytes(b'\xef\xbb\xbfname = "bom"\n[train]\nepochs = 1\n')
    r = cli(tmp_path, "run", "bom.toml", "--set", "data.dataset=spiral", "--runs-dir", "runs")
    assert r.returncode == 0, r.stderr


def test_a_folder_given_as_the_preset_says_it_is_a_folder(tmp_path):
    (tmp_path / "presets.toml").mkdir()
    one_clean_line(cli(tmp_path, "run", "presets.toml"), "presets.toml: a folder, not a preset file")


def test_huge_noise_is_refused_by_the_schema_with_no_warnings(tmp_path):
    r = cli(tmp_path, "run", "spiral", "--set", "data.noise=1e308")
    one_clean_line(r, "--set data.noise", "from 0 to 1000")
    assert "RuntimeWarning" not in r.stderr


# --- edited run records ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_run(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("record")
    r = cli(where, "run", "digits-fast", "--set", "train.epochs=1", "--runs-dir", "runs")
    assert r.returncode == 0, r.stderr
    (run,) = (where / "runs").iterdir()
    return run


def copy_run(run: Path, tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(run, tmp_path / "runs" / run.name)
    return tmp_path / "runs" / run.name


@pytest.mark.parametrize(
    "file, text",
    [
        ("summary.json", "[1, 2]"),
        ("summary.json", '{"status": 5, "best_val_acc": "high", "elapsed_s": [1]}'),
        ("summary.json", "\xff\xfe"),
        ("config.toml", "train = 5\n"),
        ("config.toml", 'name = 3\n[train]\nlearning_rate = "fast"\nbatch_size = 1.5\n'),
        ("config.toml", "a = " + "[" * 1000 + "]" * 1000),
    ],
)
def test_runs_lists_edited_records_with_what_it_can_read(one_run, tmp_path, file, text):
    run = copy_run(one_run, tmp_path)
    (run / file).write_text(text, encoding="latin-1")
    (info,) = list_runs(tmp_path / "runs")
    assert isinstance(info.status, str) and info.best_val_acc is None or isinstance(info.best_val_acc, float)
    r = cli(tmp_path, "runs", "--runs-dir", "runs")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert run.name.rsplit("-", 1)[1] in r.stdout


@pytest.mark.parametrize("shape", [["a", 2], [1e9, 1e9, 1], 5, [-8, 8, 1], [True, 8, 1]])
def test_export_weights_with_a_bad_recorded_image_shape_is_one_line(one_run, tmp_path, shape):
    run = copy_run(one_run, tmp_path)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["image_shape"] = shape
    (run / "metrics.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    r = cli(tmp_path, "runs", "--runs-dir", "runs", "--export-weights", run.name, "--out", "w.png")
    one_clean_line(r, "metrics.jsonl: run_started's image_shape is")


def test_export_weights_refuses_a_best_npz_whose_header_lies(one_run, tmp_path):
    run = copy_run(one_run, tmp_path)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**12, 64)})
    with zipfile.ZipFile(run / "best.npz", "w") as z:
        z.writestr("W1.npy", header.getvalue() + b"\0" * 64)
    r = cli(tmp_path, "runs", "--runs-dir", "runs", "--export-weights", run.name, "--out", "w.png")
    one_clean_line(r, "best.npz: truncated: its header promises W1 of shape (1000000000000, 64)")


# --- terminals that cannot encode a path ------------------------------------------------------


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C", "PYTHONUTF8": "0"}])
def test_non_ascii_paths_on_an_ascii_terminal(tmp_path, env):
    runs = tmp_path / "läufe"
    preset = tmp_path / "ü.toml"
    preset.write_text((REPO / "presets" / "spiral.toml").read_text())
    r = cli(tmp_path, "run", str(preset), "--set", "train.epochs=1", "--runs-dir", str(runs), **env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    listed = cli(tmp_path, "runs", "--runs-dir", str(runs), **env)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    missing = cli(tmp_path, "run", str(tmp_path / "nö.toml"), **env)
    one_clean_line(missing, "no such preset file")

"""Bad input at the command line: exit 2, one line on stderr naming what is wrong, nothing recorded."""

import subprocess
import sys

import numpy as np
import pytest


def cli(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "tui_trainer", *args], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )


def one_clean_line(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_a_net_too_big_for_the_machine_names_model_hidden_and_records_nothing(tmp_path):
    r = cli(tmp_path, "run", "spiral", "--set", "model.hidden=[100000000]", "--runs-dir", "runs")
    one_clean_line(r, "--set model.hidden: [100000000]", "GiB")  # the value came from --set
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    r = cli(tmp_path, "check", "spiral", "--set", "model.hidden=[100000, 100000]")
    one_clean_line(r, "model.hidden")


@pytest.mark.parametrize(
    "args, needle",
    [
        (["data", "fetch", "nope"], "invalid choice: 'nope'"),
        (["run"], "the following arguments are required: preset"),
        (["run", "default", "--bogus"], "unrecognized arguments: --bogus"),
        (["run", "nosuch"], "unknown preset 'nosuch'; shipped presets: "),
    ],
)
def test_usage_errors_are_one_line(tmp_path, args, needle):
    one_clean_line(cli(tmp_path, *args), needle)


@pytest.mark.parametrize(
    "typed, meant", [("chek", "check"), ("serch", "search"), ("rnu", "run"), ("preset", "presets")]
)
def test_a_misspelt_command_names_the_one_it_probably_meant(tmp_path, typed, meant):
    one_clean_line(cli(tmp_path, typed, "default"), f"{typed!r} is not a command; did you mean {meant!r}?")


def test_a_preset_named_like_a_command_still_opens_as_a_preset(tmp_path, monkeypatch):
    from tui_trainer.cli import misspelt_command

    monkeypatch.chdir(tmp_path)
    assert misspelt_command("chek") == "check"
    (tmp_path / "chek").write_text("")  # a file that exists is the workbench's argument, whatever its name
    assert misspelt_command("chek") is None
    assert misspelt_command("default") is None and misspelt_command("spiral") is None
    assert misspelt_command("--set") is None


def test_runs_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x")
    one_clean_line(cli(tmp_path, "runs", "--runs-dir", "afile"), "afile: --runs-dir must be a folder")


def test_export_weights_refuses_a_checkpoint_with_nan_weights(tmp_path):
    r = cli(tmp_path, "run", "digits-fast", "--set", "train.epochs=1", "--runs-dir", "runs")
    assert r.returncode == 0, r.stderr
    (run,) = (tmp_path / "runs").iterdir()
    with np.load(run / "best.npz") as f:
        params = dict(f)
    params["W1"][0, 0] = np.nan
    np.savez(run / "best.npz", **params)
    r = cli(tmp_path, "runs", "--runs-dir", "runs", "--export-weights", run.name, "--out", "w.png")
    one_clean_line(r, "best.npz: W1 holds NaN or infinite weights")
    assert not (tmp_path / "w.png").exists()

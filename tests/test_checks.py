"""The sanity-check suite: passes on healthy set-ups, fails where the lecture says it should."""

import json
import math
import re
import subprocess
import sys

import gensets
import pytest

import tui_trainer.engine.model as model_module
from tui_trainer.config import load_preset, loads_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.lab.checks import (
    CHECKS,
    OVERFIT_EPOCHS,
    check_gradient,
    check_initial_loss,
    check_overfit_small,
    check_regularization,
    run_checks,
)

# A 2-D spiral: plain sgd on 20 points needs a large step to fit them in 200 epochs.
SPIRAL = """
name = "spiral-check"
description = "a 100-unit net on a 3-arm spiral"
[data]
dataset = "spiral"
num_train = 300
num_val = 150
num_test = 0
preprocess = []
[model]
hidden = [100]
init_std = 0.05
[train]
learning_rate = 3.0
"""

DIGITS = """
name = "digits-check"
description = "a 50-unit net on the bundled 8x8 digits"
[data]
dataset = "digits"
num_train = 1000
num_val = 300
num_test = 0
preprocess = ["mean", "std"]
[model]
hidden = [50]
init_std = 1e-3
[train]
learning_rate = 0.3
"""


def setup(text, *overrides):
    preset = loads_preset(text, overrides=overrides)
    return preset, load_dataset(preset.data)


@pytest.mark.parametrize("text", [SPIRAL, DIGITS], ids=["spiral", "digits"])
def test_all_four_checks_pass_on_a_healthy_setup(text):
    preset, data = setup(text)
    results = run_checks(preset, data)
    assert [r.name for r in results] == list(CHECKS)
    for r in results:
        assert r.passed, f"{r.name}: {r.value} (expected {r.expected}); {r.advice}"
        assert r.advice == ""
    by_name = {r.name: r for r in results}
    assert by_name["initial-loss"].measured == pytest.approx(math.log(data.num_classes), abs=0.1)
    assert by_name["gradient"].measured < 1e-7
    assert by_name["overfit-small"].measured == 1.0


def test_svm_initial_loss_is_c_minus_one():
    preset, data = setup(DIGITS, 'model.loss="svm"')
    r = check_initial_loss(preset, data)
    assert r.passed and r.measured == pytest.approx(9.0, abs=0.1) and "C - 1" in r.expected


def test_initial_loss_fails_with_a_huge_init():
    preset, data = setup(DIGITS, "model.init_std=10.0")
    r = check_initial_loss(preset, data)
    assert not r.passed
    assert abs(r.measured - math.log(10)) > 1
    assert "init_std" in r.advice


def test_regularization_fails_when_the_reg_term_is_missing(monkeypatch):
    preset, data = setup(SPIRAL)
    monkeypatch.setattr(model_module.FullyConnectedNet, "reg_loss", lambda self, reg: 0.0)
    r = check_regularization(preset, data)
    assert not r.passed and "regularization term" in r.advice


def break_backward(monkeypatch, grad: str, factor: float) -> None:
    """Every affine layer's backward pass scales its `grad` ("dw" or "db") by `factor`: a bug to catch."""
    real = model_module.affine_backward

    def broken(dout, cache, dx=None, dw=None, db=None, need_dx=True):
        dx, dw, db = real(dout, cache, dx=dx, dw=dw, db=db, need_dx=need_dx)
        (dw if grad == "dw" else db)[...] *= factor
        return dx, dw, db

    monkeypatch.setattr(model_module, "affine_backward", broken)


def test_gradient_check_fails_on_a_broken_backward(monkeypatch):
    preset, data = setup(DIGITS)
    break_backward(monkeypatch, "db", 2.0)
    r = check_gradient(preset, data)
    assert not r.passed
    assert r.measured > 1e-2
    assert "gradient of b" in r.advice and "backward" in r.advice


def unscaled(tmp_path, *overrides):
    """Blobs with every feature on a 1e4 scale, mean-centred only (the preset's default)."""
    path = gensets.write(tmp_path, "scale", *gensets.scaled(*gensets.blobs(600, 20, 4, spread=1.5), 1e4, 1e4))
    preset = gensets.npz_preset(path, 400, 200, *overrides)
    return preset, load_dataset(preset.data)


def test_the_gradient_check_passes_a_correct_net_on_unscaled_inputs(tmp_path, monkeypatch):
    # A step of 1e-5 on W1 moved the pre-activations by 0.1 on 1e4-scale features: past ReLU
    # kinks, and a second-order error of 1e-3 ("the analytic gradient of W1 is wrong").
    # Scaled to the inputs, the step moves them by 1e-5 as on unit-scale data.
    preset, data = unscaled(tmp_path)
    r = check_gradient(preset, data)
    assert r.passed, r.value
    assert r.measured < 1e-7 and "entries compared" in r.value
    # and it still catches a broken backward pass there
    break_backward(monkeypatch, "dw", 0.5)
    broken = check_gradient(preset, data)
    assert not broken.passed and "gradient of W" in broken.advice


def test_the_gradient_check_says_how_many_entries_crossed_a_kink():
    preset, data = setup(SPIRAL)
    r = check_gradient(preset, data)
    m = re.search(
        r"(\d+) entries compared, (none skipped|(\d+) skipped: their step crossed a ReLU or hinge kink)", r.value
    )
    assert m, r.value


def test_the_initial_loss_names_std_preprocessing_for_unscaled_inputs(tmp_path):
    preset, data = unscaled(tmp_path, "model.init_std=1e-2")
    r = check_initial_loss(preset, data)
    assert not r.passed and "data.preprocess = ['mean', 'std']" in r.advice and "init_std" not in r.advice
    # he on unit-scale inputs starts well above ln C, by design: it passes
    preset, data = unscaled(tmp_path, 'data.preprocess=["mean", "std"]', "model.init=he")
    r = check_initial_loss(preset, data)
    assert r.passed and r.measured > 1.2 * math.log(4) and "he on unit-scale inputs" in r.expected


def test_overfit_at_a_rate_too_low_finds_the_rate_that_passes():
    # lr-too-low (lr 1e-6) cannot fit 20 digits in 200 epochs; the ladder 1e-5, 1e-4, 1e-3 finds one that does
    preset = load_preset("lr-too-low")
    r = check_overfit_small(preset, load_dataset(preset.data, source=preset.source))
    assert not r.passed and r.measured < 1.0
    assert r.passing_lr == pytest.approx(1e-3)
    assert r.advice.startswith("passes at lr 0.001: the preset's rate is too low")
    assert r.to_dict()["passing_lr"] == pytest.approx(1e-3)


def test_overfit_with_a_broken_update_fails_at_every_rate(monkeypatch):
    preset = load_preset("overfit-small")
    data = load_dataset(preset.data, source=preset.source)
    real = model_module.affine_backward

    def no_dw(dout, cache, dx=None, dw=None, db=None, need_dx=True):  # the weights never learn
        dx, dw, db = real(dout, cache, dx=dx, dw=dw, db=db, need_dx=need_dx)
        dw[...] = 0
        return dx, dw, db

    monkeypatch.setattr(model_module, "affine_backward", no_dw)
    r = check_overfit_small(preset, data)
    assert not r.passed and r.passing_lr is None and r.to_dict()["passing_lr"] is None
    assert r.advice.startswith("fails at every rate tried (0.001, 0.01, 0.1, 1): look for a bug")
    assert r.value.startswith(f"train acc {r.measured:.2f} after {OVERFIT_EPOCHS} epochs")  # it never fit: all epochs


def test_overfit_at_the_presets_rate_tries_no_ladder_and_stops_once_it_fits():
    preset = load_preset("overfit-small")
    epochs = []
    r = check_overfit_small(preset, load_dataset(preset.data, source=preset.source), progress=epochs.append)
    assert r.passed and r.passing_lr is None and r.advice == ""
    # train accuracy 1.00 ends the run: the epochs it took are in the value, and the last one reached 1.00
    took = int(re.fullmatch(r"train acc 1\.00 after (\d+) epochs?, loss .*", r.value).group(1))
    assert took < OVERFIT_EPOCHS and epochs[-1] == took / OVERFIT_EPOCHS and len(epochs) == took


def test_overfit_reports_an_explosion():
    preset, data = setup(SPIRAL, "train.learning_rate=1e4", "model.init_std=1.0")
    r = check_overfit_small(preset, data)
    assert not r.passed and "exploded" in r.advice and "lower train.learning_rate" in r.advice


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tui_trainer", *args], capture_output=True, text=True, timeout=120)


def test_cli_check_json_prints_one_object_and_exits_0_when_all_pass(tmp_path):
    path = tmp_path / "spiral.toml"
    path.write_text(SPIRAL)
    out = run_cli("check", str(path), "--json")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["passed"] is True
    assert [c["name"] for c in report["checks"]] == list(CHECKS)
    for c in report["checks"]:
        assert {"name", "value", "expected", "passed", "advice"} <= set(c)
        assert c["passed"] is True


def test_cli_check_json_exits_1_when_a_check_fails(tmp_path):
    path = tmp_path / "spiral.toml"
    path.write_text(SPIRAL)
    out = run_cli("check", str(path), "--json", "--set", "train.learning_rate=1e-6")
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert report["passed"] is False
    failed = [c for c in report["checks"] if not c["passed"]]
    assert [c["name"] for c in failed] == ["overfit-small"] and failed[0]["advice"]
    assert "passing_lr" in failed[0]  # a number, or null when no rate of the ladder passes


def test_cli_check_table_for_people(tmp_path):
    path = tmp_path / "spiral.toml"
    path.write_text(SPIRAL)
    out = run_cli("check", str(path))
    assert out.returncode == 0, out.stderr
    for name in CHECKS:
        assert name in out.stdout
    assert "pass" in out.stdout


def test_cli_check_bad_input_exits_2_without_a_traceback(tmp_path):
    out = run_cli("check", "no-such-preset", "--json")
    assert out.returncode == 2
    assert "no-such-preset" in out.stderr and "Traceback" not in out.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(SPIRAL.replace("learning_rate = 3.0", "learning_rat = 3.0"))
    out = run_cli("check", str(bad), "--json")
    assert out.returncode == 2 and "learning_rat" in out.stderr and "Traceback" not in out.stderr


def test_cli_check_without_the_data_says_how_to_fetch_it(tmp_path, monkeypatch, capsys):
    from tui_trainer.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["check", "cifar10-2layer"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tui-trainer data fetch cifar10" in err and "cifar10-2layer.toml" in err

"""lr-find: the learning-rate range test, its suggestions, and the command's faces."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tui_trainer.config import load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import RunControl, Trainer
from tui_trainer.engine.events import Epoch, RunStarted
from tui_trainer.errors import UserError
from tui_trainer.lab.lr_find import (
    END_REACHED,
    STOP_FACTOR,
    combine,
    find_lr,
    minimum_tenth,
    smooth,
    steepest,
    suggestion_is_lower_bound,
    sweep,
    valley,
    warnings,
)
from tui_trainer.records.lr_find_folder import LrSweep, read_record


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui_trainer", *args], capture_output=True, text=True, timeout=120)


def test_the_suggestions_read_a_curve_as_the_lecture_does():
    # a loss flat at 2.3, falling from lr 1e-4 to its minimum at 1e-2, then diverging
    lrs = list(np.logspace(-7, 1, 81))
    x = np.log10(lrs)
    loss = np.where(x < -4, 2.3, np.where(x < -2, 2.3 - 0.9 * (x + 4), 0.5 + 3 * (x + 2) ** 2))
    losses = [float(v) for v in loss]
    v, s, m = valley(lrs, losses), steepest(lrs, losses), minimum_tenth(lrs, losses)
    assert v is not None and 1e-4 <= v < 1e-2  # on the falling stretch
    assert s is not None and 1e-4 <= s < 1e-2
    assert m == pytest.approx(1e-3)
    # an early spike: its recovery is the steepest fall, but the minimum stays where it was
    spiky = list(losses)
    spiky[12] += 3.0
    assert steepest(lrs, spiky) < 1e-5 and minimum_tenth(lrs, spiky) == pytest.approx(1e-3)
    # the debiased average starts at the first loss, not at zero
    assert smooth([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])


def test_three_seeds_give_a_median_and_a_spread_and_stop_past_four_times_the_best():
    p = load_preset("digits-fast")
    d = load_dataset(p.data, source=p.source)
    s = sweep(p, d, seed=0)
    assert f"passed {STOP_FACTOR:g}x its best" in s.stopped
    assert len(s.learning_rates) < 100 and s.smoothed[-1] > STOP_FACTOR * min(s.smoothed[:-1])
    ended = find_lr(p, d, runs_dir=None)
    assert ended.status == "finished"
    lo, hi = ended.spread
    assert all(lo <= v <= hi for v in ended.suggestions.values())
    assert ended.suggested_lr == ended.suggestions["minimum/10"]
    medians, spread = combine([s])
    assert spread[0] == min(v for v in s.suggestions.values() if v is not None)


def test_a_sweep_also_ends_on_a_loss_that_is_not_finite_and_on_stop():
    p = load_preset("spiral")
    d = load_dataset(p.data, source=p.source)
    with np.errstate(over="ignore", invalid="ignore"):  # a rate of 1e30 overflows the weights, as it should
        s = sweep(p, d, seed=0, start_lr=1e30, end_lr=1e31)
    assert s.stopped == "the loss was not finite at lr 1.02e+30" and len(s.losses) == 1  # the finite one
    control = RunControl()
    control.stop("closed")
    s = sweep(p, d, seed=0, control=control)
    assert s.stopped == "closed" and s.losses == ()


def test_a_one_epoch_run_at_the_suggested_rate_lowers_the_loss():
    p = load_preset("default")
    d = load_dataset(p.data, source=p.source)
    ended = find_lr(p, d, runs_dir=None)
    assert ended.suggested_lr is not None
    seen: list = []
    run = p.replace(**{"train.learning_rate": ended.suggested_lr, "train.epochs": 1})
    result = Trainer(run, d, seen.append).run()
    assert result.status == "finished"
    initial = next(e for e in seen if isinstance(e, RunStarted)).initial_loss
    epoch = next(e for e in seen if isinstance(e, Epoch))
    assert epoch.loss < initial - 0.05  # the loss fell within one epoch


def test_json_lines_end_with_lr_find_ended_and_the_curve_is_recorded(tmp_path):
    out = cli("lr-find", "spiral", "--json", "--runs-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["event"] for e in events] == ["lr_find_started"] + ["lr_find_sweep"] * 3 + ["lr_find_ended"]
    end = events[-1]
    assert isinstance(end["suggested_lr"], float) and math.isfinite(end["suggested_lr"])
    assert set(end["suggestions"]) == {"valley", "steepest", "minimum/10"}
    lo, hi = end["spread"]
    assert lo <= end["suggested_lr"] <= hi
    folder = Path(end["path"])
    assert folder.parent == tmp_path and folder.name.startswith("lr-find-spiral-")
    rows = (folder / "curve.csv").read_text().splitlines()
    assert rows[0] == "seed,step,learning_rate,loss,smoothed" and len(rows) > 100
    assert json.loads((folder / "result.json").read_text())["suggested_lr"] == end["suggested_lr"]


def test_people_get_a_table_and_a_log_x_plot_with_the_suggestions(tmp_path):
    out = cli("lr-find", "digits-fast", "--runs-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for words in ("valley", "steepest", "minimum/10 (suggested)", "1e-7", "smoothed loss"):
        assert words in text
    for seed in range(3):  # each seed named where its curve ends, apart from the curves
        assert re.search(rf"(?m) seed {seed} *│ *$", text), text
    assert "suggested learning rate:" in text and "tui-trainer run digits-fast --set train.learning_rate=" in text


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    out = cli("lr-find", "no-such-preset", "--runs-dir", str(tmp_path))
    assert out.returncode == 2 and "unknown preset 'no-such-preset'" in out.stderr
    out = cli("lr-find", "spiral", "--set", "train.batch_size=0", "--runs-dir", str(tmp_path))
    assert out.returncode == 2 and "train.batch_size" in out.stderr and "Traceback" not in out.stderr


def sweep_of(smoothed, stopped="the smoothed loss passed 4x its best at lr 1"):
    lrs = tuple(float(v) for v in np.logspace(-7, 1, len(smoothed)))
    return LrSweep(0, lrs, tuple(smoothed), tuple(smoothed), stopped, {})


def test_warnings_say_when_no_sweep_diverged_and_when_the_loss_barely_fell():
    fell = [2.3 - 1.5 * i / 99 for i in range(100)]  # down to 0.8, never turning up
    calm = sweep_of(fell, f"{END_REACHED} (10)")
    (bound,) = warnings([calm, calm, sweep_of(fell)], 1.0)
    assert "2 of 3 sweeps never diverged up to lr 10" in bound and "1 is a lower bound" in bound
    assert suggestion_is_lower_bound([calm, calm, sweep_of(fell)])
    assert warnings([calm, sweep_of(fell), sweep_of(fell)], 1.0) == ()  # most diverged: the minimum is real
    plateau = [1.099 - 0.02 * i / 99 for i in range(100)]  # 1.8% down at best
    (little,) = warnings([sweep_of(plateau)] * 3, 0.1)
    assert "the loss barely fell in any sweep (1.099 to 1.079" in little and 'model.init = "he"' in little
    assert len(warnings([sweep_of(plateau, f"{END_REACHED} (10)")] * 3, 0.1)) == 2


def test_a_sweep_that_never_diverges_says_so_in_the_event_the_record_and_the_text(tmp_path):
    # spiral's 2-100-3 net at init_std 1e-2: the smoothed loss never passes 4x its best up to lr 10
    out = cli("lr-find", "spiral", "--runs-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "warning: 3 of 3 sweeps never diverged up to lr 10" in " ".join(out.stdout.split())
    assert "suggested learning rate: at least " in out.stdout
    folder = next(tmp_path.iterdir())
    _, ended = read_record(folder)
    assert any("lower bound" in w for w in ended.warnings)
    assert json.loads((folder / "result.json").read_text())["warnings"] == list(ended.warnings)
    # digits-fast's sweeps diverge and fall far: no warning, no "at least"
    p = load_preset("digits-fast")
    assert find_lr(p, load_dataset(p.data), runs_dir=None).warnings == ()


# --- the lr-find folder: result.json read back --------------------------------------


def recorded(tmp_path) -> Path:
    p = load_preset("spiral")
    ended = find_lr(p, load_dataset(p.data, source=p.source), runs_dir=str(tmp_path))
    return Path(ended.path)


def test_the_record_reads_back_what_lr_find_found(tmp_path):
    folder = recorded(tmp_path)
    sweeps, ended = read_record(folder)
    result = json.loads((folder / "result.json").read_text())
    assert ended.suggested_lr == result["suggested_lr"] and list(ended.spread) == result["spread"]
    assert [s.seed for s in sweeps] == [0, 1, 2] and sweeps[0].stopped == result["sweeps"][0]["stopped"]
    assert list(sweeps[1].smoothed) == result["sweeps"][1]["smoothed"]


def edited(d: dict) -> list:
    """Hand edits of a good result.json, each with the words its message must hold."""
    sweep0 = d["sweeps"][0]
    return [
        ("[]", "(the whole file): expected a JSON object, got []"),
        ("null", "(the whole file): expected a JSON object, got null"),
        ("{not json", "not an lr-find result: not JSON"),
        (json.dumps({k: v for k, v in d.items() if k != "spread"}), "spread: missing"),
        (json.dumps({**d, "suggested_lr": "0.01"}), 'suggested_lr: expected a number, got "0.01"'),
        (json.dumps({**d, "spread": [1e-3]}), "spread: expected a list of 2, got 1 item"),
        (json.dumps({**d, "sweeps": {}}), "sweeps: expected a list, got {}"),
        (
            json.dumps({**d, "sweeps": [{**sweep0, "losses": [*sweep0["losses"][:-1], "x"]}]}),
            f'sweeps[0].losses[{len(sweep0["losses"]) - 1}]: expected a number, got "x"',
        ),
        (json.dumps({**d, "sweeps": [{**sweep0, "smoothed": sweep0["smoothed"][:-1]}]}), "differ in length"),
        (json.dumps({**d, "sweeps": [{k: v for k, v in sweep0.items() if k != "seed"}]}), "sweeps[0].seed: missing"),
        (json.dumps({**d, "sweeps": [{**sweep0, "learning_rates": [0.0] * len(sweep0["losses"])}]}), "above 0"),
    ]


def test_a_hand_edited_result_is_one_line_naming_the_file_and_what_is_wrong(tmp_path):
    folder = recorded(tmp_path)
    file = folder / "result.json"
    for text, words in edited(json.loads(file.read_text())):
        file.write_text(text)
        with pytest.raises(UserError) as e:
            read_record(folder)
        message = str(e.value)
        assert message.startswith(f"{file}: ") and words in message and "\n" not in message, (text[:40], message)
    file.unlink()
    with pytest.raises(UserError, match="cannot read the lr-find result"):
        read_record(folder)


def test_an_old_record_reads_back_and_a_resumed_tune_whose_record_was_edited_exits_2_before_any_stage(tmp_path, capsys):
    from tui_trainer.cli import main
    from tui_trainer.lab.tune.report import report_text
    from tui_trainer.lab.tune.runner import STAGES, read_state
    from tui_trainer.records.tune_folder import TuneRecord

    # a tune recorded by an earlier tui-trainer, cut back to its first two stages (coarse still to come)
    old = Path(__file__).parent / "old_records" / "tune-spiral-20261206-215722-50df3f"
    folder = tmp_path / old.name
    shutil.copytree(old, folder)
    state = json.loads((folder / "state.json").read_text().replace("/tmp/fixrun", str(tmp_path)))  # recorded there
    state = {k: v for k, v in state.items() if k in ("checks", "lr-find")}
    (folder / "state.json").write_text(json.dumps(state))
    lr_find = Path(state["lr-find"]["path"])
    sweeps, ended = read_record(lr_find)
    assert len(sweeps) == 3 and ended.suggested_lr == state["lr-find"]["result"]["suggested_lr"]
    assert "warnings" not in json.loads((lr_find / "result.json").read_text()) and ended.warnings == ()
    (lr_find / "result.json").write_text("[]")
    assert main(["tune", "spiral", "--resume", "--workers", "1", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{lr_find}/result.json: " in err and "expected a JSON object" in err
    assert "coarse" not in json.loads((folder / "state.json").read_text())  # no stage ran
    # a tune folder moved away from its lr-find folder: the report goes without the curve
    shutil.rmtree(lr_find)
    record = TuneRecord(folder, load_preset(folder / "preset.toml"))
    text = report_text(record, read_state(record), STAGES)
    assert "## 2. Learning-rate range test: done" in text and "```" not in text  # the curve is the one fence

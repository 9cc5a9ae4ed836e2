"""End-to-end promises of the foundation: the default preset learns, presets round-trip."""

import json
import subprocess
import sys

from tui_trainer.config import load_preset, loads_preset, to_toml
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer
from tui_trainer.engine.events import Epoch, RunEnded


def test_default_preset_learns_mnist_5k():
    preset = load_preset("default")
    data = load_dataset(preset.data, source=preset.source)
    events = []
    ended = Trainer(preset, data, events.append).run()
    epochs = [e for e in events if isinstance(e, Epoch)]
    assert ended.status == "finished"
    assert [e.epoch for e in epochs] == list(range(1, preset.train.epochs + 1))
    assert epochs[-1].loss < 0.5 * epochs[0].loss
    assert ended.best_val_acc >= 0.88  # the README promises about 90%
    assert isinstance(events[-1], RunEnded)


def test_resolved_preset_round_trips_through_toml():
    preset = load_preset("default", ["model.hidden=[100, 50]", "train.update=adam", "data.preprocess=['mean','std']"])
    again = loads_preset(to_toml(preset))
    assert again == preset


def test_headless_json_run_is_parseable_and_recorded(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_trainer",
            "run",
            "default",
            "--json",
            "--set",
            "train.epochs=2",
            "--runs-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert events[0]["event"] == "run_started" and events[-1]["event"] == "run_ended"
    run_dir = next(tmp_path.iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert summary["best_val_acc"] == events[-1]["best_val_acc"]
    recorded = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert recorded == events

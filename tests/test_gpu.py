"""On a real NVIDIA GPU with CuPy: the GPU run agrees with the CPU run, and a
search shares one GPU between two workers. Skipped, with the reason, where
there is no CuPy or no CUDA device (CI has neither); test_engine_device.py
holds the same contracts with a CuPy stand-in everywhere."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

cupy = pytest.importorskip(
    "cupy", reason="CuPy is not installed (pip install 'tui-trainer[gpu]'): the GPU tests need it and an NVIDIA GPU"
)

from tui_trainer.config import load_preset  # noqa: E402
from tui_trainer.datasets import load_dataset  # noqa: E402
from tui_trainer.engine import Trainer  # noqa: E402
from tui_trainer.engine.backend import POOL_FRACTION, find_gpu, pool_limit  # noqa: E402
from tui_trainer.engine.events import Epoch, RunStarted, Step  # noqa: E402
from tui_trainer.lab.search.pool import TrialPool  # noqa: E402

gpu, missing = find_gpu()
pytestmark = pytest.mark.skipif(gpu is None, reason=f"no usable CUDA device: {missing}")


def run(device: str, steps_wanted: int = 50):
    preset = load_preset("default", ["train.epochs=3", f"train.device={device}"])  # 3 x 20 steps
    data = load_dataset(preset.data)
    events: list = []
    trainer = Trainer(preset, data, events.append)
    ended = trainer.run()
    assert ended.status == "finished", trainer.traceback
    return events, trainer


def test_a_gpu_run_and_a_cpu_run_with_the_same_seed_agree_over_50_steps():
    on_gpu, gpu_trainer = run("gpu")
    on_cpu, _ = run("cpu")
    assert on_gpu[0].device == "gpu" and on_cpu[0].device == "cpu"
    assert isinstance(on_gpu[0], RunStarted)
    assert on_gpu[0].initial_loss == pytest.approx(on_cpu[0].initial_loss, rel=1e-5)
    losses = [np.array([e.loss for e in events if isinstance(e, Step)]) for events in (on_gpu, on_cpu)]
    assert len(losses[0]) == len(losses[1]) >= 50
    # float32 on both sides, summed in a different order: agreement to float32's
    # rounding grown over 50+ steps, far tighter than any change of the math would give.
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4, atol=1e-5)
    accs = [[(e.train_acc, e.val_acc) for e in events if isinstance(e, Epoch)] for events in (on_gpu, on_cpu)]
    np.testing.assert_allclose(accs[0], accs[1], atol=0.01)  # a few examples may change sides
    for k, v in gpu_trainer.best_params.items():
        assert type(v) is np.ndarray and v.dtype == np.float32, k


def test_a_search_with_two_workers_shares_one_gpu(tmp_path):
    # Each of the pool's workers caps its memory pool at its share of the device.
    total = gpu.memory_bytes()
    with TrialPool.local(2) as pool:
        limits = list(pool.map(pool_limit, range(2)))
    assert limits == [int(total * POOL_FRACTION / 2)] * 2

    preset = tmp_path / "digits-search.toml"
    preset.write_text(Path(__file__).with_name("digits-search.toml").read_text())
    runs = tmp_path / "runs"
    done = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "search", str(preset), "--workers", "2"]
        + ["--set", "train.device=gpu", "--runs-dir", str(runs), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    ended = [json.loads(x) for x in done.stdout.splitlines() if '"trial_ended"' in x]
    assert len(ended) == 9 and all(e["status"] in ("finished", "exploded") for e in ended)
    assert max(e["best_val_acc"] or 0 for e in ended) > 0.8
    (search_dir,) = runs.iterdir()
    con = sqlite3.connect(search_dir / "search.sqlite")
    workers = {w for (w,) in con.execute("SELECT worker FROM trials")}
    con.close()
    assert len(workers) == 2  # both workers trained on the one GPU

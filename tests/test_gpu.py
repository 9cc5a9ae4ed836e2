"""On a real NVIDIA GPU with CuPy: the fused kernels compile and compute what
their NumPy references compute, the GPU run agrees with the CPU run, a run
hands its memory back, and a search shares one GPU between two workers.
Skipped, with the reason, where there is no CuPy or no CUDA device (CI has
neither); test_engine_device.py and test_engine_gpu_step.py hold the same
contracts with a CuPy stand-in (tests/fake_cupy.py) everywhere, running the
references in the kernels' place."""

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
from tui_trainer.engine.backend import find_gpu, pool_limit, worker_pool_limit  # noqa: E402
from tui_trainer.engine.events import Epoch, RunStarted, Step  # noqa: E402
from tui_trainer.engine.kernels import REFERENCES, RULES  # noqa: E402
from tui_trainer.lab.search.pool import TrialPool  # noqa: E402

gpu, missing = find_gpu()
pytestmark = pytest.mark.skipif(gpu is None, reason=f"no usable CUDA device: {missing}")


def test_the_fused_kernels_compiled_here():
    assert gpu.kernels is not None and gpu.notice == "", gpu.notice


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_fused_kernel_computes_what_its_numpy_reference_computes(dtype):
    """On the shapes of 3072-1000-1000-10 at batch 256. The elementwise kernels round each
    operation as NumPy does (no fused multiply-adds): the same numbers, to the last bit for
    the ReLU's and within a float32 ulp or so for the rules (sqrt, division: both IEEE);
    the reductions sum in another order."""
    rng = np.random.default_rng(0)
    k = gpu.kernels

    def both(name, device_call, *host_args, out: tuple[int, ...], **tol):
        on_device = [cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in host_args]
        device_call(*on_device)
        REFERENCES[name](*host_args)
        for i in out:
            np.testing.assert_allclose(cupy.asnumpy(on_device[i]), host_args[i], err_msg=name, **tol)

    h = rng.standard_normal((256, 1000)).astype(dtype)
    b = rng.standard_normal(1000).astype(dtype)
    both("tt_bias_relu", k.bias_relu, b, h, out=(1,), rtol=0, atol=0)
    d = rng.standard_normal((256, 1000)).astype(dtype)
    both("tt_relu_grad", k.relu_grad, np.maximum(h, 0), d, out=(1,), rtol=0, atol=0)
    w = rng.standard_normal(4_000_000).astype(dtype) * 0.01
    both("tt_sumsq", k.sumsq, w, np.zeros((), np.float64), out=(1,), rtol=1e-5)
    scores = rng.standard_normal((256, 10)).astype(dtype) * 5
    y = rng.integers(0, 10, 256).astype(np.int64)
    sd, b10 = scores.copy(), rng.standard_normal(10).astype(dtype)
    reg_sq = np.array(123.0)
    on_device = [cupy.asarray(sd), cupy.asarray(b10), cupy.asarray(y), cupy.zeros(1), cupy.asarray(reg_sq)]
    k.softmax_xent(*on_device, 5e-4)
    loss = np.zeros(1)
    REFERENCES["tt_softmax_xent"](sd, b10, y, loss, reg_sq, np.float64(5e-4), 256, 10)
    np.testing.assert_allclose(cupy.asnumpy(on_device[0]), sd, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(cupy.asnumpy(on_device[3]), loss, rtol=1e-6)
    for rule in RULES:
        opt = rule(1e-3)
        opt.begin_step()
        n = 1 << 20
        w, dw = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
        state = [np.abs(rng.standard_normal(n)).astype(dtype) for s in rule.STATE if s not in rule.SCRATCH]
        host = [w.copy(), dw.copy(), *(s.copy() for s in state)]
        dev = [cupy.asarray(a) for a in host]
        guard = np.zeros(1)
        k.update(opt, dev[0], dev[1], 1e-3, n // 2, cupy.asarray(guard), tuple(dev[2:]))
        REFERENCES[f"tt_update_{rule.name}"](*opt.scalars(), 1e-3, n // 2, guard, *host)
        for a, ref in zip(dev, host):
            np.testing.assert_allclose(
                cupy.asnumpy(a), ref, rtol=2e-7 if dtype == np.float32 else 1e-15, err_msg=rule.name
            )


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
    # The run handed its memory back: nothing of it alive, nothing kept in the pool.
    pool = cupy.get_default_memory_pool()
    assert gpu_trainer.net is None and pool.used_bytes() == 0 and pool.total_bytes() == 0


def test_a_search_with_two_workers_shares_one_gpu(tmp_path):
    # Each of the pool's workers caps its memory pool at its share of the device.
    total = gpu.memory_bytes()
    with TrialPool.local(2) as pool:
        limits = list(pool.map(pool_limit, range(2)))
    assert limits == [worker_pool_limit(total, 2)] * 2

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

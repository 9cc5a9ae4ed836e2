"""A GPU step's cost and a GPU run's memory, through the CuPy stand-in (tests/fake_cupy.py).

The launch budget: one trainer step of 3072-1000-1000-10 on a GPU with the
fused kernels (engine/kernels.py) is at most BUDGET kernel launches, one
download (the loss, a step late) and no upload. Its floor is the 8 cuBLAS
matmuls (3 forward, 3 dW, 2 dx); beside them the step takes 2 gathers of the
batch, 2 bias+ReLU, the reg's sum of squares, the softmax loss, 3 bias
gradients, 2 ReLU gradients and the update: 20. Before the fused kernels the
same step took 96 kernels (bench/gpu_step.py --launches, on the same stand-in).

Memory: a net is sized against what its process may take on the GPU, so a
trial too big for its search worker's share fails with the model.hidden line,
not with an out-of-memory error mid-run; a run's device memory goes back to
the device when it ends, failed or not.
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_cupy import FakeCupy

from tui_trainer.cli import main
from tui_trainer.config import Preset, load_preset, loads_preset
from tui_trainer.datasets.base import Dataset
from tui_trainer.engine import Trainer, backend, layers
from tui_trainer.engine.backend import Backend, check_workers_fit, resolve
from tui_trainer.engine.events import Epoch, Step
from tui_trainer.engine.kernels import load
from tui_trainer.engine.model import FullyConnectedNet
from tui_trainer.engine.optim import Momentum
from tui_trainer.engine.steps import Steps
from tui_trainer.engine.trainer import check_model_fits, estimate_bytes
from tui_trainer.errors import PresetError, UserError
from tui_trainer.lab.search.pool import MemoryFlag, TrialPool
from tui_trainer.lab.search.space import Trial
from tui_trainer.lab.search.trial import TrialSpec, run_trial
from tui_trainer.threads import cores

BUDGET = 20  # kernels per trainer step of 3072-1000-1000-10; 8 of them the matmuls


@pytest.fixture(autouse=True)
def fresh_detection():
    backend.find_gpu.cache_clear()
    yield
    backend.find_gpu.cache_clear()
    backend.share_device(1)


def gpu(cupy: FakeCupy) -> Backend:
    kernels, note = load(cupy)
    assert note == ""
    return Backend("gpu", cupy, kernels=kernels)


def cifar_sized(n: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + 10, 3072), dtype=np.float32)
    y = rng.integers(0, 10, size=n + 10).astype(np.int64)
    empty = np.empty((0, 3072), np.float32)
    return Dataset("synthetic", X[:n], y[:n], X[n:], y[n:], empty, np.empty(0, np.int64), 10)


@pytest.mark.parametrize("update", ["momentum", "adam"])
def test_a_gpu_step_of_3072_1000_1000_10_stays_within_its_launch_budget(update):
    cupy = FakeCupy()
    data = cifar_sized(4 * 256)
    preset = Preset(name="budget").replace(
        **{
            "model.hidden": [1000, 1000],
            "model.init": "he",
            "train.update": update,
            "train.learning_rate": 1e-5,
            "train.reg": 1e-3,
            "train.batch_size": 256,
            "train.epochs": 1,
            "train.stats_every": 100,
            "data.num_train": 4 * 256,
            "data.num_val": 10,
        }
    )
    counts: list[tuple[dict[str, int], int]] = []

    def sink(e) -> None:
        if isinstance(e, Step):
            counts.append((cupy.counts(), len(cupy.kernel_names)))

    ended = Trainer(preset, data, sink, backend=gpu(cupy)).run()
    assert ended.status == "finished"
    # Steps 1 to 3 are reported once the next one is queued: between two reports, one whole step.
    (c1, k1), (c2, k2) = counts[0], counts[1]
    step = {k: c2[k] - c1[k] for k in c1}
    kinds = collections.Counter(cupy.kernel_names[k1:k2])
    assert step["kernels"] <= BUDGET, kinds
    assert kinds["gemm"] == 8  # the floor: 3 forward, 3 dW, 2 dx
    assert step["uploads"] == 0 and step["downloads"] == 1 and step["syncs"] <= 1


@pytest.mark.parametrize("update", ["sgd", "momentum", "nesterov", "rmsprop", "adam"])
def test_each_fused_update_rule_gives_the_cpu_runs_numbers(update, monkeypatch):
    # The one difference left between the devices: the CPU flushes the score gradient's
    # negligible entries (layers.flush_negligible, against its subnormal slow path),
    # which RMSProp and Adam, dividing by the gradients' scale, can turn into an ulp.
    monkeypatch.setattr(layers, "flush_negligible", lambda d: d)
    preset = load_preset("default", ["train.epochs=1", "train.stats_every=7", f"train.update={update}"])
    data = _default_data(preset)
    runs = []
    for where in (gpu(FakeCupy()), None):
        events: list = []
        assert Trainer(preset, data, events.append, backend=where).run().status == "finished"
        runs.append([(type(e).__name__, e.loss if isinstance(e, Step | Epoch) else None) for e in events])
    assert runs[0] == runs[1] and len(runs[0]) > 20


def test_a_nan_loss_leaves_the_weights_as_they_were():
    # The host reads a step's loss a step late: the update kernel checks it first.
    cupy = FakeCupy()
    dev = gpu(cupy)
    net = FullyConnectedNet(20, [8], 3, init="he", backend=dev)
    steps = Steps(net, Momentum(0.1), reg=1e-3)
    X = np.random.default_rng(0).standard_normal((4, 20)).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    before = net.param_buffer.get()
    X[1, 3] = np.nan
    assert np.isnan(steps.launch(dev.to_device(X), dev.to_device(y))())
    np.testing.assert_array_equal(net.param_buffer.get(), before)
    X[1, 3] = 0.0
    assert np.isfinite(steps.launch(dev.to_device(X), dev.to_device(y))())
    assert not np.array_equal(net.param_buffer.get(), before)


def test_kernels_that_do_not_compile_leave_the_separate_operations_and_say_so_once(monkeypatch, tmp_path, capsys):
    cupy = FakeCupy()
    cupy.fail_compile = True
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    args = ["run", "default", "--set", "train.epochs=1", "--json"]
    assert main([*args, "--set", "train.device=gpu", "--runs-dir", str(tmp_path / "gpu")]) == 0
    out, err = capsys.readouterr()
    assert err.count("fused kernels could not be compiled") == 1 and "CompileException" in err
    assert main([*args, "--runs-dir", str(tmp_path / "cpu")]) == 0
    cpu_out = capsys.readouterr().out
    losses = [[json.loads(x)["loss"] for x in text.splitlines() if '"step"' in x] for text in (out, cpu_out)]
    # The same steps, reg's term summed in another order (CuPy's vdot: a product, then a sum).
    assert len(losses[0]) == 20 and losses[0] == pytest.approx(losses[1], rel=1e-9)


def test_a_gpu_whose_cublas_fails_is_refused_naming_train_device(monkeypatch):
    cupy = FakeCupy()

    def broken(*args, **kwargs):
        raise RuntimeError("CUBLAS_STATUS_NOT_INITIALIZED")

    cupy.matmul = broken
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    with pytest.raises(PresetError) as e:
        resolve("gpu", "p.toml: train.device")
    assert str(e.value) == (
        'p.toml: train.device: "gpu" cannot be used: CuPy cannot use cuBLAS (RuntimeError: '
        "CUBLAS_STATUS_NOT_INITIALIZED); reinstall it: pip install 'tui-trainer[gpu]'; "
        'or set train.device = "cpu"'
    )


# --- memory ------------------------------------------------------------------------


def _default_data(preset):
    from tui_trainer.datasets import load_dataset

    return load_dataset(preset.data)


@pytest.mark.parametrize("update", ["momentum", "adam"])
def test_a_gpu_run_stays_within_its_estimate_with_the_pool_limited_to_it(update):
    preset = load_preset("default", ["train.epochs=1", f"train.update={update}"])
    data = _default_data(preset)
    need = estimate_bytes(preset, data.input_dim, data.num_classes, with_data=True)
    cupy = FakeCupy()
    cupy.pool.set_limit(size=int(need / 0.8))  # as much as the size check lets a net take; enforced
    assert Trainer(preset, data, print, backend=gpu(cupy)).run().status == "finished"
    assert 0 < cupy.pool.peak <= need


def test_a_net_is_sized_against_the_gpus_free_memory(monkeypatch):
    cupy = FakeCupy(memory=4 * 2**30, other_bytes=4 * 2**30 - 64 * 2**20)  # 64 MiB free
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    preset = loads_preset('[model]\nhidden = [2000]\n[train]\ndevice = "gpu"\n', source="p.toml")
    with pytest.raises(PresetError) as e:
        check_model_fits(preset, 3072, 10)
    assert str(e.value).startswith("p.toml: model.hidden: [2000] with 3072 inputs and 10 classes needs about ")
    assert str(e.value).endswith(", and this GPU has 0.1 GiB free; use smaller hidden layers")


def test_a_trial_too_big_for_its_workers_share_fails_with_the_model_hidden_line(monkeypatch):
    cupy = FakeCupy(memory=4 * 2**30)
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    backend.share_device(4)  # (80% of 4 GiB, less 5 contexts) / 4: about 180 MB each
    preset = loads_preset(Path(__file__).with_name("digits-search.toml").read_text())
    preset = preset.replace(**{"train.device": "gpu", "model.hidden": [3000, 3000]})
    need = estimate_bytes(preset, 64, 10, with_data=True)
    assert 0.8 * backend.worker_pool_limit(cupy.memory, 4) < need < 0.8 * cupy.memory  # fits the GPU, not the share
    result = run_trial(TrialSpec(preset, Trial("s1-001", 1, 1, {"learning_rate": 1e-2, "reg": 1e-4}, 2), MemoryFlag()))
    assert result.status == "failed"
    assert "model.hidden: [3000, 3000]" in result.reason and "a search worker's share" in result.reason
    assert cupy.pool.peak < cupy.pool.limit  # refused before it allocated the net, not out of memory mid-run


def test_a_failed_trials_arrays_are_gone_before_its_memory_is_handed_back(monkeypatch, fake_gpu):
    def fail(self, *args):
        raise RuntimeError("a bug in the middle of a run")

    monkeypatch.setattr(Trainer, "_end_epoch", fail)
    preset = loads_preset(Path(__file__).with_name("digits-search.toml").read_text()).replace(**{"train.device": "gpu"})
    result = run_trial(TrialSpec(preset, Trial("s1-001", 1, 1, {"learning_rate": 1e-2, "reg": 1e-4}, 2), MemoryFlag()))
    assert result.status == "failed" and "a bug in the middle of a run" in result.reason
    # The error's traceback held the data on the device and the net: none of it is alive when the pool frees.
    assert fake_gpu.pool.used_at_free and fake_gpu.pool.used_at_free[0] == 0 and fake_gpu.pool.total_bytes() == 0


@pytest.fixture
def fake_gpu(monkeypatch) -> FakeCupy:
    cupy = FakeCupy()
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    return cupy


def test_too_many_workers_for_one_gpus_contexts_are_refused_naming_the_option():
    small = Backend("gpu", FakeCupy(memory=8 * 2**30))
    check_workers_fit(small, backend.GPU_WORKERS)  # the default fits
    with pytest.raises(UserError, match=r"^--workers 16: 16 processes on one GPU need about 8\.0 GiB for their CUDA"):
        check_workers_fit(small, 16)


def test_a_gpu_search_defaults_to_a_few_workers_and_refuses_too_many(fake_gpu):
    with TrialPool.open(None, None, device="gpu") as pool:  # processes start with the first trial: none here
        assert pool.capacity == backend.GPU_WORKERS == 2
    fake_gpu.memory = 8 * 2**30
    with pytest.raises(UserError, match=r"^--workers 16: "):
        TrialPool.open(None, 16, device="gpu")
    with TrialPool.open(None, None) as pool:  # on the CPU: one per core
        assert pool.capacity == cores()


def test_the_workbenchs_search_and_tune_size_their_pools_for_the_device_as_the_commands_do(
    fake_gpu, tmp_path, monkeypatch
):
    import tui_trainer.lab.search.pool as pool_module
    from tui_trainer.config import load_preset
    from tui_trainer.datasets import load_dataset
    from tui_trainer.ui.jobs import make_job

    cpu = load_preset("digits-fast")
    gpu = cpu.replace(**{"train.device": "gpu"})
    data = load_dataset(cpu.data, source=cpu.source)
    for kind in ("search", "tune"):
        # six cores, so a pool sized one a core cannot pass for GPU_WORKERS (2)
        monkeypatch.setattr(pool_module, "cores", lambda: 6)
        for preset, workers in ((gpu, backend.GPU_WORKERS), (cpu, 6)):
            job = make_job(kind, preset, data, tmp_path)
            try:
                assert job.pool.capacity == workers, (kind, preset.train.device)
            finally:
                job.pool.close(graceful=False)

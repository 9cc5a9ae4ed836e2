"""train.device: choosing the backend, its errors, and what crosses from the device
to the host. CI has no GPU: `FakeCupy` (tests/fake_cupy.py) stands in for CuPy,
NumPy underneath, refusing host arrays in device operations and counting every
transfer back to the host. The tests that need a real GPU are in test_gpu.py."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_cupy import FakeCupy

from tui_trainer.cli import main
from tui_trainer.config import load_preset, loads_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer, backend
from tui_trainer.engine.backend import CPU, Backend, resolve
from tui_trainer.engine.events import Epoch, Ratios, RunStarted, Step
from tui_trainer.engine.kernels import load
from tui_trainer.errors import PresetError
from tui_trainer.lab.search.pool import MemoryFlag
from tui_trainer.lab.search.space import Trial
from tui_trainer.lab.search.trial import TrialSpec, run_trial

INSTALL = "pip install 'tui-trainer[gpu]'"


@pytest.fixture(autouse=True)
def fresh_detection():
    """Each test looks for the GPU anew (resolve caches what it found per process)."""
    backend.find_gpu.cache_clear()
    yield
    backend.find_gpu.cache_clear()
    backend.share_device(1)


@pytest.fixture
def no_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ModuleNotFoundError


@pytest.fixture
def fake(monkeypatch) -> FakeCupy:
    cupy = FakeCupy()
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    return cupy


@pytest.fixture(scope="module")
def short():
    preset = load_preset("default", ["train.epochs=2", "train.stats_every=7"])
    return preset, load_dataset(preset.data)


def gpu(cupy: FakeCupy, fused: bool = True) -> Backend:
    """The stand-in as a GPU backend, with the fused kernels (as find_gpu gives it) or without."""
    kernels, note = load(cupy) if fused else (None, "")
    assert note == ""
    return Backend("gpu", cupy, kernels=kernels)


def record(trainer: Trainer, counter: FakeCupy | None = None) -> list[tuple[object, int]]:
    """Run the trainer; each event with the host transfers made before it."""
    events: list[tuple[object, int]] = []
    trainer.sink = lambda e: events.append((e, counter.downloads if counter else 0))
    assert trainer.run().status == "finished", trainer.traceback
    return events


def numbers(event) -> dict:
    """An event's fields but those that differ between two identical runs (ids, times, the device)."""
    d = dataclasses.asdict(event)
    for key in ("run_id", "elapsed_s", "device"):
        d.pop(key, None)
    return d


# --- choosing the device -------------------------------------------------------


def test_the_cpu_backend_is_numpy_and_copies_nothing():
    assert resolve("cpu") is CPU and CPU.name == "cpu" and CPU.xp is np
    a = np.arange(6.0)
    assert CPU.to_device(a) is a and CPU.to_host(a) is a  # the CPU path pays nothing for the namespace
    host = CPU.params_to_host({"W1": a})
    assert host["W1"] is not a and np.array_equal(host["W1"], a)  # a checkpoint is a copy


def test_the_default_device_is_the_cpu_and_a_bad_one_is_named():
    assert load_preset("default").train.device == "cpu"
    with pytest.raises(PresetError, match=r"train\.device: 'tpu' is not allowed; expected .*cpu.*gpu.*auto"):
        loads_preset('[train]\ndevice = "tpu"\n', source="p.toml")


def test_gpu_without_cupy_says_train_device_and_how_to_install_it(no_cupy):
    with pytest.raises(PresetError) as e:
        resolve("gpu", "p.toml: train.device")
    assert str(e.value) == (
        f'p.toml: train.device: "gpu" cannot be used: CuPy is not installed ({INSTALL}); or set train.device = "cpu"'
    )


@pytest.mark.parametrize(
    ("count", "missing"),
    [
        (0, "CuPy finds no CUDA device"),
        (RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected"), "CuPy finds no usable CUDA device"),
    ],
)
def test_gpu_with_cupy_but_no_device_says_so(monkeypatch, count, missing):
    cupy = FakeCupy()

    def device_count():
        if isinstance(count, Exception):
            raise count
        return count

    cupy.cuda.runtime.getDeviceCount = device_count
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    with pytest.raises(PresetError, match=r"^--set train\.device: \"gpu\" cannot be used: " + missing) as e:
        resolve("gpu", "--set train.device")
    if isinstance(count, Exception):
        assert "no CUDA-capable device is detected" in str(e.value)  # CUDA's own words, for a search engine


def test_auto_takes_the_gpu_when_there_is_one_else_the_cpu_with_a_notice(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    cpu = resolve("auto")
    assert cpu.name == "cpu" and cpu.xp is np and "training on the CPU; CuPy is not installed" in cpu.notice
    backend.find_gpu.cache_clear()
    cupy = FakeCupy()
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    gpu = resolve("auto")
    assert gpu.name == "gpu" and gpu.xp is cupy and gpu.notice == ""


def test_run_with_gpu_but_no_cupy_exits_2_naming_the_key_before_recording_anything(no_cupy, tmp_path, capsys):
    runs = tmp_path / "runs"
    status = main(["run", "default", "--set", "train.device=gpu", "--runs-dir", str(runs)])
    err = capsys.readouterr().err
    assert status == 2
    assert err == (
        f'tui-trainer: --set train.device: "gpu" cannot be used: CuPy is not installed ({INSTALL}); '
        'or set train.device = "cpu"\n'
    )
    assert not runs.exists()


def test_run_with_auto_and_no_gpu_trains_on_the_cpu_and_says_so_once(no_cupy, tmp_path, capsys):
    status = main(
        ["run", "default", "--set", "train.device=auto", "--set", "train.epochs=1", "--json"]
        + ["--runs-dir", str(tmp_path)]
    )
    out, err = capsys.readouterr()
    assert status == 0
    assert err.count("training on the CPU") == 1 and err.startswith('tui-trainer: train.device = "auto"')
    started = json.loads(out.splitlines()[0])
    assert started["event"] == "run_started" and started["device"] == "cpu"


def test_a_search_on_a_missing_gpu_exits_2_before_starting_a_worker(no_cupy, tmp_path, capsys):
    preset = Path(__file__).with_name("digits-search.toml")
    runs = tmp_path / "runs"
    status = main(["search", str(preset), "--set", "train.device=gpu", "--runs-dir", str(runs)])
    assert status == 2
    assert capsys.readouterr().err.startswith('tui-trainer: --set train.device: "gpu" cannot be used: CuPy is')
    assert not runs.exists()


def test_a_trainer_asked_for_a_missing_gpu_fails_its_run_with_the_same_line(no_cupy, short):
    # The workbench's trainer has no command in front of it: its run ends failed, saying why.
    preset, data = short
    events = []
    ended = Trainer(preset.replace(**{"train.device": "gpu"}), data, events.append).run()
    assert ended.status == "failed" and events == [ended]
    assert ended.reason.startswith("PresetError: ")  # the type first: a search's tally reads it as bad input
    assert 'default.toml: train.device: "gpu" cannot be used: CuPy is not installed' in ended.reason


# --- what crosses to the host --------------------------------------------------


def test_on_a_device_each_step_brings_back_only_its_loss(short):
    preset, data = short
    cupy = FakeCupy()
    trainer = Trainer(preset, data, sink=print, backend=gpu(cupy))
    events = record(trainer, cupy)

    started = events[0][0]
    assert isinstance(started, RunStarted) and started.device == "gpu"
    assert events[0][1] == 1  # the initial loss
    steps = [(e, n) for e, n in events if isinstance(e, Step)]
    ratios = [n for e, n in events if isinstance(e, Ratios)]
    epochs = [n for e, n in events if isinstance(e, Epoch)]
    assert len(steps) == 40 and len(ratios) == 5 and len(epochs) == 2
    # A stats event: one transfer for all its rows; an epoch: one per accuracy.
    kinds = [type(e) for e, _ in events]
    for i in range(1, len(events)):
        if kinds[i] is Ratios:
            assert events[i][1] - events[i - 1][1] == 1
        if kinds[i] is Epoch:
            assert events[i][1] - events[i - 1][1] == 2
    # Each step's loss (read a step late: a step's event may come after the next
    # step's copy was queued), and at the run's end the best parameters in one
    # transfer, before its memory goes back to the device; nothing else.
    assert cupy.downloads == 1 + 40 + 5 + 2 * 2 + 1
    assert trainer.net is None and cupy.pool.freed == 1 and cupy.pool.used_at_free == [0]


def test_a_device_run_and_a_cpu_run_with_the_same_seed_give_the_same_numbers(short):
    preset, data = short
    cupy = FakeCupy()
    on_device = record(Trainer(preset, data, sink=print, backend=gpu(cupy)), cupy)
    on_cpu = record(Trainer(preset, data, sink=print))
    assert [numbers(e) for e, _ in on_device] == [numbers(e) for e, _ in on_cpu]
    assert on_cpu[0][0].device == "cpu"


def test_the_best_parameters_and_the_first_layer_come_back_in_one_transfer_each(short):
    preset, data = short
    cupy = FakeCupy()
    views = []

    def first_layer(trainer: Trainer) -> None:  # as the workbench's epoch hook asks for it
        before = cupy.downloads
        views.append(trainer.param_on_host("W1"))
        assert cupy.downloads == before + 1 and type(views[-1]) is np.ndarray

    trainer = Trainer(preset, data, sink=print, backend=gpu(cupy), on_epoch=first_layer)
    record(trainer, cupy)
    cpu = Trainer(preset, data, sink=print)
    record(cpu)

    before = cupy.downloads
    best = trainer.best_params  # on the host since the run ended: no transfer
    assert cupy.downloads == before
    assert set(best) == {"W1", "b1", "W2", "b2"}
    for k, v in best.items():
        assert type(v) is np.ndarray and v.dtype == np.float32
        np.testing.assert_array_equal(v, cpu.best_params[k])
    np.testing.assert_array_equal(views[-1], cpu.net.params["W1"])


# --- the stand-in refuses what CuPy refuses, or the tests above prove nothing ------


def test_host_data_in_a_device_step_fails_as_it_would_on_cupy():
    cupy = FakeCupy()
    a = cupy.asarray(np.ones((2, 2), np.float32))
    with pytest.raises(TypeError, match="host array"):
        a @ np.ones((2, 2))
    with pytest.raises(TypeError, match="host array"):
        np.ones((2, 2)) + a
    with pytest.raises(TypeError, match="host array"):  # 0-d too: CuPy takes NumPy scalars, not arrays
        cupy.multiply(a, np.array(2.0), out=a)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    assert (a * np.float32(2.0)).dtype == np.float32 and (a * 2.0).dtype == np.float32  # scalars are fine


def test_the_stand_in_has_cupys_functions_and_signatures_only():
    cupy = FakeCupy()
    X = cupy.asarray(np.arange(12, dtype=np.float32).reshape(4, 3))
    idx = cupy.asarray(np.array([0, 5, -1]))
    with pytest.raises(TypeError, match="mode"):
        cupy.take(X, idx, axis=0, mode="clip")
    with pytest.raises(AttributeError, match="errstate"):
        cupy.errstate  # noqa: B018
    # Out-of-range indices wrap, as in CuPy (NumPy would raise).
    np.testing.assert_array_equal(cupy.take(X, idx, axis=0).get(), X.get()[[0, 1, 3]])
    rows = cupy.asarray(np.array([0, 1, 2, 3]))
    labels = cupy.asarray(np.array([0, 4, 2, -1]))
    np.testing.assert_array_equal(X[rows, labels].get(), [0, 4, 8, 11])


def test_the_stand_in_counts_kernels_transfers_and_syncs_as_cupy_incurs_them():
    cupy = FakeCupy()
    X = cupy.asarray(np.ones((4, 3), np.float32))
    assert cupy.counts() == {"kernels": 0, "uploads": 1, "downloads": 0, "syncs": 0}
    rows, y = cupy.arange(4), cupy.asarray(np.array([0, 1, 2, 0]))
    before = cupy.kernels
    X[rows, y] -= 1  # gather (4), subtract, scatter (4): CuPy's advanced indexing by two arrays
    assert cupy.kernels - before == 9
    before = cupy.kernels
    cupy.vdot(X, X)  # with CUB: a product and a sum
    assert cupy.kernels - before == 2
    float(X.sum())
    host = np.empty(1, np.float64)
    cupy.ones(1, np.float64).get(out=host, blocking=False)  # an asynchronous copy: no wait
    assert (cupy.downloads, cupy.syncs) == (2, 1)


def test_the_stand_in_pool_tracks_live_bytes_and_enforces_its_limit():
    cupy = FakeCupy(memory=2**20)
    pool = cupy.get_default_memory_pool()
    pool.set_limit(size=64 * 1024)
    a = cupy.empty(1000, np.float32)  # 4,000 bytes: 4,096 in the pool's 512-byte blocks
    assert pool.used_bytes() == 4096
    with pytest.raises(cupy.cuda.memory.OutOfMemoryError):
        cupy.empty(20_000, np.float32)
    del a
    assert pool.used_bytes() == 0 and pool.total_bytes() == 4096  # cached until freed
    pool.free_all_blocks()
    assert pool.total_bytes() == 0 and cupy.cuda.runtime.memGetInfo() == (2**20, 2**20)


def test_a_gpu_run_through_the_command_records_what_a_cpu_run_records(fake, tmp_path, capsys):
    args = ["run", "default", "--set", "train.epochs=2", "--json"]
    assert main([*args, "--set", "train.device=gpu", "--runs-dir", str(tmp_path / "gpu")]) == 0
    gpu_out = capsys.readouterr().out
    assert main([*args, "--runs-dir", str(tmp_path / "cpu")]) == 0
    cpu_out = capsys.readouterr().out
    gpu_events, cpu_events = ([json.loads(x) for x in out.splitlines()] for out in (gpu_out, cpu_out))
    assert gpu_events[0]["device"] == "gpu" and cpu_events[0]["device"] == "cpu"
    losses = [[e["loss"] for e in events if e["event"] == "step"] for events in (gpu_events, cpu_events)]
    assert losses[0] == losses[1] and len(losses[0]) == 40
    (gpu_run,), (cpu_run,) = (list((tmp_path / side).iterdir()) for side in ("gpu", "cpu"))
    with np.load(gpu_run / "best.npz") as g, np.load(cpu_run / "best.npz") as c:
        assert sorted(g.files) == sorted(c.files)
        for k in g.files:
            np.testing.assert_array_equal(g[k], c[k])
    summary = json.loads((gpu_run / "summary.json").read_text())
    assert summary["status"] == "finished"


# --- search workers sharing one GPU ---------------------------------------------


def test_search_workers_on_one_gpu_cap_their_memory_pool_at_their_share(fake):
    backend.share_device(2)
    assert resolve("gpu").name == "gpu"
    assert fake.pool.limit == backend.worker_pool_limit(fake.memory, 2)
    # 80% of 16 GiB, less 3 contexts of 512 MiB (two workers and the search), in halves
    assert fake.pool.limit == int((0.8 * 16 * 2**30 - 3 * 512 * 2**20) / 2)
    assert backend.pool_limit() == fake.pool.limit


def test_a_trial_on_the_gpu_gives_its_memory_back_when_it_ends(fake):
    preset = loads_preset(Path(__file__).with_name("digits-search.toml").read_text()).replace(**{"train.device": "gpu"})
    trial = Trial("s1-001", 1, 1, {"learning_rate": 1e-1, "reg": 1e-4, "hidden": 40}, 3)
    result = run_trial(TrialSpec(preset, trial, MemoryFlag()))
    assert result.status == "finished", result.reason
    assert fake.downloads > 0  # it trained on the stand-in device, then freed its memory, none of it alive
    assert fake.pool.freed == 1 and fake.pool.used_at_free == [0] and fake.pool.total_bytes() == 0
    on_cpu = run_trial(TrialSpec(preset.replace(**{"train.device": "cpu"}), trial, MemoryFlag()))
    assert (result.best_val_acc, result.iterations) == (on_cpu.best_val_acc, on_cpu.iterations)
    assert result.best_val_acc > 0.5

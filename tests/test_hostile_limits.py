"""Bounds (issue 26): record files that are FIFOs, devices, gigabytes or one endless
line; a billion trials; a thousand workers; a memory limit set by `ulimit -v` or a
cgroup; a CIFAR-10 batch whose pickle builds a huge array without its data. Each is
refused with one line (or read as unreadable) before anything that size is read or
allocated: no test waits for a hang, a hang guard only stops one that would."""

from __future__ import annotations

import io
import os
import pickle
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from realformats import write_cifar

from tui_trainer.config import MAX_TRIALS, load_preset
from tui_trainer.datasets import formats, limits, load_dataset
from tui_trainer.errors import DataError, PresetError, UserError
from tui_trainer.lab.search.pool import MAX_WORKERS_PER_CORE, TrialPool, max_workers
from tui_trainer.lab.session import record_run
from tui_trainer.records import reading
from tui_trainer.records.lr_find_folder import read_record
from tui_trainer.records.run_folder import list_runs, read_metrics
from tui_trainer.records.search_store import SearchStore
from tui_trainer.records.tune_folder import TuneRecord
from tui_trainer.threads import cores

REPO = Path(__file__).resolve().parent.parent
MiB = 2**20
HANG_GUARD_S = 120  # a read that waits for a writer never returns: far past any machine's time


def within_guard(call):
    """call()'s result, run in a thread that must end within HANG_GUARD_S (a FIFO read would not)."""
    out: list = []
    thread = threading.Thread(target=lambda: out.append(_outcome(call)), daemon=True)
    thread.start()
    thread.join(HANG_GUARD_S)
    assert not thread.is_alive(), "blocked: the read waits for a writer that never comes"
    kind, value = out[0]
    if kind == "raised":
        raise value
    return value


def _outcome(call):
    try:
        return ("returned", call())
    except BaseException as e:  # noqa: BLE001 - handed back to the test's thread
        return ("raised", e)


def cheaply(call, budget: int = 8 * MiB):
    """call()'s result or exception, checking Python and NumPy allocated under `budget` on the way."""
    tracemalloc.start()
    try:
        result = _outcome(call)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < budget, f"peak {peak / MiB:.1f} MiB"
    return result


@pytest.fixture(scope="module")
def one_run(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    preset = load_preset("digits-fast", ["train.epochs=1"])
    run = record_run(preset, load_dataset(preset.data), runs)
    run.run()
    assert run.path is not None
    return run.path


def copy_run(run: Path, tmp_path: Path) -> Path:
    shutil.copytree(run, tmp_path / "runs" / run.name)
    return tmp_path / "runs" / run.name


# --- record files that are not what they seem --------------------------------------------------


def replace(path: Path, kind: str) -> None:
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "devzero":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:  # huge: a sparse file past every record's bound
        with open(path, "wb") as f:
            f.truncate(reading.MAX_METRICS_BYTES + 1)


@pytest.mark.parametrize("kind", ["fifo", "devzero", "folder", "huge"])
@pytest.mark.parametrize("file", ["summary.json", "config.toml", "metrics.jsonl"])
def test_the_runs_listing_reads_a_record_file_that_is_no_record_as_missing(one_run, tmp_path, kind, file):
    run = copy_run(one_run, tmp_path)
    replace(run / file, kind)
    old = time.time() - 3600  # without a summary: a run killed an hour ago, not one a writer elsewhere goes on with
    os.utime(run / "metrics.jsonl", (old, old))
    kind_, runs = cheaply(lambda: within_guard(lambda: list_runs(tmp_path / "runs")))
    assert kind_ == "returned"
    if file != "config.toml" or kind == "huge":  # a run without a readable config.toml is no run to list
        (info,) = runs
        assert info.status == ("incomplete" if file == "summary.json" else "finished")


@pytest.mark.parametrize("kind", ["fifo", "devzero", "folder", "huge"])
def test_a_metrics_log_that_is_no_file_is_refused_as_unreadable_before_a_byte_is_read(one_run, tmp_path, kind):
    run = copy_run(one_run, tmp_path)
    replace(run / "metrics.jsonl", kind)
    kind_, error = cheaply(lambda: within_guard(lambda: read_metrics(run)))
    assert kind_ == "raised" and isinstance(error, OSError), error
    assert ("not a regular file" if kind != "huge" else "too big to be a record") in str(error)


def test_one_endless_line_ends_the_reading_there_as_a_torn_line_does(one_run, tmp_path):
    run = copy_run(one_run, tmp_path)
    first = (run / "metrics.jsonl").read_text().splitlines()[0]
    with open(run / "metrics.jsonl", "w") as f:
        f.write(first + "\n")
        f.write("x" * (4 * reading.MAX_LINE_BYTES) + "\n")
        f.write(first + "\n")
    kind, events = cheaply(lambda: read_metrics(run))
    assert kind == "returned" and [e["event"] for e in events] == ["run_started"]


@pytest.mark.parametrize("size", [200 * MiB, 1 << 30])
def test_a_line_of_hundreds_of_megabytes_is_never_held_in_memory(one_run, tmp_path, size):
    from tui_trainer.commands.runs import image_shape_of

    run = copy_run(one_run, tmp_path)
    with open(run / "metrics.jsonl", "wb") as f:
        f.truncate(size)  # sparse: NUL bytes and no newline
    kind, events = cheaply(lambda: read_metrics(run))
    assert (kind, events) == ("returned", []) if size < reading.MAX_METRICS_BYTES else kind == "raised"
    assert cheaply(lambda: image_shape_of(run)) == ("returned", (8, 8, 1))  # digits: the bundled shape


@pytest.mark.parametrize("kind", ["fifo", "devzero"])
def test_a_tune_state_an_lr_find_result_and_a_search_preset_that_are_no_files_are_one_line(tmp_path, kind):
    preset = load_preset("spiral")
    tune = TuneRecord.create(tmp_path, preset)
    replace(tune.state_path, kind)
    with pytest.raises(UserError, match="state.json: cannot read the tune's state: not a regular file"):
        within_guard(tune.read_state)
    lr = tmp_path / "lr"
    lr.mkdir()
    (lr / "result.json").touch()
    replace(lr / "result.json", kind)
    with pytest.raises(UserError, match="result.json: cannot read the lr-find result: not a regular file"):
        within_guard(lambda: read_record(lr))
    store = SearchStore.create(tmp_path, preset)
    store.close()
    replace(store.path / "search.sqlite", kind)
    with pytest.raises(UserError, match="search.sqlite: not a regular file"):
        within_guard(lambda: SearchStore.open(store.path))
    (store.path / "search.sqlite").unlink()
    replace(store.path / "preset.toml", kind)
    with pytest.raises(UserError, match="preset.toml: cannot read the search's preset: not a regular file"):
        within_guard(lambda: SearchStore.open(store.path))


# --- counts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "override, key",
    [
        ("search.stages=[{trials=1000000000,epochs=1}]", "search.stages[0].trials"),
        (f"search.stages=[{{trials={MAX_TRIALS + 1},epochs=1}}]", "search.stages[0].trials"),
        ("tune.coarse_trials=1000000000", "tune.coarse_trials"),
        (f"tune.fine_trials={MAX_TRIALS + 1}", "tune.fine_trials"),
        ("tune.final_candidates=1000000000", "tune.final_candidates"),
    ],
)
def test_a_count_of_trials_past_the_limit_is_a_preset_error_naming_the_key(override, key):
    with pytest.raises(
        PresetError, match=re.escape(f"--set {key}: ") + ".* is not allowed; expected an integer from 1 to 10,000"
    ):
        load_preset("spiral", [override])


def test_the_limits_themselves_are_allowed():
    p = load_preset("spiral", [f"search.stages=[{{trials={MAX_TRIALS},epochs=1}}]", f"tune.coarse_trials={MAX_TRIALS}"])
    assert p.search.stages[0].trials == p.tune.coarse_trials == MAX_TRIALS


def test_workers_are_at_most_a_few_per_core():
    assert max_workers() == MAX_WORKERS_PER_CORE * cores()
    for workers in (max_workers() + 1, 1000, 0, -1):
        with pytest.raises(UserError, match=rf"--workers {workers}: expected an integer from 1 to {max_workers()}"):
            TrialPool.open(None, workers)
    TrialPool.open(None, max_workers()).close(graceful=True)  # nothing is started before a trial is submitted


# --- memory limits ----------------------------------------------------------------------------------


def cgroup_tree(root: Path, version: int, limits_by_level: list[tuple[str, int]], path: str) -> Path:
    """A fake /sys/fs/cgroup with memory limits and usages along `path`, and the /proc/self/cgroup
    line that puts a process there."""
    base = root if version == 2 else root / "memory"
    limit_file, usage_file = (
        ("memory.max", "memory.current") if version == 2 else ("memory.limit_in_bytes", "memory.usage_in_bytes")
    )
    parts = [p for p in path.split("/") if p]
    for depth, (limit, usage) in enumerate(limits_by_level):
        folder = base.joinpath(*parts[:depth])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / limit_file).write_text(f"{limit}\n")
        (folder / usage_file).write_text(f"{usage}\n")
    proc = root / "cgroup"
    proc.write_text("0::" + path + "\n" if version == 2 else f"9:cpu:/\n4:memory:{path}\n1:name=systemd:/\n")
    return proc


@pytest.mark.parametrize("version", [1, 2])
def test_the_memory_left_counts_the_tightest_cgroup_limit_up_to_the_root(tmp_path, version):
    no_limit = "max" if version == 2 else str(9223372036854771712)
    levels = [(no_limit, 5 * MiB), (str(900 * MiB), 600 * MiB), (str(2000 * MiB), 100 * MiB)]
    proc = cgroup_tree(tmp_path, version, levels, "/outer/inner")
    left, why = limits._cgroup(tmp_path, proc)
    assert left == 300 * MiB and "cgroup" in why  # the outer group's 900 less its 600, not the inner 1900
    proc = cgroup_tree(tmp_path / "free", version, [(no_limit, 5 * MiB)], "/")
    assert limits._cgroup(tmp_path / "free", proc) is None


def claim_size(path: Path, member: str, size: int) -> None:
    """Make the zip's directory say `member` holds `size` bytes uncompressed (as a 2.3 GiB
    array of zeros, deflated, would), without writing them."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        offset = z.getinfo(member).header_offset
    struct.pack_into("<I", data, offset + 22, size)  # the local header's uncompressed size
    at = data.find(b"PK\x01\x02")
    while at >= 0:  # the central directory's entry for it
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_length] == member.encode():
            struct.pack_into("<I", data, at + 24, size)
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))


def test_an_npz_past_the_address_space_limit_is_one_line_naming_the_limit(tmp_path):
    # a 200000x3072 float32 X (2.3 GiB) of zeros, compressed: a few megabytes (its size claimed, not written)
    path = tmp_path / "big.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (200000, 3072)})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("X.npy", header.getvalue() + bytes(MiB))
        z.writestr("y.npy", _npy(np.zeros(200000, np.int64)))
    claim_size(path, "X.npy", len(header.getvalue()) + 200000 * 3072 * 4)
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))\n"
        "from tui_trainer.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    (tmp_path / "big.toml").write_text('name = "big"\n[data]\ndataset = "npz"\npath = "big.npz"\n')
    r = subprocess.run(
        [sys.executable, "-c", code, "run", "big.toml", "--runs-dir", "runs"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert "big.npz: its header promises X of shape (200000, 3072) (float32) = 2.3 GiB" in line
    assert "left by the address-space limit (ulimit -v)" in line


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_running_out_of_memory_past_the_checks_is_one_line_naming_the_data(monkeypatch):
    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(formats, "load", no_memory)
    preset = load_preset("default", ["data.dataset=npz", "data.path=x.npz"])
    monkeypatch.setattr("tui_trainer.datasets.loading.check_data_path", lambda *a: None)
    with pytest.raises(DataError, match=r"npz \(x.npz\) does not fit in the memory this process may use"):
        load_dataset(preset.data, source=preset.where)


# --- a CIFAR-10 batch that builds huge arrays -------------------------------------------------------

_RECONSTRUCT = np.empty(0).__reduce__()[0]


class _Reconstructed:
    """An array as a pickle may ask for one: NumPy's _reconstruct of any shape, never set."""

    def __init__(self, shape, dtype=b"b"):
        self.shape, self.dtype = shape, dtype

    def __reduce__(self):
        return _RECONSTRUCT, (np.ndarray, self.shape, self.dtype)


def cifar_with(tmp_path: Path, content) -> Path:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(tmp_path, per_batch=4, n_test=2)
    (folder / "data_batch_1").write_bytes(pickle.dumps(content, protocol=2))
    return folder


@pytest.mark.parametrize(
    "content, claim",
    [
        ({b"data": _Reconstructed((3_000_000_000,)), b"labels": []}, "an array of 3000000000 int8"),
        ({b"data": _Reconstructed((10**6, 3072)), b"labels": []}, "an array of 1000000x3072 int8"),
        ({b"data": _Reconstructed(10**9, np.dtype("V1000")), b"labels": []}, "an array of 1000000000 |V1000"),
        # many small arrays, each within the file's size, together far past it
        ({b"data": [_Reconstructed((4000,)) for _ in range(2000)], b"labels": []}, "an array of 4000 int8"),
    ],
)
def test_a_batch_whose_pickle_reconstructs_huge_arrays_is_refused_before_they_exist(tmp_path, content, claim):
    folder = cifar_with(tmp_path, content)
    kind, error = cheaply(lambda: formats.load("cifar10", str(folder)))
    assert kind == "raised" and isinstance(error, DataError), error
    assert "corrupt CIFAR-10 batch: it claims " + claim in str(error)


def test_a_batch_claiming_a_string_of_a_terabyte_is_one_line(tmp_path):
    folder = cifar_with(tmp_path, {b"data": b"", b"labels": []})
    batch = folder / "data_batch_1"
    # BINBYTES8 (protocol 4's opcode) claiming 2**40 bytes, then nothing
    batch.write_bytes(b"\x80\x04\x8e" + (2**40).to_bytes(8, "little") + b"xyz")
    kind, error = cheaply(lambda: formats.load("cifar10", str(folder)))
    assert kind == "raised" and isinstance(error, DataError) and "corrupt CIFAR-10 batch" in str(error)


def test_a_real_batch_still_loads(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    written = write_cifar(tmp_path, per_batch=30, n_test=10)
    raw = formats.load("cifar10", str(folder))
    data, labels = written["data_batch_1"]
    assert np.array_equal(raw.y[:30], labels) and raw.X.shape[0] == 150

"""Hostile data files, each a few hundred bytes that claim far more: refused with one
line naming the file and what it claims, before anything that size is allocated."""

from __future__ import annotations

import io
import os
import pickle
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from realformats import write_cifar
from test_data_cli import assert_bad_input, run_preset

from tui_trainer.config import load_preset
from tui_trainer.datasets import formats, load_dataset
from tui_trainer.datasets.idx import IMAGES, read_idx
from tui_trainer.engine.trainer import estimate_bytes
from tui_trainer.errors import DataError, PresetError

MiB = 2**20


def refused_cheaply(call, match: str, budget: int = 8 * MiB) -> str:
    """The DataError `call` raises, checking that Python and NumPy allocated under `budget` on the way."""
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=match) as e:
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < budget, f"peak {peak / MiB:.1f} MiB before refusing"
    return str(e.value)


# --- npz ---------------------------------------------------------------------------


def npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def npz_of(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(f"{name}.npy", data)
    return path


def test_npz_label_of_2_62_is_refused_before_a_name_per_class(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones((4, 2)), y=np.array([0, 1, 0, 2**62]))
    message = refused_cheaply(lambda: formats.load("npz", str(path)), "classes")
    assert str(path) in message and f"labels up to {2**62} claim" in message


def test_npz_header_claiming_10_12_rows_is_refused_before_reading(tmp_path):
    y = np.arange(4) % 2
    path = npz_of(tmp_path / "d.npz", {"X": npy_header((10**12, 8)) + b"\0" * 64, "y": _npy(y)})
    message = refused_cheaply(lambda: formats.load("npz", str(path)), "truncated")
    assert "(1000000000000, 8)" in message and "64 bytes" not in message.split("holds")[0]


def test_a_truncated_npz_member_says_truncated_not_pickle(tmp_path):
    X = np.ones((50, 3))
    path = npz_of(tmp_path / "d.npz", {"X": _npy(X)[:-100], "y": _npy(np.arange(50) % 2)})
    message = refused_cheaply(lambda: formats.load("npz", str(path)), "X")
    assert "truncated" in message and "pickle" not in message


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(0, 2**40), min_size=1, max_size=4))
def test_npz_headers_of_any_shape_never_allocate_what_they_claim(tmp_path, shape):
    path = npz_of(tmp_path / "h.npz", {"X": npy_header(tuple(shape)) + b"\0" * 80, "y": _npy(np.array([0, 1]))})
    try:
        tracemalloc.start()
        formats.load("npz", str(path))
    except DataError:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 8 * MiB


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_float64_beyond_float32_range_is_bad_data_not_an_explosion(tmp_path):
    path = tmp_path / "big.npz"
    X = np.ones((60, 3))
    X[7, 1] = 1e39
    np.savez(path, X=X, y=np.arange(60) % 2)
    assert_bad_input(run_preset(tmp_path, "npz", path, num_train=40, num_val=10, num_test=10), path, "example 7")


# --- CIFAR-10 -----------------------------------------------------------------------


class _Claim:
    """Pickles as numpy.ndarray(shape, uint8, one byte, 0, zero strides): a huge view of nothing."""

    def __init__(self, rows: int):
        self.rows = rows

    def __reduce__(self):
        return np.ndarray, ((self.rows, 3072), np.dtype(np.uint8), b"\0", 0, (0, 0))


def _batch_claiming(rows: int, labels) -> bytes:
    return pickle.dumps({b"data": _Claim(rows), b"labels": labels}, protocol=2)


@pytest.mark.parametrize("rows", [2_000_000, 10**12])
def test_cifar_batch_whose_arrays_claim_millions_of_rows_is_refused(tmp_path, rows):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(tmp_path, per_batch=4, n_test=2)
    batch = folder / "data_batch_1"
    batch.write_bytes(_batch_claiming(rows, _Claim(rows)))
    assert batch.stat().st_size < 400
    message = refused_cheaply(lambda: formats.load("cifar10", str(folder)), "corrupt CIFAR-10 batch")
    assert str(batch) in message and f"{rows}x3072" in message


def test_cifar_label_of_2_70_is_out_of_range_not_an_overflow(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(tmp_path, per_batch=4, n_test=2)
    batch = folder / "data_batch_1"
    batch.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 2**70]}, protocol=2))
    assert_bad_input(run_preset(tmp_path, "cifar10", folder), batch, "labels must lie in 0..9", str(2**70))


@pytest.mark.parametrize("kind", ["fifo", "devzero", "folder"])
def test_a_batch_that_is_not_a_regular_file_says_what_it_is(tmp_path, kind):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(tmp_path, per_batch=4, n_test=2)
    batch = folder / "data_batch_1"
    batch.unlink()
    if kind == "fifo":
        os.mkfifo(batch)
    elif kind == "devzero":
        batch.symlink_to("/dev/zero")
    else:
        batch.mkdir()
    what = {"fifo": "a FIFO", "devzero": "a device (a link to /dev/zero)", "folder": "a folder"}[kind]
    message = refused_cheaply(lambda: formats.load("cifar10", str(folder)), "not a regular file")
    assert what in message and "missing" not in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_batch_says_so(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(tmp_path, per_batch=4, n_test=2)
    batch = folder / "data_batch_1"
    batch.chmod(0)
    assert_bad_input(run_preset(tmp_path, "cifar10", folder), batch, "cannot read it (Permission denied)")


# --- idx ----------------------------------------------------------------------------


def idx_header(*dims: int) -> bytes:
    return struct.pack(">I", IMAGES) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize("dims", [(65535, 65535, 65535), (2**32 - 1, 2**32 - 1, 2**32 - 1), (60000, 28, 28)])
def test_idx_dims_are_checked_against_the_file_with_their_true_product(tmp_path, dims):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_header(*dims) + b"\0" * 100)
    message = refused_cheaply(lambda: read_idx(path, IMAGES), "truncated")
    product = dims[0] * dims[1] * dims[2]
    assert f"{dims[0]}x{dims[1]}x{dims[2]} = {product} bytes" in message and "holds 100" in message


def test_a_gzip_idx_that_lies_reads_no_more_than_it_holds(tmp_path):
    import gzip

    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_header(1000, 100, 100) + b"\0" * 1000))
    message = refused_cheaply(lambda: read_idx(path, IMAGES), "truncated", budget=2 * MiB)
    assert "10000000 bytes of data, the file holds 1000" in message


# --- generated data and the memory check ------------------------------------------------


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["data.num_train=1000000000000"], "data.num_train: 1,000,000,000,000 needs about"),
        (["data.num_val=1000000000000"], "data.num_val: 1,000,000,000,000 needs about"),
        (["data.classes=5000", "data.num_train=100"], "data.classes: 5,000 classes for data.num_train = 100"),
    ],
)
def test_spiral_too_big_is_refused_naming_its_key_before_generating(overrides, key):
    preset = load_preset("spiral", overrides)
    message = refused_cheaply(lambda: load_dataset(preset.data, source=preset.source), "data.")
    assert key in message


def test_ten_million_classes_is_a_preset_error():
    with pytest.raises(PresetError, match=r"data\.classes.*from 2 to 10,000"):
        load_preset("spiral", ["data.classes=10000000"])


def test_a_huge_batch_size_is_capped_at_the_examples_in_the_memory_estimate():
    small = load_preset("spiral")
    huge = load_preset("spiral", ["train.batch_size=1000000000000"])
    capped = load_preset("spiral", [f"train.batch_size={small.data.num_train}"])
    assert estimate_bytes(huge, 2, 3) == estimate_bytes(capped, 2, 3) < 2**30

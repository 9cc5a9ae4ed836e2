"""Bad data through the real command line: exit 2, one line naming the file, no traceback."""

from __future__ import annotations

import gzip
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from realformats import cifar_batch_bytes, tar_cifar, write_cifar, write_mnist

REPO = Path(__file__).resolve().parent.parent


def run_preset(tmp_path: Path, dataset: str, path: Path, *extra: str, **data) -> subprocess.CompletedProcess:
    lines = [f'dataset = "{dataset}"', f'path = "{path}"'] + [f"{k} = {v}" for k, v in data.items()]
    preset = tmp_path / "preset.toml"
    preset.write_text('name = "bad-data"\n[data]\n' + "\n".join(lines) + "\n[train]\nepochs = 1\n")
    return subprocess.run(
        [sys.executable, "-m", "tui_trainer", "run", str(preset), "--runs-dir", str(tmp_path / "runs"), *extra],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def assert_bad_input(result: subprocess.CompletedProcess, file: Path, *phrases: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(file) in lines[0], lines[0]
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    assert result.stdout == ""


def small_cifar(tmp_path: Path) -> Path:
    write_cifar(tmp_path, per_batch=20, n_test=10)
    return tmp_path / "cifar-10-batches-py"


def test_missing_path(tmp_path):
    missing = tmp_path / "nowhere" / "cifar-10-batches-py"
    assert_bad_input(run_preset(tmp_path, "cifar10", missing), missing, "no such file or folder", "data.path")


def test_truncated_batch(tmp_path):
    folder = small_cifar(tmp_path)
    batch = folder / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:30_000])
    assert_bad_input(run_preset(tmp_path, "cifar10", folder), batch, "truncated or corrupt")


def test_truncated_archive(tmp_path):
    small_cifar(tmp_path)
    archive = tar_cifar(tmp_path, tmp_path / "cifar-10-python.tar.gz")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size * 2 // 3])
    assert_bad_input(run_preset(tmp_path, "cifar10", archive), archive, "truncated")


def test_a_pickle_that_tries_to_run_code_is_refused_and_does_not_run(tmp_path):
    folder = small_cifar(tmp_path)
    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": Payload(), b"labels": [0]}, protocol=2))
    result = run_preset(tmp_path, "cifar10", folder)
    assert_bad_input(result, folder / "data_batch_1", "refused", "system", "nothing in it was run")
    assert not marker.exists()


def test_cifar_labels_out_of_range(tmp_path):
    folder = small_cifar(tmp_path)
    rows = np.zeros((3, 3072), np.uint8)
    (folder / "data_batch_2").write_bytes(cifar_batch_bytes(rows, [1, 10, 2]))
    assert_bad_input(
        run_preset(tmp_path, "cifar10", folder), folder / "data_batch_2", "labels must lie in 0..9", "found 1..10"
    )


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_wrong_idx_magic(tmp_path, gz):
    write_mnist(tmp_path / "mnist", gz=gz)
    f = tmp_path / "mnist" / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    body = gzip.decompress(f.read_bytes()) if gz else f.read_bytes()
    body = b"\x00\x00\x08\x02" + body[4:]
    f.write_bytes(gzip.compress(body) if gz else body)
    assert_bad_input(
        run_preset(tmp_path, "mnist", tmp_path / "mnist"), f, "wrong magic number (0x00000802)", "0x00000803"
    )


def test_truncated_idx(tmp_path):
    write_mnist(tmp_path / "mnist", gz=True)
    f = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    f.write_bytes(gzip.compress(gzip.decompress(f.read_bytes())[:-100]))
    assert_bad_input(
        run_preset(tmp_path, "mnist", tmp_path / "mnist"),
        f,
        "truncated: its header promises 20x28x28 = 15680 bytes of data, the file holds 15580",
    )


def test_idx_labels_out_of_range(tmp_path):
    write_mnist(tmp_path / "mnist")
    f = tmp_path / "mnist" / "train-labels-idx1-ubyte"
    body = bytearray(f.read_bytes())
    body[8 + 5] = 12
    f.write_bytes(bytes(body))
    assert_bad_input(run_preset(tmp_path, "fashion-mnist", tmp_path / "mnist"), f, "labels must lie in 0..9", "12")


def test_npz_labels_out_of_range(tmp_path):
    f = tmp_path / "d.npz"
    np.savez(f, X=np.ones((20, 4)), y=np.arange(20) % 4, label_names=np.array(["a", "b", "c"]))
    assert_bad_input(run_preset(tmp_path, "npz", f), f, "labels must lie in 0..2, found 0..3")


def test_npz_x_and_y_of_different_lengths(tmp_path):
    f = tmp_path / "d.npz"
    np.savez(f, X=np.ones((20, 4)), y=np.zeros(19, int))
    assert_bad_input(run_preset(tmp_path, "npz", f), f, "X has 20 examples but y has 19 labels")


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
def test_npz_non_finite_values(tmp_path, bad):
    f = tmp_path / "d.npz"
    X = np.ones((20, 4), np.float32)
    X[7, 2] = bad
    np.savez(f, X=X, y=np.arange(20) % 2)
    assert_bad_input(run_preset(tmp_path, "npz", f), f, "1 NaN or infinite values (first in example 7)")


def test_npz_without_y(tmp_path):
    f = tmp_path / "d.npz"
    np.savez(f, X=np.ones((20, 4)), labels=np.zeros(20))
    assert_bad_input(run_preset(tmp_path, "npz", f), f, "no array named y (found X, labels)")


def test_asking_for_more_examples_than_there_are(tmp_path):
    f = tmp_path / "d.npz"
    np.savez(f, X=np.ones((20, 4)), y=np.arange(20) % 2)
    result = run_preset(tmp_path, "npz", f, num_train=15, num_val=5, num_test=5)
    assert_bad_input(result, f, "= 25 examples", "has 20; ask for at most 20")


def test_a_good_cifar_folder_trains_end_to_end(tmp_path):
    folder = small_cifar(tmp_path)
    result = run_preset(tmp_path, "cifar10", folder, "--json", num_train=80, num_val=20, num_test=10)
    assert result.returncode == 0, result.stderr
    assert '"event": "run_started"' in result.stdout and '"image_shape": [32, 32, 3]' in result.stdout

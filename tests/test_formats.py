"""The standard formats on generated files laid out as the real ones: CIFAR-10 python
batches (Python 2 pickles), MNIST / Fashion-MNIST idx files (plain and gzip), .npz."""

from __future__ import annotations

import os
import pickle
import tarfile

import numpy as np
import pytest
from realformats import cifar_batch_bytes, cifar_meta_bytes, tar_cifar, write_cifar, write_mnist

from tui_trainer.config import DataConfig
from tui_trainer.datasets import RowBlocks, formats, load_dataset
from tui_trainer.errors import DataError


def as_array(X) -> np.ndarray:
    return np.concatenate(X.blocks) if isinstance(X, RowBlocks) else X


# --- CIFAR-10 -----------------------------------------------------------------------


def test_cifar_folder_gives_uint8_height_width_channel_images(tmp_path):
    written = write_cifar(tmp_path, per_batch=20, n_test=10)
    names = [
        n.upper() for n in (b"plane", b"car", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck")
    ]
    (tmp_path / "cifar-10-batches-py" / "batches.meta").write_bytes(cifar_meta_bytes(names))

    raw = formats.load("cifar10", str(tmp_path / "cifar-10-batches-py"))

    X = as_array(raw.X)
    assert X.shape == (100, 32, 32, 3) and X.dtype == np.uint8 and raw.image_shape == (32, 32, 3)
    rows, labels = written["data_batch_2"]
    # Row 3 of batch 2 is example 23; its pixel (row 5, column 7) in channel c is
    # at c * 1024 + 5 * 32 + 7 of the channel-first file row.
    for c in range(3):
        assert X[23, 5, 7, c] == rows[3, c * 1024 + 5 * 32 + 7]
    assert np.array_equal(raw.y, np.concatenate([written[f"data_batch_{k}"][1] for k in range(1, 6)]))
    assert raw.y[23] == labels[3]
    test_rows, test_labels = written["test_batch"]
    assert np.array_equal(
        raw.X_test.reshape(10, -1), test_rows.reshape(10, 3, 32, 32).transpose(0, 2, 3, 1).reshape(10, -1)
    )
    assert np.array_equal(raw.y_test, test_labels)
    assert raw.label_names[:3] == ("PLANE", "CAR", "BIRD") and raw.num_classes == 10


def test_cifar_archive_and_the_folder_above_read_the_same(tmp_path):
    write_cifar(tmp_path, per_batch=8, n_test=4)
    folder = formats.load("cifar10", str(tmp_path / "cifar-10-batches-py"))
    archive = formats.load("cifar10", str(tar_cifar(tmp_path, tmp_path / "cifar-10-python.tar.gz")))
    above = formats.load("cifar10", str(tmp_path))  # the DIR that `data fetch` fills
    for raw in (archive, above):
        assert np.array_equal(as_array(raw.X), as_array(folder.X))
        assert np.array_equal(raw.y, folder.y) and np.array_equal(raw.X_test, folder.X_test)
        assert raw.label_names[0] == "airplane"


def test_cifar_batches_repickled_by_python3_load_too(tmp_path):
    """A batch pickled by Python 3 (protocol 2 writes bytes through _codecs.encode, str keys)."""
    written = write_cifar(tmp_path, per_batch=6, n_test=3)
    rows, labels = written["data_batch_1"]
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(
        pickle.dumps({"data": rows, "labels": [int(v) for v in labels]}, protocol=2)
    )
    raw = formats.load("cifar10", str(tmp_path / "cifar-10-batches-py"))
    assert np.array_equal(as_array(raw.X)[:6].transpose(0, 3, 1, 2).reshape(6, -1), rows)


def test_a_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "MARKER"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    write_cifar(tmp_path, per_batch=4, n_test=2)
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_4"
    bad.write_bytes(pickle.dumps({b"data": Payload(), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_4: refused: the pickle asks for (posix|nt|os)\.system") as e:
        formats.load("cifar10", str(tmp_path / "cifar-10-batches-py"))
    assert "nothing in it was run" in str(e.value)
    assert not marker.exists()


def test_cifar_through_load_dataset_feeds_the_test_split_from_test_batch(tmp_path):
    written = write_cifar(tmp_path, per_batch=20, n_test=10)
    cfg = DataConfig(
        dataset="cifar10",
        path=str(tmp_path / "cifar-10-batches-py"),
        num_train=70,
        num_val=30,
        num_test=6,
        preprocess=(),
    )
    data = load_dataset(cfg)
    assert data.X_train.shape == (70, 3072) and data.X_val.shape == (30, 3072) and data.X_test.shape == (6, 3072)
    test_images = written["test_batch"][0].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).reshape(10, -1)
    test_rows = {row.tobytes(): label for row, label in zip(test_images.astype(np.float32), written["test_batch"][1])}
    for row, label in zip(data.X_test, data.y_test):
        assert test_rows[row.tobytes()] == label
    assert data.image_shape == (32, 32, 3) and data.label_names[9] == "truck"


# --- MNIST and Fashion-MNIST --------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_mnist_idx_files(tmp_path, gz):
    arrays = write_mnist(tmp_path / "mnist", n_train=50, n_test=15, gz=gz)
    raw = formats.load("mnist", str(tmp_path / "mnist"))
    assert raw.X.shape == (50, 28, 28, 1) and raw.X.dtype == np.uint8 and raw.image_shape == (28, 28, 1)
    assert np.array_equal(raw.X[..., 0], arrays["train-images-idx3-ubyte"])
    assert np.array_equal(raw.y, arrays["train-labels-idx1-ubyte"])
    assert np.array_equal(raw.X_test[..., 0], arrays["t10k-images-idx3-ubyte"])
    assert np.array_equal(raw.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert raw.label_names == tuple("0123456789")


def test_fashion_mnist_gets_its_label_names_and_the_fetch_dir_works(tmp_path):
    write_mnist(tmp_path / "fashion-mnist", gz=True)
    raw = formats.load("fashion-mnist", str(tmp_path))  # DIR of `data fetch fashion-mnist`
    assert raw.label_names[0] == "T-shirt/top" and raw.label_names[9] == "Ankle boot"
    assert raw.source == str(tmp_path / "fashion-mnist")


# --- npz ------------------------------------------------------------------------------


def test_npz_flat_features(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 5)), rng.integers(0, 4, 40)
    y[0] = 3
    np.savez(tmp_path / "d.npz", X=X, y=y)
    raw = formats.load("npz", str(tmp_path / "d.npz"))
    assert np.array_equal(raw.X, X) and raw.num_classes == 4 and raw.image_shape == ()
    data = load_dataset(DataConfig(dataset="npz", path=str(tmp_path / "d.npz"), num_train=30, num_val=5, num_test=5))
    assert data.X_train.dtype == np.float32 and data.input_dim == 5


def test_npz_images_with_label_names(tmp_path):
    X = np.random.default_rng(0).integers(0, 256, (12, 6, 6, 3), dtype=np.uint8)
    np.savez_compressed(tmp_path / "img.npz", X=X, y=np.arange(12) % 2, label_names=np.array(["cat", "dog", "eel"]))
    raw = formats.load("npz", str(tmp_path / "img.npz"))
    assert raw.image_shape == (6, 6, 3) and raw.num_classes == 3 and raw.label_names == ("cat", "dog", "eel")


def test_npz_with_python_objects_is_refused_without_unpickling(tmp_path):
    np.savez(tmp_path / "obj.npz", X=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))
    with pytest.raises(DataError, match=r"obj\.npz: X cannot be read without pickle"):
        formats.load("npz", str(tmp_path / "obj.npz"))


# --- a few damaged files, in process (the CLI tests cover every kind end to end) ---------


def test_truncated_member_of_the_archive(tmp_path):
    write_cifar(tmp_path, per_batch=8, n_test=4)
    archive = tar_cifar(tmp_path, tmp_path / "c.tar.gz")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataError, match=r"c\.tar\.gz"):
        formats.load("cifar10", str(archive))


def test_archive_missing_a_batch(tmp_path):
    write_cifar(tmp_path, per_batch=4, n_test=2)
    (tmp_path / "cifar-10-batches-py" / "data_batch_5").unlink()
    with tarfile.open(tmp_path / "c.tar", "w") as tar:
        tar.add(tmp_path / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    with pytest.raises(DataError, match=r"c\.tar: the archive lacks data_batch_5"):
        formats.load("cifar10", str(tmp_path / "c.tar"))


def test_idx_longer_than_its_header(tmp_path):
    write_mnist(tmp_path)
    f = tmp_path / "t10k-labels-idx1-ubyte"
    f.write_bytes(f.read_bytes() + b"\x00\x00")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: longer than its header says"):
        formats.load("mnist", str(tmp_path))


def test_cifar_batch_of_the_wrong_shape(tmp_path):
    write_cifar(tmp_path, per_batch=4, n_test=2)
    rows = np.zeros((4, 1024), np.uint8)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(
        cifar_batch_bytes(rows.reshape(4, 1024), [0, 1, 2, 3])
    )
    with pytest.raises(DataError, match=r"test_batch: data must be uint8 rows of 3072 values"):
        formats.load("cifar10", str(tmp_path / "cifar-10-batches-py"))


def _zip_of_bytes(path):
    import zipfile

    with zipfile.ZipFile(path, "w") as z:  # members that are not .npy data: np.load hands back raw bytes
        z.writestr("X.npy", b"not npy")
        z.writestr("y.npy", b"not npy")


@pytest.mark.parametrize(
    "write, message",
    [
        (_zip_of_bytes, "not a NumPy array"),
        (lambda p: np.savez(p, X=np.zeros((40, 0)), y=np.arange(40) % 2), "no input features"),
        (lambda p: np.savez(p, X=np.ones((40, 3)), y=np.zeros(40, int)), "at least 2 classes"),
    ],
)
def test_npz_that_cannot_train_is_a_data_error_not_a_crash(tmp_path, write, message):
    path = tmp_path / "d.npz"
    write(path)
    cfg = DataConfig(dataset="npz", path=str(path), num_train=30, num_val=5, num_test=5)
    with pytest.raises(DataError, match=message):
        load_dataset(cfg)

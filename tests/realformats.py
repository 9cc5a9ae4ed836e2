"""Write generated data in the real file formats, byte for byte as the originals are laid out.

CIFAR-10 batches are Python 2 pickles (protocol 2): Python 3 cannot write a
Python 2 `str`, so `cifar_batch_bytes` emits the opcodes that Python 2's
cPickle wrote for those dicts (SHORT_BINSTRING/BINSTRING keys and data, the
NumPy array as _reconstruct + BUILD with its dtype). Also used by
bench/data_memory.py.
"""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
from pathlib import Path

import numpy as np

PROTO2, STOP, MARK = b"\x80\x02", b".", b"("
EMPTY_DICT, EMPTY_LIST, SETITEMS, APPENDS = b"}", b"]", b"u", b"e"
TUPLE, TUPLE1, TUPLE3, REDUCE, BUILD, NEWFALSE, NONE = b"t", b"\x85", b"\x87", b"R", b"b", b"\x89", b"N"

CIFAR_LABELS = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


def _str(b: bytes) -> bytes:
    """A Python 2 str: SHORT_BINSTRING below 256 bytes, else BINSTRING."""
    return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b


def _int(v: int) -> bytes:
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    return b"J" + struct.pack("<i", v)


def _list(items: list[bytes]) -> bytes:
    out = EMPTY_LIST
    for start in range(0, len(items), 1000):  # cPickle batches appends by 1000
        out += MARK + b"".join(items[start : start + 1000]) + APPENDS
    return out


def _uint8_array(a: np.ndarray) -> bytes:
    """numpy.ndarray.__reduce__ under Python 2: _reconstruct(ndarray, (0,), 'b') then BUILD with
    (version 1, shape, dtype('u1'), is_fortran False, raw bytes)."""
    dtype = (
        b"cnumpy\ndtype\n"
        + _str(b"u1")
        + _int(0)
        + _int(1)
        + TUPLE3
        + REDUCE
        + MARK
        + _int(3)
        + _str(b"|")
        + NONE * 3
        + _int(-1)
        + _int(-1)
        + _int(0)
        + TUPLE
        + BUILD
    )
    return (
        b"cnumpy.core.multiarray\n_reconstruct\n"
        + b"cnumpy\nndarray\n"
        + _int(0)
        + TUPLE1
        + _str(b"b")
        + TUPLE3
        + REDUCE
        + MARK
        + _int(1)
        + MARK
        + b"".join(_int(d) for d in a.shape)
        + TUPLE
        + dtype
        + NEWFALSE
        + _str(np.ascontiguousarray(a, np.uint8).tobytes())
        + TUPLE
        + BUILD
    )


def cifar_batch_bytes(data: np.ndarray, labels, batch_label: bytes = b"training batch 1 of 5") -> bytes:
    """A data_batch_k / test_batch file: data (n, 3072) uint8 channel-first rows, labels n ints."""
    filenames = [_str(b"img_%05d.png" % i) for i in range(len(data))]
    return (
        PROTO2
        + EMPTY_DICT
        + MARK
        + _str(b"data")
        + _uint8_array(data)
        + _str(b"labels")
        + _list([_int(int(v)) for v in labels])
        + _str(b"batch_label")
        + _str(batch_label)
        + _str(b"filenames")
        + _list(filenames)
        + SETITEMS
        + STOP
    )


def cifar_meta_bytes(names=CIFAR_LABELS) -> bytes:
    return (
        PROTO2
        + EMPTY_DICT
        + MARK
        + _str(b"num_cases_per_batch")
        + _int(10000)
        + _str(b"label_names")
        + _list([_str(n) for n in names])
        + _str(b"num_vis")
        + _int(3072)
        + SETITEMS
        + STOP
    )


def cifar_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n random channel-first rows (n, 3072) uint8 and labels 0..9."""
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n)


def write_cifar(folder: Path, per_batch: int = 20, n_test: int = 10, seed: int = 0) -> dict:
    """A cifar-10-batches-py/ folder inside `folder`; returns what was written, batch by batch."""
    rng = np.random.default_rng(seed)
    out = Path(folder) / "cifar-10-batches-py"
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for k in range(1, 6):
        data, labels = cifar_images(per_batch, rng)
        (out / f"data_batch_{k}").write_bytes(cifar_batch_bytes(data, labels, b"training batch %d of 5" % k))
        written[f"data_batch_{k}"] = (data, labels)
    data, labels = cifar_images(n_test, rng)
    (out / "test_batch").write_bytes(cifar_batch_bytes(data, labels, b"testing batch 1 of 1"))
    written["test_batch"] = (data, labels)
    (out / "batches.meta").write_bytes(cifar_meta_bytes())
    return written


def tar_cifar(folder: Path, archive: Path) -> Path:
    """cifar-10-python.tar.gz of a cifar-10-batches-py/ folder, members in the real archive's odd order."""
    order = [
        "data_batch_4",
        "readme.html",
        "test_batch",
        "data_batch_3",
        "batches.meta",
        "data_batch_2",
        "data_batch_5",
        "data_batch_1",
    ]
    src = Path(folder) / "cifar-10-batches-py"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py", recursive=False)
        for name in order:
            if (src / name).exists():
                tar.add(src / name, arcname=f"cifar-10-batches-py/{name}")
            elif name == "readme.html":
                info = tarfile.TarInfo("cifar-10-batches-py/readme.html")
                body = b"<html>CIFAR-10</html>"
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
    return archive


def idx_bytes(a: np.ndarray) -> bytes:
    """An unsigned-byte idx file: magic 0x0000 08 ndim, big-endian uint32 dims, the bytes."""
    return (
        bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + np.ascontiguousarray(a, np.uint8).tobytes()
    )


MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def write_mnist(folder: Path, n_train: int = 60, n_test: int = 20, gz: bool = False, seed: int = 0) -> dict:
    """The four MNIST idx files (28x28 images, labels 0..9) in `folder`, plain or .gz."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        MNIST_FILES[0]: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        MNIST_FILES[1]: rng.integers(0, 10, n_train).astype(np.uint8),
        MNIST_FILES[2]: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        MNIST_FILES[3]: rng.integers(0, 10, n_test).astype(np.uint8),
    }
    for name, a in arrays.items():
        body = idx_bytes(a)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(body, mtime=0))
        else:
            (folder / name).write_bytes(body)
    return arrays

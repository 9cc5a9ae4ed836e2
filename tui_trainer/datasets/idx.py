"""MNIST and Fashion-MNIST: idx files, plain or gzip (http://yann.lecun.com/exdb/mnist/).

    raw = load_mnist(Path("data/mnist"), "mnist")   # the folder holding the four files

An idx file is a big-endian header, then the values:

    magic   0x00 0x00 <type> <number of dimensions>    images 0x00000803, labels 0x00000801
    dims    one uint32 per dimension                   images N, rows, cols; labels N
    data    prod(dims) values of <type> (0x08: unsigned byte)

The header is checked against the file's length, so a truncated or padded
file is an error, not a silent misread.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import limits
from .base import RawData

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
IMAGES, LABELS = 0x00000803, 0x00000801  # unsigned bytes; 3 dimensions, 1 dimension
FASHION_LABEL_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
EXPECTS = "the folder holding " + ", ".join(FILES) + " (plain or .gz)"


def load_mnist(path: Path, dataset: str = "mnist") -> RawData:
    """Training images as (N, rows, cols, 1) uint8 with labels 0..9; the t10k files feed X_test."""
    folder = _folder(path, dataset)
    X, y = _pair(folder, FILES[0], FILES[1])
    X_test, y_test = _pair(folder, FILES[2], FILES[3])
    if X_test.shape[1:] != X.shape[1:]:
        raise DataError(
            f"{folder}: the test images are {X_test.shape[1]}x{X_test.shape[2]} "
            f"but the training images {X.shape[1]}x{X.shape[2]}; they must match"
        )
    names = FASHION_LABEL_NAMES if dataset == "fashion-mnist" else tuple(str(d) for d in range(10))
    return RawData(
        X=X,
        y=y,
        num_classes=10,
        image_shape=X.shape[1:],
        label_names=names,
        X_test=X_test,
        y_test=y_test,
        source=str(folder),
    )


def _folder(path: Path, dataset: str) -> Path:
    if not path.is_dir():
        raise DataError(f"{path}: data.path of the {dataset!r} data set must be {EXPECTS}, not a file")
    if _find(path, FILES[0]) is None and (path / dataset).is_dir():
        return path / dataset  # the DIR given to `tui-trainer data fetch`
    return path


def _find(folder: Path, base: str) -> Path | None:
    """base, base.gz, or the same with '.idx' for '-idx' (a common re-packing)."""
    for name in (base, base.replace("-idx", ".idx")):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _pair(folder: Path, images_name: str, labels_name: str) -> tuple[np.ndarray, np.ndarray]:
    files = []
    for base in (images_name, labels_name):
        found = _find(folder, base)
        if found is None:
            raise DataError(f"{folder / base}: missing (nor {base}.gz); data.path must be {EXPECTS}")
        files.append(found)
    images, labels = read_idx(files[0], IMAGES), read_idx(files[1], LABELS)
    if len(images) != len(labels):
        raise DataError(
            f"{files[1]}: {len(labels)} labels for the {len(images)} images of {files[0].name}; "
            "they must match one to one"
        )
    if labels.size and labels.max() > 9:
        raise DataError(f"{files[1]}: labels must lie in 0..9, found {labels.min()}..{labels.max()}")
    return images[..., np.newaxis], labels.astype(np.int64)


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The array an unsigned-byte idx file holds, after checking its magic number and length."""
    ndim = magic & 0xFF
    kind = "images" if magic == IMAGES else "labels"
    try:
        with open(path, "rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
        f = gzip.open(path, "rb") if gz else open(path, "rb")
        with f:
            header = f.read(4 + 4 * ndim)
            if len(header) < 4 or struct.unpack(">I", header[:4])[0] != magic:
                found = f"0x{header[:4].hex()}" if len(header) >= 4 else f"only {len(header)} bytes"
                raise DataError(
                    f"{path}: wrong magic number ({found}); an idx {kind} file starts with "
                    f"0x{magic:08x} (unsigned bytes, {ndim} dimension{'s' * (ndim > 1)})"
                )
            if len(header) < 4 + 4 * ndim:
                raise DataError(f"{path}: truncated: the file ends inside its header")
            dims = struct.unpack(f">{ndim}I", header[4:])
            size = 1
            for d in dims:
                size *= d  # Python ints: a product of uint32s never wraps
            shape = "x".join(map(str, dims))
            # A plain file's length is known: the claim is checked before reading.
            # A gzip's is not: its claim is checked against memory, and read a chunk
            # at a time, so a small file that lies allocates no more than it holds.
            present = None if gz else max(path.stat().st_size - len(header), 0)
            limits.check_bytes(str(path), shape, size, present)
            data = _read_at_most(f.read, size)
            extra = f.read(1)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read it, truncated or corrupt ({type(e).__name__}: {e})") from None
    if len(data) < size:
        raise DataError(
            f"{path}: truncated: its header promises {shape} = {size} bytes of data, the file holds {len(data)}"
        )
    if extra:
        raise DataError(f"{path}: longer than its header says ({shape} = {size} bytes of data); not a clean idx file")
    return np.frombuffer(data, np.uint8).reshape(dims)


def _read_at_most(read: Callable[[int], bytes], size: int, chunk: int = 1 << 20) -> bytes:
    """Up to `size` bytes, read a chunk at a time (one read of `size` would allocate all of it first)."""
    parts = []
    left = size
    while left > 0:
        part = read(min(left, chunk))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)

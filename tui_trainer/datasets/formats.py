"""The standard file formats a preset's `data.path` can name.

    raw = load("cifar10", "data/cifar-10-batches-py")   # or cifar-10-python.tar.gz itself
    raw = load("mnist", "data/mnist")                   # the four idx files, plain or .gz
    raw = load("fashion-mnist", "data/fashion-mnist")
    raw = load("npz", "my_data.npz")                    # X, y, optional label_names

Each loader checks what is particular to its format and names the file in
every error; `validate_raw` (datasets/loading.py) then checks what all
formats share: lengths, label range, finiteness.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import cifar, idx, limits
from .base import RawData

NPZ_EXPECTS = (
    "an .npz archive with X (N x D, or N x H x W x C images) and y (N integer labels from 0), optionally label_names"
)
EXPECTS = {"cifar10": cifar.EXPECTS, "mnist": idx.EXPECTS, "fashion-mnist": idx.EXPECTS, "npz": NPZ_EXPECTS}


def load(dataset: str, path: str) -> RawData:
    """Read the files of a cifar10, mnist, fashion-mnist or npz data set at `path`."""
    if dataset not in EXPECTS:
        raise DataError(f"data.dataset: {dataset!r} is not a file format; one of {', '.join(EXPECTS)}")
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(
            f"{p}: no such file or folder; data.path of the {dataset!r} data set must name {EXPECTS[dataset]}"
        )
    if dataset == "cifar10":
        return cifar.load_cifar10(p)
    if dataset in ("mnist", "fashion-mnist"):
        return idx.load_mnist(p, dataset)
    return load_npz(p)


def load_npz(path: Path) -> RawData:
    """X as stored (N x D, or N x H x W x C; a 3-D X is N grayscale H x W images), y as integers."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(
            f"{path}: not a readable .npz archive ({type(e).__name__}: {e}); an npz data set is {NPZ_EXPECTS}"
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: holds a single array, not {NPZ_EXPECTS} (np.savez(path, X=X, y=y) writes one)")
    with archive:
        missing = [k for k in ("X", "y") if k not in archive.files]
        if missing:
            raise DataError(
                f"{path}: no array named {' or '.join(missing)} (found {', '.join(archive.files) or 'none'}); "
                f"an npz data set is {NPZ_EXPECTS}"
            )
        limits.check_npz(archive, path, ("X", "y", "label_names"))
        X, y = _array(archive, "X", path), _array(archive, "y", path)
        names = _array(archive, "label_names", path) if "label_names" in archive.files else None
    if X.ndim == 3:
        X = X[..., np.newaxis]
    if X.ndim not in (2, 4):
        raise DataError(f"{path}: X has shape {X.shape}; it must be N x D, or N x H x W x C images")
    if X.ndim == 2 and X.shape[1] == 0 or X.ndim == 4 and 0 in X.shape[1:]:
        raise DataError(
            f"{path}: X has shape {X.shape}: no input features; it must be N x D with D >= 1, or N x H x W x C images"
        )
    if y.ndim != 1:
        raise DataError(f"{path}: y has shape {y.shape}; it must be one integer label per example (shape (N,))")
    if len(X) == 0:
        raise DataError(f"{path}: X holds no examples")
    if names is not None:
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise DataError(f"{path}: label_names must be a 1-D array of strings, found {names.dtype} {names.shape}")
        label_names = tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names)
        num_classes = len(label_names)
    else:
        if y.dtype.kind not in "iuf" or y.size == 0:
            raise DataError(f"{path}: y must hold integer labels from 0, found {y.dtype} {y.shape}")
        top = np.nanmax(y) if y.dtype.kind == "f" else y.max()
        num_classes = int(top) + 1 if np.isfinite(top) else 1
        limits.check_classes(f"{path}: y", num_classes, len(y))
        label_names = tuple(str(k) for k in range(max(num_classes, 0)))
    return RawData(
        X=X,
        y=y,
        num_classes=num_classes,
        image_shape=tuple(X.shape[1:]) if X.ndim == 4 else (),
        label_names=label_names,
        source=str(path),
    )


def _array(archive: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    try:
        value = archive[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: {key} is truncated or corrupt ({type(e).__name__}: {e})") from None
    if not isinstance(value, np.ndarray):  # a member that is not .npy data comes back as raw bytes
        raise DataError(f"{path}: {key} is not a NumPy array (save it with np.savez); an npz data set is {NPZ_EXPECTS}")
    return value

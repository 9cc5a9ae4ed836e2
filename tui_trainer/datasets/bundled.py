"""The bundled real data sets: mnist-5k and digits (see data/README.md for their provenance)."""

from __future__ import annotations

import gzip

import numpy as np

from ..config import shipped
from ..errors import DataError
from .base import RawData

DATA_DIR = shipped("data")

BUNDLED = {
    # name: (file in the bundled data folder, image shape (H, W, C))
    "mnist-5k": ("mnist_5k.csv.gz", (28, 28, 1)),
    "digits": ("digits.csv.gz", (8, 8, 1)),
}


def load_bundled(name: str) -> RawData:
    """One example per CSV row, pixels first, the label last; pixels kept as uint8."""
    filename, shape = BUNDLED[name]
    path = DATA_DIR / filename
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    except FileNotFoundError:
        raise DataError(f"{path}: the bundled {name!r} data file is missing; reinstall tui-trainer") from None
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path}: the bundled {name!r} data file is corrupt ({e}); reinstall tui-trainer") from None
    X, y = table[:, :-1], table[:, -1]
    if X.shape[1] != int(np.prod(shape)):
        raise DataError(f"{path}: expected {int(np.prod(shape))} pixels a row, found {X.shape[1]}")
    return RawData(
        X=X.astype(np.uint8).reshape(-1, *shape),
        y=y,
        num_classes=10,
        image_shape=shape,
        label_names=tuple(str(i) for i in range(10)),
        source=str(path),
    )

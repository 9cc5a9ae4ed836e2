"""Data sets: load what a preset's [data] section names, split it, preprocess it.

    data = load_dataset(preset.data, source=preset.source)
    data.X_train  # (num_train, D) float32, preprocessed

NumPy only: nothing here imports a UI library.
"""

from __future__ import annotations

import numpy as np

from ..config import DataConfig
from ..errors import DataError
from .base import Dataset, RawData
from .bundled import BUNDLED, load_bundled
from .preprocess import Preprocessor
from .spiral import make_spiral

__all__ = ["Dataset", "RawData", "load_dataset", "load_raw", "split_and_preprocess", "validate_raw"]


def load_raw(cfg: DataConfig) -> RawData:
    """Read the data set the config names, validated, before splitting."""
    if cfg.dataset in BUNDLED:
        raw = load_bundled(cfg.dataset)
    elif cfg.dataset == "spiral":
        raw = make_spiral(cfg.num_train + cfg.num_val + cfg.num_test, cfg.classes, cfg.noise, cfg.seed)
    else:
        from . import formats  # the standard file formats

        raw = formats.load(cfg.dataset, cfg.path)
    validate_raw(raw)
    return raw


def load_dataset(cfg: DataConfig, source: str = "<preset>") -> Dataset:
    return split_and_preprocess(load_raw(cfg), cfg, name=cfg.dataset, source=source)


def validate_raw(raw: RawData) -> None:
    """Lengths, label range and finiteness: the checks every format shares."""
    for X, y, part in ((raw.X, raw.y, ""), (raw.X_test, raw.y_test, " (test files)")):
        if X is None:
            continue
        if y.ndim != 1 or X.shape[0] != y.shape[0]:
            raise DataError(
                f"{raw.source}{part}: X has {X.shape[0]} examples but y has {y.shape[0] if y.ndim else 0} labels; "
                "they must match one to one"
            )
        if not np.issubdtype(y.dtype, np.integer):
            if not (np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y))):
                raise DataError(f"{raw.source}{part}: labels must be integers, found dtype {y.dtype}")
        if y.size and (y.min() < 0 or y.max() >= raw.num_classes):
            raise DataError(
                f"{raw.source}{part}: labels must lie in 0..{raw.num_classes - 1}, "
                f"found {int(y.min())}..{int(y.max())}"
            )
        if np.issubdtype(X.dtype, np.floating):
            bad = ~np.isfinite(X)
            if bad.any():
                row = int(np.argwhere(bad)[0][0])
                raise DataError(f"{raw.source}{part}: X holds {int(bad.sum())} NaN or infinite values (first in example {row})")
        elif not np.issubdtype(X.dtype, np.integer):
            raise DataError(f"{raw.source}{part}: X must be numeric, found dtype {X.dtype}")


def split_and_preprocess(raw: RawData, cfg: DataConfig, name: str = "", source: str = "<preset>") -> Dataset:
    """Seeded splits (the same for the same seed), then preprocessing fit on train only.

    The format's own test files feed the test split where it has them.
    """
    rng = np.random.default_rng(cfg.seed)
    n = raw.X.shape[0]
    want = cfg.num_train + cfg.num_val + (0 if raw.X_test is not None else cfg.num_test)
    if want > n:
        parts = "num_train + num_val" + ("" if raw.X_test is not None else " + num_test")
        raise DataError(
            f"{source}: data.{parts} = {want} examples, but {raw.source} has {n}; ask for at most {n}"
        )
    perm = rng.permutation(n)
    i_train = perm[:cfg.num_train]
    i_val = perm[cfg.num_train:cfg.num_train + cfg.num_val]
    if raw.X_test is not None:
        n_test = raw.X_test.shape[0]
        if cfg.num_test > n_test:
            raise DataError(f"{source}: data.num_test = {cfg.num_test}, but the test files of {raw.source} hold {n_test}")
        i_test = rng.permutation(n_test)[:cfg.num_test]
        X_test_src, y_test_src = raw.X_test, raw.y_test
    else:
        i_test = perm[cfg.num_train + cfg.num_val:want]
        X_test_src, y_test_src = raw.X, raw.y

    X_train = _gather(raw.X, i_train)
    for step in cfg.preprocess:
        if step.startswith("pca:") and int(step[4:]) > X_train.shape[1]:
            raise DataError(
                f"{source}: data.preprocess: {step!r} asks for more components than the "
                f"{X_train.shape[1]} input features; K must be at most {X_train.shape[1]}"
            )
    pre = Preprocessor(cfg.preprocess)
    X_train = pre.fit_transform(X_train)
    X_val = pre.transform(_gather(raw.X, i_val))
    X_test = pre.transform(_gather(X_test_src, i_test))
    return Dataset(
        name=name or raw.source,
        X_train=X_train, y_train=raw.y[i_train].astype(np.int64),
        X_val=X_val, y_val=raw.y[i_val].astype(np.int64),
        X_test=X_test, y_test=y_test_src[i_test].astype(np.int64),
        num_classes=raw.num_classes, image_shape=tuple(raw.image_shape),
        label_names=tuple(raw.label_names), preprocess=pre.state(),
    )


def _gather(X: np.ndarray, idx: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """X[idx] flattened to (len(idx), D) float32, converted a chunk at a time
    so no float copy of the whole source is ever made."""
    d = int(np.prod(X.shape[1:]))
    out = np.empty((len(idx), d), np.float32)
    for start in range(0, len(idx), chunk):
        part = idx[start:start + chunk]
        out[start:start + len(part)] = X[part].reshape(len(part), d)
    return out

"""Splitting: seeded train/val/test splits of the raw data, then preprocessing fit on train.

    data = split_and_preprocess(raw, cfg, name="mnist-5k", consume=True)

The split copies rows into float32 a chunk at a time and, with consume, frees
the raw arrays as it goes, so peak memory stays near the splits themselves.
"""

from __future__ import annotations

import numpy as np

from ..config import DataConfig
from ..errors import DataError
from .base import Dataset, RawData, RowBlocks, Source, at
from .preprocess import Preprocessor


def split_and_preprocess(
    raw: RawData, cfg: DataConfig, name: str = "", source: Source = "<preset>", consume: bool = False
) -> Dataset:
    """Seeded splits (the same for the same seed), then preprocessing fit on train only.

    The format's own test files feed the test split where it has them.
    consume=True lets the split drop raw's arrays (and RowBlocks block by
    block) as soon as their rows are copied, so peak memory stays near the
    float32 splits themselves; raw is unusable afterwards.
    """
    if raw.X is None or raw.y is None:
        raise ValueError(f"{raw.source}: already split with consume=True; load it again")
    rng = np.random.default_rng(cfg.seed)
    n = raw.X.shape[0]
    want = cfg.num_train + cfg.num_val + (0 if raw.X_test is not None else cfg.num_test)
    if want > n:
        parts = "num_train + num_val" + ("" if raw.X_test is not None else " + num_test")
        raise DataError(
            f"{at(source, f'data.{parts}')} = {want} examples, but {raw.source} has {n}; ask for at most {n}"
        )
    d = int(np.prod(raw.X.shape[1:]))
    for step in cfg.preprocess:
        if step.startswith("pca:") and int(step[4:]) > d:
            raise DataError(
                f"{at(source, 'data.preprocess')}: {step!r} asks for more components than the "
                f"{d} input features; K must be at most {d}"
            )
    perm = rng.permutation(n)
    i_train = perm[: cfg.num_train]
    i_val = perm[cfg.num_train : cfg.num_train + cfg.num_val]
    if raw.X_test is not None and raw.y_test is not None:
        n_test = raw.X_test.shape[0]
        if cfg.num_test > n_test:
            raise DataError(
                f"{at(source, 'data.num_test')} = {cfg.num_test}, but the test files of {raw.source} hold {n_test}"
            )
        i_test = rng.permutation(n_test)[: cfg.num_test]
        X_test = _gather(raw.X_test, i_test)
        y_test = raw.y_test[i_test].astype(np.int64)
        if consume:
            raw.X_test = raw.y_test = None
    else:
        i_test = perm[cfg.num_train + cfg.num_val : want]
        X_test = _gather(raw.X, i_test)
        y_test = raw.y[i_test].astype(np.int64)
    X_val = _gather(raw.X, i_val)
    y_val, y_train = raw.y[i_val].astype(np.int64), raw.y[i_train].astype(np.int64)
    # The training split last: with consume, each source block is freed as soon
    # as its rows are in X_train, so the uint8 source and the float32 copy
    # never both exist whole.
    X_train = _gather(raw.X, i_train, consume=consume)
    if consume:
        raw.X = raw.y = None

    pre = Preprocessor(cfg.preprocess)
    X_train = pre.fit_transform(X_train)
    X_val = pre.transform(X_val)
    X_test = pre.transform(X_test)
    return Dataset(
        name=name or raw.source,
        X_train=X_train,
        y_train=y_train,
        X_val=X_val,
        y_val=y_val,
        X_test=X_test,
        y_test=y_test,
        num_classes=raw.num_classes,
        image_shape=tuple(raw.image_shape),
        label_names=tuple(raw.label_names),
        preprocess=pre.state(),
    )


def _gather(X: np.ndarray | RowBlocks, idx: np.ndarray, consume: bool = False, chunk: int = 1024) -> np.ndarray:
    """X[idx] flattened to (len(idx), D) float32, converted a chunk at a time
    so no float copy of the whole source is ever made.

    Rows are copied in ascending source order, so the float array fills front
    to back (NumPy backs big arrays with 2 MB huge pages: scattered writes
    would make all of it resident at once) and, with consume, each RowBlocks
    block is freed as soon as its rows are in. Then the rows are moved into
    idx's order in place.
    """
    if isinstance(X, RowBlocks):
        blocks = X.take() if consume else iter(X.present())
    else:
        blocks = iter([X])
    d = int(np.prod(X.shape[1:]))
    out = np.empty((len(idx), d), np.float32)
    order = np.argsort(idx, kind="stable")
    wanted = idx[order]
    offset = 0
    for block in blocks:
        lo, hi = np.searchsorted(wanted, [offset, offset + len(block)])
        for start in range(lo, hi, chunk):
            stop = min(start + chunk, hi)
            out[start:stop] = block[wanted[start:stop] - offset].reshape(stop - start, d)
        offset += len(block)
    # out[k] holds X[idx[order[k]]]; it belongs at row order[k].
    _take_rows_inplace(out, np.argsort(order))
    return out


def _take_rows_inplace(A: np.ndarray, src: np.ndarray) -> None:
    """A[:] = A[src] without a second copy of A: follow each cycle of the permutation with one spare row."""
    if not len(A):
        return
    source: list[int] = src.tolist()
    seen = bytearray(len(source))
    spare = np.empty_like(A[0])
    for s in range(len(source)):
        if seen[s]:
            continue
        seen[s] = 1
        k = source[s]
        if k == s:
            continue
        spare[...] = A[s]
        j = s
        while k != s:
            A[j] = A[k]
            seen[k] = 1
            j, k = k, source[k]
        A[j] = spare

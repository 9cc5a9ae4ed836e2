"""Loading: read what a preset's [data] section names, check it, hand it to the split.

    data = load_dataset(preset.data, source=preset.where)    # split and preprocessed
    raw = load_raw(preset.data)                               # validated, not split

Bundled sets come from the package, spiral is generated, and the file formats
(cifar10, mnist, fashion-mnist, npz) are read from data.path: relative to the
current folder, or, left empty for a public set, where `tui-trainer data
fetch` puts it (cache.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..config import FILE_DATASETS, DataConfig
from ..errors import DataError
from . import limits
from .base import Dataset, RawData, RowBlocks, Source, at
from .bundled import BUNDLED, load_bundled
from .cache import data_dir, fetched_path
from .spiral import make_spiral
from .splitting import split_and_preprocess


def load_raw(cfg: DataConfig, source: Source = "<preset>") -> RawData:
    """Read the data set the config names, validated, before splitting."""
    with _out_of_memory_is_bad_data(cfg, source):
        return _load_raw(cfg, source)


@contextlib.contextmanager
def _out_of_memory_is_bad_data(cfg: DataConfig, source: Source) -> Iterator[None]:
    """A data set the checks let through (limits.py) that still does not fit (their
    share is of what is left now; the split copies it, preprocessing makes float32
    copies) is one line, as one they refused: a DataError naming the data set."""
    try:
        yield
    except MemoryError:
        left = limits.memory_left()
        room = f" ({limits.gib(left[0])} of memory {left[1]})" if left else ""
        raise DataError(
            f"{at(source, 'data.dataset')}: {cfg.dataset}{f' ({cfg.path})' if cfg.path else ''} does not fit in "
            f"the memory this process may use{room}; use smaller data.num_train / num_val / num_test, "
            "or a machine (or limit) with more memory"
        ) from None


def _load_raw(cfg: DataConfig, source: Source) -> RawData:
    if cfg.dataset in BUNDLED:
        raw = load_bundled(cfg.dataset)
    elif cfg.dataset == "spiral":
        check_spiral(cfg, source)
        raw = make_spiral(cfg.num_train + cfg.num_val + cfg.num_test, cfg.classes, cfg.noise, cfg.seed)
    else:
        from . import formats  # the standard file formats

        raw = formats.load(cfg.dataset, str(data_path(cfg)))
    validate_raw(raw)
    return raw


# A spiral row: X (2 float32) and y (int64) generated, then the same in its split,
# and the generator's temporaries, with room to spare.
_SPIRAL_ROW_BYTES = 64


def check_spiral(cfg: DataConfig, source: Source = "<preset>") -> None:
    """A DataError naming the key that drives a generated spiral's size, before it is generated."""
    if cfg.classes > cfg.num_train:
        raise DataError(
            f"{at(source, 'data.classes')}: {cfg.classes:,} classes for data.num_train = {cfg.num_train:,} "
            "training examples; a class needs examples: at most one class per training example"
        )
    sizes = {"data.num_train": cfg.num_train, "data.num_val": cfg.num_val, "data.num_test": cfg.num_test}
    key = max(sizes, key=lambda k: sizes[k])
    limits.check_memory(at(source, key), sizes[key], (cfg.num_train + cfg.num_val + cfg.num_test) * _SPIRAL_ROW_BYTES)


def load_dataset(cfg: DataConfig, source: Source = "<preset>") -> Dataset:
    check_data_path(cfg, source)
    # Nobody else holds the raw data: let the split free it as it copies it out.
    with _out_of_memory_is_bad_data(cfg, source):
        return split_and_preprocess(load_raw(cfg, source), cfg, name=cfg.dataset, source=source, consume=True)


def data_path(cfg: DataConfig) -> Path:
    """The files of a file data set: data.path as given, else where `data fetch` put them."""
    return Path(cfg.path).expanduser() if cfg.path else fetched_path(cfg.dataset)


def check_data_path(cfg: DataConfig, source: Source = "<preset>") -> None:
    """A data set read from files needs its files; say how to get them. Every
    face that loads a preset's data (run, check, search, the workbench) says so."""
    if cfg.dataset not in FILE_DATASETS:
        return
    path = data_path(cfg)
    if path.exists():
        return
    if not cfg.path:
        raise DataError(
            f"{at(source, 'data.path')}: not set, and {cfg.dataset} is not in {data_dir()}, where "
            f"`tui-trainer data fetch` puts it; fetch it with: tui-trainer data fetch {cfg.dataset}, "
            "or point to it with --set data.path=PATH"
        )
    where = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
    how = (
        f"fetch it with: tui-trainer data fetch {cfg.dataset}, or point to it with --set data.path=PATH"
        if cfg.dataset != "npz"
        else "give the path of an .npz file holding X and y"
    )
    raise DataError(f"{at(source, 'data.path')}: {path}: no such file or folder{where}; {how}")


def validate_raw(raw: RawData) -> None:
    """Lengths, label range and finiteness: the checks every format shares."""
    if raw.X is None or raw.y is None:
        raise ValueError(f"{raw.source}: already split with consume=True; load it again")
    parts: list[tuple[np.ndarray | RowBlocks, np.ndarray, str]] = [(raw.X, raw.y, "")]
    if raw.X_test is not None and raw.y_test is not None:
        parts.append((raw.X_test, raw.y_test, " (test files)"))
    for X, y, part in parts:
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
                f"{raw.source}{part}: labels must lie in 0..{raw.num_classes - 1}, found {int(y.min())}..{int(y.max())}"
            )
        if np.issubdtype(X.dtype, np.floating):
            _check_finite(X, f"{raw.source}{part}")
        elif not np.issubdtype(X.dtype, np.integer):
            raise DataError(f"{raw.source}{part}: X must be numeric, found dtype {X.dtype}")
    limits.check_classes(raw.source, raw.num_classes, len(raw.y))
    if raw.num_classes < 2:
        raise DataError(f"{raw.source}: holds {raw.num_classes} class; a classifier needs labels of at least 2 classes")


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_finite(X: np.ndarray | RowBlocks, where: str, chunk: int = 4096) -> None:
    """No NaN or infinity in a float X, checked a chunk at a time; nor a value
    beyond float32's range, which the float32 splits would turn into infinity."""
    blocks = X.present() if isinstance(X, RowBlocks) else [X]
    bad_total, first = 0, None
    offset = 0
    wide = X.dtype.itemsize > 4
    for block in blocks:
        for start in range(0, len(block), chunk):
            rows = block[start : start + chunk]
            bad = ~np.isfinite(rows)
            if wide:
                bad |= np.abs(rows) > _FLOAT32_MAX
            count = int(bad.sum())
            if count and first is None:
                first = offset + start + int(np.argwhere(bad)[0][0])
            bad_total += count
        offset += len(block)
    if bad_total:
        raise DataError(
            f"{where}: X holds {bad_total} NaN or infinite values (first in example {first}) as float32, "
            f"whose largest value is {_FLOAT32_MAX:.3g}; clean, rescale or drop those examples"
        )

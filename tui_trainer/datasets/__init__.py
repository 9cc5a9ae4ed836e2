"""Data sets: load what a preset's [data] section names, split it, preprocess it.

    data = load_dataset(preset.data, source=preset.where)
    data.X_train  # (num_train, D) float32, preprocessed

loading.py reads and checks the data, splitting.py splits and preprocesses
them, the other modules are the sources (bundled, spiral, the file formats,
fetch). NumPy only: nothing here imports a UI library.
"""

from __future__ import annotations

from .base import Dataset, RawData, RowBlocks
from .loading import check_data_path, load_dataset, load_raw, validate_raw
from .splitting import split_and_preprocess

__all__ = [
    "Dataset",
    "RawData",
    "RowBlocks",
    "check_data_path",
    "load_dataset",
    "load_raw",
    "split_and_preprocess",
    "validate_raw",
]

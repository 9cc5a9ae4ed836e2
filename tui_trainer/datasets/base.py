"""The data set the engine trains on: splits, classes, and how it was shaped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

# Where a preset's values came from, for messages: the preset file's name, or a
# function of a dotted key saying where that key was set (`Preset.where`: the
# file, or `--set KEY` for a value from the command line).
Source = str | Callable[[str], str]


def at(source: Source, dotted: str) -> str:
    """`FILE: data.preprocess`, or `--set data.preprocess` where source says so."""
    return source(dotted) if callable(source) else f"{source}: {dotted}"


@dataclass
class Dataset:
    """Train/val/test splits, preprocessed, ready for the engine.

    X_*: (N, D) float32 (rows are flattened images where the data are images),
    y_*: (N,) int64 labels in [0, num_classes).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    image_shape: tuple[int, ...] = ()  # (H, W, C) of the raw inputs, () if not images
    label_names: tuple[str, ...] = ()
    # The statistics fitted on the training split (see preprocess.py), saved
    # with each run so a saved model can be evaluated on raw inputs.
    preprocess: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def input_dim(self) -> int:
        return int(self.X_train.shape[1])

    def subset(self, n_train: int, n_val: int | None = None) -> Dataset:
        """The same data set with only the first n_train training examples and, when
        n_val is given, the first n_val validation examples (views, no copy)."""
        return Dataset(
            self.name,
            self.X_train[:n_train],
            self.y_train[:n_train],
            self.X_val[:n_val],
            self.y_val[:n_val],
            self.X_test,
            self.y_test,
            self.num_classes,
            self.image_shape,
            self.label_names,
            self.preprocess,
        )


@dataclass
class RawData:
    """What a loader returns before splitting and preprocessing.

    X: (N, D) or (N, H, W, C) in the file's own dtype (uint8 images stay
    uint8 until preprocessing), or the same rows as RowBlocks; y: (N,) integer
    labels. X_test/y_test hold the format's own test files where it has them.
    A consuming split (splitting.py) sets the arrays it took to None.
    """

    X: np.ndarray | RowBlocks | None
    y: np.ndarray | None
    num_classes: int
    image_shape: tuple[int, ...] = ()
    label_names: tuple[str, ...] = ()
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    source: str = ""


class RowBlocks:
    """The rows of one (N, ...) array kept as consecutive blocks, e.g. CIFAR-10's
    five batch files, so the split can free each block once its rows are copied
    out instead of holding a concatenated copy beside the float32 splits.

    Has the `shape` and `dtype` of the array it stands for; `blocks` is a list
    of arrays with the same trailing shape and dtype.
    """

    def __init__(self, blocks: list[np.ndarray]):
        if not blocks:
            raise ValueError("RowBlocks needs at least one block")
        self.blocks: list[np.ndarray | None] = list(blocks)  # None: freed by a consuming split
        self.shape: tuple[int, ...] = (sum(len(b) for b in blocks), *blocks[0].shape[1:])
        self.dtype = blocks[0].dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def present(self) -> list[np.ndarray]:
        """The blocks, all of them: a ValueError once a consuming split has freed any."""
        blocks = [b for b in self.blocks if b is not None]
        if len(blocks) < len(self.blocks):
            raise ValueError("RowBlocks: a consuming split has freed these rows")
        return blocks

    def take(self) -> Iterator[np.ndarray]:
        """Each block in turn, dropped from here as it is handed out, so it is
        freed as soon as the caller moves on to the next: a consuming read."""
        for b in range(len(self.blocks)):
            block = self.blocks[b]
            if block is None:
                raise ValueError("RowBlocks: a consuming split has freed these rows")
            self.blocks[b] = None
            yield block

"""Generated data sets for the advisor's and lr-find's harder cases, written as npz
files the `npz` data set reads (datasets/formats.py): the cases the bundled
sets do not show (label noise, random labels, a 95/5 imbalance, features on a
1e4 scale or on scales decades apart, moons and circles).

    path = write(tmp_path, "noisy", *label_noise(blobs(1200, 10, 4), 0.3))
    preset = npz_preset(path, 900, 300, "model.hidden=[20]", "train.epochs=5")

Every generator is seeded and NumPy only. Also used by bench/lr_find_vs_grid.py
and bench/advice_cases.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tui_trainer.config import Preset, load_preset


def blobs(n: int, dim: int, classes: int, spread: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`classes` Gaussian clusters (centres drawn at scale 1, points at scale `spread`), n points in all."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim))
    y = np.arange(n) % classes
    X = centres[y] + spread * rng.standard_normal((n, dim))
    return X.astype(np.float32), y


def moons(n: int, noise: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles (scikit-learn's make_moons, by hand)."""
    rng = np.random.default_rng(seed)
    half = n // 2
    t = rng.uniform(0, np.pi, n)
    y = (np.arange(n) >= half).astype(np.int64)
    X = np.where(y[:, None] == 0, np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
    X += noise * rng.standard_normal((n, 2))
    return X.astype(np.float32), y


def circles(n: int, noise: float = 0.1, factor: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A circle inside another (make_circles): no straight line separates them."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    y = (np.arange(n) % 2).astype(np.int64)
    r = np.where(y == 1, factor, 1.0)
    X = np.c_[r * np.cos(t), r * np.sin(t)] + noise * rng.standard_normal((n, 2))
    return X.astype(np.float32), y


def imbalanced(n: int, dim: int = 10, major: float = 0.95, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes, `major` of the points in class 0, the minority hardly apart from it."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) >= major).astype(np.int64)
    X = rng.standard_normal((n, dim)) + 0.3 * y[:, None]
    return X.astype(np.float32), y


def label_noise(X: np.ndarray, y: np.ndarray, fraction: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """`fraction` of the labels replaced by another class, drawn at random: val accuracy caps near 1 - fraction."""
    rng = np.random.default_rng(seed)
    classes = int(y.max()) + 1
    y = y.copy()
    flip = rng.random(len(y)) < fraction
    y[flip] = (y[flip] + rng.integers(1, classes, flip.sum())) % classes
    return X, y


def random_labels(X: np.ndarray, y: np.ndarray, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn at random, as many classes as y had: nothing to learn but the training set by heart."""
    rng = np.random.default_rng(seed)
    return X, rng.integers(0, int(y.max()) + 1, len(y))


def scaled(X: np.ndarray, y: np.ndarray, low: float, high: float, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Each feature times its own factor, log-uniform in [low, high] (low == high: one scale for all)."""
    rng = np.random.default_rng(seed)
    factors = np.exp(rng.uniform(np.log(low), np.log(high), X.shape[1]))
    return (X * factors).astype(np.float32), y


def write(folder: str | Path, name: str, X: np.ndarray, y: np.ndarray) -> Path:
    """X and y as `folder/name.npz`, the layout the npz data set reads."""
    path = Path(folder) / f"{name}.npz"
    np.savez(path, X=X.astype(np.float32), y=np.asarray(y, np.int64))
    return path


def npz_preset(path: str | Path, num_train: int, num_val: int, *overrides: str, base: str = "default") -> Preset:
    """`base` (a shipped preset) on the npz file at `path`, with the other keys as `--set` gives them."""
    return load_preset(
        base,
        [
            "data.dataset=npz",
            f"data.path={path}",
            f"data.num_train={num_train}",
            f"data.num_val={num_val}",
            "data.num_test=0",
            *overrides,
        ],
    )

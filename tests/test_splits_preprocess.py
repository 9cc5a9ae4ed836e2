"""Seeded splits and preprocessing fit on the training split only."""

from __future__ import annotations

import numpy as np
import pytest

from tui_trainer.config import DataConfig
from tui_trainer.datasets import RawData, RowBlocks, load_dataset, split_and_preprocess
from tui_trainer.datasets.preprocess import Preprocessor
from tui_trainer.errors import DataError


def numbered(n: int, n_test: int = 0, blocks: int = 0) -> RawData:
    """Example i is the row [i, i] with label i % 7, so every split row says where it came from."""
    X = np.repeat(np.arange(n, dtype=np.float64)[:, None], 2, axis=1)
    X_test = np.repeat(np.arange(1000, 1000 + n_test, dtype=np.float64)[:, None], 2, axis=1) if n_test else None
    return RawData(
        X=RowBlocks(np.array_split(X, blocks)) if blocks else X,
        y=np.arange(n) % 7,
        num_classes=7,
        X_test=X_test,
        y_test=np.arange(1000, 1000 + n_test) % 7 if n_test else None,
        source="numbered",
    )


def cfg(**kw) -> DataConfig:
    return DataConfig(**{"dataset": "npz", "path": "x.npz", "preprocess": (), **kw})


def test_same_seed_same_split_other_seed_other_split():
    a = load_dataset(DataConfig(dataset="digits", num_train=1000, num_val=300, num_test=200, seed=3))
    b = load_dataset(DataConfig(dataset="digits", num_train=1000, num_val=300, num_test=200, seed=3))
    c = load_dataset(DataConfig(dataset="digits", num_train=1000, num_val=300, num_test=200, seed=4))
    for part in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
        assert np.array_equal(getattr(a, part), getattr(b, part))
    assert not np.array_equal(a.y_train, c.y_train)


@pytest.mark.parametrize("blocks", [0, 3], ids=["array", "row-blocks"])
def test_splits_are_disjoint_rows_with_their_own_labels(blocks):
    config = cfg(num_train=60, num_val=25, num_test=15, seed=1)
    data = split_and_preprocess(numbered(120, blocks=blocks), config, consume=True)
    ids = [getattr(data, f"X_{p}")[:, 0].astype(int) for p in ("train", "val", "test")]
    assert [len(i) for i in ids] == [60, 25, 15]
    assert len(set(np.concatenate(ids))) == 100
    for p, i in zip(("train", "val", "test"), ids):
        assert np.array_equal(getattr(data, f"y_{p}"), i % 7)  # rows and labels stay paired
    # Row blocks and a plain array give the same split, row for row.
    plain = split_and_preprocess(numbered(120), config)
    assert np.array_equal(plain.X_train, data.X_train) and np.array_equal(plain.X_val, data.X_val)


def test_consume_frees_each_row_block():
    raw = numbered(90, n_test=10, blocks=3)
    blocks = raw.X
    split_and_preprocess(raw, cfg(num_train=60, num_val=30, num_test=10), consume=True)
    assert blocks.blocks == [None, None, None] and raw.X is None and raw.X_test is None


def test_the_test_files_feed_the_test_split():
    data = split_and_preprocess(numbered(100, n_test=30), cfg(num_train=70, num_val=30, num_test=20))
    assert (data.X_test[:, 0] >= 1000).all() and len(set(data.X_test[:, 0])) == 20
    assert (data.X_train[:, 0] < 1000).all() and (data.X_val[:, 0] < 1000).all()


def test_asking_for_more_than_there_are_says_how_many_there_are():
    with pytest.raises(
        DataError,
        match=r"data\.num_train \+ num_val \+ num_test = 130 examples, but numbered has 100; "
        r"ask for at most 100",
    ):
        split_and_preprocess(numbered(100), cfg(num_train=100, num_val=20, num_test=10))
    with pytest.raises(DataError, match=r"data\.num_test = 40, but the test files of numbered hold 30"):
        split_and_preprocess(numbered(100, n_test=30), cfg(num_train=50, num_val=10, num_test=40))


def correlated(n: int = 3000, d: int = 6, seed: int = 0) -> RawData:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 5 + rng.uniform(-20, 20, d)
    return RawData(X=X, y=rng.integers(0, 3, n), num_classes=3, source="correlated")


def test_mean_is_fit_on_train_only():
    data = split_and_preprocess(correlated(), cfg(num_train=2000, num_val=500, num_test=500, preprocess=("mean",)))
    assert np.abs(data.X_train.mean(axis=0)).max() < 1e-3
    assert np.abs(data.X_val.mean(axis=0)).max() > 1e-2  # the val mean was not subtracted from itself


def test_std_scales_train_to_unit_deviation():
    data = split_and_preprocess(
        correlated(), cfg(num_train=2000, num_val=500, num_test=500, preprocess=("mean", "std"))
    )
    assert np.allclose(data.X_train.std(axis=0), 1.0, atol=1e-3)
    assert not np.allclose(data.X_val.std(axis=0), 1.0, atol=1e-3)


def test_whitened_train_covariance_is_identity():
    data = split_and_preprocess(correlated(), cfg(num_train=2000, num_val=500, num_test=500, preprocess=("whiten",)))
    cov = np.cov(data.X_train, rowvar=False)
    assert np.allclose(cov, np.eye(6), atol=1e-3)
    assert not np.allclose(np.cov(data.X_val, rowvar=False), np.eye(6), atol=1e-3)


def test_pca_keeps_k_decorrelated_components_by_decreasing_variance():
    data = split_and_preprocess(correlated(), cfg(num_train=2000, num_val=500, num_test=500, preprocess=("pca:3",)))
    assert data.X_train.shape == (2000, 3) and data.X_val.shape == (500, 3) and data.X_test.shape == (500, 3)
    cov = np.cov(data.X_train, rowvar=False)
    assert np.allclose(cov - np.diag(np.diag(cov)), 0, atol=1e-2 * cov.max())
    assert cov[0, 0] > cov[1, 1] > cov[2, 2]


def test_pca_wider_than_the_data_is_an_error():
    with pytest.raises(DataError, match=r"'pca:9' asks for more components than the 6 input features"):
        split_and_preprocess(correlated(), cfg(num_train=100, num_val=10, num_test=10, preprocess=("pca:9",)))


@pytest.mark.parametrize("steps", [("mean",), ("mean", "std"), ("pca:4",), ("mean", "whiten")])
def test_saved_statistics_reproduce_the_splits_from_raw_inputs(tmp_path, steps):
    """What a run saves (preprocess.npz) turns raw inputs into exactly what the model saw."""
    config = cfg(num_train=1500, num_val=400, num_test=300, seed=2)
    raw_splits = split_and_preprocess(correlated(), config)
    data = split_and_preprocess(correlated(), config.__class__(**{**config.__dict__, "preprocess": steps}))
    np.savez(tmp_path / "preprocess.npz", **data.preprocess)
    with np.load(tmp_path / "preprocess.npz", allow_pickle=False) as f:
        restored = Preprocessor.from_state({k: f[k] for k in f.files})
    for part in ("train", "val", "test"):
        again = restored.transform(getattr(raw_splits, f"X_{part}").copy())
        assert np.array_equal(again, getattr(data, f"X_{part}"))

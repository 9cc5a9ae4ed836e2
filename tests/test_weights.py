"""First-layer weight pictures: tiles, grid, PNG export read back byte by byte."""

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from realformats import cifar_batch_bytes, cifar_meta_bytes

from tui_trainer.lab.weights import (
    WeightsError,
    fit_layout,
    grid_shape,
    png_bytes,
    resize_tiles,
    tile_grid,
    unit_tiles,
    why_not_images,
)


def read_png(path):
    """A PNG reader just big enough to check ours: chunk CRCs, IHDR, IDAT (filter 0) -> (H, W, 3) uint8."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        pos += 12 + length
    assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, interlace) == (8, 2, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    rows = np.frombuffer(raw, np.uint8).reshape(height, 1 + 3 * width)
    assert not rows[:, 0].any()  # filter type 0 on every scanline
    return rows[:, 1:].reshape(height, width, 3)


def tiles_in(img, tile_h, tile_w, padding=1):
    """(rows, cols, tiles drawn): the layout read off the picture's size; a drawn tile spans 0..255."""
    cols = (img.shape[1] + padding) // (tile_w + padding)
    rows = (img.shape[0] + padding) // (tile_h + padding)
    assert cols * tile_w + (cols - 1) * padding == img.shape[1]
    assert rows * tile_h + (rows - 1) * padding == img.shape[0]
    drawn = 0
    for r in range(rows):
        for c in range(cols):
            t = img[
                r * (tile_h + padding) : r * (tile_h + padding) + tile_h,
                c * (tile_w + padding) : c * (tile_w + padding) + tile_w,
            ]
            drawn += int(t.min() == 0 and t.max() == 255)
    return rows, cols, drawn


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tui_trainer", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


# --- tiles and grid -----------------------------------------------------------------


def test_each_tile_is_one_unit_reshaped_and_normalised_on_its_own():
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((4 * 5 * 1, 3)).astype(np.float32)
    w1[:, 1] *= 1000.0  # a unit with much bigger weights still spans the full range
    w1[:, 2] = 0.5  # a constant unit: no contrast to show
    tiles = unit_tiles(w1, (4, 5, 1))
    assert tiles.shape == (3, 4, 5, 3) and tiles.dtype == np.uint8
    for k in (0, 1):
        assert tiles[k].min() == 0 and tiles[k].max() == 255
        col = w1[:, k].reshape(4, 5)
        assert np.unravel_index(tiles[k, :, :, 0].argmax(), (4, 5)) == np.unravel_index(col.argmax(), (4, 5))
    assert not tiles[2].any()
    assert (tiles[..., 0] == tiles[..., 1]).all() and (tiles[..., 1] == tiles[..., 2]).all()  # grey


def test_colour_tiles_keep_the_channels_of_the_flattened_image():
    img = np.zeros((2, 2, 3))
    img[0, 0] = (1, 0, 0)  # a red pixel top left, a blue one bottom right
    img[1, 1] = (0, 0, 1)
    tile = unit_tiles(img.reshape(-1, 1), (2, 2, 3))[0]
    assert tuple(tile[0, 0]) == (255, 0, 0) and tuple(tile[1, 1]) == (0, 0, 255)


def test_grid_matches_cs231n_layout_with_padding():
    tiles = np.full((5, 3, 4, 3), 200, np.uint8)
    grid = tile_grid(tiles)
    assert grid_shape(5) == (2, 3)
    assert grid.shape == (2 * 3 + 1, 3 * 4 + 2, 3)
    assert (grid[3] == 0).all() and (grid[:, 4] == 0).all()  # padding row and column
    assert (grid[4:, 10:] == 0).all()  # the empty sixth slot


@pytest.mark.parametrize(
    "w1_shape, image_shape, words",
    [
        ((2, 50), (), "not images"),
        ((40, 50), (28, 28, 1), "40 inputs, not the 784 pixels"),
        ((784, 50), (28, 28, 2), "grey (H, W, 1) or colour (H, W, 3)"),
    ],
)
def test_what_cannot_be_drawn_says_why(w1_shape, image_shape, words):
    assert words in why_not_images(w1_shape, image_shape)
    with pytest.raises(WeightsError, match=words.replace("(", r"\(").replace(")", r"\)")):
        unit_tiles(np.zeros(w1_shape), image_shape)


def test_resize_averages_when_shrinking_and_repeats_when_growing():
    t = np.zeros((1, 4, 4, 3), np.uint8)
    t[0, :2, :2] = 255
    small = resize_tiles(t, (2, 2))
    assert small[0, 0, 0, 0] == 255 and small[0, 1, 1, 0] == 0
    half = resize_tiles(t, (3, 3))  # the middle cell straddles the bright quarter
    assert 0 < half[0, 1, 1, 0] < 255
    big = resize_tiles(t, (8, 8))
    assert (big[0, :4, :4] == 255).all() and (big[0, 4:, 4:] == 0).all()


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 120), th=st.integers(4, 32), width=st.integers(40, 300), height=st.integers(20, 200))
def test_fit_layout_fits_every_tile_in_the_pane(n, th, width, height):
    rows, cols, h, w = fit_layout(n, (th, th), width, height)
    assert rows * cols >= n and rows * cols - n < cols  # no empty row
    if h > 1:  # when even 1-pixel tiles do not fit there is nothing better to do
        assert cols * w + (cols - 1) <= width and rows * h + (rows - 1) <= height
        assert h == w  # square tiles stay square


def test_png_bytes_round_trip(tmp_path):
    rgb = np.random.default_rng(3).integers(0, 256, (7, 11, 3), dtype=np.uint8)
    (tmp_path / "x.png").write_bytes(png_bytes(rgb))
    assert (read_png(tmp_path / "x.png") == rgb).all()


# --- the command line ------------------------------------------------------------------


def test_export_weights_of_a_seeded_mnist_run(tmp_path):
    runs = tmp_path / "runs"
    done = cli("run", "default", "--set", "train.epochs=1", "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    (run,) = list(runs.iterdir())
    out = tmp_path / "w.png"
    done = cli("runs", "--runs-dir", str(runs), "--export-weights", run.name, "--out", str(out), "--scale", "1")
    assert done.returncode == 0, done.stderr
    assert str(out) in done.stdout
    img = read_png(out)
    assert img.shape == (7 * 28 + 6, 8 * 28 + 7, 3)  # 50 units: 7 rows of 8
    assert tiles_in(img, 28, 28) == (7, 8, 50)
    assert (img[..., 0] == img[..., 1]).all()  # grey for MNIST
    with np.load(run / "best.npz") as f:
        unit7 = f["W1"][:, 7].reshape(28, 28)
    tile7 = img[0:28, 7 * 29 : 7 * 29 + 28, 0].astype(float)
    assert np.corrcoef(tile7.ravel(), unit7.ravel())[0, 1] > 0.999  # the picture is that unit's weights
    # by default in the run's folder, each weight 4x4 pixels: the same picture, blown up
    done = cli("runs", "--runs-dir", str(runs), "--export-weights", str(run), cwd=tmp_path)
    assert done.returncode == 0 and str(run / "W1.png") in done.stdout and "4x4 pixels" in done.stdout
    big = read_png(run / "W1.png")
    assert big.shape == (4 * img.shape[0], 4 * img.shape[1], 3) and (big[::4, ::4] == img).all()
    assert not list(tmp_path.glob("*.png"))[1:]  # nothing new in the current folder (w.png was asked for)
    done = cli("runs", "--runs-dir", str(runs), "--export-weights", str(run), "--scale", "40", cwd=tmp_path)
    assert done.returncode == 2 and "--scale 40: must be a whole number from 1 to 16" in done.stderr


def cifar_like_images(n, seed=0):
    """n 32x32 colour images (n, 32, 32, 3) uint8 and labels 0..9: each class a blob of its own
    colour and place on noise, so a trained first layer shows coloured blobs."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    yy, xx = np.mgrid[0:32, 0:32]
    X = 128 + rng.normal(0, 8, (n, 32, 32, 3))
    for k in range(10):
        cy, cx = 8 + 16 * (k % 2), 4 + 6 * (k // 2)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 30.0)
        X[y == k] += blob[None, :, :, None] * np.array([np.cos(k), np.sin(k), np.cos(2 * k)]) * 100
    return np.clip(np.rint(X), 0, 255).astype(np.uint8), y


def write_cifar_format(folder, per_batch=100, n_test=50):
    """A cifar-10-batches-py/ folder in the real format (pickled batches, channel-first rows)
    holding cifar_like_images; returns the preset TOML that trains a 10-unit net on it."""
    out = folder / "cifar-10-batches-py"
    out.mkdir(parents=True)
    X, y = cifar_like_images(5 * per_batch + n_test)
    rows = X.transpose(0, 3, 1, 2).reshape(len(X), 3072)  # R plane, G plane, B plane
    for k in range(5):
        part = slice(k * per_batch, (k + 1) * per_batch)
        (out / f"data_batch_{k + 1}").write_bytes(cifar_batch_bytes(rows[part], y[part]))
    (out / "test_batch").write_bytes(cifar_batch_bytes(rows[5 * per_batch :], y[5 * per_batch :]))
    (out / "batches.meta").write_bytes(cifar_meta_bytes())
    preset = folder / "cifar-like.toml"
    preset.write_text(f"""name = "cifar-like"
[data]
dataset = "cifar10"
path = "{out}"
num_train = {4 * per_batch}
num_val = {per_batch}
num_test = {n_test}
[model]
hidden = [10]
[train]
batch_size = 50
learning_rate = 1e-4
epochs = 1
""")
    return preset


def test_export_weights_of_a_cifar_format_run_is_in_colour(tmp_path):
    preset = write_cifar_format(tmp_path)
    runs = tmp_path / "runs"
    done = cli("run", str(preset), "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    (run,) = list(runs.iterdir())
    out = tmp_path / "c.png"
    done = cli("runs", "--runs-dir", str(runs), "--export-weights", run.name, "--out", str(out), "--scale", "1")
    assert done.returncode == 0, done.stderr
    img = read_png(out)
    assert img.shape == (3 * 32 + 2, 4 * 32 + 3, 3)  # 10 units: 3 rows of 4
    assert tiles_in(img, 32, 32) == (3, 4, 10)
    assert (img[..., 0] != img[..., 2]).mean() > 0.3  # colour, not grey


def test_export_weights_of_data_that_are_not_images_says_so(tmp_path):
    runs = tmp_path / "runs"
    done = cli(
        "run",
        "default",
        "--runs-dir",
        str(runs),
        "--set",
        "data.dataset=spiral",
        "--set",
        "data.num_train=200",
        "--set",
        "data.num_val=50",
        "--set",
        "data.num_test=0",
        "--set",
        "train.epochs=1",
        "--set",
        "data.preprocess=[]",
    )
    assert done.returncode == 0, done.stderr
    (run,) = list(runs.iterdir())
    done = cli("runs", "--runs-dir", str(runs), "--export-weights", run.name, "--out", str(tmp_path / "s.png"))
    assert done.returncode == 2
    assert "not images" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "s.png").exists()


def test_export_weights_of_an_unknown_run_exits_2_naming_it(tmp_path):
    done = cli("runs", "--runs-dir", str(tmp_path), "--export-weights", "no-such-run")
    assert done.returncode == 2
    assert "no-such-run" in done.stderr and "no runs in" in done.stderr and "Traceback" not in done.stderr

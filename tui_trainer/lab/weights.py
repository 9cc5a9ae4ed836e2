"""The first layer's weights as pictures: one tile per hidden unit.

    tiles = unit_tiles(params["W1"], image_shape=(28, 28, 1))   # (units, 28, 28, 3) uint8
    grid = tile_grid(tiles)                                     # (231, 231, 3) uint8 RGB
    write_png("W1.png", grid)

Each hidden unit's weights (a column of W1, D = H*W*C numbers) are reshaped to
the input image (the way the data sets flatten it: row-major H, W, C) and
min-max normalised on their own, so every tile uses the whole grey or colour
range; tiles sit on a square grid with one pixel of padding between them,
as CS231n's `visualize_grid` does. Grey for one channel (MNIST, digits),
colour for three (CIFAR-10).

NumPy only (the PNG writer uses zlib and struct); the workbench's WeightsView
and `tui-trainer runs --export-weights RUN` both draw from here.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import UserError

PADDING = 1  # pixels between tiles
PAD_VALUE = 0  # padding colour (black), as visualize_grid leaves it


class WeightsError(UserError):
    """The weights cannot be drawn as images; the message says why (faces show it)."""


def why_not_images(w1_shape: tuple[int, ...], image_shape: tuple[int, ...]) -> str | None:
    """None when W1 (shape (D, units)) can be drawn on image_shape (H, W, C), else the reason."""
    if not image_shape:
        return (
            "the inputs are not images (this data set has plain feature vectors), "
            "so there are no weight pictures to draw"
        )
    if len(image_shape) != 3 or image_shape[2] not in (1, 3):
        return f"weight pictures need grey (H, W, 1) or colour (H, W, 3) images; the inputs are {tuple(image_shape)}"
    if len(w1_shape) != 2:
        return f"W1 should be a (D, units) matrix, found shape {tuple(w1_shape)}"
    d = int(np.prod(image_shape))
    if w1_shape[0] != d:
        return (
            f"the first layer sees {w1_shape[0]} inputs, not the {d} pixels of a {image_shape[0]}x{image_shape[1]} "
            "image (PCA or whitening to fewer dimensions?), so its weights are not pictures"
        )
    return None


def unit_tiles(w1: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """(units, H, W, 3) uint8: each column of W1 (D, units) reshaped to the image and min-max
    normalised to 0..255 on its own (a constant column is all 0). Grey images repeat their channel."""
    reason = why_not_images(tuple(w1.shape), tuple(image_shape))
    if reason:
        raise WeightsError(reason)
    h, w, c = image_shape
    units = w1.shape[1]
    x = np.asarray(w1, dtype=np.float64).T.reshape(units, h, w, c)
    low = x.min(axis=(1, 2, 3), keepdims=True)
    span = x.max(axis=(1, 2, 3), keepdims=True) - low
    span[span == 0] = 1.0
    scaled = np.rint(255.0 * (x - low) / span).astype(np.uint8)
    if c == 1:
        scaled = np.repeat(scaled, 3, axis=3)
    return scaled


def grid_shape(n: int, cols: int | None = None) -> tuple[int, int]:
    """(rows, cols) for n tiles: a square of ceil(sqrt(n)) columns unless cols is given."""
    if n <= 0:
        return (0, 0)
    cols = max(1, min(cols or math.ceil(math.sqrt(n)), n))
    return (math.ceil(n / cols), cols)


def tile_grid(
    tiles: np.ndarray, cols: int | None = None, padding: int = PADDING, pad_value: int = PAD_VALUE
) -> np.ndarray:
    """Tiles (N, h, w, 3) laid row by row on a grid.

    Returns (rows*h + (rows-1)*padding, cols*w + (cols-1)*padding, 3) uint8."""
    n, h, w, ch = tiles.shape
    rows, cols = grid_shape(n, cols)
    grid = np.full((rows * h + (rows - 1) * padding, cols * w + (cols - 1) * padding, ch), pad_value, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = r * (h + padding), c * (w + padding)
        grid[y : y + h, x : x + w] = tiles[i]
    return grid


def first_layer_grid(w1: np.ndarray, image_shape: tuple[int, ...], cols: int | None = None) -> np.ndarray:
    """The whole picture: unit_tiles on a tile_grid (uint8 RGB); WeightsError if not images."""
    return tile_grid(unit_tiles(w1, image_shape), cols)


def resize_tiles(tiles: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Tiles (N, h, w, 3) resized to (N, size[0], size[1], 3): box-averaged when shrinking
    (so a stroke does not vanish between samples), nearest-neighbour when growing."""
    n, h, w, ch = tiles.shape
    th, tw = size
    if (th, tw) == (h, w):
        return tiles
    out = tiles.astype(np.float64)
    out = _resize_axis(out, 1, th)
    out = _resize_axis(out, 2, tw)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _resize_axis(x: np.ndarray, axis: int, target: int) -> np.ndarray:
    src = x.shape[axis]
    if target == src:
        return x
    x = np.moveaxis(x, axis, 0)
    if target > src:  # nearest
        out = x[(np.arange(target) * src) // target]
    else:  # box average: output cell i covers source [i*src/target, (i+1)*src/target)
        cum = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0)])
        pos = np.arange(target + 1) * src / target
        i = np.minimum(np.floor(pos).astype(int), src - 1)
        frac = (pos - i).reshape((-1,) + (1,) * (x.ndim - 1))
        at = cum[i] + (cum[i + 1] - cum[i]) * frac  # the cumulative sum at fractional positions
        out = (at[1:] - at[:-1]) * (target / src)
    return np.moveaxis(out, 0, axis)


def fit_layout(
    n: int, tile: tuple[int, int], width: int, height: int, padding: int = PADDING, max_scale: int = 4
) -> tuple[int, int, int, int]:
    """The layout that shows n tiles of `tile` (h, w) pixels biggest inside width x height pixels.

    Returns (rows, cols, tile_h, tile_w): tiles keep their aspect; they shrink to
    fit (at least 1 pixel) or grow up to max_scale times (small 8x8 digits).
    """
    th, tw = tile
    best = (1, n, 1, 1)
    best_scale = -1.0
    for cols in range(1, max(n, 1) + 1):
        rows = math.ceil(n / cols)
        fit_w = (width - (cols - 1) * padding) / (cols * tw)
        fit_h = (height - (rows - 1) * padding) / (rows * th)
        scale = min(fit_w, fit_h, max_scale)
        if scale > best_scale + 1e-9:
            best_scale, best = scale, (rows, cols, max(1, int(th * scale)), max(1, int(tw * scale)))
    return best


# --- PNG, without Pillow ----------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_bytes(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of rgb (H, W, 3) uint8: signature, IHDR, one IDAT (zlib), IEND."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"expected a non-empty (H, W, 3) uint8 array, got shape {rgb.shape}")
    h, w, _ = rgb.shape
    # each scanline starts with its filter type (0: none)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit depth, colour type 2 (RGB)
    return PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write rgb (H, W, 3) uint8 as a PNG, atomically (a temporary file renamed over path)."""
    from ..records.atomic import atomic_write

    path = Path(path)
    data = png_bytes(rgb)
    atomic_write(path, lambda f: f.write(data), mode="wb")
    return path

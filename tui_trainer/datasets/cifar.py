"""CIFAR-10, python version (https://www.cs.toronto.edu/~kriz/cifar.html).

    raw = load_cifar10(Path("data/cifar-10-batches-py"))     # or the .tar.gz itself

The folder `cifar-10-batches-py/` holds five training batches
(data_batch_1..5), a test batch (test_batch) and batches.meta, each a dict
pickled by Python 2 with protocol 2:

    data_batch_k, test_batch   {b"data": uint8 (10000, 3072), b"labels": [int] * 10000, ...}
    batches.meta               {b"label_names": [b"airplane", ...], ...}

Each row of `data` is one 32x32 colour image, channel first: 1024 red, then
1024 green, then 1024 blue values. Unpickling an arbitrary file runs whatever
code it names, so the files are read with `_BatchUnpickler`, whose
`find_class` admits only the globals such a batch holds (NumPy's array
reconstruction) and refuses anything else before it can be called.
"""

from __future__ import annotations

import codecs
import mmap
import os
import pickle
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from ..errors import DataError
from .base import RawData, RowBlocks

FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_FILES = tuple(f"data_batch_{k}" for k in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
IMAGE_SHAPE = (32, 32, 3)
LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
EXPECTS = f"the {FOLDER}/ folder (data_batch_1..5, test_batch, batches.meta) or {ARCHIVE}"


def load_cifar10(path: Path) -> RawData:
    """The five training batches as RowBlocks of (10000, 32, 32, 3) uint8 images
    (height, width, channel), the test batch as X_test; labels 0..9."""
    path = _locate(path)
    batches: dict[str, Batch] = {}
    names: tuple[str, ...] = LABEL_NAMES
    for name, content in _read_all(path):
        if isinstance(content, Batch):
            batches[name] = content
        else:
            names = content
    train = [batches[name] for name in TRAIN_FILES]
    X_test, y_test = batches[TEST_FILE]
    return RawData(
        X=RowBlocks([X for X, _ in train]),
        y=np.concatenate([y for _, y in train]),
        num_classes=len(LABEL_NAMES),
        image_shape=IMAGE_SHAPE,
        label_names=names,
        X_test=X_test,
        y_test=y_test,
        source=str(path),
    )


def _locate(path: Path) -> Path:
    """The batches folder or the archive; a folder that holds either will do (the DIR of `data fetch`)."""
    if not path.is_dir() or (path / TRAIN_FILES[0]).exists():
        return path
    for inside in (path / FOLDER, path / ARCHIVE):
        if inside.exists():
            return inside
    raise DataError(
        f"{path}: not a CIFAR-10 folder (no {TRAIN_FILES[0]}); data.path must name {EXPECTS}"
        " (tui-trainer data fetch cifar10 downloads them)"
    )


class Batch(NamedTuple):
    """One batch file, parsed."""

    X: np.ndarray  # (n, 32, 32, 3) uint8 images
    y: np.ndarray  # (n,) int64 labels


def _read_all(path: Path) -> Iterator[tuple[str, Batch | tuple[str, ...]]]:
    """(file name, parsed content) for every batch and the meta file, from a folder or the archive."""
    if path.is_dir():
        for name in (*TRAIN_FILES, TEST_FILE, META_FILE):
            file = path / name
            if not file.is_file():
                if name == META_FILE and not file.exists() and not file.is_symlink():
                    continue  # only the label names are in it, and they are fixed
                raise DataError(
                    f"{file}: {_not_a_file(file)}; a CIFAR-10 folder holds the files data_batch_1..5, "
                    "test_batch and batches.meta"
                )
            try:
                f = open(file, "rb")
            except OSError as e:
                raise DataError(f"{file}: cannot read it ({e.strerror or type(e).__name__})") from None
            with f:
                yield name, _parse(name, str(file), f, file.stat().st_size)
        return
    yield from _read_archive(path)


def _read_archive(path: Path) -> Iterator[tuple[str, Batch | tuple[str, ...]]]:
    """Members straight from the tar, in archive order (a .tar.gz only streams forwards)."""
    wanted = {*TRAIN_FILES, TEST_FILE, META_FILE}
    seen: set[str] = set()
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name in wanted and name not in seen:
                    seen.add(name)
                    where = f"{path}:{member.name}"
                    yield name, _parse(name, where, open_member(tar, member), member.size)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(
            f"{path}: truncated or not a CIFAR-10 archive ({_reason(e)}); data.path must name {EXPECTS}"
        ) from None
    missing = [n for n in (*TRAIN_FILES, TEST_FILE) if n not in seen]
    if missing:
        raise DataError(f"{path}: the archive lacks {', '.join(missing)}; data.path must name {EXPECTS}")


def open_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    """A regular file member's bytes (tarfile answers None only for other kinds of member)."""
    f = tar.extractfile(member)
    if f is None:
        raise tarfile.TarError(f"{member.name} is not a regular file")
    return f


def _not_a_file(file: Path) -> str:
    """Why a path that should be a batch file is not one: missing, or what it is instead."""
    if file.is_symlink() and not file.exists():
        return f"a broken link (to {os.readlink(file)})"
    if not file.exists():
        return "missing"
    mode = file.stat().st_mode
    what = (
        "a folder"
        if stat.S_ISDIR(mode)
        else "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    link = f" (a link to {os.readlink(file)})" if file.is_symlink() else ""
    return f"not a regular file: {what}{link}" if what != "not a regular file" else what + link


def _parse(name: str, where: str, f: IO[bytes], size: int) -> Batch | tuple[str, ...]:
    content = _unpickle(where, f, size)
    if name == META_FILE:
        return _label_names(where, content)
    return _batch(where, content)


def _batch(where: str, content: object) -> Batch:
    """(images (n, 32, 32, 3) uint8, labels (n,) int64) from one unpickled batch dict."""
    data, labels = _get(content, "data"), _get(content, "labels")
    if data is None or labels is None:
        raise DataError(
            f"{where}: not a CIFAR-10 batch: expected a dict with data and labels, found {_describe(content)}"
        )
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{where}: data must be uint8 rows of 3072 values (32x32x3), found {_describe(data)}")
    if not isinstance(labels, (list, np.ndarray)) or isinstance(labels, np.ndarray) and labels.ndim != 1:
        raise DataError(f"{where}: labels must be a list of integers, found {_describe(labels)}")
    if len(labels) != len(data):
        raise DataError(f"{where}: {len(data)} images but {len(labels)} labels; they must match one to one")
    if not all(isinstance(v, (int, np.integer)) for v in labels):
        raise DataError(f"{where}: labels must be a list of integers, found {_describe(labels)}")
    values = [int(v) for v in labels]  # Python ints: a label of 2**70 is out of range, not an overflow
    if values and (min(values) < 0 or max(values) >= len(LABEL_NAMES)):
        raise DataError(
            f"{where}: labels must lie in 0..9 (CIFAR-10 has 10 classes), found {min(values)}..{max(values)}"
        )
    y = np.asarray(values, dtype=np.int64)
    # Channel-first rows -> height, width, channel; one contiguous copy per batch.
    X = _own_mapping((len(data), *IMAGE_SHAPE))
    X[...] = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return Batch(X, y)


def _own_mapping(shape: tuple[int, ...]) -> np.ndarray:
    """An empty uint8 array in its own anonymous memory map, unmapped when the array is freed.

    A batch is ~30 MB, under glibc's 32 MB mmap threshold: from malloc it would
    sit in the heap, and freeing it during the split would not lower the
    resident size (bench/data_memory.py measures the difference)."""
    n = int(np.prod(shape))
    return np.frombuffer(mmap.mmap(-1, max(n, 1)), np.uint8, count=n).reshape(shape)


def _label_names(where: str, content: object) -> tuple[str, ...]:
    names = _get(content, "label_names")
    if (
        not isinstance(names, list)
        or len(names) != len(LABEL_NAMES)
        or not all(isinstance(n, (bytes, str)) for n in names)
    ):
        raise DataError(f"{where}: label_names must be a list of 10 names, found {_describe(names)}")
    return tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names)


def _get(content: object, key: str) -> object:
    """A key of the batch dict: bytes when Python 2 wrote it, str when Python 3 did."""
    if not isinstance(content, dict):
        return None
    return content.get(key.encode(), content.get(key))


# --- the restricted unpickler ---------------------------------------------------

_RECONSTRUCT: Any = np.empty(0).__reduce__()[0]  # numpy's _reconstruct, wherever this NumPy keeps it


def _encode_latin1(text: str, encoding: str = "latin1") -> bytes:
    """How Python 3 pickles bytes with protocol 2: _codecs.encode(text, "latin1")."""
    if not isinstance(text, str) or codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} is not a bytes literal")
    return text.encode("latin1")


# Every global a CIFAR-10 batch can name. dict, list, str, bytes and int need
# none: the pickle opcodes build them directly.
_RECONSTRUCT_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")  # NumPy 1.x, 2.x: bounded per file
_ALLOWED = {
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _encode_latin1,  # bytes, when re-pickled by Python 3 with protocol 2
}


class _Refused(pickle.UnpicklingError):
    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.qualname = f"{module}.{name}"


class _TooBig(pickle.UnpicklingError):
    def __init__(self, claim: str, nbytes: int):
        super().__init__(claim)
        self.claim, self.nbytes = claim, nbytes


class _Budget:
    """The bytes one file's arrays may claim in all: the file's size (a batch holds its
    pixels inline, so no honest array claims more than the file has left to give).
    Taken before an array is built, whichever way the pickle builds it."""

    def __init__(self, nbytes: int):
        self.left = nbytes

    def take(self, shape: Any, dtype: Any) -> None:
        dims = (shape,) if isinstance(shape, int) else tuple(shape)
        count = 1
        for d in dims:
            count *= int(d)
        nbytes = count * np.dtype(dtype).itemsize
        if nbytes > self.left:
            raise _TooBig(f"an array of {'x'.join(map(str, dims))} {np.dtype(dtype)}", nbytes)
        self.left -= nbytes


def _bounded_ndarray(budget: _Budget) -> type[np.ndarray]:
    """np.ndarray for one file: an array it asks for by calling the type, or whose state
    it sets (the real shape, after _reconstruct made an empty one), takes from the
    file's budget first. Refused before the array is built, so neither a lying shape
    nor zero strides over a tiny buffer can make it huge."""

    class BoundedArray(np.ndarray):
        def __new__(cls, shape: Any = (), dtype: Any = float, *args: Any, **kwargs: Any) -> Any:
            budget.take(shape, dtype)
            return super().__new__(cls, shape, dtype, *args, **kwargs)

        def __setstate__(self, state: Any) -> None:
            if isinstance(state, tuple) and len(state) == 5:
                budget.take(state[1], state[2])  # the real shape, before NumPy sizes the array to it
            super().__setstate__(state)

    return BoundedArray


def _bounded_reconstruct(budget: _Budget) -> Any:
    """NumPy's _reconstruct(subtype, shape, dtype) for one file: the empty array a pickled
    array starts as, which a pickle may instead ask to be of any shape and then never set
    (no __setstate__): what that shape claims comes out of the budget first."""

    def reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
        budget.take(shape, dtype)
        return _RECONSTRUCT(subtype, shape, dtype)

    return reconstruct


class _BatchUnpickler(pickle.Unpickler):
    def __init__(self, f: IO[bytes], budget: int):
        super().__init__(f, encoding="bytes")
        within = _Budget(budget)
        self._ndarray = _bounded_ndarray(within)
        self._reconstruct = _bounded_reconstruct(within)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("numpy", "ndarray"):
            return self._ndarray
        if name == "_reconstruct" and module in _RECONSTRUCT_MODULES:
            return self._reconstruct
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(module, name) from None

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("persistent id", repr(pid)[:40])


def _unpickle(where: str, f: IO[bytes], size: int) -> object:
    try:
        return _plain(_BatchUnpickler(f, size).load())
    except _TooBig as e:
        raise DataError(
            f"{where}: corrupt CIFAR-10 batch: it claims {e.claim} = {e.nbytes} bytes, but the file holds only {size}"
        ) from None
    except _Refused as e:
        raise DataError(
            f"{where}: refused: the pickle asks for {e.qualname}, which a CIFAR-10 batch never holds "
            "(only NumPy arrays, lists, strings and numbers are loaded); nothing in it was run"
        ) from None
    except MemoryError:
        raise DataError(f"{where}: corrupt CIFAR-10 batch: it asks for more memory than there is") from None
    except Exception as e:  # a damaged pickle fails in many ways: EOFError, UnpicklingError, ValueError...
        raise DataError(
            f"{where}: truncated or corrupt CIFAR-10 batch ({_reason(e)}); "
            "fetch it again (tui-trainer data fetch cifar10)"
        ) from None


def _plain(content: object) -> object:
    """The batch dict with its arrays as plain np.ndarray (views of the checked ones)."""
    if isinstance(content, np.ndarray):
        return content.view(np.ndarray)
    if isinstance(content, dict):
        return {k: _plain(v) for k, v in content.items()}
    return content


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split())[:120]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of {value.dtype} with shape {value.shape}"
    if isinstance(value, dict):
        keys = ", ".join(k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k) for k in list(value)[:8])
        return f"a dict with keys {keys or 'none'}"
    return f"a {type(value).__name__}"

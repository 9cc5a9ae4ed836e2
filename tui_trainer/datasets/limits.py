"""What a data file may claim, checked before anything is allocated for it.

A file's header (an idx header, an .npy header in an npz, the shape of an
array pickled in a CIFAR-10 batch) says how many values follow. Believing it
lets a file of a few hundred bytes ask for terabytes. Every loader checks the
claim here first:

    check_bytes(where, "60000x28x28", claimed, present=bytes_in_the_file)
    check_classes(where, num_classes, num_examples)
    check_npz(archive, path, ("X", "y"))      # every .npy header of an open np.load() archive

`check_memory` is the same check for a generated data set (spiral), which
names the preset key that drives its size.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..config import MAX_CLASSES  # more classes than this is a corrupt label, not a data set
from ..errors import DataError

_MEMORY_SHARE = 0.8  # of the memory available now, what one data set may take


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (Linux: MemAvailable), or None when unknown."""
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def gib(nbytes: int) -> str:
    return f"{nbytes / 2**30:,.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:,.1f} MiB"


def check_bytes(where: str, claim: str, claimed: int, present: int | None) -> None:
    """A DataError unless the `claimed` bytes are no more than `present` (the bytes
    the file holds, when known) and fit in the memory available."""
    if present is not None and claimed > present:
        raise DataError(
            f"{where}: truncated: its header promises {claim} = {claimed} bytes of data, the file holds {present}"
        )
    check_fits(where, claim, claimed)


def check_fits(where: str, claim: str, claimed: int) -> None:
    have = available_memory()
    if have is not None and claimed > _MEMORY_SHARE * have:
        raise DataError(
            f"{where}: its header promises {claim} = {gib(claimed)} of data, more than the {gib(have)} "
            "of memory available; corrupt, or too big for this machine"
        )


def check_classes(where: str, num_classes: int, num_examples: int) -> None:
    """At most MAX_CLASSES classes, and no more classes than examples."""
    limit = min(MAX_CLASSES, max(num_examples, 2))
    if num_classes > limit:
        why = f"at most {MAX_CLASSES:,}" if limit == MAX_CLASSES else f"at most one per example ({num_examples:,})"
        raise DataError(f"{where}: labels up to {num_classes - 1} claim {num_classes:,} classes; a data set has {why}")


def check_memory(key: str, value: int, nbytes: int) -> None:
    """A DataError naming the preset `key` when generating `nbytes` would not fit in memory."""
    have = available_memory()
    if have is not None and nbytes > _MEMORY_SHARE * have:
        raise DataError(
            f"{key}: {value:,} needs about {gib(nbytes)} of memory to generate, and {gib(have)} is available; "
            "use a smaller value"
        )


def check_npz(archive: np.lib.npyio.NpzFile, path: Path, keys: tuple[str, ...]) -> None:
    """Each member's .npy header against the bytes the member holds, before any array is read."""
    zf = archive.zip
    if zf is None:
        return
    for key in keys:
        if f"{key}.npy" not in zf.namelist():
            continue
        info = zf.getinfo(f"{key}.npy")
        try:
            with zf.open(info) as f:
                if f.read(6) != np.lib.format.MAGIC_PREFIX:
                    continue  # not .npy data: the caller says so
                version = tuple(f.read(2))
                read_header = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read_header(f)
                header_size = f.tell()
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise DataError(f"{path}: {key} is truncated or corrupt ({type(e).__name__}: {e})") from None
        if dtype.hasobject:
            raise DataError(
                f"{path}: {key} cannot be read without pickle (it holds Python objects; pickle is never "
                "allowed here); save numeric arrays (and label_names as strings)"
            )
        count = 1
        for d in shape:
            count *= int(d)
        check_bytes(
            str(path),
            f"{key} of shape {tuple(shape)} ({dtype})",
            count * dtype.itemsize,
            max(info.file_size - header_size, 0),
        )

"""What a data file may claim, checked before anything is allocated for it.

A file's header (an idx header, an .npy header in an npz, the shape of an
array pickled in a CIFAR-10 batch) says how many values follow. Believing it
lets a file of a few hundred bytes ask for terabytes. Every loader checks the
claim here first:

    check_bytes(where, "60000x28x28", claimed, present=bytes_in_the_file)
    check_classes(where, num_classes, num_examples)
    check_npz(archive, path, ("X", "y"))      # every .npy header of an open np.load() archive

`check_memory` is the same check for a generated data set (spiral), which
names the preset key that drives its size. What "fits" means is memory_left():
the machine's available memory, and also what an address-space limit
(`ulimit -v`) or a cgroup's memory limit (a container) leaves, the tightest.
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
    """Bytes a new allocation may take now, or None when unknown: the least that
    memory_left() finds."""
    left = memory_left()
    return left[0] if left else None


def memory_left() -> tuple[int, str] | None:
    """(bytes, what sets it) for the tightest of what limits a new allocation now:
    the machine's available memory (Linux: MemAvailable), the address space a
    `ulimit -v` leaves (RLIMIT_AS less what is mapped), and the memory a cgroup's
    limit leaves (a container's or a systemd unit's, at every level up to the root).
    Past the first a big allocation fails (MemoryError); past the last the kernel
    kills the process without a word."""
    found = [x for x in (_machine(), _address_space(), _cgroup()) if x is not None]
    return min(found) if found else None


def _machine() -> tuple[int, str] | None:
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024, "available"
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "available"
    except (ValueError, OSError, AttributeError):
        return None


def _address_space() -> tuple[int, str] | None:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    used = _status_kib("VmSize") or 0
    return max(soft - used * 1024, 0), "left by the address-space limit (ulimit -v)"


def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(key.encode() + b":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


CGROUP_ROOT = Path("/sys/fs/cgroup")


def _cgroup(root: Path | None = None, proc_cgroup: Path = Path("/proc/self/cgroup")) -> tuple[int, str] | None:
    """What the memory cgroups this process is in leave: limit less usage, the least over
    its cgroup and those above it (cgroup v2: memory.max and memory.current; v1: the
    memory controller's limit_in_bytes and usage_in_bytes). A container that shows its
    own cgroup as the root is read there too."""
    root = root or CGROUP_ROOT
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    found = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":  # v2
            base, files = root, ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):  # v1
            base, files = root / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        parts = [p for p in path.split("/") if p]
        for depth in range(len(parts), -1, -1):
            left = _cgroup_left(base.joinpath(*parts[:depth]), *files)
            if left is not None:
                found.append(left)
    return (min(found), "left by the memory limit of this process's cgroup (a container's)") if found else None


def _cgroup_left(folder: Path, limit_file: str, usage_file: str) -> int | None:
    try:
        limit = (folder / limit_file).read_text().strip()
        usage = int((folder / usage_file).read_text().strip())
    except (OSError, ValueError):
        return None
    if not limit.isdigit() or int(limit) >= 1 << 60:  # "max", or v1's "no limit" (about 2**63)
        return None
    return max(int(limit) - usage, 0)


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
    left = memory_left()
    if left is not None and claimed > _MEMORY_SHARE * left[0]:
        raise DataError(
            f"{where}: its header promises {claim} = {gib(claimed)} of data, more than the {gib(left[0])} "
            f"of memory {left[1]}; corrupt, or too big for this machine"
        )


def check_classes(where: str, num_classes: int, num_examples: int) -> None:
    """At most MAX_CLASSES classes, and no more classes than examples."""
    limit = min(MAX_CLASSES, max(num_examples, 2))
    if num_classes > limit:
        why = f"at most {MAX_CLASSES:,}" if limit == MAX_CLASSES else f"at most one per example ({num_examples:,})"
        raise DataError(f"{where}: labels up to {num_classes - 1} claim {num_classes:,} classes; a data set has {why}")


def check_memory(key: str, value: int, nbytes: int) -> None:
    """A DataError naming the preset `key` when generating `nbytes` would not fit in memory."""
    left = memory_left()
    if left is not None and nbytes > _MEMORY_SHARE * left[0]:
        raise DataError(
            f"{key}: {value:,} needs about {gib(nbytes)} of memory to generate, and {gib(left[0])} is "
            f"{left[1]}; use a smaller value"
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

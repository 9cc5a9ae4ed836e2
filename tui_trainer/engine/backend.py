"""Where the engine's arrays live: NumPy on the CPU, or CuPy on an NVIDIA GPU.

    backend = resolve("gpu", where="presets/x.toml: train.device")  # PresetError if it cannot be had
    X = backend.to_device(X_host)        # once per run
    loss = float(net.loss(X[idx], ...))  # the only transfer of a step
    W1 = backend.to_host(net.params["W1"])

The engine is written once against an array namespace: a layer, the model and
the update rules call `array_namespace(a)` on the arrays they are given and use
that module's functions (NumPy for a NumPy array, CuPy for a CuPy array), so
the same code runs on either. What leaves the device does so only here
(`to_host`, `params_to_host`) or as the `float()` of a 0-d result, which the
trainer takes at the points it emits an event.

CuPy is optional (`pip install 'tui-trainer[gpu]'`) and imported only when a
preset asks for the GPU; the fused kernels of a GPU step (engine/kernels.py)
are compiled then too.

Memory on a GPU adds up per process: each one that trains (a run, the
workbench's trainer, a search worker) holds a CUDA context (CONTEXT_BYTES,
about) and a CuPy memory pool, which keeps the blocks of dead arrays until
`free_memory` hands them back. Search workers sharing one GPU cap their pools
(`share_device`, `worker_pool_limit`), and a net is sized against what its
process may still take (`room`), so a trial too big for its share fails with
the `model.hidden` message before it starts, not with an out-of-memory
error mid-run.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import DEVICES
from ..errors import PresetError, UserError

if TYPE_CHECKING:
    from .kernels import Kernels

INSTALL_HINT = "pip install 'tui-trainer[gpu]'"
# The share of the GPU's memory that search workers on one device split
# between them, less a CUDA context for each process (`worker_pool_limit`);
# the rest is left to other programs.
POOL_FRACTION = 0.8
# About what one process's CUDA context takes on the device, with the cuBLAS
# handle and workspace a first matmul adds (a few hundred MiB on CUDA 12).
CONTEXT_BYTES = 512 * 2**20
# Search workers on one GPU unless --workers says otherwise: the small net of a
# search step keeps one process's GPU well under full, two overlap one's host
# time with the other's kernels, and each more only adds a context.
GPU_WORKERS = 2


@dataclass(frozen=True)
class Backend:
    name: str  # "cpu" or "gpu": the device a run actually uses
    xp: Any  # the array module: numpy, cupy (or a stand-in with the same functions)
    notice: str = ""  # set when "auto" fell back to the CPU or the fused kernels failed: why, to say once
    kernels: Kernels | None = None  # a GPU's fused kernels (engine/kernels.py); None: separate operations

    @property
    def on_host(self) -> bool:
        return self.xp is np

    def to_device(self, a: Any) -> Any:
        """The array on this backend's device (NumPy: the array itself, no copy)."""
        return a if self.xp is np else self.xp.asarray(a)

    def to_host(self, a: Any) -> np.ndarray[Any, Any]:
        """A NumPy array of a device array: one transfer (NumPy: the array itself, no copy)."""
        if self.xp is np:
            return np.asarray(a)
        host: np.ndarray[Any, Any] = self.xp.asnumpy(a)
        return host

    def params_to_host(self, params: Mapping[str, Any]) -> dict[str, np.ndarray[Any, Any]]:
        """Copies of parameters on the host, for a checkpoint or a view.

        NumPy: one copy each. On a device, the parameters are packed into one
        flat array there and brought back in one transfer, then split.
        """
        if self.xp is np:
            return {k: np.array(v, copy=True) for k, v in params.items()}
        if not params:
            return {}
        xp = self.xp
        flat = self.to_host(xp.concatenate([xp.ravel(v) for v in params.values()]))
        out, at = {}, 0
        for k, v in params.items():
            out[k] = flat[at : at + v.size].reshape(v.shape)
            at += v.size
        return out

    def synchronize(self) -> None:
        """Wait for the device's queued work (for timings); nothing to wait for on the CPU."""
        if self.name == "gpu":
            self.xp.cuda.Device().synchronize()

    def free_memory(self) -> None:
        """Give the memory pool's unused blocks back to the device (between search trials)."""
        if self.name == "gpu":
            self.xp.get_default_memory_pool().free_all_blocks()

    def memory_bytes(self) -> int | None:
        """The device's total memory in bytes (None on the CPU: the host's is checked elsewhere)."""
        if self.name != "gpu":
            return None
        return int(self.xp.cuda.runtime.memGetInfo()[1])

    def room(self) -> tuple[int, str] | None:
        """The bytes a run here may take, and what to call them ("{}": their GiB);
        None where nothing is known (a host without sysconf).

        The CPU: the machine's memory. A GPU: its free memory now (blocks this
        process's pool keeps count as free: they are its to reuse), within what
        the pool's limit leaves this process (a search worker's share)."""
        if self.name != "gpu":
            try:
                return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "this machine has {} GiB"
            except (ValueError, OSError, AttributeError):  # not on Linux: no limit known
                return None
        pool = self.xp.get_default_memory_pool()
        used, limit = int(pool.used_bytes()), int(pool.get_limit())
        free = int(self.xp.cuda.runtime.memGetInfo()[0]) + int(pool.total_bytes()) - used
        if limit and limit - used < free:
            return limit - used, "this process may use {} GiB of the GPU (a search worker's share)"
        return free, "this GPU has {} GiB free"


CPU = Backend("cpu", np)


def array_namespace(a: Any) -> Any:
    """The module whose functions take `a`: numpy for a NumPy array, cupy for a
    CuPy array (as cupy.get_array_module does); another array type names its
    own through the array API's `__array_namespace__`."""
    if type(a) is np.ndarray:  # the CPU path: one type check, nothing imported
        return np
    cupy = sys.modules.get("cupy")
    if cupy is not None and isinstance(a, cupy.ndarray):
        return cupy
    namespace = getattr(a, "__array_namespace__", None)
    return np if namespace is None else namespace()


def resolve(device: str, where: str = "train.device") -> Backend:
    """The backend for a preset's `train.device`: "cpu", "gpu" or "auto".

    "gpu" without CuPy, or with CuPy but no usable CUDA device, is a
    PresetError that names `where` and what is missing. "auto" takes the GPU
    when it can be had, else the CPU with a `notice` saying why.
    """
    if device == "cpu":
        return CPU
    if device not in DEVICES:
        raise PresetError(f"{where}: {device!r} is not allowed; expected one of {', '.join(DEVICES)}")
    gpu, missing = find_gpu()
    if gpu is not None:
        return gpu
    if device == "auto":
        return Backend("cpu", np, notice=f'train.device = "auto": training on the CPU; {missing}')
    raise PresetError(f'{where}: "gpu" cannot be used: {missing}; or set train.device = "cpu"')


@functools.cache
def find_gpu() -> tuple[Backend | None, str]:
    """The GPU backend (CuPy on its current device: the first one CUDA_VISIBLE_DEVICES
    shows), or None and what is missing; looked for once per process."""
    try:
        import cupy  # type: ignore[import-not-found, unused-ignore]
    except Exception as e:  # ImportError, or a broken install raising something else
        if isinstance(e, ModuleNotFoundError) and e.name == "cupy":
            return None, f"CuPy is not installed ({INSTALL_HINT})"
        return None, f"CuPy cannot be imported ({type(e).__name__}: {_first_line(e)}); reinstall it: {INSTALL_HINT}"
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
        if count < 1:
            return None, "CuPy finds no CUDA device"
        # A first kernel: proves the driver, the runtime and the compiler CuPy needs all load.
        cupy.arange(2).sum().item()
    except Exception as e:  # no driver, a driver too old for this CuPy, no device visible
        return None, f"CuPy finds no usable CUDA device ({type(e).__name__}: {_first_line(e)})"
    try:
        # A first matmul: cuBLAS is a library of its own (a wheel of the [ctk] extra), and a
        # missing or mismatched one would pass the kernel above and fail a run's first step.
        a = cupy.ones((2, 2), np.float32)
        if float((a @ a).sum().item()) != 8.0:
            raise RuntimeError("a 2x2 matrix product came out wrong")
    except Exception as e:
        return None, f"CuPy cannot use cuBLAS ({type(e).__name__}: {_first_line(e)}); reinstall it: {INSTALL_HINT}"
    from .kernels import load

    kernels, note = load(cupy)
    gpu = Backend("gpu", cupy, notice=note, kernels=kernels)
    if _worker_share > 1:
        total = gpu.memory_bytes() or 0
        cupy.get_default_memory_pool().set_limit(size=max(worker_pool_limit(total, _worker_share), 1))
    return gpu, ""


def worker_pool_limit(total: int, workers: int) -> int:
    """The memory pool cap of each of `workers` search workers on one GPU of `total`
    bytes: POOL_FRACTION of it, less a CUDA context for each worker and for the
    search's own process, split evenly (0 or less: the contexts alone do not fit)."""
    return int((total * POOL_FRACTION - (workers + 1) * CONTEXT_BYTES) / workers)


def check_workers_fit(backend: Backend, workers: int, option: str = "--workers") -> None:
    """Before a search starts `workers` local processes on this GPU: a UserError
    naming `option` when their CUDA contexts and pools do not fit in its memory
    free now (less than a context's worth of pool each)."""
    if backend.name != "gpu" or workers < 2:
        return
    free, total = (int(v) for v in backend.xp.cuda.runtime.memGetInfo())
    each = min(worker_pool_limit(total, workers), (free - workers * CONTEXT_BYTES) // workers)
    if each < CONTEXT_BYTES:
        raise UserError(
            f"{option} {workers}: {workers} processes on one GPU need about {workers * CONTEXT_BYTES / 2**30:,.1f} GiB "
            f"for their CUDA contexts alone, and this GPU has {free / 2**30:,.1f} GiB free of "
            f"{total / 2**30:,.1f} GiB; use fewer workers (the default on a GPU is {GPU_WORKERS})"
        )


_worker_share = 1


def share_device(workers: int) -> None:
    """This process is one of `workers` search workers sharing one GPU: cap its
    CuPy memory pool at `worker_pool_limit` when the GPU is first used. Call it
    before the first `resolve` (a pool initializer does); it imports nothing."""
    global _worker_share
    _worker_share = max(1, int(workers))


def pool_limit(_: object = None) -> int:
    """This process's cap on its CuPy memory pool in bytes (0: none, or no GPU);
    what `share_device` set, for the tests and the benchmark to read in a worker."""
    gpu, _missing = find_gpu()
    return 0 if gpu is None else int(gpu.xp.get_default_memory_pool().get_limit())


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else "no message"

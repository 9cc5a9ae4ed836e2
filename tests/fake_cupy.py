"""A stand-in for CuPy 14 on a machine without a GPU, to test the engine's device path.

`FakeCupy()` answers what the engine and engine/backend.py ask of `cupy`
(`import cupy` finds it once it is in sys.modules), with NumPy underneath. It
refuses what CuPy refuses, so a test that passes here does not crash there:

- its arrays are `DeviceArray`s, not NumPy arrays: `np.asarray(device_array)`
  raises TypeError (CuPy has no implicit conversion), and a NumPy array in a
  device operation, 0-d included, raises TypeError (CuPy takes Python and
  NumPy scalars, never NumPy arrays);
- the module has CuPy's functions only, with CuPy's signatures (an allow-list:
  `take` has no `mode`, there is no `errstate`); anything else is an
  AttributeError;
- out-of-range integer indices wrap, as CuPy's `take` and fancy indexing do
  (NumPy raises);
- its memory pool tracks the bytes of live arrays, rounded as CuPy's pool
  rounds them, and enforces `set_limit`: an allocation past it raises
  `cuda.memory.OutOfMemoryError`, after the pool gave back its cached blocks,
  as CuPy's does; `cuda.runtime.memGetInfo()` reports the device's free memory
  as the pool and `other_bytes` (other processes, CUDA contexts) leave it.

And it counts what costs time on a GPU (`counts()`):

- kernels: one per elementwise operation, reduction, copy, matmul or user
  kernel; CuPy's advanced indexing as CuPy does it: an index by one integer
  array is one gather, by k >= 2 arrays (`a[rows, y]`) 2k kernels (each index
  normalized, the flat index combined, the gather or scatter), and an
  in-place operation on such an index (`a[rows, y] -= 1`) a gather, the
  operation and a scatter; a ufunc whose input overlaps its output (and is not
  that very array) first copies it, one kernel more, as CuPy does; `vdot`
  (CuPy with CUB: a product then a sum) two kernels and a temporary;
- uploads (host to device: asarray of host data, `set`, a host value assigned
  into a device array), downloads (`asnumpy`, `get`, float(), int(), bool(),
  `.item()`, `.tolist()`) and syncs (every blocking download,
  `Device().synchronize()`, `Event.synchronize()`).

`ElementwiseKernel`, `ReductionKernel` and `RawKernel` check their arguments
as CuPy does (count, device arrays, dtypes) and run the NumPy reference of the
kernel of that name: `tui_trainer.engine.kernels.REFERENCES` (test_gpu.py
holds the CUDA versions to the same references on a real GPU).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from fake_cupy_array import (
    UFUNCS,
    CompileException,
    DeviceArray,
    FakePool,
    OutOfMemoryError,
    _RawKernel,
    _refuse,
    _UserKernel,
)


class FakeCupy:
    """The module: CuPy's functions (an allow-list), DeviceArrays in and out, costs counted."""

    __name__ = "cupy"
    __version__ = "14.2.0"
    float32, float64, int32, int64, bool_, dtype = np.float32, np.float64, np.int32, np.int64, np.bool_, np.dtype

    def __init__(self, memory: int = 16 * 2**30, devices: int = 1, other_bytes: int = 0):
        self.ndarray = self.array_class = type("DeviceArray", (DeviceArray,), {"__slots__": (), "xp": self})
        self.memory = memory  # the device's total memory
        self.other_bytes = other_bytes  # held outside this process's pool: contexts, other programs
        self.pool = FakePool(self)
        self.kernels = self.uploads = self.downloads = self.syncs = 0
        self.kernel_names: list[str] = []
        self.fail_compile = False  # user kernels raise CompileException, as NVRTC failing would
        fake = self

        class Device:
            id = 0

            def synchronize(self) -> None:
                fake.syncs += 1

            @property
            def mem_info(self) -> tuple[int, int]:
                return fake._mem_get_info()

        class Event:
            def __init__(self, block: bool = False, disable_timing: bool = False, interprocess: bool = False):
                self.recorded = False

            def record(self, stream: Any = None) -> None:
                self.recorded = True

            def synchronize(self) -> None:
                fake.syncs += 1

            @property
            def done(self) -> bool:
                return True

        runtime = SimpleNamespace(getDeviceCount=lambda: devices, memGetInfo=self._mem_get_info)
        self.cuda = SimpleNamespace(
            Device=Device,
            Event=Event,
            runtime=runtime,
            alloc_pinned_memory=lambda size: bytearray(size),
            memory=SimpleNamespace(OutOfMemoryError=OutOfMemoryError),
            compiler=SimpleNamespace(CompileException=CompileException),
        )
        for name in UFUNCS:
            setattr(self, name, self._ufunc(name))
        self.abs = self.absolute

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"module 'cupy' has no attribute {name!r} (the stand-in allows CuPy's functions only)")

    def counts(self) -> dict[str, int]:
        return {"kernels": self.kernels, "uploads": self.uploads, "downloads": self.downloads, "syncs": self.syncs}

    # --- bookkeeping -----------------------------------------------------------

    def _mem_get_info(self) -> tuple[int, int]:
        return self.memory - self.other_bytes - self.pool.total_bytes(), self.memory

    def _kernel(self, name: str, n: int = 1) -> None:
        self.kernels += n
        self.kernel_names += [name] * n

    def _download(self, sync: bool) -> None:
        self.downloads += 1
        self.syncs += sync

    def _new(self, a: Any, kernel: str | None = "kernel") -> DeviceArray:
        """A fresh device array holding a (a new allocation); `kernel`: the launch that filled it."""
        a = np.asarray(a)
        if kernel:
            self._kernel(kernel)
        return self.ndarray(a, self.pool.malloc(a.nbytes))

    def _dev(self, v: Any) -> Any:
        """A device operand as NumPy sees it: its storage; a scalar as it is; host arrays refused."""
        if isinstance(v, DeviceArray):
            if type(v).xp is not self:
                raise ValueError("an array of another device")
            return v._a
        _refuse(v)
        return v

    def _out(self, out: Any) -> Any:
        if out is None:
            return None
        if not isinstance(out, DeviceArray):
            raise TypeError("Output arguments type must be cupy.ndarray")
        return out._a

    def _key(self, a: DeviceArray, key: Any) -> tuple[Any, int]:
        """An index key with integer device arrays wrapped into range (as CuPy does), and their count."""
        parts = key if isinstance(key, tuple) else (key,)
        out, arrays, axis = [], 0, 0
        for k in parts:
            if isinstance(k, DeviceArray):
                if k.dtype == np.bool_:
                    raise TypeError("the stand-in does not index with masks (CuPy would wait on the device for them)")
                out.append(np.mod(k._a, a.shape[axis]))
                arrays += 1
            elif isinstance(k, (np.ndarray, list)):
                _refuse(np.asarray(k))
            else:
                out.append(k)
            axis += k is not None and k is not Ellipsis
        return tuple(out), arrays

    def _ufunc(self, name: str) -> Any:
        np_ufunc = getattr(np, name)

        def ufunc(*args: Any, out: Any = None, dtype: Any = None, casting: str = "same_kind") -> Any:
            if len(args) == np_ufunc.nin + 1 and out is None:
                *args, out = args
            if len(args) != np_ufunc.nin:
                raise TypeError(f"Wrong number of arguments for {name!r}")
            host = [self._dev(a) for a in args]
            if not any(isinstance(a, DeviceArray) for a in (*args, out)):
                raise TypeError(f"{name}: no device array among the operands")
            for a in args:  # CuPy copies an input that overlaps the output first
                if (
                    isinstance(a, DeviceArray)
                    and out is not None
                    and a is not out
                    and np.may_share_memory(a._a, out._a)
                ):
                    self._kernel("overlap-copy")
            kw = {"dtype": dtype, "casting": casting}
            if out is not None:
                np_ufunc(*host, out=self._out(out), **kw)
                self._kernel(name)
                return out
            return self._new(np_ufunc(*host, **kw), name)

        ufunc.__name__ = name
        return ufunc

    def _reduce(self, fn: Any, a: Any, out: Any = None, kernels: int = 1, **kw: Any) -> Any:
        if not isinstance(a, DeviceArray):
            _refuse(a)
            raise TypeError(f"Argument 'a' has incorrect type (expected cupy.ndarray, got {type(a)})")
        result = fn(a._a, **kw)
        self._kernel(fn.__name__, kernels)
        if out is not None:
            np.copyto(self._out(out), result)
            return out
        return self._new(result, None)

    # --- host <-> device ---------------------------------------------------------

    def asarray(self, a: Any, dtype: Any = None, order: Any = None, *, blocking: bool = False) -> DeviceArray:
        if isinstance(a, DeviceArray):
            return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
        self.uploads += 1
        host = np.asarray(a, dtype=dtype, order=order)
        return self._new(np.array(host, copy=True), None)

    def array(self, obj: Any, dtype: Any = None, copy: bool = True, order: str = "K", ndmin: int = 0) -> DeviceArray:
        if isinstance(obj, DeviceArray):
            return obj.astype(dtype or obj.dtype, copy=copy)
        return self.asarray(obj, dtype=dtype)

    def asnumpy(self, a: Any, stream: Any = None, order: str = "C", out: Any = None, *, blocking: bool = True) -> Any:
        if isinstance(a, DeviceArray):
            return a.get(stream=stream, order=order, out=out, blocking=blocking)
        return np.asarray(a, order=order)

    def get_array_module(self, *args: Any) -> Any:
        return self if any(isinstance(a, DeviceArray) for a in args) else np

    def get_default_memory_pool(self) -> FakePool:
        return self.pool

    # --- creation ----------------------------------------------------------------

    def empty(self, shape: Any, dtype: Any = float, order: str = "C") -> DeviceArray:
        return self._new(np.empty(shape, dtype, order), None)

    def zeros(self, shape: Any, dtype: Any = float, order: str = "C") -> DeviceArray:
        return self._new(np.zeros(shape, dtype, order), "memset")

    def ones(self, shape: Any, dtype: Any = float, order: str = "C") -> DeviceArray:
        return self._new(np.ones(shape, dtype, order), "fill")

    def full(self, shape: Any, fill_value: Any, dtype: Any = None, order: str = "C") -> DeviceArray:
        _refuse(fill_value)
        return self._new(np.full(shape, fill_value, dtype, order), "fill")

    def empty_like(self, a: DeviceArray, dtype: Any = None, order: str = "K", subok: Any = None, shape: Any = None):
        return self.empty(a.shape if shape is None else shape, dtype or a.dtype)

    def zeros_like(self, a: DeviceArray, dtype: Any = None, order: str = "K", subok: Any = None, shape: Any = None):
        return self.zeros(a.shape if shape is None else shape, dtype or a.dtype)

    def ones_like(self, a: DeviceArray, dtype: Any = None, order: str = "K", subok: Any = None, shape: Any = None):
        return self.ones(a.shape if shape is None else shape, dtype or a.dtype)

    def arange(self, start: Any, stop: Any = None, step: Any = 1, dtype: Any = None) -> DeviceArray:
        return self._new(np.arange(start, stop, step, dtype), "arange")

    # --- operations ----------------------------------------------------------------

    def take(self, a: DeviceArray, indices: Any, axis: Any = None, out: Any = None) -> DeviceArray:
        """CuPy's take: no `mode`; indices out of range wrap."""
        host = self._dev(a)
        idx = self._dev(indices)
        n = host.size if axis is None else host.shape[axis]
        result = np.take(host, np.mod(idx, n), axis=axis, out=self._out(out))
        self._kernel("take")
        return out if out is not None else self._new(result, None)

    def copyto(self, dst: DeviceArray, src: Any, casting: str = "same_kind", where: Any = None) -> None:
        where_host = None if where is None else self._dev(where)
        np.copyto(self._out(dst), self._dev(src), casting=casting, where=True if where is None else where_host)
        self._kernel("copyto")

    def matmul(self, x1: DeviceArray, x2: DeviceArray, out: Any = None, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError(f"Wrong arguments {kwargs}")
        a, b = self._dev(x1), self._dev(x2)
        if out is not None:
            np.matmul(a, b, out=self._out(out))
            self._kernel("gemm")
            return out
        return self._new(np.matmul(a, b), "gemm")

    def dot(self, a: DeviceArray, b: DeviceArray, out: Any = None) -> Any:
        return self.matmul(a, b, out=out) if a.ndim >= 1 and b.ndim >= 1 else a * b

    def vdot(self, a: DeviceArray, b: DeviceArray) -> DeviceArray:
        # With CUB (CuPy's default accelerator): (a.ravel() * b.ravel()).sum(), a temporary of a's size.
        product = self.multiply(self.ravel(a), self.ravel(b))
        return self._reduce(np.sum, product)

    def sum(self, a: DeviceArray, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False):
        return self._reduce(np.sum, a, out=out, axis=axis, dtype=dtype, keepdims=keepdims)

    def mean(self, a: DeviceArray, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False):
        return self._reduce(np.mean, a, out=out, kernels=2, axis=axis, dtype=dtype, keepdims=keepdims)  # sum, divide

    def max(self, a: DeviceArray, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return self._reduce(np.max, a, out=out, axis=axis, keepdims=keepdims)

    def min(self, a: DeviceArray, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return self._reduce(np.min, a, out=out, axis=axis, keepdims=keepdims)

    amax, amin = max, min

    def argmax(self, a: DeviceArray, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False):
        return self._reduce(np.argmax, a, out=out, axis=axis, keepdims=keepdims)

    def any(self, a: DeviceArray, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return a.any(axis=axis, out=out, keepdims=keepdims)

    def all(self, a: DeviceArray, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return a.all(axis=axis, out=out, keepdims=keepdims)

    def concatenate(self, tup: Any, axis: int = 0, out: Any = None, *, dtype: Any = None, casting: str = "same_kind"):
        arrays = [self._dev_array(a) for a in tup]
        result = np.concatenate(arrays, axis=axis, out=self._out(out), dtype=dtype, casting=casting)
        self._kernel("concatenate")
        return out if out is not None else self._new(result, None)

    def stack(self, tup: Any, axis: int = 0, out: Any = None, *, dtype: Any = None, casting: str = "same_kind"):
        arrays = [self._dev_array(a) for a in tup]
        result = np.stack(arrays, axis=axis, out=self._out(out), dtype=dtype, casting=casting)
        self._kernel("concatenate")
        return out if out is not None else self._new(result, None)

    def _dev_array(self, a: Any) -> np.ndarray:
        if not isinstance(a, DeviceArray):
            _refuse(a)
            raise TypeError(f"Only cupy arrays can be concatenated, not {type(a)}")
        return self._dev(a)

    def ravel(self, a: DeviceArray, order: str = "C") -> DeviceArray:
        return a.ravel(order)

    def reshape(self, a: DeviceArray, newshape: Any, order: str = "C") -> DeviceArray:
        return a.reshape(newshape, order=order)

    def where(self, condition: DeviceArray, x: Any = None, y: Any = None) -> DeviceArray:
        if x is None or y is None:
            raise TypeError("the stand-in's where takes x and y (CuPy's one-argument where waits on the device)")
        return self._new(np.where(self._dev(condition), self._dev(x), self._dev(y)), "where")

    # --- user kernels ----------------------------------------------------------------

    def ElementwiseKernel(self, in_params: str, out_params: str, operation: str, name: str = "kernel", **kw: Any):
        return _UserKernel(self, "elementwise", name, in_params, out_params, kw)

    def ReductionKernel(
        self,
        in_params: str,
        out_params: str,
        map_expr: str,
        reduce_expr: str,
        post_map_expr: str,
        identity: Any,
        name: str = "reduce_kernel",
        **kw: Any,
    ):
        return _UserKernel(self, "reduction", name, in_params, out_params, kw)

    def RawKernel(self, code: str, name: str, options: tuple[str, ...] = (), **kw: Any) -> _RawKernel:
        return _RawKernel(self, name)

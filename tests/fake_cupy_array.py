"""The stand-in's arrays, memory pool and user kernels (tests/fake_cupy.py is the module)."""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from fake_cupy import FakeCupy

IMPLICIT = (
    "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy array explicitly."
)
ROUND = 512  # CuPy's pool hands out multiples of 512 bytes


class OutOfMemoryError(MemoryError):
    pass


class CompileException(Exception):
    pass


def _refuse(v: Any) -> None:
    if isinstance(v, np.ndarray):
        raise TypeError(f"Unsupported type {type(v)}: a host array {v.shape} in a device operation")
    if isinstance(v, (list, tuple)):
        raise TypeError(f"Unsupported type {type(v)}")


class _Buffer:
    """One allocation from the pool; its bytes go back when the last array on it dies."""

    __slots__ = ("nbytes", "__weakref__")

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes


class FakePool:
    def __init__(self, fake: FakeCupy) -> None:
        self.fake = fake
        self.used = 0  # bytes of live arrays
        self.cached = 0  # bytes of dead arrays the pool keeps for reuse
        self.limit = 0
        self.freed = 0  # calls of free_all_blocks
        self.used_at_free: list[int] = []  # live bytes at each of them
        self.peak = 0

    def malloc(self, nbytes: int) -> _Buffer:
        size = -(-max(nbytes, 1) // ROUND) * ROUND
        if self.cached >= size:  # a cached block is reused (the pool's bins, simplified)
            self.cached -= size
        elif not self._fits(size):
            self.cached = 0  # CuPy frees the cached blocks and tries again
            if not self._fits(size):
                raise OutOfMemoryError(
                    f"Out of memory allocating {size:,} bytes (allocated so far: {self.used + self.cached:,} bytes, "
                    f"limit set to: {self.limit:,} bytes)."
                )
        self.used += size
        self.peak = max(self.peak, self.used)
        buf = _Buffer(size)
        weakref.finalize(buf, self._release, size)
        return buf

    def _fits(self, size: int) -> bool:
        total = self.used + self.cached + size
        if self.limit and total > self.limit:
            return False
        return total + self.fake.other_bytes <= self.fake.memory

    def _release(self, size: int) -> None:
        self.used -= size
        self.cached += size

    def used_bytes(self) -> int:
        return self.used

    def total_bytes(self) -> int:
        return self.used + self.cached

    def free_bytes(self) -> int:
        return self.cached

    def free_all_blocks(self, stream: Any = None) -> None:
        self.freed += 1
        self.used_at_free.append(self.used)
        self.cached = 0

    def set_limit(self, size: int | None = None, fraction: float | None = None) -> None:
        if size is not None and fraction is not None:
            raise ValueError("size and fraction cannot be specified at one time")
        self.limit = int(fraction * self.fake.memory) if fraction is not None else int(size or 0)

    def get_limit(self) -> int:
        return self.limit


class DeviceArray:
    """A CuPy array: NumPy storage the host cannot see without a counted transfer."""

    __slots__ = ("_a", "_buf", "__weakref__")
    xp: FakeCupy  # set per FakeCupy: whose counters and pool

    def __init__(self, a: np.ndarray, buf: _Buffer) -> None:
        self._a, self._buf = a, buf

    # What NumPy asks of an array-like: refused or sent to the stand-in's own functions.
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(IMPLICIT)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        fn = getattr(self.xp, ufunc.__name__, None) if method == "__call__" else None
        if fn is None:
            raise TypeError(f"CuPy does not support numpy.{ufunc.__name__}.{method}")
        out = kwargs.get("out")
        if isinstance(out, tuple):  # NumPy hands out= over as a tuple
            kwargs["out"] = out[0] if len(out) == 1 else out
        return fn(*inputs, **kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func.__name__ not in _FUNCTIONS:
            raise TypeError(f"no implementation found for 'numpy.{func.__name__}' on a CuPy array")
        return getattr(self.xp, func.__name__)(*args, **kwargs)

    def __array_namespace__(self, api_version: Any = None) -> FakeCupy:
        return self.xp

    # Attributes (no transfer)
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    size = property(lambda self: self._a.size)
    ndim = property(lambda self: self._a.ndim)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: self._view(self._a.T))

    def __len__(self) -> int:
        return len(self._a)

    def _view(self, a: np.ndarray) -> DeviceArray:
        return type(self)(a, self._buf)

    # Reads that copy to the host: a download and a wait each.
    def _read(self) -> np.ndarray:
        self.xp._download(sync=True)
        return self._a

    def __float__(self) -> float:
        return float(self._read())

    def __int__(self) -> int:
        return int(self._read())

    def __bool__(self) -> bool:
        return bool(self._read())

    def item(self) -> Any:
        return self._read().item()

    def tolist(self) -> Any:
        return self._read().tolist()

    def __repr__(self) -> str:
        return f"array({self._read()!r})"

    def get(self, stream: Any = None, order: str = "C", out: np.ndarray | None = None, blocking: bool = True) -> Any:
        self.xp._download(sync=blocking)
        if out is None:
            return np.array(self._a, order=order, copy=True)
        if type(out) is not np.ndarray or out.shape != self.shape or out.dtype != self.dtype:
            raise ValueError("out must be a host array of the same shape and dtype")
        np.copyto(out, self._a)
        return out

    def set(self, arr: np.ndarray, stream: Any = None) -> None:
        if type(arr) is not np.ndarray or arr.shape != self.shape:
            raise ValueError("set takes a host array of the same shape")
        self.xp.uploads += 1
        np.copyto(self._a, arr)

    # Methods: each a kernel (or a view), with CuPy's signatures.
    def astype(self, dtype: Any, order: str = "K", casting: Any = None, subok: Any = None, copy: bool = True) -> Any:
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        return self.xp._new(self._a.astype(dtype, order=order))

    def copy(self, order: str = "C") -> DeviceArray:
        return self.xp._new(self._a.copy(order=order))

    def reshape(self, *shape: Any, order: str = "C") -> DeviceArray:
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        out = self._a.reshape(shape, order=order)
        return self._view(out) if np.may_share_memory(out, self._a) else self.xp._new(out)

    def ravel(self, order: str = "C") -> DeviceArray:
        return self.reshape(-1, order=order)

    def transpose(self, *axes: Any) -> DeviceArray:
        return self._view(self._a.transpose(*axes))

    def fill(self, value: Any) -> None:
        _refuse(value)
        self.xp._kernel("fill")
        self._a.fill(value)

    def sum(self, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return self.xp.sum(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims)

    def mean(self, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return self.xp.mean(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims)

    def max(self, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return self.xp.max(self, axis=axis, out=out, keepdims=keepdims)

    def min(self, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return self.xp.min(self, axis=axis, out=out, keepdims=keepdims)

    def argmax(self, axis: Any = None, out: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
        return self.xp.argmax(self, axis=axis, out=out, dtype=dtype, keepdims=keepdims)

    def any(self, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return self.xp._reduce(np.any, self, axis=axis, out=out, keepdims=keepdims)

    def all(self, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return self.xp._reduce(np.all, self, axis=axis, out=out, keepdims=keepdims)

    def dot(self, b: Any, out: Any = None) -> Any:
        return self.xp.dot(self, b, out=out)

    # Indexing: basic keys give views; integer device arrays gather and scatter, wrapping.
    def __getitem__(self, key: Any) -> Any:
        key, arrays = self.xp._key(self, key)
        if arrays == 0:  # a view; an integer key gives a 0-d array, as in CuPy
            return self._view(self._a[(*key, ...) if Ellipsis not in key else key])
        result = self._a[key]
        self.xp._kernel("gather", _index_kernels(arrays))
        return self.xp._new(result, None)

    def __setitem__(self, key: Any, value: Any) -> None:
        key, arrays = self.xp._key(self, key)
        if isinstance(value, np.ndarray):  # CuPy uploads a host value assigned into a device array
            self.xp.uploads += 1
        self._a[key] = value._a if isinstance(value, DeviceArray) else value
        self.xp._kernel("scatter" if arrays else "copy", _index_kernels(arrays))

    __hash__ = None  # type: ignore[assignment]


def _index_kernels(arrays: int) -> int:
    """Kernels of a gather or scatter by `arrays` integer arrays: one for a single
    array (CuPy's take); else each index normalized, the flat index combined, the gather."""
    return 1 if arrays <= 1 else 2 * arrays


def _operator(ufunc: str, reflected: bool = False, inplace: bool = False) -> Any:
    def op(self: DeviceArray, other: Any) -> Any:
        fn = getattr(self.xp, ufunc)
        if inplace:
            return fn(self, other, out=self)
        return fn(other, self) if reflected else fn(self, other)

    return op


for _name, _ufunc in {
    "add": "add",
    "sub": "subtract",
    "mul": "multiply",
    "truediv": "true_divide",
    "pow": "power",
    "matmul": "matmul",
}.items():
    setattr(DeviceArray, f"__{_name}__", _operator(_ufunc))
    setattr(DeviceArray, f"__r{_name}__", _operator(_ufunc, reflected=True))
    setattr(DeviceArray, f"__i{_name}__", _operator(_ufunc, inplace=True))
for _name, _ufunc in {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal"}.items():
    setattr(DeviceArray, f"__{_name}__", _operator(_ufunc))
DeviceArray.__eq__ = _operator("equal")  # type: ignore[method-assign, assignment]
DeviceArray.__ne__ = _operator("not_equal")  # type: ignore[method-assign, assignment]
DeviceArray.__neg__ = lambda self: self.xp.negative(self)  # type: ignore[attr-defined]
DeviceArray.__abs__ = lambda self: self.xp.absolute(self)  # type: ignore[attr-defined]

UFUNCS = (
    "add subtract multiply divide true_divide power negative absolute exp log sqrt square maximum minimum "
    "greater greater_equal less less_equal equal not_equal isfinite isnan logical_and logical_or logical_not"
).split()
_FUNCTIONS = set(UFUNCS) | set(
    "asarray array asnumpy empty zeros ones full empty_like zeros_like ones_like arange take copyto matmul "
    "dot vdot sum mean max min amax amin argmax stack concatenate ravel reshape where any all".split()
)


def _params(spec: str) -> list[tuple[str, str, bool]]:
    """(type, name, raw) of each parameter of a kernel's argument list."""
    out = []
    for p in filter(None, (s.strip() for s in spec.split(","))):
        words = p.split()
        if len(words) < 2 or any(w not in ("raw", "_non_const") for w in words[:-2]):
            raise ValueError(f"Syntax error: {p}")
        out.append((words[-2], words[-1], "raw" in words[:-2]))
    return out


class _UserKernel:
    """An ElementwiseKernel or ReductionKernel: CuPy's argument checks, then the NumPy reference."""

    def __init__(self, fake: FakeCupy, kind: str, name: str, in_params: str, out_params: str, kw: dict[str, Any]):
        self.fake, self.kind, self.name, self.kw = fake, kind, name, kw
        self.ins, self.outs = _params(in_params), _params(out_params)
        if kind == "elementwise" and "i" in [n for _, n, _ in self.ins + self.outs]:
            raise ValueError("Can not use 'i' as a parameter name")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        allowed = {"size", "stream", "block_size"} if self.kind == "elementwise" else {"axis", "keepdims", "stream"}
        if set(kwargs) - allowed:
            raise TypeError(f"Wrong arguments {kwargs}")
        if len(args) != len(self.ins) + len(self.outs):
            raise TypeError(f"{self.name}: the stand-in needs every argument, outputs included ({len(args)} given)")
        types: dict[str, np.dtype] = {}
        for (t, name, _raw), a in zip(self.ins + self.outs, args):
            if isinstance(a, DeviceArray):
                want = types.setdefault(t, a.dtype) if len(t) == 1 else np.dtype(t)
                if a.dtype != want:
                    raise TypeError(f"Type is mismatched. {name} {a.dtype} {t}")
            else:
                _refuse(a)
                if name in [n for _, n, _ in self.outs]:
                    raise TypeError("Output arguments must be cupy.ndarray")
        shapes = [
            a.shape for (_, _, raw), a in zip(self.ins + self.outs, args) if isinstance(a, DeviceArray) and not raw
        ]
        if self.kind == "elementwise" and shapes:
            outs = [a.shape for (_, _, raw), a in zip(self.outs, args[len(self.ins) :]) if not raw]
            if any(s != np.broadcast_shapes(*shapes) for s in outs):
                raise ValueError("Out shape is mismatched")
        if self.fake.fail_compile:
            raise CompileException(f"nvrtc: error: {self.name} failed to compile (the stand-in was told to fail)")
        _reference(self.name)(*[self.fake._dev(a) for a in args])
        self.fake._kernel(self.name)
        return args[len(self.ins)] if len(self.outs) == 1 else tuple(args[len(self.ins) :])


class _RawKernel:
    def __init__(self, fake: FakeCupy, name: str):
        self.fake, self.name = fake, name

    def __call__(self, grid: tuple[int, ...], block: tuple[int, ...], args: tuple[Any, ...], **kw: Any) -> None:
        if set(kw) - {"shared_mem", "stream"}:
            raise TypeError(f"Wrong arguments {kw}")
        if math.prod(block) > 1024:
            raise ValueError("too many threads in a block")
        for a in args:  # CuPy passes device arrays as pointers and NumPy scalars by value, nothing else
            if not isinstance(a, (DeviceArray, np.generic)):
                raise TypeError(f"Unsupported type {type(a)}: a raw kernel takes device arrays and NumPy scalars")
        if self.fake.fail_compile:
            raise CompileException(f"nvrtc: error: {self.name} failed to compile (the stand-in was told to fail)")
        _reference(self.name)(*[self.fake._dev(a) for a in args])
        self.fake._kernel(self.name)


def _reference(name: str) -> Any:
    from tui_trainer.engine.kernels import REFERENCES

    for key in (name, name.rsplit("_", 1)[0]):  # a raw kernel's name carries its dtype
        if key in REFERENCES:
            return REFERENCES[key]
    raise KeyError(f"no NumPy reference for the kernel {name!r} (tui_trainer.engine.kernels.REFERENCES)")

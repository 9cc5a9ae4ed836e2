"""A stand-in for CuPy on a machine without a GPU, to test the engine's device path.

`FakeCupy()` answers what the engine and engine/backend.py ask of `cupy`
(`import cupy` finds it once it is in sys.modules), with NumPy underneath and
two things CuPy does that a test can see:

- its arrays are `DeviceArray`s, and mixing one with a plain NumPy array in an
  operation raises TypeError, as CuPy does: host data that reaches a step
  without `to_device` fails the run;
- every transfer to the host is counted: `asnumpy`, and float(), int(),
  bool(), .item(), .tolist() of a device array (CuPy's implicit
  synchronising reads). Reductions give 0-d device arrays, as in CuPy.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np


class DeviceArray(np.ndarray):
    xp: FakeCupy  # set by FakeCupy: whose transfers this array counts

    def __array_namespace__(self, api_version=None):
        return self.xp

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _no_host_arrays((*inputs, *(out or ())))
        if out is not None:
            kwargs["out"] = tuple(_host(o) for o in out)
        result = getattr(ufunc, method)(*(_host(i) for i in inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return self.xp.wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        _no_host_arrays(_flat((args, kwargs)))
        return self.xp.wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    def argmax(self, *args, **kwargs):
        return self.xp.wrap(_host(self).argmax(*args, **kwargs))

    # Reads that copy to the host, each one transfer.
    def __float__(self) -> float:
        self.xp.transfers += 1
        return float(_host(self))

    def __int__(self) -> int:
        self.xp.transfers += 1
        return int(_host(self))

    def __bool__(self) -> bool:
        self.xp.transfers += 1
        return bool(_host(self))

    def item(self, *args):
        self.xp.transfers += 1
        return _host(self).item(*args)

    def tolist(self):
        self.xp.transfers += 1
        return _host(self).tolist()


class FakeCupy:
    """The module: NumPy's functions, DeviceArrays in and out, transfers counted."""

    __name__ = "cupy"

    def __init__(self, memory: int = 16 * 2**30, devices: int = 1):
        self.transfers = 0
        self.array_class = type("DeviceArray", (DeviceArray,), {"xp": self})
        self.ndarray = self.array_class
        self.memory = memory
        self.pool = FakePool()
        self.synchronized = 0
        fake = self

        class Device:
            mem_info = (memory, memory)

            def synchronize(self) -> None:
                fake.synchronized += 1

        self.cuda = SimpleNamespace(Device=Device, runtime=SimpleNamespace(getDeviceCount=lambda: devices))
        self.linalg = np.linalg  # its functions dispatch to DeviceArray.__array_function__

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    def wrap(self, result: Any) -> Any:
        if isinstance(result, (np.ndarray, np.generic)) and not isinstance(result, DeviceArray):
            return np.asarray(result).view(self.array_class)
        if isinstance(result, tuple):
            return tuple(self.wrap(r) for r in result)
        return result

    # Host to device: allowed (CuPy copies), not counted.
    def asarray(self, a: Any, dtype: Any = None) -> DeviceArray:
        return np.asarray(_host(a) if isinstance(a, DeviceArray) else a, dtype=dtype).view(self.array_class)

    array = asarray

    def empty(self, shape: Any, dtype: Any = float) -> DeviceArray:
        return np.empty(shape, dtype).view(self.array_class)

    def zeros(self, shape: Any, dtype: Any = float) -> DeviceArray:
        return np.zeros(shape, dtype).view(self.array_class)

    def arange(self, *args: Any, **kwargs: Any) -> DeviceArray:
        return np.arange(*args, **kwargs).view(self.array_class)

    # Device to host: one transfer.
    def asnumpy(self, a: Any) -> np.ndarray:
        self.transfers += 1
        return np.array(_host(a), copy=True)

    def get_default_memory_pool(self) -> FakePool:
        return self.pool


class FakePool:
    def __init__(self) -> None:
        self.freed = 0
        self.limit = 0

    def free_all_blocks(self) -> None:
        self.freed += 1

    def set_limit(self, size: int = 0) -> None:
        self.limit = size

    def get_limit(self) -> int:
        return self.limit


def _host(a: Any) -> Any:
    return a.view(np.ndarray) if isinstance(a, DeviceArray) else a


def _unwrap(v: Any) -> Any:
    if isinstance(v, DeviceArray):
        return v.view(np.ndarray)
    if isinstance(v, (list, tuple)):
        return type(v)(_unwrap(x) for x in v)
    if isinstance(v, dict):
        return {k: _unwrap(x) for k, x in v.items()}
    return v


def _flat(v: Any):
    if isinstance(v, (list, tuple)):
        for x in v:
            yield from _flat(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from _flat(x)
    else:
        yield v


def _no_host_arrays(items) -> None:
    for a in items:
        if type(a) is np.ndarray and a.ndim > 0:
            raise TypeError(f"a host array {a.shape} in a device operation (CuPy refuses implicit conversion)")

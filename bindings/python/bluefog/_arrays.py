# SPDX-License-Identifier: Apache-2.0
"""DLPack plumbing between the caller's arrays and the engine.

Each supported framework gets an adapter that knows how to export an array as a "dltensor"
capsule, allocate an output of the same kind, and import an engine-allocated result, so every
operation hands back the caller's own array type (NumPy, PyTorch, JAX) without copies. Arrays of
other libraries that speak DLPack are viewed as NumPy arrays.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._native import lib

__all__ = ["Adapter", "adapter_for", "EngineBuffer"]

_KIND_OF_DLPACK_CODE = {0: "i", 1: "u", 2: "f"}  # kDLInt, kDLUInt, kDLFloat


class EngineBuffer:
    """Presents an engine-allocated result (a "dltensor" capsule it keeps, and so frees with
    itself) to NumPy through ``__array_interface__``: a writable array without a copy.
    (``numpy.from_dlpack`` would mark it read-only.)"""

    def __init__(self, capsule: Any) -> None:
        address, shape, (code, bits, lanes) = lib.dltensor_info(capsule)
        if code not in _KIND_OF_DLPACK_CODE or lanes != 1:
            raise TypeError(f"NumPy has no dtype for DLPack code {code}, {bits} bits")
        self._capsule = capsule
        self.shape = tuple(shape)
        self.dtype = np.dtype(f"{_KIND_OF_DLPACK_CODE[code]}{bits // 8}")
        self.address = address
        self.__array_interface__ = {"version": 3, "shape": self.shape, "typestr": self.dtype.str,
                                    "data": (address, False), "strides": None}

    def array(self) -> np.ndarray:
        if self.address == 0:  # no elements
            return np.empty(self.shape, dtype=self.dtype)
        return np.asarray(self)


class Adapter:
    """NumPy (and the fallback for anything else): outputs are NumPy arrays."""

    name = "numpy"
    mutable = True

    def native(self, x: Any) -> Any:
        """The array the engine works on for caller object ``x``."""
        if isinstance(x, np.ndarray):
            return x
        if hasattr(x, "__dlpack__"):
            return np.from_dlpack(x)
        array = np.asarray(x)
        if array.dtype == object:
            raise TypeError(f"expected an array with __dlpack__ (NumPy, PyTorch, JAX, ...) or "
                            f"numbers, got {type(x).__name__}")
        return array

    def export(self, x: Any, *, writable: bool = False) -> Any:
        """A "dltensor" capsule for ``x``. It keeps ``x``'s memory alive while it exists.
        Read-only inputs are copied (DLPack cannot mark memory read-only)."""
        if writable and not x.flags.writeable:
            raise ValueError("in-place operations need a writable array; this one is read-only")
        try:
            return x.__dlpack__()
        except BufferError:
            if writable or x.flags.writeable:
                raise
            return np.array(x).__dlpack__()

    def order_after_caller(self, x: Any) -> None:
        """Orders the next engine call after the caller's queued device work on ``x`` (GPU
        arrays: bf_set_cuda_stream); ``export`` does it for the arrays it exports."""

    def empty_like(self, x: Any) -> Any:
        """A new, uninitialized output with ``x``'s shape and dtype."""
        return np.empty(x.shape, dtype=x.dtype)

    def export_out(self, out: Any) -> Any:
        """A capsule for an output made by ``empty_like``."""
        return self.export(out, writable=True)

    def result(self, out: Any) -> Any:
        """The caller-facing object for an output allocated by ``empty_like``."""
        return out

    def from_capsule(self, capsule: Any) -> Any:
        """The caller-facing array for an engine-allocated "dltensor" capsule (no copy)."""
        return EngineBuffer(capsule).array()

    def data_ptr(self, x: Any) -> int:
        return int(x.__array_interface__["data"][0])


class TorchAdapter(Adapter):
    """PyTorch tensors, on any device DLPack can describe (the engine checks which it serves)."""

    name = "torch"

    def __init__(self) -> None:
        import torch
        import torch.utils.dlpack

        self._torch = torch

    def native(self, x: Any) -> Any:
        return x

    def order_after_caller(self, x: Any) -> None:
        if x.is_cuda:
            # The engine reads GPU tensors after the work queued so far on the stream the
            # caller's PyTorch code runs on (bf_set_cuda_stream).
            lib.set_cuda_stream_address(self._torch.cuda.current_stream(x.device).cuda_stream)

    def export(self, x: Any, *, writable: bool = False) -> Any:
        self.order_after_caller(x)
        # detach(): DLPack refuses tensors that require grad; the data is the same memory.
        return self._torch.utils.dlpack.to_dlpack(x.detach())

    def empty_like(self, x: Any) -> Any:
        return self._torch.empty(x.shape, dtype=x.dtype, device=x.device)

    def from_capsule(self, capsule: Any) -> Any:
        return self._torch.utils.dlpack.from_dlpack(capsule)

    def data_ptr(self, x: Any) -> int:
        return int(x.data_ptr())


class JaxAdapter(Adapter):
    """JAX arrays are immutable: they can be inputs, and results come back as new jax.Arrays
    built over the engine's (or a NumPy) buffer without copying where JAX allows it."""

    name = "jax"
    mutable = False

    def __init__(self) -> None:
        import jax.dlpack  # pylint: disable=import-outside-toplevel

        self._from_dlpack = jax.dlpack.from_dlpack

    def native(self, x: Any) -> Any:
        return x

    def export(self, x: Any, *, writable: bool = False) -> Any:
        if writable:
            raise TypeError("JAX arrays are immutable; use the out-of-place form of this operation")
        return x.__dlpack__()

    def empty_like(self, x: Any) -> Any:
        return np.empty(x.shape, dtype=np.dtype(x.dtype))

    def export_out(self, out: Any) -> Any:
        return _NUMPY.export(out, writable=True)

    def result(self, out: Any) -> Any:
        return self._from_dlpack(out.__dlpack__())

    def from_capsule(self, capsule: Any) -> Any:
        return self._from_dlpack(capsule)

    def data_ptr(self, x: Any) -> int:
        return int(x.unsafe_buffer_pointer())


_NUMPY = Adapter()
_cache: dict = {}


def adapter_for(x: Any) -> Adapter:
    """The adapter for the caller's object ``x`` (by the module that defines its type)."""
    module = type(x).__module__.split(".", 1)[0]
    if module in ("torch", "jax", "jaxlib"):
        key = "jax" if module == "jaxlib" else module
        adapter = _cache.get(key)
        if adapter is None:
            adapter = TorchAdapter() if key == "torch" else JaxAdapter()
            _cache[key] = adapter
        return adapter
    return _NUMPY

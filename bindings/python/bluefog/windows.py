# SPDX-License-Identifier: Apache-2.0
"""One-sided windows on any mutable DLPack array (NumPy, PyTorch).

A window named ``name`` exposes one array of every rank; each rank also holds one buffer per
in-neighbor of the topology at creation. ``win_put``/``win_accumulate`` write (add) a weighted
copy of an array into the out-neighbors' buffers for this rank, ``win_get`` fills this rank's
buffers from the in-neighbors' window arrays, and ``win_update`` combines the window's array
with the buffers. The peers take no part in puts, gets and accumulates: their engine threads
serve them.

The engine borrows the window's memory until ``win_free``, so this module keeps the array (and
the DLPack capsule the engine was given) for the window's lifetime. Window arrays are updated in
place and must not be resized or replaced. JAX arrays are immutable and cannot be windows.

Names, arguments and defaults follow BlueFog's ``bluefog.torch`` window API (``bluefog.torch``
adds the torch-specific checks and BlueFog's ``neighbor_win_*`` names). Invalid arguments raise
ValueError, unknown window names KeyError (``win_free``, ``win_update``), other failures
RuntimeError, with the engine's message.
"""
from __future__ import annotations

import contextlib
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

from . import ops
from ._arrays import Adapter, adapter_for
from ._native import lib

__all__ = [
    "win_create", "win_free", "win_put", "win_put_nonblocking", "win_accumulate",
    "win_accumulate_nonblocking", "win_get", "win_get_nonblocking", "win_update",
    "win_update_then_collect", "win_wait", "win_poll", "win_mutex", "get_win_version",
    "win_associated_p", "turn_on_win_ops_with_associated_p", "turn_off_win_ops_with_associated_p",
    "get_current_created_window_names", "window_tensor", "win_lock",
]

Weights = Mapping[int, float]
DstWeights = Union[Mapping[int, float], Sequence[int]]


@dataclass
class _Window:
    caller: Any  # the caller's array: what win_update returns
    native: Any  # the array the engine works on (the caller's, or a NumPy view of it)
    capsule: Any  # the DLPack capsule the engine borrows (keeps the memory alive)
    adapter: Adapter


_lock = threading.Lock()
_windows: Dict[str, _Window] = {}


def forget_windows() -> None:
    """Drops the window records (after shutdown, which freed the engine's windows)."""
    with _lock:
        _windows.clear()


def _window(name: str) -> _Window:
    with _lock:
        window = _windows.get(name)
    if window is None:
        raise KeyError(name)
    return window


def window_tensor(name: str) -> Any:
    """The array of window ``name`` (the caller's object given to ``win_create``)."""
    return _window(name).caller


def win_create(tensor: Any, name: str, zero_init: bool = False) -> bool:
    """Creates the window ``name`` over ``tensor`` (collective: every rank passes the same name,
    shape and dtype). The neighbor buffers start as copies of this rank's ``tensor``, or zeros
    with ``zero_init``. Returns False if a window of that name exists already.

    ``tensor`` is the window's memory until ``win_free``: updates write it in place."""
    if not isinstance(name, str):
        raise ValueError(f"window name must be a str, got {type(name).__name__}")
    if not hasattr(tensor, "__dlpack__"):
        raise TypeError("a window needs an array with __dlpack__ (NumPy, PyTorch, ...), got "
                        f"{type(tensor).__name__}")
    adapter = adapter_for(tensor)
    if not adapter.mutable:
        raise TypeError(f"{adapter.name} arrays are immutable and cannot be window memory")
    with _lock:
        if name in _windows:
            return False
    native = adapter.native(tensor)
    capsule = adapter.export(native, writable=True)
    lib.bf_win_create(capsule, name, int(bool(zero_init)))
    with _lock:
        _windows[name] = _Window(tensor, native, capsule, adapter)
    return True


def win_free(name: Optional[str] = None) -> bool:
    """Frees the window ``name``, or every window if ``name`` is None (collective). Waits for
    this rank's own operations on it first. KeyError for a name with no window."""
    if name is not None:
        _window(name)  # KeyError before the collective call, as BlueFog
    lib.bf_win_free(name)
    with _lock:
        if name is None:
            _windows.clear()
        else:
            _windows.pop(name, None)
    return True


def get_current_created_window_names() -> List[str]:
    """The names of the windows that exist, sorted."""
    return sorted(lib.bf_win_names().splitlines())


# ----------------------------------------------------------------------------------------------
# put, accumulate, get


def _ranks(values: Any, what: str) -> List[int]:
    try:
        ranks = [int(r) for r in values]
    except (TypeError, ValueError) as error:
        raise ValueError(f"Argument {what} has to be a list of ranks or a dictionary map from "
                         "ranks to weights.") from error
    if len(set(ranks)) != len(ranks):
        raise ValueError(f"Argument {what} should only contain the unique ranks.")
    return ranks


def win_op_args(self_weight: Optional[float], weights: Optional[DstWeights], what: str,
                require_mutex: bool) -> dict:
    """The engine's bf_win_op_args for BlueFog's weight arguments: ``weights`` a dict rank ->
    weight, or a list of ranks (weight 1.0 each); None means every neighbor with weight 1.0."""
    args: dict = {"require_mutex": int(bool(require_mutex))}
    if self_weight is not None:
        args["self_weight"] = float(self_weight)
    if weights is not None:
        if isinstance(weights, (str, bytes)):
            raise ValueError(f"Argument {what} has to be a list of ranks or a dictionary map "
                             "from ranks to weights.")
        args["ranks"] = _ranks(list(weights), what)
        if isinstance(weights, Mapping):
            try:
                args["weights"] = [float(weights[r]) for r in weights]
            except (TypeError, ValueError) as error:
                raise ValueError(f"The values of {what} have to be numbers.") from error
    return args


def _put_start(tensor: Any, name: str, self_weight: Optional[float],
               dst_weights: Optional[DstWeights], require_mutex: bool, accumulate: bool) -> int:
    if not isinstance(name, str):
        raise ValueError(f"window name must be a str, got {type(name).__name__}")
    args = win_op_args(self_weight, dst_weights, "dst_weights", require_mutex)
    window = _windows.get(name)
    if window is not None and tensor is window.caller:
        adapter, native, capsule = window.adapter, window.native, window.capsule
        adapter.order_after_caller(native)  # (exporting does it for the other arrays)
    else:
        adapter = adapter_for(tensor)
        native = adapter.native(tensor)
        # self_weight scales the caller's tensor in place once the data has left.
        capsule = adapter.export(native, writable=self_weight is not None)
    start = lib.bf_win_accumulate_async if accumulate else lib.bf_win_put_async
    return ops.launch(lambda: start(capsule, name, args), (tensor, native, capsule),
                      lambda: True)


def win_put_nonblocking(tensor: Any, name: str, self_weight: Optional[float] = None,
                        dst_weights: Optional[DstWeights] = None,
                        require_mutex: bool = False) -> int:
    """Starts a put; see ``win_put``. Returns a handle for ``win_wait``/``win_poll``."""
    return _put_start(tensor, name, self_weight, dst_weights, require_mutex, accumulate=False)


def win_put(tensor: Any, name: str, self_weight: Optional[float] = None,
            dst_weights: Optional[DstWeights] = None, require_mutex: bool = False) -> bool:
    """Writes ``dst_weights[d] * tensor`` into out-neighbor d's buffer for this rank (replacing
    it), for every d in ``dst_weights`` (a dict rank -> weight, or a list of ranks with weight
    1.0; default: every out-neighbor, 1.0). Then ``tensor *= self_weight`` in place, if given.
    ``tensor`` has the window's shape and dtype; it may be the window's own array.
    ``require_mutex`` holds each destination's mutex for this rank while writing."""
    return win_wait(win_put_nonblocking(tensor, name, self_weight, dst_weights, require_mutex))


def win_accumulate_nonblocking(tensor: Any, name: str, self_weight: Optional[float] = None,
                               dst_weights: Optional[DstWeights] = None,
                               require_mutex: bool = False) -> int:
    """Starts an accumulate; see ``win_accumulate``."""
    return _put_start(tensor, name, self_weight, dst_weights, require_mutex, accumulate=True)


def win_accumulate(tensor: Any, name: str, self_weight: Optional[float] = None,
                   dst_weights: Optional[DstWeights] = None,
                   require_mutex: bool = False) -> bool:
    """As ``win_put``, but adds ``dst_weights[d] * tensor`` to d's buffer for this rank."""
    return win_wait(win_accumulate_nonblocking(tensor, name, self_weight, dst_weights,
                                               require_mutex))


def win_get_nonblocking(name: str, src_weights: Optional[Weights] = None,
                        require_mutex: bool = False) -> int:
    """Starts a get; see ``win_get``."""
    if not isinstance(name, str):
        raise ValueError(f"window name must be a str, got {type(name).__name__}")
    args = win_op_args(None, src_weights, "src_weights", require_mutex)
    return ops.launch(lambda: lib.bf_win_get_async(name, args), (), lambda: True)


def win_get(name: str, src_weights: Optional[Weights] = None,
            require_mutex: bool = False) -> bool:
    """Sets this rank's buffer for each in-neighbor s in ``src_weights`` (a dict rank ->
    weight, or a list of ranks with weight 1.0; default: every in-neighbor, 1.0) to
    ``src_weights[s] * (s's window array)``. ``win_update`` reads the buffers."""
    return win_wait(win_get_nonblocking(name, src_weights, require_mutex))


def win_poll(handle: int) -> bool:
    """True if the window operation of ``handle`` has completed."""
    return ops.poll(handle)


def win_wait(handle: int) -> bool:
    """Waits for the window operation of ``handle`` and releases the handle. Returns True, or
    False (with a warning) for a handle that is unknown or already waited for, as BlueFog.
    Raises the operation's error, if it failed."""
    if not ops.is_pending(handle):
        warnings.warn(f"Handle {handle} was not created or has been cleared.")
        return False
    return bool(ops.synchronize(handle))


# ----------------------------------------------------------------------------------------------
# update


def win_update(name: str, self_weight: Optional[float] = None,
               neighbor_weights: Optional[Weights] = None, reset: bool = False,
               clone: bool = False, require_mutex: bool = False) -> Any:
    """Combines the window's array with the neighbor buffers and returns the result:
    ``self_weight * x + sum_r neighbor_weights[r] * buffer[r]``. Without weights: the
    topology's weights if it was set weighted, else ``1/(in-degree+1)`` for ``x`` and every
    buffer. ``reset`` zeroes the buffers read; ``clone`` returns a new array and leaves the
    window's array untouched (otherwise the window's array is written and returned).
    ``require_mutex`` holds this rank's mutexes for the buffers read. KeyError for an unknown
    window; ValueError unless ``self_weight`` and ``neighbor_weights`` come together."""
    window = _window(name)
    if (self_weight is None) != (neighbor_weights is None):
        raise ValueError("Arguments self_weight and neighbor_weights have to be presented at "
                         "the same time")
    args: dict = {"reset": int(bool(reset)), "require_mutex": int(bool(require_mutex))}
    if self_weight is not None:
        if not isinstance(neighbor_weights, Mapping):
            raise ValueError("Argument neighbor_weights has to be a dictionary map from the "
                             "(in-)neighbor rank to the weights.")
        args.update(win_op_args(self_weight, neighbor_weights, "neighbor_weights", False))
        args["require_mutex"] = int(bool(require_mutex))
    # A GPU window's update reads its tensor behind the caller's current stream.
    window.adapter.order_after_caller(window.native)
    if not clone:
        lib.bf_win_update(name, args, None)
        return window.caller
    out = window.adapter.empty_like(window.native)
    lib.bf_win_update(name, args, window.adapter.export_out(out))
    return window.adapter.result(out)


def win_update_then_collect(name: str, require_mutex: bool = True) -> Any:
    """The push-sum collect step: ``x += sum of every buffer``, then the buffers are zeroed.
    Returns the window's array."""
    window = _window(name)
    window.adapter.order_after_caller(window.native)
    lib.bf_win_update_then_collect(name, int(bool(require_mutex)))
    return window.caller


# ----------------------------------------------------------------------------------------------
# mutexes, versions, associated p


@contextlib.contextmanager
def win_mutex(name: str, for_self: bool = False,
              ranks: Optional[Sequence[int]] = None) -> Iterator[None]:
    """Holds window mutexes for the ``with`` block: ``for_self=False``: mutex (r, this rank) at
    each rank r of ``ranks`` (the mutex guarding r's buffer for this rank, which this rank's
    puts take); ``for_self=True``: this rank's mutexes (this rank, r), which ``win_update``
    takes. ``ranks`` defaults to the out-neighbors."""
    rank_list = None if ranks is None else _ranks(ranks, "ranks")
    lib.bf_win_mutex_acquire(name, rank_list, int(bool(for_self)))
    try:
        yield
    finally:
        lib.bf_win_mutex_release(name, rank_list, int(bool(for_self)))


@contextlib.contextmanager
def win_lock(name: str) -> Iterator[None]:
    """Locks this rank's window ``name`` against its peers for the ``with`` block: their puts,
    accumulates and gets of it wait (in arrival order) and are served when the block ends, so
    their operations complete later. This rank's own window operations are not held back.
    ValueError for an unknown window or one already locked."""
    lib.bf_win_lock(name)
    try:
        yield
    finally:
        lib.bf_win_unlock(name)


def get_win_version(name: str) -> Dict[int, int]:
    """{in-neighbor: number of puts/accumulates received from it and gets done from it since
    the last win_update that read its buffer}."""
    ranks, versions = lib.bf_win_versions(name)
    return dict(zip(ranks, versions))


def win_associated_p(name: str) -> float:
    """This rank's associated p (push-sum weight) of window ``name`` (1.0 at creation)."""
    return float(lib.bf_win_associated_p(name))


def turn_on_win_ops_with_associated_p() -> None:
    """Window operations issued from now on also carry and combine the associated p."""
    lib.bf_set_win_associated_p(1)


def turn_off_win_ops_with_associated_p() -> None:
    """Window operations issued from now on leave the associated p alone (the default)."""
    lib.bf_set_win_associated_p(0)

# SPDX-License-Identifier: Apache-2.0
"""Operations on any DLPack array (NumPy, PyTorch, JAX), blocking and nonblocking.

Every operation exists as ``op(...)`` (blocking) and ``op_nonblocking(...)``, which returns an
int handle for ``poll``/``wait``/``synchronize``. In-place forms end in ``_`` and write the
caller's memory; the others return a new array of the caller's type. Until a handle is
synchronized, this module keeps the arrays (and their DLPack capsules) of its operation alive.

Names, arguments and defaults follow BlueFog's ``bluefog.torch`` API; see bluefog.torch for the
exact drop-in. Invalid arguments raise ValueError, other failures RuntimeError, with the
engine's message.
"""
from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from ._arrays import Adapter, adapter_for
from .compression import CompressionSpec, neighbor_fields
from ._native import lib, raise_status

__all__ = [
    "allreduce", "allreduce_nonblocking", "allreduce_", "allreduce_nonblocking_",
    "broadcast", "broadcast_nonblocking", "broadcast_", "broadcast_nonblocking_",
    "allgather", "allgather_nonblocking", "neighbor_allgather", "neighbor_allgather_nonblocking",
    "neighbor_allreduce", "neighbor_allreduce_nonblocking", "neighbor_allreduce_",
    "neighbor_allreduce_nonblocking_", "hierarchical_neighbor_allreduce",
    "hierarchical_neighbor_allreduce_nonblocking", "hierarchical_neighbor_allreduce_",
    "hierarchical_neighbor_allreduce_nonblocking_", "pair_gossip", "pair_gossip_nonblocking",
    "pair_gossip_", "pair_gossip_nonblocking_", "barrier", "barrier_nonblocking", "poll", "wait",
    "synchronize",
]

Weights = Mapping[int, float]
DstWeights = Union[Mapping[int, float], Sequence[int]]

# bf_wait is called in slices so that Ctrl-C reaches Python while an operation is pending.
_WAIT_SLICE_MS = 200


@dataclass
class _Pending:
    keep: tuple  # arrays and capsules the engine may still touch
    finish: Callable[[], Any]  # builds the result once the operation completed


_lock = threading.Lock()
_pending: Dict[int, _Pending] = {}


def launch(start: Callable[[], int], keep: tuple, finish: Callable[[], Any]) -> int:
    """Starts an operation (``start`` returns its handle) and records what ``synchronize``
    needs: the objects the engine may still touch and the function building the result."""
    handle = int(start())
    with _lock:
        _pending[handle] = _Pending(keep, finish)
    return handle


def forget_pending() -> None:
    """Drops the records of unsynchronized handles (after shutdown, which drained them)."""
    with _lock:
        _pending.clear()


def is_pending(handle: int) -> bool:
    """True if ``handle`` is an operation of this module not synchronized yet."""
    with _lock:
        return handle in _pending


def poll(handle: int) -> bool:
    """True if the operation of ``handle`` has completed (``synchronize`` then returns at once)."""
    with _lock:
        known = handle in _pending
    if not known:
        raise ValueError(f"Handle {handle} was not created or has been cleared.")
    return bool(lib.bf_poll(handle))


def synchronize(handle: int) -> Any:
    """Waits for the operation of ``handle`` and returns its result (the output array; the
    caller's own array for in-place operations; None for barrier). Releases the handle.
    Raises the operation's error, if it failed."""
    with _lock:
        record = _pending.get(handle)
    if record is None:
        raise ValueError("Cannot find handle to synchronize")
    status = lib.bf_wait(handle, _WAIT_SLICE_MS)
    while status == lib.BF_ERR_TIMEOUT:
        status = lib.bf_wait(handle, _WAIT_SLICE_MS)
    message = lib.bf_last_error() if status != lib.BF_OK else ""
    lib.bf_handle_free(handle)
    with _lock:
        _pending.pop(handle, None)
    if status != lib.BF_OK:
        raise_status(status, message)
    return record.finish()


wait = synchronize


def _op_args(name: Optional[str]) -> Optional[dict]:
    return None if name is None else {"name": str(name)}


class _Operands:
    """The caller's array, its native form and capsules for an out-of-place or in-place op."""

    def __init__(self, tensor: Any, *, inplace: bool = False) -> None:
        if inplace and not hasattr(tensor, "__dlpack__"):
            raise TypeError("in-place operations write the caller's memory and need an array "
                            f"with __dlpack__ (NumPy, PyTorch, ...), got {type(tensor).__name__}")
        self.caller = tensor
        self.adapter: Adapter = adapter_for(tensor)
        self.x = self.adapter.native(tensor)
        self.cin = self.adapter.export(self.x, writable=inplace)
        if inplace:
            self.out = self.x
            self.cout = self.cin
        else:
            self.out = self.adapter.empty_like(self.x)
            self.cout = self.adapter.export_out(self.out)

    def keep(self) -> tuple:
        return (self.caller, self.x, self.out, self.cin, self.cout)

    def result(self) -> Any:
        if self.cout is self.cin:
            return self.caller
        return self.adapter.result(self.out)


# ----------------------------------------------------------------------------------------------
# allreduce


def _allreduce_args(average: bool, is_hierarchical_local: bool, name: Optional[str]) -> dict:
    args = {"op": lib.BF_REDUCE_AVERAGE if average else lib.BF_REDUCE_SUM,
            "machine_local": int(bool(is_hierarchical_local))}
    if name is not None:
        args["name"] = str(name)
    return args


def _allreduce_start(ops: _Operands, average: bool, is_hierarchical_local: bool,
                     name: Optional[str]) -> int:
    args = _allreduce_args(average, is_hierarchical_local, name)
    return launch(lambda: lib.bf_allreduce_async(ops.cin, ops.cout, args), ops.keep(),
                   ops.result)


def allreduce_nonblocking(tensor: Any, average: bool = True, is_hierarchical_local: bool = False,
                          name: Optional[str] = None) -> int:
    """Starts an allreduce (sum, or average over ranks; over this machine's ranks with
    ``is_hierarchical_local``); ``synchronize`` returns a new array."""
    return _allreduce_start(_Operands(tensor), average, is_hierarchical_local, name)


def allreduce(tensor: Any, average: bool = True, is_hierarchical_local: bool = False,
              name: Optional[str] = None) -> Any:
    """Sum or average of ``tensor`` over all ranks (a new array; the input is untouched)."""
    return synchronize(allreduce_nonblocking(tensor, average, is_hierarchical_local, name))


def allreduce_nonblocking_(tensor: Any, average: bool = True, is_hierarchical_local: bool = False,
                           name: Optional[str] = None) -> int:
    """In-place ``allreduce_nonblocking``."""
    return _allreduce_start(_Operands(tensor, inplace=True), average, is_hierarchical_local, name)


def allreduce_(tensor: Any, average: bool = True, is_hierarchical_local: bool = False,
               name: Optional[str] = None) -> Any:
    """In-place ``allreduce``: writes ``tensor`` and returns it."""
    return synchronize(allreduce_nonblocking_(tensor, average, is_hierarchical_local, name))


# ----------------------------------------------------------------------------------------------
# broadcast


def _broadcast_start(ops: _Operands, root_rank: int, name: Optional[str]) -> int:
    args = _op_args(name)
    return launch(lambda: lib.bf_broadcast_async(ops.cin, ops.cout, int(root_rank), args),
                   ops.keep(), ops.result)


def broadcast_nonblocking(tensor: Any, root_rank: int, name: Optional[str] = None) -> int:
    """Starts a broadcast of ``root_rank``'s tensor; ``synchronize`` returns a new array."""
    return _broadcast_start(_Operands(tensor), root_rank, name)


def broadcast(tensor: Any, root_rank: int, name: Optional[str] = None) -> Any:
    """``root_rank``'s tensor on every rank, as a new array."""
    return synchronize(broadcast_nonblocking(tensor, root_rank, name))


def broadcast_nonblocking_(tensor: Any, root_rank: int, name: Optional[str] = None) -> int:
    """In-place ``broadcast_nonblocking``."""
    return _broadcast_start(_Operands(tensor, inplace=True), root_rank, name)


def broadcast_(tensor: Any, root_rank: int, name: Optional[str] = None) -> Any:
    """In-place broadcast: ``tensor`` receives ``root_rank``'s values and is returned."""
    return synchronize(broadcast_nonblocking_(tensor, root_rank, name))


# ----------------------------------------------------------------------------------------------
# gathers (engine-allocated results)


def _gather_start(tensor: Any, call: Callable[[Any, Any], int]) -> int:
    adapter = adapter_for(tensor)
    x = adapter.native(tensor)
    capsule = adapter.export(x)
    slot = lib.managed_slot_new()

    def finish() -> Any:
        return adapter.from_capsule(lib.managed_slot_take(slot))

    return launch(lambda: call(capsule, slot), (tensor, x, capsule, slot), finish)


def allgather_nonblocking(tensor: Any, name: Optional[str] = None) -> int:
    """Starts an allgather; ``synchronize`` returns the concatenation along dim 0 in rank order
    (first dimensions may differ between ranks)."""
    args = _op_args(name)
    return _gather_start(tensor, lambda c, slot: lib.bf_allgather_async(c, slot, args))


def allgather(tensor: Any, name: Optional[str] = None) -> Any:
    """Concatenation of every rank's tensor along dim 0, in rank order."""
    return synchronize(allgather_nonblocking(tensor, name))


def _ranks(values: Sequence[int], what: str) -> List[int]:
    try:
        return [int(r) for r in values]
    except TypeError as error:
        raise ValueError(f"Argument {what} has to be a list of ranks.") from error


def neighbor_allgather_nonblocking(tensor: Any, *, src_ranks: Optional[Sequence[int]] = None,
                                   dst_ranks: Optional[Sequence[int]] = None,
                                   enable_topo_check: bool = True,
                                   name: Optional[str] = None) -> int:
    """Starts a neighbor_allgather; see ``neighbor_allgather``."""
    if (src_ranks is None) != (dst_ranks is None):
        raise ValueError("Argument dst_ranks and src_ranks have to be presented at the same time")
    args: dict = {}
    if name is not None:
        args["name"] = str(name)
    if src_ranks is not None:
        args.update(dynamic=1, src_ranks=_ranks(src_ranks, "src_ranks"),
                    dst_ranks=_ranks(dst_ranks, "dst_ranks"),  # type: ignore[arg-type]
                    check_topology=int(bool(enable_topo_check)))
    return _gather_start(tensor, lambda c, slot: lib.bf_neighbor_allgather_async(c, slot, args))


def neighbor_allgather(tensor: Any, *, src_ranks: Optional[Sequence[int]] = None,
                       dst_ranks: Optional[Sequence[int]] = None, enable_topo_check: bool = True,
                       name: Optional[str] = None) -> Any:
    """Concatenation along dim 0 of the in-neighbors' tensors (self not included): in ascending
    rank order for the topology's in-neighbors, or in ``src_ranks`` order when this call gives
    its own ``src_ranks`` and ``dst_ranks`` (both required). ``enable_topo_check`` verifies
    globally that the given lists match."""
    return synchronize(neighbor_allgather_nonblocking(
        tensor, src_ranks=src_ranks, dst_ranks=dst_ranks, enable_topo_check=enable_topo_check,
        name=name))


# ----------------------------------------------------------------------------------------------
# neighbor_allreduce


def neighbor_args(self_weight: Optional[float], src_weights: Optional[Weights],
                  dst_weights: Optional[DstWeights], enable_topo_check: bool,
                  name: Optional[str], compression: CompressionSpec = None) -> dict:
    """The engine's neighbor arguments for BlueFog's weight arguments, with BlueFog's checks."""
    if (self_weight is None) != (src_weights is None):
        raise ValueError("Arguments self_weight and src_weights have to be presented at "
                         "the same time")
    args: dict = neighbor_fields(compression)
    if name is not None:
        args["name"] = str(name)
    if dst_weights is not None:
        dst_ranks = _ranks(list(dst_weights), "dst_weights")
        if len(set(dst_ranks)) != len(dst_ranks):
            raise ValueError("Argument dst_weights should only contain the unique ranks.")
        if self_weight is None:
            raise ValueError("Arguments self_weight and src_weights should be presented if "
                             "enabling dynamic topology.")
        args.update(dynamic=1, dst_ranks=dst_ranks, check_topology=int(bool(enable_topo_check)))
        if isinstance(dst_weights, Mapping):
            args["dst_weights"] = [float(dst_weights[r]) for r in dst_weights]
    if self_weight is not None:
        if not isinstance(src_weights, Mapping):
            raise ValueError("Argument src_weights has to be a dictionary map from the "
                             "(in-)neighbor rank to the weights.")
        args.update(has_weights=1, self_weight=float(self_weight),
                    src_ranks=_ranks(list(src_weights), "src_weights"),
                    src_weights=[float(src_weights[r]) for r in src_weights])
    return args


def _neighbor_allreduce_start(ops: _Operands, args: dict) -> int:
    return launch(lambda: lib.bf_neighbor_allreduce_async(ops.cin, ops.cout, args), ops.keep(),
                   ops.result)


def neighbor_allreduce_nonblocking(tensor: Any, *, self_weight: Optional[float] = None,
                                   src_weights: Optional[Weights] = None,
                                   dst_weights: Optional[DstWeights] = None,
                                   enable_topo_check: bool = True,
                                   name: Optional[str] = None,
                                   compression: CompressionSpec = None) -> int:
    """Starts a neighbor_allreduce; see ``neighbor_allreduce``."""
    args = neighbor_args(self_weight, src_weights, dst_weights, enable_topo_check, name,
                         compression)
    return _neighbor_allreduce_start(_Operands(tensor), args)


def neighbor_allreduce(tensor: Any, *, self_weight: Optional[float] = None,
                       src_weights: Optional[Weights] = None,
                       dst_weights: Optional[DstWeights] = None, enable_topo_check: bool = True,
                       name: Optional[str] = None, compression: CompressionSpec = None) -> Any:
    """Weighted average with neighbors, as a new array:
    ``self_weight * x_i + sum_j src_weights[j] * dst_weight_j[i] * x_j``.

    Static (no ``dst_weights``): the topology's in-neighbors, with its weights (weighted
    topology) or uniform ``1/(in-degree+1)``, unless ``self_weight`` and ``src_weights`` (a dict
    over in-neighbors; those left out weigh 0) are given. Dynamic (``dst_weights`` given: a list
    of ranks, or a dict rank -> scaling applied at the sender): ``self_weight`` and
    ``src_weights`` are required and may name any ranks; ``enable_topo_check`` verifies
    globally that senders and receivers agree. ``compression`` (see ``bluefog.Compression``)
    encodes what this rank sends; lossy modes keep error feedback per ``name``."""
    return synchronize(neighbor_allreduce_nonblocking(
        tensor, self_weight=self_weight, src_weights=src_weights, dst_weights=dst_weights,
        enable_topo_check=enable_topo_check, name=name, compression=compression))


def neighbor_allreduce_nonblocking_(tensor: Any, *, self_weight: Optional[float] = None,
                                    src_weights: Optional[Weights] = None,
                                    dst_weights: Optional[DstWeights] = None,
                                    enable_topo_check: bool = True,
                                    name: Optional[str] = None,
                                    compression: CompressionSpec = None) -> int:
    """In-place ``neighbor_allreduce_nonblocking``."""
    args = neighbor_args(self_weight, src_weights, dst_weights, enable_topo_check, name,
                         compression)
    return _neighbor_allreduce_start(_Operands(tensor, inplace=True), args)


def neighbor_allreduce_(tensor: Any, *, self_weight: Optional[float] = None,
                        src_weights: Optional[Weights] = None,
                        dst_weights: Optional[DstWeights] = None, enable_topo_check: bool = True,
                        name: Optional[str] = None, compression: CompressionSpec = None) -> Any:
    """In-place ``neighbor_allreduce``: writes ``tensor`` and returns it."""
    return synchronize(neighbor_allreduce_nonblocking_(
        tensor, self_weight=self_weight, src_weights=src_weights, dst_weights=dst_weights,
        enable_topo_check=enable_topo_check, name=name, compression=compression))


# ----------------------------------------------------------------------------------------------
# hierarchical_neighbor_allreduce


def hierarchical_args(self_weight: Optional[float], src_machine_weights: Optional[Weights],
                      dst_machine_weights: Optional[DstWeights], enable_topo_check: bool,
                      name: Optional[str], compression: CompressionSpec = None) -> dict:
    """Engine arguments for hierarchical_neighbor_allreduce (machine ids in place of ranks)."""
    if enable_topo_check:
        warnings.warn("enable_topo_check is not supported by hierarchical_neighbor_allreduce "
                      "and is ignored")
    if (self_weight is None) != (src_machine_weights is None):
        raise ValueError("Arguments self_weight and src_machine_weights have to be presented at "
                         "the same time")
    args = neighbor_args(self_weight, src_machine_weights, dst_machine_weights, False, name,
                         compression)
    args.pop("check_topology", None)
    return args


def _hierarchical_start(ops: _Operands, args: dict) -> int:
    return launch(lambda: lib.bf_hierarchical_neighbor_allreduce_async(ops.cin, ops.cout, args),
                   ops.keep(), ops.result)


def hierarchical_neighbor_allreduce_nonblocking(
        tensor: Any, *, self_weight: Optional[float] = None,
        src_machine_weights: Optional[Weights] = None,
        dst_machine_weights: Optional[DstWeights] = None, enable_topo_check: bool = False,
        name: Optional[str] = None, compression: CompressionSpec = None) -> int:
    """Starts a hierarchical_neighbor_allreduce; see ``hierarchical_neighbor_allreduce``."""
    args = hierarchical_args(self_weight, src_machine_weights, dst_machine_weights,
                             enable_topo_check, name, compression)
    return _hierarchical_start(_Operands(tensor), args)


def hierarchical_neighbor_allreduce(
        tensor: Any, *, self_weight: Optional[float] = None,
        src_machine_weights: Optional[Weights] = None,
        dst_machine_weights: Optional[DstWeights] = None, enable_topo_check: bool = False,
        name: Optional[str] = None, compression: CompressionSpec = None) -> Any:
    """neighbor_allreduce between machines, as a new array: the tensor is summed within each
    machine, machine sums are combined over the machine topology (or the given machine ids and
    weights, as in neighbor_allreduce), and every rank gets the result divided by
    ``local_size()``. Needs a homogeneous layout."""
    return synchronize(hierarchical_neighbor_allreduce_nonblocking(
        tensor, self_weight=self_weight, src_machine_weights=src_machine_weights,
        dst_machine_weights=dst_machine_weights, enable_topo_check=enable_topo_check, name=name,
        compression=compression))


def hierarchical_neighbor_allreduce_nonblocking_(
        tensor: Any, *, self_weight: Optional[float] = None,
        src_machine_weights: Optional[Weights] = None,
        dst_machine_weights: Optional[DstWeights] = None, enable_topo_check: bool = False,
        name: Optional[str] = None, compression: CompressionSpec = None) -> int:
    """In-place ``hierarchical_neighbor_allreduce_nonblocking``."""
    args = hierarchical_args(self_weight, src_machine_weights, dst_machine_weights,
                             enable_topo_check, name, compression)
    return _hierarchical_start(_Operands(tensor, inplace=True), args)


def hierarchical_neighbor_allreduce_(
        tensor: Any, *, self_weight: Optional[float] = None,
        src_machine_weights: Optional[Weights] = None,
        dst_machine_weights: Optional[DstWeights] = None, enable_topo_check: bool = False,
        name: Optional[str] = None, compression: CompressionSpec = None) -> Any:
    """In-place ``hierarchical_neighbor_allreduce``."""
    return synchronize(hierarchical_neighbor_allreduce_nonblocking_(
        tensor, self_weight=self_weight, src_machine_weights=src_machine_weights,
        dst_machine_weights=dst_machine_weights, enable_topo_check=enable_topo_check, name=name,
        compression=compression))


# ----------------------------------------------------------------------------------------------
# pair_gossip, barrier


def _pair_weights(self_weight: Optional[float], pair_weight: Optional[float]) -> tuple:
    if (self_weight is None) != (pair_weight is None):
        raise ValueError("self_weight and pair_weight have to be set at same time.")
    if self_weight is None:
        return 0.5, 0.5
    return float(self_weight), float(pair_weight)  # type: ignore[arg-type]


def _pair_gossip_start(ops: _Operands, target_rank: int, self_weight: Optional[float],
                       pair_weight: Optional[float], name: Optional[str]) -> int:
    weights = _pair_weights(self_weight, pair_weight)
    args = _op_args(name)
    return launch(
        lambda: lib.bf_pair_gossip_async(ops.cin, ops.cout, int(target_rank), *weights, args),
        ops.keep(), ops.result)


def pair_gossip_nonblocking(tensor: Any, target_rank: int, self_weight: Optional[float] = None,
                            pair_weight: Optional[float] = None,
                            name: Optional[str] = None) -> int:
    """Starts a pair_gossip; see ``pair_gossip``."""
    return _pair_gossip_start(_Operands(tensor), target_rank, self_weight, pair_weight, name)


def pair_gossip(tensor: Any, target_rank: int, self_weight: Optional[float] = None,
                pair_weight: Optional[float] = None, name: Optional[str] = None) -> Any:
    """``self_weight * x + pair_weight * (target's x)`` (default 0.5 and 0.5), as a new array.
    ``target_rank`` must call it with this rank as its target at the same time."""
    return synchronize(pair_gossip_nonblocking(tensor, target_rank, self_weight, pair_weight,
                                               name))


def pair_gossip_nonblocking_(tensor: Any, target_rank: int, self_weight: Optional[float] = None,
                             pair_weight: Optional[float] = None,
                             name: Optional[str] = None) -> int:
    """In-place ``pair_gossip_nonblocking``."""
    return _pair_gossip_start(_Operands(tensor, inplace=True), target_rank, self_weight,
                              pair_weight, name)


def pair_gossip_(tensor: Any, target_rank: int, self_weight: Optional[float] = None,
                 pair_weight: Optional[float] = None, name: Optional[str] = None) -> Any:
    """In-place ``pair_gossip``."""
    return synchronize(pair_gossip_nonblocking_(tensor, target_rank, self_weight, pair_weight,
                                                name))


def barrier_nonblocking() -> int:
    """Starts a barrier; ``synchronize`` returns None once every rank has entered it."""
    return launch(lib.bf_barrier_async, (), lambda: None)


def barrier() -> None:
    """Returns once every rank has entered the barrier."""
    synchronize(barrier_nonblocking())

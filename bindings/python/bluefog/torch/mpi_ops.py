# SPDX-License-Identifier: Apache-2.0
"""BlueFog's ``bluefog.torch.mpi_ops`` on the BlueFog-C engine: the same functions, arguments,
defaults and errors, for ``torch.Tensor``.

The generic ``bluefog.ops`` does the work; this module adds what BlueFog's PyTorch front end
checked itself (tensor types, contiguity, argument types, deprecated keyword arguments) and
reports mismatches between ranks as ValueError, as BlueFog did.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Optional, TypeVar, Union

import torch

from .. import basics, ops
from ..windows import win_lock  # noqa: F401  (BlueFog kept win_lock in mpi_ops)
from ..compression import CompressionSpec
from .._native import lib

__all__ = [
    "allreduce", "allreduce_nonblocking", "allreduce_", "allreduce_nonblocking_", "allgather",
    "allgather_nonblocking", "broadcast", "broadcast_nonblocking", "broadcast_",
    "broadcast_nonblocking_", "neighbor_allgather", "neighbor_allgather_nonblocking",
    "neighbor_allreduce", "neighbor_allreduce_nonblocking", "hierarchical_neighbor_allreduce",
    "hierarchical_neighbor_allreduce_nonblocking", "pair_gossip", "pair_gossip_nonblocking",
    "poll", "synchronize", "wait", "barrier", "deprecated_function_arg", "is_topo_weighted",
]

F = TypeVar("F", bound=Callable[..., Any])

# dtypes the engine handles, per kind of operation.
_INTEGER = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
_FLOAT = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_ANY_DTYPE = _INTEGER + _FLOAT


def deprecated_function_arg(arg_name: str, fix: str) -> Callable[[F], F]:
    """Makes ``func`` raise TypeError when called with the removed keyword ``arg_name``."""

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if arg_name in kwargs:
                raise TypeError(f"{arg_name} is deprecated in {func.__name__}: {fix}")
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def _check_tensor(tensor: Any, dtypes: tuple = _ANY_DTYPE) -> None:
    if not isinstance(tensor, torch.Tensor) or tensor.dtype not in dtypes:
        type_name = tensor.type() if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise ValueError(f"Tensor type {type_name} is not supported.")
    if not tensor.is_contiguous():
        raise ValueError("Tensor is required to be contiguous.")


def is_topo_weighted() -> bool:
    """Whether static neighbor_allreduce uses the topology's weights."""
    return basics.is_topo_weighted()


# ----------------------------------------------------------------------------------------------
# handles


def poll(handle: int) -> bool:
    """True if the nonblocking operation of ``handle`` has completed."""
    return ops.poll(handle)


def synchronize(handle: int) -> Any:
    """Waits for ``handle`` and returns its output tensor. A mismatch between ranks raises
    ValueError (as BlueFog's negotiation did); other failures RuntimeError."""
    try:
        return ops.synchronize(handle)
    except RuntimeError as error:
        if getattr(error, "status", None) == lib.BF_ERR_MISMATCH:
            raise ValueError(str(error)) from error
        raise


wait = synchronize


# ----------------------------------------------------------------------------------------------
# collectives


def allreduce_nonblocking(tensor: torch.Tensor, average: bool = True,
                          is_hierarchical_local: bool = False, name: Optional[str] = None) -> int:
    """Starts an averaging (or summing) allreduce; returns a handle for ``synchronize``, which
    returns a new tensor. ``is_hierarchical_local`` reduces over this machine's ranks only."""
    _check_tensor(tensor)
    return ops.allreduce_nonblocking(tensor, average, is_hierarchical_local, name)


def allreduce(tensor: torch.Tensor, average: bool = True, is_hierarchical_local: bool = False,
              name: Optional[str] = None) -> torch.Tensor:
    """Average (or sum) of ``tensor`` over all ranks, as a new tensor."""
    return synchronize(allreduce_nonblocking(tensor, average, is_hierarchical_local, name))


def allreduce_nonblocking_(tensor: torch.Tensor, average: bool = True,
                           is_hierarchical_local: bool = False, name: Optional[str] = None) -> int:
    """In-place ``allreduce_nonblocking``."""
    _check_tensor(tensor)
    return ops.allreduce_nonblocking_(tensor, average, is_hierarchical_local, name)


def allreduce_(tensor: torch.Tensor, average: bool = True, is_hierarchical_local: bool = False,
               name: Optional[str] = None) -> torch.Tensor:
    """In-place ``allreduce``."""
    return synchronize(allreduce_nonblocking_(tensor, average, is_hierarchical_local, name))


def broadcast_nonblocking(tensor: torch.Tensor, root_rank: int,
                          name: Optional[str] = None) -> int:
    """Starts a broadcast from ``root_rank``; ``synchronize`` returns a new tensor."""
    _check_tensor(tensor)
    return ops.broadcast_nonblocking(tensor, root_rank, name)


def broadcast(tensor: torch.Tensor, root_rank: int, name: Optional[str] = None) -> torch.Tensor:
    """``root_rank``'s tensor, as a new tensor on every rank."""
    return synchronize(broadcast_nonblocking(tensor, root_rank, name))


def broadcast_nonblocking_(tensor: torch.Tensor, root_rank: int,
                           name: Optional[str] = None) -> int:
    """In-place ``broadcast_nonblocking``."""
    _check_tensor(tensor)
    return ops.broadcast_nonblocking_(tensor, root_rank, name)


def broadcast_(tensor: torch.Tensor, root_rank: int, name: Optional[str] = None) -> torch.Tensor:
    """In-place ``broadcast``."""
    return synchronize(broadcast_nonblocking_(tensor, root_rank, name))


def allgather_nonblocking(tensor: torch.Tensor, name: Optional[str] = None) -> int:
    """Starts an allgather; ``synchronize`` returns the concatenation along dim 0."""
    _check_tensor(tensor)
    return ops.allgather_nonblocking(tensor, name)


def allgather(tensor: torch.Tensor, name: Optional[str] = None) -> torch.Tensor:
    """Every rank's tensor concatenated along dim 0 in rank order (first dims may differ)."""
    return synchronize(allgather_nonblocking(tensor, name))


def neighbor_allgather_nonblocking(tensor: torch.Tensor, *,
                                   src_ranks: Optional[List[int]] = None,
                                   dst_ranks: Optional[List[int]] = None,
                                   enable_topo_check: bool = True,
                                   name: Optional[str] = None) -> int:
    """Starts a neighbor_allgather; see ``neighbor_allgather``."""
    _check_tensor(tensor)
    return ops.neighbor_allgather_nonblocking(tensor, src_ranks=src_ranks, dst_ranks=dst_ranks,
                                              enable_topo_check=enable_topo_check, name=name)


def neighbor_allgather(tensor: torch.Tensor, *, src_ranks: Optional[List[int]] = None,
                       dst_ranks: Optional[List[int]] = None, enable_topo_check: bool = True,
                       name: Optional[str] = None) -> torch.Tensor:
    """The in-neighbors' tensors concatenated along dim 0 (ascending rank order, or
    ``src_ranks`` order when ``src_ranks`` and ``dst_ranks`` are given together)."""
    return synchronize(neighbor_allgather_nonblocking(
        tensor, src_ranks=src_ranks, dst_ranks=dst_ranks, enable_topo_check=enable_topo_check,
        name=name))


def _check_neighbor_allreduce_args(self_weight: Optional[float],
                                   src_weights: Optional[Dict[int, float]],
                                   dst_weights: Union[Dict[int, float], List[int], None]) -> None:
    # BlueFog's checks, in its order and with its messages (bluefog.ops repeats the shared ones).
    if (self_weight is None) != (src_weights is None):
        raise ValueError("Arguments self_weight and src_weights have to be presented at "
                         "the same time")
    if dst_weights is not None:
        if len(set(dst_weights)) != len(dst_weights):
            raise ValueError("Argument dst_weights should only contain the unique ranks.")
        if self_weight is None:
            raise ValueError("Arguments self_weight and src_weights should be presented if "
                             "enabling dynamic topology.")
    if self_weight is not None:
        if not isinstance(src_weights, dict):
            raise ValueError("Argument src_weights has to be a dictionary map from the "
                             "(in-)neighbor rank to the weights.")
        if not isinstance(self_weight, float):
            raise ValueError("Argument self_weight has to be a float for self rank.")
        if dst_weights is None and not set(src_weights).issubset(basics.in_neighbor_ranks()):
            raise ValueError("The key of weights should only contain the ranks that belong to "
                             " in-neighbors and self rank.")


@deprecated_function_arg("neighbor_weights", fix="Use src_weights instead")
@deprecated_function_arg("send_neighbors", fix="Use dst_weights instead")
def neighbor_allreduce_nonblocking(tensor: torch.Tensor, *, self_weight: Optional[float] = None,
                                   src_weights: Optional[Dict[int, float]] = None,
                                   dst_weights: Union[Dict[int, float], List[int], None] = None,
                                   enable_topo_check: bool = True,
                                   name: Optional[str] = None,
                                   compression: CompressionSpec = None) -> int:
    """Starts a neighbor_allreduce; see ``neighbor_allreduce``."""
    _check_tensor(tensor, _FLOAT)
    _check_neighbor_allreduce_args(self_weight, src_weights, dst_weights)
    return ops.neighbor_allreduce_nonblocking(
        tensor, self_weight=self_weight, src_weights=src_weights, dst_weights=dst_weights,
        enable_topo_check=enable_topo_check, name=name, compression=compression)


@deprecated_function_arg("neighbor_weights", fix="Use src_weights instead")
@deprecated_function_arg("send_neighbors", fix="Use dst_weights instead")
def neighbor_allreduce(tensor: torch.Tensor, *, self_weight: Optional[float] = None,
                       src_weights: Optional[Dict[int, float]] = None,
                       dst_weights: Union[Dict[int, float], List[int], None] = None,
                       enable_topo_check: bool = True,
                       name: Optional[str] = None,
                       compression: CompressionSpec = None) -> torch.Tensor:
    """Weighted average with neighbors, as a new tensor:
    ``self_weight * x_i + sum_j src_weights[j] * dst_weight_j[i] * x_j``.

    Static (``dst_weights`` None): the topology's in-neighbors with its weights (weighted
    topology) or ``1/(in-degree+1)``, unless ``self_weight`` and ``src_weights`` are given (keys
    must be in-neighbors). Dynamic (``dst_weights`` a list of ranks or a dict rank -> weight
    applied by the sender): ``self_weight`` and ``src_weights`` are required; sources may be any
    ranks; ``enable_topo_check`` verifies senders and receivers agree (one allgather).
    ``compression`` ("bf16", "fp16", "int8", "topk" or a ``bluefog.Compression``; new in
    BlueFog-C) encodes what this rank sends, with error feedback kept per ``name``."""
    return synchronize(neighbor_allreduce_nonblocking(
        tensor, self_weight=self_weight, src_weights=src_weights, dst_weights=dst_weights,
        enable_topo_check=enable_topo_check, name=name, compression=compression))


def _check_hierarchical_args(self_weight: Optional[float],
                             src_machine_weights: Optional[Dict[int, float]],
                             dst_machine_weights: Union[Dict[int, float], List[int], None]) -> None:
    # BlueFog's checks and messages: all three weight arguments or none.
    assert basics.local_size() > 1, \
        "If local size is 1, you should use neighbor allreduce directly."
    given = [w is not None for w in (self_weight, src_machine_weights, dst_machine_weights)]
    if not any(given):
        if basics.load_machine_topology() is None:
            raise RuntimeError("Machine topology must be set before the use of hierarchical "
                               "neighbor allreduce")
        return
    if not all(given):
        raise ValueError("Arguments self_weight, src_machine_weights, dst_machine_weights have to "
                         "be presented at the same time.")
    if not isinstance(src_machine_weights, dict):
        raise ValueError("Argument src_machine_weights has to be a dictionary map from the "
                         "(in-)neighbor machine rank to the weights.")
    if not isinstance(self_weight, float):
        raise ValueError("Argument self_weight has to be a float for self rank.")
    if len(set(dst_machine_weights)) != len(dst_machine_weights):  # type: ignore[arg-type]
        raise ValueError("Argument dst_machine_weights should only contain the unique ranks.")
    if not set(src_machine_weights).issubset(basics.in_neighbor_machine_ranks()):
        raise ValueError("The key of src_machine_weights should only contain the machine ranks "
                         "that belong to in-neighbors of the machine topology.")
    if not set(dst_machine_weights).issubset(  # type: ignore[arg-type]
            basics.out_neighbor_machine_ranks()):
        raise ValueError("The key of dst_machine_weights should only contain the machine ranks "
                         "that belong to out-neighbors of the machine topology.")


@deprecated_function_arg("neighbor_machine_weights", fix="Use src_machine_weights instead")
@deprecated_function_arg("send_neighbor_machines", fix="Use dst_machine_weights instead")
def hierarchical_neighbor_allreduce_nonblocking(
        tensor: torch.Tensor, *, self_weight: Optional[float] = None,
        src_machine_weights: Optional[Dict[int, float]] = None,
        dst_machine_weights: Union[Dict[int, float], List[int], None] = None,
        enable_topo_check: bool = False, name: Optional[str] = None,
        compression: CompressionSpec = None) -> int:
    """Starts a hierarchical_neighbor_allreduce; see ``hierarchical_neighbor_allreduce``."""
    _check_tensor(tensor, _FLOAT)
    _check_hierarchical_args(self_weight, src_machine_weights, dst_machine_weights)
    return ops.hierarchical_neighbor_allreduce_nonblocking(
        tensor, self_weight=self_weight, src_machine_weights=src_machine_weights,
        dst_machine_weights=dst_machine_weights, enable_topo_check=enable_topo_check, name=name,
        compression=compression)


@deprecated_function_arg("neighbor_machine_weights", fix="Use src_machine_weights instead")
@deprecated_function_arg("send_neighbor_machines", fix="Use dst_machine_weights instead")
def hierarchical_neighbor_allreduce(
        tensor: torch.Tensor, *, self_weight: Optional[float] = None,
        src_machine_weights: Optional[Dict[int, float]] = None,
        dst_machine_weights: Union[Dict[int, float], List[int], None] = None,
        enable_topo_check: bool = False, name: Optional[str] = None,
        compression: CompressionSpec = None) -> torch.Tensor:
    """neighbor_allreduce between machines, as a new tensor: sum within each machine, combine
    the machine sums between machines (static: the machine topology with its weights or uniform
    ones; dynamic: all three weight arguments, machine ids in the machine topology), divide by
    ``local_size()``:
    ``x^+ = (self_weight * S_m + sum_j src_w[j] * dst_w_j[m] * S_j) / local_size``."""
    return synchronize(hierarchical_neighbor_allreduce_nonblocking(
        tensor, self_weight=self_weight, src_machine_weights=src_machine_weights,
        dst_machine_weights=dst_machine_weights, enable_topo_check=enable_topo_check, name=name,
        compression=compression))


def pair_gossip_nonblocking(tensor: torch.Tensor, target_rank: int,
                            self_weight: Optional[float] = None,
                            pair_weight: Optional[float] = None,
                            name: Optional[str] = None) -> int:
    """Starts a pair_gossip; see ``pair_gossip``."""
    _check_tensor(tensor, _FLOAT)
    return ops.pair_gossip_nonblocking(tensor, target_rank, self_weight, pair_weight, name)


def pair_gossip(tensor: torch.Tensor, target_rank: int, self_weight: Optional[float] = None,
                pair_weight: Optional[float] = None, name: Optional[str] = None) -> torch.Tensor:
    """``self_weight * x + pair_weight * (target's x)``, default ``(x + y) / 2``. Both ranks call
    it with each other as target. (BlueFog required skip-negotiate mode; BlueFog-C's ordered
    matching always allows it.)"""
    return synchronize(pair_gossip_nonblocking(tensor, target_rank, self_weight, pair_weight,
                                               name))


def barrier() -> None:
    """Returns once every rank has entered the barrier."""
    ops.barrier()


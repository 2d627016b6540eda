# SPDX-License-Identifier: Apache-2.0
"""Model and optimizer-state helpers (BlueFog's ``bluefog.torch.utility``).

Unlike the original, ``broadcast_optimizer_state`` handles options whose value is None or not a
number (e.g. ``foreach=None``, ``betas=(0.9, 0.999)``, ``maximize=False``) and has no
``collections.Iterable`` use, so it works on Python >= 3.10 with current PyTorch optimizers.
"""
from __future__ import annotations

import numbers
from typing import Any, Dict, Iterable, List, Tuple, Union

import torch

from . import mpi_ops

__all__ = ["broadcast_parameters", "allreduce_parameters", "broadcast_optimizer_state"]

Params = Union[Dict[str, torch.Tensor], Iterable[torch.Tensor],
               Iterable[Tuple[str, torch.Tensor]]]


def _named_tensors(params: Params) -> List[Tuple[Any, torch.Tensor]]:
    """``(name, tensor)`` pairs (name None for a bare tensor); dicts in sorted key order."""
    if isinstance(params, dict):
        return sorted(params.items())
    if not isinstance(params, (list, tuple)) and not hasattr(params, "__next__"):
        raise ValueError(f"invalid params of type: {type(params)}")
    named = []
    for item in params:
        if isinstance(item, tuple) and len(item) == 2 and torch.is_tensor(item[1]):
            named.append((item[0], item[1]))
        elif torch.is_tensor(item):
            named.append((None, item))
        else:
            raise ValueError(f"invalid params of type: {type(params)}")
    return named


def broadcast_parameters(params: Params, root_rank: int) -> None:
    """Copies ``root_rank``'s tensors into every rank's, in place: ``model.state_dict()``,
    ``model.named_parameters()`` or a list of tensors (collective, same order on every rank)."""
    handles = [mpi_ops.broadcast_nonblocking_(tensor.data, root_rank, name)
               for name, tensor in _named_tensors(params)]
    for handle in handles:
        mpi_ops.synchronize(handle)


def allreduce_parameters(params: Params) -> None:
    """Averages the tensors over all ranks, in place (collective)."""
    handles = [mpi_ops.allreduce_nonblocking_(tensor.data, average=True, name=name)
               for name, tensor in _named_tensors(params)]
    for handle in handles:
        mpi_ops.synchronize(handle)


def _broadcast_value(value: Any, root_rank: int, name: str) -> Any:
    """Broadcasts a Python option value; numbers and tuples of numbers travel as float64 and
    come back as their own type. Other values (None, strings, ...) are left as they are."""
    if isinstance(value, bool):
        flag = mpi_ops.broadcast(torch.tensor([float(value)], dtype=torch.float64), root_rank,
                                 name)
        return bool(flag.item())
    if isinstance(value, numbers.Real):
        out = mpi_ops.broadcast(torch.tensor([float(value)], dtype=torch.float64), root_rank, name)
        return type(value)(out.item())
    if (isinstance(value, tuple) and value
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)):
        out = mpi_ops.broadcast(torch.tensor([float(v) for v in value], dtype=torch.float64),
                                root_rank, name)
        return tuple(type(v)(x) for v, x in zip(value, out.tolist()))
    return value


def broadcast_optimizer_state(optimizer: torch.optim.Optimizer, root_rank: int) -> None:
    """Makes every rank's optimizer options and state equal to ``root_rank``'s (collective).

    State that does not exist yet (no step taken) is created first by one step with zero
    gradients, as BlueFog and Horovod do.
    """
    if isinstance(optimizer, torch.optim.LBFGS):
        raise ValueError("cannot broadcast torch.optim.LBFGS state")
    if len(optimizer.state) == 0:
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.requires_grad and p.grad is None:
                    p.grad = torch.zeros_like(p)
        # The wrapped optimizer's own step: a distributed optimizer must not communicate here.
        getattr(optimizer, "_bluefog_base_step", optimizer.step)()

    for index, group in enumerate(optimizer.param_groups):
        for key in sorted(k for k in group if k != "params"):
            group[key] = _broadcast_value(group[key], root_rank, f"optimizer.{index}.{key}")

    handles = []
    for g, group in enumerate(optimizer.param_groups):
        for i, p in enumerate(group["params"]):
            state = optimizer.state.get(p)
            if not state:
                continue
            for key in sorted(state):
                name = f"optimizer_state.{g}.{i}.{key}"
                value = state[key]
                if torch.is_tensor(value):
                    handles.append(mpi_ops.broadcast_nonblocking_(value.data, root_rank, name))
                else:
                    state[key] = _broadcast_value(value, root_rank, name)
    for handle in handles:
        mpi_ops.synchronize(handle)

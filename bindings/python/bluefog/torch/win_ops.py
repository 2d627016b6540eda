# SPDX-License-Identifier: Apache-2.0
"""BlueFog's one-sided window API for ``torch.Tensor`` (``bluefog.torch.win_create``, ...).

The generic ``bluefog.windows`` does the work; this module adds what BlueFog's PyTorch front end
checked itself (tensor types, contiguity, that weight keys name neighbors) with its messages, and
BlueFog's names: ``neighbor_win_put/get/accumulate[_nonblocking]`` and their older ``win_*``
aliases. Window tensors are updated in place: ``win_update`` writes (and returns) the tensor
given to ``win_create``, so ``win_create(p.data, name)`` keeps ``p`` itself up to date.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

import torch

from .. import basics, windows
from .mpi_ops import _check_tensor

__all__ = [
    "win_create", "win_free", "win_update", "win_update_then_collect", "neighbor_win_put",
    "neighbor_win_put_nonblocking", "neighbor_win_get", "neighbor_win_get_nonblocking",
    "neighbor_win_accumulate", "neighbor_win_accumulate_nonblocking", "win_put",
    "win_put_nonblocking", "win_get", "win_get_nonblocking", "win_accumulate",
    "win_accumulate_nonblocking", "win_wait", "win_poll", "win_mutex", "get_win_version",
    "get_current_created_window_names", "win_associated_p", "turn_on_win_ops_with_associated_p",
    "turn_off_win_ops_with_associated_p", "win_lock",
]

# BlueFog's window kernels: int32, int64, float32, float64; the engine adds float16.
_WINDOW_DTYPES = (torch.int32, torch.int64, torch.float16, torch.float32, torch.float64)

DstWeights = Union[Dict[int, float], List[int], None]

win_wait = windows.win_wait
win_poll = windows.win_poll
win_mutex = windows.win_mutex
win_lock = windows.win_lock
get_win_version = windows.get_win_version
get_current_created_window_names = windows.get_current_created_window_names
win_associated_p = windows.win_associated_p
turn_on_win_ops_with_associated_p = windows.turn_on_win_ops_with_associated_p
turn_off_win_ops_with_associated_p = windows.turn_off_win_ops_with_associated_p


def win_create(tensor: torch.Tensor, name: str, zero_init: bool = False) -> bool:
    """Creates the window ``name`` over ``tensor`` (collective: same name, shape and dtype on
    every rank). Neighbor buffers start as copies of ``tensor`` (zeros with ``zero_init``).
    Returns False if the name is taken. ``tensor``'s memory is the window until ``win_free``."""
    _check_tensor(tensor, _WINDOW_DTYPES)
    return windows.win_create(tensor, name, zero_init)


def win_free(name: Optional[str] = None) -> bool:
    """Frees window ``name`` (every window if None); collective. KeyError for an unknown name."""
    return windows.win_free(name)


def _check_keys(weights: Any, allowed: List[int], what: str, neighbors: str) -> None:
    if weights is None:
        return
    if not isinstance(weights, (dict, list, tuple)):
        raise ValueError(f"Argument {what} has to be a dictionary map from the {neighbors} rank "
                         "to the weights, or a list of ranks.")
    if not set(weights).issubset(allowed):
        raise ValueError(f"The key of {what} should only contain ranks that belong to "
                         f"{neighbors}s (self-rank is not allowed).")


def _check_self_weight(self_weight: Optional[float]) -> None:
    if self_weight is not None and not isinstance(self_weight, (float, int)):
        raise ValueError("Argument self_weight has to be a float for self rank.")


def _check_push(tensor: torch.Tensor, self_weight: Optional[float],
                dst_weights: DstWeights) -> None:
    """BlueFog's argument checks shared by put and accumulate."""
    _check_tensor(tensor, _WINDOW_DTYPES)
    _check_self_weight(self_weight)
    _check_keys(dst_weights, basics.out_neighbor_ranks(), "dst_weights", "out-neighbor")

def neighbor_win_put_nonblocking(tensor: torch.Tensor, name: str,
                                 self_weight: Optional[float] = None,
                                 dst_weights: DstWeights = None,
                                 require_mutex: bool = False) -> int:
    """Starts a put; see ``neighbor_win_put``. Returns a handle for ``win_wait``/``win_poll``."""
    _check_push(tensor, self_weight, dst_weights)
    return windows.win_put_nonblocking(tensor, name, self_weight, dst_weights, require_mutex)


def neighbor_win_put(tensor: torch.Tensor, name: str, self_weight: Optional[float] = None,
                     dst_weights: DstWeights = None, require_mutex: bool = False) -> bool:
    """Puts ``dst_weights[d] * tensor`` into out-neighbor d's buffer for this rank, replacing it
    (default: every out-neighbor, weight 1.0; a list of ranks means weight 1.0), then scales
    ``tensor`` by ``self_weight`` in place if given. ``require_mutex`` holds each destination's
    mutex for this rank while writing. Returns True."""
    return win_wait(neighbor_win_put_nonblocking(tensor, name, self_weight, dst_weights,
                                                 require_mutex))


def neighbor_win_accumulate_nonblocking(tensor: torch.Tensor, name: str,
                                        self_weight: Optional[float] = None,
                                        dst_weights: DstWeights = None,
                                        require_mutex: bool = False) -> int:
    """Starts an accumulate; see ``neighbor_win_accumulate``."""
    _check_push(tensor, self_weight, dst_weights)
    return windows.win_accumulate_nonblocking(tensor, name, self_weight, dst_weights,
                                              require_mutex)


def neighbor_win_accumulate(tensor: torch.Tensor, name: str, self_weight: Optional[float] = None,
                            dst_weights: DstWeights = None, require_mutex: bool = False) -> bool:
    """As ``neighbor_win_put``, but adds ``dst_weights[d] * tensor`` to d's buffer."""
    return win_wait(neighbor_win_accumulate_nonblocking(tensor, name, self_weight, dst_weights,
                                                        require_mutex))


def neighbor_win_get_nonblocking(name: str, src_weights: Optional[Dict[int, float]] = None,
                                 require_mutex: bool = False) -> int:
    """Starts a get; see ``neighbor_win_get``."""
    _check_keys(src_weights, basics.in_neighbor_ranks(), "src_weights", "in-neighbor")
    return windows.win_get_nonblocking(name, src_weights, require_mutex)


def neighbor_win_get(name: str, src_weights: Optional[Dict[int, float]] = None,
                     require_mutex: bool = False) -> bool:
    """Sets this rank's buffer for each in-neighbor s to ``src_weights[s] * (s's window
    tensor)`` (default: every in-neighbor, weight 1.0). Returns True."""
    return win_wait(neighbor_win_get_nonblocking(name, src_weights, require_mutex))


def win_update(name: str, self_weight: Optional[float] = None,
               neighbor_weights: Optional[Dict[int, float]] = None, reset: bool = False,
               clone: bool = False, require_mutex: bool = False) -> torch.Tensor:
    """``self_weight * x + sum_r neighbor_weights[r] * buffer[r]`` (default: the topology's
    weights if weighted, else ``1/(in-degree+1)`` each), written to the window tensor and
    returned, or returned as a new tensor with ``clone``. ``reset`` zeroes the buffers read."""
    if (self_weight is None) != (neighbor_weights is None):
        raise ValueError("Arguments self_weight and neighbor_weights have to be presented at "
                         "the same time")
    if self_weight is not None:
        if not isinstance(neighbor_weights, dict):
            raise ValueError("Argument neighbor_weights has to be a dictionary map from the "
                             "(in-)neighbor rank to the weights.")
        if not isinstance(self_weight, float):
            raise ValueError("Argument self_weight has to be a float for self rank.")
        if not set(neighbor_weights).issubset(basics.in_neighbor_ranks()):
            raise ValueError("The key of weights should only contain the ranks that belong to "
                             " in-neighbors and self rank.")
    return windows.win_update(name, self_weight, neighbor_weights, reset, clone, require_mutex)


def win_update_then_collect(name: str, require_mutex: bool = True) -> torch.Tensor:
    """``x += sum of every neighbor buffer``, buffers zeroed (push-sum); returns the tensor."""
    return windows.win_update_then_collect(name, require_mutex)


# BlueFog's older names (deprecated there, kept for scripts that use them).
win_put = neighbor_win_put
win_put_nonblocking = neighbor_win_put_nonblocking
win_get = neighbor_win_get
win_get_nonblocking = neighbor_win_get_nonblocking
win_accumulate = neighbor_win_accumulate
win_accumulate_nonblocking = neighbor_win_accumulate_nonblocking


# SPDX-License-Identifier: Apache-2.0
"""Infer the other side of a dynamic neighbor pattern: who sends to me, given everyone's
destinations (or the reverse). Collective: every rank calls it with its own list."""
from __future__ import annotations

from typing import List, Sequence, Tuple, Union

import numpy as np

from . import basics, ops

__all__ = ["InferSourceFromDestinationRanks", "InferDestinationFromSourceRanks"]


def _validate(ranks: Sequence[int], what: str) -> List[int]:
    size, me = basics.size(), basics.rank()
    values = []
    for r in ranks:
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)):
            raise ValueError(f"{what} must contain integer ranks, got {r!r}")
        r = int(r)
        if not 0 <= r < size:
            raise ValueError(f"{what} names rank {r}, outside [0, {size})")
        if r == me:
            raise ValueError(f"{what} must not contain the rank itself ({me})")
        values.append(r)
    if len(set(values)) != len(values):
        raise ValueError(f"{what} contains duplicated ranks: {values}")
    return values


def _gather_lists(ranks: List[int], name: str) -> List[List[int]]:
    counts = ops.allgather(np.array([len(ranks)], dtype=np.int32), name=name + ".counts")
    flat = ops.allgather(np.array(ranks, dtype=np.int32), name=name + ".ranks")
    lists, start = [], 0
    for count in counts.tolist():
        lists.append(flat[start:start + count].tolist())
        start += count
    return lists


def _infer(ranks: Sequence[int], what: str, construct_adjacency_matrix: bool,
           transpose: bool, name: str) -> Union[List[int], Tuple[List[int], np.ndarray]]:
    mine = _validate(ranks, what)
    lists = _gather_lists(mine, name)
    me = basics.rank()
    inferred = sorted(k for k, listed in enumerate(lists) if me in listed)
    if not construct_adjacency_matrix:
        return inferred
    size = len(lists)
    matrix = np.eye(size)
    for k, listed in enumerate(lists):
        matrix[k, listed] = 1.0
    if transpose:
        matrix = matrix.T
    # W[i][j] is the weight j gives to i: normalize each column (BlueFog divided by row sums,
    # which equals this only when every rank has as many in- as out-neighbors).
    return inferred, matrix / matrix.sum(axis=0, keepdims=True)


def InferSourceFromDestinationRanks(  # pylint: disable=invalid-name
        dst_ranks: Sequence[int], construct_adjacency_matrix: bool = False
) -> Union[List[int], Tuple[List[int], np.ndarray]]:
    """The ranks that send to this rank (ascending), given every rank's ``dst_ranks``.
    With ``construct_adjacency_matrix``, also the column-stochastic matrix ``W`` of the whole
    pattern (self-loops included, uniform weights per receiver)."""
    return _infer(dst_ranks, "dst_ranks", construct_adjacency_matrix, False, "infer.src")


def InferDestinationFromSourceRanks(  # pylint: disable=invalid-name
        src_ranks: Sequence[int], construct_adjacency_matrix: bool = False
) -> Union[List[int], Tuple[List[int], np.ndarray]]:
    """The ranks that receive from this rank (ascending), given every rank's ``src_ranks``.
    With ``construct_adjacency_matrix``, also the column-stochastic matrix ``W``."""
    return _infer(src_ranks, "src_ranks", construct_adjacency_matrix, True, "infer.dst")

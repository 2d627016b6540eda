# SPDX-License-Identifier: Apache-2.0
"""Infer the other side of a dynamic neighbor pattern: who sends to me, given everyone's
destinations (or the reverse). Collective: every rank calls it with its own list."""
from __future__ import annotations

from typing import List, Sequence, Tuple, Union

import numpy as np

from . import basics
from ._native import lib

__all__ = ["InferSourceFromDestinationRanks", "InferDestinationFromSourceRanks"]

Inferred = Union[List[int], Tuple[List[int], np.ndarray]]


def _infer(ranks: Sequence[int], destinations: bool,
           construct_adjacency_matrix: bool) -> Inferred:
    what = "dst_ranks" if destinations else "src_ranks"
    if any(isinstance(r, bool) or not isinstance(r, (int, np.integer)) for r in ranks):
        raise ValueError(f"{what} must be a list of integer ranks, got {list(ranks)!r}")
    graph = lib.bf_infer_topology([int(r) for r in ranks], int(destinations))
    me = basics.rank()
    neighbors = (lib.bf_topology_in_neighbors if destinations
                 else lib.bf_topology_out_neighbors)(graph, me)[0]
    if not construct_adjacency_matrix:
        return list(neighbors)
    size = lib.bf_topology_size(graph)
    matrix = np.asarray(lib.bf_topology_to_matrix(graph), dtype=np.float64).reshape(size, size)
    return list(neighbors), matrix


def InferSourceFromDestinationRanks(  # pylint: disable=invalid-name
        dst_ranks: Sequence[int], construct_adjacency_matrix: bool = False) -> Inferred:
    """The ranks that send to this rank (ascending), given every rank's ``dst_ranks``.
    With ``construct_adjacency_matrix``, also ``W`` of the whole pattern: self-loops included and
    uniform weights per receiver, so every column sums to 1 (BlueFog divided by row sums)."""
    return _infer(dst_ranks, True, construct_adjacency_matrix)


def InferDestinationFromSourceRanks(  # pylint: disable=invalid-name
        src_ranks: Sequence[int], construct_adjacency_matrix: bool = False) -> Inferred:
    """The ranks that receive from this rank (ascending), given every rank's ``src_ranks``.
    With ``construct_adjacency_matrix``, also the column-stochastic ``W`` of the whole pattern."""
    return _infer(src_ranks, False, construct_adjacency_matrix)

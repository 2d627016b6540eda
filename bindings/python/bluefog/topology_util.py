# SPDX-License-Identifier: Apache-2.0
"""Topologies as ``networkx.DiGraph`` (BlueFog's convention) and dynamic schedules.

An edge ``i -> j`` with weight ``W[i][j]`` means "i sends to j and j weighs i's value by W[i][j]";
self-loops carry self weights. The generators and schedules are computed by the engine
(bit-identical to BlueFog's, with its floating-point quirks fixed) and returned as DiGraphs,
as BlueFog did. None of these functions needs ``init()``.
"""
# pylint: disable=invalid-name  (BlueFog's CamelCase function names)
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import networkx as nx
import numpy as np

from ._native import lib

__all__ = [
    "ExponentialTwoGraph", "ExponentialGraph", "SymmetricExponentialGraph", "RingGraph",
    "StarGraph", "MeshGrid2DGraph", "FullyConnectedGraph", "GetRecvWeights", "GetSendWeights",
    "IsRegularGraph", "IsTopologyEquivalent", "GetDynamicOnePeerSendRecvRanks",
    "GetExp2DynamicSendRecvMachineRanks", "GetInnerOuterRingDynamicSendRecvRanks",
    "GetInnerOuterExpo2DynamicSendRecvRanks", "spectral_gap", "schedule_one_peer",
    "schedule_exp2_machine", "schedule_inner_outer_ring", "schedule_inner_outer_exp2",
    "to_engine", "weight_matrix",
]

SendRecv = Tuple[List[int], List[int]]


def _graph(capsule: Any) -> nx.DiGraph:
    size = lib.bf_topology_size(capsule)
    matrix = np.asarray(lib.bf_topology_to_matrix(capsule), dtype=np.float64).reshape(size, size)
    return nx.from_numpy_array(matrix, create_using=nx.DiGraph)


def weight_matrix(topology: nx.DiGraph) -> np.ndarray:
    """Dense ``W`` of a topology, rows and columns in rank order (edges without a weight: 1)."""
    nodes = list(topology.nodes)
    if set(nodes) == set(range(len(nodes))):
        nodes = list(range(len(nodes)))
    return nx.to_numpy_array(topology, nodelist=nodes, dtype=np.float64)


def to_engine(topology: nx.DiGraph) -> Any:
    """The engine's topology object (a capsule) for a DiGraph."""
    matrix = weight_matrix(topology)
    return lib.bf_topology_from_matrix(matrix.shape[0], matrix.ravel().tolist())


def ExponentialTwoGraph(size: int) -> nx.DiGraph:
    """Each rank sends to ``rank + 2**i`` (and itself), uniform weights."""
    return _graph(lib.bf_topology_exponential_two(size))


def ExponentialGraph(size: int, base: int = 2) -> nx.DiGraph:
    """Each rank sends to ``rank + base**i`` (and itself), uniform weights. The default topology."""
    return _graph(lib.bf_topology_exponential(size, base))


def SymmetricExponentialGraph(size: int, base: int = 4) -> nx.DiGraph:
    """Each rank sends to ``rank +- base**i`` (and itself), uniform weights."""
    return _graph(lib.bf_topology_symmetric_exponential(size, base))


def RingGraph(size: int, connect_style: int = 0) -> nx.DiGraph:
    """Ring: ``connect_style`` 0 both directions (weights 1/3), 1 sends left, 2 sends right
    (weights 1/2)."""
    return _graph(lib.bf_topology_ring(size, connect_style))


def StarGraph(size: int, center_rank: int = 0) -> nx.DiGraph:
    """Star around ``center_rank``, doubly stochastic weights."""
    return _graph(lib.bf_topology_star(size, center_rank))


def MeshGrid2DGraph(size: int,
                    shape: Optional[Tuple[int, int]] = None) -> nx.DiGraph:
    """2-D grid without wrap-around, Metropolis-Hastings weights. ``shape`` (rows, columns)
    defaults to the most square factorization."""
    nrows, ncols = shape if shape is not None else (0, 0)
    return _graph(lib.bf_topology_mesh_grid_2d(size, nrows, ncols))


def FullyConnectedGraph(size: int) -> nx.DiGraph:
    """Everyone sends to everyone, weights ``1/size``."""
    return _graph(lib.bf_topology_fully_connected(size))


def GetRecvWeights(topo: nx.DiGraph, rank: int) -> Tuple[float, Dict[int, float]]:
    """``(W[rank][rank], {src: W[src][rank]})`` over the in-neighbors of ``rank``."""
    weights = weight_matrix(topo)
    neighbors = {int(src): float(weights[src, rank]) for src in topo.predecessors(rank)
                 if src != rank}
    return float(weights[rank, rank]), neighbors


def GetSendWeights(topo: nx.DiGraph, rank: int) -> Tuple[float, Dict[int, float]]:
    """``(W[rank][rank], {dst: W[rank][dst]})`` over the out-neighbors of ``rank``."""
    weights = weight_matrix(topo)
    neighbors = {int(dst): float(weights[rank, dst]) for dst in topo.successors(rank)
                 if dst != rank}
    return float(weights[rank, rank]), neighbors


def IsTopologyEquivalent(topo1: Optional[nx.DiGraph],
                         topo2: Optional[nx.DiGraph]) -> bool:
    """True if both graphs have the same nodes, edges and weights."""
    if topo1 is None or topo2 is None:
        return False
    if (topo1.number_of_nodes() != topo2.number_of_nodes()
            or topo1.number_of_edges() != topo2.number_of_edges()):
        return False
    return bool(np.array_equal(weight_matrix(topo1), weight_matrix(topo2)))


def IsRegularGraph(topo: nx.DiGraph) -> bool:
    """True if every node has the same degree (in + out)."""
    degrees = {degree for _, degree in topo.degree()}
    return len(degrees) <= 1


def spectral_gap(topology: nx.DiGraph) -> float:
    """``rho = max(|lambda_2|, |lambda_n|)`` of W: the contraction per averaging step (smaller
    mixes faster; 1 means no mixing). W must be row- or column-stochastic."""
    return float(lib.bf_topology_spectral_gap(to_engine(topology)))


def _pair(result: Sequence[Sequence[int]]) -> SendRecv:
    send, recv = result
    return list(send), list(recv)


def schedule_one_peer(topology: nx.DiGraph, rank: int, step: int) -> SendRecv:
    """Step ``step`` of GetDynamicOnePeerSendRecvRanks: ``(send_ranks, recv_ranks)``."""
    return _pair(lib.bf_schedule_one_peer(to_engine(topology), rank, step))


def schedule_exp2_machine(world_size: int, local_size: int, rank: int, step: int) -> SendRecv:
    """Step ``step`` of GetExp2DynamicSendRecvMachineRanks: machine ids to send to / receive
    from."""
    return _pair(lib.bf_schedule_exp2_machine(world_size, local_size, rank, step))


def schedule_inner_outer_ring(world_size: int, local_size: int, rank: int, step: int) -> SendRecv:
    """Step ``step`` of GetInnerOuterRingDynamicSendRecvRanks."""
    return _pair(lib.bf_schedule_inner_outer_ring(world_size, local_size, rank, step))


def schedule_inner_outer_exp2(world_size: int, local_size: int, rank: int, step: int) -> SendRecv:
    """Step ``step`` of GetInnerOuterExpo2DynamicSendRecvRanks."""
    return _pair(lib.bf_schedule_inner_outer_exp2(world_size, local_size, rank, step))


def GetDynamicOnePeerSendRecvRanks(topo: nx.DiGraph,
                                   self_rank: int) -> Iterator[SendRecv]:
    """Endless ``(send_ranks, recv_ranks)`` per step: one out-neighbor per step by clockwise
    distance; receive from every rank whose turn points here. Works without self-loops too."""
    capsule = to_engine(topo)
    step = 0
    while True:
        yield _pair(lib.bf_schedule_one_peer(capsule, self_rank, step))
        step += 1


def GetExp2DynamicSendRecvMachineRanks(world_size: int, local_size: int,
                                       self_rank: int, local_rank: int) -> Iterator[SendRecv]:
    """Endless ``(send_machines, recv_machines)``: machine ``m`` sends to ``m + 2**(t % k)``."""
    assert self_rank % local_size == local_rank, \
        "It should be used under homogeneous environment only."
    step = 0
    while True:
        yield schedule_exp2_machine(world_size, local_size, self_rank, step)
        step += 1


def GetInnerOuterRingDynamicSendRecvRanks(world_size: int, local_size: int,
                                          self_rank: int) -> Iterator[SendRecv]:
    """Endless ``(send_ranks, recv_ranks)``: a ring inside each machine, one local rank per step
    crossing to the next machine."""
    step = 0
    while True:
        yield schedule_inner_outer_ring(world_size, local_size, self_rank, step)
        step += 1


def GetInnerOuterExpo2DynamicSendRecvRanks(world_size: int, local_size: int,
                                           self_rank: int) -> Iterator[SendRecv]:
    """Endless ``(send_ranks, recv_ranks)``: exponential-two inside and across machines."""
    step = 0
    while True:
        yield schedule_inner_outer_exp2(world_size, local_size, self_rank, step)
        step += 1

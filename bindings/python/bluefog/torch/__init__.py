# SPDX-License-Identifier: Apache-2.0
"""Drop-in replacement for BlueFog's PyTorch API (``import bluefog.torch as bf``) on the
BlueFog-C engine: the same names, arguments, defaults and errors.

Differences, on purpose: no operation modifies its input unless asked to (in place); partial
``src_weights`` pair each weight with its own rank; changing only a topology's weighted flag
takes effect; ``broadcast_optimizer_state`` handles None-valued options; the push-sum and
pull-get optimizers are exported; ``win_lock`` is exported too. ``set_skip_negotiate_stage``
switches the engine's matching mode collectively at run time.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

import networkx as nx

from .. import basics as _basics
from ..basics import (shutdown, size, local_size, rank, local_rank, machine_size, machine_rank,
                      load_topology, load_machine_topology, in_neighbor_ranks, out_neighbor_ranks,
                      in_neighbor_machine_ranks, out_neighbor_machine_ranks, is_homogeneous,
                      mpi_threads_supported, unified_mpi_window_model_supported, suspend, resume)
from ..compression import Compression
from ..timeline import timeline_start_activity, timeline_end_activity, timeline_context
from ..topology_util import (GetRecvWeights, GetSendWeights, IsRegularGraph,
                             IsTopologyEquivalent, ExponentialTwoGraph, ExponentialGraph,
                             FullyConnectedGraph, MeshGrid2DGraph, RingGraph, StarGraph,
                             SymmetricExponentialGraph, GetDynamicOnePeerSendRecvRanks,
                             GetExp2DynamicSendRecvMachineRanks,
                             GetInnerOuterRingDynamicSendRecvRanks,
                             GetInnerOuterExpo2DynamicSendRecvRanks)
from .mpi_ops import (allreduce, allreduce_nonblocking, allreduce_, allreduce_nonblocking_,
                      allgather, allgather_nonblocking, broadcast, broadcast_nonblocking,
                      broadcast_, broadcast_nonblocking_, neighbor_allgather,
                      neighbor_allgather_nonblocking, neighbor_allreduce,
                      neighbor_allreduce_nonblocking, hierarchical_neighbor_allreduce,
                      hierarchical_neighbor_allreduce_nonblocking, poll, synchronize, wait,
                      barrier)
from .optimizers import (CommunicationType, DistributedAdaptThenCombineOptimizer,
                         DistributedAdaptWithCombineOptimizer,
                         DistributedGradientAllreduceOptimizer, DistributedWinPutOptimizer,
                         DistributedAllreduceOptimizer, DistributedNeighborAllreduceOptimizer,
                         DistributedHierarchicalNeighborAllreduceOptimizer,
                         DistributedPushSumOptimizer, DistributedPullGetOptimizer)
from .topology_util import InferSourceFromDestinationRanks, InferDestinationFromSourceRanks
from .win_ops import (win_create, win_free, win_update, win_update_then_collect, neighbor_win_put,
                      neighbor_win_put_nonblocking, neighbor_win_get, neighbor_win_get_nonblocking,
                      neighbor_win_accumulate, neighbor_win_accumulate_nonblocking, win_put,
                      win_put_nonblocking, win_get, win_get_nonblocking, win_accumulate,
                      win_accumulate_nonblocking, win_wait, win_poll, win_mutex, get_win_version,
                      get_current_created_window_names, win_associated_p,
                      turn_on_win_ops_with_associated_p, turn_off_win_ops_with_associated_p,
                      win_lock)
from .utility import broadcast_parameters, allreduce_parameters, broadcast_optimizer_state

logger = logging.getLogger("bluefog")


def init(topology_fn: Optional[Callable[[int], nx.DiGraph]] = None, is_weighted: bool = False,
         **options) -> None:
    """Starts BlueFog and sets the topology (``topology_fn(size())``, default
    ``ExponentialGraph(size())``); ``shutdown`` runs at exit. See ``bluefog.init`` for the
    keyword-only ``options`` (nodes_per_machine, mpi_comm, matching, stall_warning_s)."""
    _basics.init(topology_fn, is_weighted, **options)


def set_topology(topology: Optional[nx.DiGraph] = None, is_weighted: bool = False) -> bool:
    """Sets the process topology (collective). Returns False if it cannot be changed now."""
    return _basics.set_topology(topology, is_weighted)


def set_machine_topology(topology: Optional[nx.DiGraph], is_weighted: bool = False) -> bool:
    """Sets the machine topology used by hierarchical_neighbor_allreduce (collective)."""
    return _basics.set_machine_topology(topology, is_weighted)


def nccl_built() -> bool:
    """Whether GPU tensors go through NCCL in this build. When False, CUDA tensors still work:
    the engine stages them through page-locked host memory (docs/gpu.md)."""
    return _basics.nccl_built()


def get_skip_negotiate_stage() -> bool:
    """True when the engine runs in ordered matching mode (BlueFog's skip-negotiate stage)."""
    return _basics.matching_mode() == "ordered"


def set_skip_negotiate_stage(value: bool) -> None:
    """Switches negotiation off (True: ordered matching, ops run in issue order with no
    coordination) or on (False: named matching) at run time. Collective, as in BlueFog: every
    rank calls it with the same value at the same point of its global operations. Before
    ``init`` it logs an error and does nothing (BlueFog's behavior). RuntimeError if operations
    are in flight (wait for them first) or if the ranks disagree; the mode is then unchanged."""
    if not _basics.is_initialized():
        logger.error("Cannot set skip negotiate stage before bf.init().")
        return
    _basics.set_matching_mode("ordered" if value else "named")


def is_topo_weighted() -> bool:
    """Whether static neighbor_allreduce uses the topology's weights."""
    return _basics.is_topo_weighted()


def is_machine_topo_weighted() -> bool:
    """Whether static hierarchical_neighbor_allreduce uses the machine topology's weights."""
    return _basics.is_machine_topo_weighted()

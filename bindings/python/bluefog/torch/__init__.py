# SPDX-License-Identifier: Apache-2.0
"""Drop-in replacement for BlueFog's PyTorch API (``import bluefog.torch as bf``) on the
BlueFog-C engine: the same names, arguments, defaults and errors.

Differences, on purpose: no operation modifies its input unless asked to (in place); partial
``src_weights`` pair each weight with its own rank; changing only a topology's weighted flag
takes effect; ``broadcast_optimizer_state`` handles None-valued options; the push-sum and
pull-get optimizers are exported. Names whose engine support does not exist yet (``win_lock``,
``suspend``/``resume``, the MPI thread-level and window-model queries) are present and raise
NotImplementedError saying what is missing.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

import networkx as nx

from .. import basics as _basics
from ..basics import (shutdown, size, local_size, rank, local_rank, machine_size, machine_rank,
                      load_topology, load_machine_topology, in_neighbor_ranks, out_neighbor_ranks,
                      in_neighbor_machine_ranks, out_neighbor_machine_ranks, is_homogeneous)
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
from .unavailable import (unified_mpi_window_model_supported, mpi_threads_supported, suspend,
                          resume)
from .win_ops import (win_create, win_free, win_update, win_update_then_collect, neighbor_win_put,
                      neighbor_win_put_nonblocking, neighbor_win_get, neighbor_win_get_nonblocking,
                      neighbor_win_accumulate, neighbor_win_accumulate_nonblocking, win_put,
                      win_put_nonblocking, win_get, win_get_nonblocking, win_accumulate,
                      win_accumulate_nonblocking, win_wait, win_poll, win_mutex, get_win_version,
                      get_current_created_window_names, win_associated_p,
                      turn_on_win_ops_with_associated_p, turn_off_win_ops_with_associated_p)
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
    """BlueFog switched negotiation on and off at run time. BlueFog-C chooses its matching mode
    at ``init`` (``matching=`` or BLUEFOG_MATCHING). Named matching accepts everything ordered
    matching does, so asking to skip negotiation in named mode only logs a note; asking for
    negotiation in ordered mode cannot be honored and raises NotImplementedError."""
    if not _basics.is_initialized():
        logger.error("Cannot set skip negotiate stage before bf.init().")
        return
    if bool(value) == get_skip_negotiate_stage():
        return
    if value:
        logger.info("set_skip_negotiate_stage(True): the engine keeps named matching (chosen at "
                    "init; BLUEFOG_MATCHING=ordered selects ordered matching)")
        return
    raise NotImplementedError(
        "set_skip_negotiate_stage(False) needs a run-time switch of the engine's matching mode "
        "(BlueFog-C chooses it at bf_init); start with bf.init(matching='named') or "
        "BLUEFOG_MATCHING=named instead")


def is_topo_weighted() -> bool:
    """Whether static neighbor_allreduce uses the topology's weights."""
    return _basics.is_topo_weighted()


def is_machine_topo_weighted() -> bool:
    """Whether static hierarchical_neighbor_allreduce uses the machine topology's weights."""
    return _basics.is_machine_topo_weighted()

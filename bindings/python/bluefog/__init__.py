# SPDX-License-Identifier: Apache-2.0
"""BlueFog-C for Python: decentralized (neighbor) collectives on any DLPack array.

``import bluefog as bf`` works with NumPy, PyTorch and JAX arrays and returns the caller's own
array type; ``import bluefog.torch as bf`` is the drop-in replacement for BlueFog's PyTorch API.

    import numpy as np
    import bluefog as bf
    bf.init()                                  # MPI ranks from mpirun / bfrun
    x = np.full(4, float(bf.rank()))
    x = bf.neighbor_allreduce(x)               # average with in-neighbors
    bf.shutdown()                              # also runs at exit
"""
# The extension may live in a build directory next to these sources on sys.path
# (PYTHONPATH=<build>/bindings/python:<source>/bindings/python).
__path__ = __import__("pkgutil").extend_path(__path__, __name__)  # type: ignore[name-defined]

# pylint: disable=wrong-import-position
from .basics import (init, shutdown, is_initialized, size, local_size, rank, local_rank,
                     machine_size, machine_rank, is_homogeneous, set_topology, load_topology,
                     is_topo_weighted, in_neighbor_ranks, out_neighbor_ranks, version,
                     matching_mode, set_machine_topology, load_machine_topology,
                     is_machine_topo_weighted, in_neighbor_machine_ranks,
                     out_neighbor_machine_ranks, set_matching_mode, mpi_threads_supported,
                     unified_mpi_window_model_supported, suspend, resume, is_suspended,
                     cuda_device_count, nccl_built)
from .ops import (allreduce, allreduce_nonblocking, allreduce_, allreduce_nonblocking_,
                  broadcast, broadcast_nonblocking, broadcast_, broadcast_nonblocking_,
                  allgather, allgather_nonblocking, neighbor_allgather,
                  neighbor_allgather_nonblocking, neighbor_allreduce,
                  neighbor_allreduce_nonblocking, neighbor_allreduce_,
                  neighbor_allreduce_nonblocking_, hierarchical_neighbor_allreduce,
                  hierarchical_neighbor_allreduce_nonblocking, hierarchical_neighbor_allreduce_,
                  hierarchical_neighbor_allreduce_nonblocking_, pair_gossip,
                  pair_gossip_nonblocking, pair_gossip_, pair_gossip_nonblocking_, barrier,
                  barrier_nonblocking, poll, wait, synchronize)
from .topology_util import (ExponentialTwoGraph, ExponentialGraph, SymmetricExponentialGraph,
                            RingGraph, StarGraph, MeshGrid2DGraph, FullyConnectedGraph,
                            GetRecvWeights, GetSendWeights, IsRegularGraph, IsTopologyEquivalent,
                            GetDynamicOnePeerSendRecvRanks, GetExp2DynamicSendRecvMachineRanks,
                            GetInnerOuterRingDynamicSendRecvRanks,
                            GetInnerOuterExpo2DynamicSendRecvRanks, spectral_gap,
                            schedule_one_peer, schedule_exp2_machine, schedule_inner_outer_ring,
                            schedule_inner_outer_exp2)
from .windows import (win_create, win_free, win_put, win_put_nonblocking, win_accumulate,
                      win_accumulate_nonblocking, win_get, win_get_nonblocking, win_update,
                      win_update_then_collect, win_wait, win_poll, win_mutex, get_win_version,
                      win_associated_p, turn_on_win_ops_with_associated_p,
                      turn_off_win_ops_with_associated_p, get_current_created_window_names,
                      win_lock)
from .compression import Compression
from .timeline import timeline_start_activity, timeline_end_activity, timeline_context
from .topology_infer import InferSourceFromDestinationRanks, InferDestinationFromSourceRanks

__version__ = "0.1.0"

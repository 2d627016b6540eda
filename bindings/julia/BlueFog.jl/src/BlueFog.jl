# SPDX-License-Identifier: Apache-2.0
"""
    BlueFog

Julia interface to BlueFog-C, a neighbor-collective engine for decentralized training: every
rank averages with its neighbors in a virtual topology (`neighbor_allreduce`) instead of joining
a global allreduce. Arrays are shared with the engine without copying (DLPack layout), including
`CuArray`s through DLPack.jl once CUDA.jl is loaded. Ranks are 0-based, as in MPI.

Run programs with one process per rank, e.g. `mpiexecjl -n 4 julia --project train.jl`.

Two layers: [`LibBlueFog`](@ref) mirrors `bluefog.h` one ccall per C function; the functions
exported here wrap it with Julia names, keyword arguments, `BlueFogError` exceptions, finalizers
and `close`.
"""
module BlueFog

using DLPack

include("LibBlueFog.jl")
using .LibBlueFog
const L = LibBlueFog

include("errors.jl")
include("tensors.jl")
include("topology.jl")
include("context.jl")
include("handles.jl")
include("operations.jl")
include("windows.jl")

export BlueFogError, Context, Topology, Handle
export world_size, local_rank, local_size, machine_rank, machine_size, is_homogeneous,
       matching_mode, set_matching_mode!, mpi_threads_supported,
       unified_mpi_window_model_supported, suspend!, resume!, is_suspended, cuda_device_count,
       nccl_built, set_cuda_stream
export ExponentialGraph, ExponentialTwoGraph, SymmetricExponentialGraph, RingGraph, StarGraph,
       MeshGrid2DGraph, FullyConnectedGraph
export nranks, weight, in_neighbors, out_neighbors, spectral_gap
export one_peer_schedule, exp2_machine_schedule, inner_outer_ring_schedule,
       inner_outer_exp2_schedule
export set_topology!, get_topology, infer_topology, set_machine_topology!, get_machine_topology
export timeline_start_activity, timeline_end_activity, timeline_activity
export allreduce, allreduce!, allreduce_async!, bcast, bcast!, bcast_async!, allgather,
       allgather_async, barrier, barrier_async, neighbor_allreduce, neighbor_allreduce!,
       neighbor_allreduce_async!, hierarchical_neighbor_allreduce,
       hierarchical_neighbor_allreduce!, hierarchical_neighbor_allreduce_async!,
       neighbor_allgather, neighbor_allgather_async, pair_gossip, pair_gossip!,
       pair_gossip_async!
export Window, win_create!, win_free!, win_names, win_put!, win_put_async!, win_accumulate!,
       win_accumulate_async!, win_get!, win_get_async!, win_update!, win_update,
       win_update_then_collect!, win_mutex, win_mutex_acquire, win_mutex_release, win_versions,
       win_associated_p, set_win_associated_p!, get_win_associated_p, win_lock, win_is_locked

end  # module BlueFog

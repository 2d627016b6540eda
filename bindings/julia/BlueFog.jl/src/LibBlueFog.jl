# SPDX-License-Identifier: Apache-2.0
# LibBlueFog: the 1:1 ccall layer of include/bluefog.h. Every C function has a Julia function of
# the same name and argument order; types carry the header's names so the CI check
# (bindings/julia/check_julia.py) can compare each ccall with the parsed header. The idiomatic API
# in BlueFog.jl is built on top; use this module only for what it does not cover.
module LibBlueFog

# The shared library: BLUEFOG_LIBRARY (a path or a name) when the package is precompiled, else
# libbluefog from the dynamic loader's search path (LD_LIBRARY_PATH, ldconfig).
const libbluefog = get(ENV, "BLUEFOG_LIBRARY", "libbluefog")

# ----- DLPack 0.6 (dlpack/dlpack.h), mirrored field for field -----

const DLDeviceType = Cint
const kDLCPU = DLDeviceType(1)
const kDLCUDA = DLDeviceType(2)
const kDLCUDAHost = DLDeviceType(3)
const kDLCUDAManaged = DLDeviceType(13)

const kDLInt = UInt8(0)
const kDLUInt = UInt8(1)
const kDLFloat = UInt8(2)
const kDLBfloat = UInt8(4)

struct DLDevice
    device_type::DLDeviceType
    device_id::Cint
end

struct DLDataType
    code::UInt8
    bits::UInt8
    lanes::UInt16
end

struct DLTensor
    data::Ptr{Cvoid}
    device::DLDevice
    ndim::Cint
    dtype::DLDataType
    shape::Ptr{Int64}
    strides::Ptr{Int64}
    byte_offset::UInt64
end

struct DLManagedTensor
    dl_tensor::DLTensor
    manager_ctx::Ptr{Cvoid}
    deleter::Ptr{Cvoid}  # void (*)(DLManagedTensor *self)
end

# ----- bluefog.h types and constants -----

const BF_VERSION_MAJOR = 0
const BF_VERSION_MINOR = 1
const BF_VERSION_PATCH = 0
BF_VERSION_CODE(major, minor, patch) = major * 10000 + minor * 100 + patch
const BF_VERSION = BF_VERSION_CODE(BF_VERSION_MAJOR, BF_VERSION_MINOR, BF_VERSION_PATCH)

const bf_status = Cint
const BF_OK = bf_status(0)
const BF_ERR_INVALID_ARGUMENT = bf_status(1)
const BF_ERR_NOT_INITIALIZED = bf_status(2)
const BF_ERR_MISMATCH = bf_status(3)
const BF_ERR_BACKEND = bf_status(4)
const BF_ERR_TIMEOUT = bf_status(5)
const BF_ERR_UNSUPPORTED = bf_status(6)
const BF_ERR_SHUTDOWN = bf_status(7)
const BF_ERR_IN_PROGRESS = bf_status(8)
const BF_ERR_OUT_OF_MEMORY = bf_status(9)
const BF_ERR_INTERNAL = bf_status(10)
const BF_ERR_SUSPENDED = bf_status(11)

const bf_matching_mode = Cint
const BF_MATCHING_DEFAULT = bf_matching_mode(0)
const BF_MATCHING_ORDERED = bf_matching_mode(1)
const BF_MATCHING_NAMED = bf_matching_mode(2)

const bf_compression = Cint
const BF_COMPRESSION_DEFAULT = bf_compression(0)
const BF_COMPRESSION_NONE = bf_compression(1)
const BF_COMPRESSION_BFLOAT16 = bf_compression(2)
const BF_COMPRESSION_FLOAT16 = bf_compression(3)
const BF_COMPRESSION_INT8 = bf_compression(4)
const BF_COMPRESSION_TOPK = bf_compression(5)

const bf_error_feedback = Cint
const BF_ERROR_FEEDBACK_DEFAULT = bf_error_feedback(0)
const BF_ERROR_FEEDBACK_ON = bf_error_feedback(1)
const BF_ERROR_FEEDBACK_OFF = bf_error_feedback(2)

struct bf_init_options
    struct_size::Csize_t
    mpi_comm::Ptr{Cvoid}
    nodes_per_machine::Cint
    matching_mode::bf_matching_mode
    stall_warning_s::Cdouble
    timeline_prefix::Ptr{Cchar}
    fusion_threshold_bytes::Int64
    cycle_time_ms::Cdouble
    compression::bf_compression
    topk_ratio::Cdouble
end

# Opaque weighted digraph, only handled through Ptr{bf_topology}.
mutable struct bf_topology end

const bf_ring_style = Cint
const BF_RING_BIDIRECTIONAL = bf_ring_style(0)
const BF_RING_LEFT = bf_ring_style(1)
const BF_RING_RIGHT = bf_ring_style(2)

const bf_handle = UInt64

struct bf_op_args
    struct_size::Csize_t
    name::Ptr{Cchar}
end

const bf_reduce_op = Cint
const BF_REDUCE_AVERAGE = bf_reduce_op(0)
const BF_REDUCE_SUM = bf_reduce_op(1)

struct bf_allreduce_args
    struct_size::Csize_t
    name::Ptr{Cchar}
    op::bf_reduce_op
    machine_local::Cint
end

struct bf_neighbor_args
    struct_size::Csize_t
    name::Ptr{Cchar}
    has_weights::Cint
    self_weight::Cdouble
    src_count::Cint
    src_ranks::Ptr{Cint}
    src_weights::Ptr{Cdouble}
    dynamic::Cint
    dst_count::Cint
    dst_ranks::Ptr{Cint}
    dst_weights::Ptr{Cdouble}
    check_topology::Cint
    compression::bf_compression
    topk_ratio::Cdouble
    error_feedback::bf_error_feedback
    consensus_step::Cdouble
end

struct bf_win_op_args
    struct_size::Csize_t
    has_self_weight::Cint
    self_weight::Cdouble
    has_ranks::Cint
    count::Cint
    ranks::Ptr{Cint}
    weights::Ptr{Cdouble}
    require_mutex::Cint
end

struct bf_win_update_args
    struct_size::Csize_t
    has_weights::Cint
    self_weight::Cdouble
    count::Cint
    ranks::Ptr{Cint}
    weights::Ptr{Cdouble}
    reset::Cint
    require_mutex::Cint
end

# ----- functions, in the header's order -----

bf_get_version() = ccall((:bf_get_version, libbluefog), Cint, ())

bf_status_string(status) = ccall((:bf_status_string, libbluefog), Cstring, (bf_status,), status)
bf_last_error() = ccall((:bf_last_error, libbluefog), Cstring, ())

bf_matching_mode_in_effect() = ccall((:bf_matching_mode_in_effect, libbluefog), Cint, ())

bf_init(options) = ccall((:bf_init, libbluefog), bf_status, (Ptr{bf_init_options},), options)
bf_finalize() = ccall((:bf_finalize, libbluefog), bf_status, ())
bf_initialized() = ccall((:bf_initialized, libbluefog), Cint, ())
bf_rank() = ccall((:bf_rank, libbluefog), Cint, ())
bf_size() = ccall((:bf_size, libbluefog), Cint, ())
bf_local_rank() = ccall((:bf_local_rank, libbluefog), Cint, ())
bf_local_size() = ccall((:bf_local_size, libbluefog), Cint, ())
bf_machine_rank() = ccall((:bf_machine_rank, libbluefog), Cint, ())
bf_machine_size() = ccall((:bf_machine_size, libbluefog), Cint, ())
bf_is_homogeneous() = ccall((:bf_is_homogeneous, libbluefog), Cint, ())

bf_cuda_device_count() = ccall((:bf_cuda_device_count, libbluefog), Cint, ())
bf_nccl_built() = ccall((:bf_nccl_built, libbluefog), Cint, ())
bf_set_cuda_stream(stream) =
    ccall((:bf_set_cuda_stream, libbluefog), bf_status, (Ptr{Cvoid},), stream)

bf_topology_exponential(size, base, out_) =
    ccall((:bf_topology_exponential, libbluefog), bf_status,
          (Cint, Cint, Ptr{Ptr{bf_topology}}), size, base, out_)
bf_topology_exponential_two(size, out_) =
    ccall((:bf_topology_exponential_two, libbluefog), bf_status,
          (Cint, Ptr{Ptr{bf_topology}}), size, out_)
bf_topology_symmetric_exponential(size, base, out_) =
    ccall((:bf_topology_symmetric_exponential, libbluefog), bf_status,
          (Cint, Cint, Ptr{Ptr{bf_topology}}), size, base, out_)
bf_topology_ring(size, style, out_) =
    ccall((:bf_topology_ring, libbluefog), bf_status,
          (Cint, bf_ring_style, Ptr{Ptr{bf_topology}}), size, style, out_)
bf_topology_star(size, center_rank, out_) =
    ccall((:bf_topology_star, libbluefog), bf_status,
          (Cint, Cint, Ptr{Ptr{bf_topology}}), size, center_rank, out_)
bf_topology_mesh_grid_2d(size, nrows, ncols, out_) =
    ccall((:bf_topology_mesh_grid_2d, libbluefog), bf_status,
          (Cint, Cint, Cint, Ptr{Ptr{bf_topology}}), size, nrows, ncols, out_)
bf_topology_fully_connected(size, out_) =
    ccall((:bf_topology_fully_connected, libbluefog), bf_status,
          (Cint, Ptr{Ptr{bf_topology}}), size, out_)

bf_topology_from_matrix(size, weights, out_) =
    ccall((:bf_topology_from_matrix, libbluefog), bf_status,
          (Cint, Ptr{Cdouble}, Ptr{Ptr{bf_topology}}), size, weights, out_)
function bf_topology_from_edges(size, num_edges, src, dst, weights, out_)
    ccall((:bf_topology_from_edges, libbluefog), bf_status,
          (Cint, Cint, Ptr{Cint}, Ptr{Cint}, Ptr{Cdouble}, Ptr{Ptr{bf_topology}}),
          size, num_edges, src, dst, weights, out_)
end
bf_topology_copy(topology, out_) =
    ccall((:bf_topology_copy, libbluefog), bf_status,
          (Ptr{bf_topology}, Ptr{Ptr{bf_topology}}), topology, out_)
bf_topology_free(topology) =
    ccall((:bf_topology_free, libbluefog), Cvoid,
          (Ptr{bf_topology},), topology)

bf_topology_size(topology) =
    ccall((:bf_topology_size, libbluefog), Cint,
          (Ptr{bf_topology},), topology)
bf_topology_weight(topology, from_, to_, weight) =
    ccall((:bf_topology_weight, libbluefog), bf_status,
          (Ptr{bf_topology}, Cint, Cint, Ptr{Cdouble}), topology, from_, to_, weight)
bf_topology_to_matrix(topology, matrix) =
    ccall((:bf_topology_to_matrix, libbluefog), bf_status,
          (Ptr{bf_topology}, Ptr{Cdouble}), topology, matrix)
function bf_topology_in_neighbors(topology, rank, ranks, weights, capacity, count)
    ccall((:bf_topology_in_neighbors, libbluefog), bf_status,
          (Ptr{bf_topology}, Cint, Ptr{Cint}, Ptr{Cdouble}, Cint, Ptr{Cint}),
          topology, rank, ranks, weights, capacity, count)
end
function bf_topology_out_neighbors(topology, rank, ranks, weights, capacity, count)
    ccall((:bf_topology_out_neighbors, libbluefog), bf_status,
          (Ptr{bf_topology}, Cint, Ptr{Cint}, Ptr{Cdouble}, Cint, Ptr{Cint}),
          topology, rank, ranks, weights, capacity, count)
end
bf_topology_spectral_gap(topology, rho) =
    ccall((:bf_topology_spectral_gap, libbluefog), bf_status,
          (Ptr{bf_topology}, Ptr{Cdouble}), topology, rho)

function bf_schedule_one_peer(topology, rank, step, send_ranks, send_count, recv_ranks,
                              recv_count, capacity)
    ccall((:bf_schedule_one_peer, libbluefog), bf_status,
          (Ptr{bf_topology}, Cint, Int64, Ptr{Cint}, Ptr{Cint}, Ptr{Cint}, Ptr{Cint}, Cint),
          topology, rank, step, send_ranks, send_count, recv_ranks, recv_count, capacity)
end
function bf_schedule_exp2_machine(world_size, local_size, rank, step, send_machines, send_count,
                                  recv_machines, recv_count, capacity)
    ccall((:bf_schedule_exp2_machine, libbluefog), bf_status,
          (Cint, Cint, Cint, Int64, Ptr{Cint}, Ptr{Cint}, Ptr{Cint}, Ptr{Cint}, Cint),
          world_size, local_size, rank, step, send_machines, send_count, recv_machines,
          recv_count, capacity)
end
function bf_schedule_inner_outer_ring(world_size, local_size, rank, step, send_ranks, send_count,
                                      recv_ranks, recv_count, capacity)
    ccall((:bf_schedule_inner_outer_ring, libbluefog), bf_status,
          (Cint, Cint, Cint, Int64, Ptr{Cint}, Ptr{Cint}, Ptr{Cint}, Ptr{Cint}, Cint),
          world_size, local_size, rank, step, send_ranks, send_count, recv_ranks, recv_count,
          capacity)
end
function bf_schedule_inner_outer_exp2(world_size, local_size, rank, step, send_ranks, send_count,
                                      recv_ranks, recv_count, capacity)
    ccall((:bf_schedule_inner_outer_exp2, libbluefog), bf_status,
          (Cint, Cint, Cint, Int64, Ptr{Cint}, Ptr{Cint}, Ptr{Cint}, Ptr{Cint}, Cint),
          world_size, local_size, rank, step, send_ranks, send_count, recv_ranks, recv_count,
          capacity)
end

bf_set_topology(topology, is_weighted) =
    ccall((:bf_set_topology, libbluefog), bf_status,
          (Ptr{bf_topology}, Cint), topology, is_weighted)
bf_get_topology(out_, is_weighted) =
    ccall((:bf_get_topology, libbluefog), bf_status,
          (Ptr{Ptr{bf_topology}}, Ptr{Cint}), out_, is_weighted)
bf_infer_topology(ranks, count, ranks_are_destinations, out_) =
    ccall((:bf_infer_topology, libbluefog), bf_status,
          (Ptr{Cint}, Cint, Cint, Ptr{Ptr{bf_topology}}), ranks, count, ranks_are_destinations,
          out_)
bf_set_machine_topology(topology, is_weighted) =
    ccall((:bf_set_machine_topology, libbluefog), bf_status,
          (Ptr{bf_topology}, Cint), topology, is_weighted)
bf_get_machine_topology(out_, is_weighted) =
    ccall((:bf_get_machine_topology, libbluefog), bf_status,
          (Ptr{Ptr{bf_topology}}, Ptr{Cint}), out_, is_weighted)

bf_wait(handle, timeout_ms) =
    ccall((:bf_wait, libbluefog), bf_status,
          (bf_handle, Cint), handle, timeout_ms)
bf_poll(handle, done) =
    ccall((:bf_poll, libbluefog), bf_status,
          (bf_handle, Ptr{Cint}), handle, done)
bf_handle_free(handle) = ccall((:bf_handle_free, libbluefog), bf_status, (bf_handle,), handle)

bf_allreduce(in_, out_, args) =
    ccall((:bf_allreduce, libbluefog), bf_status,
          (Ptr{DLTensor}, Ptr{DLTensor}, Ptr{bf_allreduce_args}), in_, out_, args)
function bf_allreduce_async(in_, out_, args, handle)
    ccall((:bf_allreduce_async, libbluefog), bf_status,
          (Ptr{DLTensor}, Ptr{DLTensor}, Ptr{bf_allreduce_args}, Ptr{bf_handle}),
          in_, out_, args, handle)
end

bf_broadcast(in_, out_, root_rank, args) =
    ccall((:bf_broadcast, libbluefog), bf_status,
          (Ptr{DLTensor}, Ptr{DLTensor}, Cint, Ptr{bf_op_args}), in_, out_, root_rank, args)
function bf_broadcast_async(in_, out_, root_rank, args, handle)
    ccall((:bf_broadcast_async, libbluefog), bf_status,
          (Ptr{DLTensor}, Ptr{DLTensor}, Cint, Ptr{bf_op_args}, Ptr{bf_handle}),
          in_, out_, root_rank, args, handle)
end

bf_allgather(in_, out_, args) =
    ccall((:bf_allgather, libbluefog), bf_status,
          (Ptr{DLTensor}, Ptr{Ptr{DLManagedTensor}}, Ptr{bf_op_args}), in_, out_, args)
function bf_allgather_async(in_, out_, args, handle)
    ccall((:bf_allgather_async, libbluefog), bf_status,
          (Ptr{DLTensor}, Ptr{Ptr{DLManagedTensor}}, Ptr{bf_op_args}, Ptr{bf_handle}),
          in_, out_, args, handle)
end

bf_barrier() = ccall((:bf_barrier, libbluefog), bf_status, ())
bf_barrier_async(handle) =
    ccall((:bf_barrier_async, libbluefog), bf_status,
          (Ptr{bf_handle},), handle)

bf_neighbor_allreduce(in_, out_, args) =
    ccall((:bf_neighbor_allreduce, libbluefog), bf_status,
          (Ptr{DLTensor}, Ptr{DLTensor}, Ptr{bf_neighbor_args}), in_, out_, args)
function bf_neighbor_allreduce_async(in_, out_, args, handle)
    ccall((:bf_neighbor_allreduce_async, libbluefog), bf_status,
          (Ptr{DLTensor}, Ptr{DLTensor}, Ptr{bf_neighbor_args}, Ptr{bf_handle}),
          in_, out_, args, handle)
end

bf_hierarchical_neighbor_allreduce(in_, out_, args) =
    ccall((:bf_hierarchical_neighbor_allreduce, libbluefog), bf_status,
          (Ptr{DLTensor}, Ptr{DLTensor}, Ptr{bf_neighbor_args}), in_, out_, args)
function bf_hierarchical_neighbor_allreduce_async(in_, out_, args, handle)
    ccall((:bf_hierarchical_neighbor_allreduce_async, libbluefog), bf_status,
          (Ptr{DLTensor}, Ptr{DLTensor}, Ptr{bf_neighbor_args}, Ptr{bf_handle}),
          in_, out_, args, handle)
end

bf_neighbor_allgather(in_, out_, args) =
    ccall((:bf_neighbor_allgather, libbluefog), bf_status,
          (Ptr{DLTensor}, Ptr{Ptr{DLManagedTensor}}, Ptr{bf_neighbor_args}), in_, out_, args)
function bf_neighbor_allgather_async(in_, out_, args, handle)
    ccall((:bf_neighbor_allgather_async, libbluefog), bf_status,
          (Ptr{DLTensor}, Ptr{Ptr{DLManagedTensor}}, Ptr{bf_neighbor_args}, Ptr{bf_handle}),
          in_, out_, args, handle)
end
function bf_pair_gossip(in_, out_, peer_rank, self_weight, pair_weight, args)
    ccall((:bf_pair_gossip, libbluefog), bf_status,
          (Ptr{DLTensor}, Ptr{DLTensor}, Cint, Cdouble, Cdouble, Ptr{bf_op_args}),
          in_, out_, peer_rank, self_weight, pair_weight, args)
end
function bf_pair_gossip_async(in_, out_, peer_rank, self_weight, pair_weight, args, handle)
    ccall((:bf_pair_gossip_async, libbluefog), bf_status,
          (Ptr{DLTensor}, Ptr{DLTensor}, Cint, Cdouble, Cdouble, Ptr{bf_op_args}, Ptr{bf_handle}),
          in_, out_, peer_rank, self_weight, pair_weight, args, handle)
end

bf_win_create(tensor, name, zero_init) =
    ccall((:bf_win_create, libbluefog), bf_status,
          (Ptr{DLTensor}, Cstring, Cint), tensor, name, zero_init)
bf_win_free(name) = ccall((:bf_win_free, libbluefog), bf_status, (Cstring,), name)
bf_win_names(buffer, capacity, needed) =
    ccall((:bf_win_names, libbluefog), bf_status,
          (Ptr{Cchar}, Csize_t, Ptr{Csize_t}), buffer, capacity, needed)
bf_win_put(tensor, name, args) =
    ccall((:bf_win_put, libbluefog), bf_status,
          (Ptr{DLTensor}, Cstring, Ptr{bf_win_op_args}), tensor, name, args)
function bf_win_put_async(tensor, name, args, handle)
    ccall((:bf_win_put_async, libbluefog), bf_status,
          (Ptr{DLTensor}, Cstring, Ptr{bf_win_op_args}, Ptr{bf_handle}),
          tensor, name, args, handle)
end
bf_win_accumulate(tensor, name, args) =
    ccall((:bf_win_accumulate, libbluefog), bf_status,
          (Ptr{DLTensor}, Cstring, Ptr{bf_win_op_args}), tensor, name, args)
function bf_win_accumulate_async(tensor, name, args, handle)
    ccall((:bf_win_accumulate_async, libbluefog), bf_status,
          (Ptr{DLTensor}, Cstring, Ptr{bf_win_op_args}, Ptr{bf_handle}),
          tensor, name, args, handle)
end
bf_win_get(name, args) =
    ccall((:bf_win_get, libbluefog), bf_status,
          (Cstring, Ptr{bf_win_op_args}), name, args)
bf_win_get_async(name, args, handle) =
    ccall((:bf_win_get_async, libbluefog), bf_status,
          (Cstring, Ptr{bf_win_op_args}, Ptr{bf_handle}), name, args, handle)
bf_win_update(name, args, out_) =
    ccall((:bf_win_update, libbluefog), bf_status,
          (Cstring, Ptr{bf_win_update_args}, Ptr{DLTensor}), name, args, out_)
bf_win_update_then_collect(name, require_mutex) =
    ccall((:bf_win_update_then_collect, libbluefog), bf_status,
          (Cstring, Cint), name, require_mutex)
bf_win_mutex_acquire(name, ranks, count, for_self) =
    ccall((:bf_win_mutex_acquire, libbluefog), bf_status,
          (Cstring, Ptr{Cint}, Cint, Cint), name, ranks, count, for_self)
bf_win_mutex_release(name, ranks, count, for_self) =
    ccall((:bf_win_mutex_release, libbluefog), bf_status,
          (Cstring, Ptr{Cint}, Cint, Cint), name, ranks, count, for_self)
function bf_win_versions(name, ranks, versions, capacity, count)
    ccall((:bf_win_versions, libbluefog), bf_status,
          (Cstring, Ptr{Cint}, Ptr{Cint}, Cint, Ptr{Cint}), name, ranks, versions, capacity, count)
end
bf_win_associated_p(name, p) =
    ccall((:bf_win_associated_p, libbluefog), bf_status, (Cstring, Ptr{Cdouble}), name, p)
bf_set_win_associated_p(enabled) =
    ccall((:bf_set_win_associated_p, libbluefog), bf_status, (Cint,), enabled)
bf_get_win_associated_p(enabled) =
    ccall((:bf_get_win_associated_p, libbluefog), bf_status, (Ptr{Cint},), enabled)

bf_timeline_start_activity(name, activity) =
    ccall((:bf_timeline_start_activity, libbluefog), bf_status,
          (Cstring, Cstring), name, activity)
bf_timeline_end_activity(name) =
    ccall((:bf_timeline_end_activity, libbluefog), bf_status,
          (Cstring,), name)

bf_mpi_threads_supported() = ccall((:bf_mpi_threads_supported, libbluefog), Cint, ())
bf_unified_mpi_window_model_supported() =
    ccall((:bf_unified_mpi_window_model_supported, libbluefog), Cint, ())
bf_win_lock(name) = ccall((:bf_win_lock, libbluefog), bf_status, (Cstring,), name)
bf_win_unlock(name) = ccall((:bf_win_unlock, libbluefog), bf_status, (Cstring,), name)
bf_win_is_locked(name, locked) =
    ccall((:bf_win_is_locked, libbluefog), bf_status, (Cstring, Ptr{Cint}), name, locked)
bf_suspend() = ccall((:bf_suspend, libbluefog), bf_status, ())
bf_resume() = ccall((:bf_resume, libbluefog), bf_status, ())
bf_suspended() = ccall((:bf_suspended, libbluefog), Cint, ())
bf_set_matching_mode(mode) =
    ccall((:bf_set_matching_mode, libbluefog), bf_status, (bf_matching_mode,), mode)

end  # module LibBlueFog

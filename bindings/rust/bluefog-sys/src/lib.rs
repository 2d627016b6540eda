// SPDX-License-Identifier: Apache-2.0
//! Raw declarations of the BlueFog-C API (`include/bluefog.h`) and of the DLPack 0.6 types it
//! uses, written by hand. Names, types and argument order follow the header exactly; the header's
//! comments are the reference for what each function does, who owns what, and which statuses it
//! returns. The safe API is the `bluefog` crate.
//!
//! C enums are plain `c_int` type aliases with one constant per enumerator: a Rust `enum` would be
//! undefined behaviour for a value the library adds later. `tests/drift.rs` parses the header and
//! checks every function here against it and against the built library.
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case)]

use std::os::raw::{c_char, c_double, c_int, c_void};

// ---------------------------------------------------------------------------------------------
// DLPack 0.6 (dlpack/dlpack.h), the tensor exchange format of every operation.

/// DLPack device type (`DLDeviceType`).
pub type DLDeviceType = c_int;
/// Host memory.
pub const kDLCPU: DLDeviceType = 1;
/// CUDA device memory.
pub const kDLCUDA: DLDeviceType = 2;
/// Pinned host memory from `cudaMallocHost`.
pub const kDLCUDAHost: DLDeviceType = 3;
/// OpenCL memory.
pub const kDLOpenCL: DLDeviceType = 4;
/// Vulkan memory.
pub const kDLVulkan: DLDeviceType = 7;
/// Metal memory.
pub const kDLMetal: DLDeviceType = 8;
/// Verilog simulator memory.
pub const kDLVPI: DLDeviceType = 9;
/// ROCm device memory.
pub const kDLROCM: DLDeviceType = 10;
/// Pinned host memory from `hipMallocHost`.
pub const kDLROCMHost: DLDeviceType = 11;
/// Reserved extension device.
pub const kDLExtDev: DLDeviceType = 12;
/// CUDA managed (unified) memory.
pub const kDLCUDAManaged: DLDeviceType = 13;

/// A device: its type and index (0 for host memory).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DLDevice {
    /// One of the `kDL*` device types.
    pub device_type: DLDeviceType,
    /// Device index.
    pub device_id: c_int,
}

/// DLPack type code (`DLDataTypeCode`).
pub type DLDataTypeCode = u8;
/// Signed integer.
pub const kDLInt: DLDataTypeCode = 0;
/// Unsigned integer.
pub const kDLUInt: DLDataTypeCode = 1;
/// IEEE floating point.
pub const kDLFloat: DLDataTypeCode = 2;
/// Opaque handle.
pub const kDLOpaqueHandle: DLDataTypeCode = 3;
/// bfloat16.
pub const kDLBfloat: DLDataTypeCode = 4;
/// Complex number.
pub const kDLComplex: DLDataTypeCode = 5;

/// Element type of a tensor.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DLDataType {
    /// One of the `kDL*` type codes.
    pub code: u8,
    /// Bits per lane.
    pub bits: u8,
    /// Lanes per element (BlueFog requires 1).
    pub lanes: u16,
}

/// A borrowed tensor: data pointer, device, shape and optional strides (in elements).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DLTensor {
    /// Start of the data (device memory for device tensors).
    pub data: *mut c_void,
    /// Where `data` lives.
    pub device: DLDevice,
    /// Number of dimensions.
    pub ndim: c_int,
    /// Element type.
    pub dtype: DLDataType,
    /// `ndim` extents.
    pub shape: *mut i64,
    /// `ndim` strides in elements, or null for compact row-major.
    pub strides: *mut i64,
    /// Offset in bytes from `data` to the first element.
    pub byte_offset: u64,
}

/// A tensor handed over with ownership: call `deleter(self)` when done with it.
#[repr(C)]
#[derive(Debug)]
pub struct DLManagedTensor {
    /// The tensor.
    pub dl_tensor: DLTensor,
    /// Opaque state of the producer.
    pub manager_ctx: *mut c_void,
    /// Frees the tensor and its data; may be null.
    pub deleter: Option<unsafe extern "C" fn(self_: *mut DLManagedTensor)>,
}

// ---------------------------------------------------------------------------------------------
// Version.

/// Major version of the header these declarations follow.
pub const BF_VERSION_MAJOR: c_int = 0;
/// Minor version of the header these declarations follow.
pub const BF_VERSION_MINOR: c_int = 1;
/// Patch version of the header these declarations follow.
pub const BF_VERSION_PATCH: c_int = 0;

/// `BF_VERSION_CODE(major, minor, patch)`: the encoding `bf_get_version` returns.
pub const fn BF_VERSION_CODE(major: c_int, minor: c_int, patch: c_int) -> c_int {
    major * 10000 + minor * 100 + patch
}

/// `BF_VERSION`: the version of the header these declarations follow.
pub const BF_VERSION: c_int = BF_VERSION_CODE(BF_VERSION_MAJOR, BF_VERSION_MINOR, BF_VERSION_PATCH);

// ---------------------------------------------------------------------------------------------
// Status codes (pinned, append-only).

/// Result of every function that can fail.
pub type bf_status = c_int;
/// Success.
pub const BF_OK: bf_status = 0;
/// An argument is malformed or names something that does not exist.
pub const BF_ERR_INVALID_ARGUMENT: bf_status = 1;
/// Called before `bf_init` or after `bf_finalize`.
pub const BF_ERR_NOT_INITIALIZED: bf_status = 2;
/// Ranks posted incompatible collectives; reported on all of them.
pub const BF_ERR_MISMATCH: bf_status = 3;
/// MPI / NCCL / CUDA failed; the message carries their text.
pub const BF_ERR_BACKEND: bf_status = 4;
/// `bf_wait` timed out; the operation is still in flight.
pub const BF_ERR_TIMEOUT: bf_status = 5;
/// A valid request this build or this device cannot serve.
pub const BF_ERR_UNSUPPORTED: bf_status = 6;
/// The engine shut down before the operation could run.
pub const BF_ERR_SHUTDOWN: bf_status = 7;
/// The object is still in use by an operation in flight.
pub const BF_ERR_IN_PROGRESS: bf_status = 8;
/// An allocation failed.
pub const BF_ERR_OUT_OF_MEMORY: bf_status = 9;
/// A bug in BlueFog-C.
pub const BF_ERR_INTERNAL: bf_status = 10;
/// The engine is suspended (`bf_suspend`); nothing was queued.
pub const BF_ERR_SUSPENDED: bf_status = 11;

// ---------------------------------------------------------------------------------------------
// Process model.

/// How operations are matched across ranks (`bf_matching_mode`).
pub type bf_matching_mode = c_int;
/// `BLUEFOG_MATCHING`, else ordered.
pub const BF_MATCHING_DEFAULT: bf_matching_mode = 0;
/// Global operations run in issue order on every rank; neighbor operations match by name.
pub const BF_MATCHING_ORDERED: bf_matching_mode = 1;
/// Operations match by name and may be issued in different orders on different ranks.
pub const BF_MATCHING_NAMED: bf_matching_mode = 2;

/// How neighbor_allreduce payloads travel (`bf_compression`, docs/compression.md).
pub type bf_compression = c_int;
/// The init option / `BLUEFOG_COMPRESSION`, else none.
pub const BF_COMPRESSION_DEFAULT: bf_compression = 0;
/// The tensor as it is.
pub const BF_COMPRESSION_NONE: bf_compression = 1;
/// Cast to bfloat16 on the wire.
pub const BF_COMPRESSION_BFLOAT16: bf_compression = 2;
/// Cast to float16 on the wire.
pub const BF_COMPRESSION_FLOAT16: bf_compression = 3;
/// int8 with one float32 scale per 256 elements.
pub const BF_COMPRESSION_INT8: bf_compression = 4;
/// The largest-magnitude fraction, as index/value pairs.
pub const BF_COMPRESSION_TOPK: bf_compression = 5;

/// Whether compressed sends keep error-feedback state (`bf_error_feedback`).
pub type bf_error_feedback = c_int;
/// On for every lossy compression.
pub const BF_ERROR_FEEDBACK_DEFAULT: bf_error_feedback = 0;
/// Keep per-(name, peer) estimates and send differences.
pub const BF_ERROR_FEEDBACK_ON: bf_error_feedback = 1;
/// Send the encoded tensor itself (the mean drifts).
pub const BF_ERROR_FEEDBACK_OFF: bf_error_feedback = 2;

/// Options of `bf_init`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_init_options {
    /// `size_of::<bf_init_options>()`.
    pub struct_size: usize,
    /// Pointer to an `MPI_Comm` to adopt (duplicated), or null for `MPI_COMM_WORLD`.
    pub mpi_comm: *const c_void,
    /// Ranks per machine; 0: `BLUEFOG_NODES_PER_MACHINE`, else a shared-memory split.
    pub nodes_per_machine: c_int,
    /// Matching mode.
    pub matching_mode: bf_matching_mode,
    /// Seconds before a waiting operation is reported on stderr; 0: default, negative: never.
    pub stall_warning_s: c_double,
    /// Chrome trace file prefix (`<prefix><rank>.json`), or null for `BLUEFOG_TIMELINE`.
    pub timeline_prefix: *const c_char,
    /// Fuse small neighbor messages up to this many bytes; 0: default, negative: no fusion.
    pub fusion_threshold_bytes: i64,
    /// Milliseconds to wait for more operations to fuse with; 0: default.
    pub cycle_time_ms: c_double,
    /// Compression where neighbor arguments leave it default; `BF_COMPRESSION_DEFAULT`: env.
    pub compression: bf_compression,
    /// Top-k fraction where arguments leave it 0; 0: `BLUEFOG_TOPK_RATIO`, else 0.01.
    pub topk_ratio: c_double,
}

impl Default for bf_init_options {
    /// `BF_INIT_OPTIONS_INIT`.
    fn default() -> Self {
        bf_init_options {
            struct_size: std::mem::size_of::<bf_init_options>(),
            mpi_comm: std::ptr::null(),
            nodes_per_machine: 0,
            matching_mode: BF_MATCHING_DEFAULT,
            stall_warning_s: 0.0,
            timeline_prefix: std::ptr::null(),
            fusion_threshold_bytes: 0,
            cycle_time_ms: 0.0,
            compression: BF_COMPRESSION_DEFAULT,
            topk_ratio: 0.0,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Topology.

/// Opaque weighted digraph; owned by the caller, freed with `bf_topology_free`.
#[repr(C)]
pub struct bf_topology {
    _opaque: [u8; 0],
    // Neither Send, Sync nor Unpin by default: raw pointers decide.
    _marker: std::marker::PhantomData<(*mut u8, std::marker::PhantomPinned)>,
}

/// Ring direction (`bf_ring_style`).
pub type bf_ring_style = c_int;
/// i <-> i-1 and i <-> i+1, weights 1/3.
pub const BF_RING_BIDIRECTIONAL: bf_ring_style = 0;
/// i sends to i-1, weights 1/2.
pub const BF_RING_LEFT: bf_ring_style = 1;
/// i sends to i+1, weights 1/2.
pub const BF_RING_RIGHT: bf_ring_style = 2;

// ---------------------------------------------------------------------------------------------
// Handles and operation arguments.

/// Process-local id of an asynchronous operation (never 0).
pub type bf_handle = u64;

/// Arguments shared by the simple operations.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_op_args {
    /// `size_of::<bf_op_args>()`.
    pub struct_size: usize,
    /// Name matched across ranks (copied), or null for an automatic name.
    pub name: *const c_char,
}

impl Default for bf_op_args {
    fn default() -> Self {
        bf_op_args { struct_size: std::mem::size_of::<bf_op_args>(), name: std::ptr::null() }
    }
}

/// Reduction of `bf_allreduce` (`bf_reduce_op`).
pub type bf_reduce_op = c_int;
/// Average over ranks (floating dtypes only).
pub const BF_REDUCE_AVERAGE: bf_reduce_op = 0;
/// Sum over ranks.
pub const BF_REDUCE_SUM: bf_reduce_op = 1;

/// Arguments of `bf_allreduce`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_allreduce_args {
    /// `size_of::<bf_allreduce_args>()`.
    pub struct_size: usize,
    /// Name matched across ranks, or null.
    pub name: *const c_char,
    /// Reduction.
    pub op: bf_reduce_op,
    /// Nonzero: reduce over this machine's ranks only.
    pub machine_local: c_int,
}

impl Default for bf_allreduce_args {
    fn default() -> Self {
        bf_allreduce_args {
            struct_size: std::mem::size_of::<bf_allreduce_args>(),
            name: std::ptr::null(),
            op: BF_REDUCE_AVERAGE,
            machine_local: 0,
        }
    }
}

/// Arguments of the neighbor operations (static or dynamic mode).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_neighbor_args {
    /// `size_of::<bf_neighbor_args>()`.
    pub struct_size: usize,
    /// Name matched across ranks, or null.
    pub name: *const c_char,
    /// Nonzero: `self_weight` and `src_ranks`/`src_weights` are given.
    pub has_weights: c_int,
    /// Weight of this rank's own value.
    pub self_weight: c_double,
    /// Number of entries of `src_ranks` (and `src_weights`).
    pub src_count: c_int,
    /// Ranks received from.
    pub src_ranks: *const c_int,
    /// Weights of the received values, or null for 1.0 each.
    pub src_weights: *const c_double,
    /// Nonzero: use `dst_ranks`/`src_ranks` instead of the topology.
    pub dynamic: c_int,
    /// Number of entries of `dst_ranks` (and `dst_weights`).
    pub dst_count: c_int,
    /// Ranks sent to.
    pub dst_ranks: *const c_int,
    /// Scaling of the copy sent to each destination, or null for none.
    pub dst_weights: *const c_double,
    /// Nonzero: verify the dynamic lists globally first.
    pub check_topology: c_int,
    /// Compression of what this rank sends (`BF_COMPRESSION_DEFAULT`: the init default).
    pub compression: bf_compression,
    /// Top-k fraction kept, in (0, 1]; 0: the init default.
    pub topk_ratio: c_double,
    /// Error feedback (default: on for lossy compression; needs a name).
    pub error_feedback: bf_error_feedback,
    /// Consensus step in (0, 1]; 0: 1, or min(1, 2 * ratio) for top-k.
    pub consensus_step: c_double,
}

impl Default for bf_neighbor_args {
    fn default() -> Self {
        bf_neighbor_args {
            struct_size: std::mem::size_of::<bf_neighbor_args>(),
            name: std::ptr::null(),
            has_weights: 0,
            self_weight: 0.0,
            src_count: 0,
            src_ranks: std::ptr::null(),
            src_weights: std::ptr::null(),
            dynamic: 0,
            dst_count: 0,
            dst_ranks: std::ptr::null(),
            dst_weights: std::ptr::null(),
            check_topology: 0,
            compression: BF_COMPRESSION_DEFAULT,
            topk_ratio: 0.0,
            error_feedback: BF_ERROR_FEEDBACK_DEFAULT,
            consensus_step: 0.0,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One-sided windows.

/// Arguments of `bf_win_put`, `bf_win_accumulate` and `bf_win_get`. `Default` is the zeroed
/// struct with its size set, which means every neighbor, weight 1.0, no self weight.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_win_op_args {
    /// `size_of::<bf_win_op_args>()`.
    pub struct_size: usize,
    /// Put/accumulate only: nonzero scales the tensor by `self_weight` after sending.
    pub has_self_weight: c_int,
    /// Scaling of this rank's tensor after a put or accumulate.
    pub self_weight: c_double,
    /// Nonzero: `count`/`ranks`/`weights` are given; zero: every neighbor, weight 1.0.
    pub has_ranks: c_int,
    /// Number of entries of `ranks` (and `weights`).
    pub count: c_int,
    /// Destinations (put/accumulate; out-neighbors) or sources (get; in-neighbors).
    pub ranks: *const c_int,
    /// One weight per rank, or null for 1.0 each.
    pub weights: *const c_double,
    /// Nonzero: hold mutex (peer, this rank) at each peer while transferring.
    pub require_mutex: c_int,
}

impl Default for bf_win_op_args {
    fn default() -> Self {
        bf_win_op_args {
            struct_size: std::mem::size_of::<bf_win_op_args>(),
            has_self_weight: 0,
            self_weight: 0.0,
            has_ranks: 0,
            count: 0,
            ranks: std::ptr::null(),
            weights: std::ptr::null(),
            require_mutex: 0,
        }
    }
}

/// Arguments of `bf_win_update`. `Default` is the zeroed struct with its size set: the
/// topology's weights if it was set weighted, else uniform `1/(in-degree+1)`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_win_update_args {
    /// `size_of::<bf_win_update_args>()`.
    pub struct_size: usize,
    /// Nonzero: `self_weight` and `count`/`ranks`/`weights` are given.
    pub has_weights: c_int,
    /// Weight of the window's tensor.
    pub self_weight: c_double,
    /// Number of entries of `ranks` (and `weights`).
    pub count: c_int,
    /// In-neighbors whose buffers are combined.
    pub ranks: *const c_int,
    /// One weight per rank, or null for 1.0 each.
    pub weights: *const c_double,
    /// Nonzero: zero the buffers read (and their associated p) afterwards.
    pub reset: c_int,
    /// Nonzero: hold mutex (this rank, r) for every buffer r read.
    pub require_mutex: c_int,
}

impl Default for bf_win_update_args {
    fn default() -> Self {
        bf_win_update_args {
            struct_size: std::mem::size_of::<bf_win_update_args>(),
            has_weights: 0,
            self_weight: 0.0,
            count: 0,
            ranks: std::ptr::null(),
            weights: std::ptr::null(),
            reset: 0,
            require_mutex: 0,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Functions, in the header's order. See bluefog.h for each one's contract.

extern "C" {
    pub fn bf_get_version() -> c_int;

    pub fn bf_status_string(status: bf_status) -> *const c_char;
    pub fn bf_last_error() -> *const c_char;

    pub fn bf_matching_mode_in_effect() -> c_int;
    pub fn bf_init(options: *const bf_init_options) -> bf_status;
    pub fn bf_finalize() -> bf_status;
    pub fn bf_initialized() -> c_int;
    pub fn bf_rank() -> c_int;
    pub fn bf_size() -> c_int;
    pub fn bf_local_rank() -> c_int;
    pub fn bf_local_size() -> c_int;
    pub fn bf_machine_rank() -> c_int;
    pub fn bf_machine_size() -> c_int;
    pub fn bf_is_homogeneous() -> c_int;

    pub fn bf_cuda_device_count() -> c_int;
    pub fn bf_nccl_built() -> c_int;
    pub fn bf_set_cuda_stream(stream: *mut c_void) -> bf_status;

    pub fn bf_topology_exponential(
        size: c_int,
        base: c_int,
        out: *mut *mut bf_topology,
    ) -> bf_status;
    pub fn bf_topology_exponential_two(size: c_int, out: *mut *mut bf_topology) -> bf_status;
    pub fn bf_topology_symmetric_exponential(
        size: c_int,
        base: c_int,
        out: *mut *mut bf_topology,
    ) -> bf_status;
    pub fn bf_topology_ring(
        size: c_int,
        style: bf_ring_style,
        out: *mut *mut bf_topology,
    ) -> bf_status;
    pub fn bf_topology_star(
        size: c_int,
        center_rank: c_int,
        out: *mut *mut bf_topology,
    ) -> bf_status;
    pub fn bf_topology_mesh_grid_2d(
        size: c_int,
        nrows: c_int,
        ncols: c_int,
        out: *mut *mut bf_topology,
    ) -> bf_status;
    pub fn bf_topology_fully_connected(size: c_int, out: *mut *mut bf_topology) -> bf_status;
    pub fn bf_topology_from_matrix(
        size: c_int,
        weights: *const c_double,
        out: *mut *mut bf_topology,
    ) -> bf_status;
    pub fn bf_topology_from_edges(
        size: c_int,
        num_edges: c_int,
        src: *const c_int,
        dst: *const c_int,
        weights: *const c_double,
        out: *mut *mut bf_topology,
    ) -> bf_status;
    pub fn bf_topology_copy(topology: *const bf_topology, out: *mut *mut bf_topology) -> bf_status;
    pub fn bf_topology_free(topology: *mut bf_topology);
    pub fn bf_topology_size(topology: *const bf_topology) -> c_int;
    pub fn bf_topology_weight(
        topology: *const bf_topology,
        from: c_int,
        to: c_int,
        weight: *mut c_double,
    ) -> bf_status;
    pub fn bf_topology_to_matrix(topology: *const bf_topology, matrix: *mut c_double) -> bf_status;
    pub fn bf_topology_in_neighbors(
        topology: *const bf_topology,
        rank: c_int,
        ranks: *mut c_int,
        weights: *mut c_double,
        capacity: c_int,
        count: *mut c_int,
    ) -> bf_status;
    pub fn bf_topology_out_neighbors(
        topology: *const bf_topology,
        rank: c_int,
        ranks: *mut c_int,
        weights: *mut c_double,
        capacity: c_int,
        count: *mut c_int,
    ) -> bf_status;
    pub fn bf_topology_spectral_gap(topology: *const bf_topology, rho: *mut c_double) -> bf_status;

    pub fn bf_schedule_one_peer(
        topology: *const bf_topology,
        rank: c_int,
        step: i64,
        send_ranks: *mut c_int,
        send_count: *mut c_int,
        recv_ranks: *mut c_int,
        recv_count: *mut c_int,
        capacity: c_int,
    ) -> bf_status;
    pub fn bf_schedule_exp2_machine(
        world_size: c_int,
        local_size: c_int,
        rank: c_int,
        step: i64,
        send_machines: *mut c_int,
        send_count: *mut c_int,
        recv_machines: *mut c_int,
        recv_count: *mut c_int,
        capacity: c_int,
    ) -> bf_status;
    pub fn bf_schedule_inner_outer_ring(
        world_size: c_int,
        local_size: c_int,
        rank: c_int,
        step: i64,
        send_ranks: *mut c_int,
        send_count: *mut c_int,
        recv_ranks: *mut c_int,
        recv_count: *mut c_int,
        capacity: c_int,
    ) -> bf_status;
    pub fn bf_schedule_inner_outer_exp2(
        world_size: c_int,
        local_size: c_int,
        rank: c_int,
        step: i64,
        send_ranks: *mut c_int,
        send_count: *mut c_int,
        recv_ranks: *mut c_int,
        recv_count: *mut c_int,
        capacity: c_int,
    ) -> bf_status;

    pub fn bf_set_topology(topology: *const bf_topology, is_weighted: c_int) -> bf_status;
    pub fn bf_get_topology(out: *mut *mut bf_topology, is_weighted: *mut c_int) -> bf_status;
    pub fn bf_infer_topology(
        ranks: *const c_int,
        count: c_int,
        ranks_are_destinations: c_int,
        out: *mut *mut bf_topology,
    ) -> bf_status;
    pub fn bf_set_machine_topology(topology: *const bf_topology, is_weighted: c_int) -> bf_status;
    pub fn bf_get_machine_topology(
        out: *mut *mut bf_topology,
        is_weighted: *mut c_int,
    ) -> bf_status;

    pub fn bf_wait(handle: bf_handle, timeout_ms: c_int) -> bf_status;
    pub fn bf_poll(handle: bf_handle, done: *mut c_int) -> bf_status;
    pub fn bf_handle_free(handle: bf_handle) -> bf_status;

    pub fn bf_allreduce(
        in_: *const DLTensor,
        out: *mut DLTensor,
        args: *const bf_allreduce_args,
    ) -> bf_status;
    pub fn bf_allreduce_async(
        in_: *const DLTensor,
        out: *mut DLTensor,
        args: *const bf_allreduce_args,
        handle: *mut bf_handle,
    ) -> bf_status;

    pub fn bf_broadcast(
        in_: *const DLTensor,
        out: *mut DLTensor,
        root_rank: c_int,
        args: *const bf_op_args,
    ) -> bf_status;
    pub fn bf_broadcast_async(
        in_: *const DLTensor,
        out: *mut DLTensor,
        root_rank: c_int,
        args: *const bf_op_args,
        handle: *mut bf_handle,
    ) -> bf_status;

    pub fn bf_allgather(
        in_: *const DLTensor,
        out: *mut *mut DLManagedTensor,
        args: *const bf_op_args,
    ) -> bf_status;
    pub fn bf_allgather_async(
        in_: *const DLTensor,
        out: *mut *mut DLManagedTensor,
        args: *const bf_op_args,
        handle: *mut bf_handle,
    ) -> bf_status;

    pub fn bf_barrier() -> bf_status;
    pub fn bf_barrier_async(handle: *mut bf_handle) -> bf_status;

    pub fn bf_neighbor_allreduce(
        in_: *const DLTensor,
        out: *mut DLTensor,
        args: *const bf_neighbor_args,
    ) -> bf_status;
    pub fn bf_neighbor_allreduce_async(
        in_: *const DLTensor,
        out: *mut DLTensor,
        args: *const bf_neighbor_args,
        handle: *mut bf_handle,
    ) -> bf_status;

    pub fn bf_hierarchical_neighbor_allreduce(
        in_: *const DLTensor,
        out: *mut DLTensor,
        args: *const bf_neighbor_args,
    ) -> bf_status;
    pub fn bf_hierarchical_neighbor_allreduce_async(
        in_: *const DLTensor,
        out: *mut DLTensor,
        args: *const bf_neighbor_args,
        handle: *mut bf_handle,
    ) -> bf_status;

    pub fn bf_neighbor_allgather(
        in_: *const DLTensor,
        out: *mut *mut DLManagedTensor,
        args: *const bf_neighbor_args,
    ) -> bf_status;
    pub fn bf_neighbor_allgather_async(
        in_: *const DLTensor,
        out: *mut *mut DLManagedTensor,
        args: *const bf_neighbor_args,
        handle: *mut bf_handle,
    ) -> bf_status;

    pub fn bf_pair_gossip(
        in_: *const DLTensor,
        out: *mut DLTensor,
        peer_rank: c_int,
        self_weight: c_double,
        pair_weight: c_double,
        args: *const bf_op_args,
    ) -> bf_status;
    pub fn bf_pair_gossip_async(
        in_: *const DLTensor,
        out: *mut DLTensor,
        peer_rank: c_int,
        self_weight: c_double,
        pair_weight: c_double,
        args: *const bf_op_args,
        handle: *mut bf_handle,
    ) -> bf_status;

    pub fn bf_win_create(tensor: *mut DLTensor, name: *const c_char, zero_init: c_int)
        -> bf_status;
    pub fn bf_win_free(name: *const c_char) -> bf_status;
    pub fn bf_win_names(buffer: *mut c_char, capacity: usize, needed: *mut usize) -> bf_status;
    pub fn bf_win_put(
        tensor: *mut DLTensor,
        name: *const c_char,
        args: *const bf_win_op_args,
    ) -> bf_status;
    pub fn bf_win_put_async(
        tensor: *mut DLTensor,
        name: *const c_char,
        args: *const bf_win_op_args,
        handle: *mut bf_handle,
    ) -> bf_status;
    pub fn bf_win_accumulate(
        tensor: *mut DLTensor,
        name: *const c_char,
        args: *const bf_win_op_args,
    ) -> bf_status;
    pub fn bf_win_accumulate_async(
        tensor: *mut DLTensor,
        name: *const c_char,
        args: *const bf_win_op_args,
        handle: *mut bf_handle,
    ) -> bf_status;
    pub fn bf_win_get(name: *const c_char, args: *const bf_win_op_args) -> bf_status;
    pub fn bf_win_get_async(
        name: *const c_char,
        args: *const bf_win_op_args,
        handle: *mut bf_handle,
    ) -> bf_status;
    pub fn bf_win_update(
        name: *const c_char,
        args: *const bf_win_update_args,
        out: *mut DLTensor,
    ) -> bf_status;
    pub fn bf_win_update_then_collect(name: *const c_char, require_mutex: c_int) -> bf_status;
    pub fn bf_win_mutex_acquire(
        name: *const c_char,
        ranks: *const c_int,
        count: c_int,
        for_self: c_int,
    ) -> bf_status;
    pub fn bf_win_mutex_release(
        name: *const c_char,
        ranks: *const c_int,
        count: c_int,
        for_self: c_int,
    ) -> bf_status;
    pub fn bf_win_versions(
        name: *const c_char,
        ranks: *mut c_int,
        versions: *mut c_int,
        capacity: c_int,
        count: *mut c_int,
    ) -> bf_status;
    pub fn bf_win_associated_p(name: *const c_char, p: *mut c_double) -> bf_status;
    pub fn bf_set_win_associated_p(enabled: c_int) -> bf_status;
    pub fn bf_get_win_associated_p(enabled: *mut c_int) -> bf_status;

    pub fn bf_timeline_start_activity(name: *const c_char, activity: *const c_char) -> bf_status;
    pub fn bf_timeline_end_activity(name: *const c_char) -> bf_status;

    pub fn bf_mpi_threads_supported() -> c_int;
    pub fn bf_unified_mpi_window_model_supported() -> c_int;
    pub fn bf_win_lock(name: *const c_char) -> bf_status;
    pub fn bf_win_unlock(name: *const c_char) -> bf_status;
    pub fn bf_win_is_locked(name: *const c_char, locked: *mut c_int) -> bf_status;
    pub fn bf_suspend() -> bf_status;
    pub fn bf_resume() -> bf_status;
    pub fn bf_suspended() -> c_int;
    pub fn bf_set_matching_mode(mode: bf_matching_mode) -> bf_status;
}

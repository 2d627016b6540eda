# SPDX-License-Identifier: Apache-2.0
# Process lifecycle (init / close), rank queries, the process and machine topologies, and
# timeline activities.

"""
    Context

The initialized library (one per process). `close(ctx)` finalizes; so does process exit if the
program never closes it (an `atexit` hook: MPI launchers treat a process that initialized MPI and
exits without finalizing as failed). Finalizing is collective.
"""
mutable struct Context
    open::Bool
end

const MATCHING_MODES = Dict(:default => L.BF_MATCHING_DEFAULT, :ordered => L.BF_MATCHING_ORDERED,
                            :named => L.BF_MATCHING_NAMED)
const ATEXIT_REGISTERED = Ref(false)

"""
    BlueFog.init(; nodes_per_machine = 0, matching = :default, stall_warning_s = 0.0,
                 timeline_prefix = nothing, fusion_threshold_bytes = 0, cycle_time_ms = 0.0,
                 compression = nothing, topk_ratio = 0.0)

Starts BlueFog (and MPI, with `MPI_THREAD_MULTIPLE`, unless it is already initialized) and
returns a `Context`. Collective over all ranks. `matching` is `:default`, `:ordered` or `:named`;
`timeline_prefix` writes a Chrome trace to `<prefix><rank>.json`; zeros mean the library's
defaults (and its `BLUEFOG_*` environment variables). `compression` (`:none`, `:bf16`, `:fp16`,
`:int8`, `:topk`) and `topk_ratio` are the defaults of neighbor averaging (docs/compression.md).
"""
function init(; nodes_per_machine::Integer = 0, matching::Symbol = :default,
              stall_warning_s::Real = 0.0, timeline_prefix::Union{Nothing,AbstractString} = nothing,
              fusion_threshold_bytes::Integer = 0, cycle_time_ms::Real = 0.0,
              compression::Union{Nothing,Symbol} = nothing, topk_ratio::Real = 0.0)
    haskey(MATCHING_MODES, matching) || throw(invalid_argument("unknown matching mode :$matching"))
    prefix = timeline_prefix === nothing ? nothing : String(timeline_prefix)
    if prefix !== nothing && Base.containsnul(prefix)
        throw(invalid_argument("timeline_prefix contains a NUL byte"))
    end
    GC.@preserve prefix begin
        prefix_ptr = prefix === nothing ? Ptr{Cchar}(C_NULL) : Ptr{Cchar}(pointer(prefix))
        options = L.bf_init_options(sizeof(L.bf_init_options), C_NULL, nodes_per_machine,
                                    MATCHING_MODES[matching], stall_warning_s, prefix_ptr,
                                    fusion_threshold_bytes, cycle_time_ms,
                                    compression_code(compression), topk_ratio)
        check(L.bf_init(Ref(options)))
    end
    if !ATEXIT_REGISTERED[]
        ATEXIT_REGISTERED[] = true
        atexit(() -> L.bf_initialized() == 1 && L.bf_finalize())
    end
    return Context(true)
end

"""Finalizes BlueFog (collective); queued operations run to completion first. Idempotent."""
function Base.close(ctx::Context)
    if ctx.open
        ctx.open = false
        status = L.bf_finalize()  # frees the windows still open, collectively
        empty!(WINDOW_ARRAYS)
        check(status)
    end
    return nothing
end

"""`init(f; kwargs...)`: runs `f(ctx)` and closes the context afterwards, even on error."""
function init(f::Function; kwargs...)
    ctx = init(; kwargs...)
    try
        return f(ctx)
    finally
        close(ctx)
    end
end

"""True between `init` and `close`."""
initialized() = L.bf_initialized() == 1

"""The version of the loaded library."""
function version()
    code = Int(L.bf_get_version())
    return VersionNumber(code ÷ 10000, code ÷ 100 % 100, code % 100)
end

"""This process's rank (0-based), or -1 before `init`."""
rank() = Int(L.bf_rank())
"""Number of ranks, or -1 before `init`."""
world_size() = Int(L.bf_size())
"""Rank within this machine."""
local_rank() = Int(L.bf_local_rank())
"""Number of ranks on this machine."""
local_size() = Int(L.bf_local_size())
"""This machine's index."""
machine_rank() = Int(L.bf_machine_rank())
"""Number of machines."""
machine_size() = Int(L.bf_machine_size())
"""True if every machine has the same local size and contiguous ranks."""
is_homogeneous() = L.bf_is_homogeneous() == 1

"""CUDA devices the engine can use for GPU tensors (0: built without CUDA, or no GPU visible)."""
cuda_device_count() = Int(L.bf_cuda_device_count())
"""Whether GPU tensors go through NCCL in this build (false: staged through host memory)."""
nccl_built() = L.bf_nccl_built() == 1
"""GPU tensors the calling thread passes from now on are read after the work queued on `stream` (a
`CUstream` pointer, e.g. `CUDA.stream().handle`; `C_NULL`: the legacy default stream)."""
set_cuda_stream(stream::Ptr{Cvoid}) = check(L.bf_set_cuda_stream(stream))

"""The matching mode in effect: `:ordered` or `:named` (`:uninitialized` before `init`)."""
function matching_mode()
    mode = L.bf_matching_mode_in_effect()
    mode == L.BF_MATCHING_ORDERED && return :ordered
    mode == L.BF_MATCHING_NAMED && return :named
    return :uninitialized
end

"""
    set_matching_mode!(mode)

Switches every rank to matching `mode` (`:ordered` or `:named`) at run time (BlueFog's
`set_skip_negotiate_stage`). Collective: every rank calls it at the same point of its global
operations with the same mode. Throws `BlueFogError` (`BF_ERR_IN_PROGRESS`) while operations are
in flight; the mode is then unchanged.
"""
function set_matching_mode!(mode::Symbol)
    mode in (:ordered, :named) ||
        throw(ArgumentError("matching mode must be :ordered or :named, got :$mode"))
    check(L.bf_set_matching_mode(mode == :ordered ? L.BF_MATCHING_ORDERED : L.BF_MATCHING_NAMED))
end

"""True if MPI runs at MPI_THREAD_MULTIPLE (other threads may call MPI alongside the engine)."""
mpi_threads_supported() = L.bf_mpi_threads_supported() == 1
"""True: windows are served by the engine, which writes peers' data into the one copy of the
window memory that local reads see (unified, in MPI's terms)."""
unified_mpi_window_model_supported() = L.bf_unified_mpi_window_model_supported() == 1

"""
    suspend!()

Suspends this rank's engine: every operation throws `BlueFogError` (`BF_ERR_SUSPENDED`) until
[`resume!`](@ref); queued work finishes, then the engine thread sleeps (waking every 50 ms while
windows exist to serve peers' window requests).
"""
suspend!() = check(L.bf_suspend())
"""`resume!()`: ends [`suspend!`](@ref)."""
resume!() = check(L.bf_resume())
"""True between [`suspend!`](@ref) and [`resume!`](@ref)."""
is_suspended() = L.bf_suspended() == 1

"""
    set_topology!(t; weighted = false)

Makes `t` the process topology (copied). Collective: every rank passes the same graph. With
`weighted`, static `neighbor_allreduce` uses the graph's weights, else uniform 1/(in-degree+1).
"""
set_topology!(t::Topology; weighted::Bool = false) = check(L.bf_set_topology(t, weighted))

"""The process topology (a copy) and its weighted flag."""
function get_topology()
    out = Ref{Ptr{L.bf_topology}}(C_NULL)
    weighted = Ref{Cint}(0)
    check(L.bf_get_topology(out, weighted))
    return Topology(out[]), weighted[] != 0
end

"""
    infer_topology(ranks; destinations = true) -> Topology

The whole communication graph from every rank's own list: the ranks it sends to
(`destinations = true`) or receives from (`false`); uniform receive weights 1/(in-degree+1).
Collective; every rank uses the same convention.
"""
function infer_topology(ranks::AbstractVector{<:Integer}; destinations::Bool = true)
    list = Cint.(ranks)
    return build_topology(out -> L.bf_infer_topology(list, length(list), destinations, out))
end

"""Makes `t` (over `machine_size()` machines) the topology of hierarchical operations."""
set_machine_topology!(t::Topology; weighted::Bool = false) =
    check(L.bf_set_machine_topology(t, weighted))

"""The machine topology and its weighted flag, or `nothing` if none was set."""
function get_machine_topology()
    out = Ref{Ptr{L.bf_topology}}(C_NULL)
    weighted = Ref{Cint}(0)
    check(L.bf_get_machine_topology(out, weighted))
    return out[] == C_NULL ? nothing : (Topology(out[]), weighted[] != 0)
end

"""Begins a timeline activity under `name` on this thread (needs a timeline, else raises)."""
timeline_start_activity(name::AbstractString, activity::AbstractString) =
    check(L.bf_timeline_start_activity(name, activity))

"""Ends the innermost activity this thread began under `name`."""
timeline_end_activity(name::AbstractString) = check(L.bf_timeline_end_activity(name))

"""`timeline_activity(f, name, activity)`: records `f()` as an activity and returns its value."""
function timeline_activity(f::Function, name::AbstractString, activity::AbstractString)
    timeline_start_activity(name, activity)
    try
        return f()
    finally
        timeline_end_activity(name)
    end
end

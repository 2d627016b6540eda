# SPDX-License-Identifier: Apache-2.0
# Operations on arrays: blocking (`f`, `f!`) and asynchronous (`f_async!` returning a Handle).
# Every operation starts through its `_async` C function; the blocking forms wait at once.

"""C arguments with everything they point to, kept alive together."""
struct CArgs{T}
    raw::Base.RefValue{T}
    keep::Vector{Any}
end

function c_name(name)
    name === nothing && return Ptr{Cchar}(C_NULL), nothing
    s = String(name)
    Base.containsnul(s) && throw(invalid_argument("name $(repr(s)) contains a NUL byte"))
    return Ptr{Cchar}(pointer(s)), s
end

function op_args(name)
    ptr, s = c_name(name)
    return CArgs(Ref(L.bf_op_args(sizeof(L.bf_op_args), ptr)), Any[s])
end

const REDUCE_OPS = Dict(:average => L.BF_REDUCE_AVERAGE, :sum => L.BF_REDUCE_SUM)

const COMPRESSIONS = Dict(:none => L.BF_COMPRESSION_NONE, :bf16 => L.BF_COMPRESSION_BFLOAT16,
                          :fp16 => L.BF_COMPRESSION_FLOAT16, :int8 => L.BF_COMPRESSION_INT8,
                          :topk => L.BF_COMPRESSION_TOPK)

function compression_code(compression::Union{Nothing,Symbol})
    compression === nothing && return L.BF_COMPRESSION_DEFAULT
    haskey(COMPRESSIONS, compression) ||
        throw(invalid_argument("unknown compression :$compression (:none, :bf16, :fp16, :int8, :topk)"))
    return COMPRESSIONS[compression]
end

function allreduce_args(name, op::Symbol, machine_local::Bool)
    haskey(REDUCE_OPS, op) || throw(invalid_argument("unknown reduction :$op (:average or :sum)"))
    ptr, s = c_name(name)
    raw = L.bf_allreduce_args(sizeof(L.bf_allreduce_args), ptr, REDUCE_OPS[op], machine_local)
    return CArgs(Ref(raw), Any[s])
end

"""
Neighbor arguments in BlueFog's style:
- `self_weight` and `src_weights` (a `rank => weight` dict, or pairs to fix the order) set the
  weights; without them the topology's weights (or uniform ones) apply;
- `dst_weights` switches to dynamic mode: a vector of destination ranks, or `rank => scale`
  pairs / a dict scaling the copy sent to each;
- `check_topology` verifies every rank's dynamic lists against each other first;
- `compression` (`:none`, `:bf16`, `:fp16`, `:int8`, `:topk`; `nothing`: the `init` default),
  `topk_ratio`, `error_feedback` (`nothing`: on for lossy modes; it needs a `name`) and
  `consensus_step` compress what this rank sends (neighbor_allreduce, docs/compression.md).
"""
function neighbor_args(; name = nothing, self_weight = nothing, src_weights = nothing,
                       dst_weights = nothing, check_topology::Bool = false,
                       compression::Union{Nothing,Symbol} = nothing, topk_ratio::Real = 0.0,
                       error_feedback::Union{Nothing,Bool} = nothing,
                       consensus_step::Real = 0.0)
    name_ptr, name_string = c_name(name)
    keep = Any[name_string]
    has_weights = self_weight !== nothing || src_weights !== nothing
    if has_weights && (self_weight === nothing || src_weights === nothing)
        throw(invalid_argument("self_weight and src_weights go together"))
    end
    src_pairs = src_weights === nothing ? Pair{Int,Float64}[] : collect(Pair{Int,Float64}, src_weights)
    src_ranks = Cint[first(p) for p in src_pairs]
    src_values = Cdouble[last(p) for p in src_pairs]
    dynamic = dst_weights !== nothing
    dst_ranks = Cint[]
    dst_values = Cdouble[]
    if dst_weights isa AbstractVector{<:Integer}
        dst_ranks = Cint.(dst_weights)
    elseif dynamic
        dst_pairs = collect(Pair{Int,Float64}, dst_weights)
        dst_ranks = Cint[first(p) for p in dst_pairs]
        dst_values = Cdouble[last(p) for p in dst_pairs]
    end
    append!(keep, (src_ranks, src_values, dst_ranks, dst_values))
    pointer_or_null(v::Vector{T}) where {T} = isempty(v) ? Ptr{T}(C_NULL) : pointer(v)
    raw = L.bf_neighbor_args(sizeof(L.bf_neighbor_args), name_ptr, has_weights,
                             has_weights ? Float64(self_weight) : 0.0, length(src_ranks),
                             pointer_or_null(src_ranks), pointer_or_null(src_values), dynamic,
                             length(dst_ranks), pointer_or_null(dst_ranks),
                             pointer_or_null(dst_values), check_topology,
                             compression_code(compression), topk_ratio,
                             error_feedback === nothing ? L.BF_ERROR_FEEDBACK_DEFAULT :
                             error_feedback ? L.BF_ERROR_FEEDBACK_ON : L.BF_ERROR_FEEDBACK_OFF,
                             consensus_step)
    return CArgs(Ref(raw), keep)
end

"""
Starts an element-wise operation: `start(in, out, args, handle_ref)` calls the `_async` C
function. Returns a Handle whose result is `output`.
"""
function launch(start, input::AbstractArray, output::AbstractArray, args::CArgs)
    Base.size(input) == Base.size(output) ||
        throw(invalid_argument("output has size $(Base.size(output)), input $(Base.size(input))"))
    in_ref = TensorRef(input)
    out_ref = input === output ? in_ref : TensorRef(output)
    handle = Ref{L.bf_handle}(0)
    GC.@preserve in_ref out_ref args begin
        check(start(in_ref.tensor, out_ref.tensor, args.raw, handle))
    end
    return Handle(handle[], Any[in_ref, out_ref, args], () -> output)
end

"""Starts a gather; the result is the library's tensor wrapped as an `Array{T,N}`."""
function launch_gather(start, input::AbstractArray{T,N}, args::CArgs) where {T,N}
    in_ref = TensorRef(input)
    slot = Ref{Ptr{L.DLManagedTensor}}(C_NULL)
    handle = Ref{L.bf_handle}(0)
    GC.@preserve in_ref args slot begin
        check(start(in_ref.tensor, slot, args.raw, handle))
    end
    return Handle(handle[], Any[in_ref, args], () -> take_managed(slot[], T, Val(N)),
                  () -> free_managed(slot[]))
end

# ----- allreduce -----

"""`allreduce_async!(x; op = :average, name, machine_local = false)`: in place, asynchronous."""
allreduce_async!(x::AbstractArray; name = nothing, op::Symbol = :average,
                 machine_local::Bool = false) =
    allreduce_async!(x, x; name = name, op = op, machine_local = machine_local)

function allreduce_async!(y::AbstractArray, x::AbstractArray; name = nothing,
                          op::Symbol = :average, machine_local::Bool = false)
    args = allreduce_args(name, op, machine_local)
    return launch(L.bf_allreduce_async, x, y, args)
end

"""`allreduce!(y, x; kwargs...)` or `allreduce!(x; kwargs...)`: sum or average over ranks."""
allreduce!(y::AbstractArray, x::AbstractArray; kwargs...) = wait(allreduce_async!(y, x; kwargs...))
allreduce!(x::AbstractArray; kwargs...) = wait(allreduce_async!(x; kwargs...))

"""`allreduce(x; op = :average, name, machine_local = false)`: a new array. Collective."""
allreduce(x::AbstractArray; kwargs...) = allreduce!(similar(x), x; kwargs...)

# ----- broadcast (named bcast: Base.broadcast is Julia's dot syntax) -----

"""`bcast_async!(x, root; name)`: `x` becomes root's `x`, asynchronously."""
bcast_async!(x::AbstractArray, root::Integer; name = nothing) =
    launch((i, o, a, h) -> L.bf_broadcast_async(i, o, root, a, h), x, x, op_args(name))

"""`bcast!(x, root; name)`: `x` becomes root's `x` on every rank. Collective."""
bcast!(x::AbstractArray, root::Integer; name = nothing) = wait(bcast_async!(x, root; name = name))

"""`bcast(x, root; name)`: a new array holding root's `x`."""
function bcast(x::AbstractArray, root::Integer; name = nothing)
    y = similar(x)
    start = (i, o, a, h) -> L.bf_broadcast_async(i, o, root, a, h)
    return wait(launch(start, x, y, op_args(name)))
end

# ----- allgather and neighbor_allgather -----

"""`allgather_async(x; name)`: starts an allgather; `wait` returns the new array."""
allgather_async(x::AbstractArray; name = nothing) =
    launch_gather(L.bf_allgather_async, x, op_args(name))

"""
`allgather(x; name)`: every rank's `x` concatenated along the last dimension in rank order
(sizes along it may differ). Collective.
"""
allgather(x::AbstractArray; name = nothing) = wait(allgather_async(x; name = name))

"""`neighbor_allgather_async(x; kwargs...)`: starts a neighbor_allgather."""
neighbor_allgather_async(x::AbstractArray; kwargs...) =
    launch_gather(L.bf_neighbor_allgather_async, x, neighbor_args(; kwargs...))

"""
`neighbor_allgather(x; src_weights, dst_weights, name)`: the in-neighbors' `x` concatenated along
the last dimension, ascending (static) or in the order of `src_weights` (dynamic); weights are
ignored.
"""
neighbor_allgather(x::AbstractArray; kwargs...) = wait(neighbor_allgather_async(x; kwargs...))

# ----- barrier -----

"""Returns once every rank has entered the barrier."""
barrier() = check(L.bf_barrier())

"""Starts a barrier; `wait` returns `nothing`."""
function barrier_async()
    handle = Ref{L.bf_handle}(0)
    check(L.bf_barrier_async(handle))
    return Handle(handle[], Any[], () -> nothing)
end

# ----- neighbor_allreduce and hierarchical_neighbor_allreduce -----

"""`neighbor_allreduce_async!(x; kwargs...)` or `(y, x; kwargs...)`: asynchronous form."""
neighbor_allreduce_async!(x::AbstractArray; kwargs...) = neighbor_allreduce_async!(x, x; kwargs...)
neighbor_allreduce_async!(y::AbstractArray, x::AbstractArray; kwargs...) =
    launch(L.bf_neighbor_allreduce_async, x, y, neighbor_args(; kwargs...))

"""`neighbor_allreduce!(x; kwargs...)` or `(y, x; kwargs...)`: in place or into `y`."""
neighbor_allreduce!(x::AbstractArray; kwargs...) = wait(neighbor_allreduce_async!(x; kwargs...))
neighbor_allreduce!(y::AbstractArray, x::AbstractArray; kwargs...) =
    wait(neighbor_allreduce_async!(y, x; kwargs...))

"""
    neighbor_allreduce(x; self_weight, src_weights, dst_weights, name, check_topology,
                       compression, topk_ratio, error_feedback, consensus_step)

Weighted average with neighbors, a new array:
`out = self_weight * x + Σ_j src_weights[j] * dst_weight_j * x_j`. Without weights the topology's
weights (weighted topology) or uniform `1/(in-degree+1)` apply. Float element types. With
`compression` the message is compressed (see `neighbor_args`).
"""
neighbor_allreduce(x::AbstractArray; kwargs...) = neighbor_allreduce!(similar(x), x; kwargs...)

"""Asynchronous hierarchical_neighbor_allreduce (in place, or into `y`)."""
hierarchical_neighbor_allreduce_async!(x::AbstractArray; kwargs...) =
    hierarchical_neighbor_allreduce_async!(x, x; kwargs...)
hierarchical_neighbor_allreduce_async!(y::AbstractArray, x::AbstractArray; kwargs...) =
    launch(L.bf_hierarchical_neighbor_allreduce_async, x, y, neighbor_args(; kwargs...))

"""hierarchical_neighbor_allreduce in place, or into `y`."""
hierarchical_neighbor_allreduce!(x::AbstractArray; kwargs...) =
    wait(hierarchical_neighbor_allreduce_async!(x; kwargs...))
hierarchical_neighbor_allreduce!(y::AbstractArray, x::AbstractArray; kwargs...) =
    wait(hierarchical_neighbor_allreduce_async!(y, x; kwargs...))

"""
    hierarchical_neighbor_allreduce(x; kwargs...)

Machine-level averaging (homogeneous layouts): sums within each machine, averages the machine
sums over the machine topology (or dynamic machine lists, machine ids in place of ranks), and
shares the result divided by the local size. Collective over all ranks.
"""
hierarchical_neighbor_allreduce(x::AbstractArray; kwargs...) =
    hierarchical_neighbor_allreduce!(similar(x), x; kwargs...)

# ----- pair_gossip -----

"""`pair_gossip_async!(x, peer; self_weight = 0.5, pair_weight = 0.5, name)`, or `(y, x, peer)`."""
pair_gossip_async!(x::AbstractArray, peer::Integer; kwargs...) =
    pair_gossip_async!(x, x, peer; kwargs...)
function pair_gossip_async!(y::AbstractArray, x::AbstractArray, peer::Integer;
                            self_weight::Real = 0.5, pair_weight::Real = 0.5, name = nothing)
    start = (i, o, a, h) -> L.bf_pair_gossip_async(i, o, peer, self_weight, pair_weight, a, h)
    return launch(start, x, y, op_args(name))
end

"""`pair_gossip!(x, peer; kwargs...)` in place, or `pair_gossip!(y, x, peer; kwargs...)`."""
pair_gossip!(x::AbstractArray, peer::Integer; kwargs...) =
    wait(pair_gossip_async!(x, peer; kwargs...))
pair_gossip!(y::AbstractArray, x::AbstractArray, peer::Integer; kwargs...) =
    wait(pair_gossip_async!(y, x, peer; kwargs...))

"""
    pair_gossip(x, peer; self_weight = 0.5, pair_weight = 0.5, name)

`self_weight * x + pair_weight * (peer's x)`, a new array; `peer` must name this rank as its
peer.
"""
pair_gossip(x::AbstractArray, peer::Integer; kwargs...) =
    pair_gossip!(similar(x), x, peer; kwargs...)

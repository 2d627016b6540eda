# SPDX-License-Identifier: Apache-2.0
# Topology: an owned weighted digraph (bf_topology*), BlueFog's generators, queries, and the
# dynamic schedules (pure functions of the step). Edge i -> j with weight W[i][j] means "i sends to
# j and j weighs i's value by W[i][j]"; ranks are 0-based.

"""
    Topology

A weighted digraph on `nranks(t)` ranks, owned by Julia: freed by its finalizer or at once by
`close(t)`. Build one with the generators (`ExponentialGraph`, `RingGraph`, ...), from a matrix
`Topology(W)` with `W[i+1, j+1]` the weight of edge i -> j, or from an edge list.
"""
mutable struct Topology
    ptr::Ptr{L.bf_topology}

    function Topology(ptr::Ptr{L.bf_topology})
        ptr == C_NULL && throw(invalid_argument("NULL topology"))
        topology = new(ptr)
        finalizer(close, topology)
        return topology
    end
end

"""Frees the topology now (idempotent); later queries raise."""
function Base.close(t::Topology)
    if t.ptr != C_NULL
        L.bf_topology_free(t.ptr)
        t.ptr = C_NULL
    end
    return nothing
end

function live_ptr(t::Topology)
    t.ptr == C_NULL && throw(invalid_argument("the topology was closed"))
    return t.ptr
end

Base.unsafe_convert(::Type{Ptr{L.bf_topology}}, t::Topology) = live_ptr(t)

"""Runs a C constructor that writes a `bf_topology*` and wraps the result."""
function build_topology(make)
    out = Ref{Ptr{L.bf_topology}}(C_NULL)
    check(make(out))
    return Topology(out[])
end

"""BlueFog's exponential graph: rank i sends to i + base^k (mod size)."""
ExponentialGraph(size::Integer, base::Integer = 2) =
    build_topology(out -> L.bf_topology_exponential(size, base, out))

"""The exponential graph with base 2 (the default topology after `init`)."""
ExponentialTwoGraph(size::Integer) =
    build_topology(out -> L.bf_topology_exponential_two(size, out))

"""The symmetric exponential graph: i <-> i ± base^k."""
SymmetricExponentialGraph(size::Integer, base::Integer = 4) =
    build_topology(out -> L.bf_topology_symmetric_exponential(size, base, out))

const RING_STYLES = Dict(:bidirectional => L.BF_RING_BIDIRECTIONAL, :left => L.BF_RING_LEFT,
                         :right => L.BF_RING_RIGHT)

"""A ring; `style` is `:bidirectional` (weights 1/3), `:left` or `:right` (weights 1/2)."""
function RingGraph(size::Integer; style::Symbol = :bidirectional)
    haskey(RING_STYLES, style) || throw(invalid_argument("unknown ring style :$style"))
    return build_topology(out -> L.bf_topology_ring(size, RING_STYLES[style], out))
end

"""A star around `center_rank`."""
StarGraph(size::Integer, center_rank::Integer = 0) =
    build_topology(out -> L.bf_topology_star(size, center_rank, out))

"""A 2-D mesh with Metropolis–Hastings weights; `shape = (rows, cols)` or BlueFog's default."""
function MeshGrid2DGraph(size::Integer, shape::Union{Nothing,Tuple{Integer,Integer}} = nothing)
    rows, cols = shape === nothing ? (0, 0) : shape
    return build_topology(out -> L.bf_topology_mesh_grid_2d(size, rows, cols, out))
end

"""Every rank sends to every other rank."""
FullyConnectedGraph(size::Integer) =
    build_topology(out -> L.bf_topology_fully_connected(size, out))

"""From a square weight matrix: every non-zero `W[i+1, j+1]` is an edge i -> j."""
function Topology(W::AbstractMatrix{<:Real})
    n = Base.size(W, 1)
    Base.size(W, 2) == n || throw(invalid_argument("weight matrix must be square"))
    # The C API reads row-major W[from][to]: the transpose's column-major memory.
    row_major = Vector{Cdouble}(vec(permutedims(Matrix{Cdouble}(W))))
    return build_topology(out -> L.bf_topology_from_matrix(n, row_major, out))
end

"""From `(src, dst, weight)` edges on `size` ranks. Duplicate edges are rejected."""
function Topology(size::Integer, edges::AbstractVector{<:Tuple{Integer,Integer,Real}})
    src = Cint[e[1] for e in edges]
    dst = Cint[e[2] for e in edges]
    weights = Cdouble[e[3] for e in edges]
    return build_topology(out -> L.bf_topology_from_edges(size, length(edges), src, dst,
                                                          weights, out))
end

Base.copy(t::Topology) = build_topology(out -> L.bf_topology_copy(t, out))

"""Number of ranks of the topology."""
nranks(t::Topology) = Int(L.bf_topology_size(t))

"""`W[from][to]`, 0.0 without an edge."""
function weight(t::Topology, from::Integer, to::Integer)
    w = Ref{Cdouble}(0)
    check(L.bf_topology_weight(t, from, to, w))
    return w[]
end

"""The dense weight matrix, `W[i+1, j+1]` for edge i -> j."""
function Base.Matrix(t::Topology)
    n = nranks(t)
    row_major = Vector{Cdouble}(undef, n * n)
    check(L.bf_topology_to_matrix(t, row_major))
    return permutedims(reshape(row_major, n, n))
end

function neighbors(query, t::Topology, rank::Integer)
    capacity = max(nranks(t) - 1, 0)
    ranks = Vector{Cint}(undef, capacity)
    weights = Vector{Cdouble}(undef, capacity)
    count = Ref{Cint}(0)
    check(query(t, rank, ranks, weights, capacity, count))
    return [Int(ranks[k]) => weights[k] for k in 1:count[]]
end

"""In-neighbors of `rank` as `neighbor => W[neighbor][rank]` pairs, ascending."""
in_neighbors(t::Topology, rank::Integer) = neighbors(L.bf_topology_in_neighbors, t, rank)

"""Out-neighbors of `rank` as `neighbor => W[rank][neighbor]` pairs, ascending."""
out_neighbors(t::Topology, rank::Integer) = neighbors(L.bf_topology_out_neighbors, t, rank)

"""`max(|λ₂|, |λₙ|)` of W: the per-step contraction of repeated averaging (smaller is faster)."""
function spectral_gap(t::Topology)
    rho = Ref{Cdouble}(0)
    check(L.bf_topology_spectral_gap(t, rho))
    return rho[]
end

Base.show(io::IO, t::Topology) =
    print(io, "Topology(", t.ptr == C_NULL ? "closed" : "$(nranks(t)) ranks", ")")

# ----- dynamic schedules -----

"""Calls a schedule with `capacity` entries per list; returns `(send = ..., recv = ...)`."""
function collect_schedule(call, capacity::Integer)
    capacity = max(capacity, 1)
    send = Vector{Cint}(undef, capacity)
    recv = Vector{Cint}(undef, capacity)
    send_count = Ref{Cint}(0)
    recv_count = Ref{Cint}(0)
    check(call(send, send_count, recv, recv_count, capacity))
    return (send = Int.(send[1:send_count[]]), recv = Int.(recv[1:recv_count[]]))
end

"""
    one_peer_schedule(t, rank, step) -> (send = [...], recv = [...])

One peer per step, cycling through `rank`'s out-neighbors; pair it with uniform weights
`1 / (length(recv) + 1)`.
"""
one_peer_schedule(t::Topology, rank::Integer, step::Integer) =
    collect_schedule(nranks(t)) do send, send_count, recv, recv_count, capacity
        L.bf_schedule_one_peer(t, rank, step, send, send_count, recv, recv_count, capacity)
    end

"""Machine ids of an exponential-two schedule between machines of `local_size` ranks."""
exp2_machine_schedule(world_size::Integer, local_size::Integer, rank::Integer, step::Integer) =
    collect_schedule(world_size) do send, send_count, recv, recv_count, capacity
        L.bf_schedule_exp2_machine(world_size, local_size, rank, step, send, send_count, recv,
                                   recv_count, capacity)
    end

"""A ring inside each machine, one rank per step crossing to the next (`local_size > 2`)."""
inner_outer_ring_schedule(world_size::Integer, local_size::Integer, rank::Integer,
                          step::Integer) =
    collect_schedule(world_size) do send, send_count, recv, recv_count, capacity
        L.bf_schedule_inner_outer_ring(world_size, local_size, rank, step, send, send_count,
                                       recv, recv_count, capacity)
    end

"""Exponential-two inside and across machines (`local_size > 2`, two machines or more)."""
inner_outer_exp2_schedule(world_size::Integer, local_size::Integer, rank::Integer,
                          step::Integer) =
    collect_schedule(world_size) do send, send_count, recv, recv_count, capacity
        L.bf_schedule_inner_outer_exp2(world_size, local_size, rank, step, send, send_count,
                                       recv, recv_count, capacity)
    end

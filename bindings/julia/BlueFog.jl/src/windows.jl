# SPDX-License-Identifier: Apache-2.0
# One-sided windows: Window wraps a host array the library reads and writes from its engine thread
# until bf_win_free. Every open window's array is also rooted in WINDOW_ARRAYS, so it cannot be
# collected under the engine even if the Window object is dropped without closing.

"""
    Window

A one-sided window over a host `Array` (see [`win_create!`](@ref)). Every rank keeps one buffer
per in-neighbor of the topology at creation: in-neighbor j's puts and accumulates land in this
rank's buffer for j, and this rank's gets from j fill it too; [`win_update!`](@ref) combines the
array with those buffers. Transfers are one-sided: the peer's program takes no part, its engine
serves them. The topology cannot change while any window exists.

`win.array` is the window's tensor. Peers' gets read it at any moment, so writing it while a peer
may get from it gives that peer a mix of old and new values.

Freeing is collective (`close(win)` or [`win_free!`](@ref)): every rank frees its windows in the
same order. A `Window` that is never closed stays registered (and its array alive) until
`BlueFog.close(ctx)`; no finalizer frees it, since a collective call cannot run at a time the
garbage collector picks.
"""
mutable struct Window{T,N}
    name::String
    array::Array{T,N}
    open::Bool
end

# name => (array, tensor view) of every window this process created and has not freed.
const WINDOW_ARRAYS = Dict{String,Any}()

Base.show(io::IO, win::Window{T,N}) where {T,N} =
    print(io, "Window{$T,$N}(", repr(win.name), ", ", size(win.array),
          win.open ? "" : ", freed", ")")

function check_name(name::AbstractString)
    s = String(name)
    Base.containsnul(s) && throw(invalid_argument("window name $(repr(s)) contains a NUL byte"))
    return s
end

require_open(win::Window) =
    win.open || throw(invalid_argument("window $(repr(win.name)) was freed"))

"""
    win_create!(x::Array, name; zero_init = false) -> Window

Creates the window `name` over `x`, collectively: every rank passes the same name, element type
and size (`BF_ERR_MISMATCH` on every rank otherwise). `x` is shared with the engine, not copied,
until the window is freed. Neighbor buffers start as copies of `x`, or zeros if `zero_init`.
Element types `Float16/32/64`, `Int32`, `Int64`; host arrays only.
"""
function win_create!(x::Array, name::AbstractString; zero_init::Bool = false)
    s = check_name(name)
    ref = TensorRef(x)
    GC.@preserve ref s begin
        check(L.bf_win_create(ref.tensor, s, zero_init))
    end
    WINDOW_ARRAYS[s] = (x, ref)
    return Window(s, x, true)
end

"""
    win_free!(win) / close(win)

Frees the window, collectively; waits first for this rank's own operations on it. Idempotent.
`win_free!()` frees every window of this process.
"""
function win_free!(win::Window)
    win.open || return nothing
    check(L.bf_win_free(win.name))
    win.open = false
    delete!(WINDOW_ARRAYS, win.name)
    return nothing
end

function win_free!()
    check(L.bf_win_free(C_NULL))
    empty!(WINDOW_ARRAYS)
    return nothing
end

Base.close(win::Window) = win_free!(win)

"""`win_names()`: the names of the windows that exist in this process, sorted."""
function win_names()
    needed = Ref{Csize_t}(0)
    check(L.bf_win_names(C_NULL, 0, needed))
    buffer = zeros(UInt8, needed[])
    GC.@preserve buffer begin
        check(L.bf_win_names(pointer(buffer), length(buffer), needed))
        text = unsafe_string(pointer(buffer))
    end
    return String.(split(text, '\n'; keepempty = false))
end

pointer_or_null(v::Vector{T}) where {T} = isempty(v) ? Ptr{T}(C_NULL) : pointer(v)

"""
Peers as C arrays: `nothing` (every neighbor, weight 1), a vector of ranks (weight 1 each), or
`rank => weight` pairs / a dict.
"""
function peer_arrays(peers)
    peers === nothing && return Cint[], Cdouble[]
    if peers isa AbstractVector{<:Integer}
        return Cint.(peers), ones(Cdouble, length(peers))
    end
    pairs = collect(Pair{Int,Float64}, peers)
    return Cint[first(p) for p in pairs], Cdouble[last(p) for p in pairs]
end

function win_op_args(; self_weight = nothing, weights = nothing, require_mutex::Bool = false)
    ranks, values = peer_arrays(weights)
    raw = L.bf_win_op_args(sizeof(L.bf_win_op_args), self_weight !== nothing,
                           self_weight === nothing ? 0.0 : Float64(self_weight),
                           weights !== nothing, length(ranks), pointer_or_null(ranks),
                           pointer_or_null(values), require_mutex)
    return CArgs(Ref(raw), Any[ranks, values])
end

function win_update_args(; self_weight = nothing, src_weights = nothing, reset::Bool = false,
                         require_mutex::Bool = false)
    has_weights = self_weight !== nothing || src_weights !== nothing
    if has_weights && (self_weight === nothing || src_weights === nothing)
        throw(invalid_argument("self_weight and src_weights go together"))
    end
    ranks, values = peer_arrays(src_weights === nothing ? Int[] : src_weights)
    raw = L.bf_win_update_args(sizeof(L.bf_win_update_args), has_weights,
                               has_weights ? Float64(self_weight) : 0.0, length(ranks),
                               pointer_or_null(ranks), pointer_or_null(values), reset,
                               require_mutex)
    return CArgs(Ref(raw), Any[ranks, values])
end

"""Starts a put or accumulate of `x` (the window's array or one of the same size)."""
function transfer_async(start, win::Window, x::Array; self_weight = nothing, dst_weights = nothing,
                        require_mutex::Bool = false)
    require_open(win)
    size(x) == size(win.array) ||
        throw(invalid_argument("array has size $(size(x)), window $(repr(win.name)) " *
                               "$(size(win.array))"))
    ref = TensorRef(x)
    args = win_op_args(; self_weight = self_weight, weights = dst_weights,
                       require_mutex = require_mutex)
    handle = Ref{L.bf_handle}(0)
    GC.@preserve ref args begin
        check(start(ref.tensor, win.name, args.raw, handle))
    end
    return Handle(handle[], Any[ref, args], () -> x)
end

"""
    win_put_async!(win[, x]; self_weight, dst_weights, require_mutex = false) -> Handle

Starts [`win_put!`](@ref); `wait` returns the array sent.
"""
win_put_async!(win::Window, x::Array = win.array; kwargs...) =
    transfer_async(L.bf_win_put_async, win, x; kwargs...)

"""
    win_put!(win[, x]; self_weight, dst_weights, require_mutex = false)

Writes `w_d * x` into rank d's buffer for this rank, replacing it, for every destination d: the
out-neighbors (weight 1) by default, or `dst_weights` (ranks, or `rank => weight` pairs / a dict;
a subset of the out-neighbors). `x` is the window's array unless given (same size). Then
`x .*= self_weight` if given (and this rank's associated p likewise). `require_mutex` holds
mutex (d, this rank) at each destination while writing. Not collective.
"""
win_put!(win::Window, x::Array = win.array; kwargs...) = wait(win_put_async!(win, x; kwargs...))

"""`win_accumulate_async!(win[, x]; kwargs...)`: starts [`win_accumulate!`](@ref)."""
win_accumulate_async!(win::Window, x::Array = win.array; kwargs...) =
    transfer_async(L.bf_win_accumulate_async, win, x; kwargs...)

"""
    win_accumulate!(win[, x]; self_weight, dst_weights, require_mutex = false)

As [`win_put!`](@ref), but adds `w_d * x` into rank d's buffer for this rank.
"""
win_accumulate!(win::Window, x::Array = win.array; kwargs...) =
    wait(win_accumulate_async!(win, x; kwargs...))

"""`win_get_async!(win; src_weights, require_mutex = false)`: starts [`win_get!`](@ref)."""
function win_get_async!(win::Window; src_weights = nothing, require_mutex::Bool = false)
    require_open(win)
    args = win_op_args(; weights = src_weights, require_mutex = require_mutex)
    handle = Ref{L.bf_handle}(0)
    GC.@preserve args begin
        check(L.bf_win_get_async(win.name, args.raw, handle))
    end
    return Handle(handle[], Any[args], () -> nothing)
end

"""
    win_get!(win; src_weights, require_mutex = false)

For every source s (the in-neighbors by default, or `src_weights`: ranks, or `rank => weight`),
this rank's buffer for s becomes `w_s * (s's array)` as it is when s's engine serves the request.
This rank's array is untouched; read the buffers with [`win_update!`](@ref). Not collective.
"""
win_get!(win::Window; kwargs...) = wait(win_get_async!(win; kwargs...))

function update_into(win::Window, out::Union{Nothing,Array}; kwargs...)
    require_open(win)
    args = win_update_args(; kwargs...)
    if out === nothing
        GC.@preserve args begin
            check(L.bf_win_update(win.name, args.raw, C_NULL))
        end
        return win.array
    end
    size(out) == size(win.array) ||
        throw(invalid_argument("out has size $(size(out)), window $(repr(win.name)) " *
                               "$(size(win.array))"))
    ref = TensorRef(out)
    GC.@preserve args ref begin
        check(L.bf_win_update(win.name, args.raw, ref.tensor))
    end
    return out
end

"""
    win_update!(win; self_weight, src_weights, reset = false, require_mutex = false)
    win_update!(out, win; kwargs...)

`self_weight * array + Σ_r src_weights[r] * buffer[r]`, in the array's precision, written into
the window's array (returned) or into `out` (the window's array untouched). Without weights: the
topology's weights if it was set weighted, else `1/(in-degree+1)` for the array and every
buffer. `reset` zeroes the buffers read; `require_mutex` holds this rank's mutexes for them.
Versions of the buffers read drop to 0. Integer windows take only weights of 1. Local.
"""
win_update!(win::Window; kwargs...) = update_into(win, nothing; kwargs...)
win_update!(out::Array, win::Window; kwargs...) = update_into(win, out; kwargs...)

"""`win_update(win; kwargs...)`: [`win_update!`](@ref) into a new array (BlueFog's clone)."""
win_update(win::Window; kwargs...) = update_into(win, similar(win.array); kwargs...)

"""
    win_update_then_collect!(win; require_mutex = false)

The push-sum collect step: `array .+= Σ buffers`, then the buffers are zeroed. Returns the array.
"""
function win_update_then_collect!(win::Window; require_mutex::Bool = false)
    require_open(win)
    check(L.bf_win_update_then_collect(win.name, require_mutex))
    return win.array
end

function mutex_call(f, win::Window, ranks, for_self::Bool)
    require_open(win)
    # NULL means the out-neighbors, so an empty list must still pass a non-NULL pointer.
    list = ranks === nothing ? Cint[] : Cint.(collect(ranks))
    sentinel = Ref{Cint}(0)
    GC.@preserve list sentinel begin
        pointer_ = ranks === nothing ? Ptr{Cint}(C_NULL) :
                   isempty(list) ? Base.unsafe_convert(Ptr{Cint}, sentinel) : pointer(list)
        check(f(win.name, pointer_, length(list), for_self))
    end
    return nothing
end

"""
    win_mutex_acquire(win; ranks = nothing, for_self = false)

Acquires (blocking) mutexes of the window: mutex (r, this rank) at each rank r, which guards r's
buffer for this rank; with `for_self`, this rank's own mutexes (this rank, r). `ranks = nothing`:
the out-neighbors. Taken in ascending order, so lockers never deadlock each other.
"""
win_mutex_acquire(win::Window; ranks = nothing, for_self::Bool = false) =
    mutex_call(L.bf_win_mutex_acquire, win, ranks, for_self)

"""`win_mutex_release(win; ranks = nothing, for_self = false)`: releases mutexes this rank holds."""
win_mutex_release(win::Window; ranks = nothing, for_self::Bool = false) =
    mutex_call(L.bf_win_mutex_release, win, ranks, for_self)

"""
    win_mutex(f, win; ranks = nothing, for_self = false)

Runs `f()` holding the mutexes [`win_mutex_acquire`](@ref) names, releasing them afterwards even
on error (BlueFog's `with win_mutex(...)`):

    win_mutex(win; for_self = true) do
        win_update!(win)
    end
"""
function win_mutex(f, win::Window; ranks = nothing, for_self::Bool = false)
    win_mutex_acquire(win; ranks = ranks, for_self = for_self)
    try
        return f()
    finally
        win_mutex_release(win; ranks = ranks, for_self = for_self)
    end
end

"""
    win_lock(f, win)

Runs `f()` with this rank's window locked against its peers (BlueFog's `with win_lock(name)`):
their puts, accumulates and gets of it wait, in arrival order, and are served when `f` returns
(their operations complete later). This rank's own window operations are not held back.

    win_lock(win) do
        win.array .= 0   # no peer reads or writes the window meanwhile
    end
"""
function win_lock(f, win::Window)
    require_open(win)
    check(L.bf_win_lock(win.name))
    try
        return f()
    finally
        check(L.bf_win_unlock(win.name))
    end
end

"""True while the window is locked by [`win_lock`](@ref)."""
function win_is_locked(win::Window)
    require_open(win)
    locked = Ref{Cint}(0)
    check(L.bf_win_is_locked(win.name, locked))
    return locked[] == 1
end

"""
    win_versions(win) -> Vector{Pair{Int,Int}}

`in_neighbor => version` in ascending rank order: the puts and accumulates received from it, and
gets done from it, since the last update that read its buffer.
"""
function win_versions(win::Window)
    require_open(win)
    count = Ref{Cint}(0)
    check(L.bf_win_versions(win.name, C_NULL, C_NULL, 0, count))
    ranks = zeros(Cint, count[])
    versions = zeros(Cint, count[])
    check(L.bf_win_versions(win.name, ranks, versions, length(ranks), count))
    return [Int(r) => Int(v) for (r, v) in zip(ranks, versions)]
end

"""`win_associated_p(win)`: this rank's associated p of the window (1.0 at creation)."""
function win_associated_p(win::Window)
    require_open(win)
    p = Ref{Cdouble}(0)
    check(L.bf_win_associated_p(win.name, p))
    return p[]
end

"""
    set_win_associated_p!(enabled::Bool)

Turns the associated-p (push-sum weight) bookkeeping of window operations on or off (off at
init); each operation reads it when issued.
"""
set_win_associated_p!(enabled::Bool) = check(L.bf_set_win_associated_p(enabled))

"""`get_win_associated_p()`: whether associated p is on."""
function get_win_associated_p()
    enabled = Ref{Cint}(0)
    check(L.bf_get_win_associated_p(enabled))
    return enabled[] != 0
end

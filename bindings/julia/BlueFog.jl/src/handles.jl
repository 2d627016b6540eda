# SPDX-License-Identifier: Apache-2.0
# Handle: an operation in flight. It keeps alive everything the engine may still read or write
# (arrays, tensor views, argument structs), so that memory cannot be collected under the engine.
# `wait(h)` returns the result; `close(h)` or the finalizer waits and releases the handle.

"""
    Handle

An asynchronous operation. `wait(h)` yields to other tasks until it completes and returns its
result (the array for in-place operations, a new array for gathers) or raises `BlueFogError`;
`isready(h)` polls. `close(h)` and the finalizer wait for completion and free the handle.
"""
mutable struct Handle
    id::UInt64
    keep::Vector{Any}
    finish::Function   # () -> result, called once after success
    discard::Function  # frees a result nobody took (gathers)

    function Handle(id::UInt64, keep::Vector{Any}, finish::Function,
                    discard::Function = () -> nothing)
        h = new(id, keep, finish, discard)
        finalizer(close, h)
        return h
    end
end

"""Waits (blocking this thread) and frees the handle; returns the operation's status."""
function release!(h::Handle)
    h.id == 0 && return L.BF_OK
    id = h.id
    h.id = 0
    status = L.bf_wait(id, -1)
    L.bf_handle_free(id)
    # The engine is done with the memory: it may be collected from now on.
    empty!(h.keep)
    return status
end

function Base.isready(h::Handle)
    h.id == 0 && return true
    done = Ref{Cint}(0)
    check(L.bf_poll(h.id, done))
    return done[] != 0
end

function Base.wait(h::Handle)
    h.id == 0 && throw(invalid_argument("the handle was already waited for or closed"))
    # Poll with a short timeout and yield, so other Julia tasks run while the engine works.
    while L.bf_wait(h.id, 1) == L.BF_ERR_TIMEOUT
        yield()
    end
    status = release!(h)
    check(status)
    return h.finish()
end

"""Waits for the operation, discards its result and frees the handle. Idempotent."""
function Base.close(h::Handle)
    h.id == 0 && return nothing
    release!(h) == L.BF_OK && h.discard()
    return nothing
end

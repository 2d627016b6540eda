# SPDX-License-Identifier: Apache-2.0
# BlueFogError: the library's status and the sentence bf_last_error() gave for it.

"""
    BlueFogError(code, name, message)

A failed BlueFog call. `code` is the C `bf_status` (e.g. `LibBlueFog.BF_ERR_MISMATCH`), `name` its
constant name (`"BF_ERR_MISMATCH"`), `message` the library's sentence naming the argument and the
rank. A collective mismatch raises it on every rank involved.
"""
struct BlueFogError <: Exception
    code::Int
    name::String
    message::String
end

Base.showerror(io::IO, e::BlueFogError) = print(io, "BlueFogError: ", e.name, ": ", e.message)

status_name(code::Integer) = unsafe_string(L.bf_status_string(L.bf_status(code)))

"""Raises a `BlueFogError` with this thread's last error unless `status` is `BF_OK`."""
function check(status::Integer)
    status == L.BF_OK && return nothing
    # bf_last_error is thread-local: no yield point lies between the failing call and this one.
    message = unsafe_string(L.bf_last_error())
    throw(BlueFogError(Int(status), status_name(status), message))
end

"""An invalid-argument error raised on the Julia side, before reaching the library."""
invalid_argument(message::AbstractString) =
    BlueFogError(Int(L.BF_ERR_INVALID_ARGUMENT), "BF_ERR_INVALID_ARGUMENT", message)

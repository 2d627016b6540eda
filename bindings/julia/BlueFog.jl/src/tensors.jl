# SPDX-License-Identifier: Apache-2.0
# Arrays as DLPack tensors without copying. Julia arrays are column-major, DLPack tensors
# row-major: the tensor gets the reversed shape and strides, so element-wise operations see the
# same memory and gathers concatenate along the last Julia dimension (the first DLPack one).

const DTYPES = Dict{DataType,L.DLDataType}(
    Int8 => L.DLDataType(L.kDLInt, 8, 1),
    Int16 => L.DLDataType(L.kDLInt, 16, 1),
    Int32 => L.DLDataType(L.kDLInt, 32, 1),
    Int64 => L.DLDataType(L.kDLInt, 64, 1),
    UInt8 => L.DLDataType(L.kDLUInt, 8, 1),
    Float16 => L.DLDataType(L.kDLFloat, 16, 1),
    Float32 => L.DLDataType(L.kDLFloat, 32, 1),
    Float64 => L.DLDataType(L.kDLFloat, 64, 1),
)

function dlpack_dtype(::Type{T}) where {T}
    haskey(DTYPES, T) && return DTYPES[T]
    throw(invalid_argument("element type $T is not supported (Int8/16/32/64, UInt8, " *
                           "Float16/32/64)"))
end

# Host arrays live on the CPU; any other array (CuArray, ...) is asked through DLPack.jl, whose
# CUDA extension knows device and pinned host buffers.
device_of(::Array) = L.DLDevice(L.kDLCPU, 0)
function device_of(A::AbstractArray)
    device = DLPack.dldevice(A)
    return L.DLDevice(Cint(device.device_type), Cint(device.device_id))
end

"""
A borrowed DLPack view of an array: the `DLTensor` plus the shape and stride vectors it points
into and the array itself, all kept alive together for as long as an operation may read them.
"""
struct TensorRef
    tensor::Base.RefValue{L.DLTensor}
    shape::Vector{Int64}
    strides::Vector{Int64}
    array::AbstractArray
end

function TensorRef(A::AbstractArray{T}) where {T}
    dtype = dlpack_dtype(T)
    shape = Int64[reverse(size(A))...]
    strides_ = Int64[reverse(strides(A))...]
    data = Ptr{Cvoid}(UInt(pointer(A)))
    tensor = L.DLTensor(data, device_of(A), Cint(ndims(A)), dtype, pointer(shape),
                        pointer(strides_), UInt64(0))
    return TensorRef(Ref(tensor), shape, strides_, A)
end

"""
    take_managed(ptr, T, Val(N)) -> Array{T,N}

Wraps a tensor the library handed over (gather results) as a Julia array without copying; the
array's finalizer calls the tensor's deleter.
"""
function take_managed(ptr::Ptr{L.DLManagedTensor}, ::Type{T}, ::Val{N}) where {T,N}
    managed = unsafe_load(ptr)
    tensor = managed.dl_tensor
    tensor.ndim == N || throw(BlueFogError(Int(L.BF_ERR_INTERNAL), "BF_ERR_INTERNAL",
                                           "gather result has $(tensor.ndim) dimensions, not $N"))
    dims = ntuple(i -> Int(unsafe_load(tensor.shape, N + 1 - i)), Val(N))
    data = Ptr{T}(tensor.data + tensor.byte_offset)
    array = unsafe_wrap(Array, data, dims; own = false)
    deleter = managed.deleter
    if deleter != C_NULL
        finalizer(array) do _
            ccall(deleter, Cvoid, (Ptr{L.DLManagedTensor},), ptr)
        end
    end
    return array
end

"""Frees a tensor the library handed over that nobody wrapped."""
function free_managed(ptr::Ptr{L.DLManagedTensor})
    ptr == C_NULL && return nothing
    deleter = unsafe_load(ptr).deleter
    deleter != C_NULL && ccall(deleter, Cvoid, (Ptr{L.DLManagedTensor},), ptr)
    return nothing
end

// SPDX-License-Identifier: Apache-2.0
// DLTensor validation: everything a caller can get wrong is caught here, before the engine sees it.
#include "core/tensor.h"

#include <limits>
#include <sstream>

#include "core/enum_value.h"
#include "device/device.h"

namespace bluefog {

namespace {
constexpr int kMaxDims = 64;
// Payloads are counted in bytes as int64 end to end; keep well clear of overflow.
constexpr int64_t kMaxBytes = int64_t{1} << 46;

std::string DeviceName(DLDevice device) {
  if (device.device_type == kDLCUDA) return "CUDA device " + std::to_string(device.device_id);
  return "host memory";
}

// A kDLCUDA tensor needs a usable device of its id, and memory on it.
Status CheckDevice(const TensorRef& ref, const ArgName& what) {
  DeviceRuntime& devices = Devices();
  const int id = ref.device.device_id;
  if (devices.device_count() == 0) {
    return Error(BF_ERR_UNSUPPORTED, what, " is on CUDA device ", id, ", but ",
                 devices.unavailable_reason());
  }
  if (id < 0 || id >= devices.device_count()) {
    return Error(BF_ERR_INVALID_ARGUMENT, what, " is on CUDA device ", id, "; this process sees ",
                 devices.device_count(), " device(s)");
  }
  if (ref.num_elements == 0) return Status::Ok();
  if (Status owned = devices.CheckPointer(ref.data, id); !owned.ok()) {
    return Status(owned.code(), what.str() + " " + owned.message());
  }
  return Status::Ok();
}

}  // namespace

int64_t TensorRef::row_elements() const {
  int64_t row = 1;
  for (size_t d = 1; d < shape.size(); ++d) row *= shape[d];
  return row;
}

std::string TensorRef::Describe() const {
  std::ostringstream text;
  text << DTypeName(dtype) << "[";
  for (size_t d = 0; d < shape.size(); ++d) text << (d ? ", " : "") << shape[d];
  text << "]";
  return text.str();
}

std::string ArgName::str() const {
  return std::string(function) + ": '" + argument + "' on rank " + std::to_string(rank);
}

std::ostream& operator<<(std::ostream& out, const ArgName& name) { return out << name.str(); }

Status ValidateTensor(const DLTensor* tensor, const ArgName& what, TensorRef* out) {
  if (tensor == nullptr) return Error(BF_ERR_INVALID_ARGUMENT, what, " is NULL");
  if (tensor->ndim < 0 || tensor->ndim > kMaxDims) {
    return Error(BF_ERR_INVALID_ARGUMENT, what, " has ndim ", tensor->ndim, " (must be 0..",
                 kMaxDims, ")");
  }
  if (tensor->ndim > 0 && tensor->shape == nullptr) {
    return Error(BF_ERR_INVALID_ARGUMENT, what, " has ndim ", tensor->ndim, " but shape is NULL");
  }
  TensorRef ref;
  if (Status dtype = DTypeFromDLPack(tensor->dtype, "", &ref.dtype); !dtype.ok()) {
    return Status(dtype.code(), what.str() + dtype.message());
  }
  // Read as an int: a caller (or a newer DLPack) may pass a value outside this DLPack's enum.
  const int device = EnumValue(tensor->device.device_type);
  if (device != kDLCPU && device != kDLCUDAHost && device != kDLCUDA) {
    return Error(BF_ERR_UNSUPPORTED, what, " is on device type ", device,
                 "; supported: kDLCPU, kDLCUDAHost, kDLCUDA");
  }
  ref.device = tensor->device;

  const int64_t element_size = static_cast<int64_t>(ElementSize(ref.dtype));
  int64_t elements = 1;
  ref.shape.assign(tensor->shape, tensor->shape + tensor->ndim);
  for (int d = 0; d < tensor->ndim; ++d) {
    const int64_t extent = tensor->shape[d];
    if (extent < 0) {
      return Error(BF_ERR_INVALID_ARGUMENT, what, " has negative extent ", extent, " in dim ", d);
    }
    if (extent != 0 && elements > kMaxBytes / element_size / extent) {
      return Error(BF_ERR_INVALID_ARGUMENT, what, " is too large: its byte size overflows");
    }
    elements *= extent;
  }
  ref.num_elements = elements;

  if (tensor->strides != nullptr && elements > 0) {
    int64_t expected = 1;
    for (int d = tensor->ndim - 1; d >= 0; --d) {
      // Dimensions of extent 1 may carry any stride (PyTorch reports such strides freely).
      if (tensor->shape[d] != 1 && tensor->strides[d] != expected) {
        return Error(BF_ERR_INVALID_ARGUMENT, what,
                     " is not contiguous: stride of dim ", d, " is ", tensor->strides[d],
                     ", a compact row-major layout needs ", expected);
      }
      expected *= tensor->shape[d];
    }
  }
  if (tensor->data == nullptr && elements > 0) {
    return Error(BF_ERR_INVALID_ARGUMENT, what, " has NULL data but ", elements, " elements");
  }
  if (tensor->byte_offset % static_cast<uint64_t>(element_size) != 0) {
    return Error(BF_ERR_INVALID_ARGUMENT, what, " has byte_offset ", tensor->byte_offset,
                 ", not a multiple of its element size ", element_size);
  }
  // Checked in integers: pointer arithmetic that wraps, or offsets NULL, is undefined.
  const uintptr_t address = reinterpret_cast<uintptr_t>(tensor->data);
  if (tensor->byte_offset > std::numeric_limits<uintptr_t>::max() - address) {
    return Error(BF_ERR_INVALID_ARGUMENT, what, " has byte_offset ", tensor->byte_offset,
                 ", which overflows the address space");
  }
  ref.data = tensor->data == nullptr ? nullptr
                                     : static_cast<char*>(tensor->data) + tensor->byte_offset;
  if (elements > 0 && reinterpret_cast<uintptr_t>(ref.data) % element_size != 0) {
    return Error(BF_ERR_INVALID_ARGUMENT, what, " data is not aligned to its element size ",
                 element_size);
  }
  if (device == kDLCUDA) BF_RETURN_IF_ERROR(CheckDevice(ref, what));
  *out = std::move(ref);
  return Status::Ok();
}

Status RequireSameLayout(const TensorRef& in, const TensorRef& out, const ArgName& what) {
  if (in.dtype != out.dtype || in.shape != out.shape) {
    return Error(BF_ERR_INVALID_ARGUMENT, what, " is ", out.Describe(), " but 'in' is ",
                 in.Describe(), "; they must have the same dtype and shape");
  }
  // Host memory of either kind mixes freely; GPU tensors must share their device.
  const bool in_on_device = in.device.device_type == kDLCUDA;
  const bool out_on_device = out.device.device_type == kDLCUDA;
  if (in_on_device != out_on_device ||
      (in_on_device && in.device.device_id != out.device.device_id)) {
    return Error(BF_ERR_INVALID_ARGUMENT, what, " is on ", DeviceName(out.device),
                 " but 'in' is on ", DeviceName(in.device), "; they must be on the same device");
  }
  return Status::Ok();
}

bool SameMemory(const TensorRef& a, const TensorRef& b) { return a.data == b.data; }

}  // namespace bluefog

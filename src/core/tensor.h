// SPDX-License-Identifier: Apache-2.0
// TensorRef: a validated, borrowed view of a caller's DLTensor (compact, scalar dtype, host memory).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "bluefog.h"
#include "core/dtype.h"
#include "core/status.h"

namespace bluefog {

struct TensorRef {
  void* data = nullptr;  // DLTensor::data + byte_offset
  DType dtype = DType::kFloat32;
  DLDevice device{kDLCPU, 0};
  std::vector<int64_t> shape;
  int64_t num_elements = 0;

  size_t num_bytes() const { return static_cast<size_t>(num_elements) * ElementSize(dtype); }
  // Elements per index of dim 0 (1 for scalars): the unit in which gathers vary.
  int64_t row_elements() const;
  std::string Describe() const;  // "float32[4, 3]"
};

// Names an argument in messages ("bf_allreduce: 'in' on rank 3"); the text is only built when an
// error needs it, so the common path of every call formats nothing.
struct ArgName {
  const char* function;
  const char* argument;
  int rank;
  std::string str() const;
};
std::ostream& operator<<(std::ostream& out, const ArgName& name);

// Validates `tensor` and fills `out`. Rejects NULL, NULL data with elements, lanes != 1, unknown
// dtype, negative or huge shapes, non-compact strides, misaligned byte_offset and unsupported
// devices.
Status ValidateTensor(const DLTensor* tensor, const ArgName& what, TensorRef* out);

// Output tensor checks shared by ops: same dtype and shape as `in`, same device.
Status RequireSameLayout(const TensorRef& in, const TensorRef& out, const ArgName& what);

bool SameMemory(const TensorRef& a, const TensorRef& b);

}  // namespace bluefog

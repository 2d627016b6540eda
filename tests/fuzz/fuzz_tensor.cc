// SPDX-License-Identifier: Apache-2.0
// libFuzzer harness: ValidateTensor and RequireSameLayout on DLTensors whose every field comes from
// the input. The data pointer points into a PROT_NONE page, so validation that dereferenced it
// would crash instead of passing unnoticed.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "byte_reader.h"
#include "fuzz_check.h"
#include "core/tensor.h"

namespace {

using bluefog::fuzz::ByteReader;

constexpr int kMaxDims = 64;  // ValidateTensor's limit; larger ndims must be refused unread.

// A page nobody may touch: data pointers are built inside it.
char* InaccessiblePage() {
  static char* page = [] {
    void* mapping = mmap(nullptr, static_cast<size_t>(getpagesize()), PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED) std::abort();
    return static_cast<char*>(mapping);
  }();
  return page;
}

// A DLTensor plus the heap arrays it points into. The arrays hold exactly the entries the tensor
// claims (none when ndim is out of range), so ASan catches any read past them.
struct FuzzTensor {
  bool is_null = false;
  DLTensor tensor{};
  std::unique_ptr<int64_t[]> shape;  // exactly as many entries as a valid ndim needs
  std::unique_ptr<int64_t[]> strides;
};

// Layout: flags u8 (1: NULL tensor, 2: NULL shape, 4: strides given, 8: NULL data, 16: extents and
// strides as i8, 32: ndim as i32 instead of i8), ndim, dtype code u8 / bits u8 / lanes u16,
// device type i32 / id i32, byte_offset u64, data offset into the page u16, then the extents and
// the strides.
void ReadTensor(ByteReader& in, FuzzTensor* out) {
  const uint8_t flags = in.Read<uint8_t>();
  out->is_null = flags & 1;
  const bool compact = flags & 16;
  DLTensor& tensor = out->tensor;
  tensor.ndim = (flags & 32) ? in.Read<int32_t>() : in.Read<int8_t>();
  tensor.dtype.code = in.Read<uint8_t>();
  tensor.dtype.bits = in.Read<uint8_t>();
  tensor.dtype.lanes = in.Read<uint16_t>();
  // Any int, as a C caller (or a newer DLPack) may pass; stored without an enum conversion.
  const int32_t device_type = in.Read<int32_t>();
  std::memcpy(&tensor.device.device_type, &device_type, sizeof(device_type));
  tensor.device.device_id = in.Read<int32_t>();
  tensor.byte_offset = in.Read<uint64_t>();
  const uint16_t data_offset = in.Read<uint16_t>();
  tensor.data = (flags & 8) ? nullptr : InaccessiblePage() + data_offset % getpagesize();

  const int entries = (tensor.ndim >= 0 && tensor.ndim <= kMaxDims) ? tensor.ndim : 0;
  auto read_entry = [&] { return compact ? int64_t{in.Read<int8_t>()} : in.Read<int64_t>(); };
  // new T[0] is a non-null pointer to nothing: with ndim out of range it must not be read at all.
  out->shape.reset(new int64_t[entries]);
  for (int d = 0; d < entries; ++d) out->shape[d] = read_entry();
  if (flags & 4) {
    out->strides.reset(new int64_t[entries]);
    for (int d = 0; d < entries; ++d) out->strides[d] = read_entry();
  }
  tensor.shape = (flags & 2) ? nullptr : out->shape.get();
  tensor.strides = out->strides.get();
}

// Validates one tensor and checks what a success promises, independently of tensor.cc.
bluefog::Status Validate(const FuzzTensor& given, const bluefog::ArgName& what,
                         bluefog::TensorRef* ref) {
  bluefog::TensorRef sentinel;
  sentinel.shape = {7, 7};
  sentinel.num_elements = 49;
  *ref = sentinel;
  const DLTensor* tensor = given.is_null ? nullptr : &given.tensor;
  bluefog::Status status = bluefog::ValidateTensor(tensor, what, ref);
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == BF_ERR_INVALID_ARGUMENT || status.code() == BF_ERR_UNSUPPORTED);
    FUZZ_CHECK(status.message().rfind(what.str(), 0) == 0);  // names the argument first
    FUZZ_CHECK(ref->shape == sentinel.shape && ref->num_elements == 49);  // out untouched
    return status;
  }
  FUZZ_CHECK(tensor != nullptr);
  FUZZ_CHECK(tensor->dtype.lanes == 1);
  FUZZ_CHECK(tensor->ndim >= 0 && tensor->ndim <= kMaxDims);
  FUZZ_CHECK(ref->shape.size() == static_cast<size_t>(tensor->ndim));
  __int128 elements = 1;
  for (int d = 0; d < tensor->ndim; ++d) {
    FUZZ_CHECK(ref->shape[d] == tensor->shape[d] && ref->shape[d] >= 0);
    elements *= ref->shape[d];
  }
  FUZZ_CHECK(elements == ref->num_elements);
  FUZZ_CHECK(elements * static_cast<__int128>(bluefog::ElementSize(ref->dtype)) <= (__int128{1} << 46));
  if (elements > 0) {
    FUZZ_CHECK(tensor->data != nullptr);
    FUZZ_CHECK(reinterpret_cast<uintptr_t>(ref->data) ==
               reinterpret_cast<uintptr_t>(tensor->data) + tensor->byte_offset);
  }
  int32_t device_type;
  std::memcpy(&device_type, &tensor->device.device_type, sizeof(device_type));
  FUZZ_CHECK(device_type == kDLCPU || device_type == kDLCUDAHost);
  FUZZ_CHECK(!ref->Describe().empty());
  if (ref->num_elements > 0) FUZZ_CHECK(ref->row_elements() >= 1);
  return status;
}

}  // namespace

// Layout: flags u8 (1: also validate a second tensor 'out' and compare layouts), rank i32, then
// one or two tensors (ReadTensor).
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  const uint8_t flags = in.Read<uint8_t>();
  const int rank = in.Read<int32_t>();
  FuzzTensor first;
  ReadTensor(in, &first);
  bluefog::TensorRef in_ref;
  const bluefog::Status in_status = Validate(first, {"bf_fuzz", "in", rank}, &in_ref);
  if (!(flags & 1)) return 0;

  FuzzTensor second;
  ReadTensor(in, &second);
  bluefog::TensorRef out_ref;
  const bluefog::Status out_status = Validate(second, {"bf_fuzz", "out", rank}, &out_ref);
  if (!in_status.ok() || !out_status.ok()) return 0;
  const bluefog::Status layout =
      bluefog::RequireSameLayout(in_ref, out_ref, {"bf_fuzz", "out", rank});
  const bool same = in_ref.dtype == out_ref.dtype && in_ref.shape == out_ref.shape;
  FUZZ_CHECK(layout.ok() == same);
  if (!layout.ok()) FUZZ_CHECK(layout.code() == BF_ERR_INVALID_ARGUMENT);
  (void)bluefog::SameMemory(in_ref, out_ref);
  return 0;
}

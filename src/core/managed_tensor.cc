// SPDX-License-Identifier: Apache-2.0
// Allocation and deleter of engine-owned DLManagedTensor results.
#include "core/managed_tensor.h"

#include <cstdlib>
#include <memory>
#include <new>

namespace bluefog {

namespace {

struct ManagedStorage {
  DLManagedTensor managed{};
  std::vector<int64_t> shape;
  void* data = nullptr;
  ~ManagedStorage() { std::free(data); }
};

void DeleteManaged(DLManagedTensor* self) {
  delete static_cast<ManagedStorage*>(self->manager_ctx);
}

}  // namespace

DLManagedTensor* NewManagedTensor(DType dtype, const std::vector<int64_t>& shape) {
  auto storage = std::make_unique<ManagedStorage>();
  storage->shape = shape;
  size_t bytes = ElementSize(dtype);
  for (int64_t extent : shape) bytes *= static_cast<size_t>(extent);
  constexpr size_t kAlignment = 64;
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  storage->data = std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
  if (storage->data == nullptr) throw std::bad_alloc();

  DLTensor& tensor = storage->managed.dl_tensor;
  tensor.data = storage->data;
  tensor.device = {kDLCPU, 0};
  tensor.ndim = static_cast<int>(storage->shape.size());
  tensor.dtype = DTypeToDLPack(dtype);
  tensor.shape = storage->shape.data();
  tensor.strides = nullptr;
  tensor.byte_offset = 0;
  storage->managed.manager_ctx = storage.get();
  storage->managed.deleter = DeleteManaged;
  return &storage.release()->managed;
}

}  // namespace bluefog

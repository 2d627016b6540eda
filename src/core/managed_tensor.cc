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
  std::function<void(void*)> release;
  ~ManagedStorage() {
    if (release) release(data);
  }
};

void DeleteManaged(DLManagedTensor* self) {
  delete static_cast<ManagedStorage*>(self->manager_ctx);
}

}  // namespace

size_t CompactBytes(DType dtype, const std::vector<int64_t>& shape) {
  size_t bytes = ElementSize(dtype);
  for (int64_t extent : shape) bytes *= static_cast<size_t>(extent);
  return bytes;
}

DLManagedTensor* WrapManagedTensor(DType dtype, const std::vector<int64_t>& shape,
                                   DLDevice device, void* data,
                                   std::function<void(void*)> release) {
  auto storage = std::make_unique<ManagedStorage>();
  storage->shape = shape;
  // Owned from here on (nothing below throws); if the lines above throw, the caller still owns it.
  storage->data = data;
  storage->release = std::move(release);

  DLTensor& tensor = storage->managed.dl_tensor;
  tensor.data = storage->data;
  tensor.device = device;
  tensor.ndim = static_cast<int>(storage->shape.size());
  tensor.dtype = DTypeToDLPack(dtype);
  tensor.shape = storage->shape.data();
  tensor.strides = nullptr;
  tensor.byte_offset = 0;
  storage->managed.manager_ctx = storage.get();
  storage->managed.deleter = DeleteManaged;
  return &storage.release()->managed;
}

DLManagedTensor* NewManagedTensor(DType dtype, const std::vector<int64_t>& shape) {
  constexpr size_t kAlignment = 64;
  const size_t bytes = CompactBytes(dtype, shape);
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* data = std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
  if (data == nullptr) throw std::bad_alloc();
  std::unique_ptr<void, void (*)(void*)> owned(data, std::free);  // until wrapped
  DLManagedTensor* managed = WrapManagedTensor(dtype, shape, {kDLCPU, 0}, data, std::free);
  (void)owned.release();
  return managed;
}

DLManagedTensor* NewManagedTensor(DType dtype, const std::vector<int64_t>& shape,
                                  const std::shared_ptr<HostStoragePool>& pool) {
  if (!pool) return NewManagedTensor(dtype, shape);
  size_t capacity = 0;
  void* data = pool->Acquire(CompactBytes(dtype, shape), &capacity);
  auto release = [pool, capacity](void* p) { pool->Release(p, capacity); };
  try {
    return WrapManagedTensor(dtype, shape, {kDLCPU, 0}, data, release);
  } catch (...) {
    release(data);
    throw;
  }
}

}  // namespace bluefog

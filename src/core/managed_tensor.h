// SPDX-License-Identifier: Apache-2.0
// Engine-allocated results handed to the caller as DLPack DLManagedTensor (the caller frees them
// through their deleter).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "bluefog.h"
#include "core/dtype.h"
#include "core/host_storage_pool.h"

namespace bluefog {

// Bytes of a compact tensor of `dtype` and `shape`.
size_t CompactBytes(DType dtype, const std::vector<int64_t>& shape);

// Allocates a host tensor of `dtype` and `shape` (64-byte aligned, uninitialized). Throws
// std::bad_alloc on failure (the api layer maps it to BF_ERR_OUT_OF_MEMORY).
DLManagedTensor* NewManagedTensor(DType dtype, const std::vector<int64_t>& shape);
// The same, with storage from `pool` (null: as above); the deleter gives it back there.
DLManagedTensor* NewManagedTensor(DType dtype, const std::vector<int64_t>& shape,
                                  const std::shared_ptr<HostStoragePool>& pool);

// Hands `data` (compact, of `dtype` and `shape`, on `device`) to a DLManagedTensor whose deleter
// calls `release(data)`.
DLManagedTensor* WrapManagedTensor(DType dtype, const std::vector<int64_t>& shape,
                                   DLDevice device, void* data,
                                   std::function<void(void*)> release);

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Engine-allocated results handed to the caller as DLPack DLManagedTensor (the caller frees them
// through their deleter).
#pragma once

#include <cstdint>
#include <vector>

#include "bluefog.h"
#include "core/dtype.h"

namespace bluefog {

// Allocates a host tensor of `dtype` and `shape` (64-byte aligned, uninitialized). Throws
// std::bad_alloc on failure (the api layer maps it to BF_ERR_OUT_OF_MEMORY).
DLManagedTensor* NewManagedTensor(DType dtype, const std::vector<int64_t>& shape);

}  // namespace bluefog

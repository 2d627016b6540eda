// SPDX-License-Identifier: Apache-2.0
// BufferPool: reusable, uninitialized byte buffers for received messages, so a steady stream of
// same-sized messages costs no allocation and no page faults after the first step.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace bluefog {

struct PooledBuffer {
  std::unique_ptr<std::byte[]> data;
  size_t size = 0;
  size_t capacity = 0;
};

class BufferPool {
 public:
  // A buffer of at least `bytes` (contents unspecified); size is set to `bytes`.
  PooledBuffer Acquire(size_t bytes);
  void Release(PooledBuffer buffer);

 private:
  static constexpr size_t kMaxFreeBuffers = 64;
  std::vector<PooledBuffer> free_;
};

}  // namespace bluefog

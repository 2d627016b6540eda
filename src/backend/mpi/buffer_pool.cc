// SPDX-License-Identifier: Apache-2.0
// Best-fit reuse of released buffers.
#include "backend/mpi/buffer_pool.h"

#include <algorithm>

namespace bluefog {

PooledBuffer BufferPool::Acquire(size_t bytes) {
  auto best = free_.end();
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->capacity >= bytes && (best == free_.end() || it->capacity < best->capacity)) best = it;
  }
  PooledBuffer buffer;
  if (best != free_.end()) {
    buffer = std::move(*best);
    free_.erase(best);
  } else {
    buffer.data.reset(new std::byte[std::max<size_t>(bytes, 1)]);  // uninitialized on purpose
    buffer.capacity = std::max<size_t>(bytes, 1);
  }
  buffer.size = bytes;
  return buffer;
}

void BufferPool::Release(PooledBuffer buffer) {
  if (!buffer.data) return;
  if (free_.size() >= kMaxFreeBuffers) {
    // Drop the smallest: large buffers are the expensive ones to fault in again.
    auto smallest = std::min_element(free_.begin(), free_.end(), [](const auto& a, const auto& b) {
      return a.capacity < b.capacity;
    });
    if (smallest->capacity >= buffer.capacity) return;
    free_.erase(smallest);
  }
  free_.push_back(std::move(buffer));
}

}  // namespace bluefog

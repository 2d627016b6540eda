// SPDX-License-Identifier: Apache-2.0
// The bounded cache of large result buffers (see the header for why it exists).
#include "core/host_storage_pool.h"

#include <cstdlib>
#include <new>

namespace bluefog {

HostStoragePool::~HostStoragePool() { Close(); }

void* HostStoragePool::Acquire(size_t bytes, size_t* capacity) {
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  const size_t wanted = rounded == 0 ? kAlignment : rounded;
  if (wanted >= kMinPooledBytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    // The smallest held buffer that fits without wasting more than half of it.
    size_t best = held_.size();
    for (size_t i = 0; i < held_.size(); ++i) {
      const size_t c = held_[i].capacity;
      if (c >= wanted && c / 2 <= wanted && (best == held_.size() || c < held_[best].capacity)) {
        best = i;
      }
    }
    if (best != held_.size()) {
      Held found = held_[best];
      held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(best));
      held_bytes_ -= found.capacity;
      *capacity = found.capacity;
      return found.data;
    }
  }
  void* data = std::aligned_alloc(kAlignment, wanted);
  if (data == nullptr) throw std::bad_alloc();
  *capacity = wanted;
  return data;
}

void HostStoragePool::Release(void* data, size_t capacity) {
  if (data == nullptr) return;
  if (capacity >= kMinPooledBytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!closed_ && capacity <= kMaxCachedBytes) {
      // Make room by dropping the oldest held buffers: recent sizes are the ones a loop reuses.
      while (!held_.empty() && (held_.size() >= kMaxCachedBuffers ||
                                held_bytes_ + capacity > kMaxCachedBytes)) {
        std::free(held_.front().data);
        held_bytes_ -= held_.front().capacity;
        held_.erase(held_.begin());
      }
      held_.push_back({data, capacity});
      held_bytes_ += capacity;
      return;
    }
  }
  std::free(data);
}

void HostStoragePool::Close() {
  std::vector<Held> held;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    held.swap(held_);
    held_bytes_ = 0;
  }
  for (const Held& h : held) std::free(h.data);
}

size_t HostStoragePool::cached_buffers() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return held_.size();
}

size_t HostStoragePool::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return held_bytes_;
}

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Unit tests of the result storage pool: large buffers are reused, small ones never held, the
// bounds hold, results outlive a closed pool, and deleters may run on other threads.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "core/host_storage_pool.h"
#include "core/managed_tensor.h"

namespace bluefog {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

TEST(HostStoragePool, ReusesALargeBufferOfAFittingSize) {
  HostStoragePool pool;
  size_t capacity = 0;
  void* first = pool.Acquire(4 * kMiB, &capacity);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(capacity, 4 * kMiB);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % HostStoragePool::kAlignment, 0u);
  std::memset(first, 1, 4 * kMiB);
  pool.Release(first, capacity);
  EXPECT_EQ(pool.cached_buffers(), 1u);
  EXPECT_EQ(pool.cached_bytes(), 4 * kMiB);
  size_t again = 0;
  EXPECT_EQ(pool.Acquire(3 * kMiB, &again), first);  // fits, wastes under half
  EXPECT_EQ(again, 4 * kMiB);
  EXPECT_EQ(pool.cached_buffers(), 0u);
  pool.Release(first, again);
  size_t small = 0;
  void* other = pool.Acquire(kMiB, &small);  // would waste 3/4 of the held one: a new buffer
  EXPECT_NE(other, first);
  EXPECT_EQ(pool.cached_buffers(), 1u);
  pool.Release(other, small);
  EXPECT_EQ(pool.cached_buffers(), 2u);
}

TEST(HostStoragePool, NeverHoldsSmallBuffers) {
  HostStoragePool pool;
  size_t capacity = 0;
  void* data = pool.Acquire(100, &capacity);
  EXPECT_EQ(capacity, HostStoragePool::kAlignment * 2);
  pool.Release(data, capacity);
  EXPECT_EQ(pool.cached_buffers(), 0u);
}

TEST(HostStoragePool, KeepsWithinItsBounds) {
  HostStoragePool pool;
  std::vector<std::pair<void*, size_t>> taken;
  for (size_t i = 0; i < HostStoragePool::kMaxCachedBuffers + 3; ++i) {
    size_t capacity = 0;
    void* data = pool.Acquire(kMiB, &capacity);
    taken.push_back({data, capacity});
  }
  for (auto [data, capacity] : taken) pool.Release(data, capacity);
  EXPECT_EQ(pool.cached_buffers(), HostStoragePool::kMaxCachedBuffers);
  EXPECT_LE(pool.cached_bytes(), HostStoragePool::kMaxCachedBytes);
  size_t capacity = 0;
  void* huge = pool.Acquire(HostStoragePool::kMaxCachedBytes + 64, &capacity);
  pool.Release(huge, capacity);  // larger than the whole cache: freed
  EXPECT_EQ(pool.cached_buffers(), HostStoragePool::kMaxCachedBuffers);
  pool.Close();
  EXPECT_EQ(pool.cached_buffers(), 0u);
  EXPECT_EQ(pool.cached_bytes(), 0u);
}

TEST(HostStoragePool, ResultsOutliveAClosedPoolAndMayBeFreedOnAnyThread) {
  auto pool = std::make_shared<HostStoragePool>();
  DLManagedTensor* kept = NewManagedTensor(DType::kFloat32, {int64_t{1} << 20}, pool);
  DLManagedTensor* returned = NewManagedTensor(DType::kFloat32, {int64_t{1} << 20}, pool);
  std::thread([returned] { returned->deleter(returned); }).join();
  EXPECT_EQ(pool->cached_buffers(), 1u);
  DLManagedTensor* reused = NewManagedTensor(DType::kFloat32, {int64_t{1} << 19, 2}, pool);
  EXPECT_EQ(reused->dl_tensor.ndim, 2);
  EXPECT_EQ(reused->dl_tensor.shape[1], 2);
  EXPECT_EQ(pool->cached_buffers(), 0u);
  reused->deleter(reused);
  pool->Close();
  pool.reset();  // the engine is gone; `kept` still holds the pool
  static_cast<float*>(kept->dl_tensor.data)[(1 << 20) - 1] = 1.0f;
  kept->deleter(kept);  // frees directly
}

}  // namespace
}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// A small cache of large host buffers for engine-allocated results (allgather), so steady loops
// reuse pages instead of mapping and faulting in fresh ones on every call.
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

namespace bluefog {

// Buffers of at least kMinPooledBytes come from here and go back here when the result's deleter
// runs (on any thread). Why: glibc serves them with mmap (above its 32 MiB dynamic threshold),
// so each call faulted in every page of its result: a 16 MiB x 2 ranks allgather took 3.5x as
// long as MPI_Allgather into a reused buffer (docs/performance.md). Bounded: at most
// kMaxCachedBuffers buffers and kMaxCachedBytes bytes are held; a returned buffer beyond that is
// freed. Close (at bf_finalize) frees what is held and makes later returns free directly;
// results may outlive the engine, so their deleters hold the pool by shared_ptr.
class HostStoragePool {
 public:
  static constexpr size_t kAlignment = 64;
  static constexpr size_t kMinPooledBytes = size_t{1} << 20;
  static constexpr size_t kMaxCachedBuffers = 8;
  static constexpr size_t kMaxCachedBytes = size_t{512} << 20;

  HostStoragePool() = default;
  HostStoragePool(const HostStoragePool&) = delete;
  HostStoragePool& operator=(const HostStoragePool&) = delete;
  ~HostStoragePool();

  // A buffer of at least `bytes` (64-byte aligned, contents unspecified) and its capacity, which
  // Release needs. Reuses a held buffer of capacity in [bytes, 2 x bytes] if there is one.
  // Throws std::bad_alloc.
  void* Acquire(size_t bytes, size_t* capacity);
  // Takes back a buffer from Acquire: holds it, or frees it if closed or over the bounds.
  void Release(void* data, size_t capacity);
  // Frees every held buffer; from now on Release frees.
  void Close();

  size_t cached_buffers() const;
  size_t cached_bytes() const;

 private:
  struct Held {
    void* data;
    size_t capacity;
  };
  mutable std::mutex mutex_;
  std::vector<Held> held_;  // guarded by mutex_; most recently returned last
  size_t held_bytes_ = 0;   // guarded by mutex_
  bool closed_ = false;     // guarded by mutex_
};

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Handles: process-local ids for operations in flight. Ids are never reused, so a freed or foreign
// id is reported as such instead of touching freed memory.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "core/status.h"

namespace bluefog {

// Completion state shared by the engine (which completes it) and waiters (any thread).
class Completion {
 public:
  // Settle records the result (done() and Wait see it at once); Wake wakes the threads asleep in
  // Wait. The engine settles ops as they finish and wakes their waiters once per step, so that
  // a caller waiting on many ops finished in one step is woken once, not once per op.
  void Settle(Status status);
  void Wake();
  void Complete(Status status) {
    Settle(std::move(status));
    Wake();
  }
  bool done() const;
  // Waits up to timeout_ms (< 0: forever). Returns false on timeout; else *status is the result.
  bool Wait(int timeout_ms, Status* status) const;

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable done_cv_;
  bool done_ = false;                     // guarded by mutex_
  Status status_;
};

class HandleTable {
 public:
  // Registers a new in-flight operation; returns its handle id and its completion.
  uint64_t Add(std::shared_ptr<Completion> completion);
  // nullptr if `handle` is unknown or freed.
  std::shared_ptr<Completion> Find(uint64_t handle) const;
  // `rank` is named in error messages.
  Status Free(uint64_t handle, int rank = -1);

 private:
  mutable std::mutex mutex_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::shared_ptr<Completion>> handles_;
};

}  // namespace bluefog

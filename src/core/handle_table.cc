// SPDX-License-Identifier: Apache-2.0
// Completion signalling and the handle registry.
#include "core/handle_table.h"

#include <chrono>

namespace bluefog {

void Completion::Settle(Status status) {
  std::lock_guard<std::mutex> lock(mutex_);
  status_ = std::move(status);
  done_ = true;
}

void Completion::Wake() { done_cv_.notify_all(); }

bool Completion::done() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return done_;
}

bool Completion::Wait(int timeout_ms, Status* status) const {
  // No spin before sleeping: a waiting caller that spins takes the core from the engine threads
  // that are finishing its operation (docs/performance.md, "Waiting callers sleep").
  std::unique_lock<std::mutex> lock(mutex_);
  if (timeout_ms < 0) {
    done_cv_.wait(lock, [this] { return done_; });
  } else if (!done_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                                [this] { return done_; })) {
    return false;
  }
  *status = status_;
  return true;
}

uint64_t HandleTable::Add(std::shared_ptr<Completion> completion) {
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t id = next_id_++;
  handles_.emplace(id, std::move(completion));
  return id;
}

std::shared_ptr<Completion> HandleTable::Find(uint64_t handle) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = handles_.find(handle);
  return it == handles_.end() ? nullptr : it->second;
}

Status HandleTable::Free(uint64_t handle, int rank) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = handles_.find(handle);
  if (it == handles_.end()) {
    return Error(BF_ERR_INVALID_ARGUMENT, "bf_handle_free: handle ", handle, " on rank ", rank,
                 " is unknown or was already freed");
  }
  if (!it->second->done()) {
    return Error(BF_ERR_IN_PROGRESS, "bf_handle_free: handle ", handle, " on rank ", rank,
                 " is still in flight; wait for it (bf_wait) before freeing it");
  }
  handles_.erase(it);
  return Status::Ok();
}

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Completion signalling and the handle registry.
#include "core/handle_table.h"

#include <chrono>

#include "core/backoff.h"

namespace bluefog {

void Completion::Complete(Status status) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    status_ = std::move(status);
    done_ = true;
    done_published_.store(true, std::memory_order_release);
  }
  done_cv_.notify_all();
}

bool Completion::done() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return done_;
}

bool Completion::Wait(int timeout_ms, Status* status) const {
  // Most operations finish within microseconds: spin briefly before paying for a futex sleep.
  if (timeout_ms != 0) {
    SpinBriefly([this] { return done_published_.load(std::memory_order_acquire); },
                std::chrono::microseconds(20));
  }
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

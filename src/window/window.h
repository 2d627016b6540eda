// SPDX-License-Identifier: Apache-2.0
// Window: one rank's side of a one-sided window — the caller's tensor, one buffer per in-neighbor
// (what that neighbor put or accumulated, or what this rank got from it), versions, associated p
// and the mutexes this rank owns. The registry maps names to windows for callers (validation,
// queries) and for the engine thread (serving peers).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "core/tensor.h"

namespace bluefog {

// Mutex (owner, index): the owner's lock over its buffer for `index`.
struct WindowMutex {
  int holder = -1;  // rank holding it, -1 when free
  struct Waiter {
    int rank;
    uint64_t request;
  };
  std::deque<Waiter> waiters;  // granted in arrival order
};

struct Window {
  Window() = default;
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;
  ~Window();  // frees the pinned mirror of a GPU window

  std::string name;
  uint64_t hash = 0;
  // The window's tensor in host memory, which the engine serves peers from: the caller's memory
  // (borrowed until the window is freed), or for a GPU window its pinned host mirror.
  TensorRef tensor;
  // A GPU window (kDLCUDA): the caller's device tensor, borrowed until the window is freed. Its
  // host mirror (`tensor`, page-locked, owned) holds the snapshots served to peers' gets; the
  // window's own operations stage the device tensor through host buffers of their own
  // (device/staging.h). Empty for host windows.
  TensorRef device_tensor;
  bool on_device() const { return device_tensor.device.device_type == kDLCUDA; }
  // The topology at creation, which cannot change while the window exists.
  std::vector<int> in_neighbors;   // ascending; buffers are parallel to it
  std::vector<int> out_neighbors;  // ascending
  bool weighted = false;
  double topology_self_weight = 1.0;
  std::vector<double> topology_in_weights;  // parallel to in_neighbors

  // Buffers, versions and associated p: written by the engine thread, read by queries.
  mutable std::mutex data_mutex;
  std::vector<std::vector<std::byte>> buffers;
  std::vector<int> versions;
  double associated_p = 1.0;
  std::vector<double> neighbor_p;

  // bf_win_lock, guarded by data_mutex. While locked, peers' puts, accumulates and get requests
  // wait in `held`, in arrival order; the engine serves them once unlocked, before anything that
  // arrives later (which queues behind them while `held` is not empty).
  bool locked = false;
  std::deque<std::unique_ptr<ReceivedMessage>> held;
  // Peers' writes of several chunks begun and not finished, as (source, request): their later
  // chunks are applied even while locked, and bf_win_lock returns only once there are none, so
  // the lock holder never sees a half-written buffer.
  std::set<std::pair<int, uint64_t>> partial_writes;
  // GPU windows: peers' gets accepted and not yet copied out of device memory into their
  // answers; bf_win_lock also waits for these, so no copy of the tensor is under way once locked.
  int device_reads = 0;
  std::condition_variable writes_settled;  // partial_writes became empty, device_reads 0

  // Engine thread only.
  std::map<int, WindowMutex> mutexes;  // by index

  // This rank's window operations issued and not finished (bf_win_free waits for them).
  std::atomic<int> pending_ops{0};

  // Position of `rank` in in_neighbors, or -1.
  int InNeighborIndex(int rank) const;
  bool IsOutNeighbor(int rank) const;
};

class WindowRegistry {
 public:
  std::shared_ptr<Window> Find(const std::string& name) const;
  std::shared_ptr<Window> FindByHash(uint64_t hash) const;
  // BF_ERR_INVALID_ARGUMENT if the name is taken.
  Status Add(std::shared_ptr<Window> window);
  void Remove(const std::string& name);
  std::vector<std::shared_ptr<Window>> All() const;  // by name
  bool empty() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Window>> by_name_;
  std::map<uint64_t, std::shared_ptr<Window>> by_hash_;
};

}  // namespace bluefog

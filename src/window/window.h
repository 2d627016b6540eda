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

// A window's buffers are slots, one per in-neighbor: a header (lock, version, p) followed by the
// buffer, all laid out after a WindowBlockHeader in one block of memory. Where the ranks of a
// machine share memory, each rank's block is its part of a SharedSegment, and a same-machine
// in-neighbor's put or accumulate writes its slot directly instead of sending a message to this
// rank's engine. The slot's lock is what makes that safe: a direct writer holds it while it
// copies (and never waits for it: it tries again on its next engine pass), the owner while it
// reads (update, versions) or writes (a message's data, a get's reply).
inline constexpr size_t kSlotAlignment = 64;

struct alignas(kSlotAlignment) WindowBlockHeader {
  // bf_win_lock of the owner: direct writers leave the slots alone while it is set.
  std::atomic<uint32_t> owner_locked{0};
  int32_t slot_count = 0;
  uint64_t buffer_bytes = 0;
};

struct alignas(kSlotAlignment) WindowSlot {
  std::atomic<uint32_t> lock{0};
  int32_t source = -1;  // the in-neighbor whose buffer this is (a direct writer checks it)
  // Puts and accumulates received from the source, and gets done from it, since the last
  // update that read this buffer.
  int32_t version = 0;
  double p = 0.0;  // the source's associated p, as it last put or accumulated it
};

// Lock-free, and so usable by several processes mapping the same memory.
static_assert(std::atomic<uint32_t>::is_always_lock_free);

size_t WindowBlockBytes(size_t slots, size_t buffer_bytes);
// Slot `index` of a block laid out for buffers of `buffer_bytes`.
WindowSlot* SlotAt(std::byte* block, size_t index, size_t buffer_bytes);
inline std::byte* SlotBuffer(WindowSlot* slot) {
  return reinterpret_cast<std::byte*>(slot) + sizeof(WindowSlot);
}
inline bool TryLockSlot(WindowSlot& slot) {
  uint32_t expected = 0;
  return slot.lock.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                           std::memory_order_relaxed);
}
inline void UnlockSlot(WindowSlot& slot) { slot.lock.store(0, std::memory_order_release); }

// Holds a slot's lock, waiting (yielding) for it: other holders only copy while they hold it.
class SlotGuard {
 public:
  explicit SlotGuard(WindowSlot& slot);
  ~SlotGuard() { UnlockSlot(slot_); }
  SlotGuard(const SlotGuard&) = delete;
  SlotGuard& operator=(const SlotGuard&) = delete;

 private:
  WindowSlot& slot_;
};

// A same-machine out-neighbor's slot for this rank, which this rank's puts and accumulates write
// directly. Guarded by its window's direct_mutex.
struct DirectTarget {
  int peer = -1;
  WindowBlockHeader* header = nullptr;
  WindowSlot* slot = nullptr;
  // This rank's transfers to the peer waiting to write, by request id, oldest first: they write
  // in this order, as the peer's engine applies one sender's messages in order.
  std::deque<uint64_t> queue;
};

// One put or accumulate into a peer's slot.
struct SlotWrite {
  bool accumulate = false;
  DType dtype = DType::kFloat32;
  const std::byte* data = nullptr;  // an accumulate's: already scaled by its weight
  size_t count = 0;                 // elements
  double weight = 1.0;              // a put's: applied while copying
  bool with_p = false;
  double p = 0.0;  // the associated p travelling with it (already weighted)
};
// A put (or an accumulate) of `tensor` weighted by `weight`, carrying `p` (unweighted) when
// with_p. An accumulate with a weight other than 1 adds a scaled copy, made into `*scaled`
// unless it holds one already (a transfer retried), so that the slot is held only while adding.
SlotWrite PrepareSlotWrite(bool accumulate, const TensorRef& tensor, double weight, bool with_p,
                           double p, std::vector<std::byte>* scaled);
// Writes into `target`'s slot; false if the slot is busy or the peer's window is locked
// (bf_win_lock), in which case nothing was written. The caller holds the window's direct_mutex.
bool TryWriteSlot(DirectTarget& target, const SlotWrite& write);

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

  // The slots (buffers, versions and the neighbors' p), parallel to in_neighbors, in `block`:
  // this rank's part of `shared` where the machine's ranks share memory, else `own_block`.
  // Written by the engine thread (and direct writers), read by queries, under the slot locks.
  std::byte* block = nullptr;
  std::unique_ptr<SharedSegment> shared;
  std::unique_ptr<std::byte[]> own_block;
  size_t buffer_bytes = 0;
  WindowBlockHeader& header() const { return *reinterpret_cast<WindowBlockHeader*>(block); }
  WindowSlot& slot(size_t index) const { return *SlotAt(block, index, buffer_bytes); }
  std::byte* buffer(size_t index) const { return SlotBuffer(&slot(index)); }
  // Guards direct_targets (their queues) and direct_open: the engine writes peers' slots under
  // it, and so does the caller's thread for a blocking put (WriteDirectFromCaller).
  std::mutex direct_mutex;
  std::vector<DirectTarget> direct_targets;
  bool direct_open = true;  // false once bf_win_free has begun on the engine
  DirectTarget* FindDirectTarget(int peer);

  // Guards what follows, and `block` against bf_win_free (which sets it to nullptr).
  mutable std::mutex data_mutex;
  double associated_p = 1.0;

  // bf_win_lock, guarded by data_mutex (SetLocked also tells direct writers). While locked,
  // peers' puts, accumulates and get requests wait in `held`, in arrival order; the engine serves
  // them once unlocked, before anything that arrives later (which queues behind them while
  // `held` is not empty).
  bool locked = false;
  void SetLocked(bool value);
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

struct WindowPlan;

// A put's or accumulate's self weight, once its data has gone: x *= self_weight (and p).
void ApplySelfWeight(Window& window, const WindowPlan& plan, const TensorRef& tensor);

// A blocking put or accumulate of a host window (no mutex), while this rank has no window
// operation under way: the caller's thread writes the destinations that are same-machine peers
// straight into their slots, in plan order, as long as each slot is free — no hand-off to the
// engine and back. Returns how many destinations it wrote; the engine does the rest.
size_t WriteDirectFromCaller(Window& window, bool accumulate, const WindowPlan& plan,
                             const TensorRef& tensor);

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

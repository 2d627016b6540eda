// SPDX-License-Identifier: Apache-2.0
// Window lookups and the registry.
#include "window/window.h"

#include <algorithm>
#include <cstring>

#include "core/backoff.h"
#include "core/op.h"
#include "device/device.h"
#include "ops/combine.h"

namespace bluefog {

namespace {

size_t RoundUp(size_t bytes) {
  return (bytes + kSlotAlignment - 1) / kSlotAlignment * kSlotAlignment;
}

}  // namespace

size_t WindowBlockBytes(size_t slots, size_t buffer_bytes) {
  return sizeof(WindowBlockHeader) + slots * (sizeof(WindowSlot) + RoundUp(buffer_bytes));
}

WindowSlot* SlotAt(std::byte* block, size_t index, size_t buffer_bytes) {
  return reinterpret_cast<WindowSlot*>(block + sizeof(WindowBlockHeader) +
                                       index * (sizeof(WindowSlot) + RoundUp(buffer_bytes)));
}

SlotGuard::SlotGuard(WindowSlot& slot) : slot_(slot) {
  Backoff backoff;
  while (!TryLockSlot(slot_)) backoff.Pause(/*waiting_for_peer=*/false);
}

DirectTarget* Window::FindDirectTarget(int peer) {
  for (DirectTarget& target : direct_targets) {
    if (target.peer == peer) return &target;
  }
  return nullptr;
}

SlotWrite PrepareSlotWrite(bool accumulate, const TensorRef& tensor, double weight, bool with_p,
                           double p, std::vector<std::byte>* scaled) {
  SlotWrite write{accumulate, tensor.dtype, static_cast<const std::byte*>(tensor.data),
                  static_cast<size_t>(tensor.num_elements), weight, with_p, p * weight};
  if (accumulate && weight != 1.0) {
    if (scaled->empty()) {
      scaled->resize(tensor.num_bytes());
      Scale(tensor.dtype, scaled->data(), tensor.data, weight, write.count);
    }
    write.data = scaled->data();
  }
  return write;
}

bool TryWriteSlot(DirectTarget& target, const SlotWrite& write) {
  WindowSlot& slot = *target.slot;
  if (!TryLockSlot(slot)) return false;
  // Checked under the slot's lock: bf_win_lock sets the flag, then waits for each slot's lock.
  if (target.header->owner_locked.load(std::memory_order_seq_cst) != 0) {
    UnlockSlot(slot);
    return false;
  }
  std::byte* buffer = SlotBuffer(&slot);
  if (write.accumulate) {
    AddInto(write.dtype, buffer, write.data, write.count);
  } else if (write.weight != 1.0) {
    Scale(write.dtype, buffer, write.data, write.weight, write.count);
  } else if (write.count > 0) {
    std::memcpy(buffer, write.data, write.count * ElementSize(write.dtype));
  }
  ++slot.version;
  if (write.with_p) slot.p = write.accumulate ? slot.p + write.p : write.p;
  UnlockSlot(slot);
  return true;
}

void ApplySelfWeight(Window& window, const WindowPlan& plan, const TensorRef& tensor) {
  if (!plan.has_self_weight) return;
  Scale(tensor.dtype, tensor.data, tensor.data, plan.self_weight,
        static_cast<size_t>(tensor.num_elements));
  if (plan.with_associated_p) {
    std::lock_guard<std::mutex> lock(window.data_mutex);
    window.associated_p *= plan.self_weight;
  }
}

size_t WriteDirectFromCaller(Window& window, bool accumulate, const WindowPlan& plan,
                             const TensorRef& tensor) {
  std::lock_guard<std::mutex> direct(window.direct_mutex);
  // An operation of this rank under way on the window might write the same slots: after it.
  if (!window.direct_open || window.pending_ops.load() > 0) return 0;
  double p = 0.0;
  if (plan.with_associated_p) {
    std::lock_guard<std::mutex> lock(window.data_mutex);
    p = window.associated_p;
  }
  std::vector<std::byte> scaled;
  size_t written = 0;
  for (; written < plan.ranks.size(); ++written) {
    DirectTarget* target = window.FindDirectTarget(plan.ranks[written]);
    if (target == nullptr || !target->queue.empty()) break;
    scaled.clear();  // each destination has its own weight
    const SlotWrite write = PrepareSlotWrite(accumulate, tensor, plan.weights[written],
                                             plan.with_associated_p, p, &scaled);
    if (!TryWriteSlot(*target, write)) break;
  }
  return written;
}

void Window::SetLocked(bool value) {
  locked = value;
  if (block != nullptr) header().owner_locked.store(value ? 1 : 0, std::memory_order_seq_cst);
}

Window::~Window() {
  if (on_device()) Devices().FreeHost(tensor.data);
}

int Window::InNeighborIndex(int rank) const {
  auto it = std::lower_bound(in_neighbors.begin(), in_neighbors.end(), rank);
  if (it == in_neighbors.end() || *it != rank) return -1;
  return static_cast<int>(it - in_neighbors.begin());
}

bool Window::IsOutNeighbor(int rank) const {
  return std::binary_search(out_neighbors.begin(), out_neighbors.end(), rank);
}

std::shared_ptr<Window> WindowRegistry::Find(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::shared_ptr<Window> WindowRegistry::FindByHash(uint64_t hash) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = by_hash_.find(hash);
  return it == by_hash_.end() ? nullptr : it->second;
}

Status WindowRegistry::Add(std::shared_ptr<Window> window) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (by_name_.count(window->name) != 0) {
    return Error(BF_ERR_INVALID_ARGUMENT, "a window named '", window->name, "' already exists");
  }
  if (by_hash_.count(window->hash) != 0) {
    return Error(BF_ERR_INVALID_ARGUMENT, "window names '", window->name, "' and '",
                 by_hash_[window->hash]->name, "' collide in the 64-bit name hash; rename one");
  }
  by_hash_[window->hash] = window;
  by_name_[window->name] = std::move(window);
  return Status::Ok();
}

void WindowRegistry::Remove(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return;
  by_hash_.erase(it->second->hash);
  by_name_.erase(it);
}

std::vector<std::shared_ptr<Window>> WindowRegistry::All() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::shared_ptr<Window>> all;
  for (const auto& [name, window] : by_name_) all.push_back(window);
  return all;
}

bool WindowRegistry::empty() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return by_name_.empty();
}

}  // namespace bluefog

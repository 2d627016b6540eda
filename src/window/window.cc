// SPDX-License-Identifier: Apache-2.0
// Window lookups and the registry.
#include "window/window.h"

#include <algorithm>

#include "device/device.h"

namespace bluefog {

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

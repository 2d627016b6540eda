// SPDX-License-Identifier: Apache-2.0
// Topology's storage, neighbor queries, fingerprint, and the matrix / edge-list factories.
#include "topology/graph.h"

#include <bit>
#include <cmath>
#include <utility>

namespace bluefog {

namespace {

// splitmix64's finalizer: a cheap bijective mix whose output bits each depend on every input bit.
uint64_t Mix64(uint64_t value) {
  value ^= value >> 30;
  value *= 0xbf58476d1ce4e5b9ULL;
  value ^= value >> 27;
  value *= 0x94d049bb133111ebULL;
  value ^= value >> 31;
  return value;
}

}  // namespace

Status CheckTopologySize(int size) {
  if (size < 1) return Error(BF_ERR_INVALID_ARGUMENT, "size ", size, " must be at least 1");
  if (size > Topology::kMaxSize) {
    return Error(BF_ERR_INVALID_ARGUMENT, "size ", size, " exceeds the maximum of ",
                 Topology::kMaxSize, " ranks a dense topology supports");
  }
  return Status::Ok();
}

Topology::Topology(int size, std::vector<double> weights)
    : size_(size), weights_(std::move(weights)) {
  // -0.0 would compare equal to +0.0 but hash differently; store one zero.
  for (double& weight : weights_) {
    if (weight == 0.0) weight = 0.0;
  }
}

std::vector<int> Topology::in_neighbors(int rank) const {
  std::vector<int> ranks;
  for (int from = 0; from < size_; ++from) {
    if (from != rank && has_edge(from, rank)) ranks.push_back(from);
  }
  return ranks;
}

std::vector<int> Topology::out_neighbors(int rank) const {
  std::vector<int> ranks;
  for (int to = 0; to < size_; ++to) {
    if (to != rank && has_edge(rank, to)) ranks.push_back(to);
  }
  return ranks;
}

uint64_t Topology::fingerprint() const {
  // Chained so that the position of every weight matters, not just the multiset of weights.
  uint64_t hash = Mix64(0x626c7565666f6721ULL /* "bluefog!" */ ^ static_cast<uint64_t>(size_));
  for (double weight : weights_) hash = Mix64(hash ^ std::bit_cast<uint64_t>(weight)) + hash;
  return hash;
}

Status Topology::FromMatrix(int size, std::span<const double> weights, Topology* out) {
  BF_RETURN_IF_ERROR(CheckTopologySize(size));
  const size_t expected = static_cast<size_t>(size) * static_cast<size_t>(size);
  if (weights.size() != expected) {
    return Error(BF_ERR_INVALID_ARGUMENT, "weights has ", weights.size(),
                 " entries but a topology of size ", size, " needs ", expected);
  }
  for (size_t index = 0; index < weights.size(); ++index) {
    if (!std::isfinite(weights[index])) {
      return Error(BF_ERR_INVALID_ARGUMENT, "weights[", index / size, "][", index % size, "] is ",
                   weights[index], "; weights must be finite");
    }
  }
  *out = Topology(size, std::vector<double>(weights.begin(), weights.end()));
  return Status::Ok();
}

Status Topology::FromEdges(int size, std::span<const int> src, std::span<const int> dst,
                           std::span<const double> weights, Topology* out) {
  BF_RETURN_IF_ERROR(CheckTopologySize(size));
  if (src.size() != dst.size() || (!weights.empty() && weights.size() != src.size())) {
    return Error(BF_ERR_INVALID_ARGUMENT, "src, dst and weights must have the same length (",
                 src.size(), ", ", dst.size(), ", ", weights.size(), ")");
  }
  std::vector<double> matrix(static_cast<size_t>(size) * static_cast<size_t>(size), 0.0);
  // A separate mark, because a duplicate must be caught whatever the weights are.
  std::vector<bool> seen(matrix.size(), false);
  for (size_t edge = 0; edge < src.size(); ++edge) {
    const int from = src[edge];
    const int to = dst[edge];
    if (from < 0 || from >= size) {
      return Error(BF_ERR_INVALID_ARGUMENT, "src[", edge, "] is ", from, ", out of range for size ",
                   size);
    }
    if (to < 0 || to >= size) {
      return Error(BF_ERR_INVALID_ARGUMENT, "dst[", edge, "] is ", to, ", out of range for size ",
                   size);
    }
    const double weight = weights.empty() ? 1.0 : weights[edge];
    if (!std::isfinite(weight)) {
      return Error(BF_ERR_INVALID_ARGUMENT, "weights[", edge, "] (edge ", from, "->", to, ") is ",
                   weight, "; weights must be finite");
    }
    // A zero-weight edge would silently vanish from the neighbor lists: refuse it instead.
    if (weight == 0.0) {
      return Error(BF_ERR_INVALID_ARGUMENT, "weights[", edge, "] (edge ", from, "->", to,
                   ") is 0; an edge needs a non-zero weight (leave the edge out instead)");
    }
    const size_t index = static_cast<size_t>(from) * static_cast<size_t>(size) + to;
    if (seen[index]) {
      return Error(BF_ERR_INVALID_ARGUMENT, "edge ", from, "->", to,
                   " appears twice (again at "
                   "index ",
                   edge, ")");
    }
    seen[index] = true;
    matrix[index] = weight;
  }
  *out = Topology(size, std::move(matrix));
  return Status::Ok();
}

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Topology: the weighted digraph behind bf_topology. A plain value type (copyable, comparable)
// holding the dense row-major weight matrix W, where W[i][j] != 0 means "i sends to j".
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"

namespace bluefog {

class Topology {
 public:
  // The dense matrix costs size*size doubles (32 GiB at this size), so larger requests are
  // refused with a clear message instead of failing deep inside the allocator.
  static constexpr int kMaxSize = 1 << 16;

  // An empty topology (size 0, no ranks); only useful as a target for assignment.
  Topology() = default;

  // ----- Factories. On error *out is left untouched and the Status names the bad argument. -----

  // Every non-zero weights[i * size + j] is an edge i->j. Weights must be finite.
  static Status FromMatrix(int size, std::span<const double> weights, Topology* out);
  // Edge k is src[k] -> dst[k] with weights[k]; an empty `weights` means 1.0 for every edge.
  // Ranks must be in range, weights finite and non-zero, and no edge may appear twice.
  static Status FromEdges(int size, std::span<const int> src, std::span<const int> dst,
                          std::span<const double> weights, Topology* out);

  // BlueFog's generators (topology_util.py), bit-identical to its NumPy arithmetic, with
  // "is k a power of base" decided in integers (generators.cc).
  static Status Exponential(int size, int base, Topology* out);
  static Status ExponentialTwo(int size, Topology* out);
  static Status SymmetricExponential(int size, int base, Topology* out);
  // style is a bf_ring_style value, range-checked here (it arrives from C as an int).
  static Status Ring(int size, int style, Topology* out);
  static Status Star(int size, int center_rank, Topology* out);
  // nrows = ncols = 0 picks BlueFog's default shape.
  static Status MeshGrid2D(int size, int nrows, int ncols, Topology* out);
  static Status FullyConnected(int size, Topology* out);

  // ----- Queries. Rank arguments must be in [0, size()); callers validate them. -----

  int size() const { return size_; }
  double weight(int from, int to) const { return weights_[Index(from, to)]; }
  double self_weight(int rank) const { return weight(rank, rank); }
  bool has_edge(int from, int to) const { return weight(from, to) != 0.0; }
  // Ranks j != rank with an edge j->rank, ascending.
  std::vector<int> in_neighbors(int rank) const;
  // Ranks j != rank with an edge rank->j, ascending.
  std::vector<int> out_neighbors(int rank) const;
  // The whole matrix, row-major, size()*size() entries.
  std::span<const double> matrix() const { return weights_; }

  // Exact equality of size and every weight. Zeros are stored as +0.0 and NaN is never stored,
  // so this agrees with comparing the weights' bits, and hence with fingerprint().
  bool operator==(const Topology& other) const = default;

  // A deterministic 64-bit hash of size and the exact bits of every weight: equal topologies have
  // equal fingerprints on every machine, so ranks can compare topologies by exchanging 8 bytes.
  uint64_t fingerprint() const;

  // rho = the largest eigenvalue modulus of W once the trivial eigenvalue 1 is set aside
  // (max(|lambda_2|, |lambda_n|)); 0 for a single rank. W must be row- or column-stochastic
  // within 1e-9, else BF_ERR_INVALID_ARGUMENT (spectral.cc).
  Status SpectralGap(double* rho) const;

 private:
  Topology(int size, std::vector<double> weights);

  size_t Index(int from, int to) const {
    return static_cast<size_t>(from) * static_cast<size_t>(size_) + static_cast<size_t>(to);
  }

  int size_ = 0;
  std::vector<double> weights_;  // row-major size_ x size_; zeros are +0.0
};

// Shared by the factories: BF_ERR_INVALID_ARGUMENT unless 1 <= size <= Topology::kMaxSize.
Status CheckTopologySize(int size);

}  // namespace bluefog

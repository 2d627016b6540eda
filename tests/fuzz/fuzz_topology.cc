// SPDX-License-Identifier: Apache-2.0
// libFuzzer harness: Topology::FromMatrix / FromEdges (and the generators) on sizes, ranks and
// weights from the input (NaN, infinities, negatives and -0.0 included), then every query on the
// topologies that are accepted, checked against properties computed here.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <vector>

#include "byte_reader.h"
#include "fuzz_check.h"
#include "topology/graph.h"

namespace {

using bluefog::Status;
using bluefog::Topology;
using bluefog::fuzz::ByteReader;

// Keeps the dense size*size matrix (and the O(n^3) spectral gap) cheap per input; sizes outside
// [1, kMaxSize] come from a table so that they are refused before any allocation.
constexpr int kMaxFuzzSize = 32;

int ReadSize(ByteReader& in, bool special) {
  if (special) {
    static constexpr int kSpecial[] = {0, -1, INT_MIN, INT_MAX, Topology::kMaxSize + 1, 1 << 20};
    return kSpecial[in.Read<uint8_t>() % (sizeof(kSpecial) / sizeof(kSpecial[0]))];
  }
  const int size = in.Read<int8_t>();
  return size > kMaxFuzzSize ? size % (kMaxFuzzSize + 1) : size;
}

bool IsNegativeZero(double value) { return value == 0.0 && std::signbit(value); }

// Properties every accepted topology has, whichever factory built it.
void CheckTopology(const Topology& topology, int size) {
  FUZZ_CHECK(topology.size() == size);
  FUZZ_CHECK(topology.matrix().size() == static_cast<size_t>(size) * size);
  size_t off_diagonal_edges = 0;
  size_t out_total = 0;
  size_t in_total = 0;
  for (int rank = 0; rank < size; ++rank) {
    const std::vector<int> in_ranks = topology.in_neighbors(rank);
    const std::vector<int> out_ranks = topology.out_neighbors(rank);
    FUZZ_CHECK(std::is_sorted(in_ranks.begin(), in_ranks.end()));
    FUZZ_CHECK(std::adjacent_find(in_ranks.begin(), in_ranks.end()) == in_ranks.end());
    FUZZ_CHECK(std::is_sorted(out_ranks.begin(), out_ranks.end()));
    FUZZ_CHECK(std::adjacent_find(out_ranks.begin(), out_ranks.end()) == out_ranks.end());
    for (int from : in_ranks) {
      FUZZ_CHECK(from >= 0 && from < size && from != rank && topology.has_edge(from, rank));
    }
    for (int to : out_ranks) {
      FUZZ_CHECK(to >= 0 && to < size && to != rank && topology.has_edge(rank, to));
    }
    for (int other = 0; other < size; ++other) {
      const double weight = topology.weight(rank, other);
      FUZZ_CHECK(std::isfinite(weight) && !IsNegativeZero(weight));
      if (other != rank && weight != 0.0) ++off_diagonal_edges;
    }
    in_total += in_ranks.size();
    out_total += out_ranks.size();
  }
  FUZZ_CHECK(in_total == off_diagonal_edges && out_total == off_diagonal_edges);

  // Copies and a round trip through the dense matrix are equal, down to the fingerprint.
  const Topology copy = topology;
  FUZZ_CHECK(copy == topology && copy.fingerprint() == topology.fingerprint());
  Topology round_trip;
  FUZZ_CHECK(Topology::FromMatrix(size, topology.matrix(), &round_trip).ok());
  FUZZ_CHECK(round_trip == topology && round_trip.fingerprint() == topology.fingerprint());

  double rho = -1.0;
  const Status gap = topology.SpectralGap(&rho);
  if (!gap.ok()) {
    FUZZ_CHECK(gap.code() == BF_ERR_INVALID_ARGUMENT || gap.code() == BF_ERR_INTERNAL);
    FUZZ_CHECK(rho == -1.0);  // out-parameter untouched on error
    return;
  }
  FUZZ_CHECK(!std::isnan(rho) && rho >= 0.0);
  // Perron-Frobenius: a non-negative stochastic matrix has spectral radius 1.
  const auto matrix = topology.matrix();
  if (std::all_of(matrix.begin(), matrix.end(), [](double w) { return w >= 0.0; })) {
    FUZZ_CHECK(rho <= 1.0 + 1e-6);
  }
}

// Layout after the mode byte: size, then length byte (0: size*size entries, else that many),
// then the weights (ByteReader::ReadDouble).
void FuzzFromMatrix(ByteReader& in, bool special_size) {
  const int size = ReadSize(in, special_size);
  const uint8_t length_byte = in.Read<uint8_t>();
  const size_t length = (length_byte == 0 && size >= 1 && size <= kMaxFuzzSize)
                            ? static_cast<size_t>(size) * size
                            : length_byte;
  std::vector<double> weights(length);
  for (double& weight : weights) weight = in.ReadDouble();
  Topology topology;
  const Status status = Topology::FromMatrix(size, weights, &topology);
  const bool valid = size >= 1 && size <= Topology::kMaxSize &&
                     weights.size() == static_cast<size_t>(size) * size &&
                     std::all_of(weights.begin(), weights.end(),
                                 [](double w) { return std::isfinite(w); });
  FUZZ_CHECK(status.ok() == valid);
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == BF_ERR_INVALID_ARGUMENT && topology.size() == 0);
    return;
  }
  for (size_t index = 0; index < weights.size(); ++index) {
    FUZZ_CHECK(topology.matrix()[index] == weights[index]);
  }
  CheckTopology(topology, size);
}

// Layout after the mode byte: size, edge count u8, flags u8 (1: no weights, 2: one dst fewer,
// 4: one weight fewer), then per edge src i8, dst i8, weight.
void FuzzFromEdges(ByteReader& in, bool special_size) {
  const int size = ReadSize(in, special_size);
  const size_t count = in.Read<uint8_t>();
  const uint8_t flags = in.Read<uint8_t>();
  std::vector<int> src, dst;
  std::vector<double> weights;
  for (size_t edge = 0; edge < count; ++edge) {
    src.push_back(in.Read<int8_t>());
    dst.push_back(in.Read<int8_t>());
    if (!(flags & 1)) weights.push_back(in.ReadDouble());
  }
  if ((flags & 2) && !dst.empty()) dst.pop_back();
  if ((flags & 4) && !weights.empty()) weights.pop_back();

  Topology topology;
  const Status status = Topology::FromEdges(size, src, dst, weights, &topology);
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == BF_ERR_INVALID_ARGUMENT && topology.size() == 0);
    return;
  }
  // Accepted: every edge was in range, finite, non-zero and unique, and nothing else is set.
  FUZZ_CHECK(size >= 1 && size <= kMaxFuzzSize && src.size() == dst.size());
  FUZZ_CHECK(weights.empty() || weights.size() == src.size());
  std::vector<double> expected(static_cast<size_t>(size) * size, 0.0);
  for (size_t edge = 0; edge < src.size(); ++edge) {
    FUZZ_CHECK(src[edge] >= 0 && src[edge] < size && dst[edge] >= 0 && dst[edge] < size);
    const double weight = weights.empty() ? 1.0 : weights[edge];
    FUZZ_CHECK(std::isfinite(weight) && weight != 0.0);
    double& slot = expected[static_cast<size_t>(src[edge]) * size + dst[edge]];
    FUZZ_CHECK(slot == 0.0);  // duplicates are refused
    slot = weight;
  }
  FUZZ_CHECK(std::equal(expected.begin(), expected.end(), topology.matrix().begin(),
                        topology.matrix().end()));
  CheckTopology(topology, size);
}

// Layout after the mode byte: size, generator u8, two i8 parameters.
void FuzzGenerator(ByteReader& in, bool special_size) {
  const int size = ReadSize(in, special_size);
  const uint8_t which = in.Read<uint8_t>();
  const int a = in.Read<int8_t>();
  const int b = in.Read<int8_t>();
  Topology topology;
  Status status;
  switch (which % 7) {
    case 0: status = Topology::Exponential(size, a, &topology); break;
    case 1: status = Topology::ExponentialTwo(size, &topology); break;
    case 2: status = Topology::SymmetricExponential(size, a, &topology); break;
    case 3: status = Topology::Ring(size, a, &topology); break;
    case 4: status = Topology::Star(size, a, &topology); break;
    case 5: status = Topology::MeshGrid2D(size, a, b, &topology); break;
    default: status = Topology::FullyConnected(size, &topology); break;
  }
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == BF_ERR_INVALID_ARGUMENT && topology.size() == 0);
    return;
  }
  CheckTopology(topology, size);
}

}  // namespace

// Layout: mode u8 (low two bits: 0 matrix, 1 edges, 2 generator; bit 2: size from the table of
// out-of-range sizes), then the mode's own layout.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  const uint8_t mode = in.Read<uint8_t>();
  const bool special_size = mode & 4;
  switch (mode & 3) {
    case 0: FuzzFromMatrix(in, special_size); break;
    case 1: FuzzFromEdges(in, special_size); break;
    default: FuzzGenerator(in, special_size); break;
  }
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// BlueFog's topology generators (topology_util.py), reproducing NumPy's floating-point arithmetic
// step by step so that every weight is bit-identical to the original's for the same size.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "topology/graph.h"

namespace bluefog {

namespace {

// ndarray.sum() of a contiguous float64 vector: NumPy adds 8 interleaved partial sums per block of
// up to 128 entries and splits longer runs in halves (pairwise_sum in loops_utils.h.src). The
// order of additions decides the rounding, so it is reproduced exactly rather than approximated.
double NumpyPairwiseSum(const double* values, size_t count) {
  constexpr size_t kUnroll = 8;
  constexpr size_t kBlock = 128;
  if (count < kUnroll) {
    double sum = 0.0;
    for (size_t i = 0; i < count; ++i) sum += values[i];
    return sum;
  }
  if (count <= kBlock) {
    double partial[kUnroll];
    for (size_t lane = 0; lane < kUnroll; ++lane) partial[lane] = values[lane];
    size_t i = kUnroll;
    for (; i < count - count % kUnroll; i += kUnroll) {
      for (size_t lane = 0; lane < kUnroll; ++lane) partial[lane] += values[i + lane];
    }
    double sum = ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
                 ((partial[4] + partial[5]) + (partial[6] + partial[7]));
    for (; i < count; ++i) sum += values[i];
    return sum;
  }
  size_t half = count / 2;
  half -= half % kUnroll;
  return NumpyPairwiseSum(values, half) + NumpyPairwiseSum(values + half, count - half);
}

// ndarray.sum() itself: the reduction starts from the identity 0.0 and the iterator hands the
// pairwise sum one buffer (8192 entries) at a time, so longer rows are summed blockwise.
double NumpySum(std::span<const double> values) {
  constexpr size_t kIteratorBuffer = 8192;
  double sum = 0.0;
  for (size_t start = 0; start < values.size(); start += kIteratorBuffer) {
    sum +=
        NumpyPairwiseSum(values.data() + start, std::min(kIteratorBuffer, values.size() - start));
  }
  return sum;
}

// BlueFog tests base ** int(math.log(x, base)) == x, which misses e.g. 243 for base 3; repeated
// integer division has no such false negatives. 1 = base**0 counts as a power.
bool IsPowerOf(int value, int base) {
  while (value % base == 0) value /= base;
  return value == 1;
}

// `x /= x.sum()`: every entry divided by the (rounded) float sum, not multiplied by its inverse.
void NormalizeLikeNumpy(std::vector<double>& row) {
  const double sum = NumpySum(row);
  for (double& entry : row) entry /= sum;
}

// topo[i] = np.roll(first_row, i): rank i sends to rank (i + k) % size with weight first_row[k].
std::vector<double> Circulant(const std::vector<double>& first_row) {
  const size_t size = first_row.size();
  std::vector<double> matrix(size * size);
  for (size_t i = 0; i < size; ++i) {
    for (size_t k = 0; k < size; ++k) matrix[i * size + (i + k) % size] = first_row[k];
  }
  return matrix;
}

Status CheckBase(int base) {
  if (base < 2) return Error(BF_ERR_INVALID_ARGUMENT, "base ", base, " must be at least 2");
  return Status::Ok();
}

}  // namespace

Status Topology::Exponential(int size, int base, Topology* out) {
  BF_RETURN_IF_ERROR(CheckTopologySize(size));
  BF_RETURN_IF_ERROR(CheckBase(base));
  std::vector<double> first_row(size, 0.0);
  first_row[0] = 1.0;
  for (int offset = 1; offset < size; ++offset) {
    if (IsPowerOf(offset, base)) first_row[offset] = 1.0;
  }
  NormalizeLikeNumpy(first_row);
  *out = Topology(size, Circulant(first_row));
  return Status::Ok();
}

Status Topology::ExponentialTwo(int size, Topology* out) {
  BF_RETURN_IF_ERROR(CheckTopologySize(size));
  // BlueFog's ExponentialTwoGraph tests k & (k - 1) == 0, which admits k = 0 (the self-loop).
  std::vector<double> first_row(size, 0.0);
  for (int offset = 0; offset < size; ++offset) {
    if ((offset & (offset - 1)) == 0) first_row[offset] = 1.0;
  }
  NormalizeLikeNumpy(first_row);
  *out = Topology(size, Circulant(first_row));
  return Status::Ok();
}

Status Topology::SymmetricExponential(int size, int base, Topology* out) {
  BF_RETURN_IF_ERROR(CheckTopologySize(size));
  BF_RETURN_IF_ERROR(CheckBase(base));
  std::vector<double> first_row(size, 0.0);
  first_row[0] = 1.0;
  for (int offset = 1; offset < size; ++offset) {
    // Offsets past the half-way point mirror the first half, so the graph is undirected.
    const int distance = offset <= size / 2 ? offset : size - offset;
    if (IsPowerOf(distance, base)) first_row[offset] = 1.0;
  }
  NormalizeLikeNumpy(first_row);
  *out = Topology(size, Circulant(first_row));
  return Status::Ok();
}

Status Topology::Ring(int size, int style, Topology* out) {
  BF_RETURN_IF_ERROR(CheckTopologySize(size));
  if (style != BF_RING_BIDIRECTIONAL && style != BF_RING_LEFT && style != BF_RING_RIGHT) {
    return Error(BF_ERR_INVALID_ARGUMENT, "style ", static_cast<int>(style),
                 " is not a bf_ring_style (0 bidirectional, 1 left, 2 right)");
  }
  if (size == 1) {
    *out = Topology(1, {1.0});
    return Status::Ok();
  }
  if (size == 2) {  // Every style degenerates to the same two-rank average.
    *out = Topology(2, {0.5, 0.5, 0.5, 0.5});
    return Status::Ok();
  }
  std::vector<double> first_row(size, 0.0);
  switch (style) {
    case BF_RING_BIDIRECTIONAL:
      first_row[0] = first_row[1] = first_row[size - 1] = 1 / 3.0;
      break;
    case BF_RING_LEFT:  // i sends to i - 1.
      first_row[0] = first_row[size - 1] = 0.5;
      break;
    case BF_RING_RIGHT:  // i sends to i + 1.
      first_row[0] = first_row[1] = 0.5;
      break;
  }
  *out = Topology(size, Circulant(first_row));
  return Status::Ok();
}

Status Topology::Star(int size, int center_rank, Topology* out) {
  BF_RETURN_IF_ERROR(CheckTopologySize(size));
  if (center_rank < 0 || center_rank >= size) {
    return Error(BF_ERR_INVALID_ARGUMENT, "center_rank ", center_rank, " is out of range for size ",
                 size);
  }
  const size_t n = static_cast<size_t>(size);
  const size_t center = static_cast<size_t>(center_rank);
  std::vector<double> matrix(n * n, 0.0);
  // Same assignment order as BlueFog: the centre's diagonal is written as 1 - 1/n and then
  // overwritten by 1/n, which is what makes the centre's self weight 1/n.
  for (size_t i = 0; i < n; ++i) {
    matrix[i * n + i] = 1.0 - 1.0 / size;
    matrix[center * n + i] = 1.0 / size;
    matrix[i * n + center] = 1.0 / size;
  }
  *out = Topology(size, std::move(matrix));
  return Status::Ok();
}

Status Topology::MeshGrid2D(int size, int nrows, int ncols, Topology* out) {
  BF_RETURN_IF_ERROR(CheckTopologySize(size));
  if (nrows == 0 && ncols == 0) {
    // BlueFog's default: the largest divisor of size not above sqrt(size) rows.
    int rows = 1;
    while (static_cast<int64_t>(rows + 1) * (rows + 1) <= size) ++rows;
    while (size % rows != 0) --rows;
    ncols = size / rows;
  } else if (nrows < 1 || ncols < 1 || static_cast<int64_t>(nrows) * ncols != size) {
    return Error(BF_ERR_INVALID_ARGUMENT, "nrows ", nrows, " x ncols ", ncols,
                 " does not match size ", size,
                 " (pass two positive factors of size, or 0 and 0 for the default shape)");
  }

  const size_t n = static_cast<size_t>(size);
  const size_t cols = static_cast<size_t>(ncols);
  std::vector<double> matrix(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    matrix[i * n + i] = 1.0;
    if ((i + 1) % cols != 0) matrix[i * n + i + 1] = matrix[(i + 1) * n + i] = 1.0;
    if (i + cols < n) matrix[i * n + i + cols] = matrix[(i + cols) * n + i] = 1.0;
  }

  // Metropolis-Hastings weights. Degrees count the rank itself and are taken from the 0/1
  // adjacency before any row is reweighted.
  std::vector<std::vector<size_t>> neighbors_with_self(n);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      if (matrix[i * n + j] != 0.0) neighbors_with_self[i].push_back(j);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    for (size_t j : neighbors_with_self[i]) {
      if (j == i) continue;
      const size_t degree = std::max(neighbors_with_self[i].size(), neighbors_with_self[j].size());
      matrix[i * n + j] = 1.0 / static_cast<double>(degree);
    }
    // BlueFog writes `2.0 - topo[i].sum()` while the diagonal still holds 1.0; the NumPy sum's
    // rounding is part of the result.
    matrix[i * n + i] = 2.0 - NumpySum(std::span<const double>(matrix).subspan(i * n, n));
  }
  *out = Topology(size, std::move(matrix));
  return Status::Ok();
}

Status Topology::FullyConnected(int size, Topology* out) {
  BF_RETURN_IF_ERROR(CheckTopologySize(size));
  const size_t n = static_cast<size_t>(size);
  *out = Topology(size, std::vector<double>(n * n, 1.0 / size));
  return Status::Ok();
}

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Spectral gap of a topology: eigenvalues of the (possibly non-symmetric) weight matrix through
// balancing, Hessenberg reduction and Francis double-shift QR, or a DFT when W is circulant.
#include "topology/spectral.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iomanip>
#include <limits>
#include <numbers>
#include <sstream>
#include <string>
#include <utility>

#include "topology/graph.h"

namespace bluefog {

namespace {

constexpr double kStochasticTolerance = 1e-9;

// Row-major square matrix over a borrowed buffer, indexed (row, column).
class SquareView {
 public:
  SquareView(int n, std::vector<double>& data) : n_(n), data_(data.data()) {}
  int n() const { return n_; }
  double& operator()(int row, int col) {
    return data_[static_cast<size_t>(row) * static_cast<size_t>(n_) + static_cast<size_t>(col)];
  }

 private:
  int n_;
  double* data_;
};

// Parlett-Reinsch balancing: a diagonal similarity D^-1 A D with powers of two on the diagonal
// (so it is exact) that evens out row and column norms. It leaves the eigenvalues unchanged and
// makes the QR iteration's rounding errors proportional to a smaller norm.
void Balance(SquareView a) {
  constexpr double kRadix = 2.0;
  constexpr int kMaxSweeps = 200;  // Each accepted scaling shrinks a norm by 5%, so this is ample.
  constexpr double kMaxScale = 0x1p256;
  const int n = a.n();
  for (int sweep = 0; sweep < kMaxSweeps; ++sweep) {
    bool changed = false;
    for (int i = 0; i < n; ++i) {
      double column_norm = 0.0;
      double row_norm = 0.0;
      for (int j = 0; j < n; ++j) {
        if (j == i) continue;
        column_norm += std::abs(a(j, i));
        row_norm += std::abs(a(i, j));
      }
      if (column_norm == 0.0 || row_norm == 0.0) continue;
      // Entries near DBL_MAX can sum to infinity, which no power of two brings into range (the
      // search below would never end); such a row is left as it is.
      if (!std::isfinite(column_norm) || !std::isfinite(row_norm)) continue;
      // Find f = 2^k with column_norm * f^2 within a factor kRadix of row_norm. f stays within
      // [1/kMaxScale, kMaxScale] so that scaling never overflows or flushes entries to zero.
      const double original_sum = column_norm + row_norm;
      double scale = 1.0;
      double scaled_column = column_norm;
      while (scaled_column < row_norm / kRadix && scale < kMaxScale) {
        scale *= kRadix;
        scaled_column *= kRadix * kRadix;
      }
      while (scaled_column > row_norm * kRadix && scale > 1.0 / kMaxScale) {
        scale /= kRadix;
        scaled_column /= kRadix * kRadix;
      }
      // New norms are column_norm * f and row_norm / f; only worth it if their sum drops.
      if ((scaled_column + row_norm) / scale >= 0.95 * original_sum) continue;
      changed = true;
      for (int j = 0; j < n; ++j) a(i, j) /= scale;
      for (int j = 0; j < n; ++j) a(j, i) *= scale;
    }
    if (!changed) return;
  }
}

// Turns `v` (length `count`) into the Householder vector of P = I - beta v v^T with P v_in = alpha
// e_1. Returns false (P = I) when v is zero. The sign of alpha avoids cancellation in v[0].
bool MakeReflector(double* v, int count, double* beta) {
  double largest = 0.0;
  for (int i = 0; i < count; ++i) largest = std::max(largest, std::abs(v[i]));
  if (largest == 0.0) return false;
  double squared_norm = 0.0;
  for (int i = 0; i < count; ++i) {
    v[i] /= largest;  // P does not depend on the scale of v; this keeps the squares in range.
    squared_norm += v[i] * v[i];
  }
  const double alpha = -std::copysign(std::sqrt(squared_norm), v[0]);
  v[0] -= alpha;
  double v_dot_v = 0.0;
  for (int i = 0; i < count; ++i) v_dot_v += v[i] * v[i];
  *beta = 2.0 / v_dot_v;
  return true;
}

// P A on rows first_row..first_row+count-1, columns [first_col, last_col]. Walks the rows in
// storage order (the matrix is row-major); `scratch` holds the column dot products.
void ReflectRows(SquareView a, const double* v, int count, double beta, int first_row,
                 int first_col, int last_col, std::vector<double>& scratch) {
  const int width = last_col - first_col + 1;
  scratch.assign(width, 0.0);
  for (int i = 0; i < count; ++i) {
    const double* row = &a(first_row + i, first_col);
    for (int col = 0; col < width; ++col) scratch[col] += v[i] * row[col];
  }
  for (int i = 0; i < count; ++i) {
    double* row = &a(first_row + i, first_col);
    const double scaled = beta * v[i];
    for (int col = 0; col < width; ++col) row[col] -= scaled * scratch[col];
  }
}

// A P on columns first_col..first_col+count-1, rows [first_row, last_row].
void ReflectColumns(SquareView a, const double* v, int count, double beta, int first_col,
                    int first_row, int last_row) {
  for (int row = first_row; row <= last_row; ++row) {
    double dot = 0.0;
    for (int i = 0; i < count; ++i) dot += a(row, first_col + i) * v[i];
    dot *= beta;
    for (int i = 0; i < count; ++i) a(row, first_col + i) -= dot * v[i];
  }
}

// Householder similarity transforms zeroing everything below the first subdiagonal.
void ReduceToHessenberg(SquareView a) {
  const int n = a.n();
  std::vector<double> v(n);
  std::vector<double> scratch;
  for (int k = 0; k + 2 < n; ++k) {
    const int count = n - k - 1;
    for (int i = 0; i < count; ++i) v[i] = a(k + 1 + i, k);
    double beta = 0.0;
    if (!MakeReflector(v.data(), count, &beta)) continue;
    ReflectRows(a, v.data(), count, beta, k + 1, k, n - 1, scratch);
    ReflectColumns(a, v.data(), count, beta, k + 1, 0, n - 1);
    for (int i = k + 2; i < n; ++i) a(i, k) = 0.0;  // Exactly zero, not rounding residue.
  }
}

// Eigenvalues of [[a, b], [c, d]].
void AppendTwoByTwoEigenvalues(double a, double b, double c, double d,
                               std::vector<std::complex<double>>* eigenvalues) {
  const double mean = 0.5 * (a + d);
  const double half_difference = 0.5 * (a - d);
  const double discriminant = half_difference * half_difference + b * c;
  if (discriminant >= 0.0) {
    const double root = std::sqrt(discriminant);
    eigenvalues->emplace_back(mean + root, 0.0);
    eigenvalues->emplace_back(mean - root, 0.0);
  } else {
    const double root = std::sqrt(-discriminant);
    eigenvalues->emplace_back(mean, root);
    eigenvalues->emplace_back(mean, -root);
  }
}

// The two shifts of a Francis step, given as the eigenvalues of [[a, b], [c, d]] so that a complex
// pair stays real; only the product b * c matters.
struct ShiftBlock {
  double a;
  double d;
  double b_times_c;
};

// One implicit double-shift QR step on the unreduced window h[lo..hi][lo..hi] (hi - lo >= 2).
// Only the window is updated: the rest of the matrix does not influence the window's eigenvalues.
void FrancisStep(SquareView h, int lo, int hi, const ShiftBlock& shifts,
                 std::vector<double>& scratch) {
  // First column of (H - s1 I)(H - s2 I), divided by h[lo+1][lo] (non-zero in an unreduced
  // window). Written with differences of diagonal entries: expanding h00^2 - (s1 + s2) h00 + s1 s2
  // instead cancels catastrophically once the shifts are close to h00, i.e. near convergence.
  const double h00 = h(lo, lo);
  const double h10 = h(lo + 1, lo);
  double x = ((h00 - shifts.a) * (h00 - shifts.d) - shifts.b_times_c) / h10 + h(lo, lo + 1);
  double y = (h00 - shifts.a) + (h(lo + 1, lo + 1) - shifts.d);
  double z = h(lo + 2, lo + 1);
  // Chase the bulge that the first reflector creates down the subdiagonal.
  for (int k = lo; k <= hi - 2; ++k) {
    double v[3] = {x, y, z};
    double beta = 0.0;
    if (MakeReflector(v, 3, &beta)) {
      ReflectRows(h, v, 3, beta, k, std::max(lo, k - 1), hi, scratch);
      ReflectColumns(h, v, 3, beta, k, lo, std::min(k + 3, hi));
      if (k > lo) h(k + 1, k - 1) = h(k + 2, k - 1) = 0.0;
    }
    x = h(k + 1, k);
    y = h(k + 2, k);
    if (k + 3 <= hi) z = h(k + 3, k);
  }
  double v[2] = {x, y};
  double beta = 0.0;
  if (MakeReflector(v, 2, &beta)) {
    ReflectRows(h, v, 2, beta, hi - 1, hi - 2, hi, scratch);
    ReflectColumns(h, v, 2, beta, hi - 1, lo, hi);
    h(hi, hi - 2) = 0.0;
  }
}

Status HessenbergEigenvalues(SquareView h, std::vector<std::complex<double>>* eigenvalues) {
  const int n = h.n();
  const double epsilon = std::numeric_limits<double>::epsilon();
  double norm = 0.0;
  for (int i = 0; i < n; ++i) {
    for (int j = std::max(0, i - 1); j < n; ++j) norm = std::max(norm, std::abs(h(i, j)));
  }
  // Typically about two steps per eigenvalue; the limit only turns a pathological stall into an
  // error instead of a hang.
  const int max_steps = 100 * std::max(n, 10);
  int steps = 0;
  int steps_since_deflation = 0;
  std::vector<double> scratch;
  int hi = n - 1;
  while (hi >= 0) {
    // Find the start of the unreduced block ending at hi: a negligible subdiagonal splits H.
    int lo = hi;
    for (; lo > 0; --lo) {
      double local_scale = std::abs(h(lo - 1, lo - 1)) + std::abs(h(lo, lo));
      if (local_scale == 0.0) local_scale = norm;
      if (std::abs(h(lo, lo - 1)) <= epsilon * local_scale) {
        h(lo, lo - 1) = 0.0;
        break;
      }
    }
    if (lo == hi) {
      eigenvalues->emplace_back(h(hi, hi), 0.0);
      hi -= 1;
      steps_since_deflation = 0;
      continue;
    }
    if (lo == hi - 1) {
      AppendTwoByTwoEigenvalues(h(hi - 1, hi - 1), h(hi - 1, hi), h(hi, hi - 1), h(hi, hi),
                                eigenvalues);
      hi -= 2;
      steps_since_deflation = 0;
      continue;
    }
    if (++steps > max_steps) {
      return Error(BF_ERR_INTERNAL, "the eigenvalue iteration did not converge after ", max_steps,
                   " QR steps on a ", n, "x", n, " matrix");
    }
    ++steps_since_deflation;
    ShiftBlock shifts;
    if (steps_since_deflation % 10 == 0) {
      // Exceptional shifts: the eigenvalue-based shifts can cycle forever (a cyclic permutation
      // matrix is the classic case); an unrelated complex pair breaks the symmetry.
      const double spread = std::abs(h(hi, hi - 1)) + std::abs(h(hi - 1, hi - 2));
      const double center = h(hi, hi) + 0.75 * spread;
      shifts = {center, center, -0.4375 * spread * spread};
    } else {
      // The eigenvalues of the trailing 2x2 block (Francis' standard choice).
      shifts = {h(hi - 1, hi - 1), h(hi, hi), h(hi - 1, hi) * h(hi, hi - 1)};
    }
    FrancisStep(h, lo, hi, shifts, scratch);
  }
  return Status::Ok();
}

std::string FormatSum(double sum) {
  std::ostringstream text;
  text << std::setprecision(12) << sum;
  return text.str();
}

// Why W is not stochastic: the first offending row and column, for the error message.
Status CheckStochastic(int n, std::span<const double> w) {
  int bad_row = -1;
  double bad_row_sum = 0.0;
  for (int i = 0; i < n && bad_row < 0; ++i) {
    double sum = 0.0;
    for (int j = 0; j < n; ++j) sum += w[static_cast<size_t>(i) * n + j];
    if (std::abs(sum - 1.0) > kStochasticTolerance) {
      bad_row = i;
      bad_row_sum = sum;
    }
  }
  if (bad_row < 0) return Status::Ok();
  int bad_column = -1;
  double bad_column_sum = 0.0;
  for (int j = 0; j < n && bad_column < 0; ++j) {
    double sum = 0.0;
    for (int i = 0; i < n; ++i) sum += w[static_cast<size_t>(i) * n + j];
    if (std::abs(sum - 1.0) > kStochasticTolerance) {
      bad_column = j;
      bad_column_sum = sum;
    }
  }
  if (bad_column < 0) return Status::Ok();
  return Error(BF_ERR_INVALID_ARGUMENT,
               "the spectral gap needs a row- or column-stochastic weight matrix, but row ",
               bad_row, " sums to ", FormatSum(bad_row_sum), " and column ", bad_column,
               " sums to ", FormatSum(bad_column_sum), " (tolerance 1e-9)");
}

}  // namespace

Status RealMatrixEigenvalues(int n, std::vector<double> matrix,
                             std::vector<std::complex<double>>* eigenvalues) {
  if (n < 0 || matrix.size() != static_cast<size_t>(n) * static_cast<size_t>(n)) {
    return Error(BF_ERR_INTERNAL, "RealMatrixEigenvalues: ", matrix.size(),
                 " entries do not form a ", n, "x", n, " matrix");
  }
  SquareView a(n, matrix);
  Balance(a);
  ReduceToHessenberg(a);
  std::vector<std::complex<double>> found;
  found.reserve(n);
  BF_RETURN_IF_ERROR(HessenbergEigenvalues(a, &found));
  for (const std::complex<double>& value : found) {
    if (!std::isfinite(value.real()) || !std::isfinite(value.imag())) {
      return Error(BF_ERR_INTERNAL, "the eigenvalues of a ", n, "x", n,
                   " matrix overflowed (its entries are too close to the largest double)");
    }
  }
  *eigenvalues = std::move(found);
  return Status::Ok();
}

bool IsCirculant(int n, std::span<const double> matrix) {
  const size_t size = static_cast<size_t>(n);
  for (size_t i = 1; i < size; ++i) {
    for (size_t j = 0; j < size; ++j) {
      if (matrix[i * size + j] != matrix[(j + size - i) % size]) return false;
    }
  }
  return true;
}

std::vector<std::complex<double>> CirculantEigenvalues(std::span<const double> first_row) {
  const size_t n = first_row.size();
  // Roots of unity from a table indexed by (j * k) mod n: exact angles, no drift from repeated
  // multiplication.
  std::vector<std::complex<double>> roots(n);
  for (size_t m = 0; m < n; ++m) {
    roots[m] =
        std::polar(1.0, 2.0 * std::numbers::pi * static_cast<double>(m) / static_cast<double>(n));
  }
  std::vector<std::complex<double>> eigenvalues(n);
  for (size_t k = 0; k < n; ++k) {
    std::complex<double> sum = 0.0;
    for (size_t j = 0; j < n; ++j) {
      if (first_row[j] != 0.0) sum += first_row[j] * roots[(j * k) % n];
    }
    eigenvalues[k] = sum;
  }
  return eigenvalues;
}

Status Topology::SpectralGap(double* rho) const {
  if (size_ == 0) return InvalidArgument("the topology is empty (size 0)");
  BF_RETURN_IF_ERROR(CheckStochastic(size_, weights_));
  if (size_ == 1) {
    *rho = 0.0;
    return Status::Ok();
  }
  std::vector<std::complex<double>> eigenvalues;
  if (IsCirculant(size_, weights_)) {
    eigenvalues = CirculantEigenvalues(std::span<const double>(weights_).first(size_));
  } else {
    BF_RETURN_IF_ERROR(RealMatrixEigenvalues(size_, weights_, &eigenvalues));
  }
  // A stochastic W always has the eigenvalue 1 (W 1 = 1 or 1^T W = 1^T); set exactly one copy of
  // it aside, so that a second eigenvalue 1 (a disconnected graph) yields rho = 1.
  size_t trivial = 0;
  for (size_t i = 1; i < eigenvalues.size(); ++i) {
    if (std::abs(eigenvalues[i] - 1.0) < std::abs(eigenvalues[trivial] - 1.0)) trivial = i;
  }
  double largest = 0.0;
  for (size_t i = 0; i < eigenvalues.size(); ++i) {
    if (i != trivial) largest = std::max(largest, std::abs(eigenvalues[i]));
  }
  *rho = largest;
  return Status::Ok();
}

}  // namespace bluefog

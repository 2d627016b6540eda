// SPDX-License-Identifier: Apache-2.0
// Eigenvalues of a general real square matrix (balancing, Hessenberg reduction, Francis
// double-shift QR), used by Topology::SpectralGap and tested on its own.
#pragma once

#include <complex>
#include <span>
#include <vector>

#include "core/status.h"

namespace bluefog {

// All n eigenvalues of the row-major n x n `matrix` (consumed as scratch space), in no particular
// order; complex ones come in conjugate pairs. BF_ERR_INTERNAL if the QR iteration does not
// converge (it does for every matrix in practice), leaving *eigenvalues untouched.
Status RealMatrixEigenvalues(int n, std::vector<double> matrix,
                             std::vector<std::complex<double>>* eigenvalues);

// True if every row of the row-major n x n `matrix` is the previous one rotated right by one,
// i.e. W[i][j] == W[0][(j - i) mod n] exactly (ring and exponential graphs are).
bool IsCirculant(int n, std::span<const double> matrix);

// Eigenvalues of the circulant matrix with this first row, lambda_k = sum_j c_j w^(jk) with
// w = exp(2 pi i / n): O(n^2) instead of the O(n^3) QR iteration, for large generated topologies.
std::vector<std::complex<double>> CirculantEigenvalues(std::span<const double> first_row);

}  // namespace bluefog

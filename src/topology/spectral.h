// SPDX-License-Identifier: Apache-2.0
// Eigenvalues of a general real square matrix (balancing, Hessenberg reduction, Francis
// double-shift QR), used by Topology::SpectralGap and tested on its own.
#pragma once

#include <complex>
#include <vector>

#include "core/status.h"

namespace bluefog {

// All n eigenvalues of the row-major n x n `matrix` (consumed as scratch space), in no particular
// order; complex ones come in conjugate pairs. BF_ERR_INTERNAL if the QR iteration does not
// converge (it does for every matrix in practice), leaving *eigenvalues untouched.
Status RealMatrixEigenvalues(int n, std::vector<double> matrix,
                             std::vector<std::complex<double>>* eigenvalues);

}  // namespace bluefog

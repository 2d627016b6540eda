// SPDX-License-Identifier: Apache-2.0
// Host kernels for neighbor averaging: weighted sums in the tensor's compute precision
// (float32 for 16-bit floats), and the per-destination scaling applied before sending.
#pragma once

#include <cstddef>
#include <span>

#include "core/dtype.h"

namespace bluefog {

// out = self_weight * in + sum_k weights[k] * sources[k], element-wise over `count` elements of a
// floating dtype. `out` may alias `in`; sources may not alias out.
void WeightedCombine(DType dtype, void* out, const void* in, double self_weight,
                     std::span<const void* const> sources, std::span<const double> weights,
                     size_t count);

// out = in * weight (out may alias in).
void Scale(DType dtype, void* out, const void* in, double weight, size_t count);

// out += in, element-wise, for every dtype (integers wrap as two's complement would).
void AddInto(DType dtype, void* out, const void* in, size_t count);

}  // namespace bluefog

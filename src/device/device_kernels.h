// SPDX-License-Identifier: Apache-2.0
// The CUDA kernels of the device communicator (device_kernels.cu, compiled by nvcc): the weighted
// combine and the scaling that neighbor averaging does on the host in ops/combine.cc, here on a
// stream. Plain C++ on this side, so that only the .cu file needs nvcc.
#pragma once

#include <cstddef>

namespace bluefog::kernels {

enum class FloatType { kFloat16, kBFloat16, kFloat32, kFloat64 };

// Sources per launch; more are folded in by further launches (out += ...).
constexpr int kMaxSources = 8;

// Queue on `stream` (a cudaStream_t): out = self_weight * in + sum_k weights[k] * sources[k] for
// k < source_count <= kMaxSources, accumulating in float32 (float64 for float64); out may equal
// in. Returns the cudaError_t of the launch (0: success).
int LaunchWeightedCombine(void* stream, FloatType type, void* out, const void* in,
                          double self_weight, const void* const* sources, const double* weights,
                          int source_count, size_t count);

}  // namespace bluefog::kernels

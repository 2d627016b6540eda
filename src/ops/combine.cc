// SPDX-License-Identifier: Apache-2.0
// Weighted combine and scaling kernels for host tensors.
#include "ops/combine.h"

#include <algorithm>
#include <vector>

namespace bluefog {

namespace {

// Whole-array passes (out = w*in, then out += w_k*src_k) stream memory once per source.
template <typename T>
void CombineTyped(T* out, const T* in, double self_weight, std::span<const void* const> sources,
                  std::span<const double> weights, size_t count) {
  const T self = static_cast<T>(self_weight);
  for (size_t i = 0; i < count; ++i) out[i] = self * in[i];
  for (size_t k = 0; k < sources.size(); ++k) {
    const T* source = static_cast<const T*>(sources[k]);
    const T weight = static_cast<T>(weights[k]);
    for (size_t i = 0; i < count; ++i) out[i] += weight * source[i];
  }
}

// 16-bit floats: widen a block at a time, accumulate in float32, narrow once.
void Combine16(DType dtype, void* out, const void* in, double self_weight,
               std::span<const void* const> sources, std::span<const double> weights,
               size_t count) {
  constexpr size_t kBlock = 2048;
  float accumulator[kBlock];
  float widened[kBlock];
  for (size_t start = 0; start < count; start += kBlock) {
    const size_t n = std::min(kBlock, count - start);
    WidenToFloat(dtype, static_cast<const uint16_t*>(in) + start, widened, n);
    const float self = static_cast<float>(self_weight);
    for (size_t i = 0; i < n; ++i) accumulator[i] = self * widened[i];
    for (size_t k = 0; k < sources.size(); ++k) {
      WidenToFloat(dtype, static_cast<const uint16_t*>(sources[k]) + start, widened, n);
      const float weight = static_cast<float>(weights[k]);
      for (size_t i = 0; i < n; ++i) accumulator[i] += weight * widened[i];
    }
    NarrowFromFloat(dtype, accumulator, static_cast<uint16_t*>(out) + start, n);
  }
}

}  // namespace

void WeightedCombine(DType dtype, void* out, const void* in, double self_weight,
                     std::span<const void* const> sources, std::span<const double> weights,
                     size_t count) {
  switch (dtype) {
    case DType::kFloat32:
      CombineTyped(static_cast<float*>(out), static_cast<const float*>(in), self_weight, sources,
                   weights, count);
      break;
    case DType::kFloat64:
      CombineTyped(static_cast<double*>(out), static_cast<const double*>(in), self_weight,
                   sources, weights, count);
      break;
    case DType::kFloat16:
    case DType::kBFloat16:
      Combine16(dtype, out, in, self_weight, sources, weights, count);
      break;
    default:
      break;  // callers reject non-float dtypes before enqueueing
  }
}

void Scale(DType dtype, void* out, const void* in, double weight, size_t count) {
  WeightedCombine(dtype, out, in, weight, {}, {}, count);
}

}  // namespace bluefog

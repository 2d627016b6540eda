// SPDX-License-Identifier: Apache-2.0
// Weighted combine and scaling kernels for host tensors.
#include "ops/combine.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace bluefog {

namespace {

// out[i] = base_weight * base[i] + sum_{k < N} w[k] * src[k][i], one pass. N is a constant so
// the loop unrolls and vectorizes; `base` may be `out` (accumulating) or alias it (in place).
// The sum runs left to right, the same order as adding one source at a time.
template <typename T, int N>
void AccumulatePass(T* out, const T* base, T base_weight, const T* const* src, const T* w,
                    size_t count) {
  for (size_t i = 0; i < count; ++i) {
    T value = base_weight * base[i];
    for (int k = 0; k < N; ++k) value += w[k] * src[k][i];
    out[i] = value;
  }
}

template <typename T>
void AccumulateGroup(T* out, const T* base, T base_weight, const T* const* src, const T* w,
                     size_t n, size_t count) {
  switch (n) {
    case 0: AccumulatePass<T, 0>(out, base, base_weight, src, w, count); break;
    case 1: AccumulatePass<T, 1>(out, base, base_weight, src, w, count); break;
    case 2: AccumulatePass<T, 2>(out, base, base_weight, src, w, count); break;
    case 3: AccumulatePass<T, 3>(out, base, base_weight, src, w, count); break;
    default: AccumulatePass<T, 4>(out, base, base_weight, src, w, count); break;
  }
}

// Sources are folded in groups of up to 4 per pass over memory (most topologies need one pass).
template <typename T>
void CombineTyped(T* out, const T* in, double self_weight, std::span<const void* const> sources,
                  std::span<const double> weights, size_t count) {
  constexpr size_t kGroup = 4;
  const T* group_sources[kGroup];
  T group_weights[kGroup];
  const T* base = in;
  T base_weight = static_cast<T>(self_weight);
  size_t k = 0;
  do {
    const size_t n = std::min(kGroup, sources.size() - k);
    for (size_t g = 0; g < n; ++g) {
      group_sources[g] = static_cast<const T*>(sources[k + g]);
      group_weights[g] = static_cast<T>(weights[k + g]);
    }
    AccumulateGroup(out, base, base_weight, group_sources, group_weights, n, count);
    base = out;
    base_weight = T(1);
    k += n;
  } while (k < sources.size());
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

namespace {

template <typename T>
void AddTyped(void* out, const void* in, size_t count) {
  auto* o = static_cast<T*>(out);
  const auto* x = static_cast<const T*>(in);
  for (size_t i = 0; i < count; ++i) {
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;  // wraps instead of overflowing (undefined for signed)
      o[i] = static_cast<T>(static_cast<U>(o[i]) + static_cast<U>(x[i]));
    } else {
      o[i] += x[i];
    }
  }
}

}  // namespace

void AddInto(DType dtype, void* out, const void* in, size_t count) {
  switch (dtype) {
    case DType::kInt8: return AddTyped<int8_t>(out, in, count);
    case DType::kInt16: return AddTyped<int16_t>(out, in, count);
    case DType::kInt32: return AddTyped<int32_t>(out, in, count);
    case DType::kInt64: return AddTyped<int64_t>(out, in, count);
    case DType::kUInt8: return AddTyped<uint8_t>(out, in, count);
    case DType::kFloat32: return AddTyped<float>(out, in, count);
    case DType::kFloat64: return AddTyped<double>(out, in, count);
    case DType::kFloat16:
    case DType::kBFloat16: {
      const void* sources[] = {in};
      const double weights[] = {1.0};
      return WeightedCombine(dtype, out, out, 1.0, sources, weights, count);
    }
  }
}

}  // namespace bluefog

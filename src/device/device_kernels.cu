// SPDX-License-Identifier: Apache-2.0
// CUDA kernels of the device communicator (device_kernels.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "device/device_kernels.h"

namespace bluefog::kernels {

namespace {

// What each element type accumulates in.
template <typename T>
struct Accumulator {
  using type = float;
};
template <>
struct Accumulator<double> {
  using type = double;
};

__device__ inline float Widen(__half value) { return __half2float(value); }
__device__ inline float Widen(__nv_bfloat16 value) { return __bfloat162float(value); }
__device__ inline float Widen(float value) { return value; }
__device__ inline double Widen(double value) { return value; }

template <typename T>
__device__ inline T Narrow(typename Accumulator<T>::type value);
template <>
__device__ inline __half Narrow<__half>(float value) { return __float2half_rn(value); }
template <>
__device__ inline __nv_bfloat16 Narrow<__nv_bfloat16>(float value) {
  return __float2bfloat16_rn(value);
}
template <>
__device__ inline float Narrow<float>(float value) { return value; }
template <>
__device__ inline double Narrow<double>(double value) { return value; }

// Passed by value: the pointers and weights travel in the launch's parameter space.
template <typename T>
struct Sources {
  const T* data[kMaxSources];
  double weight[kMaxSources];
  int count;
};

template <typename T>
__global__ void WeightedCombineKernel(T* out, const T* in, double self_weight, Sources<T> sources,
                                      size_t count) {
  using Acc = typename Accumulator<T>::type;
  const size_t stride = static_cast<size_t>(blockDim.x) * gridDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    Acc sum = static_cast<Acc>(self_weight) * Widen(in[i]);
    for (int k = 0; k < sources.count; ++k) {
      sum += static_cast<Acc>(sources.weight[k]) * Widen(sources.data[k][i]);
    }
    out[i] = Narrow<T>(sum);
  }
}

template <typename T>
int Launch(cudaStream_t stream, void* out, const void* in, double self_weight,
           const void* const* sources, const double* weights, int source_count, size_t count) {
  if (count == 0) return cudaSuccess;
  Sources<T> packed{};
  packed.count = source_count;
  for (int k = 0; k < source_count; ++k) {
    packed.data[k] = static_cast<const T*>(sources[k]);
    packed.weight[k] = weights[k];
  }
  constexpr int kThreads = 256;
  const size_t wanted = (count + kThreads - 1) / kThreads;
  const int blocks = static_cast<int>(std::min<size_t>(wanted, 4096));
  WeightedCombineKernel<T><<<blocks, kThreads, 0, stream>>>(
      static_cast<T*>(out), static_cast<const T*>(in), self_weight, packed, count);
  return cudaGetLastError();
}

}  // namespace

int LaunchWeightedCombine(void* stream, FloatType type, void* out, const void* in,
                          double self_weight, const void* const* sources, const double* weights,
                          int source_count, size_t count) {
  if (source_count < 0 || source_count > kMaxSources) return cudaErrorInvalidValue;
  auto* on = static_cast<cudaStream_t>(stream);
  switch (type) {
    case FloatType::kFloat16:
      return Launch<__half>(on, out, in, self_weight, sources, weights, source_count, count);
    case FloatType::kBFloat16:
      return Launch<__nv_bfloat16>(on, out, in, self_weight, sources, weights, source_count,
                                   count);
    case FloatType::kFloat32:
      return Launch<float>(on, out, in, self_weight, sources, weights, source_count, count);
    case FloatType::kFloat64:
      return Launch<double>(on, out, in, self_weight, sources, weights, source_count, count);
  }
  return cudaErrorInvalidValue;
}

}  // namespace bluefog::kernels

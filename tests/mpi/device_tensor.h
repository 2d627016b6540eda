// SPDX-License-Identifier: Apache-2.0
// Device memory for the GPU tests: cudaMalloc'd on a real GPU (one device per local rank, shared
// when there are more ranks than devices), or host memory tagged as device memory when
// BLUEFOG_TEST_EMULATED_GPUS selects the engine's emulated devices. Programs that include this
// define BF_TEST_WITH_CUDA (1 when built with CUDA).
#pragma once

#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#if BF_TEST_WITH_CUDA
#include <cuda_runtime.h>
#endif

#include "test_util.h"

namespace bftest {

inline bool Emulated() { return std::getenv("BLUEFOG_TEST_EMULATED_GPUS") != nullptr; }

// Why a GPU test skips when bf_cuda_device_count() is 0.
inline constexpr const char* kNoDeviceReason =
    "no CUDA device (bf_cuda_device_count() is 0: no GPU visible, or built without CUDA); set "
    "BLUEFOG_TEST_EMULATED_GPUS=1 to run on emulated ones";

// Device memory of the test's device and copies to and from it.
inline void* DeviceAllocate(size_t bytes) {
#if BF_TEST_WITH_CUDA
  if (!Emulated()) {
    void* pointer = nullptr;
    return cudaMalloc(&pointer, bytes == 0 ? 1 : bytes) == cudaSuccess ? pointer : nullptr;
  }
#endif
  return std::malloc(bytes == 0 ? 1 : bytes);
}
inline void DeviceFree(void* pointer) {
#if BF_TEST_WITH_CUDA
  if (!Emulated()) {
    (void)cudaFree(pointer);
    return;
  }
#endif
  std::free(pointer);
}
inline void Copy(void* destination, const void* source, size_t bytes) {
  if (bytes == 0) return;  // (an empty std::vector's data() may be null)
#if BF_TEST_WITH_CUDA
  if (!Emulated()) {
    ASSERT_EQ(cudaMemcpy(destination, source, bytes, cudaMemcpyDefault), cudaSuccess);
    return;
  }
#endif
  std::memcpy(destination, source, bytes);
}

inline int TestDevice() { return bf_local_rank() % bf_cuda_device_count(); }

// A tensor in device memory with a host mirror to fill and to check.
struct DeviceTensor {
  HostTensor host;
  void* data = nullptr;
  DLTensor tensor{};

  DeviceTensor(DLDataType type, std::vector<int64_t> dims) : host(type, std::move(dims)) {
    data = DeviceAllocate(host.bytes.size());
    tensor = *host.get();
    tensor.data = data;
    tensor.device = {kDLCUDA, TestDevice()};
  }
  ~DeviceTensor() { DeviceFree(data); }
  DeviceTensor(const DeviceTensor&) = delete;
  DeviceTensor& operator=(const DeviceTensor&) = delete;

  DLTensor* get() { return &tensor; }
  void Upload() { Copy(data, host.bytes.data(), host.bytes.size()); }
  void Download() { Copy(host.bytes.data(), data, host.bytes.size()); }
};

}  // namespace bftest

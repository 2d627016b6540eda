// SPDX-License-Identifier: Apache-2.0
// DeviceRuntime over the CUDA runtime API (libcudart only: linking the driver library directly
// would make the process fail to start on machines without a GPU driver).
#include <cuda_runtime.h>

#include <algorithm>
#include <bit>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "device/cuda_util.h"
#include "device/device.h"
#include "device/device_kernels.h"

namespace bluefog {

namespace {

class CudaRuntime final : public DeviceRuntime {
 public:
  CudaRuntime() {
    int version = 0;
    if (cudaRuntimeGetVersion(&version) == cudaSuccess) {
      name_ = "CUDA " + std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
    }
    const cudaError_t counted = cudaGetDeviceCount(&devices_);
    if (counted != cudaSuccess) {
      (void)cudaGetLastError();
      devices_ = 0;
      reason_ = std::string("no usable CUDA device: cudaGetDeviceCount failed: ") +
                cudaGetErrorString(counted);
    } else if (devices_ == 0) {
      reason_ = "no CUDA device is visible to this process (check CUDA_VISIBLE_DEVICES)";
    }
    streams_.resize(static_cast<size_t>(devices_), nullptr);
  }

  std::string name() const override { return name_; }
  int device_count() const override { return devices_; }
  std::string unavailable_reason() const override { return reason_; }

  Status CheckPointer(const void* pointer, int device) const override {
    cudaPointerAttributes attributes{};
    const cudaError_t error = cudaPointerGetAttributes(&attributes, pointer);
    if (error != cudaSuccess) return CudaError("cudaPointerGetAttributes", error);
    if (attributes.type != cudaMemoryTypeDevice && attributes.type != cudaMemoryTypeManaged) {
      return Error(BF_ERR_INVALID_ARGUMENT, "points to host memory, not to memory of CUDA device ",
                   device, " (the DLPack device says kDLCUDA)");
    }
    if (attributes.device != device) {
      return Error(BF_ERR_INVALID_ARGUMENT, "points to memory of CUDA device ", attributes.device,
                   ", but its DLPack device id is ", device);
    }
    return Status::Ok();
  }

  // Page-locked allocations cost far more than the copies they serve (cudaHostAlloc maps and
  // pins pages), so freed blocks are kept by power-of-two size class and reused, up to
  // kMaxCachedHostBytes in all.
  Status AllocateHost(size_t bytes, void** out) override {
    const size_t rounded = std::bit_ceil(std::max<size_t>(bytes, 4096));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto cached = free_host_.find(rounded);
      if (cached != free_host_.end()) {
        *out = cached->second;
        free_host_.erase(cached);
        cached_host_bytes_ -= rounded;
        host_sizes_[*out] = rounded;
        return Status::Ok();
      }
    }
    BF_CUDA_RETURN_IF_ERROR(cudaHostAlloc(out, rounded, cudaHostAllocPortable));
    std::lock_guard<std::mutex> lock(mutex_);
    host_sizes_[*out] = rounded;
    return Status::Ok();
  }
  void FreeHost(void* pointer) override {
    if (pointer == nullptr) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto size = host_sizes_.find(pointer);
    if (size == host_sizes_.end()) return;  // not ours
    const size_t rounded = size->second;
    host_sizes_.erase(size);
    if (cached_host_bytes_ + rounded > kMaxCachedHostBytes) {
      (void)cudaFreeHost(pointer);
      return;
    }
    free_host_.emplace(rounded, pointer);
    cached_host_bytes_ += rounded;
  }

  Status AllocateDevice(int device, size_t bytes, void** out) override {
    DeviceScope scope(device);
    BF_CUDA_RETURN_IF_ERROR(scope.status());
    BF_CUDA_RETURN_IF_ERROR(cudaMalloc(out, bytes == 0 ? 1 : bytes));
    return Status::Ok();
  }
  void FreeDevice(int device, void* pointer) override {
    DeviceScope scope(device);
    (void)cudaFree(pointer);
  }

  Status Record(int device, DeviceStream stream, DeviceEvent* out) override {
    DeviceScope scope(device);
    BF_CUDA_RETURN_IF_ERROR(scope.status());
    cudaEvent_t event = nullptr;
    BF_RETURN_IF_ERROR(RecordEvent(static_cast<cudaStream_t>(stream),
                                   "cudaEventRecord (on the caller's stream)", &event));
    *out = event;
    return Status::Ok();
  }

  Status CopyAsync(int device, DeviceEvent after, void* destination, const void* source,
                   size_t bytes, DeviceEvent* done) override {
    DeviceScope scope(device);
    BF_CUDA_RETURN_IF_ERROR(scope.status());
    cudaStream_t stream = nullptr;
    BF_RETURN_IF_ERROR(EngineStream(device, &stream));
    if (after != nullptr) {
      BF_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(stream, static_cast<cudaEvent_t>(after), 0));
    }
    if (bytes > 0) {
      BF_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(destination, source, bytes, cudaMemcpyDefault, stream));
    }
    cudaEvent_t event = nullptr;
    BF_RETURN_IF_ERROR(RecordEvent(stream, "cudaEventRecord (behind the copy)", &event));
    *done = event;
    return Status::Ok();
  }

  Status ScaleAsync(int device, DType dtype, void* data, size_t count, double factor,
                    DeviceEvent* done) override {
#ifdef BF_HAVE_DEVICE_KERNELS
    kernels::FloatType type = kernels::FloatType::kFloat32;
    switch (dtype) {
      case DType::kFloat16: type = kernels::FloatType::kFloat16; break;
      case DType::kBFloat16: type = kernels::FloatType::kBFloat16; break;
      case DType::kFloat32: type = kernels::FloatType::kFloat32; break;
      case DType::kFloat64: type = kernels::FloatType::kFloat64; break;
      default:
        return Error(BF_ERR_INTERNAL, "the scaling kernel takes floating dtypes, not ",
                     DTypeName(dtype));
    }
    DeviceScope scope(device);
    BF_CUDA_RETURN_IF_ERROR(scope.status());
    cudaStream_t stream = nullptr;
    BF_RETURN_IF_ERROR(EngineStream(device, &stream));
    const int launched = kernels::LaunchWeightedCombine(stream, type, data, data, factor, nullptr,
                                                        nullptr, 0, count);
    if (launched != cudaSuccess) {
      return CudaError("the scaling kernel launch", static_cast<cudaError_t>(launched));
    }
    cudaEvent_t event = nullptr;
    BF_RETURN_IF_ERROR(RecordEvent(stream, "cudaEventRecord (behind the scaling)", &event));
    *done = event;
    return Status::Ok();
#else
    (void)device, (void)dtype, (void)data, (void)count, (void)factor, (void)done;
    return Error(BF_ERR_UNSUPPORTED,
                 "this build has no CUDA kernels (nvcc was not found), so it cannot scale on the "
                 "device");
#endif
  }

  Status Query(DeviceEvent event, bool* done) override {
    return QueryEvent(static_cast<cudaEvent_t>(event), "cudaEventQuery", done);
  }
  void Release(DeviceEvent event) override {
    if (event != nullptr) (void)cudaEventDestroy(static_cast<cudaEvent_t>(event));
  }

 private:
  // The stream the engine copies on, one per device, created on first use (non-blocking: it
  // does not serialize with the legacy default stream; ordering comes from events).
  Status EngineStream(int device, cudaStream_t* out) {
    if (device < 0 || device >= devices_) {
      return Error(BF_ERR_INVALID_ARGUMENT, "no CUDA device ", device);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    cudaStream_t& stream = streams_[static_cast<size_t>(device)];
    if (stream == nullptr) {
      BF_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    }
    *out = stream;
    return Status::Ok();
  }

  static constexpr size_t kMaxCachedHostBytes = size_t{1} << 30;

  std::string name_ = "CUDA";
  int devices_ = 0;
  std::string reason_;
  std::mutex mutex_;
  std::vector<cudaStream_t> streams_;  // never destroyed: the runtime lives until exit
  std::unordered_map<void*, size_t> host_sizes_;   // page-locked blocks in use: size class
  std::unordered_multimap<size_t, void*> free_host_;  // size class -> cached block
  size_t cached_host_bytes_ = 0;
};

}  // namespace

std::unique_ptr<DeviceRuntime> NewCudaRuntime() { return std::make_unique<CudaRuntime>(); }

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// What every file that calls the CUDA runtime shares: errors as Status, and a scope that makes a
// device current without changing the caller's.
#pragma once

#include <cuda_runtime.h>

#include "core/status.h"

namespace bluefog {

inline Status CudaError(const char* call, cudaError_t error) {
  (void)cudaGetLastError();  // clear it, so it does not resurface from an unrelated call
  return Error(BF_ERR_BACKEND, call, " failed: ", cudaGetErrorString(error), " (",
               static_cast<int>(error), ")");
}

#define BF_CUDA_RETURN_IF_ERROR(call)                          \
  do {                                                         \
    const cudaError_t bf_cuda_error_ = (call);                 \
    if (bf_cuda_error_ != cudaSuccess) {                       \
      return ::bluefog::CudaError(#call, bf_cuda_error_);      \
    }                                                          \
  } while (0)

// Records an event behind the work queued on `stream` so far; the caller owns it
// (cudaEventDestroy). `where` names the stream in an error.
inline Status RecordEvent(cudaStream_t stream, const char* where, cudaEvent_t* out) {
  cudaEvent_t event = nullptr;
  const cudaError_t created = cudaEventCreateWithFlags(&event, cudaEventDisableTiming);
  if (created != cudaSuccess) return CudaError("cudaEventCreateWithFlags", created);
  const cudaError_t recorded = cudaEventRecord(event, stream);
  if (recorded != cudaSuccess) {
    (void)cudaEventDestroy(event);
    return CudaError(where, recorded);
  }
  *out = event;
  return Status::Ok();
}

// Whether `event` has completed, without blocking.
inline Status QueryEvent(cudaEvent_t event, const char* where, bool* done) {
  const cudaError_t state = cudaEventQuery(event);
  if (state == cudaErrorNotReady) {
    (void)cudaGetLastError();
    *done = false;
    return Status::Ok();
  }
  if (state != cudaSuccess) return CudaError(where, state);
  *done = true;
  return Status::Ok();
}

// Makes `device` current for the scope, restoring the caller's device after (the caller's thread
// must not find its current device changed by a BlueFog call).
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    status_ = previous_ == device ? cudaSuccess : cudaSetDevice(device);
  }
  ~DeviceScope() {
    if (previous_ >= 0) (void)cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;
  cudaError_t status() const { return status_; }

 private:
  int previous_ = -1;
  cudaError_t status_ = cudaSuccess;
};

}  // namespace bluefog

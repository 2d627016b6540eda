// SPDX-License-Identifier: Apache-2.0
// DeviceRuntime: the few CUDA runtime calls the engine makes for tensors in GPU memory (kDLCUDA),
// behind one interface. The CUDA implementation (cuda_runtime.cc) is built when Meson finds CUDA;
// without it, or without a usable GPU, device_count() is 0 and unavailable_reason() says why.
//
// Tests without a GPU set BLUEFOG_TEST_EMULATED_GPUS=N: N emulated devices whose "device memory"
// is ordinary host memory and whose copies are memcpy, with events that report completion only
// on a later query. That exercises everything the engine does around the GPU (staging, event
// polling, ordering behind the caller's stream); the CUDA calls themselves run only on a machine
// with a GPU (scripts/gpu_tests.sh).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "core/dtype.h"
#include "core/status.h"

namespace bluefog {

// A point in a device stream, done once the work queued before it has finished (cudaEvent_t).
using DeviceEvent = void*;
// A stream of device work (cudaStream_t); nullptr is the legacy default stream.
using DeviceStream = void*;

class DeviceRuntime {
 public:
  virtual ~DeviceRuntime() = default;

  // "CUDA 13.0", "emulated (BLUEFOG_TEST_EMULATED_GPUS=2)", "none".
  virtual std::string name() const = 0;
  // Devices this process can use; 0 when there are none, with the reason.
  virtual int device_count() const = 0;
  virtual std::string unavailable_reason() const = 0;
  // Fails unless `pointer` lies in memory that device `device` owns.
  virtual Status CheckPointer(const void* pointer, int device) const = 0;

  // Page-locked host memory (copies to and from it run asynchronously) and device memory.
  virtual Status AllocateHost(size_t bytes, void** out) = 0;
  virtual void FreeHost(void* pointer) = 0;
  virtual Status AllocateDevice(int device, size_t bytes, void** out) = 0;
  virtual void FreeDevice(int device, void* pointer) = 0;

  // Marks the current end of `stream` on `device`: *out is done once the work queued on it so far
  // has finished. Called on the caller's thread when an operation is issued.
  virtual Status Record(int device, DeviceStream stream, DeviceEvent* out) = 0;
  // On the engine's own stream of `device`: waits for `after` (if not null), copies `bytes` from
  // `source` to `destination` (either side host or device) and records *done behind the copy.
  virtual Status CopyAsync(int device, DeviceEvent after, void* destination, const void* source,
                           size_t bytes, DeviceEvent* done) = 0;
  // On the engine's own stream of `device`: data = factor * data for `count` elements of a
  // floating `dtype` (a kernel; an average's division after CUDA-aware MPI summed on the device),
  // then records *done. BF_ERR_UNSUPPORTED in a build without the kernels (no nvcc).
  virtual Status ScaleAsync(int device, DType dtype, void* data, size_t count, double factor,
                            DeviceEvent* done) = 0;
  // Whether `event` is done, without blocking.
  virtual Status Query(DeviceEvent event, bool* done) = 0;
  virtual void Release(DeviceEvent event) = 0;
};

// The process's runtime, chosen on first use (emulated when BLUEFOG_TEST_EMULATED_GPUS is set,
// else CUDA when built with it, else none). Thread-safe.
DeviceRuntime& Devices();

// The stream whose work device tensors passed by this thread are ordered after (bf_set_cuda_stream).
DeviceStream CallerStream();
void SetCallerStream(DeviceStream stream);

// Implementations (device.cc chooses).
std::unique_ptr<DeviceRuntime> NewEmulatedRuntime(int devices);
std::unique_ptr<DeviceRuntime> NewCudaRuntime();  // nullptr when built without CUDA

}  // namespace bluefog

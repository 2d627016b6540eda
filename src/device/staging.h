// SPDX-License-Identifier: Apache-2.0
// Host staging of GPU tensors: an operation on kDLCUDA tensors runs on page-locked host copies.
// The caller's thread marks its stream when the op is issued; the engine copies the input to the
// host behind that mark, runs the op as on host memory, copies the result back to the device and
// completes the handle once that copy has finished (so, on bf_wait's return, every stream sees
// the result). The copies are asynchronous on the engine's own stream; the engine polls their
// events and never blocks on them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/op.h"
#include "device/device.h"

namespace bluefog {

class DeviceCommunicator;

struct DeviceStage {
  enum class Phase { kCopyingIn, kRunning, kCopyingOut, kDone };

  DeviceStage() = default;
  DeviceStage(const DeviceStage&) = delete;
  DeviceStage& operator=(const DeviceStage&) = delete;
  ~DeviceStage();

  Phase phase = Phase::kCopyingIn;
  int device = 0;
  // Runs on the device communicator (device/device_comm.h), on the caller's device memory: no
  // host buffers, no copies; `copied` is then the communicator's event for the op's work.
  bool direct = false;
  DeviceCommunicator* comm = nullptr;  // set when the work is queued (engine thread)
  // Runs on the host path, but CUDA-aware MPI reads and writes the caller's device memory: no
  // host buffers. Allreduce and broadcast run in place on `out` (op.in is pointed at it; the
  // first step copies in -> out on the device), gathers allocate their result on the device,
  // and an average's division is a kernel afterwards (`scale`).
  bool mpi_direct = false;
  double scale = 1.0;
  void* scratch = nullptr;             // the comm's, for the op's transfers
  TensorRef device_in;   // the caller's GPU tensors (empty when not on the device)
  TensorRef device_out;
  void* host_in = nullptr;   // page-locked, owned
  void* host_out = nullptr;  // may equal host_in (in-place ops)
  DeviceEvent issued = nullptr;  // the caller's stream when the op was issued
  DeviceEvent copied = nullptr;  // the copy in flight (in, then out)
  std::chrono::steady_clock::time_point copy_started;  // for the timeline
  // Gathers: the engine's host result, and the device memory it is being copied to (direct:
  // the device memory the communicator gathers into, and the result's shape).
  DLManagedTensor* host_result = nullptr;
  void* device_result = nullptr;
  std::vector<int64_t> result_shape;
};

// Caller's thread, after validation: if `op`'s tensors are on a CUDA device, marks the caller's
// stream (bf_set_cuda_stream) and either leaves them there, for the device communicator, when
// it runs ops of this kind (DeviceCollectivesKind(); BLUEFOG_<OP>_BY_MPI=1 opts out) and both
// tensors are on the device, or for MPI itself when it is CUDA-aware and the op's host work is
// only the MPI call (MpiTakesDeviceMemory), or points op->in/out at page-locked host buffers
// (the device tensors are kept in op->stage). Host tensors: nothing to do.
Status StageOnHost(Op* op);
// Whether MPI takes device pointers (CUDA-aware: Open MPI's MPIX_Query_cuda_support() says so at
// run time, with a GPU present). Tests emulate it on emulated devices, whose memory is host
// memory, with BLUEFOG_TEST_EMULATED_CUDA_AWARE_MPI=1. Decided once per process.
bool MpiTakesDeviceMemory();

// A gather's result of `shape`: host memory (from the op's result storage pool), or device
// memory of the op's device when MPI writes it there (mpi_direct).
Status NewGatherResult(const Op& op, const std::vector<int64_t>& shape, DLManagedTensor** out);

// For an op left on the device whose arguments turn out to need the host path (compression):
// stages it through host buffers after all.
Status StageOnHostAfterAll(Op* op);

// Engine thread. Starts copying the input to the host (behind the caller's stream mark).
Status StartCopyIn(Op& op);
// After the op has run on the host buffers: starts copying the result to the device. Gathers
// copy the engine's host result into newly allocated device memory.
Status StartCopyOut(Op& op);
// Polls the copy in flight; once done, the phase moves on (and a gather's result is swapped for
// its device copy). *done: the copy has finished.
Status PollCopy(Op& op, bool* done);

}  // namespace bluefog

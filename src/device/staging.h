// SPDX-License-Identifier: Apache-2.0
// Host staging of GPU tensors: an operation on kDLCUDA tensors runs on page-locked host copies.
// The caller's thread marks its stream when the op is issued; the engine copies the input to the
// host behind that mark, runs the op as on host memory, copies the result back to the device and
// completes the handle once that copy has finished (so, on bf_wait's return, every stream sees
// the result). The copies are asynchronous on the engine's own stream; the engine polls their
// events and never blocks on them.
#pragma once

#include <chrono>
#include <memory>

#include "core/op.h"
#include "device/device.h"

namespace bluefog {

struct DeviceStage {
  enum class Phase { kCopyingIn, kRunning, kCopyingOut, kDone };

  DeviceStage() = default;
  DeviceStage(const DeviceStage&) = delete;
  DeviceStage& operator=(const DeviceStage&) = delete;
  ~DeviceStage();

  Phase phase = Phase::kCopyingIn;
  int device = 0;
  TensorRef device_in;   // the caller's GPU tensors (empty when not on the device)
  TensorRef device_out;
  void* host_in = nullptr;   // page-locked, owned
  void* host_out = nullptr;  // may equal host_in (in-place ops)
  DeviceEvent issued = nullptr;  // the caller's stream when the op was issued
  DeviceEvent copied = nullptr;  // the copy in flight (in, then out)
  std::chrono::steady_clock::time_point copy_started;  // for the timeline
  // Gathers: the engine's host result, and the device memory it is being copied to.
  DLManagedTensor* host_result = nullptr;
  void* device_result = nullptr;
};

// Caller's thread, after validation: if `op`'s tensors are on a CUDA device, points op->in/out
// at page-locked host buffers (the device tensors are kept in op->stage) and marks the caller's
// stream (bf_set_cuda_stream). Host tensors: nothing to do.
Status StageOnHost(Op* op);

// Engine thread. Starts copying the input to the host (behind the caller's stream mark).
Status StartCopyIn(Op& op);
// After the op has run on the host buffers: starts copying the result to the device. Gathers
// copy the engine's host result into newly allocated device memory.
Status StartCopyOut(Op& op);
// Polls the copy in flight; once done, the phase moves on (and a gather's result is swapped for
// its device copy). *done: the copy has finished.
Status PollCopy(Op& op, bool* done);

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// DeviceCommunicator: collectives and grouped point-to-point transfers on device memory, queued
// on a stream of the communicator's device, NCCL's model. Operations on GPU tensors run here
// directly, with no copy through the host, when one is available (docs/gpu.md):
//
//   - NCCL (nccl_comm.cc, built when Meson finds NCCL), on a machine with a GPU;
//   - emulated over MPI point-to-point on a communicator of its own (emulated_comm.cc), when
//     tests set BLUEFOG_TEST_EMULATED_NCCL=1 together with BLUEFOG_TEST_EMULATED_GPUS. MPI keeps
//     each pair's messages in posting order, as NCCL does, so the engine's use of the interface
//     is exercised without a GPU.
//
// Every call queues work behind what was queued before and returns at once; completion is seen
// through events (Record + Query), which never block. Engine thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"
#include "backend/mpi/mpi_backend.h"
#include "core/dtype.h"
#include "core/status.h"
#include "device/device.h"

namespace bluefog {

// One side of a point-to-point transfer: `bytes` from or into `data`, to or from world rank
// `peer`.
struct DeviceTransfer {
  int peer = -1;
  void* data = nullptr;
  size_t bytes = 0;
};

class DeviceCommunicator {
 public:
  // Frees the cached scratch memory.
  virtual ~DeviceCommunicator();

  // "NCCL 2.28.3", "emulated over MPI".
  virtual std::string name() const = 0;
  int device() const { return device_; }
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Collectives queued between BeginGroup and EndGroup are launched together at EndGroup
  // (ncclGroupStart/End; groups nest, so Exchange may be called inside). No kernel may be queued
  // inside a group: NCCL enqueues the group's work at EndGroup, after such a kernel.
  virtual Status BeginGroup() { return Status::Ok(); }
  virtual Status EndGroup() { return Status::Ok(); }

  // Later work waits for `event` (an event of the device runtime: the caller's stream mark).
  virtual Status WaitFor(DeviceEvent event) = 0;
  // Every send and receive together, as one group (ncclGroupStart/End): no pair waits on
  // another's order. At most one transfer per direction per peer.
  virtual Status Exchange(std::span<const DeviceTransfer> sends,
                          std::span<const DeviceTransfer> receives) = 0;
  // out = sum over the ranks of in (average: divided by the rank count); out may equal in.
  virtual Status Allreduce(const void* in, void* out, int64_t count, DType dtype,
                           bool average) = 0;
  // Every rank's out = the root's in (in is read on the root only; out may equal in).
  virtual Status Broadcast(const void* in, void* out, size_t bytes, int root) = 0;
  // Every rank's out = the ranks' inputs back to back, rank r contributing bytes_per_rank[r].
  virtual Status Allgatherv(const void* in, void* out, std::span<const size_t> bytes_per_rank) = 0;

  // Kernels on the same stream (ops/combine.h has their host twins): out = self_weight * in +
  // sum_k weights[k] * sources[k] (16-bit floats accumulate in float32; out may equal in), and
  // out = weight * in.
  virtual Status WeightedCombine(DType dtype, void* out, const void* in, double self_weight,
                                 std::span<const void* const> sources,
                                 std::span<const double> weights, size_t count) = 0;
  virtual Status Scale(DType dtype, void* out, const void* in, double weight, size_t count) = 0;

  // Device memory for the transfers of one operation, reused across operations (allocating and
  // freeing device memory synchronizes the device). Release only once the work using it is done.
  Status AcquireScratch(size_t bytes, void** out);
  void ReleaseScratch(void* scratch);

  // Marks the stream's current end; Query says, without blocking, whether the work before the
  // mark has finished (a failure of that work is reported here).
  virtual Status Record(DeviceEvent* out) = 0;
  virtual Status Query(DeviceEvent event, bool* done) = 0;
  virtual void Release(DeviceEvent event) = 0;

 protected:
  explicit DeviceCommunicator(int device) : device_(device) {}

 private:
  int device_;
  std::unordered_map<void*, size_t> scratch_sizes_;        // in use: size class
  std::unordered_multimap<size_t, void*> free_scratch_;  // size class -> cached block
};

// Which communicator, if any, runs operations on GPU tensors in this process: "nccl",
// "emulated", or "" (they are staged through host memory). Decided once per process.
const std::string& DeviceCollectivesKind();

// Creates the communicator over `group` on `device`. Collective over the group: every rank
// calls it at the same point of the global order. `backend` carries the set-up (NCCL's unique
// id, the emulation's MPI communicator).
Status CreateDeviceCommunicator(MpiBackend& backend, Group group, int device,
                                std::unique_ptr<DeviceCommunicator>* out);

// Implementations (CreateDeviceCommunicator chooses).
Status NewEmulatedCommunicator(MpiBackend& backend, Group group, int device,
                               std::unique_ptr<DeviceCommunicator>* out);
Status NewNcclCommunicator(MpiBackend& backend, Group group, int device,
                           std::unique_ptr<DeviceCommunicator>* out);
// "NCCL 2.28.3" when built with NCCL, "" otherwise.
std::string NcclVersion();

}  // namespace bluefog

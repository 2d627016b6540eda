// SPDX-License-Identifier: Apache-2.0
#include "device/staging.h"

#ifdef BF_HAVE_MPIX_QUERY_CUDA_SUPPORT
#include <mpi.h>
#include <mpi-ext.h>
#endif

#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/managed_tensor.h"
#include "device/device_comm.h"

namespace bluefog {

namespace {

bool OnDevice(const TensorRef& tensor) { return tensor.device.device_type == kDLCUDA; }

bool EnvIsOne(const char* name) {
  const char* text = std::getenv(name);
  return text != nullptr && std::strcmp(text, "1") == 0;
}

// The ops the device communicator runs, each with the original's variable forcing it onto MPI.
const char* ByMpiVariable(OpKind kind) {
  switch (kind) {
    case OpKind::kAllreduce: return "BLUEFOG_ALLREDUCE_BY_MPI";
    case OpKind::kBroadcast: return "BLUEFOG_BROADCAST_BY_MPI";
    case OpKind::kNeighborAllreduce: return "BLUEFOG_NEIGHBOR_ALLREDUCE_BY_MPI";
    case OpKind::kAllgather: return "BLUEFOG_ALLGATHER_BY_MPI";
    case OpKind::kNeighborAllgather: return "BLUEFOG_NEIGHBOR_ALLGATHER_BY_MPI";
    // Not a variable of the original (whose hierarchical op ran on MPI and NCCL together).
    case OpKind::kHierarchicalNeighborAllreduce:
      return "BLUEFOG_HIERARCHICAL_NEIGHBOR_ALLREDUCE_BY_MPI";
    default: return nullptr;
  }
}

bool RunsOnDeviceCommunicator(const Op& op) {
  const char* by_mpi = ByMpiVariable(op.kind);
  // Gathers have no `out`: their result is allocated on the input's device.
  const bool gather = op.kind == OpKind::kAllgather || op.kind == OpKind::kNeighborAllgather;
  return by_mpi != nullptr && !EnvIsOne(by_mpi) && OnDevice(op.in) &&
         (gather || OnDevice(op.out)) && !DeviceCollectivesKind().empty();
}

bool EmulatedDevices() { return Devices().name().starts_with("emulated"); }

// Collectives whose only host work is the MPI call, given device pointers when MPI is
// CUDA-aware. 16-bit floats are widened to float32 on the host for the reduction, and an
// average's division needs the scaling kernel (floating dtypes, a build with nvcc).
bool RunsOnCudaAwareMpi(const Op& op) {
  const bool gather = op.kind == OpKind::kAllgather;
  if (op.kind != OpKind::kAllreduce && op.kind != OpKind::kBroadcast && !gather) return false;
  if (!OnDevice(op.in) || (!gather && !OnDevice(op.out))) return false;
  if (op.kind == OpKind::kAllreduce) {
    if (Is16BitFloat(op.in.dtype)) return false;
    if (op.reduce_op == BF_REDUCE_AVERAGE) {
#ifndef BF_HAVE_DEVICE_KERNELS
      if (!EmulatedDevices()) return false;
#endif
      if (!IsFloatingPoint(op.in.dtype)) return false;
    }
  }
  return MpiTakesDeviceMemory();
}

// Points op->in/out at page-locked host buffers; the device tensors stay in `stage`.
Status RedirectToHost(Op* op, DeviceStage* stage) {
  DeviceRuntime& devices = Devices();
  if (OnDevice(op->in)) {
    stage->device_in = op->in;
    BF_RETURN_IF_ERROR(devices.AllocateHost(op->in.num_bytes(), &stage->host_in));
    op->in.data = stage->host_in;
    op->in.device = {kDLCPU, 0};
  }
  if (OnDevice(op->out)) {
    stage->device_out = op->out;
    if (stage->device_in.data != nullptr && SameMemory(stage->device_in, stage->device_out)) {
      stage->host_out = stage->host_in;  // in place stays in place
    } else {
      BF_RETURN_IF_ERROR(devices.AllocateHost(op->out.num_bytes(), &stage->host_out));
    }
    op->out.data = stage->host_out;
    op->out.device = {kDLCPU, 0};
  }
  return Status::Ok();
}

}  // namespace

bool MpiTakesDeviceMemory() {
  static const bool takes = [] {
    if (EmulatedDevices()) return EnvIsOne("BLUEFOG_TEST_EMULATED_CUDA_AWARE_MPI");
#ifdef BF_HAVE_MPIX_QUERY_CUDA_SUPPORT
    return Devices().device_count() > 0 && MPIX_Query_cuda_support() == 1;
#else
    return false;
#endif
  }();
  return takes;
}

namespace {

// Device memory handed to the caller as a gather's result; freed by the tensor's deleter.
DLManagedTensor* WrapDeviceResult(DType dtype, const std::vector<int64_t>& shape, int device,
                                  void* data) {
  return WrapManagedTensor(dtype, shape, {kDLCUDA, device}, data,
                           [device](void* memory) { Devices().FreeDevice(device, memory); });
}

}  // namespace

Status NewGatherResult(const Op& op, const std::vector<int64_t>& shape, DLManagedTensor** out) {
  if (!op.stage || !op.stage->mpi_direct) {
    *out = NewManagedTensor(op.in.dtype, shape, op.result_storage);
    return Status::Ok();
  }
  const int device = op.stage->device;
  void* data = nullptr;
  BF_RETURN_IF_ERROR(Devices().AllocateDevice(device, CompactBytes(op.in.dtype, shape), &data));
  *out = WrapDeviceResult(op.in.dtype, shape, device, data);
  return Status::Ok();
}

DeviceStage::~DeviceStage() {
  DeviceRuntime& devices = Devices();
  devices.Release(issued);
  if (comm != nullptr) {
    comm->Release(copied);
    comm->ReleaseScratch(scratch);  // an op that failed midway
  } else {
    devices.Release(copied);
  }
  if (host_out != host_in) devices.FreeHost(host_out);
  devices.FreeHost(host_in);
  if (device_result != nullptr) devices.FreeDevice(device, device_result);
  if (host_result != nullptr && host_result->deleter != nullptr) host_result->deleter(host_result);
}

Status StageOnHost(Op* op) {
  const bool in_on_device = OnDevice(op->in), out_on_device = OnDevice(op->out);
  if (!in_on_device && !out_on_device) return Status::Ok();
  auto stage = std::make_shared<DeviceStage>();
  stage->device = in_on_device ? op->in.device.device_id : op->out.device.device_id;
  if (RunsOnDeviceCommunicator(*op)) {
    stage->direct = true;
    stage->phase = DeviceStage::Phase::kRunning;  // nothing to copy in
    stage->device_in = op->in;
    stage->device_out = op->out;
  } else if (RunsOnCudaAwareMpi(*op)) {
    stage->mpi_direct = true;
    stage->device_in = op->in;
    stage->device_out = op->out;
    if (op->kind != OpKind::kAllgather) op->in = op->out;  // in place; StartCopyIn copies
  } else {
    BF_RETURN_IF_ERROR(RedirectToHost(op, stage.get()));
  }
  BF_RETURN_IF_ERROR(Devices().Record(stage->device, CallerStream(), &stage->issued));
  op->stage = std::move(stage);
  return Status::Ok();
}

Status StageOnHostAfterAll(Op* op) {
  if (!op->stage || !op->stage->direct) return Status::Ok();
  DeviceStage& stage = *op->stage;
  stage.direct = false;
  stage.phase = DeviceStage::Phase::kCopyingIn;
  stage.device_in = {};
  stage.device_out = {};
  return RedirectToHost(op, &stage);
}

Status StartCopyIn(Op& op) {
  DeviceStage& stage = *op.stage;
  if (stage.direct) return Status::Ok();  // the communicator reads the device tensors
  stage.phase = DeviceStage::Phase::kCopyingIn;
  stage.copy_started = std::chrono::steady_clock::now();
  if (stage.mpi_direct) {
    // MPI may read the device memory once the caller's work is done; an op that runs in place
    // on `out` first gets the input there.
    const bool copy = stage.device_out.data != nullptr && !SameMemory(stage.device_in, stage.device_out);
    return Devices().CopyAsync(stage.device, stage.issued, stage.device_out.data,
                               stage.device_in.data, copy ? stage.device_in.num_bytes() : 0,
                               &stage.copied);
  }
  // Without a device input (an output-only device tensor), the copy is empty but still ordered
  // behind the caller's stream, so the op never overwrites memory the caller's work still reads.
  const size_t bytes = stage.device_in.data != nullptr ? stage.device_in.num_bytes() : 0;
  return Devices().CopyAsync(stage.device, stage.issued, stage.host_in, stage.device_in.data,
                             bytes, &stage.copied);
}

Status StartCopyOut(Op& op) {
  DeviceStage& stage = *op.stage;
  DeviceRuntime& devices = Devices();
  devices.Release(stage.copied);
  stage.copied = nullptr;
  stage.phase = DeviceStage::Phase::kCopyingOut;
  stage.copy_started = std::chrono::steady_clock::now();
  if (stage.mpi_direct) {
    // The result is in device memory already; an average still divides, on the device.
    if (stage.scale != 1.0) {
      return devices.ScaleAsync(stage.device, op.out.dtype, op.out.data,
                                static_cast<size_t>(op.out.num_elements), stage.scale,
                                &stage.copied);
    }
    return devices.CopyAsync(stage.device, nullptr, nullptr, nullptr, 0, &stage.copied);
  }
  if (op.managed_out != nullptr && *op.managed_out != nullptr) {
    // A gather: the engine's result is in host memory; give the caller a device copy.
    stage.host_result = *op.managed_out;
    *op.managed_out = nullptr;
    const DLTensor& host = stage.host_result->dl_tensor;
    const size_t bytes =
        CompactBytes(op.in.dtype, std::vector<int64_t>(host.shape, host.shape + host.ndim));
    BF_RETURN_IF_ERROR(devices.AllocateDevice(stage.device, bytes, &stage.device_result));
    return devices.CopyAsync(stage.device, nullptr, stage.device_result, host.data, bytes,
                             &stage.copied);
  }
  const size_t bytes = stage.device_out.data != nullptr ? stage.device_out.num_bytes() : 0;
  return devices.CopyAsync(stage.device, nullptr, stage.device_out.data, stage.host_out, bytes,
                           &stage.copied);
}

Status PollCopy(Op& op, bool* done) {
  DeviceStage& stage = *op.stage;
  if (stage.direct) {
    BF_RETURN_IF_ERROR(stage.comm->Query(stage.copied, done));
    if (*done) {
      stage.phase = DeviceStage::Phase::kDone;
      stage.comm->ReleaseScratch(stage.scratch);  // engine thread, like the comm's other calls
      stage.scratch = nullptr;
      if (stage.device_result != nullptr) {  // a gather's result, now the caller's
        *op.managed_out = WrapDeviceResult(op.in.dtype, stage.result_shape, stage.device,
                                           stage.device_result);
        stage.device_result = nullptr;
      }
    }
    return Status::Ok();
  }
  BF_RETURN_IF_ERROR(Devices().Query(stage.copied, done));
  if (!*done) return Status::Ok();
  if (stage.phase == DeviceStage::Phase::kCopyingIn) {
    stage.phase = DeviceStage::Phase::kRunning;
    return Status::Ok();
  }
  stage.phase = DeviceStage::Phase::kDone;
  if (stage.host_result != nullptr) {
    const DLTensor& host = stage.host_result->dl_tensor;
    *op.managed_out =
        WrapDeviceResult(op.in.dtype, std::vector<int64_t>(host.shape, host.shape + host.ndim),
                         stage.device, stage.device_result);
    stage.device_result = nullptr;  // the caller's now
    stage.host_result->deleter(stage.host_result);
    stage.host_result = nullptr;
  }
  return Status::Ok();
}

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// The NCCL device communicator: one ncclComm_t per group, set up from the MPI world (rank 0's
// unique id broadcast over the backend), with a non-blocking stream of its own on the rank's
// device. Transfers are grouped ncclSend/ncclRecv, collectives NCCL's, and the combine and
// scaling kernels device_kernels.cu's; completion is a CUDA event the engine polls.
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <cstddef>
#include <string>

#include "device/cuda_util.h"
#include "device/device_comm.h"
#include "device/device_kernels.h"

namespace bluefog {

namespace {

Status NcclError(const char* call, ncclResult_t result) {
  return Error(BF_ERR_BACKEND, call, " failed: ", ncclGetErrorString(result), " (",
               static_cast<int>(result), ")");
}

#define BF_NCCL_RETURN_IF_ERROR(call)                         \
  do {                                                        \
    const ncclResult_t bf_nccl_result_ = (call);              \
    if (bf_nccl_result_ != ncclSuccess) {                     \
      return NcclError(#call, bf_nccl_result_);               \
    }                                                         \
  } while (0)

Status NcclType(DType dtype, ncclDataType_t* out) {
  switch (dtype) {
    case DType::kInt8: *out = ncclInt8; return Status::Ok();
    case DType::kUInt8: *out = ncclUint8; return Status::Ok();
    case DType::kInt32: *out = ncclInt32; return Status::Ok();
    case DType::kInt64: *out = ncclInt64; return Status::Ok();
    case DType::kFloat16: *out = ncclFloat16; return Status::Ok();
    case DType::kBFloat16: *out = ncclBfloat16; return Status::Ok();
    case DType::kFloat32: *out = ncclFloat32; return Status::Ok();
    case DType::kFloat64: *out = ncclFloat64; return Status::Ok();
    case DType::kInt16: break;
  }
  return Error(BF_ERR_UNSUPPORTED, "NCCL has no ", DTypeName(dtype),
               " reduction; set BLUEFOG_ALLREDUCE_BY_MPI=1 to reduce it through host memory");
}

Status KernelType(DType dtype, kernels::FloatType* out) {
  switch (dtype) {
    case DType::kFloat16: *out = kernels::FloatType::kFloat16; return Status::Ok();
    case DType::kBFloat16: *out = kernels::FloatType::kBFloat16; return Status::Ok();
    case DType::kFloat32: *out = kernels::FloatType::kFloat32; return Status::Ok();
    case DType::kFloat64: *out = kernels::FloatType::kFloat64; return Status::Ok();
    default: break;
  }
  return Error(BF_ERR_INTERNAL, "the combine kernel takes floating dtypes, not ", DTypeName(dtype));
}

class NcclCommunicator final : public DeviceCommunicator {
 public:
  NcclCommunicator(int device, ncclComm_t comm, cudaStream_t stream, int rank, int size)
      : DeviceCommunicator(device), comm_(comm), stream_(stream), rank_(rank), size_(size) {}
  ~NcclCommunicator() override {
    DeviceScope scope(device());
    // After a failure the peers may never join again: abort instead of a destroy that waits.
    if (failed_) {
      (void)ncclCommAbort(comm_);
    } else {
      (void)cudaStreamSynchronize(stream_);
      (void)ncclCommDestroy(comm_);
    }
    (void)cudaStreamDestroy(stream_);
  }

  std::string name() const override { return NcclVersion(); }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  Status BeginGroup() override {
    BF_NCCL_RETURN_IF_ERROR(ncclGroupStart());
    return Status::Ok();
  }
  Status EndGroup() override {
    DeviceScope scope(device());
    BF_CUDA_RETURN_IF_ERROR(scope.status());
    BF_NCCL_RETURN_IF_ERROR(ncclGroupEnd());
    return Status::Ok();
  }

  Status WaitFor(DeviceEvent event) override {
    if (event == nullptr) return Status::Ok();
    DeviceScope scope(device());
    BF_CUDA_RETURN_IF_ERROR(scope.status());
    BF_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(stream_, static_cast<cudaEvent_t>(event), 0));
    return Status::Ok();
  }

  Status Exchange(std::span<const DeviceTransfer> sends,
                  std::span<const DeviceTransfer> receives) override {
    if (sends.empty() && receives.empty()) return Status::Ok();
    DeviceScope scope(device());
    BF_CUDA_RETURN_IF_ERROR(scope.status());
    BF_NCCL_RETURN_IF_ERROR(ncclGroupStart());
    ncclResult_t posted = ncclSuccess;
    for (const DeviceTransfer& receive : receives) {
      if (posted == ncclSuccess) {
        posted = ncclRecv(receive.data, receive.bytes, ncclUint8, receive.peer, comm_, stream_);
      }
    }
    for (const DeviceTransfer& send : sends) {
      if (posted == ncclSuccess) {
        posted = ncclSend(send.data, send.bytes, ncclUint8, send.peer, comm_, stream_);
      }
    }
    const ncclResult_t ended = ncclGroupEnd();  // every started group is ended
    BF_NCCL_RETURN_IF_ERROR(posted);
    BF_NCCL_RETURN_IF_ERROR(ended);
    return Status::Ok();
  }

  Status Allreduce(const void* in, void* out, int64_t count, DType dtype, bool average) override {
    ncclDataType_t type = ncclFloat32;
    BF_RETURN_IF_ERROR(NcclType(dtype, &type));
    DeviceScope scope(device());
    BF_CUDA_RETURN_IF_ERROR(scope.status());
    BF_NCCL_RETURN_IF_ERROR(ncclAllReduce(in, out, static_cast<size_t>(count), type,
                                          average ? ncclAvg : ncclSum, comm_, stream_));
    return Status::Ok();
  }

  Status Broadcast(const void* in, void* out, size_t bytes, int root) override {
    DeviceScope scope(device());
    BF_CUDA_RETURN_IF_ERROR(scope.status());
    BF_NCCL_RETURN_IF_ERROR(ncclBroadcast(in, out, bytes, ncclUint8, root, comm_, stream_));
    return Status::Ok();
  }

  // NCCL's allgather takes equal counts; varying ones are a broadcast from each rank, grouped.
  Status Allgatherv(const void* in, void* out, std::span<const size_t> bytes_per_rank) override {
    DeviceScope scope(device());
    BF_CUDA_RETURN_IF_ERROR(scope.status());
    BF_NCCL_RETURN_IF_ERROR(ncclGroupStart());
    ncclResult_t posted = ncclSuccess;
    size_t offset = 0;
    for (size_t root = 0; root < bytes_per_rank.size(); ++root) {
      const size_t bytes = bytes_per_rank[root];
      if (posted == ncclSuccess && bytes > 0) {
        posted = ncclBroadcast(static_cast<int>(root) == rank_ ? in : nullptr,
                               static_cast<std::byte*>(out) + offset, bytes, ncclUint8,
                               static_cast<int>(root), comm_, stream_);
      }
      offset += bytes;
    }
    const ncclResult_t ended = ncclGroupEnd();
    BF_NCCL_RETURN_IF_ERROR(posted);
    BF_NCCL_RETURN_IF_ERROR(ended);
    return Status::Ok();
  }

  Status WeightedCombine(DType dtype, void* out, const void* in, double self_weight,
                         std::span<const void* const> sources, std::span<const double> weights,
                         size_t count) override {
    kernels::FloatType type = kernels::FloatType::kFloat32;
    BF_RETURN_IF_ERROR(KernelType(dtype, &type));
    DeviceScope scope(device());
    BF_CUDA_RETURN_IF_ERROR(scope.status());
    // kMaxSources per launch; later launches add to what the earlier ones wrote.
    size_t first = 0;
    do {
      const int batch =
          static_cast<int>(std::min<size_t>(sources.size() - first, kernels::kMaxSources));
      const int launched = kernels::LaunchWeightedCombine(
          stream_, type, out, first == 0 ? in : out, first == 0 ? self_weight : 1.0,
          sources.data() + first, weights.data() + first, batch, count);
      if (launched != cudaSuccess) {
        return CudaError("the weighted-combine kernel launch", static_cast<cudaError_t>(launched));
      }
      first += static_cast<size_t>(batch);
    } while (first < sources.size());
    return Status::Ok();
  }

  Status Scale(DType dtype, void* out, const void* in, double weight, size_t count) override {
    return WeightedCombine(dtype, out, in, weight, {}, {}, count);
  }

  Status Record(DeviceEvent* out) override {
    DeviceScope scope(device());
    BF_CUDA_RETURN_IF_ERROR(scope.status());
    cudaEvent_t event = nullptr;
    BF_RETURN_IF_ERROR(RecordEvent(stream_, "cudaEventRecord (on the NCCL stream)", &event));
    *out = event;
    return Status::Ok();
  }

  Status Query(DeviceEvent event, bool* done) override {
    // NCCL reports a peer's failure (or its own) asynchronously, not through the stream.
    ncclResult_t async = ncclSuccess;
    BF_NCCL_RETURN_IF_ERROR(ncclCommGetAsyncError(comm_, &async));
    if (async != ncclSuccess && async != ncclInProgress) {
      failed_ = true;
      return NcclError("the NCCL communicator", async);
    }
    const Status queried =
        QueryEvent(static_cast<cudaEvent_t>(event), "cudaEventQuery (the NCCL stream)", done);
    if (!queried.ok()) failed_ = true;
    return queried;
  }

  void Release(DeviceEvent event) override {
    if (event != nullptr) (void)cudaEventDestroy(static_cast<cudaEvent_t>(event));
  }

 private:
  ncclComm_t comm_;
  cudaStream_t stream_;
  int rank_;
  int size_;
  bool failed_ = false;
};

}  // namespace

std::string NcclVersion() {
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess) return "";
  // NCCL_VERSION(X, Y, Z) = X * 10000 + Y * 100 + Z from 2.9 on.
  return "NCCL " + std::to_string(code / 10000) + "." + std::to_string(code / 100 % 100) + "." +
         std::to_string(code % 100);
}

Status NewNcclCommunicator(MpiBackend& backend, Group group, int device,
                           std::unique_ptr<DeviceCommunicator>* out) {
  const int rank = backend.rank(group);
  const int size = backend.size(group);
  // Rank 0's id, or its failure to make one, reaches every rank, so that none waits in
  // ncclCommInitRank for a rank that gave up.
  struct {
    int32_t made = 0;
    ncclUniqueId id;
  } offer{};
  if (rank == 0) offer.made = ncclGetUniqueId(&offer.id) == ncclSuccess ? 1 : 0;
  BF_RETURN_IF_ERROR(backend.Broadcast(&offer, sizeof(offer), 0, group));
  if (offer.made == 0) {
    return Error(BF_ERR_BACKEND, "rank 0 could not create an NCCL unique id (ncclGetUniqueId)");
  }
  DeviceScope scope(device);
  BF_CUDA_RETURN_IF_ERROR(scope.status());
  cudaStream_t stream = nullptr;
  BF_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  ncclComm_t comm = nullptr;
  const ncclResult_t initialized = ncclCommInitRank(&comm, size, offer.id, rank);
  if (initialized != ncclSuccess) {
    (void)cudaStreamDestroy(stream);
    return NcclError("ncclCommInitRank", initialized);
  }
  *out = std::make_unique<NcclCommunicator>(device, comm, stream, rank, size);
  return Status::Ok();
}

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// The emulated device communicator (tests without a GPU, BLUEFOG_TEST_EMULATED_NCCL=1): the
// emulated devices' memory is host memory, so NCCL's calls become MPI's on a communicator of the
// emulation's own, and the kernels their host twins (ops/combine.h). Work is queued on an
// emulated stream, a queue of steps that Query advances: a step starts once every step before
// it has finished, as on a CUDA stream, and transfers complete through MPI_Test, so nothing here
// blocks and a peer that never joins leaves an op pending (the stall watchdog reports it), as
// NCCL would.
#include <mpi.h>

#include <climits>
#include <cstring>
#include <deque>
#include <functional>
#include <vector>

#include "backend/mpi/mpi_check.h"
#include "device/device_comm.h"
#include "ops/combine.h"

namespace bluefog {

namespace {

class EmulatedCommunicator final : public DeviceCommunicator {
 public:
  EmulatedCommunicator(int device, MPI_Comm comm) : DeviceCommunicator(device), comm_(comm) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~EmulatedCommunicator() override {
    for (MPI_Request& request : requests_) {
      if (request != MPI_REQUEST_NULL) MPI_Request_free(&request);
    }
    MPI_Comm_free(&comm_);
  }

  std::string name() const override { return "emulated over MPI"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  Status WaitFor(DeviceEvent event) override {
    if (event == nullptr) return Status::Ok();
    return Queue(nullptr, [event](bool* done) { return Devices().Query(event, done); });
  }

  Status Exchange(std::span<const DeviceTransfer> sends,
                  std::span<const DeviceTransfer> receives) override {
    for (const auto* list : {&sends, &receives}) {
      for (const DeviceTransfer& transfer : *list) {
        if (transfer.bytes > static_cast<size_t>(INT_MAX)) {
          return Error(BF_ERR_UNSUPPORTED, "the emulated device communicator moves at most ",
                       INT_MAX, " bytes per transfer (", transfer.bytes, " requested)");
        }
      }
    }
    std::vector<DeviceTransfer> to(sends.begin(), sends.end());
    std::vector<DeviceTransfer> from(receives.begin(), receives.end());
    return Queue(
        [this, to = std::move(to), from = std::move(from)]() -> Status {
          for (const DeviceTransfer& receive : from) {
            requests_.push_back(MPI_REQUEST_NULL);
            BF_MPI_CHECK(MPI_Irecv(receive.data, static_cast<int>(receive.bytes), MPI_BYTE,
                                   receive.peer, kTag, comm_, &requests_.back()));
          }
          for (const DeviceTransfer& send : to) {
            requests_.push_back(MPI_REQUEST_NULL);
            BF_MPI_CHECK(MPI_Isend(send.data, static_cast<int>(send.bytes), MPI_BYTE, send.peer,
                                   kTag, comm_, &requests_.back()));
          }
          return Status::Ok();
        },
        [this](bool* done) { return TestRequests(done); });
  }

  // NCCL reduces with a ring; here every rank gathers every input and sums them in rank order,
  // which gives each rank the same bits.
  Status Allreduce(const void* in, void* out, int64_t count, DType dtype, bool average) override {
    const size_t bytes = static_cast<size_t>(count) * ElementSize(dtype);
    if (bytes > static_cast<size_t>(INT_MAX)) {
      return Error(BF_ERR_UNSUPPORTED, "the emulated device communicator reduces at most ",
                   INT_MAX, " bytes (", bytes, " requested)");
    }
    auto gathered = std::make_shared<std::vector<std::byte>>();
    return Queue(
        [this, in, bytes, gathered]() -> Status {
          gathered->resize(bytes * static_cast<size_t>(size_) + 1);
          requests_.push_back(MPI_REQUEST_NULL);
          BF_MPI_CHECK(MPI_Iallgather(in, static_cast<int>(bytes), MPI_BYTE, gathered->data(),
                                      static_cast<int>(bytes), MPI_BYTE, comm_,
                                      &requests_.back()));
          return Status::Ok();
        },
        [this, out, count, dtype, bytes, average, gathered](bool* done) -> Status {
          BF_RETURN_IF_ERROR(TestRequests(done));
          if (!*done) return Status::Ok();
          const size_t elements = static_cast<size_t>(count);
          if (bytes > 0) std::memcpy(out, gathered->data(), bytes);
          for (int rank = 1; rank < size_; ++rank) {
            AddInto(dtype, out, gathered->data() + bytes * static_cast<size_t>(rank), elements);
          }
          if (average && size_ > 1) bluefog::Scale(dtype, out, out, 1.0 / size_, elements);
          return Status::Ok();
        });
  }

  Status Broadcast(const void* in, void* out, size_t bytes, int root) override {
    if (bytes > static_cast<size_t>(INT_MAX)) {
      return Error(BF_ERR_UNSUPPORTED, "the emulated device communicator broadcasts at most ",
                   INT_MAX, " bytes (", bytes, " requested)");
    }
    return Queue(
        [this, in, out, bytes, root]() -> Status {
          if (rank_ == root && in != out && bytes > 0) std::memcpy(out, in, bytes);
          requests_.push_back(MPI_REQUEST_NULL);
          BF_MPI_CHECK(MPI_Ibcast(out, static_cast<int>(bytes), MPI_BYTE, root, comm_,
                                  &requests_.back()));
          return Status::Ok();
        },
        [this](bool* done) { return TestRequests(done); });
  }

  Status Allgatherv(const void* in, void* out, std::span<const size_t> bytes_per_rank) override {
    std::vector<int> counts, displacements;
    size_t total = 0;
    for (size_t bytes : bytes_per_rank) {
      if (total + bytes > static_cast<size_t>(INT_MAX)) {
        return Error(BF_ERR_UNSUPPORTED, "the emulated device communicator gathers at most ",
                     INT_MAX, " bytes");
      }
      counts.push_back(static_cast<int>(bytes));
      displacements.push_back(static_cast<int>(total));
      total += bytes;
    }
    return Queue(
        [this, in, out, counts = std::move(counts),
         displacements = std::move(displacements)]() -> Status {
          requests_.push_back(MPI_REQUEST_NULL);
          BF_MPI_CHECK(MPI_Iallgatherv(in, counts[static_cast<size_t>(rank_)], MPI_BYTE, out,
                                       counts.data(), displacements.data(), MPI_BYTE, comm_,
                                       &requests_.back()));
          return Status::Ok();
        },
        [this](bool* done) { return TestRequests(done); });
  }

  Status WeightedCombine(DType dtype, void* out, const void* in, double self_weight,
                         std::span<const void* const> sources, std::span<const double> weights,
                         size_t count) override {
    std::vector<const void*> from(sources.begin(), sources.end());
    std::vector<double> by(weights.begin(), weights.end());
    return Queue(
        [=, from = std::move(from), by = std::move(by)]() {
          bluefog::WeightedCombine(dtype, out, in, self_weight, from, by, count);
          return Status::Ok();
        },
        nullptr);
  }

  Status Scale(DType dtype, void* out, const void* in, double weight, size_t count) override {
    return Queue(
        [=]() {
          bluefog::Scale(dtype, out, in, weight, count);
          return Status::Ok();
        },
        nullptr);
  }

  Status Record(DeviceEvent* out) override {
    *out = new uint64_t(queued_);
    return Status::Ok();
  }
  Status Query(DeviceEvent event, bool* done) override {
    Advance();
    BF_RETURN_IF_ERROR(failure_);
    *done = finished_ >= *static_cast<uint64_t*>(event);
    return Status::Ok();
  }
  void Release(DeviceEvent event) override { delete static_cast<uint64_t*>(event); }

 private:
  static constexpr int kTag = 0;

  struct Step {
    std::function<Status()> start;       // empty: nothing to start
    std::function<Status(bool*)> poll;   // empty: done once started
  };

  Status Queue(std::function<Status()> start, std::function<Status(bool*)> poll) {
    BF_RETURN_IF_ERROR(failure_);
    steps_.push_back({std::move(start), std::move(poll)});
    ++queued_;
    return Status::Ok();
  }

  // Runs the stream as far as it can go without waiting.
  void Advance() {
    while (!steps_.empty() && failure_.ok()) {
      Step& step = steps_.front();
      Status status;
      if (!front_started_) {
        if (step.start) status = step.start();
        front_started_ = true;
      }
      bool done = true;
      if (status.ok() && step.poll) status = step.poll(&done);
      if (!status.ok()) {
        // A failed stream stays failed, like a CUDA context after an error.
        failure_ = std::move(status);
        steps_.clear();
        return;
      }
      if (!done) return;
      steps_.pop_front();
      front_started_ = false;
      ++finished_;
    }
  }

  Status TestRequests(bool* done) {
    int flag = 0;
    BF_MPI_CHECK(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &flag,
                             MPI_STATUSES_IGNORE));
    *done = flag != 0;
    if (*done) requests_.clear();
    return Status::Ok();
  }

  MPI_Comm comm_;
  int rank_ = 0;
  int size_ = 1;
  std::deque<Step> steps_;
  bool front_started_ = false;
  uint64_t queued_ = 0;    // steps ever queued
  uint64_t finished_ = 0;  // steps ever finished
  std::vector<MPI_Request> requests_;  // of the step in flight
  Status failure_;
};

}  // namespace

Status NewEmulatedCommunicator(MpiBackend& backend, Group group, int device,
                               std::unique_ptr<DeviceCommunicator>* out) {
  MPI_Comm comm = MPI_COMM_NULL;
  BF_MPI_CHECK(MPI_Comm_dup(backend.communicator(group), &comm));
  *out = std::make_unique<EmulatedCommunicator>(device, comm);
  return Status::Ok();
}

}  // namespace bluefog

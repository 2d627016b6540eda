// SPDX-License-Identifier: Apache-2.0
// The MPI backend: owns MPI initialization (when BlueFog starts MPI), the duplicated world and
// machine-local communicators, and carries host memory. Lives on, and is only used from, the
// engine thread.
#pragma once

#include <mpi.h>

#include <functional>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "backend/mpi/mailbox.h"

namespace bluefog {

// Where this process sits: world, machine-local group, and which machine.
struct ProcessLayout {
  int rank = -1, size = -1;
  int local_rank = -1, local_size = -1;
  int machine_rank = -1, machine_size = -1;
  bool homogeneous = false;
  // MPI provides MPI_THREAD_MULTIPLE (MPI_Query_thread at bf_init): other threads of the
  // application may call MPI alongside the engine.
  bool mpi_thread_multiple = false;
};

class MpiBackend final : public Backend {
 public:
  struct Options {
    const void* adopt_comm = nullptr;  // MPI_Comm* or NULL for MPI_COMM_WORLD
    int nodes_per_machine = 0;         // 0: shared-memory split
  };

  // Initializes MPI if needed, duplicates the communicator and works out the process layout.
  // Collective over the adopted communicator.
  static Status Create(const Options& options, std::unique_ptr<MpiBackend>* out);
  ~MpiBackend() override;

  // Frees the communicators and finalizes MPI if Create initialized it. Collective.
  // free_communicators = false leaves them allocated: a peer may still send on them, and a
  // message arriving after the free could be delivered to the next communicator that reuses the
  // context id (the next bf_init), out of sequence.
  Status Shutdown(bool free_communicators = true);

  const ProcessLayout& layout() const { return layout_; }
  // The backend's communicator for `group` (the emulated device communicator duplicates it).
  MPI_Comm communicator(Group group) const { return comm(group); }

  int rank(Group group) const override;
  int size(Group group) const override;
  Status AllreduceMax(int64_t* values, int count, Group group) override;
  Status AllgatherFixed(const void* mine, size_t bytes, void* all, Group group) override;
  Status AllreduceSum(const void* in, void* out, int64_t count, DType dtype,
                      Group group) override;
  Status Broadcast(void* buffer, size_t bytes, int root, Group group) override;
  Status Allgatherv(const void* mine, size_t my_bytes, void* all,
                    const std::vector<int64_t>& bytes_per_rank, Group group) override;
  Status StartSends(std::span<const Outgoing> sends,
                    std::unique_ptr<PendingSends>* out) override;
  Status Progress(bool* progressed) override;
  std::unique_ptr<ReceivedMessage> Take(int source, uint64_t name_hash) override;
  uint64_t filed_count() const override;
  Status StartNegotiation(const std::vector<NegotiationOffer>& offers,
                          std::unique_ptr<NegotiationRound>* out) override;
  Status NegotiationRequested(bool* requested) override;
  Status AllocateShared(size_t bytes, std::unique_ptr<SharedSegment>* out) override;
  void SetUnsolicitedHandler(UnsolicitedHandler handler) override;
  // True while a received message is still moving bytes (polling loops keep yielding then).
  bool transferring() const { return transferring_; }
  // `peer_gone` says a rank has left (bf_finalize): a blocking collective that has not completed
  // within a grace period after that is abandoned with BF_ERR_SHUTDOWN instead of waiting forever.
  void SetPeerGoneCheck(std::function<bool()> peer_gone) { peer_gone_ = std::move(peer_gone); }
  // Work the engine keeps doing while a blocking collective waits, besides taking messages:
  // serving the window requests a bf_win_unlock released (a peer may need them to join).
  void SetPollHook(std::function<void()> hook) { poll_hook_ = std::move(hook); }

 private:
  MpiBackend() = default;
  MPI_Comm comm(Group group) const { return group == Group::kWorld ? world_ : machine_; }
  Status DiscoverLayout(int nodes_per_machine);
  // Completes `request` while backing off, so idle waiting costs no CPU on oversubscribed cores.
  Status WaitPolled(MPI_Request* request, const char* what);

  bool initialized_mpi_ = false;
  MPI_Comm world_ = MPI_COMM_NULL;
  MPI_Comm machine_ = MPI_COMM_NULL;
  // The ranks of this machine that share memory with this one (all of them, unless
  // BLUEFOG_NODES_PER_MACHINE groups ranks of several hosts), and their world ranks.
  MPI_Comm shared_ = MPI_COMM_NULL;
  std::vector<int> shared_world_ranks_;
  ProcessLayout layout_;
  std::unique_ptr<Mailbox> mailbox_;
  bool transferring_ = false;
  std::function<bool()> peer_gone_;
  std::function<void()> poll_hook_;
  uint64_t negotiation_round_ = 0;  // rounds this rank has started
  std::vector<float> widened_;      // float32 staging for 16-bit float reductions
};

}  // namespace bluefog

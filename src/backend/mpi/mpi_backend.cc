// SPDX-License-Identifier: Apache-2.0
// MPI backend: set-up and layout discovery, polled control collectives, data collectives and the
// framed point-to-point exchange used by neighbor operations.
#include "backend/mpi/mpi_backend.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "backend/mpi/mpi_check.h"
#include "backend/mpi/tree_negotiation.h"
#include "core/backoff.h"

namespace bluefog {

namespace {

constexpr int kNeighborTag = 0x0B1F;
constexpr int kNegotiationTag = 0x0B20;
constexpr int kDoorbellTag = 0x0B21;
constexpr int kPayloadTag = 0x0B22;
// MPI counts are int; collectives move large buffers in chunks of this many bytes.
constexpr int64_t kChunkBytes = int64_t{1} << 30;

MPI_Datatype ToMpi(DType dtype) {
  switch (dtype) {
    case DType::kInt8: return MPI_INT8_T;
    case DType::kInt16: return MPI_INT16_T;
    case DType::kInt32: return MPI_INT32_T;
    case DType::kInt64: return MPI_INT64_T;
    case DType::kUInt8: return MPI_UINT8_T;
    case DType::kFloat32: return MPI_FLOAT;
    case DType::kFloat64: return MPI_DOUBLE;
    case DType::kFloat16:
    case DType::kBFloat16: return MPI_DATATYPE_NULL;  // widened to float32 first
  }
  return MPI_DATATYPE_NULL;
}

const char* ThreadLevelName(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE: return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED: return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED: return "MPI_THREAD_SERIALIZED";
    default: return "MPI_THREAD_MULTIPLE";
  }
}

}  // namespace

Status MpiBackend::Create(const Options& options, std::unique_ptr<MpiBackend>* out) {
  std::unique_ptr<MpiBackend> backend(new MpiBackend());
  int initialized = 0, finalized = 0;
  BF_MPI_CHECK(MPI_Finalized(&finalized));
  if (finalized) {
    return Unsupported("MPI has already been finalized in this process; BlueFog cannot start "
                       "again (initialize MPI yourself to call bf_init after bf_finalize)");
  }
  BF_MPI_CHECK(MPI_Initialized(&initialized));
  int provided = 0;
  if (!initialized) {
    BF_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided));
    backend->initialized_mpi_ = true;
    if (provided < MPI_THREAD_SERIALIZED) {
      return Unsupported(std::string("this MPI library only provides ") +
                         ThreadLevelName(provided) +
                         "; BlueFog needs at least MPI_THREAD_SERIALIZED");
    }
  } else {
    BF_MPI_CHECK(MPI_Query_thread(&provided));
    if (provided < MPI_THREAD_SERIALIZED) {
      return Unsupported(std::string("MPI was initialized with ") + ThreadLevelName(provided) +
                         "; BlueFog calls MPI from its engine thread and needs at least "
                         "MPI_THREAD_SERIALIZED (MPI_THREAD_MULTIPLE if the application calls "
                         "MPI too)");
    }
  }

  MPI_Comm base = MPI_COMM_WORLD;
  if (options.adopt_comm != nullptr) base = *static_cast<const MPI_Comm*>(options.adopt_comm);
  if (base == MPI_COMM_NULL) {
    return InvalidArgument("bf_init: options->mpi_comm points at MPI_COMM_NULL");
  }
  BF_MPI_CHECK(MPI_Comm_dup(base, &backend->world_));
  BF_MPI_CHECK(MPI_Comm_set_errhandler(backend->world_, MPI_ERRORS_RETURN));
  BF_RETURN_IF_ERROR(backend->DiscoverLayout(options.nodes_per_machine));
  backend->layout_.mpi_thread_multiple = provided == MPI_THREAD_MULTIPLE;
  backend->mailbox_ = std::make_unique<Mailbox>(backend->world_, kNeighborTag, kPayloadTag);
  *out = std::move(backend);
  return Status::Ok();
}

Status MpiBackend::DiscoverLayout(int nodes_per_machine) {
  ProcessLayout& layout = layout_;
  BF_MPI_CHECK(MPI_Comm_rank(world_, &layout.rank));
  BF_MPI_CHECK(MPI_Comm_size(world_, &layout.size));
  if (nodes_per_machine > 0) {
    BF_MPI_CHECK(MPI_Comm_split(world_, layout.rank / nodes_per_machine, layout.rank, &machine_));
  } else {
    BF_MPI_CHECK(MPI_Comm_split_type(world_, MPI_COMM_TYPE_SHARED, layout.rank, MPI_INFO_NULL,
                                     &machine_));
  }
  BF_MPI_CHECK(MPI_Comm_set_errhandler(machine_, MPI_ERRORS_RETURN));
  BF_MPI_CHECK(MPI_Comm_split_type(machine_, MPI_COMM_TYPE_SHARED, layout.rank, MPI_INFO_NULL,
                                   &shared_));
  BF_MPI_CHECK(MPI_Comm_set_errhandler(shared_, MPI_ERRORS_RETURN));
  int shared_size = 0;
  BF_MPI_CHECK(MPI_Comm_size(shared_, &shared_size));
  shared_world_ranks_.resize(static_cast<size_t>(shared_size));
  BF_MPI_CHECK(MPI_Allgather(&layout.rank, 1, MPI_INT, shared_world_ranks_.data(), 1, MPI_INT,
                             shared_));
  BF_MPI_CHECK(MPI_Comm_rank(machine_, &layout.local_rank));
  BF_MPI_CHECK(MPI_Comm_size(machine_, &layout.local_size));

  // A machine is named by its lowest world rank; machines are numbered in that order.
  int leader = layout.rank;
  BF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &leader, 1, MPI_INT, MPI_MIN, machine_));
  struct Entry {
    int leader, local_size, local_rank;
  } mine{leader, layout.local_size, layout.local_rank};
  std::vector<Entry> all(layout.size);
  BF_MPI_CHECK(MPI_Allgather(&mine, 3, MPI_INT, all.data(), 3, MPI_INT, world_));
  std::set<int> leaders;
  bool homogeneous = true;
  for (int r = 0; r < layout.size; ++r) {
    leaders.insert(all[r].leader);
    homogeneous = homogeneous && all[r].local_size == layout.local_size &&
                  r % all[r].local_size == all[r].local_rank;
  }
  layout.machine_size = static_cast<int>(leaders.size());
  layout.machine_rank = static_cast<int>(std::distance(leaders.begin(), leaders.find(leader)));
  layout.homogeneous = homogeneous;
  if (nodes_per_machine > 0 && layout.size % nodes_per_machine != 0 && layout.rank == 0) {
    std::fprintf(stderr,
                 "bluefog: warning: nodes per machine %d does not divide the world size %d; "
                 "the layout is not homogeneous and hierarchical operations are unavailable\n",
                 nodes_per_machine, layout.size);
  }
  return Status::Ok();
}

MpiBackend::~MpiBackend() { (void)Shutdown(); }

Status MpiBackend::Shutdown(bool free_communicators) {
  mailbox_.reset();
  if (!free_communicators) {
    shared_ = MPI_COMM_NULL;  // deliberately leaked (see the header)
    machine_ = MPI_COMM_NULL;
    world_ = MPI_COMM_NULL;
  }
  if (shared_ != MPI_COMM_NULL) BF_MPI_CHECK(MPI_Comm_free(&shared_));
  if (machine_ != MPI_COMM_NULL) BF_MPI_CHECK(MPI_Comm_free(&machine_));
  if (world_ != MPI_COMM_NULL) BF_MPI_CHECK(MPI_Comm_free(&world_));
  if (initialized_mpi_) {
    initialized_mpi_ = false;
    BF_MPI_CHECK(MPI_Finalize());
  }
  return Status::Ok();
}

int MpiBackend::rank(Group group) const {
  return group == Group::kWorld ? layout_.rank : layout_.local_rank;
}

int MpiBackend::size(Group group) const {
  return group == Group::kWorld ? layout_.size : layout_.local_size;
}

Status MpiBackend::WaitPolled(MPI_Request* request, const char* what) {
  // A peer that left after finishing its part may still let this complete: allow it a while.
  constexpr auto kGrace = std::chrono::seconds(2);
  std::optional<std::chrono::steady_clock::time_point> gone_since;
  Backoff backoff;
  for (;;) {
    int done = 0;
    const int rc = MPI_Test(request, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      return Error(BF_ERR_BACKEND, what, " failed: ", MpiErrorText(rc));
    }
    if (done) return Status::Ok();
    // Peers may be waiting for us to take their neighbor messages before they can join.
    bool progressed = false;
    BF_RETURN_IF_ERROR(Progress(&progressed));
    if (poll_hook_) poll_hook_();
    if (peer_gone_ && peer_gone_()) {
      const auto now = std::chrono::steady_clock::now();
      if (!gone_since) gone_since = now;
      if (now - *gone_since > kGrace) {
        // The request cannot be cancelled (a collective); it is abandoned with the process.
        return Error(BF_ERR_SHUTDOWN, what, " on rank ", layout_.rank,
                     " was abandoned: a rank has shut down (bf_finalize) before joining it");
      }
    }
    if (progressed) {
      backoff.Progressed();
    } else {
      backoff.Pause(/*waiting_for_peer=*/!transferring_);
    }
  }
}

namespace {

// An MPI shared-memory window used only for its memory: BlueFog's window protocol stays its own
// (writers lock the slots they write; see window/window.h), so no RMA call is ever made on it.
class MpiSharedSegment final : public SharedSegment {
 public:
  MpiSharedSegment(MPI_Win win, std::vector<std::pair<int, std::byte*>> parts)
      : win_(win), parts_(std::move(parts)) {}

  std::byte* part(int rank) const override {
    for (const auto& [world_rank, base] : parts_) {
      if (world_rank == rank) return base;
    }
    return nullptr;
  }

  Status Free() override {
    parts_.clear();
    BF_MPI_CHECK(MPI_Win_free(&win_));
    return Status::Ok();
  }

 private:
  MPI_Win win_;
  std::vector<std::pair<int, std::byte*>> parts_;  // (world rank, its part)
};

}  // namespace

Status MpiBackend::AllocateShared(size_t bytes, std::unique_ptr<SharedSegment>* out) {
  out->reset();
  if (shared_world_ranks_.size() < 2) return Status::Ok();
  // Each rank's part on its own pages, so a rank's part sits in memory near it.
  MPI_Info info;
  BF_MPI_CHECK(MPI_Info_create(&info));
  MPI_Info_set(info, "alloc_shared_noncontig", "true");
  void* mine = nullptr;
  MPI_Win win = MPI_WIN_NULL;
  const int rc = MPI_Win_allocate_shared(static_cast<MPI_Aint>(bytes), 1, info, shared_, &mine,
                                         &win);
  MPI_Info_free(&info);
  BF_MPI_CHECK(rc);
  BF_MPI_CHECK(MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN));
  std::vector<std::pair<int, std::byte*>> parts;
  for (size_t i = 0; i < shared_world_ranks_.size(); ++i) {
    MPI_Aint size = 0;
    int unit = 0;
    void* base = nullptr;
    BF_MPI_CHECK(MPI_Win_shared_query(win, static_cast<int>(i), &size, &unit, &base));
    parts.emplace_back(shared_world_ranks_[i], static_cast<std::byte*>(base));
  }
  *out = std::make_unique<MpiSharedSegment>(win, std::move(parts));
  return Status::Ok();
}

Status MpiBackend::AllreduceMax(int64_t* values, int count, Group group) {
  MPI_Request request;
  BF_MPI_CHECK(
      MPI_Iallreduce(MPI_IN_PLACE, values, count, MPI_INT64_T, MPI_MAX, comm(group), &request));
  return WaitPolled(&request, "MPI_Iallreduce");
}

Status MpiBackend::AllgatherFixed(const void* mine, size_t bytes, void* all, Group group) {
  MPI_Request request;
  BF_MPI_CHECK(MPI_Iallgather(mine, static_cast<int>(bytes), MPI_BYTE, all,
                              static_cast<int>(bytes), MPI_BYTE, comm(group), &request));
  return WaitPolled(&request, "MPI_Iallgather");
}

Status MpiBackend::AllreduceSum(const void* in, void* out, int64_t count, DType dtype,
                                Group group) {
  const void* source = in;
  void* data = out;
  MPI_Datatype type = ToMpi(dtype);
  if (Is16BitFloat(dtype)) {  // accumulate 16-bit floats in float32, in place
    widened_.resize(static_cast<size_t>(count));
    WidenToFloat(dtype, in, widened_.data(), static_cast<size_t>(count));
    source = data = widened_.data();
    type = MPI_FLOAT;
  }
  int type_size = 0;
  BF_MPI_CHECK(MPI_Type_size(type, &type_size));
  const int64_t chunk = kChunkBytes / type_size;
  for (int64_t offset = 0; offset < count; offset += chunk) {
    const int n = static_cast<int>(std::min(chunk, count - offset));
    char* chunk_out = static_cast<char*>(data) + offset * type_size;
    const void* chunk_in = source == data
                               ? MPI_IN_PLACE
                               : static_cast<const char*>(source) + offset * type_size;
    BF_MPI_CHECK(MPI_Allreduce(chunk_in, chunk_out, n, type, MPI_SUM, comm(group)));
  }
  if (Is16BitFloat(dtype)) NarrowFromFloat(dtype, widened_.data(), out, count);
  return Status::Ok();
}

Status MpiBackend::Broadcast(void* buffer, size_t bytes, int root, Group group) {
  for (size_t offset = 0; offset < bytes; offset += kChunkBytes) {
    const int n = static_cast<int>(std::min<size_t>(kChunkBytes, bytes - offset));
    BF_MPI_CHECK(MPI_Bcast(static_cast<char*>(buffer) + offset, n, MPI_BYTE, root, comm(group)));
  }
  return Status::Ok();
}

Status MpiBackend::Allgatherv(const void* mine, size_t my_bytes, void* all,
                              const std::vector<int64_t>& bytes_per_rank, Group group) {
  std::vector<int> counts(bytes_per_rank.size()), displacements(bytes_per_rank.size());
  int64_t total = 0;
  for (size_t r = 0; r < bytes_per_rank.size(); ++r) {
    if (total + bytes_per_rank[r] > INT_MAX) {
      return Unsupported("allgather result exceeds 2 GiB; larger gathers are not supported yet");
    }
    counts[r] = static_cast<int>(bytes_per_rank[r]);
    displacements[r] = static_cast<int>(total);
    total += bytes_per_rank[r];
  }
  // Equal contributions (the usual case) take MPI_Allgather, whose algorithms Open MPI tunes
  // separately from MPI_Allgatherv's.
  const bool equal = std::all_of(counts.begin(), counts.end(),
                                 [&](int count) { return count == counts.front(); });
  if (equal && !counts.empty()) {
    BF_MPI_CHECK(MPI_Allgather(mine, static_cast<int>(my_bytes), MPI_BYTE, all, counts.front(),
                               MPI_BYTE, comm(group)));
    return Status::Ok();
  }
  BF_MPI_CHECK(MPI_Allgatherv(mine, static_cast<int>(my_bytes), MPI_BYTE, all, counts.data(),
                              displacements.data(), MPI_BYTE, comm(group)));
  return Status::Ok();
}

Status MpiBackend::StartSends(std::span<const Outgoing> sends,
                              std::unique_ptr<PendingSends>* out) {
  return mailbox_->Send(sends, out);
}

void MpiBackend::SetUnsolicitedHandler(UnsolicitedHandler handler) {
  mailbox_->SetUnsolicitedHandler(std::move(handler));
}

Status MpiBackend::Progress(bool* progressed) {
  return mailbox_->Pump(progressed, &transferring_);
}

std::unique_ptr<ReceivedMessage> MpiBackend::Take(int source, uint64_t name_hash) {
  return mailbox_->Take(source, name_hash);
}

uint64_t MpiBackend::filed_count() const { return mailbox_->filed_count(); }

Status MpiBackend::StartNegotiation(const std::vector<NegotiationOffer>& offers,
                                    std::unique_ptr<NegotiationRound>* out) {
  ++negotiation_round_;
  *out = std::make_unique<TreeNegotiation>(world_, kNegotiationTag, kDoorbellTag, layout_.rank,
                                           layout_.size, negotiation_round_, offers);
  return Status::Ok();
}

Status MpiBackend::NegotiationRequested(bool* requested) {
  *requested = false;
  // Doorbells from the parent: consume them all; one for the next round means "join it".
  for (;;) {
    int found = 0;
    MPI_Message message;
    MPI_Status status;
    BF_MPI_CHECK(MPI_Improbe(MPI_ANY_SOURCE, kDoorbellTag, world_, &found, &message, &status));
    if (!found) break;
    uint64_t round = 0;
    BF_MPI_CHECK(MPI_Mrecv(&round, 1, MPI_UINT64_T, &message, MPI_STATUS_IGNORE));
    if (round == negotiation_round_ + 1) *requested = true;
  }
  // An offer from a child for the next round also starts it (the child is waiting for us).
  int pending = 0;
  BF_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, kNegotiationTag, world_, &pending, MPI_STATUS_IGNORE));
  if (pending) *requested = true;
  return Status::Ok();
}

}  // namespace bluefog

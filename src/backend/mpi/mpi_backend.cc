// SPDX-License-Identifier: Apache-2.0
// MPI backend: set-up and layout discovery, polled control collectives, data collectives and the
// framed point-to-point exchange used by neighbor operations.
#include "backend/mpi/mpi_backend.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include "core/backoff.h"

namespace bluefog {

namespace {

constexpr int kNeighborTag = 0x0B1F;
// Messages up to this size are packed with their header into one buffer (a copy is cheaper than
// a derived datatype); larger payloads go out in place through an hindexed datatype.
constexpr size_t kPackLimitBytes = 8 * 1024;
// MPI counts are int; collectives move large buffers in chunks of this many bytes.
constexpr int64_t kChunkBytes = int64_t{1} << 30;

std::string MpiErrorText(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, length);
}

#define BF_MPI_CHECK(call)                                                              \
  do {                                                                                  \
    const int bf_mpi_rc_ = (call);                                                      \
    if (bf_mpi_rc_ != MPI_SUCCESS) {                                                    \
      return Error(BF_ERR_BACKEND, #call " failed at " __FILE__ ":", __LINE__, ": ",    \
                   MpiErrorText(bf_mpi_rc_));                                           \
    }                                                                                   \
  } while (0)

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

// Completes whatever of `requests` has finished (they become MPI_REQUEST_NULL); *completed counts
// them, so the caller can tell a transfer that is moving from one that waits.
Status TestSome(std::vector<MPI_Request>* requests, int* completed) {
  *completed = 0;
  if (requests->empty()) return Status::Ok();
  int count = 0;
  std::vector<int> indices(requests->size());
  BF_MPI_CHECK(MPI_Testsome(static_cast<int>(requests->size()), requests->data(), &count,
                            indices.data(), MPI_STATUSES_IGNORE));
  *completed = count == MPI_UNDEFINED ? 0 : count;
  return Status::Ok();
}

bool AllDone(const std::vector<MPI_Request>& requests) {
  return std::all_of(requests.begin(), requests.end(),
                     [](MPI_Request r) { return r == MPI_REQUEST_NULL; });
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
  if (!initialized) {
    int provided = 0;
    BF_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided));
    backend->initialized_mpi_ = true;
    if (provided < MPI_THREAD_SERIALIZED) {
      return Unsupported(std::string("this MPI library only provides ") +
                         ThreadLevelName(provided) +
                         "; BlueFog needs at least MPI_THREAD_SERIALIZED");
    }
  } else {
    int provided = 0;
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

Status MpiBackend::Shutdown() {
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
  Backoff backoff;
  for (;;) {
    int done = 0;
    const int rc = MPI_Test(request, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      return Error(BF_ERR_BACKEND, what, " failed: ", MpiErrorText(rc));
    }
    if (done) return Status::Ok();
    backoff.Pause(/*waiting_for_peer=*/true);
  }
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

Status MpiBackend::AllreduceSum(void* buffer, int64_t count, DType dtype, Group group) {
  void* data = buffer;
  MPI_Datatype type = ToMpi(dtype);
  if (Is16BitFloat(dtype)) {  // accumulate 16-bit floats in float32
    widened_.resize(static_cast<size_t>(count));
    WidenToFloat(dtype, buffer, widened_.data(), static_cast<size_t>(count));
    data = widened_.data();
    type = MPI_FLOAT;
  }
  int type_size = 0;
  BF_MPI_CHECK(MPI_Type_size(type, &type_size));
  const int64_t chunk = kChunkBytes / type_size;
  for (int64_t offset = 0; offset < count; offset += chunk) {
    const int n = static_cast<int>(std::min(chunk, count - offset));
    BF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, static_cast<char*>(data) + offset * type_size, n,
                               type, MPI_SUM, comm(group)));
  }
  if (Is16BitFloat(dtype)) NarrowFromFloat(dtype, widened_.data(), buffer, count);
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
  BF_MPI_CHECK(MPI_Allgatherv(mine, static_cast<int>(my_bytes), MPI_BYTE, all, counts.data(),
                              displacements.data(), MPI_BYTE, comm(group)));
  return Status::Ok();
}

Status MpiBackend::Exchange(std::span<const Outgoing> sends, std::span<Incoming> receives) {
  std::vector<MPI_Request> send_requests(sends.size(), MPI_REQUEST_NULL);
  if (send_buffers_.size() < sends.size()) send_buffers_.resize(sends.size());
  for (size_t i = 0; i < sends.size(); ++i) {
    const Outgoing& send = sends[i];
    const size_t total = sizeof(WireHeader) + send.payload_bytes;
    if (total > static_cast<size_t>(INT_MAX)) {
      return Unsupported("a neighbor message exceeds 2 GiB; split the tensor");
    }
    if (send.payload_bytes <= kPackLimitBytes) {
      auto& packed = send_buffers_[i];
      packed.resize(total);
      std::memcpy(packed.data(), &send.header, sizeof(WireHeader));
      if (send.payload_bytes) {
        std::memcpy(packed.data() + sizeof(WireHeader), send.payload, send.payload_bytes);
      }
      BF_MPI_CHECK(MPI_Isend(packed.data(), static_cast<int>(total), MPI_BYTE, send.peer,
                             kNeighborTag, world_, &send_requests[i]));
    } else {
      // Header and payload leave from where they are, as one message (no copy of the payload).
      int lengths[2] = {static_cast<int>(sizeof(WireHeader)),
                        static_cast<int>(send.payload_bytes)};
      MPI_Aint addresses[2];
      BF_MPI_CHECK(MPI_Get_address(&send.header, &addresses[0]));
      BF_MPI_CHECK(MPI_Get_address(send.payload, &addresses[1]));
      MPI_Datatype framed;
      BF_MPI_CHECK(MPI_Type_create_hindexed(2, lengths, addresses, MPI_BYTE, &framed));
      BF_MPI_CHECK(MPI_Type_commit(&framed));
      const int rc = MPI_Isend(MPI_BOTTOM, 1, framed, send.peer, kNeighborTag, world_,
                               &send_requests[i]);
      MPI_Type_free(&framed);  // freed once the send completes
      BF_MPI_CHECK(rc);
    }
  }

  // Receives are matched by probing, so a message of an unexpected size is taken whole and
  // reported instead of being truncated into someone's memory.
  if (receive_buffers_.size() < receives.size()) receive_buffers_.resize(receives.size());
  std::vector<MPI_Request> receive_requests(receives.size(), MPI_REQUEST_NULL);
  std::vector<char> probed(receives.size(), 0);
  size_t unprobed = receives.size();
  Backoff backoff;
  for (;;) {
    bool progressed = false;
    for (size_t i = 0; i < receives.size() && unprobed > 0; ++i) {
      if (probed[i]) continue;
      int found = 0;
      MPI_Message message;
      MPI_Status status;
      BF_MPI_CHECK(MPI_Improbe(receives[i].peer, kNeighborTag, world_, &found, &message, &status));
      if (!found) continue;
      int bytes = 0;
      BF_MPI_CHECK(MPI_Get_count(&status, MPI_BYTE, &bytes));
      auto& buffer = receive_buffers_[i];
      buffer.resize(static_cast<size_t>(bytes));
      BF_MPI_CHECK(MPI_Imrecv(buffer.data(), bytes, MPI_BYTE, &message, &receive_requests[i]));
      probed[i] = 1;
      --unprobed;
      progressed = true;
    }
    int sends_completed = 0, receives_completed = 0;
    BF_RETURN_IF_ERROR(TestSome(&send_requests, &sends_completed));
    BF_RETURN_IF_ERROR(TestSome(&receive_requests, &receives_completed));
    if (sends_completed + receives_completed > 0) progressed = true;
    if (unprobed == 0 && AllDone(send_requests) && AllDone(receive_requests)) break;
    if (progressed) {
      backoff.Progressed();
    } else {
      backoff.Pause(/*waiting_for_peer=*/unprobed > 0);
    }
  }

  for (size_t i = 0; i < receives.size(); ++i) {
    const auto& buffer = receive_buffers_[i];
    Incoming& incoming = receives[i];
    if (buffer.size() < sizeof(WireHeader)) {
      return Error(BF_ERR_MISMATCH, "received a ", buffer.size(), "-byte message from rank ",
                   incoming.peer, " that is not a BlueFog neighbor message");
    }
    std::memcpy(&incoming.header, buffer.data(), sizeof(WireHeader));
    incoming.payload = buffer.data() + sizeof(WireHeader);
    incoming.payload_bytes = buffer.size() - sizeof(WireHeader);
  }
  return Status::Ok();
}

}  // namespace bluefog

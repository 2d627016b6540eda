// SPDX-License-Identifier: Apache-2.0
// extern "C" entry points of the Topology and Dynamic-schedule sections of bluefog.h: validate
// pointers, call the Topology / schedule code, and copy results out only on success.
#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "api/guard.h"
#include "core/enum_value.h"
#include "bluefog.h"
#include "topology/c_handle.h"
#include "topology/schedules.h"

namespace {

using bluefog::Error;
using bluefog::SendRecvLists;
using bluefog::Status;
using bluefog::Topology;

// Runs `body` at the C boundary and prefixes a failure's message with the entry point's name, so
// bf_last_error() reads "bf_topology_star: center_rank 9 is out of range for size 8".
template <typename Body>
bf_status GuardedIn(const char* function, Body&& body) noexcept {
  return bluefog::Guarded([&]() -> Status {
    Status status = body();
    if (status.ok()) return status;
    return Status(status.code(), std::string(function) + ": " + status.message());
  });
}

Status RequireNonNull(const void* pointer, const char* name) {
  if (pointer == nullptr) return Error(BF_ERR_INVALID_ARGUMENT, name, " is NULL");
  return Status::Ok();
}

Status RequireRank(const Topology& graph, int rank, const char* name) {
  if (rank < 0 || rank >= graph.size()) {
    return Error(BF_ERR_INVALID_ARGUMENT, name, " ", rank, " is out of range for size ",
                 graph.size());
  }
  return Status::Ok();
}

// Builds a topology with `factory` and hands it to the caller as a new handle; *out is written
// only once everything has succeeded.
template <typename Factory>
Status MakeHandle(bf_topology** out, Factory&& factory) {
  BF_RETURN_IF_ERROR(RequireNonNull(out, "out"));
  Topology graph;
  BF_RETURN_IF_ERROR(factory(&graph));
  *out = new bf_topology{std::move(graph)};
  return Status::Ok();
}

// Shared by the neighbor queries. ranks == NULL asks for the count only.
Status WriteNeighbors(const Topology& graph, int rank, const std::vector<int>& neighbors,
                      bool incoming, int* ranks, double* weights, int capacity, int* count) {
  if (ranks != nullptr) {
    if (capacity < 0) {
      return Error(BF_ERR_INVALID_ARGUMENT, "capacity ", capacity, " must be >= 0");
    }
    if (neighbors.size() > static_cast<size_t>(capacity)) {
      return Error(BF_ERR_INVALID_ARGUMENT, "capacity ", capacity, " is too small: rank ", rank,
                   " has ", neighbors.size(), incoming ? " in" : " out",
                   "-neighbors (size - 1 = ", graph.size() - 1, " always suffices)");
    }
    for (size_t i = 0; i < neighbors.size(); ++i) {
      ranks[i] = neighbors[i];
      if (weights != nullptr) {
        weights[i] = incoming ? graph.weight(neighbors[i], rank) : graph.weight(rank, neighbors[i]);
      }
    }
  }
  *count = static_cast<int>(neighbors.size());
  return Status::Ok();
}

// Shared tail of the schedule entry points: checks every out-pointer before computing, and the
// capacity before writing, so nothing is written on failure.
struct ScheduleOutputs {
  int* send;
  int* send_count;
  int* recv;
  int* recv_count;
  int capacity;
  const char* send_name;
  const char* recv_name;
};

Status CheckScheduleOutputs(const ScheduleOutputs& outputs) {
  BF_RETURN_IF_ERROR(RequireNonNull(outputs.send, outputs.send_name));
  BF_RETURN_IF_ERROR(RequireNonNull(outputs.send_count, "send_count"));
  BF_RETURN_IF_ERROR(RequireNonNull(outputs.recv, outputs.recv_name));
  BF_RETURN_IF_ERROR(RequireNonNull(outputs.recv_count, "recv_count"));
  if (outputs.capacity < 0) {
    return Error(BF_ERR_INVALID_ARGUMENT, "capacity ", outputs.capacity, " must be >= 0");
  }
  return Status::Ok();
}

Status WriteSchedule(const SendRecvLists& lists, const ScheduleOutputs& outputs) {
  const size_t needed = std::max(lists.send.size(), lists.recv.size());
  if (needed > static_cast<size_t>(outputs.capacity)) {
    return Error(BF_ERR_INVALID_ARGUMENT, "capacity ", outputs.capacity, " is too small: ",
                 lists.send.size() >= lists.recv.size() ? outputs.send_name : outputs.recv_name,
                 " needs ", needed, " entries at this step");
  }
  std::copy(lists.send.begin(), lists.send.end(), outputs.send);
  std::copy(lists.recv.begin(), lists.recv.end(), outputs.recv);
  *outputs.send_count = static_cast<int>(lists.send.size());
  *outputs.recv_count = static_cast<int>(lists.recv.size());
  return Status::Ok();
}

using MachineSchedule = Status (*)(int, int, int, int64_t, SendRecvLists*);

Status RunMachineSchedule(MachineSchedule schedule, int world_size, int local_size, int rank,
                          int64_t step, const ScheduleOutputs& outputs) {
  BF_RETURN_IF_ERROR(CheckScheduleOutputs(outputs));
  SendRecvLists lists;
  BF_RETURN_IF_ERROR(schedule(world_size, local_size, rank, step, &lists));
  return WriteSchedule(lists, outputs);
}

}  // namespace

extern "C" {

// ----- Generators -------------------------------------------------------------------------------

bf_status bf_topology_exponential(int size, int base, bf_topology** out) {
  return GuardedIn(__func__, [&] {
    return MakeHandle(out,
                      [&](Topology* graph) { return Topology::Exponential(size, base, graph); });
  });
}

bf_status bf_topology_exponential_two(int size, bf_topology** out) {
  return GuardedIn(__func__, [&] {
    return MakeHandle(out, [&](Topology* graph) { return Topology::ExponentialTwo(size, graph); });
  });
}

bf_status bf_topology_symmetric_exponential(int size, int base, bf_topology** out) {
  return GuardedIn(__func__, [&] {
    return MakeHandle(
        out, [&](Topology* graph) { return Topology::SymmetricExponential(size, base, graph); });
  });
}

bf_status bf_topology_ring(int size, bf_ring_style style, bf_topology** out) {
  return GuardedIn(__func__, [&] {
    return MakeHandle(out, [&](Topology* graph) {
      return Topology::Ring(size, bluefog::EnumValue(style), graph);
    });
  });
}

bf_status bf_topology_star(int size, int center_rank, bf_topology** out) {
  return GuardedIn(__func__, [&] {
    return MakeHandle(out,
                      [&](Topology* graph) { return Topology::Star(size, center_rank, graph); });
  });
}

bf_status bf_topology_mesh_grid_2d(int size, int nrows, int ncols, bf_topology** out) {
  return GuardedIn(__func__, [&] {
    return MakeHandle(
        out, [&](Topology* graph) { return Topology::MeshGrid2D(size, nrows, ncols, graph); });
  });
}

bf_status bf_topology_fully_connected(int size, bf_topology** out) {
  return GuardedIn(__func__, [&] {
    return MakeHandle(out, [&](Topology* graph) { return Topology::FullyConnected(size, graph); });
  });
}

// ----- Custom graphs and lifetime ---------------------------------------------------------------

bf_status bf_topology_from_matrix(int size, const double* weights, bf_topology** out) {
  return GuardedIn(__func__, [&] {
    BF_RETURN_IF_ERROR(RequireNonNull(weights, "weights"));
    // The size decides how much of `weights` may be read, so it is checked before the span exists.
    BF_RETURN_IF_ERROR(bluefog::CheckTopologySize(size));
    const std::span<const double> matrix(weights, static_cast<size_t>(size) * size);
    return MakeHandle(out,
                      [&](Topology* graph) { return Topology::FromMatrix(size, matrix, graph); });
  });
}

bf_status bf_topology_from_edges(int size, int num_edges, const int* src, const int* dst,
                                 const double* weights, bf_topology** out) {
  return GuardedIn(__func__, [&] {
    if (num_edges < 0) {
      return Error(BF_ERR_INVALID_ARGUMENT, "num_edges ", num_edges, " must be >= 0");
    }
    if (num_edges > 0) {
      BF_RETURN_IF_ERROR(RequireNonNull(src, "src"));
      BF_RETURN_IF_ERROR(RequireNonNull(dst, "dst"));
    }
    const size_t count = static_cast<size_t>(num_edges);
    const std::span<const int> sources(src, src == nullptr ? 0 : count);
    const std::span<const int> destinations(dst, dst == nullptr ? 0 : count);
    const std::span<const double> edge_weights(weights, weights == nullptr ? 0 : count);
    return MakeHandle(out, [&](Topology* graph) {
      return Topology::FromEdges(size, sources, destinations, edge_weights, graph);
    });
  });
}

bf_status bf_topology_copy(const bf_topology* topology, bf_topology** out) {
  return GuardedIn(__func__, [&] {
    BF_RETURN_IF_ERROR(RequireNonNull(topology, "topology"));
    return MakeHandle(out, [&](Topology* graph) {
      *graph = topology->graph;
      return Status::Ok();
    });
  });
}

void bf_topology_free(bf_topology* topology) { delete topology; }

// ----- Queries ----------------------------------------------------------------------------------

int bf_topology_size(const bf_topology* topology) {
  return topology == nullptr ? -1 : topology->graph.size();
}

bf_status bf_topology_weight(const bf_topology* topology, int from, int to, double* weight) {
  return GuardedIn(__func__, [&] {
    BF_RETURN_IF_ERROR(RequireNonNull(topology, "topology"));
    BF_RETURN_IF_ERROR(RequireNonNull(weight, "weight"));
    BF_RETURN_IF_ERROR(RequireRank(topology->graph, from, "from"));
    BF_RETURN_IF_ERROR(RequireRank(topology->graph, to, "to"));
    *weight = topology->graph.weight(from, to);
    return Status::Ok();
  });
}

bf_status bf_topology_to_matrix(const bf_topology* topology, double* matrix) {
  return GuardedIn(__func__, [&] {
    BF_RETURN_IF_ERROR(RequireNonNull(topology, "topology"));
    BF_RETURN_IF_ERROR(RequireNonNull(matrix, "matrix"));
    const std::span<const double> weights = topology->graph.matrix();
    std::copy(weights.begin(), weights.end(), matrix);
    return Status::Ok();
  });
}

bf_status bf_topology_in_neighbors(const bf_topology* topology, int rank, int* ranks,
                                   double* weights, int capacity, int* count) {
  return GuardedIn(__func__, [&] {
    BF_RETURN_IF_ERROR(RequireNonNull(topology, "topology"));
    BF_RETURN_IF_ERROR(RequireNonNull(count, "count"));
    BF_RETURN_IF_ERROR(RequireRank(topology->graph, rank, "rank"));
    return WriteNeighbors(topology->graph, rank, topology->graph.in_neighbors(rank),
                          /*incoming=*/true, ranks, weights, capacity, count);
  });
}

bf_status bf_topology_out_neighbors(const bf_topology* topology, int rank, int* ranks,
                                    double* weights, int capacity, int* count) {
  return GuardedIn(__func__, [&] {
    BF_RETURN_IF_ERROR(RequireNonNull(topology, "topology"));
    BF_RETURN_IF_ERROR(RequireNonNull(count, "count"));
    BF_RETURN_IF_ERROR(RequireRank(topology->graph, rank, "rank"));
    return WriteNeighbors(topology->graph, rank, topology->graph.out_neighbors(rank),
                          /*incoming=*/false, ranks, weights, capacity, count);
  });
}

bf_status bf_topology_spectral_gap(const bf_topology* topology, double* rho) {
  return GuardedIn(__func__, [&] {
    BF_RETURN_IF_ERROR(RequireNonNull(topology, "topology"));
    BF_RETURN_IF_ERROR(RequireNonNull(rho, "rho"));
    return topology->graph.SpectralGap(rho);
  });
}

// ----- Dynamic schedules ------------------------------------------------------------------------

bf_status bf_schedule_one_peer(const bf_topology* topology, int rank, int64_t step, int* send_ranks,
                               int* send_count, int* recv_ranks, int* recv_count, int capacity) {
  return GuardedIn(__func__, [&] {
    const ScheduleOutputs outputs{send_ranks, send_count,   recv_ranks,  recv_count,
                                  capacity,   "send_ranks", "recv_ranks"};
    BF_RETURN_IF_ERROR(RequireNonNull(topology, "topology"));
    BF_RETURN_IF_ERROR(CheckScheduleOutputs(outputs));
    SendRecvLists lists;
    BF_RETURN_IF_ERROR(bluefog::OnePeerSchedule(topology->graph).At(rank, step, &lists));
    return WriteSchedule(lists, outputs);
  });
}

bf_status bf_schedule_exp2_machine(int world_size, int local_size, int rank, int64_t step,
                                   int* send_machines, int* send_count, int* recv_machines,
                                   int* recv_count, int capacity) {
  return GuardedIn(__func__, [&] {
    return RunMachineSchedule(bluefog::Exp2MachineSchedule, world_size, local_size, rank, step,
                              {send_machines, send_count, recv_machines, recv_count, capacity,
                               "send_machines", "recv_machines"});
  });
}

bf_status bf_schedule_inner_outer_ring(int world_size, int local_size, int rank, int64_t step,
                                       int* send_ranks, int* send_count, int* recv_ranks,
                                       int* recv_count, int capacity) {
  return GuardedIn(__func__, [&] {
    return RunMachineSchedule(
        bluefog::InnerOuterRingSchedule, world_size, local_size, rank, step,
        {send_ranks, send_count, recv_ranks, recv_count, capacity, "send_ranks", "recv_ranks"});
  });
}

bf_status bf_schedule_inner_outer_exp2(int world_size, int local_size, int rank, int64_t step,
                                       int* send_ranks, int* send_count, int* recv_ranks,
                                       int* recv_count, int capacity) {
  return GuardedIn(__func__, [&] {
    return RunMachineSchedule(
        bluefog::InnerOuterExp2Schedule, world_size, local_size, rank, step,
        {send_ranks, send_count, recv_ranks, recv_count, capacity, "send_ranks", "recv_ranks"});
  });
}

}  // extern "C"

// SPDX-License-Identifier: Apache-2.0
// Dynamic schedules as pure functions of the step (see schedules.h). Python's `%` is a floored
// modulo and BlueFog's `int(np.log2(k))` a floor log2; both are written out in integers here.
#include "topology/schedules.h"

#include <bit>
#include <utility>

namespace bluefog {

namespace {

// Python's a % m for m > 0: always in [0, m).
int FlooredMod(int64_t value, int modulus) {
  const int64_t remainder = value % modulus;
  return static_cast<int>(remainder < 0 ? remainder + modulus : remainder);
}

// int(np.log2(value)) for value >= 1. Exact for every int, where log2 in doubles is exact too.
int FloorLog2(int value) {
  return static_cast<int>(std::bit_width(static_cast<unsigned>(value))) - 1;
}

Status CheckStep(int64_t step) {
  if (step < 0) return Error(BF_ERR_INVALID_ARGUMENT, "step ", step, " must be >= 0");
  return Status::Ok();
}

// The machine layout the three machine schedules share: `machines` machines of `local_size`
// consecutive ranks each.
struct MachineLayout {
  int local_size;
  int machines;
  int machine;     // this rank's machine id
  int local_rank;  // this rank's index inside its machine
};

Status MakeMachineLayout(int world_size, int local_size, int rank, int64_t step,
                         MachineLayout* layout) {
  if (world_size < 1) {
    return Error(BF_ERR_INVALID_ARGUMENT, "world_size ", world_size, " must be at least 1");
  }
  if (local_size < 1) {
    return Error(BF_ERR_INVALID_ARGUMENT, "local_size ", local_size, " must be at least 1");
  }
  if (world_size % local_size != 0) {
    return Error(BF_ERR_INVALID_ARGUMENT, "world_size ", world_size,
                 " is not a multiple of local_size ", local_size,
                 "; machine schedules need the same number of ranks on every machine");
  }
  if (rank < 0 || rank >= world_size) {
    return Error(BF_ERR_INVALID_ARGUMENT, "rank ", rank, " is out of range for world_size ",
                 world_size);
  }
  BF_RETURN_IF_ERROR(CheckStep(step));
  *layout =
      MachineLayout{local_size, world_size / local_size, rank / local_size, rank % local_size};
  return Status::Ok();
}

Status RequireTwoMachines(int world_size, int local_size) {
  if (world_size / local_size < 2) {
    return Error(BF_ERR_INVALID_ARGUMENT, "world_size ", world_size, " with local_size ",
                 local_size, " is a single machine; this schedule needs at least 2 machines");
  }
  return Status::Ok();
}

Status RequireLocalSizeAboveTwo(int local_size) {
  if (local_size <= 2) {
    return Error(BF_ERR_INVALID_ARGUMENT, "local_size ", local_size,
                 " is too small; this schedule needs local_size > 2");
  }
  return Status::Ok();
}

}  // namespace

OnePeerSchedule::OnePeerSchedule(const Topology& topology) : clockwise_targets_(topology.size()) {
  const int size = topology.size();
  for (int rank = 0; rank < size; ++rank) {
    // Walking rank+1, rank+2, ... (mod size) visits targets in clockwise order directly.
    for (int distance = 1; distance < size; ++distance) {
      const int target = (rank + distance) % size;
      if (topology.has_edge(rank, target)) clockwise_targets_[rank].push_back(target);
    }
  }
}

Status OnePeerSchedule::At(int rank, int64_t step, SendRecvLists* out) const {
  const int size = static_cast<int>(clockwise_targets_.size());
  if (rank < 0 || rank >= size) {
    return Error(BF_ERR_INVALID_ARGUMENT, "rank ", rank, " is out of range for size ", size);
  }
  BF_RETURN_IF_ERROR(CheckStep(step));
  SendRecvLists lists;
  const std::vector<int>& own_targets = clockwise_targets_[rank];
  if (!own_targets.empty()) {
    lists.send.push_back(own_targets[step % static_cast<int64_t>(own_targets.size())]);
  }
  for (int other = 0; other < size; ++other) {
    const std::vector<int>& targets = clockwise_targets_[other];
    if (other == rank || targets.empty()) continue;
    if (targets[step % static_cast<int64_t>(targets.size())] == rank) lists.recv.push_back(other);
  }
  *out = std::move(lists);
  return Status::Ok();
}

Status Exp2MachineSchedule(int world_size, int local_size, int rank, int64_t step,
                           SendRecvLists* out) {
  MachineLayout layout{};
  BF_RETURN_IF_ERROR(MakeMachineLayout(world_size, local_size, rank, step, &layout));
  BF_RETURN_IF_ERROR(RequireTwoMachines(world_size, local_size));
  const int exponents = FloorLog2(layout.machines - 1) + 1;
  const int distance = 1 << (step % exponents);
  *out = SendRecvLists{{FlooredMod(int64_t{layout.machine} + distance, layout.machines)},
                       {FlooredMod(int64_t{layout.machine} - distance, layout.machines)}};
  return Status::Ok();
}

Status InnerOuterRingSchedule(int world_size, int local_size, int rank, int64_t step,
                              SendRecvLists* out) {
  MachineLayout layout{};
  BF_RETURN_IF_ERROR(MakeMachineLayout(world_size, local_size, rank, step, &layout));
  BF_RETURN_IF_ERROR(RequireLocalSizeAboveTwo(local_size));
  const int local = layout.local_size;
  const int machine_base = layout.machine * local;
  const int outgoing = FlooredMod(step, local);  // the local rank that crosses machines this step
  SendRecvLists lists;
  if (outgoing == layout.local_rank) {
    if (layout.machines > 1) {
      lists.send.push_back(FlooredMod(layout.machine + 1, layout.machines) * local +
                           layout.local_rank);
      lists.recv.push_back(FlooredMod(layout.machine - 1, layout.machines) * local +
                           layout.local_rank);
    }
  } else {
    // The inner ring steps over the outgoing rank in both directions.
    int next = FlooredMod(layout.local_rank + 1, local);
    if (next == outgoing) next = FlooredMod(next + 1, local);
    int previous = FlooredMod(layout.local_rank - 1, local);
    if (previous == outgoing) previous = FlooredMod(previous - 1, local);
    lists.send.push_back(machine_base + next);
    lists.recv.push_back(machine_base + previous);
  }
  *out = std::move(lists);
  return Status::Ok();
}

Status InnerOuterExp2Schedule(int world_size, int local_size, int rank, int64_t step,
                              SendRecvLists* out) {
  MachineLayout layout{};
  BF_RETURN_IF_ERROR(MakeMachineLayout(world_size, local_size, rank, step, &layout));
  BF_RETURN_IF_ERROR(RequireLocalSizeAboveTwo(local_size));
  BF_RETURN_IF_ERROR(RequireTwoMachines(world_size, local_size));
  const int local = layout.local_size;
  const int outgoing = FlooredMod(step, local);
  SendRecvLists lists;
  if (outgoing == layout.local_rank) {
    const int outer_exponents = FloorLog2(layout.machines - 1) + 1;
    const int distance = 1 << (step % outer_exponents);
    lists.send.push_back(FlooredMod(int64_t{layout.machine} + distance, layout.machines) * local +
                         layout.local_rank);
    lists.recv.push_back(FlooredMod(int64_t{layout.machine} - distance, layout.machines) * local +
                         layout.local_rank);
  } else {
    // Hops of 2^e among the local_size - 1 ranks that stay inside: a hop that would reach or pass
    // the outgoing rank is lengthened by one to step over it.
    const int inner_exponents = FloorLog2(local - 2) + 1;
    const int hop = 1 << (step % inner_exponents);
    int send_hop = hop;
    if (send_hop >= FlooredMod(outgoing - layout.local_rank, local)) ++send_hop;
    int recv_hop = hop;
    if (recv_hop >= FlooredMod(layout.local_rank - outgoing, local)) ++recv_hop;
    const int machine_base = layout.machine * local;
    lists.send.push_back(machine_base + FlooredMod(layout.local_rank + send_hop, local));
    lists.recv.push_back(machine_base + FlooredMod(layout.local_rank - recv_hop, local));
  }
  *out = std::move(lists);
  return Status::Ok();
}

}  // namespace bluefog

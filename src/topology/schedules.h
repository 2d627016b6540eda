// SPDX-License-Identifier: Apache-2.0
// Dynamic neighbor schedules: BlueFog's send/receive generators (topology_util.py) rewritten as
// pure functions of the step, so any step can be computed directly and identically on every rank.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "topology/graph.h"

namespace bluefog {

// One step of a schedule: whom this rank sends to and receives from. Pair with uniform weights
// 1 / (recv.size() + 1).
struct SendRecvLists {
  std::vector<int> send;
  std::vector<int> recv;
};

// GetDynamicOnePeerSendRecvRanks. Every rank r cycles through its out-neighbors (self excluded)
// sorted by clockwise distance (j - r) mod size, one per step; a rank without out-neighbors sends
// nothing. Unlike BlueFog it does not assume self-loops. Building the plan costs O(size^2); each
// step then costs O(size).
class OnePeerSchedule {
 public:
  explicit OnePeerSchedule(const Topology& topology);

  // BF_ERR_INVALID_ARGUMENT for a rank out of range or a negative step.
  Status At(int rank, int64_t step, SendRecvLists* out) const;

 private:
  // clockwise_targets_[r]: r's out-neighbors in the order r visits them.
  std::vector<std::vector<int>> clockwise_targets_;
};

// GetExp2DynamicSendRecvMachineRanks: machine ids, not ranks. Machine m sends to m + 2^e and
// receives from m - 2^e, e cycling through 0..floor(log2(machines - 1)). Needs
// world_size % local_size == 0 and at least two machines.
Status Exp2MachineSchedule(int world_size, int local_size, int rank, int64_t step,
                           SendRecvLists* out);

// GetInnerOuterRingDynamicSendRecvRanks: at step t local rank t % local_size of every machine talks
// to the same local rank of the next/previous machine; the others form a ring inside the machine
// that skips it. Needs world_size % local_size == 0 and local_size > 2. With a single machine the
// outgoing rank has no partner and gets empty lists (BlueFog would have it send to itself).
Status InnerOuterRingSchedule(int world_size, int local_size, int rank, int64_t step,
                              SendRecvLists* out);

// GetInnerOuterExpo2DynamicSendRecvRanks: as the ring schedule, but hops of 2^e both across
// machines and inside a machine (skipping the outgoing rank). Needs world_size % local_size == 0,
// local_size > 2 and at least two machines.
Status InnerOuterExp2Schedule(int world_size, int local_size, int rank, int64_t step,
                              SendRecvLists* out);

}  // namespace bluefog

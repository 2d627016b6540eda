// SPDX-License-Identifier: Apache-2.0
// What the engine runs: global operations run to completion on the backend once every rank has
// reached them; neighbor operations start (post their sends) and are then finished step by step
// as their messages arrive.
#pragma once

#include <span>
#include <vector>

#include "backend/backend.h"
#include "backend/mpi/mpi_backend.h"
#include "core/op.h"
#include "device/device_comm.h"

namespace bluefog {

// Global ops (ops/collective.cc): allreduce, broadcast, allgather, barrier, set_topology.
Status RunGlobalOp(Op& op, Backend& backend);
// Allreduce ops with the same dtype, reduce op and group, as one reduction over a fusion buffer.
// Callers must have established that every rank runs the same group (see AgreeOnValue).
Status RunFusedAllreduce(std::span<Op* const> ops, Backend& backend);
// What fuses with what: ops with equal keys (allreduce only; 0 for everything else).
uint64_t AllreduceFusionKey(const Op& op);

// Neighbor ops (ops/neighbor.cc). Starts them together: messages from several ops to the same
// destination are fused into one when their payloads total at most fusion_threshold_bytes.
Status StartNeighborOps(std::span<Op* const> ops, Backend& backend, size_t fusion_threshold_bytes);
Status StartNeighborOp(Op& op, Backend& backend);
// Tests the sends of `op`'s batch (shared by every op started with it) unless they have left.
// Each test drives the transport's progress engine, so callers polling many ops of one batch
// test it once per pass rather than once per op.
Status TestNeighborSends(Op& op);
// *arrived once every source's message has arrived and the op's sends have left (as last seen by
// TestNeighborSends, which this does not call).
Status PollNeighborOp(Op& op, Backend& backend, bool* arrived);
// After PollNeighborOp: checks every header, then combines (allreduce) or gathers.
Status CompleteNeighborOp(Op& op, Backend& backend);
// Dynamic plans with check_topology: a global check that sends and receives pair up. Collective.
Status CheckTopologyConsistency(Op& op, Backend& backend);
// Runs a neighbor op to completion from inside a global op (the machine roots' exchange of
// hierarchical ops), keeping the mailbox moving while it waits.
Status RunNeighborOpBlocking(Op& op, Backend& backend);
// Sources whose message has not arrived yet (for the stall watchdog).
std::vector<int> MissingSources(const Op& op);

// Ops on GPU tensors left on the device (ops/device_ops.cc): agreed on by every rank, then
// queued on the device communicator of their group, created by the group's first such op.
// On success the op's stage holds the event of its work (phase kCopyingOut).
struct DeviceComms {
  std::unique_ptr<DeviceCommunicator> world;
  std::unique_ptr<DeviceCommunicator> machine;
};
Status RunOnDevice(Op& op, MpiBackend& backend, DeviceComms* comms);
// neighbor_allreduce, (world) allreduce and broadcast ops on the device that became ready
// together: one launch of their collectives and transfers (NCCL's grouping in place of a fusion buffer), then
// each neighbor op's combine. The caller has agreed with every rank on the group, through each
// member's DeviceGroupFact. *ran false (and nothing queued) when the ranks cannot run it so (the
// communicator is not set up yet, or on another device): run each with RunOnDevice.
bool GroupsOnDevice(const Op& op);
// What every rank must agree on before `op` joins a device group: 0 for an op that does not
// group, else a hash of its descriptor and of whether this rank's communicator can run it.
uint64_t DeviceGroupFact(const Op& op, const DeviceComms& comms);
Status RunGroupOnDevice(std::span<Op* const> ops, DeviceComms* comms, bool* ran);

}  // namespace bluefog

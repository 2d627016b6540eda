// SPDX-License-Identifier: Apache-2.0
// Operations on GPU tensors that run on the device communicator (device/device_comm.h): queued
// on its stream behind the caller's stream mark, completed by the engine when its event is done.
#include <chrono>
#include <cstddef>
#include <vector>

#include "device/device_comm.h"
#include "device/staging.h"
#include "ops/agreement.h"
#include "ops/execute.h"

namespace bluefog {

namespace {

// neighbor_allreduce in two halves, so that several ops can share one group of transfers:
// Prepare queues the per-destination scaling and lists the op's transfers (receives go to
// scratch slots, one per source); Combine queues out = self_weight * in + the weighted slots.
// `slots` slots of `slot_bytes` each in the op's scratch memory (released when the op is done).
Status AcquireSlots(Op& op, DeviceCommunicator& comm, size_t slots, size_t slot_bytes,
                    std::byte** first) {
  *first = nullptr;
  if (slots == 0) return Status::Ok();
  BF_RETURN_IF_ERROR(comm.AcquireScratch(slots * slot_bytes, &op.stage->scratch));
  *first = static_cast<std::byte*>(op.stage->scratch);
  return Status::Ok();
}

struct NeighborTransfers {
  std::vector<DeviceTransfer> sends;
  std::vector<DeviceTransfer> receives;
  std::vector<const void*> sources;  // the receive slots, in src_ranks order
};

Status PrepareNeighborAllreduce(Op& op, DeviceCommunicator& comm, NeighborTransfers* out) {
  const NeighborPlan& plan = op.neighbor;
  const DType dtype = op.in.dtype;
  const size_t count = static_cast<size_t>(op.in.num_elements);
  const size_t bytes = op.in.num_bytes();
  auto dst_weight = [&](size_t k) {
    return k < plan.dst_weights.size() ? plan.dst_weights[k] : 1.0;
  };
  size_t slots = plan.src_ranks.size();
  for (size_t k = 0; k < plan.dst_ranks.size(); ++k) slots += dst_weight(k) != 1.0 ? 1 : 0;
  const size_t slot_bytes = AlignFused(bytes);
  std::byte* scratch = nullptr;
  BF_RETURN_IF_ERROR(AcquireSlots(op, comm, slots, slot_bytes, &scratch));
  for (size_t k = 0; k < plan.dst_ranks.size(); ++k) {
    void* data = op.in.data;
    if (dst_weight(k) != 1.0) {
      data = scratch;
      scratch += slot_bytes;
      BF_RETURN_IF_ERROR(comm.Scale(dtype, data, op.in.data, dst_weight(k), count));
    }
    out->sends.push_back({plan.dst_ranks[k], data, bytes});
  }
  for (int source : plan.src_ranks) {
    out->receives.push_back({source, scratch, bytes});
    out->sources.push_back(scratch);
    scratch += slot_bytes;
  }
  return Status::Ok();
}

Status CombineNeighborAllreduce(Op& op, DeviceCommunicator& comm,
                                const NeighborTransfers& transfers) {
  return comm.WeightedCombine(op.in.dtype, op.out.data, op.in.data, op.neighbor.self_weight,
                              transfers.sources, op.neighbor.src_weights,
                              static_cast<size_t>(op.in.num_elements));
}

Status QueueNeighborAllreduce(Op& op, DeviceCommunicator& comm) {
  NeighborTransfers transfers;
  BF_RETURN_IF_ERROR(PrepareNeighborAllreduce(op, comm, &transfers));
  BF_RETURN_IF_ERROR(comm.Exchange(transfers.sends, transfers.receives));
  return CombineNeighborAllreduce(op, comm, transfers);
}

// The op's device work is queued: what the engine polls from here on.
Status MarkQueued(Op& op, DeviceCommunicator& comm) {
  DeviceStage& stage = *op.stage;
  BF_RETURN_IF_ERROR(comm.Record(&stage.copied));
  stage.phase = DeviceStage::Phase::kCopyingOut;  // the device's work is in flight
  stage.copy_started = std::chrono::steady_clock::now();
  return Status::Ok();
}

// hierarchical_neighbor_allreduce, all on the world communicator (no second stream to order
// against): each machine's ranks send `in` to its root (local rank 0, world rank m * L), which
// sums them; the roots exchange their sums over the machine plan as neighbor_allreduce does,
// dividing by L in the same combine; each root sends the result back to its machine.
Status QueueHierarchical(Op& op, DeviceCommunicator& comm, int local_rank, int local_size) {
  const NeighborPlan& plan = op.neighbor;
  const DType dtype = op.in.dtype;
  const size_t count = static_cast<size_t>(op.in.num_elements);
  const size_t bytes = op.in.num_bytes();
  const int root = comm.rank() - local_rank;
  const bool is_root = local_rank == 0;
  auto dst_weight = [&](size_t k) {
    return k < plan.dst_weights.size() ? plan.dst_weights[k] : 1.0;
  };
  size_t slots = 0;
  if (is_root) {
    slots = static_cast<size_t>(local_size - 1) + plan.src_ranks.size();
    for (size_t k = 0; k < plan.dst_ranks.size(); ++k) slots += dst_weight(k) != 1.0 ? 1 : 0;
  }
  const size_t slot_bytes = AlignFused(bytes);
  std::byte* scratch = nullptr;
  BF_RETURN_IF_ERROR(AcquireSlots(op, comm, slots, slot_bytes, &scratch));
  auto next_slot = [&] {
    std::byte* slot = scratch;
    scratch += slot_bytes;
    return slot;
  };
  if (!is_root) {
    const DeviceTransfer to_root{root, op.in.data, bytes};
    BF_RETURN_IF_ERROR(comm.Exchange({&to_root, 1}, {}));
    const DeviceTransfer from_root{root, op.out.data, bytes};
    return comm.Exchange({}, {&from_root, 1});
  }
  // The machine's sum, into out.
  std::vector<DeviceTransfer> receives;
  std::vector<const void*> parts;
  for (int peer = root + 1; peer < root + local_size; ++peer) {
    receives.push_back({peer, next_slot(), bytes});
    parts.push_back(receives.back().data);
  }
  BF_RETURN_IF_ERROR(comm.Exchange({}, receives));
  const std::vector<double> ones(parts.size(), 1.0);
  BF_RETURN_IF_ERROR(comm.WeightedCombine(dtype, op.out.data, op.in.data, 1.0, parts, ones, count));
  // The roots' exchange of machine sums (machine m's root is world rank m * L).
  std::vector<DeviceTransfer> sends;
  for (size_t k = 0; k < plan.dst_ranks.size(); ++k) {
    void* data = op.out.data;
    if (dst_weight(k) != 1.0) {
      data = next_slot();
      BF_RETURN_IF_ERROR(comm.Scale(dtype, data, op.out.data, dst_weight(k), count));
    }
    sends.push_back({plan.dst_ranks[k] * local_size, data, bytes});
  }
  receives.clear();
  std::vector<const void*> sources;
  std::vector<double> weights;
  for (size_t k = 0; k < plan.src_ranks.size(); ++k) {
    receives.push_back({plan.src_ranks[k] * local_size, next_slot(), bytes});
    sources.push_back(receives.back().data);
    weights.push_back(plan.src_weights[k] / local_size);
  }
  BF_RETURN_IF_ERROR(comm.Exchange(sends, receives));
  BF_RETURN_IF_ERROR(comm.WeightedCombine(dtype, op.out.data, op.out.data,
                                          plan.self_weight / local_size, sources, weights, count));
  // Back to the machine.
  sends.clear();
  for (int peer = root + 1; peer < root + local_size; ++peer) {
    sends.push_back({peer, op.out.data, bytes});
  }
  return comm.Exchange(sends, {});
}

// Gathers: the result goes into device memory allocated here for the rows every rank contributes
// (`all`: each rank's agreed descriptor); the stage hands it to the caller once the work is done.
Status QueueGather(Op& op, DeviceCommunicator& comm, const std::vector<OpDescriptor>& all) {
  DeviceStage& stage = *op.stage;
  const size_t row_bytes = static_cast<size_t>(op.in.row_elements()) * ElementSize(op.in.dtype);
  auto bytes_of = [&](int rank) { return static_cast<size_t>(all[rank].rows) * row_bytes; };
  std::vector<int> contributors;  // in the order of the result
  if (op.kind == OpKind::kAllgather) {
    for (int rank = 0; rank < static_cast<int>(all.size()); ++rank) contributors.push_back(rank);
  } else {
    contributors = op.neighbor.src_ranks;
  }
  int64_t total_rows = 0;
  size_t total_bytes = 0;
  for (int rank : contributors) {
    total_rows += all[rank].rows;
    total_bytes += bytes_of(rank);
  }
  stage.result_shape = op.in.shape;
  stage.result_shape[0] = total_rows;
  BF_RETURN_IF_ERROR(Devices().AllocateDevice(stage.device, total_bytes, &stage.device_result));
  if (op.kind == OpKind::kAllgather) {
    std::vector<size_t> bytes_per_rank;
    for (int rank : contributors) bytes_per_rank.push_back(bytes_of(rank));
    return comm.Allgatherv(op.in.data, stage.device_result, bytes_per_rank);
  }
  std::vector<DeviceTransfer> sends, receives;
  for (int destination : op.neighbor.dst_ranks) {
    sends.push_back({destination, op.in.data, op.in.num_bytes()});
  }
  auto* cursor = static_cast<std::byte*>(stage.device_result);
  for (int source : contributors) {
    receives.push_back({source, cursor, bytes_of(source)});
    cursor += bytes_of(source);
  }
  return comm.Exchange(sends, receives);
}

}  // namespace

Status RunOnDevice(Op& op, MpiBackend& backend, DeviceComms* comms) {
  DeviceStage& stage = *op.stage;
  const Group group =
      op.kind == OpKind::kAllreduce && op.machine_local ? Group::kMachine : Group::kWorld;
  std::unique_ptr<DeviceCommunicator>& comm =
      group == Group::kWorld ? comms->world : comms->machine;
  // A rank that cannot run the op joins the agreement as invalid, so that every rank fails
  // instead of the others waiting in the device communicator for it.
  Status usable;
  if (comm && comm->device() != stage.device) {
    usable = Error(BF_ERR_UNSUPPORTED, OpKindName(op.kind), " '", op.name, "' on rank ",
                   backend.rank(Group::kWorld), " has its tensors on CUDA device ", stage.device,
                   ", but this rank's device communicator (", comm->name(),
                   ") was set up on device ", comm->device(),
                   " by its first operation; a rank uses one device");
  }
  const bool gather = op.kind == OpKind::kAllgather || op.kind == OpKind::kNeighborAllgather;
  OpDescriptor descriptor = OpDescriptor::For(op);
  if (op.kind == OpKind::kNeighborAllgather) {
    // Described as an allgather's (rows may differ; the rest must agree): receivers size their
    // slots from the rows every rank reports here, where the host path reads message headers.
    descriptor.elements = op.in.row_elements();
    descriptor.rows = op.in.shape.empty() ? 1 : op.in.shape[0];
    descriptor.flags = static_cast<int64_t>(op.in.shape.size());
  }
  if (!usable.ok()) descriptor.dtype = OpDescriptor::kInvalidArguments;
  std::vector<OpDescriptor> all;
  Status agreed = gather ? AgreeAndGather(backend, descriptor, Group::kWorld, &all)
                         : AgreeOnOp(backend, descriptor, Group::kWorld);
  BF_RETURN_IF_ERROR(usable);
  BF_RETURN_IF_ERROR(agreed);
  const bool neighbor =
      op.kind == OpKind::kNeighborAllreduce || op.kind == OpKind::kNeighborAllgather;
  if (neighbor && op.neighbor.dynamic && op.neighbor.check_topology) {
    BF_RETURN_IF_ERROR(CheckTopologyConsistency(op, backend));
  }
  // Set up at the first op of the group, which every rank reaches at the same point.
  if (!comm) BF_RETURN_IF_ERROR(CreateDeviceCommunicator(backend, group, stage.device, &comm));

  stage.comm = comm.get();
  BF_RETURN_IF_ERROR(comm->WaitFor(stage.issued));
  switch (op.kind) {
    case OpKind::kAllreduce:
      BF_RETURN_IF_ERROR(comm->Allreduce(op.in.data, op.out.data, op.in.num_elements,
                                         op.in.dtype, op.reduce_op == BF_REDUCE_AVERAGE));
      break;
    case OpKind::kBroadcast:
      BF_RETURN_IF_ERROR(
          comm->Broadcast(op.in.data, op.out.data, op.in.num_bytes(), op.root_or_peer));
      break;
    case OpKind::kNeighborAllreduce:
      BF_RETURN_IF_ERROR(QueueNeighborAllreduce(op, *comm));
      break;
    case OpKind::kAllgather:
    case OpKind::kNeighborAllgather:
      BF_RETURN_IF_ERROR(QueueGather(op, *comm, all));
      break;
    case OpKind::kHierarchicalNeighborAllreduce:
      BF_RETURN_IF_ERROR(QueueHierarchical(op, *comm, backend.rank(Group::kMachine),
                                           backend.size(Group::kMachine)));
      break;
    default:
      return Error(BF_ERR_INTERNAL, OpKindName(op.kind), " does not run on the device communicator");
  }
  return MarkQueued(op, *comm);
}

bool GroupsOnDevice(const Op& op) {
  if (!op.stage || !op.stage->direct || !op.invalid_reason.empty()) return false;
  if (op.kind == OpKind::kAllreduce) return !op.machine_local;  // the world communicator's
  if (op.kind == OpKind::kBroadcast) return true;
  return op.kind == OpKind::kNeighborAllreduce &&
         !(op.neighbor.dynamic && op.neighbor.check_topology);
}

uint64_t DeviceGroupFact(const Op& op, const DeviceComms& comms) {
  if (!GroupsOnDevice(op)) return 0;
  const bool runnable = comms.world && comms.world->device() == op.stage->device;
  const OpDescriptor descriptor = OpDescriptor::For(op);
  uint64_t fact = 1469598103934665603ull;
  for (int64_t part : {descriptor.kind, descriptor.name_hash, descriptor.dtype,
                       descriptor.elements, descriptor.root, descriptor.flags,
                       int64_t{runnable ? 1 : 2}}) {
    fact = (fact ^ static_cast<uint64_t>(part)) * 1099511628211ull;
  }
  return fact;
}

Status RunGroupOnDevice(std::span<Op* const> ops, DeviceComms* comms, bool* ran) {
  *ran = false;
  DeviceCommunicator* comm = comms->world.get();
  for (const Op* op : ops) {
    if (!comm || comm->device() != op->stage->device) return Status::Ok();  // as every rank
  }
  *ran = true;
  std::vector<NeighborTransfers> transfers(ops.size());
  NeighborTransfers all;
  for (size_t k = 0; k < ops.size(); ++k) {
    Op& op = *ops[k];
    op.stage->comm = comm;
    BF_RETURN_IF_ERROR(comm->WaitFor(op.stage->issued));
    if (op.kind != OpKind::kNeighborAllreduce) continue;
    BF_RETURN_IF_ERROR(PrepareNeighborAllreduce(op, *comm, &transfers[k]));
    all.sends.insert(all.sends.end(), transfers[k].sends.begin(), transfers[k].sends.end());
    all.receives.insert(all.receives.end(), transfers[k].receives.begin(),
                        transfers[k].receives.end());
  }
  // The collectives and every transfer launch together (no kernel in between: the scaling
  // came before, the combines come after). Several transfers between one pair match in posting
  // order, the same on both sides.
  BF_RETURN_IF_ERROR(comm->BeginGroup());
  Status posted;
  for (Op* op : ops) {
    if (!posted.ok()) break;
    if (op->kind == OpKind::kAllreduce) {
      posted = comm->Allreduce(op->in.data, op->out.data, op->in.num_elements, op->in.dtype,
                               op->reduce_op == BF_REDUCE_AVERAGE);
    } else if (op->kind == OpKind::kBroadcast) {
      posted = comm->Broadcast(op->in.data, op->out.data, op->in.num_bytes(), op->root_or_peer);
    }
  }
  if (posted.ok()) posted = comm->Exchange(all.sends, all.receives);
  const Status ended = comm->EndGroup();  // every begun group is ended
  BF_RETURN_IF_ERROR(posted);
  BF_RETURN_IF_ERROR(ended);
  for (size_t k = 0; k < ops.size(); ++k) {
    if (ops[k]->kind == OpKind::kNeighborAllreduce) {
      BF_RETURN_IF_ERROR(CombineNeighborAllreduce(*ops[k], *comm, transfers[k]));
    }
    BF_RETURN_IF_ERROR(MarkQueued(*ops[k], *comm));
  }
  return Status::Ok();
}

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Global collectives: allreduce, broadcast, allgather, barrier and the set-topology agreement.
// Each first agrees on the op across ranks, so MPI only ever sees matching collectives.
#include <cstring>

#include "core/managed_tensor.h"
#include "device/staging.h"
#include "ops/agreement.h"
#include "ops/combine.h"
#include "ops/execute.h"
#include "topology/graph.h"

namespace bluefog {

namespace {

void CopyIfDistinct(const TensorRef& in, const TensorRef& out) {
  if (!SameMemory(in, out) && in.num_bytes() > 0) std::memcpy(out.data, in.data, in.num_bytes());
}

}  // namespace

Status RunAllreduce(Op& op, Backend& backend) {
  if (!SynchronizesAlone(op)) {
    BF_RETURN_IF_ERROR(AgreeOnOp(backend, OpDescriptor::For(op), Group::kWorld));
  }
  const Group group = op.machine_local ? Group::kMachine : Group::kWorld;
  const void* in = SameMemory(op.in, op.out) ? op.out.data : op.in.data;
  BF_RETURN_IF_ERROR(
      backend.AllreduceSum(in, op.out.data, op.out.num_elements, op.out.dtype, group));
  const int ranks = backend.size(group);
  if (op.reduce_op == BF_REDUCE_AVERAGE && ranks > 1) {
    if (op.stage && op.stage->mpi_direct) {
      op.stage->scale = 1.0 / ranks;  // the result is device memory: a kernel divides it
    } else {
      Scale(op.out.dtype, op.out.data, op.out.data, 1.0 / ranks,
            static_cast<size_t>(op.out.num_elements));
    }
  }
  return Status::Ok();
}

uint64_t AllreduceFusionKey(const Op& op) {
  // Ops left on the device (for the device communicator or CUDA-aware MPI) never go through a
  // host fusion buffer.
  if (op.kind != OpKind::kAllreduce || !op.invalid_reason.empty()) return 0;
  if (op.stage && (op.stage->direct || op.stage->mpi_direct)) return 0;
  return 1 + (static_cast<uint64_t>(op.in.dtype) << 8 | static_cast<uint64_t>(op.reduce_op) << 4 |
              (op.machine_local ? 1u : 0u));
}

Status RunFusedAllreduce(std::span<Op* const> ops, Backend& backend) {
  const Op& first = *ops.front();
  const size_t element_size = ElementSize(first.in.dtype);
  int64_t total = 0;
  for (const Op* op : ops) total += op->in.num_elements;
  // Engine thread only; reused so steady training steps allocate nothing.
  static thread_local std::vector<std::byte> fusion_buffer;
  fusion_buffer.resize(static_cast<size_t>(total) * element_size);
  std::byte* cursor = fusion_buffer.data();
  for (const Op* op : ops) {
    if (op->in.num_bytes()) std::memcpy(cursor, op->in.data, op->in.num_bytes());
    cursor += op->in.num_bytes();
  }
  const Group group = first.machine_local ? Group::kMachine : Group::kWorld;
  BF_RETURN_IF_ERROR(backend.AllreduceSum(fusion_buffer.data(), fusion_buffer.data(), total,
                                          first.in.dtype, group));
  const int ranks = backend.size(group);
  cursor = fusion_buffer.data();
  for (const Op* op : ops) {
    if (first.reduce_op == BF_REDUCE_AVERAGE && ranks > 1) {
      Scale(op->out.dtype, op->out.data, cursor, 1.0 / ranks,
            static_cast<size_t>(op->out.num_elements));
    } else if (op->out.num_bytes()) {
      std::memcpy(op->out.data, cursor, op->out.num_bytes());
    }
    cursor += op->in.num_bytes();
  }
  return Status::Ok();
}

Status RunBroadcast(Op& op, Backend& backend) {
  if (!SynchronizesAlone(op)) {
    BF_RETURN_IF_ERROR(AgreeOnOp(backend, OpDescriptor::For(op), Group::kWorld));
  }
  if (backend.rank(Group::kWorld) == op.root_or_peer) CopyIfDistinct(op.in, op.out);
  return backend.Broadcast(op.out.data, op.out.num_bytes(), op.root_or_peer, Group::kWorld);
}

Status RunAllgather(Op& op, Backend& backend) {
  std::vector<OpDescriptor> all;
  if (SynchronizesAlone(op)) {
    all.assign(static_cast<size_t>(backend.size(Group::kWorld)), OpDescriptor::For(op));
  } else {
    BF_RETURN_IF_ERROR(AgreeAndGather(backend, OpDescriptor::For(op), Group::kWorld, &all));
  }
  const size_t row_bytes = static_cast<size_t>(op.in.row_elements()) * ElementSize(op.in.dtype);
  std::vector<int64_t> bytes_per_rank(all.size());
  int64_t total_rows = 0;
  for (size_t r = 0; r < all.size(); ++r) {
    bytes_per_rank[r] = all[r].rows * static_cast<int64_t>(row_bytes);
    total_rows += all[r].rows;
  }
  std::vector<int64_t> shape = op.in.shape;
  shape[0] = total_rows;
  DLManagedTensor* result = nullptr;
  BF_RETURN_IF_ERROR(NewGatherResult(op, shape, &result));
  Status status = backend.Allgatherv(op.in.data, op.in.num_bytes(), result->dl_tensor.data,
                                     bytes_per_rank, Group::kWorld);
  if (!status.ok()) {
    result->deleter(result);
    return status;
  }
  *op.managed_out = result;
  return Status::Ok();
}

Status RunBarrier(Op& op, Backend& backend) {
  // The agreement is itself a synchronization of every rank; so was a negotiation round that
  // found every rank's barrier alike (it made the barrier ready only once every rank had posted
  // it).
  if (SynchronizesAlone(op)) return Status::Ok();
  return AgreeOnOp(backend, OpDescriptor::For(op), Group::kWorld);
}

namespace {

// Every rank learns whether any rank's arguments were invalid, and which: all of them fail.
Status FailIfAnyRankInvalid(const Op& op, Backend& backend) {
  int64_t any_invalid = op.invalid_reason.empty() ? 0 : 1;
  BF_RETURN_IF_ERROR(backend.AllreduceMax(&any_invalid, 1, Group::kWorld));
  if (!any_invalid) return Status::Ok();
  const int size = backend.size(Group::kWorld);
  const uint8_t mine = op.invalid_reason.empty() ? 0 : 1;
  std::vector<uint8_t> flags(static_cast<size_t>(size));
  BF_RETURN_IF_ERROR(backend.AllgatherFixed(&mine, 1, flags.data(), Group::kWorld));
  if (mine) return InvalidArgument(op.invalid_reason);
  std::string ranks;
  for (int r = 0; r < size; ++r) {
    if (flags[r]) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
  }
  return Error(BF_ERR_INVALID_ARGUMENT, "bf_", OpKindName(op.kind), ": rank(s) ", ranks,
               " passed invalid arguments, so the collective call fails on every rank");
}

}  // namespace

Status RunInferTopology(Op& op, Backend& backend) {
  BF_RETURN_IF_ERROR(FailIfAnyRankInvalid(op, backend));
  OpDescriptor descriptor = OpDescriptor::For(op);
  descriptor.flags = op.listed_are_destinations ? 1 : 0;  // every rank must use one convention
  BF_RETURN_IF_ERROR(AgreeOnOp(backend, descriptor, Group::kWorld));
  const int size = backend.size(Group::kWorld);
  std::vector<uint8_t> mine(static_cast<size_t>(size), 0);
  for (int r : op.listed_ranks) mine[r] = 1;
  std::vector<uint8_t> all(mine.size() * size);
  BF_RETURN_IF_ERROR(backend.AllgatherFixed(mine.data(), mine.size(), all.data(), Group::kWorld));
  // edge[i][j]: i sends to j.
  auto edge = [&](int i, int j) {
    return op.listed_are_destinations ? all[i * size + j] != 0 : all[j * size + i] != 0;
  };
  std::vector<double> weights(static_cast<size_t>(size) * size, 0.0);
  for (int j = 0; j < size; ++j) {
    int in_degree = 0;
    for (int i = 0; i < size; ++i) in_degree += (i != j && edge(i, j)) ? 1 : 0;
    const double uniform = 1.0 / (in_degree + 1);
    weights[j * size + j] = uniform;
    for (int i = 0; i < size; ++i) {
      if (i != j && edge(i, j)) weights[i * size + j] = uniform;
    }
  }
  Topology graph;
  BF_RETURN_IF_ERROR(Topology::FromMatrix(size, weights, &graph));
  *op.inferred_out = std::make_shared<const Topology>(std::move(graph));
  return Status::Ok();
}

Status RunSetTopology(Op& op, Backend& backend) {
  OpDescriptor descriptor = OpDescriptor::For(op);
  descriptor.elements = static_cast<int64_t>(op.topology->fingerprint());
  descriptor.flags = op.topology_weighted ? 1 : 0;
  Status status = AgreeOnOp(backend, descriptor, Group::kWorld);
  if (status.code() == BF_ERR_MISMATCH) {
    return Status(BF_ERR_MISMATCH, std::string("bf_") + OpKindName(op.kind) +
                                       ": ranks passed different topologies or weighted flags (" +
                                       status.message() + ")");
  }
  return status;
}

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// hierarchical_neighbor_allreduce: sum within each machine, neighbor-average the machine sums
// between machines' local rank 0 over the machine topology, then share the result within the
// machine. For machine m with sum S_m and local size L:
//   out = (self_weight * S_m + sum_{j in src} src_weight[j] * dst_weight_j[m] * S_j) / L
#include <cstring>

#include "ops/agreement.h"
#include "ops/combine.h"
#include "ops/execute.h"

namespace bluefog {

Status RunHierarchicalNeighborAllreduce(Op& op, Backend& backend) {
  BF_RETURN_IF_ERROR(AgreeOnOp(backend, OpDescriptor::For(op), Group::kWorld));
  BF_RETURN_IF_ERROR(backend.AllreduceSum(op.in.data, op.out.data, op.out.num_elements,
                                          op.out.dtype, Group::kMachine));
  const int local_size = backend.size(Group::kMachine);
  if (backend.rank(Group::kMachine) == 0) {
    // The roots exchange machine sums; machine m's root is world rank m * local_size.
    Op exchange;
    exchange.kind = op.kind;
    exchange.name = op.name;
    exchange.in = op.out;
    exchange.out = op.out;
    exchange.neighbor = op.neighbor;
    for (int& machine : exchange.neighbor.src_ranks) machine *= local_size;
    for (int& machine : exchange.neighbor.dst_ranks) machine *= local_size;
    BF_RETURN_IF_ERROR(RunNeighborOpBlocking(exchange, backend));
    Scale(op.out.dtype, op.out.data, op.out.data, 1.0 / local_size,
          static_cast<size_t>(op.out.num_elements));
  }
  return backend.Broadcast(op.out.data, op.out.num_bytes(), 0, Group::kMachine);
}

}  // namespace bluefog

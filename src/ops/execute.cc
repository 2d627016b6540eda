// SPDX-License-Identifier: Apache-2.0
// Dispatch from a global op's kind to the function that runs it.
#include "ops/execute.h"

namespace bluefog {

Status RunAllreduce(Op& op, Backend& backend);
Status RunBroadcast(Op& op, Backend& backend);
Status RunAllgather(Op& op, Backend& backend);
Status RunBarrier(Op& op, Backend& backend);
Status RunSetTopology(Op& op, Backend& backend);
Status RunHierarchicalNeighborAllreduce(Op& op, Backend& backend);
Status RunInferTopology(Op& op, Backend& backend);

Status RunGlobalOp(Op& op, Backend& backend) {
  switch (op.kind) {
    case OpKind::kAllreduce: return RunAllreduce(op, backend);
    case OpKind::kBroadcast: return RunBroadcast(op, backend);
    case OpKind::kAllgather: return RunAllgather(op, backend);
    case OpKind::kBarrier: return RunBarrier(op, backend);
    case OpKind::kSetTopology:
    case OpKind::kSetMachineTopology: return RunSetTopology(op, backend);
    case OpKind::kHierarchicalNeighborAllreduce: return RunHierarchicalNeighborAllreduce(op, backend);
    case OpKind::kInferTopology: return RunInferTopology(op, backend);
    default: break;
  }
  return Error(BF_ERR_INTERNAL, OpKindName(op.kind), " is not a global operation");
}

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Dispatch from op kind to the function that runs it.
#include "ops/execute.h"

namespace bluefog {

Status ExecuteOp(Op& op, Backend& backend, const ProcessLayout& /*layout*/) {
  switch (op.kind) {
    case OpKind::kAllreduce: return RunAllreduce(op, backend);
    case OpKind::kBroadcast: return RunBroadcast(op, backend);
    case OpKind::kAllgather: return RunAllgather(op, backend);
    case OpKind::kBarrier: return RunBarrier(op, backend);
    case OpKind::kNeighborAllreduce: return RunNeighborAllreduce(op, backend);
    case OpKind::kNeighborAllgather: return RunNeighborAllgather(op, backend);
    case OpKind::kPairGossip: return RunPairGossip(op, backend);
    case OpKind::kSetTopology: return RunSetTopology(op, backend);
  }
  return Status(BF_ERR_INTERNAL, "unknown op kind");
}

}  // namespace bluefog

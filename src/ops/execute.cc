// SPDX-License-Identifier: Apache-2.0
// Dispatch from a global op's kind to the function that runs it.
#include "ops/execute.h"

#include "ops/agreement.h"

namespace bluefog {

Status RunAllreduce(Op& op, Backend& backend);
Status RunBroadcast(Op& op, Backend& backend);
Status RunAllgather(Op& op, Backend& backend);
Status RunBarrier(Op& op, Backend& backend);
Status RunSetTopology(Op& op, Backend& backend);
Status RunHierarchicalNeighborAllreduce(Op& op, Backend& backend);
Status RunInferTopology(Op& op, Backend& backend);

namespace {

// A placeholder for arguments that failed validation here: it joins the same agreement the real
// op would (so the collectives line up), which fails on every rank; it never touches data.
Status RunInvalidPlaceholder(Op& op, Backend& backend) {
  const OpDescriptor descriptor = OpDescriptor::For(op);
  Status agreed;
  if (op.kind == OpKind::kAllgather) {
    std::vector<OpDescriptor> all;
    agreed = AgreeAndGather(backend, descriptor, Group::kWorld, &all);
  } else {
    agreed = AgreeOnOp(backend, descriptor, Group::kWorld);
  }
  return agreed.ok() ? InvalidArgument(op.invalid_reason) : agreed;
}

}  // namespace

Status RunGlobalOp(Op& op, Backend& backend) {
  if (!op.invalid_reason.empty() && op.kind != OpKind::kInferTopology) {
    return RunInvalidPlaceholder(op, backend);
  }
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

// SPDX-License-Identifier: Apache-2.0
// Op kind names and the name hash carried in wire headers and descriptors.
#include "core/op.h"

namespace bluefog {

const char* OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kAllreduce: return "allreduce";
    case OpKind::kBroadcast: return "broadcast";
    case OpKind::kAllgather: return "allgather";
    case OpKind::kBarrier: return "barrier";
    case OpKind::kNeighborAllreduce: return "neighbor_allreduce";
    case OpKind::kNeighborAllgather: return "neighbor_allgather";
    case OpKind::kPairGossip: return "pair_gossip";
    case OpKind::kSetTopology: return "set_topology";
    case OpKind::kHierarchicalNeighborAllreduce: return "hierarchical_neighbor_allreduce";
    case OpKind::kSetMachineTopology: return "set_machine_topology";
    case OpKind::kInferTopology: return "infer_topology";
    case OpKind::kWinCreate: return "win_create";
    case OpKind::kWinFree: return "win_free";
    case OpKind::kWinPut: return "win_put";
    case OpKind::kWinAccumulate: return "win_accumulate";
    case OpKind::kWinGet: return "win_get";
    case OpKind::kWinUpdate: return "win_update";
    case OpKind::kWinMutexAcquire: return "win_mutex_acquire";
    case OpKind::kWinMutexRelease: return "win_mutex_release";
    case OpKind::kSetMatchingMode: return "set_matching_mode";
  }
  return "unknown";
}

bool IsGlobal(OpKind kind) {
  switch (kind) {
    case OpKind::kNeighborAllreduce:
    case OpKind::kNeighborAllgather:
    case OpKind::kPairGossip: return false;
    default: return !IsWindowOp(kind);
  }
}

bool IsWindowOp(OpKind kind) {
  switch (kind) {
    case OpKind::kWinPut:
    case OpKind::kWinAccumulate:
    case OpKind::kWinGet:
    case OpKind::kWinUpdate:
    case OpKind::kWinMutexAcquire:
    case OpKind::kWinMutexRelease: return true;
    default: return false;
  }
}

uint64_t HashName(const std::string& name) {
  // FNV-1a: stable across processes and builds, which std::hash does not promise.
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : name) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace bluefog

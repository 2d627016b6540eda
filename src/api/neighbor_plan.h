// SPDX-License-Identifier: Apache-2.0
// Turns bf_neighbor_args (static or dynamic) into a validated NeighborPlan for this rank.
#pragma once

#include "core/context.h"
#include "core/op.h"

namespace bluefog {

struct PlanRequest {
  const char* function;   // for messages
  bool needs_weights;     // neighbor_allreduce combines; neighbor_allgather only gathers
  bool machines = false;  // hierarchical: ranks are machine ids, over the machine topology
  int64_t elements = 0;   // of the tensor (top-k indexes it with 32 bits)
};

// The send/receive pattern and weights, then the compression settings (combining ops only; a
// gather refuses any compression but the default).
Status ResolveNeighborPlan(Context& context, const bf_neighbor_args& args,
                           const PlanRequest& request, NeighborPlan* plan);

// Checks a rank list: non-negative count, non-NULL when non-empty, ranks in [0, size), not `me`,
// no duplicates. `what` names it ("src_ranks"). Messages name `rank` (default: me), which differs
// from `me` when the list holds machine ids.
Status ValidateRankList(const char* function, const char* what, const int* ranks, int count,
                        int size, int me, int rank = -1);
// Checks that weights are finite (NaN/Inf are rejected).
Status ValidateWeight(const char* function, const char* what, double weight, int me);

}  // namespace bluefog

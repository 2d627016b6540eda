// SPDX-License-Identifier: Apache-2.0
// extern "C" entry points that read or replace the process topology.
#include "api/api_util.h"
#include "api/guard.h"
#include "topology/c_handle.h"

using namespace bluefog;

extern "C" {

BF_API bf_status bf_set_topology(const bf_topology* topology, int is_weighted) {
  return Guarded([&]() -> Status {
    std::shared_ptr<Context> context;
    BF_RETURN_IF_ERROR(RequireContext(&context));
    const int me = context->layout().rank;
    if (topology == nullptr) {
      return InvalidArgument(ArgWhere("bf_set_topology", "topology", me) + " is NULL");
    }
    if (topology->graph.size() != context->layout().size) {
      return Error(BF_ERR_INVALID_ARGUMENT, ArgWhere("bf_set_topology", "topology", me), " has ",
                   topology->graph.size(), " ranks but the world has ", context->layout().size);
    }
    if (context->in_flight() > 0) {
      return Error(BF_ERR_IN_PROGRESS, "bf_set_topology: rank ", me, " has ",
                   context->in_flight(),
                   " operations in flight; wait for them before changing the topology");
    }
    // Installed before the agreement so ops queued after this call see it; undone on mismatch.
    bool previous_weighted = false;
    std::shared_ptr<const Topology> previous = context->topology(&previous_weighted);
    auto installed = std::make_shared<const Topology>(topology->graph);
    context->ReplaceTopology(installed, is_weighted != 0);

    auto op = std::make_unique<Op>();
    op->kind = OpKind::kSetTopology;
    op->name = context->AutoName(OpKind::kSetTopology);
    op->topology = installed;
    op->topology_weighted = is_weighted != 0;
    Status status = RunBlocking(*context, std::move(op));
    if (!status.ok()) context->ReplaceTopology(previous, previous_weighted);
    return status;
  });
}

BF_API bf_status bf_get_topology(bf_topology** out, int* is_weighted) {
  return Guarded([&]() -> Status {
    std::shared_ptr<Context> context;
    BF_RETURN_IF_ERROR(RequireContext(&context));
    bool weighted = false;
    std::shared_ptr<const Topology> current = context->topology(&weighted);
    if (out != nullptr) *out = new bf_topology{*current};
    if (is_weighted != nullptr) *is_weighted = weighted ? 1 : 0;
    return Status::Ok();
  });
}

}  // extern "C"

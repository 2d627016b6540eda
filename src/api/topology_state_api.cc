// SPDX-License-Identifier: Apache-2.0
// extern "C" entry points that read or replace the process topology and the machine topology.
#include "api/api_util.h"
#include "api/guard.h"
#include "api/neighbor_plan.h"
#include "topology/c_handle.h"

using namespace bluefog;

namespace {

// Which graph a call replaces: ranks of the world, or machines.
struct TopologyTarget {
  const char* function;
  OpKind kind;
  bool machines;
};

Status SetTopology(const TopologyTarget& target, const bf_topology* topology, int is_weighted) {
  std::shared_ptr<Context> context;
  BF_RETURN_IF_ERROR(RequireContext(&context));
  const ProcessLayout& layout = context->layout();
  const int me = layout.rank;
  if (topology == nullptr) {
    return InvalidArgument(ArgWhere(target.function, "topology", me) + " is NULL");
  }
  if (target.machines && !layout.homogeneous) {
    return Error(BF_ERR_UNSUPPORTED, target.function, ": rank ", me,
                 " is in a layout that is not homogeneous; machine topologies need equal machines");
  }
  const int expected = target.machines ? layout.machine_size : layout.size;
  if (topology->graph.size() != expected) {
    return Error(BF_ERR_INVALID_ARGUMENT, ArgWhere(target.function, "topology", me), " has ",
                 topology->graph.size(), " nodes but there are ", expected,
                 target.machines ? " machines" : " ranks in the world");
  }
  if (!target.machines && !context->windows().empty()) {
    return Error(BF_ERR_IN_PROGRESS, target.function, ": rank ", me,
                 " has windows, which keep the topology they were created with; bf_win_free "
                 "them before changing the topology");
  }
  if (context->in_flight() > 0) {
    return Error(BF_ERR_IN_PROGRESS, target.function, ": rank ", me, " has ",
                 context->in_flight(),
                 " operations in flight; wait for them before changing the topology");
  }
  // Installed before the agreement so ops queued after this call see it; undone on mismatch.
  bool previous_weighted = false;
  std::shared_ptr<const Topology> previous =
      target.machines ? context->machine_topology(&previous_weighted)
                      : context->topology(&previous_weighted);
  auto install = [&](std::shared_ptr<const Topology> graph, bool weighted) {
    if (target.machines) {
      context->ReplaceMachineTopology(std::move(graph), weighted);
    } else {
      context->ReplaceTopology(std::move(graph), weighted);
    }
  };
  auto installed = std::make_shared<const Topology>(topology->graph);
  install(installed, is_weighted != 0);

  auto op = std::make_unique<Op>();
  op->kind = target.kind;
  op->name = context->AutoName(target.kind);
  op->topology = installed;
  op->topology_weighted = is_weighted != 0;
  Status status = RunBlocking(*context, std::move(op));
  if (!status.ok()) install(previous, previous_weighted);
  return status;
}

Status GetTopology(bool machines, bf_topology** out, int* is_weighted) {
  std::shared_ptr<Context> context;
  BF_RETURN_IF_ERROR(RequireContext(&context));
  bool weighted = false;
  std::shared_ptr<const Topology> current =
      machines ? context->machine_topology(&weighted) : context->topology(&weighted);
  if (out != nullptr) *out = current ? new bf_topology{*current} : nullptr;
  if (is_weighted != nullptr) *is_weighted = weighted ? 1 : 0;
  return Status::Ok();
}

Status InferTopology(const int* ranks, int count, int ranks_are_destinations,
                     bf_topology** out) {
  constexpr const char* fn = "bf_infer_topology";
  std::shared_ptr<Context> context;
  BF_RETURN_IF_ERROR(RequireContext(&context));
  const ProcessLayout& layout = context->layout();
  if (out == nullptr) return InvalidArgument(ArgWhere(fn, "out", layout.rank) + " is NULL");
  auto op = std::make_unique<Op>();
  op->kind = OpKind::kInferTopology;
  op->name = context->AutoName(OpKind::kInferTopology);
  const Status valid = ValidateRankList(fn, "ranks", ranks, count, layout.size, layout.rank);
  if (valid.ok()) {
    op->listed_ranks.assign(ranks, ranks + count);
  } else {
    op->invalid_reason = valid.message();  // still taken part in, so every rank fails
  }
  op->listed_are_destinations = ranks_are_destinations != 0;
  std::shared_ptr<const Topology> inferred;
  op->inferred_out = &inferred;
  BF_RETURN_IF_ERROR(RunBlocking(*context, std::move(op)));
  *out = new bf_topology{*inferred};
  return Status::Ok();
}

}  // namespace

extern "C" {

BF_API bf_status bf_set_topology(const bf_topology* topology, int is_weighted) {
  return Guarded([&] {
    return SetTopology({"bf_set_topology", OpKind::kSetTopology, false}, topology, is_weighted);
  });
}

BF_API bf_status bf_get_topology(bf_topology** out, int* is_weighted) {
  return Guarded([&] { return GetTopology(false, out, is_weighted); });
}

BF_API bf_status bf_set_machine_topology(const bf_topology* topology, int is_weighted) {
  return Guarded([&] {
    return SetTopology({"bf_set_machine_topology", OpKind::kSetMachineTopology, true}, topology,
                       is_weighted);
  });
}

BF_API bf_status bf_get_machine_topology(bf_topology** out, int* is_weighted) {
  return Guarded([&] { return GetTopology(true, out, is_weighted); });
}

BF_API bf_status bf_infer_topology(const int* ranks, int count, int ranks_are_destinations,
                                   bf_topology** out) {
  return Guarded([&] { return InferTopology(ranks, count, ranks_are_destinations, out); });
}

}  // extern "C"

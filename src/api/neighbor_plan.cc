// SPDX-License-Identifier: Apache-2.0
// Neighbor plan resolution: topology defaults (weighted or uniform), explicit weights checked
// against in-neighbors, or a per-call dynamic send/receive pattern.
#include "api/neighbor_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <unordered_set>

#include "core/enum_value.h"
#include "topology/graph.h"

namespace bluefog {

Status ValidateRankList(const char* function, const char* what, const int* ranks, int count,
                        int size, int me, int rank) {
  const char* node = rank < 0 ? "rank " : "machine ";  // what `me` is
  if (rank < 0) rank = me;
  if (count < 0) {
    return Error(BF_ERR_INVALID_ARGUMENT, function, ": ", what, " count is ", count, " on rank ",
                 rank);
  }
  if (count > 0 && ranks == nullptr) {
    return Error(BF_ERR_INVALID_ARGUMENT, function, ": ", what, " is NULL but its count is ",
                 count, " on rank ", rank);
  }
  std::unordered_set<int> seen;
  for (int k = 0; k < count; ++k) {
    const int r = ranks[k];
    if (r < 0 || r >= size) {
      return Error(BF_ERR_INVALID_ARGUMENT, function, ": ", what, " names rank ", r,
                   ", which is out of range for size ", size, " (on rank ", rank, ")");
    }
    if (r == me) {
      return Error(BF_ERR_INVALID_ARGUMENT, function, ": ", what, " names ", node, me,
                   " itself (on rank ", rank, "); the self weight covers it");
    }
    if (!seen.insert(r).second) {
      return Error(BF_ERR_INVALID_ARGUMENT, function, ": ", what, " names rank ", r,
                   " twice (on rank ", rank, ")");
    }
  }
  return Status::Ok();
}

Status ValidateWeight(const char* function, const char* what, double weight, int me) {
  if (!std::isfinite(weight)) {
    return Error(BF_ERR_INVALID_ARGUMENT, function, ": ", what, " is ", weight, " on rank ", me,
                 "; weights must be finite");
  }
  return Status::Ok();
}

namespace {

Status CopyWeights(const char* function, const char* what, const double* weights, int count,
                   int me, std::vector<double>* out) {
  out->assign(static_cast<size_t>(count), 1.0);
  if (weights == nullptr) return Status::Ok();
  for (int k = 0; k < count; ++k) {
    const std::string name = std::string(what) + "[" + std::to_string(k) + "]";
    BF_RETURN_IF_ERROR(ValidateWeight(function, name.c_str(), weights[k], me));
    (*out)[k] = weights[k];
  }
  return Status::Ok();
}

// Resolves the pattern part of the plan; *static_topology is the graph it came from (null in
// dynamic mode) and *topology_weights whether the plan took that graph's own weights.
Status ResolvePattern(Context& context, const bf_neighbor_args& args,
                      const PlanRequest& request, NeighborPlan* plan,
                      std::shared_ptr<const Topology>* static_topology, bool* weighted_topology,
                      bool* topology_weights) {
  const char* fn = request.function;
  const ProcessLayout& layout = context.layout();
  // `me` is this process's node in the graph (its machine for hierarchical ops); messages name
  // its rank.
  const int me = request.machines ? layout.machine_rank : layout.rank;
  const int rank = layout.rank;
  const int list_rank = request.machines ? rank : -1;  // see ValidateRankList
  const int size = request.machines ? layout.machine_size : layout.size;
  const char* src_what = request.machines ? "src_ranks (machine ids)" : "src_ranks";
  const char* dst_what = request.machines ? "dst_ranks (machine ids)" : "dst_ranks";
  NeighborPlan result;
  result.dynamic = args.dynamic != 0;
  result.check_topology = args.check_topology != 0;
  if (args.has_weights) {
    BF_RETURN_IF_ERROR(ValidateWeight(fn, "self_weight", args.self_weight, rank));
    result.self_weight = args.self_weight;
  }
  BF_RETURN_IF_ERROR(
      ValidateRankList(fn, src_what, args.src_ranks, args.src_count, size, me, list_rank));

  if (result.dynamic) {
    if (request.needs_weights && !args.has_weights) {
      return Error(BF_ERR_INVALID_ARGUMENT, fn,
                   ": dynamic mode needs self_weight and src_ranks/src_weights (set has_weights) "
                   "on rank ", rank);
    }
    BF_RETURN_IF_ERROR(
        ValidateRankList(fn, dst_what, args.dst_ranks, args.dst_count, size, me, list_rank));
    result.src_ranks.assign(args.src_ranks, args.src_ranks + args.src_count);
    BF_RETURN_IF_ERROR(
        CopyWeights(fn, "src_weights", args.src_weights, args.src_count, rank, &result.src_weights));
    result.dst_ranks.assign(args.dst_ranks, args.dst_ranks + args.dst_count);
    BF_RETURN_IF_ERROR(
        CopyWeights(fn, "dst_weights", args.dst_weights, args.dst_count, rank, &result.dst_weights));
    *plan = std::move(result);
    return Status::Ok();
  }

  if (args.dst_count != 0 || args.dst_ranks != nullptr || args.dst_weights != nullptr) {
    return Error(BF_ERR_INVALID_ARGUMENT, fn, ": dst_ranks/dst_weights are given on rank ", rank,
                 " but dynamic is 0; set dynamic to send to a per-call destination list");
  }
  bool weighted = false;
  std::shared_ptr<const Topology> topology =
      request.machines ? context.machine_topology(&weighted) : context.topology(&weighted);
  *static_topology = topology;
  *weighted_topology = weighted;
  *topology_weights = !args.has_weights;
  if (!topology) {
    return Error(BF_ERR_INVALID_ARGUMENT, fn, ": the machine topology must be set (",
                 "bf_set_machine_topology) before static hierarchical operations (rank ",
                 layout.rank, ")");
  }
  const bool graph_weights = !args.has_weights && args.src_count == 0;
  if (graph_weights &&
      context.FindDefaultPlan(request.machines, topology.get(), weighted, &result)) {
    *plan = std::move(result);
    return Status::Ok();
  }
  result.src_ranks = topology->in_neighbors(me);
  result.dst_ranks = topology->out_neighbors(me);
  result.dst_weights.assign(result.dst_ranks.size(), 1.0);
  result.src_weights.assign(result.src_ranks.size(), 0.0);

  if (args.has_weights) {
    // Explicit weights: each pairs with its own rank; in-neighbors left out get weight 0.
    std::vector<double> given;
    BF_RETURN_IF_ERROR(
        CopyWeights(fn, "src_weights", args.src_weights, args.src_count, rank, &given));
    for (int k = 0; k < args.src_count; ++k) {
      const int r = args.src_ranks[k];
      auto it = std::find(result.src_ranks.begin(), result.src_ranks.end(), r);
      if (it == result.src_ranks.end()) {
        return Error(BF_ERR_INVALID_ARGUMENT, fn, ": src_ranks names rank ", r,
                     ", which is not an in-neighbor of ", request.machines ? "machine " : "rank ",
                     me, " in the current topology (use dynamic mode for other sources)");
      }
      result.src_weights[it - result.src_ranks.begin()] = given[k];
    }
  } else if (args.src_count != 0) {
    return Error(BF_ERR_INVALID_ARGUMENT, fn, ": src_ranks are given on rank ", rank,
                 " without weights; set has_weights (with self_weight) to use them");
  } else if (weighted) {
    result.self_weight = topology->weight(me, me);
    for (size_t k = 0; k < result.src_ranks.size(); ++k) {
      result.src_weights[k] = topology->weight(result.src_ranks[k], me);
    }
  } else {
    const double uniform = 1.0 / static_cast<double>(result.src_ranks.size() + 1);
    result.self_weight = uniform;
    std::fill(result.src_weights.begin(), result.src_weights.end(), uniform);
  }
  if (graph_weights) context.CacheDefaultPlan(request.machines, topology, weighted, result);
  *plan = std::move(result);
  return Status::Ok();
}

// The weight each destination gives this rank's value: read from the static graph when the plan
// uses the graph's own weights, else assumed equal to this rank's mean source weight (exact for
// uniform and one-peer patterns).
std::vector<double> ReceiverWeights(const NeighborPlan& plan, int me,
                                    const Topology* static_topology, bool weighted,
                                    bool topology_weights) {
  std::vector<double> weights(plan.dst_ranks.size(), 1.0);
  if (static_topology != nullptr && topology_weights) {
    for (size_t k = 0; k < plan.dst_ranks.size(); ++k) {
      const int destination = plan.dst_ranks[k];
      weights[k] = weighted ? static_topology->weight(me, destination)
                            : 1.0 / static_cast<double>(
                                        static_topology->in_neighbors(destination).size() + 1);
    }
    return weights;
  }
  if (!plan.src_weights.empty()) {
    double sum = 0.0;
    for (double w : plan.src_weights) sum += w;
    std::fill(weights.begin(), weights.end(), sum / static_cast<double>(plan.src_weights.size()));
  }
  return weights;
}

Status ResolveCompression(Context& context, const bf_neighbor_args& args,
                          const PlanRequest& request, int me, const Topology* static_topology,
                          bool weighted, bool topology_weights, NeighborPlan* plan) {
  const char* fn = request.function;
  const int rank = context.layout().rank;
  int compression = EnumValue(args.compression);
  if (compression != BF_COMPRESSION_DEFAULT &&
      (compression < BF_COMPRESSION_NONE || compression > BF_COMPRESSION_TOPK)) {
    return Error(BF_ERR_INVALID_ARGUMENT, fn, ": args->compression is ", compression,
                 ", not a bf_compression value (rank ", rank, ")");
  }
  if (!request.needs_weights) {
    if (compression > BF_COMPRESSION_NONE) {
      return Error(BF_ERR_UNSUPPORTED, fn, ": args->compression is set on rank ", rank,
                   "; gathers send tensors whole (compression applies to neighbor_allreduce and "
                   "hierarchical_neighbor_allreduce)");
    }
    return Status::Ok();
  }
  if (compression == BF_COMPRESSION_DEFAULT) compression = context.default_compression();
  plan->compression = static_cast<bf_compression>(compression);
  if (plan->compression == BF_COMPRESSION_NONE) return Status::Ok();

  const double ratio = args.topk_ratio;
  if (!(ratio >= 0.0 && ratio <= 1.0)) {
    return Error(BF_ERR_INVALID_ARGUMENT, fn, ": args->topk_ratio is ", ratio, " on rank ", rank,
                 "; it must be in (0, 1] (or 0 for the default)");
  }
  plan->topk_ratio = ratio > 0.0 ? ratio : context.default_topk_ratio();
  if (plan->compression == BF_COMPRESSION_TOPK && request.elements > int64_t{UINT32_MAX}) {
    return Error(BF_ERR_UNSUPPORTED, fn, ": top-k indexes elements with 32 bits; the tensor on "
                 "rank ", rank, " has ", request.elements);
  }

  const int feedback = EnumValue(args.error_feedback);
  if (feedback < BF_ERROR_FEEDBACK_DEFAULT || feedback > BF_ERROR_FEEDBACK_OFF) {
    return Error(BF_ERR_INVALID_ARGUMENT, fn, ": args->error_feedback is ", feedback,
                 ", not a bf_error_feedback value (rank ", rank, ")");
  }
  plan->error_feedback = feedback != BF_ERROR_FEEDBACK_OFF;
  if (plan->error_feedback && args.name == nullptr) {
    return Error(BF_ERR_INVALID_ARGUMENT, fn, ": error feedback keeps state per tensor name, but "
                 "args->name is NULL on rank ", rank,
                 "; name the operation, or set error_feedback to BF_ERROR_FEEDBACK_OFF");
  }

  const double step = args.consensus_step;
  if (!(step >= 0.0 && step <= 1.0)) {
    return Error(BF_ERR_INVALID_ARGUMENT, fn, ": args->consensus_step is ", step, " on rank ",
                 rank, "; it must be in (0, 1] (or 0 for the default)");
  }
  plan->consensus_step = step > 0.0 ? step
                         : plan->compression == BF_COMPRESSION_TOPK
                             ? std::min(1.0, 2.0 * plan->topk_ratio)
                             : 1.0;
  if (plan->error_feedback) {
    plan->receiver_weights = ReceiverWeights(*plan, me, static_topology, weighted,
                                             topology_weights);
    plan->feedback = context.feedback();
  }
  return Status::Ok();
}

}  // namespace

Status ResolveNeighborPlan(Context& context, const bf_neighbor_args& args,
                           const PlanRequest& request, NeighborPlan* plan) {
  std::shared_ptr<const Topology> topology;
  bool weighted = false;
  bool topology_weights = false;
  BF_RETURN_IF_ERROR(
      ResolvePattern(context, args, request, plan, &topology, &weighted, &topology_weights));
  const ProcessLayout& layout = context.layout();
  const int me = request.machines ? layout.machine_rank : layout.rank;
  return ResolveCompression(context, args, request, me, topology.get(), weighted,
                            topology_weights, plan);
}

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Neighbor plan resolution: topology defaults (weighted or uniform), explicit weights checked
// against in-neighbors, or a per-call dynamic send/receive pattern.
#include "api/neighbor_plan.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

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

}  // namespace

Status ResolveNeighborPlan(const Context& context, const bf_neighbor_args& args,
                           const PlanRequest& request, NeighborPlan* plan) {
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
  if (!topology) {
    return Error(BF_ERR_INVALID_ARGUMENT, fn, ": the machine topology must be set (",
                 "bf_set_machine_topology) before static hierarchical operations (rank ",
                 layout.rank, ")");
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
  *plan = std::move(result);
  return Status::Ok();
}

}  // namespace bluefog

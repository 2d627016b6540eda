// SPDX-License-Identifier: Apache-2.0
// extern "C" entry points for operations: validate every argument on the caller's thread, build
// the Op, hand it to the engine. Blocking forms wait on the same path.
#include <cmath>

#include "api/api_util.h"
#include "api/guard.h"
#include "api/neighbor_plan.h"
#include "core/enum_value.h"
#include "device/staging.h"

using namespace bluefog;

namespace {

// Starts an Op: context, validated `in` (and `out`, required for every op that writes a caller's
// tensor, with the same layout), and name.
Status StartOp(const char* function, OpKind kind, const DLTensor* in, DLTensor* out,
               const char* name, std::shared_ptr<Context>* context, std::unique_ptr<Op>* op) {
  BF_RETURN_IF_ERROR(RequireContext(context));
  const int me = (*context)->layout().rank;
  const bool writes_out = kind != OpKind::kAllgather && kind != OpKind::kNeighborAllgather &&
                          kind != OpKind::kBarrier;
  if (writes_out && out == nullptr) {
    return InvalidArgument(ArgWhere(function, "out", me) + " is NULL");
  }
  auto result = std::make_unique<Op>();
  result->kind = kind;
  if (in != nullptr || kind != OpKind::kBarrier) {
    BF_RETURN_IF_ERROR(ValidateTensor(in, ArgName{function, "in", me}, &result->in));
  }
  if (out != nullptr) {
    const ArgName where{function, "out", me};
    BF_RETURN_IF_ERROR(ValidateTensor(out, where, &result->out));
    BF_RETURN_IF_ERROR(RequireSameLayout(result->in, result->out, where));
  }
  result->name = (name != nullptr && *name != '\0') ? std::string(name)
                                                     : (*context)->AutoName(kind);
  BF_RETURN_IF_ERROR(StageOnHost(result.get()));
  *op = std::move(result);
  return Status::Ok();
}

Status RequireOut(const char* function, const void* out, const char* what, int me) {
  if (out == nullptr) return InvalidArgument(ArgWhere(function, what, me) + " is NULL");
  return Status::Ok();
}

Status RequireFloat(const char* function, const TensorRef& in, int me) {
  if (!IsFloatingPoint(in.dtype)) {
    return Error(BF_ERR_INVALID_ARGUMENT, ArgWhere(function, "in", me), " is ",
                 DTypeName(in.dtype),
                 "; this operation averages with weights and needs a floating dtype "
                 "(float16, bfloat16, float32, float64)");
  }
  return Status::Ok();
}

Status RequireRows(const char* function, const TensorRef& in, int me) {
  if (in.shape.empty()) {
    return InvalidArgument(ArgWhere(function, "in", me) +
                           " is a rank-0 tensor; gathers concatenate along dim 0 and need ndim >= 1");
  }
  return Status::Ok();
}

Status RequireHandle(const char* function, bf_handle* handle) {
  if (handle == nullptr) {
    return InvalidArgument(std::string(function) + ": 'handle' is NULL" + OnCallerRank());
  }
  return Status::Ok();
}

Status Allreduce(const char* fn, const DLTensor* in, DLTensor* out,
                 const bf_allreduce_args* given, bf_handle* handle) {
  bf_allreduce_args args{};
  std::shared_ptr<Context> context;
  std::unique_ptr<Op> op;
  Status prepared = [&]() -> Status {
    BF_RETURN_IF_ERROR(ReadArgs(given, fn, &args));
    BF_RETURN_IF_ERROR(StartOp(fn, OpKind::kAllreduce, in, out, args.name, &context, &op));
    const int me = context->layout().rank;
    const int reduce_op = EnumValue(args.op);
    if (reduce_op != BF_REDUCE_AVERAGE && reduce_op != BF_REDUCE_SUM) {
      return Error(BF_ERR_INVALID_ARGUMENT, fn, ": args->op is ", reduce_op,
                   " on rank ", me, "; use BF_REDUCE_AVERAGE or BF_REDUCE_SUM");
    }
    if (reduce_op == BF_REDUCE_AVERAGE && !IsFloatingPoint(op->in.dtype)) {
      return Error(BF_ERR_INVALID_ARGUMENT, ArgWhere(fn, "in", me), " is ",
                   DTypeName(op->in.dtype),
                   "; averaging needs a floating dtype (use BF_REDUCE_SUM for integers)");
    }
    op->reduce_op = static_cast<bf_reduce_op>(reduce_op);
    op->machine_local = args.machine_local != 0;
    return Status::Ok();
  }();
  if (!prepared.ok()) return FailTogether(OpKind::kAllreduce, args.name, op, std::move(prepared));
  return Dispatch(*context, std::move(op), handle);
}

Status Broadcast(const char* fn, const DLTensor* in, DLTensor* out, int root,
                 const bf_op_args* given, bf_handle* handle) {
  bf_op_args args{};
  std::shared_ptr<Context> context;
  std::unique_ptr<Op> op;
  Status prepared = [&]() -> Status {
    BF_RETURN_IF_ERROR(ReadArgs(given, fn, &args));
    BF_RETURN_IF_ERROR(StartOp(fn, OpKind::kBroadcast, in, out, args.name, &context, &op));
    const int size = context->layout().size;
    if (root < 0 || root >= size) {
      return Error(BF_ERR_INVALID_ARGUMENT, fn, ": root_rank ", root, " on rank ",
                   context->layout().rank, " is out of range for size ", size);
    }
    op->root_or_peer = root;
    return Status::Ok();
  }();
  if (!prepared.ok()) return FailTogether(OpKind::kBroadcast, args.name, op, std::move(prepared));
  return Dispatch(*context, std::move(op), handle);
}

Status Allgather(const char* fn, const DLTensor* in, DLManagedTensor** out,
                 const bf_op_args* given, bf_handle* handle) {
  bf_op_args args{};
  std::shared_ptr<Context> context;
  std::unique_ptr<Op> op;
  Status prepared = [&]() -> Status {
    BF_RETURN_IF_ERROR(ReadArgs(given, fn, &args));
    BF_RETURN_IF_ERROR(StartOp(fn, OpKind::kAllgather, in, nullptr, args.name, &context, &op));
    const int me = context->layout().rank;
    BF_RETURN_IF_ERROR(RequireOut(fn, out, "out", me));
    BF_RETURN_IF_ERROR(RequireRows(fn, op->in, me));
    op->managed_out = out;
    return Status::Ok();
  }();
  if (!prepared.ok()) return FailTogether(OpKind::kAllgather, args.name, op, std::move(prepared));
  return Dispatch(*context, std::move(op), handle);
}

Status NeighborAllreduce(const char* fn, const DLTensor* in, DLTensor* out,
                         const bf_neighbor_args* given, bf_handle* handle) {
  bf_neighbor_args args;
  BF_RETURN_IF_ERROR(ReadArgs(given, fn, &args));
  std::shared_ptr<Context> context;
  std::unique_ptr<Op> op;
  BF_RETURN_IF_ERROR(
      StartOp(fn, OpKind::kNeighborAllreduce, in, out, args.name, &context, &op));
  BF_RETURN_IF_ERROR(RequireFloat(fn, op->in, context->layout().rank));
  const PlanRequest request{fn, /*needs_weights=*/true, /*machines=*/false, op->in.num_elements};
  BF_RETURN_IF_ERROR(ResolveNeighborPlan(*context, args, request, &op->neighbor));
  // The device communicator carries raw tensors; compressed messages take the host path.
  if (op->neighbor.compression != BF_COMPRESSION_NONE) {
    BF_RETURN_IF_ERROR(StageOnHostAfterAll(op.get()));
  }
  return Dispatch(*context, std::move(op), handle);
}

Status HierarchicalNeighborAllreduce(const char* fn, const DLTensor* in, DLTensor* out,
                                     const bf_neighbor_args* given, bf_handle* handle) {
  bf_neighbor_args args{};
  std::shared_ptr<Context> context;
  std::unique_ptr<Op> op;
  Status prepared = [&]() -> Status {
    BF_RETURN_IF_ERROR(ReadArgs(given, fn, &args));
    BF_RETURN_IF_ERROR(
        StartOp(fn, OpKind::kHierarchicalNeighborAllreduce, in, out, args.name, &context, &op));
    const ProcessLayout& layout = context->layout();
    BF_RETURN_IF_ERROR(RequireFloat(fn, op->in, layout.rank));
    if (!layout.homogeneous) {
      return Error(BF_ERR_UNSUPPORTED, fn, ": rank ", layout.rank,
                   " is in a layout that is not homogeneous (machines of different sizes or "
                   "non-contiguous ranks); hierarchical operations need equal machines");
    }
    if (args.check_topology) {
      return Error(BF_ERR_UNSUPPORTED, fn,
                   ": check_topology is not available for hierarchical operations (rank ",
                   layout.rank, ")");
    }
    const PlanRequest request{fn, /*needs_weights=*/true, /*machines=*/true, op->in.num_elements};
    BF_RETURN_IF_ERROR(ResolveNeighborPlan(*context, args, request, &op->neighbor));
    if (op->neighbor.compression != BF_COMPRESSION_NONE) {
      BF_RETURN_IF_ERROR(StageOnHostAfterAll(op.get()));  // as in NeighborAllreduce
    }
    return Status::Ok();
  }();
  if (!prepared.ok()) return FailTogether(OpKind::kHierarchicalNeighborAllreduce, args.name, op, std::move(prepared));
  return Dispatch(*context, std::move(op), handle);
}

Status NeighborAllgather(const char* fn, const DLTensor* in, DLManagedTensor** out,
                         const bf_neighbor_args* given, bf_handle* handle) {
  bf_neighbor_args args;
  BF_RETURN_IF_ERROR(ReadArgs(given, fn, &args));
  std::shared_ptr<Context> context;
  std::unique_ptr<Op> op;
  BF_RETURN_IF_ERROR(
      StartOp(fn, OpKind::kNeighborAllgather, in, nullptr, args.name, &context, &op));
  const int me = context->layout().rank;
  BF_RETURN_IF_ERROR(RequireOut(fn, out, "out", me));
  BF_RETURN_IF_ERROR(RequireRows(fn, op->in, me));
  const PlanRequest request{fn, /*needs_weights=*/false, /*machines=*/false, op->in.num_elements};
  BF_RETURN_IF_ERROR(ResolveNeighborPlan(*context, args, request, &op->neighbor));
  op->managed_out = out;
  return Dispatch(*context, std::move(op), handle);
}

Status PairGossip(const char* fn, const DLTensor* in, DLTensor* out, int peer,
                  double self_weight, double pair_weight, const bf_op_args* given,
                  bf_handle* handle) {
  bf_op_args args;
  BF_RETURN_IF_ERROR(ReadArgs(given, fn, &args));
  std::shared_ptr<Context> context;
  std::unique_ptr<Op> op;
  BF_RETURN_IF_ERROR(StartOp(fn, OpKind::kPairGossip, in, out, args.name, &context, &op));
  const int me = context->layout().rank;
  BF_RETURN_IF_ERROR(RequireFloat(fn, op->in, me));
  BF_RETURN_IF_ERROR(ValidateRankList(fn, "peer_rank", &peer, 1, context->layout().size, me));
  BF_RETURN_IF_ERROR(ValidateWeight(fn, "self_weight", self_weight, me));
  BF_RETURN_IF_ERROR(ValidateWeight(fn, "pair_weight", pair_weight, me));
  NeighborPlan& plan = op->neighbor;
  plan.dynamic = true;
  plan.self_weight = self_weight;
  plan.src_ranks = {peer};
  plan.src_weights = {pair_weight};
  plan.dst_ranks = {peer};
  plan.dst_weights = {1.0};
  op->root_or_peer = peer;
  op->pair_weight = pair_weight;
  return Dispatch(*context, std::move(op), handle);
}

Status Barrier(const char* fn, bf_handle* handle) {
  std::shared_ptr<Context> context;
  std::unique_ptr<Op> op;
  BF_RETURN_IF_ERROR(StartOp(fn, OpKind::kBarrier, nullptr, nullptr, nullptr, &context, &op));
  return Dispatch(*context, std::move(op), handle);
}

}  // namespace

extern "C" {

BF_API bf_status bf_allreduce(const DLTensor* in, DLTensor* out, const bf_allreduce_args* args) {
  return Guarded([&] { return Allreduce("bf_allreduce", in, out, args, nullptr); });
}
BF_API bf_status bf_allreduce_async(const DLTensor* in, DLTensor* out,
                                    const bf_allreduce_args* args, bf_handle* handle) {
  return Guarded([&]() -> Status {
    BF_RETURN_IF_ERROR(RequireHandle("bf_allreduce_async", handle));
    return Allreduce("bf_allreduce_async", in, out, args, handle);
  });
}

BF_API bf_status bf_broadcast(const DLTensor* in, DLTensor* out, int root_rank,
                              const bf_op_args* args) {
  return Guarded([&] { return Broadcast("bf_broadcast", in, out, root_rank, args, nullptr); });
}
BF_API bf_status bf_broadcast_async(const DLTensor* in, DLTensor* out, int root_rank,
                                    const bf_op_args* args, bf_handle* handle) {
  return Guarded([&]() -> Status {
    BF_RETURN_IF_ERROR(RequireHandle("bf_broadcast_async", handle));
    return Broadcast("bf_broadcast_async", in, out, root_rank, args, handle);
  });
}

BF_API bf_status bf_allgather(const DLTensor* in, DLManagedTensor** out, const bf_op_args* args) {
  return Guarded([&] { return Allgather("bf_allgather", in, out, args, nullptr); });
}
BF_API bf_status bf_allgather_async(const DLTensor* in, DLManagedTensor** out,
                                    const bf_op_args* args, bf_handle* handle) {
  return Guarded([&]() -> Status {
    BF_RETURN_IF_ERROR(RequireHandle("bf_allgather_async", handle));
    return Allgather("bf_allgather_async", in, out, args, handle);
  });
}

BF_API bf_status bf_barrier(void) {
  return Guarded([&] { return Barrier("bf_barrier", nullptr); });
}
BF_API bf_status bf_barrier_async(bf_handle* handle) {
  return Guarded([&]() -> Status {
    BF_RETURN_IF_ERROR(RequireHandle("bf_barrier_async", handle));
    return Barrier("bf_barrier_async", handle);
  });
}

BF_API bf_status bf_neighbor_allreduce(const DLTensor* in, DLTensor* out,
                                       const bf_neighbor_args* args) {
  return Guarded(
      [&] { return NeighborAllreduce("bf_neighbor_allreduce", in, out, args, nullptr); });
}
BF_API bf_status bf_neighbor_allreduce_async(const DLTensor* in, DLTensor* out,
                                             const bf_neighbor_args* args, bf_handle* handle) {
  return Guarded([&]() -> Status {
    BF_RETURN_IF_ERROR(RequireHandle("bf_neighbor_allreduce_async", handle));
    return NeighborAllreduce("bf_neighbor_allreduce_async", in, out, args, handle);
  });
}

BF_API bf_status bf_hierarchical_neighbor_allreduce(const DLTensor* in, DLTensor* out,
                                                   const bf_neighbor_args* args) {
  return Guarded([&] {
    return HierarchicalNeighborAllreduce("bf_hierarchical_neighbor_allreduce", in, out, args,
                                         nullptr);
  });
}
BF_API bf_status bf_hierarchical_neighbor_allreduce_async(const DLTensor* in, DLTensor* out,
                                                         const bf_neighbor_args* args,
                                                         bf_handle* handle) {
  return Guarded([&]() -> Status {
    BF_RETURN_IF_ERROR(RequireHandle("bf_hierarchical_neighbor_allreduce_async", handle));
    return HierarchicalNeighborAllreduce("bf_hierarchical_neighbor_allreduce_async", in, out,
                                         args, handle);
  });
}

BF_API bf_status bf_neighbor_allgather(const DLTensor* in, DLManagedTensor** out,
                                       const bf_neighbor_args* args) {
  return Guarded(
      [&] { return NeighborAllgather("bf_neighbor_allgather", in, out, args, nullptr); });
}
BF_API bf_status bf_neighbor_allgather_async(const DLTensor* in, DLManagedTensor** out,
                                             const bf_neighbor_args* args, bf_handle* handle) {
  return Guarded([&]() -> Status {
    BF_RETURN_IF_ERROR(RequireHandle("bf_neighbor_allgather_async", handle));
    return NeighborAllgather("bf_neighbor_allgather_async", in, out, args, handle);
  });
}

BF_API bf_status bf_pair_gossip(const DLTensor* in, DLTensor* out, int peer_rank,
                                double self_weight, double pair_weight, const bf_op_args* args) {
  return Guarded([&] {
    return PairGossip("bf_pair_gossip", in, out, peer_rank, self_weight, pair_weight, args,
                      nullptr);
  });
}
BF_API bf_status bf_pair_gossip_async(const DLTensor* in, DLTensor* out, int peer_rank,
                                      double self_weight, double pair_weight,
                                      const bf_op_args* args, bf_handle* handle) {
  return Guarded([&]() -> Status {
    BF_RETURN_IF_ERROR(RequireHandle("bf_pair_gossip_async", handle));
    return PairGossip("bf_pair_gossip_async", in, out, peer_rank, self_weight, pair_weight, args,
                      handle);
  });
}

}  // extern "C"

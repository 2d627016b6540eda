// SPDX-License-Identifier: Apache-2.0
// extern "C" entry points for one-sided windows: validate on the caller's thread against the
// window's own record (dtype, shape, neighbors), resolve default ranks and weights, hand the op
// to the engine. Queries read the window under its lock.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include "api/api_util.h"
#include "api/guard.h"
#include "device/staging.h"
#include "window/window.h"

using namespace bluefog;

namespace {

std::string DeviceName(const DLDevice& device) {
  return device.device_type == kDLCUDA ? "cuda:" + std::to_string(device.device_id) : "the host";
}

// The window's tensor as the caller gave it (its layout and device).
const TensorRef& CallersTensor(const Window& window) {
  return window.on_device() ? window.device_tensor : window.tensor;
}

// A window's operations take tensors where its own tensor is: the host (pinned host memory
// included), or the same CUDA device.
Status RequireWindowDevice(const Window& window, const TensorRef& tensor, const ArgName& where) {
  const DLDevice& device = CallersTensor(window).device;
  const bool tensor_on_device = tensor.device.device_type == kDLCUDA;
  if (tensor_on_device == window.on_device() &&
      (!tensor_on_device || tensor.device.device_id == device.device_id)) {
    return Status::Ok();
  }
  return Error(BF_ERR_INVALID_ARGUMENT, where, " is on ", DeviceName(tensor.device),
               " but window '", window.name, "' holds a tensor on ", DeviceName(device),
               "; a window's operations take tensors on the window's device");
}

Status FindWindow(const char* fn, const char* name, Context& context,
                  std::shared_ptr<Window>* out) {
  const int me = context.layout().rank;
  if (name == nullptr || *name == '\0') {
    return InvalidArgument(ArgWhere(fn, "name", me) + " is NULL or empty");
  }
  *out = context.windows().Find(name);
  if (!*out) {
    return Error(BF_ERR_INVALID_ARGUMENT, fn, ": no window named '", name, "' on rank ", me,
                 " (create it with bf_win_create first)");
  }
  return Status::Ok();
}

// Integer windows only move and add values: a weight other than 1 would need rounding.
Status RequireUnitWeightIfInteger(const char* fn, const char* argument, const Window& window,
                                  double weight, int me) {
  if (IsFloatingPoint(window.tensor.dtype) || weight == 1.0) return Status::Ok();
  return Error(BF_ERR_INVALID_ARGUMENT, ArgWhere(fn, argument, me), " is ", weight, " but window '",
               window.name, "' is ", DTypeName(window.tensor.dtype),
               "; integer windows take only weights of 1.0");
}

Status RequireFiniteWeight(const char* fn, const char* argument, double weight, int me) {
  if (std::isfinite(weight)) return Status::Ok();
  return Error(BF_ERR_INVALID_ARGUMENT, ArgWhere(fn, argument, me), " is ", weight,
               "; weights must be finite");
}

// Reads count ranks (each in `allowed`, which `role` names) with optional weights.
Status ReadPeers(const char* fn, const Window& window, int me, int count, const int* ranks,
                 const double* weights, const std::vector<int>& allowed, const char* role,
                 WindowPlan* plan) {
  if (count < 0) {
    return Error(BF_ERR_INVALID_ARGUMENT, ArgWhere(fn, "count", me), " is ", count,
                 "; it must be >= 0");
  }
  if (count > 0 && ranks == nullptr) {
    return InvalidArgument(ArgWhere(fn, "ranks", me) + " is NULL but count is " +
                           std::to_string(count));
  }
  for (int i = 0; i < count; ++i) {
    const int rank = ranks[i];
    if (rank == me) {
      return Error(BF_ERR_INVALID_ARGUMENT, ArgWhere(fn, "ranks", me), " lists rank ", me,
                   " itself; window operations move data between neighbors only");
    }
    if (!std::binary_search(allowed.begin(), allowed.end(), rank)) {
      return Error(BF_ERR_INVALID_ARGUMENT, ArgWhere(fn, "ranks", me), " lists rank ", rank,
                   ", which is not an ", role, " of rank ", me, " in window '", window.name,
                   "'");
    }
    if (std::find(ranks, ranks + i, rank) != ranks + i) {
      return Error(BF_ERR_INVALID_ARGUMENT, ArgWhere(fn, "ranks", me), " lists rank ", rank,
                   " twice");
    }
    const double weight = weights ? weights[i] : 1.0;
    BF_RETURN_IF_ERROR(RequireFiniteWeight(fn, "weights", weight, me));
    BF_RETURN_IF_ERROR(RequireUnitWeightIfInteger(fn, "weights", window, weight, me));
    plan->ranks.push_back(rank);
    plan->weights.push_back(weight);
  }
  return Status::Ok();
}

// Put, accumulate and get: the same arguments, one-sided.
Status Transfer(const char* fn, OpKind kind, DLTensor* tensor, const char* name,
                const bf_win_op_args* given, bf_handle* handle) {
  bf_win_op_args args{};
  BF_RETURN_IF_ERROR(ReadArgs(given, fn, &args));
  std::shared_ptr<Context> context;
  BF_RETURN_IF_ERROR(RequireContext(&context));
  const int me = context->layout().rank;
  auto op = std::make_unique<Op>();
  op->kind = kind;
  BF_RETURN_IF_ERROR(FindWindow(fn, name, *context, &op->window));
  const Window& window = *op->window;
  WindowPlan& plan = op->window_plan;
  plan.window_name = window.name;
  if (kind == OpKind::kWinGet) {
    if (args.has_self_weight) {
      return InvalidArgument(ArgWhere(fn, "args->has_self_weight", me) +
                             " is set; a get changes no tensor of this rank, only its buffers");
    }
  } else {
    const ArgName where{fn, "tensor", me};
    BF_RETURN_IF_ERROR(ValidateTensor(tensor, where, &op->in));
    BF_RETURN_IF_ERROR(RequireWindowDevice(window, op->in, where));
    BF_RETURN_IF_ERROR(RequireSameLayout(CallersTensor(window), op->in, where));
    if (args.has_self_weight) {
      BF_RETURN_IF_ERROR(RequireFiniteWeight(fn, "args->self_weight", args.self_weight, me));
      BF_RETURN_IF_ERROR(
          RequireUnitWeightIfInteger(fn, "args->self_weight", window, args.self_weight, me));
      plan.has_self_weight = true;
      plan.self_weight = args.self_weight;
      // The self weight scales the tensor after the sends: a GPU tensor gets the result back.
      if (window.on_device()) op->out = op->in;
    }
  }
  const bool to_destinations = kind != OpKind::kWinGet;
  const std::vector<int>& neighbors =
      to_destinations ? window.out_neighbors : window.in_neighbors;
  if (args.has_ranks) {
    BF_RETURN_IF_ERROR(ReadPeers(fn, window, me, args.count, args.ranks, args.weights, neighbors,
                                 to_destinations ? "out-neighbor" : "in-neighbor", &plan));
  } else {
    plan.ranks = neighbors;
    plan.weights.assign(neighbors.size(), 1.0);
  }
  plan.require_mutex = args.require_mutex != 0;
  plan.with_associated_p = context->win_associated_p();
  op->name = context->AutoName(kind);
  if (handle == nullptr && kind != OpKind::kWinGet && !window.on_device() &&
      !plan.require_mutex && !context->suspended()) {
    // Same-machine destinations are written from here; the engine does whatever is left.
    Timeline* timeline = context->timeline();
    const auto started = Timeline::Clock::now();
    const size_t written =
        WriteDirectFromCaller(*op->window, kind == OpKind::kWinAccumulate, plan, op->in);
    if (timeline && written > 0) {
      timeline->Span(op->name, "WRITE_DIRECT", started, Timeline::Clock::now());
    }
    if (written == plan.ranks.size()) {
      ApplySelfWeight(*op->window, plan, op->in);
      return Status::Ok();
    }
    const auto done = static_cast<std::ptrdiff_t>(written);
    plan.ranks.erase(plan.ranks.begin(), plan.ranks.begin() + done);
    plan.weights.erase(plan.weights.begin(), plan.weights.begin() + done);
  }
  // GPU tensors: staged through pinned host memory behind the caller's stream (staging.h).
  BF_RETURN_IF_ERROR(StageOnHost(op.get()));
  return Dispatch(*context, std::move(op), handle);
}

// Ranks naming mutexes: any rank of the world, default the out-neighbors; ascending.
Status MutexOp(const char* fn, OpKind kind, const char* name, const int* ranks, int count,
               int for_self) {
  std::shared_ptr<Context> context;
  BF_RETURN_IF_ERROR(RequireContext(&context));
  const int me = context->layout().rank;
  const int size = context->layout().size;
  auto op = std::make_unique<Op>();
  op->kind = kind;
  BF_RETURN_IF_ERROR(FindWindow(fn, name, *context, &op->window));
  WindowPlan& plan = op->window_plan;
  plan.window_name = op->window->name;
  plan.for_self = for_self != 0;
  if (ranks == nullptr) {
    plan.ranks = op->window->out_neighbors;
  } else {
    if (count < 0) {
      return Error(BF_ERR_INVALID_ARGUMENT, ArgWhere(fn, "count", me), " is ", count,
                   "; it must be >= 0");
    }
    for (int i = 0; i < count; ++i) {
      if (ranks[i] < 0 || ranks[i] >= size) {
        return Error(BF_ERR_INVALID_ARGUMENT, ArgWhere(fn, "ranks", me), " lists rank ",
                     ranks[i], ", out of range for size ", size);
      }
      if (std::find(ranks, ranks + i, ranks[i]) != ranks + i) {
        return Error(BF_ERR_INVALID_ARGUMENT, ArgWhere(fn, "ranks", me), " lists rank ",
                     ranks[i], " twice");
      }
      plan.ranks.push_back(ranks[i]);
    }
  }
  std::sort(plan.ranks.begin(), plan.ranks.end());
  plan.weights.assign(plan.ranks.size(), 1.0);
  op->name = context->AutoName(kind);
  return RunBlocking(*context, std::move(op));
}

Status Update(const char* fn, const char* name, const bf_win_update_args* given, DLTensor* out) {
  bf_win_update_args args{};
  BF_RETURN_IF_ERROR(ReadArgs(given, fn, &args));
  std::shared_ptr<Context> context;
  BF_RETURN_IF_ERROR(RequireContext(&context));
  const int me = context->layout().rank;
  auto op = std::make_unique<Op>();
  op->kind = OpKind::kWinUpdate;
  BF_RETURN_IF_ERROR(FindWindow(fn, name, *context, &op->window));
  const Window& window = *op->window;
  WindowPlan& plan = op->window_plan;
  plan.window_name = window.name;
  if (out != nullptr) {
    const ArgName where{fn, "out", me};
    BF_RETURN_IF_ERROR(ValidateTensor(out, where, &op->out));
    BF_RETURN_IF_ERROR(RequireWindowDevice(window, op->out, where));
    BF_RETURN_IF_ERROR(RequireSameLayout(CallersTensor(window), op->out, where));
    if (SameMemory(op->out, CallersTensor(window))) op->out = TensorRef{};  // that is in place
    plan.clone = op->out.data != nullptr;
  }
  if (args.has_weights) {
    BF_RETURN_IF_ERROR(RequireFiniteWeight(fn, "args->self_weight", args.self_weight, me));
    plan.self_weight = args.self_weight;
    BF_RETURN_IF_ERROR(ReadPeers(fn, window, me, args.count, args.ranks, args.weights,
                                 window.in_neighbors, "in-neighbor", &plan));
  } else {
    plan.ranks = window.in_neighbors;
    if (window.weighted) {
      plan.self_weight = window.topology_self_weight;
      plan.weights = window.topology_in_weights;
    } else {
      const double uniform = 1.0 / static_cast<double>(window.in_neighbors.size() + 1);
      plan.self_weight = uniform;
      plan.weights.assign(window.in_neighbors.size(), uniform);
    }
  }
  BF_RETURN_IF_ERROR(RequireUnitWeightIfInteger(fn, "args->self_weight", window, plan.self_weight, me));
  for (double weight : plan.weights) {
    BF_RETURN_IF_ERROR(RequireUnitWeightIfInteger(fn, "weights", window, weight, me));
  }
  plan.reset = args.reset != 0;
  plan.require_mutex = args.require_mutex != 0;
  plan.with_associated_p = context->win_associated_p();
  op->name = context->AutoName(OpKind::kWinUpdate);
  if (window.on_device()) {
    // The engine combines host copies: the device tensor staged in behind the caller's stream
    // mark, the result copied back (in place, or to `out`) before the update returns.
    op->in = window.device_tensor;
    if (!plan.clone) op->out = window.device_tensor;
    BF_RETURN_IF_ERROR(StageOnHost(op.get()));
  }
  return RunBlocking(*context, std::move(op));
}

Status Create(DLTensor* tensor, const char* name, int zero_init) {
  const char* fn = "bf_win_create";
  std::shared_ptr<Context> context;
  BF_RETURN_IF_ERROR(RequireContext(&context));
  const int me = context->layout().rank;
  const std::string op_name = std::string("win_create.") + (name ? name : "");
  std::unique_ptr<Op> op;
  Status prepared = [&]() -> Status {
    if (name == nullptr || *name == '\0' || std::strchr(name, '\n') != nullptr) {
      return InvalidArgument(ArgWhere(fn, "name", me) +
                             " is NULL, empty or contains a newline");
    }
    op = std::make_unique<Op>();
    op->kind = OpKind::kWinCreate;
    op->name = op_name;
    BF_RETURN_IF_ERROR(ValidateTensor(tensor, ArgName{fn, "tensor", me}, &op->in));
    if (op->in.device.device_type != kDLCPU && op->in.device.device_type != kDLCUDA) {
      return Error(BF_ERR_UNSUPPORTED, ArgWhere(fn, "tensor", me),
                   " is neither in ordinary host memory nor on a CUDA device; windows hold "
                   "host or GPU tensors");
    }
    const DType dtype = op->in.dtype;
    if (dtype == DType::kInt8 || dtype == DType::kInt16 || dtype == DType::kUInt8) {
      return Error(BF_ERR_INVALID_ARGUMENT, ArgWhere(fn, "tensor", me), " is ", DTypeName(dtype),
                   "; window dtypes are float16, bfloat16, float32, float64, int32 and int64");
    }
    if (context->windows().Find(name)) {
      return Error(BF_ERR_INVALID_ARGUMENT, fn, ": a window named '", name,
                   "' already exists on rank ", me);
    }
    op->window_plan.window_name = name;
    op->window_plan.zero_init = zero_init != 0;
    op->topology = context->topology(&op->topology_weighted);
    // A GPU tensor is copied to the host behind the caller's stream mark; the window keeps a
    // pinned mirror of it (WindowService::AttachMirror).
    return StageOnHost(op.get());
  }();
  if (!prepared.ok()) {
    return FailTogether(OpKind::kWinCreate, op_name.c_str(), op, std::move(prepared));
  }
  return RunBlocking(*context, std::move(op));
}

Status Free(const char* name) {
  const char* fn = "bf_win_free";
  std::shared_ptr<Context> context;
  BF_RETURN_IF_ERROR(RequireContext(&context));
  const int me = context->layout().rank;
  const std::string op_name = name ? std::string("win_free.") + name : "win_free.*";
  std::vector<std::shared_ptr<Window>> freed;
  if (name == nullptr) {
    freed = context->windows().All();
  } else if (auto window = context->windows().Find(name)) {
    freed.push_back(window);
  } else {
    return FailTogether(OpKind::kWinFree, op_name.c_str(), nullptr,
                        Error(BF_ERR_INVALID_ARGUMENT, fn, ": no window named '", name,
                              "' on rank ", me));
  }
  // A window locked here is unlocked first: a peer whose put is held by the lock waits for it
  // in its own bf_win_free, so keeping the lock would leave both waiting.
  for (const auto& window : freed) {
    std::lock_guard<std::mutex> lock(window->data_mutex);
    window->SetLocked(false);
  }
  // This rank's own transfers on the window finish first: peers serve them until they free too.
  for (const auto& window : freed) {
    while (window->pending_ops.load() > 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  auto op = std::make_unique<Op>();
  op->kind = OpKind::kWinFree;
  op->name = op_name;
  op->window_plan.window_name = name ? name : "";
  op->window_plan.free_all = name == nullptr;
  return RunBlocking(*context, std::move(op));
}

Status Lock(const char* name) {
  constexpr const char* fn = "bf_win_lock";
  std::shared_ptr<Context> context;
  BF_RETURN_IF_ERROR(RequireContext(&context));
  std::shared_ptr<Window> window;
  BF_RETURN_IF_ERROR(FindWindow(fn, name, *context, &window));
  const int me = context->layout().rank;
  std::unique_lock<std::mutex> lock(window->data_mutex);
  if (window->locked) {
    return Error(BF_ERR_INVALID_ARGUMENT, fn, ": window '", name, "' on rank ", me,
                 " is already locked (bf_win_unlock it first)");
  }
  window->SetLocked(true);
  // Same-machine peers writing a buffer directly finish first (each holds the buffer's lock
  // while it copies, and writes nothing once it sees the window locked).
  if (window->block != nullptr) {
    for (size_t i = 0; i < window->in_neighbors.size(); ++i) SlotGuard wait(window->slot(i));
  }
  // A peer's write of several chunks that had begun is finished first (the engine applies its
  // remaining chunks, which are already on their way), so the holder never sees half of it;
  // likewise a GPU window's copies for peers' gets already accepted.
  auto settled = [&] { return window->partial_writes.empty() && window->device_reads == 0; };
  while (!window->writes_settled.wait_for(lock, std::chrono::milliseconds(100), settled)) {
    if (context->windows().Find(name) != window) {
      return Error(BF_ERR_INVALID_ARGUMENT, fn, ": window '", name, "' on rank ", me,
                   " was freed while it was being locked");
    }
  }
  return Status::Ok();
}

Status Unlock(const char* name) {
  constexpr const char* fn = "bf_win_unlock";
  std::shared_ptr<Context> context;
  BF_RETURN_IF_ERROR(RequireContext(&context));
  std::shared_ptr<Window> window;
  BF_RETURN_IF_ERROR(FindWindow(fn, name, *context, &window));
  std::lock_guard<std::mutex> lock(window->data_mutex);
  if (!window->locked) {
    return Error(BF_ERR_INVALID_ARGUMENT, fn, ": window '", name, "' on rank ",
                 context->layout().rank, " is not locked (bf_win_lock it first)");
  }
  window->SetLocked(false);  // the engine serves what was held on its next pass
  return Status::Ok();
}

}  // namespace

extern "C" {

BF_API bf_status bf_win_lock(const char* name) {
  return Guarded([&] { return Lock(name); });
}

BF_API bf_status bf_win_unlock(const char* name) {
  return Guarded([&] { return Unlock(name); });
}

BF_API bf_status bf_win_is_locked(const char* name, int* locked) {
  return Guarded([&]() -> Status {
    std::shared_ptr<Context> context;
    BF_RETURN_IF_ERROR(RequireContext(&context));
    std::shared_ptr<Window> window;
    BF_RETURN_IF_ERROR(FindWindow("bf_win_is_locked", name, *context, &window));
    if (locked == nullptr) {
      return InvalidArgument(ArgWhere("bf_win_is_locked", "locked", context->layout().rank) +
                             " is NULL");
    }
    std::lock_guard<std::mutex> lock(window->data_mutex);
    *locked = window->locked ? 1 : 0;
    return Status::Ok();
  });
}

BF_API bf_status bf_win_create(DLTensor* tensor, const char* name, int zero_init) {
  return Guarded([&] { return Create(tensor, name, zero_init); });
}

BF_API bf_status bf_win_free(const char* name) {
  return Guarded([&] { return Free(name); });
}

BF_API bf_status bf_win_names(char* buffer, size_t capacity, size_t* needed) {
  return Guarded([&]() -> Status {
    std::shared_ptr<Context> context;
    BF_RETURN_IF_ERROR(RequireContext(&context));
    if (capacity > 0 && buffer == nullptr) {
      return InvalidArgument(ArgWhere("bf_win_names", "buffer", context->layout().rank) +
                             " is NULL but capacity is not 0");
    }
    std::string text;
    for (const auto& window : context->windows().All()) text += window->name + "\n";
    if (needed != nullptr) *needed = text.size() + 1;
    if (capacity == 0) return Status::Ok();
    const size_t copied = std::min(text.size(), capacity - 1);
    std::memcpy(buffer, text.data(), copied);
    buffer[copied] = '\0';
    return Status::Ok();
  });
}

BF_API bf_status bf_win_put(DLTensor* tensor, const char* name, const bf_win_op_args* args) {
  return Guarded([&] { return Transfer("bf_win_put", OpKind::kWinPut, tensor, name, args,
                                       nullptr); });
}
BF_API bf_status bf_win_put_async(DLTensor* tensor, const char* name, const bf_win_op_args* args,
                                  bf_handle* handle) {
  return Guarded([&]() -> Status {
    if (!handle) return InvalidArgument("bf_win_put_async: 'handle' is NULL" + OnCallerRank());
    return Transfer("bf_win_put_async", OpKind::kWinPut, tensor, name, args, handle);
  });
}
BF_API bf_status bf_win_accumulate(DLTensor* tensor, const char* name,
                                   const bf_win_op_args* args) {
  return Guarded([&] { return Transfer("bf_win_accumulate", OpKind::kWinAccumulate, tensor,
                                       name, args, nullptr); });
}
BF_API bf_status bf_win_accumulate_async(DLTensor* tensor, const char* name,
                                         const bf_win_op_args* args, bf_handle* handle) {
  return Guarded([&]() -> Status {
    if (!handle) return InvalidArgument("bf_win_accumulate_async: 'handle' is NULL" + OnCallerRank());
    return Transfer("bf_win_accumulate_async", OpKind::kWinAccumulate, tensor, name, args,
                    handle);
  });
}
BF_API bf_status bf_win_get(const char* name, const bf_win_op_args* args) {
  return Guarded([&] { return Transfer("bf_win_get", OpKind::kWinGet, nullptr, name, args,
                                       nullptr); });
}
BF_API bf_status bf_win_get_async(const char* name, const bf_win_op_args* args,
                                  bf_handle* handle) {
  return Guarded([&]() -> Status {
    if (!handle) return InvalidArgument("bf_win_get_async: 'handle' is NULL" + OnCallerRank());
    return Transfer("bf_win_get_async", OpKind::kWinGet, nullptr, name, args, handle);
  });
}

BF_API bf_status bf_win_update(const char* name, const bf_win_update_args* args, DLTensor* out) {
  return Guarded([&] { return Update("bf_win_update", name, args, out); });
}

BF_API bf_status bf_win_update_then_collect(const char* name, int require_mutex) {
  return Guarded([&]() -> Status {
    std::shared_ptr<Context> context;
    BF_RETURN_IF_ERROR(RequireContext(&context));
    std::shared_ptr<Window> window;
    BF_RETURN_IF_ERROR(FindWindow("bf_win_update_then_collect", name, *context, &window));
    bf_win_update_args args{};
    args.struct_size = sizeof(args);
    args.has_weights = 1;
    args.self_weight = 1.0;
    args.count = static_cast<int>(window->in_neighbors.size());
    args.ranks = window->in_neighbors.data();
    args.reset = 1;
    args.require_mutex = require_mutex;
    return Update("bf_win_update_then_collect", name, &args, nullptr);
  });
}

BF_API bf_status bf_win_mutex_acquire(const char* name, const int* ranks, int count,
                                      int for_self) {
  return Guarded([&] { return MutexOp("bf_win_mutex_acquire", OpKind::kWinMutexAcquire, name,
                                      ranks, count, for_self); });
}

BF_API bf_status bf_win_mutex_release(const char* name, const int* ranks, int count,
                                      int for_self) {
  return Guarded([&] { return MutexOp("bf_win_mutex_release", OpKind::kWinMutexRelease, name,
                                      ranks, count, for_self); });
}

BF_API bf_status bf_win_versions(const char* name, int* ranks, int* versions, int capacity,
                                 int* count) {
  return Guarded([&]() -> Status {
    const char* fn = "bf_win_versions";
    std::shared_ptr<Context> context;
    BF_RETURN_IF_ERROR(RequireContext(&context));
    const int me = context->layout().rank;
    std::shared_ptr<Window> window;
    BF_RETURN_IF_ERROR(FindWindow(fn, name, *context, &window));
    if (count == nullptr) return InvalidArgument(ArgWhere(fn, "count", me) + " is NULL");
    if (capacity < 0) return InvalidArgument(ArgWhere(fn, "capacity", me) + " is negative");
    if (capacity > 0 && (ranks == nullptr || versions == nullptr)) {
      return InvalidArgument(ArgWhere(fn, "ranks", me) + " or 'versions' is NULL but capacity is " +
                             std::to_string(capacity));
    }
    std::lock_guard<std::mutex> lock(window->data_mutex);
    if (window->block == nullptr) {
      return Error(BF_ERR_INVALID_ARGUMENT, fn, ": window '", name, "' on rank ", me,
                   " was freed meanwhile");
    }
    const int n = static_cast<int>(window->in_neighbors.size());
    for (int i = 0; i < std::min(n, capacity); ++i) {
      ranks[i] = window->in_neighbors[static_cast<size_t>(i)];
      WindowSlot& slot = window->slot(static_cast<size_t>(i));
      SlotGuard guard(slot);
      versions[i] = slot.version;
    }
    *count = n;
    return Status::Ok();
  });
}

BF_API bf_status bf_win_associated_p(const char* name, double* p) {
  return Guarded([&]() -> Status {
    std::shared_ptr<Context> context;
    BF_RETURN_IF_ERROR(RequireContext(&context));
    std::shared_ptr<Window> window;
    BF_RETURN_IF_ERROR(FindWindow("bf_win_associated_p", name, *context, &window));
    if (p == nullptr) {
      return InvalidArgument(ArgWhere("bf_win_associated_p", "p", context->layout().rank) +
                             " is NULL");
    }
    std::lock_guard<std::mutex> lock(window->data_mutex);
    *p = window->associated_p;
    return Status::Ok();
  });
}

BF_API bf_status bf_set_win_associated_p(int enabled) {
  return Guarded([&]() -> Status {
    std::shared_ptr<Context> context;
    BF_RETURN_IF_ERROR(RequireContext(&context));
    context->set_win_associated_p(enabled != 0);
    return Status::Ok();
  });
}

BF_API bf_status bf_get_win_associated_p(int* enabled) {
  return Guarded([&]() -> Status {
    std::shared_ptr<Context> context;
    BF_RETURN_IF_ERROR(RequireContext(&context));
    if (enabled == nullptr) {
      return InvalidArgument(
          ArgWhere("bf_get_win_associated_p", "enabled", context->layout().rank) + " is NULL");
    }
    *enabled = context->win_associated_p() ? 1 : 0;
    return Status::Ok();
  });
}

}  // extern "C"

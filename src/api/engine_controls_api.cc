// SPDX-License-Identifier: Apache-2.0
// extern "C" entry points that control the engine itself: transport queries, suspend/resume and
// the run-time switch of the matching mode. (The window lock lives with the windows.)
#include "api/api_util.h"
#include "api/guard.h"
#include "core/enum_value.h"

using namespace bluefog;

namespace {

Status SetMatchingMode(int mode) {
  constexpr const char* fn = "bf_set_matching_mode";
  std::shared_ptr<Context> context;
  BF_RETURN_IF_ERROR(RequireContext(&context));
  const int me = context->layout().rank;
  if (mode != BF_MATCHING_ORDERED && mode != BF_MATCHING_NAMED) {
    return Error(BF_ERR_INVALID_ARGUMENT, ArgWhere(fn, "mode", me), " is ",
                 mode, "; pass BF_MATCHING_ORDERED or BF_MATCHING_NAMED");
  }
  // Ops of this rank still in flight were matched under the current mode; the switch waits for
  // none of them (a blocking wait here could hang on a peer that is itself switching).
  if (context->in_flight() > 0) {
    return Error(BF_ERR_IN_PROGRESS, fn, ": rank ", me, " has ", context->in_flight(),
                 " operations in flight; wait for them before switching the matching mode");
  }
  auto op = std::make_unique<Op>();
  op->kind = OpKind::kSetMatchingMode;
  op->name = context->AutoName(OpKind::kSetMatchingMode);
  op->matching_mode = static_cast<bf_matching_mode>(mode);
  return RunBlocking(*context, std::move(op));
}

}  // namespace

extern "C" {

BF_API int bf_mpi_threads_supported(void) {
  std::shared_ptr<Context> context = CurrentContext();
  if (!context) return -1;
  return context->layout().mpi_thread_multiple ? 1 : 0;
}

BF_API int bf_unified_mpi_window_model_supported(void) {
  // Windows are served by the engine, which writes peers' data into the one copy of the window
  // memory that local reads see: unified, whatever the MPI library's RMA model is.
  return CurrentContext() ? 1 : -1;
}

BF_API bf_status bf_suspend(void) {
  return Guarded([&] {
    std::shared_ptr<Context> context;
    BF_RETURN_IF_ERROR(RequireContext(&context));
    context->Suspend();
    return Status::Ok();
  });
}

BF_API bf_status bf_resume(void) {
  return Guarded([&] {
    std::shared_ptr<Context> context;
    BF_RETURN_IF_ERROR(RequireContext(&context));
    context->Resume();
    return Status::Ok();
  });
}

BF_API int bf_suspended(void) {
  std::shared_ptr<Context> context = CurrentContext();
  if (!context) return -1;
  return context->suspended() ? 1 : 0;
}

BF_API bf_status bf_set_matching_mode(bf_matching_mode mode) {
  // Any int may arrive in the enum: read it as one (core/enum_value.h).
  const int raw = EnumValue(mode);
  return Guarded([&] { return SetMatchingMode(raw); });
}

}  // extern "C"

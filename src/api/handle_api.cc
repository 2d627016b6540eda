// SPDX-License-Identifier: Apache-2.0
// extern "C" entry points for handles: wait, poll, free.
#include "api/api_util.h"
#include "api/guard.h"

using namespace bluefog;

namespace {

Status FindHandle(const char* function, bf_handle handle, std::shared_ptr<Context>* context,
                  std::shared_ptr<Completion>* completion) {
  BF_RETURN_IF_ERROR(RequireContext(context));
  *completion = (*context)->handles().Find(handle);
  if (!*completion) {
    return Error(BF_ERR_INVALID_ARGUMENT, function, ": handle ", handle, " on rank ",
                 (*context)->layout().rank, " is unknown or was already freed");
  }
  return Status::Ok();
}

}  // namespace

extern "C" {

BF_API bf_status bf_wait(bf_handle handle, int timeout_ms) {
  return Guarded([&]() -> Status {
    std::shared_ptr<Context> context;
    std::shared_ptr<Completion> completion;
    BF_RETURN_IF_ERROR(FindHandle("bf_wait", handle, &context, &completion));
    Status result;
    if (!completion->Wait(timeout_ms, &result)) {
      return Error(BF_ERR_TIMEOUT, "bf_wait: handle ", handle, " on rank ",
                   context->layout().rank, " did not complete within ", timeout_ms, " ms");
    }
    return result;
  });
}

BF_API bf_status bf_poll(bf_handle handle, int* done) {
  return Guarded([&]() -> Status {
    std::shared_ptr<Context> context;
    std::shared_ptr<Completion> completion;
    BF_RETURN_IF_ERROR(FindHandle("bf_poll", handle, &context, &completion));
    if (done == nullptr) {
      return InvalidArgument(ArgWhere("bf_poll", "done", context->layout().rank) + " is NULL");
    }
    *done = completion->done() ? 1 : 0;
    return Status::Ok();
  });
}

BF_API bf_status bf_handle_free(bf_handle handle) {
  return Guarded([&]() -> Status {
    std::shared_ptr<Context> context;
    BF_RETURN_IF_ERROR(RequireContext(&context));
    return context->handles().Free(handle, context->layout().rank);
  });
}

}  // extern "C"

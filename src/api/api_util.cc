// SPDX-License-Identifier: Apache-2.0
// Shared entry-point helpers.
#include "api/api_util.h"

namespace bluefog {

Status RequireContext(std::shared_ptr<Context>* out) {
  *out = CurrentContext();
  return *out ? Status::Ok() : NotInitialized();
}

std::string ArgWhere(const char* function, const char* argument, int rank) {
  return ArgName{function, argument, rank}.str();
}

std::string OnCallerRank() {
  std::shared_ptr<Context> context = CurrentContext();
  return context ? " on rank " + std::to_string(context->layout().rank) : std::string();
}

Status RunBlocking(Context& context, std::unique_ptr<Op> op) {
  bf_handle handle = 0;
  BF_RETURN_IF_ERROR(context.Submit(std::move(op), &handle));
  std::shared_ptr<Completion> completion = context.handles().Find(handle);
  Status result;
  completion->Wait(-1, &result);
  (void)context.handles().Free(handle);
  return result;
}

Status Dispatch(Context& context, std::unique_ptr<Op> op, bf_handle* handle) {
  if (handle == nullptr) return RunBlocking(context, std::move(op));
  return context.Submit(std::move(op), handle);
}

Status FailTogether(OpKind kind, const char* given_name, const std::unique_ptr<Op>& started,
                    Status invalid) {
  std::shared_ptr<Context> context = CurrentContext();
  if (!context || invalid.code() == BF_ERR_NOT_INITIALIZED) return invalid;
  auto placeholder = std::make_unique<Op>();
  placeholder->kind = kind;
  if (started) {
    placeholder->name = started->name;  // its auto-name was already counted
  } else {
    placeholder->name = (given_name != nullptr && *given_name != '\0')
                            ? std::string(given_name)
                            : context->AutoName(kind);
  }
  placeholder->invalid_reason = invalid.message();
  (void)RunBlocking(*context, std::move(placeholder));  // our own reason is what we report
  return invalid;
}

}  // namespace bluefog

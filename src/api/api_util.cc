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

Status RunBlocking(Context& context, std::unique_ptr<Op> op) {
  bf_handle handle = 0;
  BF_RETURN_IF_ERROR(context.Submit(std::move(op), &handle));
  std::shared_ptr<Completion> completion = context.handles().Find(handle);
  Status result;
  completion->Wait(-1, &result);
  (void)context.handles().Free(handle);
  return result;
}

}  // namespace bluefog

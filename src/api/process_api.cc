// SPDX-License-Identifier: Apache-2.0
// extern "C" entry points: version, statuses, errors, init/finalize and process queries.
#include "api/api_util.h"
#include "api/guard.h"

using namespace bluefog;

namespace {
template <typename Field>
int Query(Field field) {
  std::shared_ptr<Context> context = CurrentContext();
  return context ? field(context->layout()) : -1;
}
}  // namespace


extern "C" {

BF_API int bf_get_version(void) { return BF_VERSION; }

BF_API const char* bf_status_string(bf_status status) { return StatusName(status); }

BF_API const char* bf_last_error(void) { return LastErrorMessage(); }

BF_API bf_status bf_init(const bf_init_options* options) {
  return Guarded([&] { return InitRuntime(options); });
}

BF_API bf_status bf_finalize(void) {
  // Windows still open are freed collectively first, so that no peer is left waiting on a
  // request this rank would no longer serve.
  std::shared_ptr<Context> context = CurrentContext();
  if (context) context->Resume();  // a suspended engine would refuse the collective frees
  if (context && !context->windows().empty()) (void)bf_win_free(nullptr);
  context.reset();
  return Guarded([&] { return FinalizeRuntime(); });
}

BF_API int bf_initialized(void) { return CurrentContext() ? 1 : 0; }

BF_API int bf_matching_mode_in_effect(void) {
  std::shared_ptr<Context> context = CurrentContext();
  return context ? static_cast<int>(context->matching_mode()) : -1;
}

BF_API int bf_rank(void) { return Query([](const ProcessLayout& l) { return l.rank; }); }
BF_API int bf_size(void) { return Query([](const ProcessLayout& l) { return l.size; }); }
BF_API int bf_local_rank(void) {
  return Query([](const ProcessLayout& l) { return l.local_rank; });
}
BF_API int bf_local_size(void) {
  return Query([](const ProcessLayout& l) { return l.local_size; });
}
BF_API int bf_machine_rank(void) {
  return Query([](const ProcessLayout& l) { return l.machine_rank; });
}
BF_API int bf_machine_size(void) {
  return Query([](const ProcessLayout& l) { return l.machine_size; });
}
BF_API int bf_is_homogeneous(void) {
  return Query([](const ProcessLayout& l) { return l.homogeneous ? 1 : 0; });
}

}  // extern "C"

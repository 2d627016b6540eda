// SPDX-License-Identifier: Apache-2.0
// extern "C" entry points for user activities on the timeline.
#include "api/api_util.h"
#include "api/guard.h"
#include "core/timeline.h"

using namespace bluefog;

namespace {

// The context's timeline; BF_ERR_UNSUPPORTED when it is off.
Status FindTimeline(const char* function, Context& context, Timeline** timeline) {
  *timeline = context.timeline();
  if (*timeline == nullptr) {
    return Unsupported(std::string(function) + ": the timeline is off on rank " +
                       std::to_string(context.layout().rank) +
                       "; set BLUEFOG_TIMELINE=<prefix> or bf_init_options.timeline_prefix");
  }
  return Status::Ok();
}

Status RequireString(const char* function, const char* argument, const char* value,
                     const Context& context) {
  if (value != nullptr) return Status::Ok();
  return InvalidArgument(ArgWhere(function, argument, context.layout().rank) + " is NULL");
}

}  // namespace

extern "C" {

BF_API bf_status bf_timeline_start_activity(const char* name, const char* activity) {
  return Guarded([&]() -> Status {
    constexpr const char* kFunction = "bf_timeline_start_activity";
    std::shared_ptr<Context> context;
    BF_RETURN_IF_ERROR(RequireContext(&context));
    BF_RETURN_IF_ERROR(RequireString(kFunction, "name", name, *context));
    BF_RETURN_IF_ERROR(RequireString(kFunction, "activity", activity, *context));
    Timeline* timeline = nullptr;
    BF_RETURN_IF_ERROR(FindTimeline(kFunction, *context, &timeline));
    timeline->Start(name, activity);
    return Status::Ok();
  });
}

BF_API bf_status bf_timeline_end_activity(const char* name) {
  return Guarded([&]() -> Status {
    constexpr const char* kFunction = "bf_timeline_end_activity";
    std::shared_ptr<Context> context;
    BF_RETURN_IF_ERROR(RequireContext(&context));
    BF_RETURN_IF_ERROR(RequireString(kFunction, "name", name, *context));
    Timeline* timeline = nullptr;
    BF_RETURN_IF_ERROR(FindTimeline(kFunction, *context, &timeline));
    timeline->End(name);
    return Status::Ok();
  });
}

}  // extern "C"

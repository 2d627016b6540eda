// SPDX-License-Identifier: Apache-2.0
// Status constructors, the status-name table and the thread-local last-error message.
#include "core/status.h"

#include "core/last_error.h"

namespace bluefog {

Status InvalidArgument(std::string message) {
  return Status(BF_ERR_INVALID_ARGUMENT, std::move(message));
}
Status Mismatch(std::string message) { return Status(BF_ERR_MISMATCH, std::move(message)); }
Status Unsupported(std::string message) { return Status(BF_ERR_UNSUPPORTED, std::move(message)); }
Status BackendError(std::string message) { return Status(BF_ERR_BACKEND, std::move(message)); }
Status NotInitialized() {
  return Status(BF_ERR_NOT_INITIALIZED,
                "BlueFog has not been initialized (or has been finalized); call bf_init first");
}

namespace {
thread_local std::string last_error_message;
}  // namespace

bf_status Report(const Status& status) {
  last_error_message = status.ok() ? std::string() : status.message();
  return status.code();
}

void ClearLastError() { last_error_message.clear(); }

const char* LastErrorMessage() { return last_error_message.c_str(); }

// One list generates the names; values are pinned in bluefog.h.
#define BF_STATUS_NAMES(X) \
  X(BF_OK)                 \
  X(BF_ERR_INVALID_ARGUMENT) \
  X(BF_ERR_NOT_INITIALIZED) \
  X(BF_ERR_MISMATCH)       \
  X(BF_ERR_BACKEND)        \
  X(BF_ERR_TIMEOUT)        \
  X(BF_ERR_UNSUPPORTED)    \
  X(BF_ERR_SHUTDOWN)       \
  X(BF_ERR_IN_PROGRESS)    \
  X(BF_ERR_OUT_OF_MEMORY)  \
  X(BF_ERR_INTERNAL)       \
  X(BF_ERR_SUSPENDED)

const char* StatusName(bf_status status) {
  switch (status) {
#define BF_STATUS_CASE(name) \
  case name:                 \
    return #name;
    BF_STATUS_NAMES(BF_STATUS_CASE)
#undef BF_STATUS_CASE
  }
  return "BF_ERR_UNKNOWN_STATUS";
}

}  // namespace bluefog

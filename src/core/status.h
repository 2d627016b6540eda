// SPDX-License-Identifier: Apache-2.0
// Status: the internal error type. Carries a bf_status code and a human sentence; the api layer
// turns it into the public status plus the thread-local bf_last_error() message.
#pragma once

#include <string>
#include <utility>

#include "bluefog.h"

namespace bluefog {

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(bf_status code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == BF_OK; }
  bf_status code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  bf_status code_ = BF_OK;
  std::string message_;
};

// Builds a message from streamable parts: Error(BF_ERR_INVALID_ARGUMENT, "rank ", r, " is bad").
template <typename... Parts>
Status Error(bf_status code, const Parts&... parts);

Status InvalidArgument(std::string message);
Status Mismatch(std::string message);
Status Unsupported(std::string message);
Status BackendError(std::string message);
Status NotInitialized();

}  // namespace bluefog

#define BF_RETURN_IF_ERROR(expr)                        \
  do {                                                  \
    ::bluefog::Status bf_status_tmp_ = (expr);          \
    if (!bf_status_tmp_.ok()) return bf_status_tmp_;    \
  } while (0)

#include "core/status_inl.h"

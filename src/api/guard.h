// SPDX-License-Identifier: Apache-2.0
// The C boundary: runs an entry point's body, turning its Status into bf_status + last error and
// making sure no C++ exception crosses into the caller.
#pragma once

#include <exception>
#include <new>

#include "core/last_error.h"

namespace bluefog {

template <typename Body>
bf_status Guarded(Body&& body) noexcept {
  try {
    return Report(body());
  } catch (const std::bad_alloc&) {
    return Report(Status(BF_ERR_OUT_OF_MEMORY, "out of host memory"));
  } catch (const std::exception& e) {
    return Report(Status(BF_ERR_INTERNAL, std::string("internal error: ") + e.what()));
  } catch (...) {
    return Report(Status(BF_ERR_INTERNAL, "internal error: unknown exception"));
  }
}

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Template part of status.h: the streaming Error() builder.
#pragma once

#include <sstream>

namespace bluefog {

template <typename... Parts>
Status Error(bf_status code, const Parts&... parts) {
  std::ostringstream text;
  (text << ... << parts);
  return Status(code, text.str());
}

}  // namespace bluefog

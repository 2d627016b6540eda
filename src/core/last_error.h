// SPDX-License-Identifier: Apache-2.0
// The thread-local message behind bf_last_error(), and the bridge from Status to bf_status.
#pragma once

#include "core/status.h"

namespace bluefog {

// Records status's message as this thread's last error (or clears it on success) and returns the
// public code. Every extern "C" entry point returns through this.
bf_status Report(const Status& status);
void ClearLastError();
const char* LastErrorMessage();
const char* StatusName(bf_status status);

}  // namespace bluefog

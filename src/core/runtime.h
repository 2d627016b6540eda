// SPDX-License-Identifier: Apache-2.0
// The single process-wide Context the C API works on (the only mutable global in the library).
#pragma once

#include <memory>

#include "core/context.h"

namespace bluefog {

// The live context, or nullptr before bf_init / after bf_finalize. Callers keep the shared_ptr
// for the duration of their call, so a concurrent bf_finalize cannot free it under them.
std::shared_ptr<Context> CurrentContext();
Status InitRuntime(const bf_init_options* options);
Status FinalizeRuntime();

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// FUZZ_CHECK: aborts (which libFuzzer records as a crash, with the input) when a property the
// harness expects of the code under test does not hold.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                          \
  do {                                                                                 \
    if (!(condition)) {                                                                \
      std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__,     \
                   #condition);                                                        \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

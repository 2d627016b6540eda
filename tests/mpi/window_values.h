// SPDX-License-Identifier: Apache-2.0
// What the window tests (host and GPU tensors) compute with: the dtypes windows support, and
// values and weights that stay exact in all of them.
#pragma once

#include <cstdint>
#include <vector>

#include "bluefog.h"

namespace bftest {

inline std::vector<DLDataType> WindowTypes() {
  return {{kDLFloat, 32, 1}, {kDLFloat, 64, 1}, {kDLInt, 32, 1},
          {kDLInt, 64, 1},   {kDLFloat, 16, 1}, {kDLBfloat, 16, 1}};
}
inline bool IsInteger(DLDataType type) { return type.code == kDLInt || type.code == kDLUInt; }

// Small integers: exact in every window dtype, and still exact (bfloat16 has 8 significant bits)
// after the dyadic weights below.
inline double WindowValue(int rank, int64_t i) { return (rank + 1) + (i % 5); }
// Weight rank `from` gives its transfer to or from `to`: 0.5, 1 or 1.5.
inline double Weight(int from, int to) { return 0.5 + 0.5 * ((from + 2 * to) % 3); }

}  // namespace bftest

// SPDX-License-Identifier: Apache-2.0
// Reads a C enum received across the ABI as its integer value. A caller may pass any int in an
// enum-typed field; loading it as the enum type would be undefined behaviour, so it is copied.
#pragma once

#include <cstring>

namespace bluefog {

template <typename Enum>
int EnumValue(const Enum& value) {
  static_assert(sizeof(Enum) == sizeof(int), "C enums travel as int");
  int raw;
  std::memcpy(&raw, &value, sizeof(raw));
  return raw;
}

}  // namespace bluefog

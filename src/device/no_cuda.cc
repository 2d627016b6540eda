// SPDX-License-Identifier: Apache-2.0
// Built without CUDA (-Dcuda=disabled, or Meson found none): no CUDA runtime to offer.
#include "device/device.h"

namespace bluefog {

std::unique_ptr<DeviceRuntime> NewCudaRuntime() { return nullptr; }

}  // namespace bluefog

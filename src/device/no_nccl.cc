// SPDX-License-Identifier: Apache-2.0
// Built without NCCL (-Dnccl=disabled, or Meson found none): GPU tensors that the device
// communicator would run are staged through host memory instead.
#include "device/device_comm.h"

namespace bluefog {

std::string NcclVersion() { return ""; }

Status NewNcclCommunicator(MpiBackend&, Group, int, std::unique_ptr<DeviceCommunicator>*) {
  return Error(BF_ERR_UNSUPPORTED, "this build of BlueFog has no NCCL support");
}

}  // namespace bluefog

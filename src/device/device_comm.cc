// SPDX-License-Identifier: Apache-2.0
// Which device communicator a process uses, its creation, and the scratch memory cache every
// implementation shares.
#include "device/device_comm.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>

namespace bluefog {

namespace {

bool EnvIsOne(const char* name) {
  const char* text = std::getenv(name);
  return text != nullptr && std::strcmp(text, "1") == 0;
}

std::string ChooseKind() {
  DeviceRuntime& devices = Devices();
  if (devices.device_count() == 0) return "";
  if (devices.name().rfind("emulated", 0) == 0) {
    return EnvIsOne("BLUEFOG_TEST_EMULATED_NCCL") ? "emulated" : "";
  }
  return NcclVersion().empty() ? "" : "nccl";
}

}  // namespace

const std::string& DeviceCollectivesKind() {
  static const std::string kind = ChooseKind();
  return kind;
}

Status CreateDeviceCommunicator(MpiBackend& backend, Group group, int device,
                                std::unique_ptr<DeviceCommunicator>* out) {
  const std::string& kind = DeviceCollectivesKind();
  if (kind == "emulated") return NewEmulatedCommunicator(backend, group, device, out);
  if (kind == "nccl") return NewNcclCommunicator(backend, group, device, out);
  return Error(BF_ERR_INTERNAL, "no device communicator is available in this process");
}

DeviceCommunicator::~DeviceCommunicator() {
  DeviceRuntime& devices = Devices();
  for (const auto& [size, block] : free_scratch_) devices.FreeDevice(device_, block);
  for (const auto& [block, size] : scratch_sizes_) devices.FreeDevice(device_, block);
}

Status DeviceCommunicator::AcquireScratch(size_t bytes, void** out) {
  const size_t rounded = std::bit_ceil(std::max<size_t>(bytes, 256));
  auto cached = free_scratch_.find(rounded);
  if (cached != free_scratch_.end()) {
    *out = cached->second;
    free_scratch_.erase(cached);
  } else {
    BF_RETURN_IF_ERROR(Devices().AllocateDevice(device_, rounded, out));
  }
  scratch_sizes_[*out] = rounded;
  return Status::Ok();
}

void DeviceCommunicator::ReleaseScratch(void* scratch) {
  auto size = scratch_sizes_.find(scratch);
  if (size == scratch_sizes_.end()) return;
  free_scratch_.emplace(size->second, scratch);
  scratch_sizes_.erase(size);
}

}  // namespace bluefog

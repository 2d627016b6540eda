// SPDX-License-Identifier: Apache-2.0
// extern "C" entry points for GPU tensors: device queries and the caller's stream.
#include "api/guard.h"
#include "device/device.h"
#include "device/device_comm.h"

using namespace bluefog;

extern "C" {

BF_API int bf_cuda_device_count(void) { return Devices().device_count(); }

BF_API int bf_nccl_built(void) { return NcclVersion().empty() ? 0 : 1; }

BF_API bf_status bf_set_cuda_stream(void* stream) {
  return Guarded([&] {
    SetCallerStream(stream);
    return Status::Ok();
  });
}

}  // extern "C"

// SPDX-License-Identifier: Apache-2.0
// Chooses the process's DeviceRuntime, and the emulated runtime tests use without a GPU.
#include "device/device.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/config.h"
#include "ops/combine.h"

namespace bluefog {

namespace {

// No devices: the build has no CUDA, or BLUEFOG_TEST_EMULATED_GPUS is malformed.
class NoDevices final : public DeviceRuntime {
 public:
  explicit NoDevices(std::string reason) : reason_(std::move(reason)) {}
  std::string name() const override { return "none"; }
  int device_count() const override { return 0; }
  std::string unavailable_reason() const override { return reason_; }
  Status CheckPointer(const void*, int) const override { return Unavailable(); }
  Status AllocateHost(size_t, void**) override { return Unavailable(); }
  void FreeHost(void*) override {}
  Status AllocateDevice(int, size_t, void**) override { return Unavailable(); }
  void FreeDevice(int, void*) override {}
  Status Record(int, DeviceStream, DeviceEvent*) override { return Unavailable(); }
  Status CopyAsync(int, DeviceEvent, void*, const void*, size_t, DeviceEvent*) override {
    return Unavailable();
  }
  Status ScaleAsync(int, DType, void*, size_t, double, DeviceEvent*) override {
    return Unavailable();
  }
  Status Query(DeviceEvent, bool*) override { return Unavailable(); }
  void Release(DeviceEvent) override {}

 private:
  Status Unavailable() const { return Status(BF_ERR_UNSUPPORTED, reason_); }
  std::string reason_;
};

// Emulated devices: device memory is host memory tagged with its device, copies happen at once,
// and an event reports done only from its second query on, so the engine's polling is exercised.
class EmulatedDevices final : public DeviceRuntime {
 public:
  explicit EmulatedDevices(int devices) : devices_(devices) {}

  std::string name() const override {
    return "emulated (BLUEFOG_TEST_EMULATED_GPUS=" + std::to_string(devices_) + ")";
  }
  int device_count() const override { return devices_; }
  std::string unavailable_reason() const override { return ""; }

  Status CheckPointer(const void* pointer, int device) const override {
    // Test programs allocate their "device" tensors with ordinary malloc: any pointer passes,
    // but a device id out of range does not.
    if (pointer == nullptr || device < 0 || device >= devices_) {
      return Error(BF_ERR_INVALID_ARGUMENT, "no emulated device ", device);
    }
    return Status::Ok();
  }

  Status AllocateHost(size_t bytes, void** out) override { return Allocate(bytes, out); }
  void FreeHost(void* pointer) override { std::free(pointer); }
  Status AllocateDevice(int, size_t bytes, void** out) override { return Allocate(bytes, out); }
  void FreeDevice(int, void* pointer) override { std::free(pointer); }

  Status Record(int, DeviceStream, DeviceEvent* out) override { return NewEvent(out); }
  Status CopyAsync(int, DeviceEvent, void* destination, const void* source, size_t bytes,
                   DeviceEvent* done) override {
    if (bytes > 0) std::memcpy(destination, source, bytes);
    return NewEvent(done);
  }
  Status ScaleAsync(int, DType dtype, void* data, size_t count, double factor,
                    DeviceEvent* done) override {
    Scale(dtype, data, data, factor, count);
    return NewEvent(done);
  }
  Status Query(DeviceEvent event, bool* done) override {
    auto* queries = static_cast<std::atomic<int>*>(event);
    *done = queries->fetch_add(1) >= 1;
    return Status::Ok();
  }
  void Release(DeviceEvent event) override { delete static_cast<std::atomic<int>*>(event); }

 private:
  static Status Allocate(size_t bytes, void** out) {
    *out = std::malloc(bytes == 0 ? 1 : bytes);
    if (*out == nullptr) return Error(BF_ERR_OUT_OF_MEMORY, "cannot allocate ", bytes, " bytes");
    return Status::Ok();
  }
  static Status NewEvent(DeviceEvent* out) {
    *out = new std::atomic<int>(0);
    return Status::Ok();
  }
  int devices_;
};

std::unique_ptr<DeviceRuntime> ChooseRuntime() {
  if (const char* text = std::getenv("BLUEFOG_TEST_EMULATED_GPUS"); text && *text) {
    int devices = 0;
    Status read = ReadPositiveIntEnv("BLUEFOG_TEST_EMULATED_GPUS", &devices);
    if (!read.ok()) return std::make_unique<NoDevices>(read.message());
    return NewEmulatedRuntime(devices);
  }
  if (auto cuda = NewCudaRuntime()) return cuda;
  return std::make_unique<NoDevices>(
      "this build of BlueFog has no CUDA support (Meson did not find CUDA, or -Dcuda=disabled)");
}

thread_local DeviceStream caller_stream = nullptr;

}  // namespace

std::unique_ptr<DeviceRuntime> NewEmulatedRuntime(int devices) {
  return std::make_unique<EmulatedDevices>(devices);
}

DeviceRuntime& Devices() {
  // Created once, never destroyed: device memory may be freed by a DLPack deleter at any time,
  // even during static destruction.
  static DeviceRuntime* runtime = ChooseRuntime().release();
  return *runtime;
}

DeviceStream CallerStream() { return caller_stream; }
void SetCallerStream(DeviceStream stream) { caller_stream = stream; }

}  // namespace bluefog

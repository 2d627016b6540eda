// SPDX-License-Identifier: Apache-2.0
// Multi-rank tests of one-sided windows over GPU tensors (kDLCUDA), which the engine stages
// through pinned host memory: create, put, accumulate with a self weight, get, update in place
// and into another device tensor, update_then_collect, versions, associated p, and the errors of
// mixed devices, against closed-form references on the exponential-2 graph.
//
// Runs on real GPUs, or with BLUEFOG_TEST_EMULATED_GPUS on the engine's emulated devices (host
// memory tagged as device memory, memcpy copies), which is how CI covers the staging without a
// GPU. Without either, every test skips, saying why.
#include <mpi.h>

#include <string>
#include <vector>

#include "device_tensor.h"
#include "window_values.h"

namespace bftest {
namespace {

double Value(int rank, int64_t i) { return WindowValue(rank, i); }

class DeviceWindowBase : public ::testing::Test {
 protected:
  void SetUp() override {
    if (bf_cuda_device_count() == 0) {
      GTEST_SKIP() << kNoDeviceReason;
    }
    ASSERT_BF_OK(UseExp2Topology());
    ASSERT_BF_OK(bf_set_win_associated_p(0));
  }
  void TearDown() override {
    if (bf_cuda_device_count() == 0) return;
    EXPECT_BF_OK(bf_win_free(nullptr));
    EXPECT_BF_OK(bf_set_win_associated_p(0));
  }

  void Fill(DeviceTensor& tensor, int of_rank, double offset = 0) {
    for (int64_t i = 0; i < tensor.host.size(); ++i) tensor.host.Set(i, Value(of_rank, i) + offset);
    tensor.Upload();
  }
  // Downloads `tensor` and compares it with expected(i).
  template <typename Expected>
  void ExpectValues(DeviceTensor& tensor, Expected expected, const char* what) {
    tensor.Download();
    const DLDataType type = tensor.host.dtype;
    for (int64_t i = 0; i < tensor.host.size(); ++i) {
      const double want = expected(i);
      ASSERT_NEAR(tensor.host.Get(i), want, Tolerance(type, want))
          << what << ", " << TypeName(type) << ", element " << i << " on rank " << rank;
    }
  }
  std::vector<int> Versions(const char* name) {
    std::vector<int> ranks(in.size() + 1), versions(in.size() + 1);
    int count = -1;
    EXPECT_BF_OK(bf_win_versions(name, ranks.data(), versions.data(),
                                 static_cast<int>(ranks.size()), &count));
    EXPECT_EQ(count, static_cast<int>(in.size()));
    versions.resize(in.size());
    return versions;
  }

  int rank = bf_rank();
  int size = bf_size();
  std::vector<int> in = Exp2InNeighbors(bf_rank(), bf_size());
  std::vector<int> out = Exp2OutNeighbors(bf_rank(), bf_size());
};

class DeviceWindow : public DeviceWindowBase, public ::testing::WithParamInterface<DLDataType> {};

// Puts of the device tensor land in the peers' buffers; an in-place update writes the device
// tensor, an update with `out` writes another device tensor and leaves the window's alone.
TEST_P(DeviceWindow, PutThenUpdateInPlaceAndIntoOut) {
  const DLDataType type = GetParam();
  const bool integer = IsInteger(type);
  DeviceTensor x(type, {3, 4});
  Fill(x, rank);
  ASSERT_BF_OK(bf_win_create(x.get(), "dw.put", /*zero_init=*/1));

  std::vector<double> weights;
  for (int d : out) weights.push_back(integer ? 1.0 : Weight(rank, d));
  bf_win_op_args put{};
  put.struct_size = sizeof(put);
  put.has_ranks = 1;
  put.count = static_cast<int>(out.size());
  put.ranks = out.data();
  put.weights = weights.data();
  ASSERT_BF_OK(bf_win_put(x.get(), "dw.put", &put));
  ASSERT_BF_OK(bf_barrier());  // every put has landed
  EXPECT_EQ(Versions("dw.put"), std::vector<int>(in.size(), 1));
  ExpectValues(x, [&](int64_t i) { return Value(rank, i); }, "a put changed its tensor");

  const double self = integer ? 1.0 : 0.5;
  auto combined = [&](int64_t i) {
    double expected = self * Value(rank, i);
    for (int s : in) expected += (integer ? 1.0 : Weight(s, rank)) * Value(s, i);
    return expected;
  };
  bf_win_update_args update{};
  update.struct_size = sizeof(update);
  update.has_weights = 1;
  update.self_weight = self;
  update.count = static_cast<int>(in.size());
  update.ranks = in.data();
  DeviceTensor clone(type, {3, 4});
  Fill(clone, rank, 100);
  ASSERT_BF_OK(bf_win_update("dw.put", &update, clone.get()));
  ExpectValues(clone, combined, "update into out");
  ExpectValues(x, [&](int64_t i) { return Value(rank, i); }, "update into out changed the window");
  EXPECT_EQ(Versions("dw.put"), std::vector<int>(in.size(), 0));

  ASSERT_BF_OK(bf_win_update("dw.put", &update, nullptr));
  ExpectValues(x, combined, "update in place");
  ASSERT_BF_OK(bf_win_update("dw.put", &update, x.get()));  // `out` the window's tensor: in place
  ExpectValues(x, [&](int64_t i) {
    double expected = self * combined(i);
    for (int s : in) expected += (integer ? 1.0 : Weight(s, rank)) * Value(s, i);
    return expected;
  }, "update in place through out");
  ASSERT_BF_OK(bf_barrier());  // no peer still reads this window
  ASSERT_BF_OK(bf_win_free("dw.put"));
}

// A peer's get reads the device tensor as it is when served: here, written after the create.
TEST_P(DeviceWindow, GetReadsCurrentDeviceMemory) {
  const DLDataType type = GetParam();
  const bool integer = IsInteger(type);
  DeviceTensor x(type, {7});
  Fill(x, rank);
  ASSERT_BF_OK(bf_win_create(x.get(), "dw.get", 1));
  Fill(x, rank, 10);  // device memory changed after the create
  ASSERT_BF_OK(bf_barrier());
  std::vector<double> weights;
  for (int s : in) weights.push_back(integer ? 1.0 : Weight(s, rank));
  bf_win_op_args get{};
  get.struct_size = sizeof(get);
  get.has_ranks = 1;
  get.count = static_cast<int>(in.size());
  get.ranks = in.data();
  get.weights = weights.data();
  bf_handle handle = 0;
  ASSERT_BF_OK(bf_win_get_async("dw.get", &get, &handle));
  ASSERT_BF_OK(bf_wait(handle, -1));
  bf_handle_free(handle);
  EXPECT_EQ(Versions("dw.get"), std::vector<int>(in.size(), 1));

  bf_win_update_args update{};  // the buffers alone: self weight 0 (1 and subtract for ints)
  update.struct_size = sizeof(update);
  update.has_weights = 1;
  update.self_weight = integer ? 1.0 : 0.0;
  update.count = static_cast<int>(in.size());
  update.ranks = in.data();
  DeviceTensor buffers(type, {7});
  ASSERT_BF_OK(bf_win_update("dw.get", &update, buffers.get()));
  ExpectValues(buffers, [&](int64_t i) {
    double expected = integer ? Value(rank, i) + 10 : 0.0;
    for (int s : in) expected += (integer ? 1.0 : Weight(s, rank)) * (Value(s, i) + 10);
    return expected;
  }, "buffers after gets");
  ASSERT_BF_OK(bf_barrier());
  ASSERT_BF_OK(bf_win_free("dw.get"));
}

INSTANTIATE_TEST_SUITE_P(Types, DeviceWindow, ::testing::ValuesIn(WindowTypes()),
                         [](const auto& info) { return TypeName(info.param); });

class DevicePushSum : public DeviceWindow {};

// Push-sum on the device tensor: accumulate with a self weight (which scales the device tensor
// and p), then update_then_collect; mass and p are conserved.
TEST_P(DevicePushSum, AccumulateSelfWeightThenCollect) {
  const DLDataType type = GetParam();
  DeviceTensor x(type, {5});
  Fill(x, rank);
  ASSERT_BF_OK(bf_set_win_associated_p(1));
  ASSERT_BF_OK(bf_win_create(x.get(), "dw.push", 1));
  std::vector<double> weights(out.size(), 0.5);
  bf_win_op_args accumulate{};
  accumulate.struct_size = sizeof(accumulate);
  accumulate.has_ranks = 1;
  accumulate.count = static_cast<int>(out.size());
  accumulate.ranks = out.data();
  accumulate.weights = weights.data();
  accumulate.has_self_weight = 1;
  accumulate.self_weight = 0.5;
  bf_handle handle = 0;
  ASSERT_BF_OK(bf_win_accumulate_async(x.get(), "dw.push", &accumulate, &handle));
  ASSERT_BF_OK(bf_wait(handle, -1));
  bf_handle_free(handle);
  ExpectValues(x, [&](int64_t i) { return 0.5 * Value(rank, i); }, "self weight on the device");
  double p = 0;
  ASSERT_BF_OK(bf_win_associated_p("dw.push", &p));
  EXPECT_EQ(p, 0.5);
  ASSERT_BF_OK(bf_barrier());
  ASSERT_BF_OK(bf_win_update_then_collect("dw.push", 0));
  ExpectValues(x, [&](int64_t i) {
    double expected = 0.5 * Value(rank, i);
    for (int s : in) expected += 0.5 * Value(s, i);
    return expected;
  }, "collect");
  ASSERT_BF_OK(bf_win_associated_p("dw.push", &p));
  EXPECT_EQ(p, 0.5 + 0.5 * static_cast<double>(in.size()));
  EXPECT_EQ(Versions("dw.push"), std::vector<int>(in.size(), 0));
  ASSERT_BF_OK(bf_barrier());
  ASSERT_BF_OK(bf_win_free("dw.push"));
}

INSTANTIATE_TEST_SUITE_P(Types, DevicePushSum, ::testing::ValuesIn(FloatTypes()),
                         [](const auto& info) { return TypeName(info.param); });

class DeviceWindowMixedRanks : public DeviceWindowBase {};

// Ranks may hold one window on the GPU and on the host: only dtype and shape must agree.
TEST_F(DeviceWindowMixedRanks, EvenRanksOnTheGpuOddOnTheHost) {
  const DLDataType f64{kDLFloat, 64, 1};
  const bool on_gpu = rank % 2 == 0;
  DeviceTensor device(f64, {5});
  HostTensor host(f64, {5});
  Fill(device, rank);
  for (int64_t i = 0; i < host.size(); ++i) host.Set(i, Value(rank, i));
  DLTensor* x = on_gpu ? device.get() : host.get();
  ASSERT_BF_OK(bf_win_create(x, "dw.mixed", 1));
  ASSERT_BF_OK(bf_win_put(x, "dw.mixed", nullptr));
  ASSERT_BF_OK(bf_barrier());
  ASSERT_BF_OK(bf_win_update("dw.mixed", nullptr, nullptr));  // 1/(in-degree+1) each
  auto mean = [&](int64_t i) {
    double expected = Value(rank, i);
    for (int s : in) expected += Value(s, i);
    return expected / static_cast<double>(in.size() + 1);
  };
  if (on_gpu) {
    ExpectValues(device, mean, "GPU rank's update");
  } else {
    for (int64_t i = 0; i < host.size(); ++i) EXPECT_NEAR(host.Get(i), mean(i), 1e-12) << i;
  }
  ASSERT_BF_OK(bf_barrier());
  ASSERT_BF_OK(bf_win_free("dw.mixed"));
}

class DeviceWindowLock : public DeviceWindowBase {};

// Gets held by bf_win_lock are served at the unlock, from the device tensor as it is then.
TEST_F(DeviceWindowLock, HeldGetsReadTheTensorAtUnlock) {
  const DLDataType f32{kDLFloat, 32, 1};
  DeviceTensor x(f32, {6});
  Fill(x, rank);
  ASSERT_BF_OK(bf_win_create(x.get(), "dw.lock", 1));
  ASSERT_BF_OK(bf_win_lock("dw.lock"));
  ASSERT_BF_OK(bf_barrier());  // every window is locked before any get is issued
  bf_handle handle = 0;
  ASSERT_BF_OK(bf_win_get_async("dw.lock", nullptr, &handle));
  ASSERT_BF_OK(bf_barrier());
  Fill(x, rank, 20);  // while locked: no peer has a copy of the tensor under way
  ASSERT_BF_OK(bf_win_unlock("dw.lock"));
  ASSERT_BF_OK(bf_wait(handle, -1));
  bf_handle_free(handle);
  bf_win_update_args update{};
  update.struct_size = sizeof(update);
  update.has_weights = 1;
  update.self_weight = 0.0;
  update.count = static_cast<int>(in.size());
  update.ranks = in.data();
  DeviceTensor buffers(f32, {6});
  ASSERT_BF_OK(bf_win_update("dw.lock", &update, buffers.get()));
  ExpectValues(buffers, [&](int64_t i) {
    double expected = 0;
    for (int s : in) expected += Value(s, i) + 20;
    return expected;
  }, "gets held by the lock");
  ASSERT_BF_OK(bf_barrier());
  ASSERT_BF_OK(bf_win_free("dw.lock"));
}

void ExpectError(bf_status status, bf_status code, const std::vector<std::string>& parts) {
  EXPECT_EQ(status, code) << bf_last_error();
  const std::string message = bf_last_error();
  for (const std::string& part : parts) {
    EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  }
}

class DeviceWindowErrors : public DeviceWindowBase {};

// A window's operations take tensors on the window's device; the error names the argument, the
// rank and both devices, and nothing is changed.
TEST_F(DeviceWindowErrors, MixedDevices) {
  const DLDataType f32{kDLFloat, 32, 1};
  const std::string on_rank = "on rank " + std::to_string(rank);
  const std::string device = "cuda:" + std::to_string(TestDevice());
  DeviceTensor x(f32, {4});
  Fill(x, rank);
  ASSERT_BF_OK(bf_win_create(x.get(), "dw.err", 0));
  HostTensor host(f32, {4});
  ExpectError(bf_win_put(host.get(), "dw.err", nullptr), BF_ERR_INVALID_ARGUMENT,
              {"bf_win_put", "'tensor'", on_rank, "the host", device, "dw.err"});
  ExpectError(bf_win_accumulate(host.get(), "dw.err", nullptr), BF_ERR_INVALID_ARGUMENT,
              {"'tensor'", on_rank, device});
  ExpectError(bf_win_update("dw.err", nullptr, host.get()), BF_ERR_INVALID_ARGUMENT,
              {"bf_win_update", "'out'", on_rank, device});
  if (bf_cuda_device_count() > 1) {
    DeviceTensor other(f32, {4});
    other.tensor.device.device_id = (TestDevice() + 1) % bf_cuda_device_count();
    const std::string other_device = "cuda:" + std::to_string(other.tensor.device.device_id);
    ExpectError(bf_win_put(other.get(), "dw.err", nullptr), BF_ERR_INVALID_ARGUMENT,
                {"'tensor'", on_rank, other_device, device});
    ExpectError(bf_win_update("dw.err", nullptr, other.get()), BF_ERR_INVALID_ARGUMENT,
                {"'out'", on_rank, other_device});
  }
  ExpectValues(x, [&](int64_t i) { return Value(rank, i); }, "a refused call changed the tensor");

  HostTensor host_window(f32, {4});
  ASSERT_BF_OK(bf_win_create(host_window.get(), "dw.host", 0));
  ExpectError(bf_win_put(x.get(), "dw.host", nullptr), BF_ERR_INVALID_ARGUMENT,
              {"'tensor'", on_rank, device, "the host", "dw.host"});
  ASSERT_BF_OK(bf_win_free(nullptr));
}

}  // namespace
}  // namespace bftest

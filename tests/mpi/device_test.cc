// SPDX-License-Identifier: Apache-2.0
// Multi-rank tests of operations on GPU tensors (kDLCUDA): every collective and neighbor op on
// device memory against closed-form references, in place and out of place, many in flight
// together with host ops, gathers returning device results, and the errors of mixed devices.
//
// Runs on real GPUs (device memory from cudaMalloc, one device per local rank, shared when there
// are more ranks than devices), or, with BLUEFOG_TEST_EMULATED_GPUS set, on the engine's emulated
// devices (host memory tagged as device memory), which is how CI covers the engine's staging
// without a GPU. Without either, every test skips, saying why.
#include <mpi.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "device_tensor.h"

namespace bftest {
namespace {

double Value(int rank, int64_t i) { return static_cast<double>(rank + 1) + 0.25 * (i % 5); }

class DeviceOps : public ::testing::TestWithParam<DLDataType> {
 protected:
  void SetUp() override {
    if (bf_cuda_device_count() == 0) {
      GTEST_SKIP() << kNoDeviceReason;
    }
    ASSERT_BF_OK(UseExp2Topology());
  }
  int rank = bf_rank();
  int size = bf_size();
};

double NeighborMean(int rank, int size, int64_t i) {
  const std::vector<int> sources = Exp2InNeighbors(rank, size);
  double expected = Value(rank, i);
  for (int s : sources) expected += Value(s, i);
  return expected / static_cast<double>(sources.size() + 1);
}

TEST_P(DeviceOps, NeighborAllreduceOutOfPlaceAndInPlace) {
  const DLDataType type = GetParam();
  DeviceTensor in(type, {4, 5}), out(type, {4, 5});
  for (int64_t i = 0; i < in.host.size(); ++i) in.host.Set(i, Value(rank, i));
  in.Upload();
  ASSERT_BF_OK(bf_neighbor_allreduce(in.get(), out.get(), nullptr));
  out.Download();
  for (int64_t i = 0; i < out.host.size(); ++i) {
    const double expected = NeighborMean(rank, size, i);
    EXPECT_NEAR(out.host.Get(i), expected, Tolerance(type, expected)) << TypeName(type);
  }
  in.host.bytes.assign(in.host.bytes.size(), 0);
  in.Download();
  for (int64_t i = 0; i < in.host.size(); ++i) ASSERT_EQ(in.host.Get(i), Value(rank, i));

  ASSERT_BF_OK(bf_neighbor_allreduce(in.get(), in.get(), nullptr));
  in.Download();
  for (int64_t i = 0; i < in.host.size(); ++i) {
    EXPECT_EQ(in.host.Get(i), out.host.Get(i)) << "in place differs, i=" << i;
  }
}

TEST_P(DeviceOps, AllreduceBroadcastAndAllgather) {
  const DLDataType type = GetParam();
  DeviceTensor x(type, {3, 7});
  for (int64_t i = 0; i < x.host.size(); ++i) x.host.Set(i, Value(rank, i));
  x.Upload();
  bf_allreduce_args sum{sizeof(sum), "device.sum", BF_REDUCE_SUM, 0};
  DeviceTensor total(type, {3, 7});
  ASSERT_BF_OK(bf_allreduce(x.get(), total.get(), &sum));
  total.Download();
  for (int64_t i = 0; i < total.host.size(); ++i) {
    double expected = 0;
    for (int r = 0; r < size; ++r) expected += Value(r, i);
    EXPECT_NEAR(total.host.Get(i), expected, Tolerance(type, expected)) << TypeName(type);
  }

  const int root = size - 1;
  ASSERT_BF_OK(bf_broadcast(x.get(), x.get(), root, nullptr));
  x.Download();
  for (int64_t i = 0; i < x.host.size(); ++i) EXPECT_EQ(x.host.Get(i), Value(root, i));

  // Ranks contribute 0, 1 or 2 rows; the result is device memory of the input's device.
  const int64_t rows = rank % 3;
  DeviceTensor part(type, {rows, 2});
  for (int64_t i = 0; i < part.host.size(); ++i) part.host.Set(i, Value(rank, i));
  part.Upload();
  DLManagedTensor* gathered = nullptr;
  ASSERT_BF_OK(bf_allgather(part.get(), &gathered, nullptr));
  ASSERT_NE(gathered, nullptr);
  const DLTensor& result = gathered->dl_tensor;
  EXPECT_EQ(result.device.device_type, kDLCUDA);
  EXPECT_EQ(result.device.device_id, TestDevice());
  int64_t total_rows = 0;
  for (int r = 0; r < size; ++r) total_rows += r % 3;
  ASSERT_EQ(result.ndim, 2);
  ASSERT_EQ(result.shape[0], total_rows);
  HostTensor copy(type, {total_rows, 2});
  Copy(copy.bytes.data(), result.data, copy.bytes.size());
  int64_t at = 0;
  for (int r = 0; r < size; ++r) {
    for (int64_t i = 0; i < (r % 3) * 2; ++i) EXPECT_EQ(copy.Get(at++), Value(r, i)) << "from " << r;
  }
  gathered->deleter(gathered);
}

TEST_P(DeviceOps, NeighborAllgatherReturnsDeviceMemory) {
  const DLDataType type = GetParam();
  DeviceTensor in(type, {2, 3});
  for (int64_t i = 0; i < in.host.size(); ++i) in.host.Set(i, Value(rank, i));
  in.Upload();
  DLManagedTensor* gathered = nullptr;
  ASSERT_BF_OK(bf_neighbor_allgather(in.get(), &gathered, nullptr));
  const std::vector<int> sources = Exp2InNeighbors(rank, size);
  const DLTensor& result = gathered->dl_tensor;
  EXPECT_EQ(result.device.device_type, kDLCUDA);
  ASSERT_EQ(result.shape[0], static_cast<int64_t>(2 * sources.size()));
  HostTensor copy(type, {result.shape[0], 3});
  Copy(copy.bytes.data(), result.data, copy.bytes.size());
  for (size_t s = 0; s < sources.size(); ++s) {
    for (int64_t i = 0; i < 6; ++i) {
      EXPECT_EQ(copy.Get(static_cast<int64_t>(s) * 6 + i), Value(sources[s], i));
    }
  }
  gathered->deleter(gathered);
}

// Device and host ops in flight together, issued in the same order on every rank (which
// ordered matching needs): all complete with the right values.
TEST_P(DeviceOps, ManyInFlightWithHostOps) {
  const DLDataType type = GetParam();
  constexpr int kOps = 6;
  std::vector<std::unique_ptr<DeviceTensor>> device_in, device_out;
  std::vector<std::unique_ptr<HostTensor>> host_in, host_out;
  std::vector<bf_handle> handles;
  for (int k = 0; k < kOps; ++k) {
    device_in.push_back(std::make_unique<DeviceTensor>(type, std::vector<int64_t>{33 + k}));
    device_out.push_back(std::make_unique<DeviceTensor>(type, std::vector<int64_t>{33 + k}));
    host_in.push_back(std::make_unique<HostTensor>(type, std::vector<int64_t>{5 + k}));
    host_out.push_back(std::make_unique<HostTensor>(type, std::vector<int64_t>{5 + k}));
    for (int64_t i = 0; i < device_in[k]->host.size(); ++i) device_in[k]->host.Set(i, Value(rank, i));
    device_in[k]->Upload();
    for (int64_t i = 0; i < host_in[k]->size(); ++i) host_in[k]->Set(i, Value(rank, i));
    const std::string device_name = "device." + std::to_string(k);
    const std::string host_name = "host." + std::to_string(k);
    bf_neighbor_args args{};
    args.struct_size = sizeof(args);
    args.name = device_name.c_str();
    bf_handle handle = 0;
    ASSERT_BF_OK(bf_neighbor_allreduce_async(device_in[k]->get(), device_out[k]->get(), &args,
                                             &handle));
    handles.push_back(handle);
    bf_allreduce_args average{sizeof(average), host_name.c_str(), BF_REDUCE_AVERAGE, 0};
    ASSERT_BF_OK(bf_allreduce_async(host_in[k]->get(), host_out[k]->get(), &average, &handle));
    handles.push_back(handle);
  }
  for (bf_handle handle : handles) {
    ASSERT_BF_OK(bf_wait(handle, -1));
    ASSERT_BF_OK(bf_handle_free(handle));
  }
  for (int k = 0; k < kOps; ++k) {
    device_out[k]->Download();
    for (int64_t i = 0; i < device_out[k]->host.size(); ++i) {
      const double expected = NeighborMean(rank, size, i);
      EXPECT_NEAR(device_out[k]->host.Get(i), expected, Tolerance(type, expected)) << "op " << k;
    }
    for (int64_t i = 0; i < host_out[k]->size(); ++i) {
      double expected = 0;
      for (int r = 0; r < size; ++r) expected += Value(r, i);
      expected /= size;
      EXPECT_NEAR(host_out[k]->Get(i), expected, Tolerance(type, expected)) << "host op " << k;
    }
  }
}

// Whether allreduce, broadcast and neighbor_allreduce on GPU tensors run on the device
// communicator here (NCCL, or its emulation over MPI) rather than through host copies.
bool DeviceCommunicatorInUse() {
  if (Emulated()) {
    const char* text = std::getenv("BLUEFOG_TEST_EMULATED_NCCL");
    return text != nullptr && std::strcmp(text, "1") == 0;
  }
  return bf_nccl_built() == 1;
}

// Arguments of a dynamic exchange with one peer each way: receive from `source` with
// `src_weight`, send to `destination` scaled by `dst_weight`, keep half of this rank's own value.
// The pointers must outlive the call.
bf_neighbor_args OnePeerArgs(const int* source, const double* src_weight, const int* destination,
                             const double* dst_weight, const char* name = nullptr) {
  bf_neighbor_args args{};
  args.struct_size = sizeof(args);
  args.name = name;
  args.has_weights = 1;
  args.self_weight = 0.5;
  args.src_count = 1;
  args.src_ranks = source;
  args.src_weights = src_weight;
  args.dynamic = 1;
  args.dst_count = 1;
  args.dst_ranks = destination;
  args.dst_weights = dst_weight;
  return args;
}

// One peer per step with weights on both ends (the device communicator's scaling kernel and
// grouped transfers): out = 0.5 in + the left neighbor's in, scaled by 0.25 at the sender and by
// 2 at the receiver.
TEST_P(DeviceOps, DynamicOnePeerWithSrcAndDstWeights) {
  if (size < 2) GTEST_SKIP() << "needs a peer";
  const DLDataType type = GetParam();
  DeviceTensor in(type, {3, 7}), out(type, {3, 7});
  for (int64_t i = 0; i < in.host.size(); ++i) in.host.Set(i, Value(rank, i));
  in.Upload();
  const int right = (rank + 1) % size, left = (rank + size - 1) % size;
  const double dst_weight = 0.25, src_weight = 2.0;
  const bf_neighbor_args args = OnePeerArgs(&left, &src_weight, &right, &dst_weight);
  for (int step = 0; step < 3; ++step) {
    ASSERT_BF_OK(bf_neighbor_allreduce(in.get(), out.get(), &args));
    out.Download();
    for (int64_t i = 0; i < out.host.size(); ++i) {
      const double expected = 0.5 * Value(rank, i) + 0.5 * Value(left, i);
      ASSERT_NEAR(out.host.Get(i), expected, Tolerance(type, expected)) << TypeName(type);
    }
  }
}

// Many asynchronous neighbor_allreduce calls at once, each with its own values and destination
// weight: on the NCCL path, those ready together share one group of transfers, several between
// the same pair, which must still land in the right op.
TEST_P(DeviceOps, ManyAsyncWeightedOpsKeepTheirOwnMessages) {
  if (size < 2) GTEST_SKIP() << "needs a peer";
  const DLDataType type = GetParam();
  constexpr int kOps = 8;
  const int right = (rank + 1) % size, left = (rank + size - 1) % size;
  std::vector<std::unique_ptr<DeviceTensor>> in, out;
  std::vector<double> dst_weights(kOps);
  std::vector<std::string> names(kOps);
  std::vector<bf_handle> handles(kOps);
  const double src_weight = 1.0;
  for (int k = 0; k < kOps; ++k) {
    in.push_back(std::make_unique<DeviceTensor>(type, std::vector<int64_t>{3 + k}));
    out.push_back(std::make_unique<DeviceTensor>(type, std::vector<int64_t>{3 + k}));
    for (int64_t i = 0; i < in[k]->host.size(); ++i) in[k]->host.Set(i, Value(rank, i) + k);
    in[k]->Upload();
    dst_weights[k] = 0.125 * (k + 1);
    names[k] = "device.group." + std::to_string(k);
  }
  for (int k = 0; k < kOps; ++k) {
    const bf_neighbor_args args =
        OnePeerArgs(&left, &src_weight, &right, &dst_weights[k], names[k].c_str());
    ASSERT_BF_OK(bf_neighbor_allreduce_async(in[k]->get(), out[k]->get(), &args, &handles[k]));
  }
  for (int k = kOps - 1; k >= 0; --k) {
    ASSERT_BF_OK(bf_wait(handles[k], -1));
    ASSERT_BF_OK(bf_handle_free(handles[k]));
  }
  for (int k = 0; k < kOps; ++k) {
    out[k]->Download();
    for (int64_t i = 0; i < out[k]->host.size(); ++i) {
      const double expected = 0.5 * (Value(rank, i) + k) + dst_weights[k] * (Value(left, i) + k);
      ASSERT_NEAR(out[k]->host.Get(i), expected, Tolerance(type, expected))
          << TypeName(type) << " op " << k;
    }
  }
}

// Allreduces (sum and average, in and out of place) and broadcasts issued together with
// neighbor_allreduces: on the NCCL path they launch as one group; each keeps its own result.
TEST_P(DeviceOps, AllreducesAndNeighborOpsInFlightTogether) {
  const DLDataType type = GetParam();
  constexpr int kOps = 10;
  const int right = (rank + 1) % size, left = (rank + size - 1) % size;
  const double half = 0.5;
  auto is_broadcast = [](int k) { return k % 5 == 4; };  // from rank k % size
  std::vector<std::unique_ptr<DeviceTensor>> in, out;
  std::vector<std::string> names(kOps);
  std::vector<bf_handle> handles(kOps);
  auto is_neighbor_op = [&](int k) { return size > 1 && k % 2 == 1; };
  {
    // The device communicator is set up by the first op on the device, which runs on its own.
    DeviceTensor first(type, {1});
    first.Upload();
    ASSERT_BF_OK(bf_allreduce(first.get(), first.get(), nullptr));
  }
  for (int k = 0; k < kOps; ++k) {
    in.push_back(std::make_unique<DeviceTensor>(type, std::vector<int64_t>{5 + 3 * k}));
    out.push_back(std::make_unique<DeviceTensor>(type, std::vector<int64_t>{5 + 3 * k}));
    for (int64_t i = 0; i < in[k]->host.size(); ++i) in[k]->host.Set(i, Value(rank, i) + k);
    in[k]->Upload();
    names[k] = "device.mixed." + std::to_string(k);
  }
  for (int k = 0; k < kOps; ++k) {
    DeviceTensor& result = k % 4 == 2 ? *in[k] : *out[k];  // some in place
    if (is_broadcast(k)) {
      bf_op_args args{};
      args.struct_size = sizeof(args);
      args.name = names[k].c_str();
      ASSERT_BF_OK(bf_broadcast_async(in[k]->get(), result.get(), k % size, &args, &handles[k]));
    } else if (is_neighbor_op(k)) {
      const bf_neighbor_args args = OnePeerArgs(&left, &half, &right, nullptr, names[k].c_str());
      ASSERT_BF_OK(bf_neighbor_allreduce_async(in[k]->get(), result.get(), &args, &handles[k]));
    } else {
      bf_allreduce_args args{};
      args.struct_size = sizeof(args);
      args.op = k % 4 == 0 ? BF_REDUCE_AVERAGE : BF_REDUCE_SUM;
      args.name = names[k].c_str();
      ASSERT_BF_OK(bf_allreduce_async(in[k]->get(), result.get(), &args, &handles[k]));
    }
  }
  for (int k = 0; k < kOps; ++k) {
    ASSERT_BF_OK(bf_wait(handles[k], -1));
    ASSERT_BF_OK(bf_handle_free(handles[k]));
  }
  for (int k = 0; k < kOps; ++k) {
    DeviceTensor& result = k % 4 == 2 ? *in[k] : *out[k];
    result.Download();
    for (int64_t i = 0; i < result.host.size(); ++i) {
      double expected = 0;
      if (is_broadcast(k)) {
        expected = Value(k % size, i) + k;
      } else if (is_neighbor_op(k)) {
        expected = 0.5 * (Value(rank, i) + k) + 0.5 * (Value(left, i) + k);
      } else {
        for (int r = 0; r < size; ++r) expected += Value(r, i) + k;
        if (k % 4 == 0) expected /= size;
      }
      ASSERT_NEAR(result.host.Get(i), expected, Tolerance(type, expected))
          << TypeName(type) << " op " << k;
    }
  }
}

// Device allreduces issued together, the second with arguments rank 0 alone gets wrong: the
// first completes, the second fails on every rank, and nothing waits (rank 0's placeholder and
// the others' device op are planned differently, so nothing is grouped).
TEST_P(DeviceOps, AnInvalidOpAmongDeviceOpsFailsOnEveryRank) {
  if (size < 2) GTEST_SKIP() << "needs a peer";
  const DLDataType type = GetParam();
  DeviceTensor first(type, {6}), second(type, {6});
  for (int64_t i = 0; i < first.host.size(); ++i) first.host.Set(i, Value(rank, i));
  first.Upload();
  second.Upload();
  bf_allreduce_args args{};
  args.struct_size = sizeof(args);
  args.op = BF_REDUCE_SUM;
  args.name = "device.valid";
  bf_handle valid = 0, invalid = 0;
  ASSERT_BF_OK(bf_allreduce_async(first.get(), first.get(), &args, &valid));
  args.name = "device.invalid";
  if (rank == 0) args.op = static_cast<bf_reduce_op>(7);
  const bf_status issued = bf_allreduce_async(second.get(), second.get(), &args, &invalid);
  if (rank == 0) {
    EXPECT_EQ(issued, BF_ERR_INVALID_ARGUMENT) << bf_last_error();
  } else {
    ASSERT_BF_OK(issued);
    EXPECT_EQ(bf_wait(invalid, -1), BF_ERR_MISMATCH) << bf_last_error();
    EXPECT_NE(std::string(bf_last_error()).find("invalid arguments"), std::string::npos)
        << bf_last_error();
    ASSERT_BF_OK(bf_handle_free(invalid));
  }
  ASSERT_BF_OK(bf_wait(valid, -1));
  ASSERT_BF_OK(bf_handle_free(valid));
  first.Download();
  for (int64_t i = 0; i < first.host.size(); ++i) {
    double expected = 0;
    for (int r = 0; r < size; ++r) expected += Value(r, i);
    ASSERT_NEAR(first.host.Get(i), expected, Tolerance(type, expected)) << TypeName(type);
  }
}

// Allreduce over this machine's ranks only (on the NCCL path: a machine-local communicator,
// set up at the first such op), then one over every rank on the world communicator.
TEST_P(DeviceOps, MachineLocalThenWorldAllreduce) {
  const DLDataType type = GetParam();
  const int local_size = bf_local_size(), first = rank - bf_local_rank();
  DeviceTensor x(type, {7}), y(type, {7});
  for (int64_t i = 0; i < x.host.size(); ++i) x.host.Set(i, Value(rank, i));
  x.Upload();
  bf_allreduce_args args{};
  args.struct_size = sizeof(args);
  args.op = BF_REDUCE_AVERAGE;
  args.machine_local = 1;
  ASSERT_BF_OK(bf_allreduce(x.get(), y.get(), &args));
  args.machine_local = 0;
  ASSERT_BF_OK(bf_allreduce(x.get(), x.get(), &args));
  y.Download();
  x.Download();
  for (int64_t i = 0; i < y.host.size(); ++i) {
    double machine = 0, world = 0;
    for (int r = first; r < first + local_size; ++r) machine += Value(r, i);
    for (int r = 0; r < size; ++r) world += Value(r, i);
    machine /= local_size;
    world /= size;
    EXPECT_NEAR(y.host.Get(i), machine, Tolerance(type, machine)) << TypeName(type);
    EXPECT_NEAR(x.host.Get(i), world, Tolerance(type, world)) << TypeName(type);
  }
}

// Machines of BLUEFOG_NODES_PER_MACHINE ranks (the -machines variants) over an exponential-2
// machine graph: out = the mean of this machine's and its in-neighbor machines' rank means.
TEST_P(DeviceOps, HierarchicalNeighborAllreduce) {
  if (bf_is_homogeneous() != 1) GTEST_SKIP() << "layout is not homogeneous";
  const int machines = bf_machine_size(), local_size = bf_local_size();
  bf_topology* exp2 = nullptr;
  ASSERT_BF_OK(bf_topology_exponential(machines, 2, &exp2));
  ASSERT_BF_OK(bf_set_machine_topology(exp2, 0));
  bf_topology_free(exp2);
  const DLDataType type = GetParam();
  DeviceTensor in(type, {2, 5}), out(type, {2, 5});
  for (int64_t i = 0; i < in.host.size(); ++i) in.host.Set(i, Value(rank, i));
  in.Upload();
  auto machine_mean = [&](int machine, int64_t i) {
    double sum = 0;
    for (int r = machine * local_size; r < (machine + 1) * local_size; ++r) sum += Value(r, i);
    return sum / local_size;
  };
  const std::vector<int> sources = Exp2InNeighbors(bf_machine_rank(), machines);
  for (DeviceTensor* target : {&out, &in}) {  // out of place, then in place
    ASSERT_BF_OK(bf_hierarchical_neighbor_allreduce(in.get(), target->get(), nullptr));
    target->Download();
    for (int64_t i = 0; i < target->host.size(); ++i) {
      double expected = machine_mean(bf_machine_rank(), i);
      for (int m : sources) expected += machine_mean(m, i);
      expected /= static_cast<double>(sources.size() + 1);
      EXPECT_NEAR(target->host.Get(i), expected, Tolerance(type, expected)) << TypeName(type);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, DeviceOps, ::testing::ValuesIn(FloatTypes()),
                         [](const auto& info) { return TypeName(info.param); });

class DeviceErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    if (bf_cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  }
  // Every element rank + 1, on the device: an allreduce average of it is (size + 1) / 2.
  void FillWithRankPlusOne(DeviceTensor& tensor) const {
    for (int64_t i = 0; i < tensor.host.size(); ++i) tensor.host.Set(i, rank + 1.0);
    tensor.Upload();
  }
  void ExpectAverageOfRankPlusOne(DeviceTensor& tensor) const {
    tensor.Download();
    const double mean = (bf_size() + 1) / 2.0;
    for (int64_t i = 0; i < tensor.host.size(); ++i) EXPECT_EQ(tensor.host.Get(i), mean);
  }
  int rank = bf_rank();
};

void ExpectError(bf_status status, bf_status code, const std::vector<std::string>& parts) {
  EXPECT_EQ(status, code) << bf_last_error();
  const std::string message = bf_last_error();
  for (const std::string& part : parts) {
    EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  }
}

TEST_F(DeviceErrors, MixedDevicesAndBadDeviceIds) {
  const DLDataType f32{kDLFloat, 32, 1};
  const std::string on_rank = "on rank " + std::to_string(rank);
  DeviceTensor in(f32, {8});
  HostTensor host_out(f32, {8});
  ExpectError(bf_neighbor_allreduce(in.get(), host_out.get(), nullptr), BF_ERR_INVALID_ARGUMENT,
              {"'out'", on_rank, "same device"});
  DeviceTensor wrong_id(f32, {8});
  wrong_id.tensor.device.device_id = bf_cuda_device_count();
  ExpectError(bf_neighbor_allreduce(wrong_id.get(), wrong_id.get(), nullptr),
              BF_ERR_INVALID_ARGUMENT, {"'in'", on_rank, "device(s)"});
  wrong_id.tensor.device.device_id = -1;
  ExpectError(bf_neighbor_allreduce(wrong_id.get(), wrong_id.get(), nullptr),
              BF_ERR_INVALID_ARGUMENT, {"'in'", on_rank});
}

TEST_F(DeviceErrors, StreamIsPerThreadAndAccepted) {
  EXPECT_BF_OK(bf_set_cuda_stream(nullptr));
  EXPECT_EQ(bf_nccl_built(), BF_TEST_WITH_NCCL);
}

// The device communicator is bound to the device of a rank's first op on it: an op on another
// device fails on every rank, naming it, until BLUEFOG_<OP>_BY_MPI sends that kind through host
// memory, where any device works.
TEST_F(DeviceErrors, OneDevicePerRankUnlessByMpi) {
  if (!DeviceCommunicatorInUse()) GTEST_SKIP() << "GPU tensors are staged through host memory";
  if (bf_cuda_device_count() < 2) GTEST_SKIP() << "needs two devices";
  const DLDataType f32{kDLFloat, 32, 1};
  DeviceTensor first(f32, {6});
  FillWithRankPlusOne(first);
  ASSERT_BF_OK(bf_allreduce(first.get(), first.get(), nullptr));  // binds this rank's device

  DeviceTensor other(f32, {6});
  other.tensor.device.device_id = (TestDevice() + 1) % bf_cuda_device_count();
  FillWithRankPlusOne(other);
  ExpectError(bf_allreduce(other.get(), other.get(), nullptr), BF_ERR_UNSUPPORTED,
              {"on rank " + std::to_string(rank), "device " + std::to_string(TestDevice()),
               "one device"});

  ASSERT_EQ(setenv("BLUEFOG_ALLREDUCE_BY_MPI", "1", 1), 0);
  const bf_status staged = bf_allreduce(other.get(), other.get(), nullptr);
  ASSERT_EQ(unsetenv("BLUEFOG_ALLREDUCE_BY_MPI"), 0);
  ASSERT_BF_OK(staged);
  ExpectAverageOfRankPlusOne(other);
}

// Ranks that disagree on BLUEFOG_<OP>_BY_MPI would run an op on NCCL on some ranks and on MPI on
// others: it fails on every rank, naming the ranks on the GPU communicator, and the next op runs.
TEST_F(DeviceErrors, RanksDisagreeingOnTheGpuPathFailTogether) {
  if (!DeviceCommunicatorInUse()) GTEST_SKIP() << "GPU tensors are staged through host memory";
  if (bf_size() < 2) GTEST_SKIP() << "needs two ranks";
  const DLDataType f32{kDLFloat, 32, 1};
  DeviceTensor tensor(f32, {6});
  FillWithRankPlusOne(tensor);
  if (rank == 0) {
    ASSERT_EQ(setenv("BLUEFOG_ALLREDUCE_BY_MPI", "1", 1), 0);
  }
  const bf_status split = bf_allreduce(tensor.get(), tensor.get(), nullptr);
  const std::string message = bf_last_error();
  if (rank == 0) {
    ASSERT_EQ(unsetenv("BLUEFOG_ALLREDUCE_BY_MPI"), 0);
  }
  EXPECT_EQ(split, BF_ERR_MISMATCH) << message;
  EXPECT_NE(message.find("on the GPU communicator"), std::string::npos) << message;
  EXPECT_NE(message.find("rank 0 posted"), std::string::npos) << message;

  ASSERT_BF_OK(bf_allreduce(tensor.get(), tensor.get(), nullptr));  // alike again: it runs
  ExpectAverageOfRankPlusOne(tensor);
}

// Compressed neighbor_allreduce needs the host path's encoders, so with a device communicator it
// is staged after all (StageOnHostAfterAll): still right.
TEST_F(DeviceErrors, CompressedNeighborAllreduce) {
  const DLDataType f32{kDLFloat, 32, 1};
  ASSERT_BF_OK(UseExp2Topology());
  DeviceTensor in(f32, {64}), out(f32, {64});
  for (int64_t i = 0; i < in.host.size(); ++i) in.host.Set(i, Value(rank, i));
  in.Upload();
  bf_neighbor_args args{};
  args.struct_size = sizeof(args);
  args.name = "device.compressed";
  args.compression = BF_COMPRESSION_FLOAT16;
  ASSERT_BF_OK(bf_neighbor_allreduce(in.get(), out.get(), &args));
  out.Download();
  for (int64_t i = 0; i < out.host.size(); ++i) {
    const double expected = NeighborMean(rank, bf_size(), i);
    EXPECT_NEAR(out.host.Get(i), expected, 1e-2 * expected) << i;
  }
}

#if BF_TEST_WITH_CUDA
// Real GPUs only: an op issued right behind work still queued on the caller's stream reads what
// that work wrote, not what was there before.
TEST_F(DeviceErrors, OrderedAfterTheCallersStream) {
  if (Emulated()) GTEST_SKIP() << "needs a real stream";
  const DLDataType f32{kDLFloat, 32, 1};
  constexpr int64_t kElements = 1 << 22;
  DeviceTensor x(f32, {kElements}), out(f32, {kElements});
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  // Keep the stream busy, then zero x on it; the op must see the zeros.
  void* scratch = DeviceAllocate(size_t{256} << 20);
  for (int repeat = 0; repeat < 8; ++repeat) {
    ASSERT_EQ(cudaMemsetAsync(scratch, repeat, size_t{256} << 20, stream), cudaSuccess);
  }
  for (int64_t i = 0; i < kElements; ++i) x.host.Set(i, 7.0);
  x.Upload();
  ASSERT_EQ(cudaMemsetAsync(x.data, 0, x.host.bytes.size(), stream), cudaSuccess);
  ASSERT_BF_OK(bf_set_cuda_stream(stream));
  ASSERT_BF_OK(bf_neighbor_allreduce(x.get(), out.get(), nullptr));
  ASSERT_BF_OK(bf_set_cuda_stream(nullptr));
  out.Download();
  for (int64_t i = 0; i < kElements; i += 4099) ASSERT_EQ(out.host.Get(i), 0.0) << i;
  DeviceFree(scratch);
  ASSERT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}
#endif

}  // namespace
}  // namespace bftest

// SPDX-License-Identifier: Apache-2.0
// Multi-rank tests of the global collectives (allreduce, broadcast, allgather, barrier) for every
// dtype, in place and out of place, against closed-form references.
#include <mpi.h>

#include "test_util.h"

namespace bftest {
namespace {

class Collective : public ::testing::TestWithParam<DLDataType> {
 protected:
  int rank = bf_rank();
  int size = bf_size();
};

// Small integer values keep every reference exact in every dtype (int8 sums over 8 ranks fit).
double Value(int rank, int64_t i) { return static_cast<double>((rank + i) % 4); }

TEST_P(Collective, AllreduceSumOutOfPlace) {
  const DLDataType type = GetParam();
  HostTensor in(type, {3, 5}), out(type, {3, 5});
  for (int64_t i = 0; i < in.size(); ++i) in.Set(i, Value(rank, i));
  bf_allreduce_args args{sizeof(args), "sum", BF_REDUCE_SUM, 0};
  ASSERT_BF_OK(bf_allreduce(in.get(), out.get(), &args));
  for (int64_t i = 0; i < in.size(); ++i) {
    double expected = 0;
    for (int r = 0; r < size; ++r) expected += Value(r, i);
    EXPECT_NEAR(out.Get(i), expected, Tolerance(type, expected)) << TypeName(type) << " i=" << i;
    EXPECT_EQ(in.Get(i), Value(rank, i)) << "input modified";
  }
}

TEST_P(Collective, AllreduceAverageInPlace) {
  const DLDataType type = GetParam();
  HostTensor x(type, {17});
  for (int64_t i = 0; i < x.size(); ++i) x.Set(i, Value(rank, i));
  bf_allreduce_args args{sizeof(args), nullptr, BF_REDUCE_AVERAGE, 0};
  const bf_status status = bf_allreduce(x.get(), x.get(), &args);
  if (type.code == kDLInt || type.code == kDLUInt) {
    EXPECT_EQ(status, BF_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(bf_last_error()).find("floating"), std::string::npos) << bf_last_error();
    return;
  }
  ASSERT_EQ(status, BF_OK) << bf_last_error();
  for (int64_t i = 0; i < x.size(); ++i) {
    double expected = 0;
    for (int r = 0; r < size; ++r) expected += Value(r, i);
    expected /= size;
    EXPECT_NEAR(x.Get(i), expected, Tolerance(type, expected)) << TypeName(type);
  }
}

TEST_P(Collective, BroadcastEveryRoot) {
  const DLDataType type = GetParam();
  for (int root = 0; root < size; ++root) {
    HostTensor in(type, {2, 3, 4}), out(type, {2, 3, 4});
    for (int64_t i = 0; i < in.size(); ++i) in.Set(i, Value(rank, i));
    ASSERT_BF_OK(bf_broadcast(in.get(), out.get(), root, nullptr));
    for (int64_t i = 0; i < out.size(); ++i) {
      EXPECT_EQ(out.Get(i), Value(root, i)) << TypeName(type) << " root " << root;
      EXPECT_EQ(in.Get(i), Value(rank, i)) << "input modified";
    }
    ASSERT_BF_OK(bf_broadcast(in.get(), in.get(), root, nullptr));  // in place
    for (int64_t i = 0; i < in.size(); ++i) EXPECT_EQ(in.Get(i), Value(root, i));
  }
}

TEST_P(Collective, AllgatherVaryingFirstDimension) {
  const DLDataType type = GetParam();
  const int64_t rows = rank % 3;  // includes ranks that contribute nothing
  HostTensor in(type, {rows, 2});
  for (int64_t i = 0; i < in.size(); ++i) in.Set(i, Value(rank, i));
  DLManagedTensor* gathered = nullptr;
  ASSERT_BF_OK(bf_allgather(in.get(), &gathered, nullptr));
  ASSERT_NE(gathered, nullptr);
  int64_t total_rows = 0;
  for (int r = 0; r < size; ++r) total_rows += r % 3;
  const DLTensor& t = gathered->dl_tensor;
  ASSERT_EQ(t.ndim, 2);
  EXPECT_EQ(t.shape[0], total_rows);
  EXPECT_EQ(t.shape[1], 2);
  EXPECT_EQ(t.dtype.code, type.code);
  EXPECT_EQ(t.dtype.bits, type.bits);
  HostTensor view(type, {total_rows, 2});
  if (!view.bytes.empty()) std::memcpy(view.bytes.data(), t.data, view.bytes.size());
  int64_t offset = 0;
  for (int r = 0; r < size; ++r) {
    for (int64_t i = 0; i < (r % 3) * 2; ++i) EXPECT_EQ(view.Get(offset + i), Value(r, i));
    offset += (r % 3) * 2;
  }
  gathered->deleter(gathered);
}

INSTANTIATE_TEST_SUITE_P(AllDtypes, Collective, ::testing::ValuesIn(AllTypes()),
                         [](const auto& info) { return TypeName(info.param); });

TEST(CollectiveMisc, AsyncOpsCompleteInIssueOrder) {
  const int rank = bf_rank(), size = bf_size();
  constexpr int kOps = 8;
  std::vector<std::unique_ptr<HostTensor>> tensors;
  std::vector<bf_handle> handles(kOps);
  for (int k = 0; k < kOps; ++k) {
    tensors.push_back(std::make_unique<HostTensor>(DLDataType{kDLFloat, 64, 1},
                                                   std::vector<int64_t>{1000}));
    for (int64_t i = 0; i < 1000; ++i) tensors[k]->Set(i, rank * k + i);
    bf_allreduce_args args{sizeof(args), nullptr, BF_REDUCE_SUM, 0};
    ASSERT_BF_OK(bf_allreduce_async(tensors[k]->get(), tensors[k]->get(), &args, &handles[k]));
  }
  for (int k = kOps - 1; k >= 0; --k) {
    EXPECT_BF_OK(bf_wait(handles[k], -1));
    int done = 0;
    EXPECT_BF_OK(bf_poll(handles[k], &done));
    EXPECT_EQ(done, 1);
    EXPECT_BF_OK(bf_handle_free(handles[k]));
    EXPECT_EQ(bf_handle_free(handles[k]), BF_ERR_INVALID_ARGUMENT) << "double free accepted";
    EXPECT_EQ(bf_wait(handles[k], 0), BF_ERR_INVALID_ARGUMENT) << "wait on freed handle";
    const double rank_sum = size * (size - 1) / 2.0;
    for (int64_t i = 0; i < 1000; i += 111) {
      EXPECT_EQ(tensors[k]->Get(i), rank_sum * k + size * static_cast<double>(i));
    }
  }
}

TEST(CollectiveMisc, BarrierAndMachineLocalAllreduce) {
  ASSERT_BF_OK(bf_barrier());
  bf_handle handle = 0;
  ASSERT_BF_OK(bf_barrier_async(&handle));
  EXPECT_BF_OK(bf_wait(handle, -1));
  EXPECT_BF_OK(bf_handle_free(handle));

  const int rank = bf_rank(), local_size = bf_local_size();
  HostTensor x({kDLFloat, 64, 1}, {4});
  for (int64_t i = 0; i < 4; ++i) x.Set(i, rank);
  bf_allreduce_args args{sizeof(args), nullptr, BF_REDUCE_AVERAGE, 1};
  ASSERT_BF_OK(bf_allreduce(x.get(), x.get(), &args));
  // Machine-local ranks: every rank whose machine_rank equals mine (contiguous when homogeneous).
  int machine = bf_machine_rank();
  std::vector<int> machines(bf_size());
  MPI_Allgather(&machine, 1, MPI_INT, machines.data(), 1, MPI_INT, MPI_COMM_WORLD);
  double expected = 0;
  for (int r = 0; r < bf_size(); ++r) expected += machines[r] == machine ? r : 0;
  expected /= local_size;
  EXPECT_DOUBLE_EQ(x.Get(0), expected);
}

TEST(CollectiveMisc, LayoutMatchesMpi) {
  int mpi_rank = 0, mpi_size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &mpi_size);
  EXPECT_EQ(bf_rank(), mpi_rank);
  EXPECT_EQ(bf_size(), mpi_size);
  EXPECT_GE(bf_local_rank(), 0);
  EXPECT_LT(bf_local_rank(), bf_local_size());
  EXPECT_GE(bf_machine_rank(), 0);
  EXPECT_LT(bf_machine_rank(), bf_machine_size());
  if (const char* npm = std::getenv("BLUEFOG_NODES_PER_MACHINE")) {
    const int n = std::atoi(npm);
    EXPECT_EQ(bf_local_size(), std::min(n, mpi_size - mpi_rank / n * n));
    EXPECT_EQ(bf_local_rank(), mpi_rank % n);
    EXPECT_EQ(bf_machine_rank(), mpi_rank / n);
    EXPECT_EQ(bf_machine_size(), (mpi_size + n - 1) / n);
    EXPECT_EQ(bf_is_homogeneous(), mpi_size % n == 0 ? 1 : 0);
  } else {
    EXPECT_EQ(bf_machine_size(), 1);  // one host
    EXPECT_EQ(bf_local_size(), mpi_size);
    EXPECT_EQ(bf_is_homogeneous(), 1);
  }
}

TEST(CollectiveMismatch, DifferentOpsFailOnEveryRank) {
  const int rank = bf_rank(), size = bf_size();
  if (size < 2) GTEST_SKIP() << "needs 2 ranks";
  HostTensor x({kDLFloat, 32, 1}, {6});
  bf_status status;
  // Named, so the ranks' counters for unnamed ops stay in step for the tests that follow.
  if (rank == 1) {
    bf_op_args named{sizeof(named), "m1"};
    status = bf_broadcast(x.get(), x.get(), 0, &named);
  } else {
    bf_allreduce_args args{sizeof(args), "m1", BF_REDUCE_SUM, 0};
    status = bf_allreduce(x.get(), x.get(), &args);
  }
  EXPECT_EQ(status, BF_ERR_MISMATCH);
  const std::string message = bf_last_error();
  EXPECT_NE(message.find("rank 1 posted broadcast"), std::string::npos) << message;
  EXPECT_NE(message.find("allreduce"), std::string::npos) << message;

  // Dtype and size mismatches, then the engine is still in step.
  HostTensor y(rank == 0 ? DLDataType{kDLFloat, 64, 1} : DLDataType{kDLFloat, 32, 1}, {6});
  bf_allreduce_args args{sizeof(args), "y", BF_REDUCE_SUM, 0};
  EXPECT_EQ(bf_allreduce(y.get(), y.get(), &args), BF_ERR_MISMATCH);
  EXPECT_NE(std::string(bf_last_error()).find("float64"), std::string::npos) << bf_last_error();
  HostTensor z({kDLFloat, 32, 1}, {rank == 0 ? 7 : 6});
  bf_op_args named{sizeof(named), "z"};
  EXPECT_EQ(bf_broadcast(z.get(), z.get(), 0, &named), BF_ERR_MISMATCH);
  EXPECT_EQ(bf_broadcast(x.get(), x.get(), rank == 0 ? 1 : 0, &named), BF_ERR_MISMATCH);
  EXPECT_NE(std::string(bf_last_error()).find("root"), std::string::npos) << bf_last_error();
  EXPECT_BF_OK(bf_barrier());
}

}  // namespace
}  // namespace bftest

// SPDX-License-Identifier: Apache-2.0
// Cross-rank validation: ranks that disagree on a topology, operations in flight refusing a
// topology change and timing out, and invalid arguments on one rank failing every rank. The
// single-call bad-input rows live in the catalogue, bad_input_test.cc.
#include <mpi.h>

#include <vector>

#include "test_util.h"

namespace bftest {
namespace {

class Validation : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_BF_OK(UseExp2Topology());
  }
  int rank = bf_rank();
  int size = bf_size();
};

TEST_F(Validation, DifferentTopologiesOnDifferentRanksFailEverywhere) {
  if (size < 3) GTEST_SKIP() << "exp2 and ring coincide below 3 ranks";
  bf_topology* mine = nullptr;
  if (rank == 0) {
    ASSERT_BF_OK(bf_topology_ring(size, BF_RING_LEFT, &mine));
  } else {
    ASSERT_BF_OK(bf_topology_exponential(size, 2, &mine));
  }
  EXPECT_EQ(bf_set_topology(mine, 0), BF_ERR_MISMATCH);
  EXPECT_NE(std::string(bf_last_error()).find("different topologies"), std::string::npos)
      << bf_last_error();
  bf_topology_free(mine);
  int weighted = -1;
  bf_topology* current = nullptr;
  ASSERT_BF_OK(bf_get_topology(&current, &weighted));  // the previous topology is kept
  std::vector<int> ranks(size);
  int count = 0;
  ASSERT_BF_OK(bf_topology_in_neighbors(current, rank, ranks.data(), nullptr, size, &count));
  ranks.resize(count);
  EXPECT_EQ(ranks, Exp2InNeighbors(rank, size));
  bf_topology_free(current);
}

// Rank 0 posts an allreduce that cannot complete until the others post theirs, which they do only
// after an MPI barrier that rank 0 enters after probing the in-flight behaviour.
TEST_F(Validation, InFlightOperationsRefuseTopologyChangeAndFreeAndTimeOut) {
  if (size < 2) GTEST_SKIP() << "needs a peer that holds back";
  double value = rank;
  int64_t shape[1] = {1};
  DLTensor t{&value, {kDLCPU, 0}, 1, {kDLFloat, 64, 1}, shape, nullptr, 0};
  bf_allreduce_args sum{sizeof(sum), "held", BF_REDUCE_SUM, 0};
  bf_handle handle = 0;
  if (rank == 0) {
    ASSERT_BF_OK(bf_allreduce_async(&t, &t, &sum, &handle));
    EXPECT_EQ(bf_wait(handle, 20), BF_ERR_TIMEOUT);
    EXPECT_NE(std::string(bf_last_error()).find("did not complete within 20 ms"),
              std::string::npos);
    int done = 1;
    EXPECT_BF_OK(bf_poll(handle, &done));
    EXPECT_EQ(done, 0);
    EXPECT_EQ(bf_handle_free(handle), BF_ERR_IN_PROGRESS);
    bf_topology* ring = nullptr;
    ASSERT_BF_OK(bf_topology_ring(size, BF_RING_BIDIRECTIONAL, &ring));
    EXPECT_EQ(bf_set_topology(ring, 0), BF_ERR_IN_PROGRESS);
    EXPECT_NE(std::string(bf_last_error()).find("in flight"), std::string::npos);
    bf_topology_free(ring);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    EXPECT_BF_OK(bf_wait(handle, -1));
    EXPECT_BF_OK(bf_handle_free(handle));
  } else {
    ASSERT_BF_OK(bf_allreduce(&t, &t, &sum));
  }
  EXPECT_EQ(value, size * (size - 1) / 2.0);
}

}  // namespace
}  // namespace bftest

namespace bftest {
namespace {

// Invalid arguments on one rank fail a global op on every rank instead of leaving the others
// waiting: rank 0 passes something wrong, the others a valid call under the same name.
TEST(FailTogether, InvalidArgumentsOnOneRankFailEveryRank) {
  const int rank = bf_rank(), size = bf_size();
  if (size < 2) GTEST_SKIP() << "needs a second rank";
  float data[6] = {1, 2, 3, 4, 5, 6};
  int64_t shape[1] = {6};
  DLTensor good{data, {kDLCPU, 0}, 1, {kDLFloat, 32, 1}, shape, nullptr, 0};
  DLTensor scalar{data, {kDLCPU, 0}, 0, {kDLFloat, 32, 1}, shape, nullptr, 0};
  auto check = [&](bf_status status, const char* what) {
    if (rank == 0) {
      EXPECT_EQ(status, BF_ERR_INVALID_ARGUMENT) << what << ": " << bf_last_error();
    } else {
      EXPECT_EQ(status, BF_ERR_MISMATCH) << what << ": " << bf_last_error();
      EXPECT_NE(std::string(bf_last_error()).find("rank 0 posted"), std::string::npos)
          << bf_last_error();
      EXPECT_NE(std::string(bf_last_error()).find("invalid arguments"), std::string::npos)
          << bf_last_error();
    }
  };
  bf_allreduce_args sum{sizeof(sum), "bad.allreduce", BF_REDUCE_SUM, 0};
  check(bf_allreduce(rank == 0 ? nullptr : &good, &good, &sum), "allreduce");
  bf_op_args named{sizeof(named), "bad.broadcast"};
  check(bf_broadcast(&good, &good, rank == 0 ? size + 5 : 0, &named), "broadcast");
  DLManagedTensor* gathered = nullptr;
  bf_op_args gather{sizeof(gather), "bad.allgather"};
  check(bf_allgather(rank == 0 ? &scalar : &good, &gathered, &gather), "allgather");
  EXPECT_EQ(gathered, nullptr);
  // Unnamed: the placeholder keeps the per-rank counters of unnamed ops in step.
  check(bf_allreduce(rank == 0 ? nullptr : &good, &good, nullptr), "unnamed allreduce");
  float value = 1.0f;
  int64_t one[1] = {1};
  DLTensor x{&value, {kDLCPU, 0}, 1, {kDLFloat, 32, 1}, one, nullptr, 0};
  bf_allreduce_args unnamed_sum{sizeof(unnamed_sum), nullptr, BF_REDUCE_SUM, 0};
  ASSERT_BF_OK(bf_allreduce(&x, &x, &unnamed_sum));
  EXPECT_EQ(value, size);
}

}  // namespace
}  // namespace bftest

// SPDX-License-Identifier: Apache-2.0
// Bad input never crashes or hangs: each row passes one malformed argument and expects its status
// and a message naming the argument (and the rank). Plus in-flight refusals and timeouts.
#include <mpi.h>

#include <cmath>
#include <algorithm>
#include <functional>

#include "test_util.h"

namespace bftest {
namespace {

struct BadInput {
  const char* label;
  bf_status expected;
  std::string message_part;
  std::function<bf_status()> call;
};

class Validation : public ::testing::Test {
 protected:
  void SetUp() override {
    bf_topology* exp2 = nullptr;
    ASSERT_BF_OK(bf_topology_exponential(size, 2, &exp2));
    ASSERT_BF_OK(bf_set_topology(exp2, 0));
    bf_topology_free(exp2);
  }
  void Check(const std::vector<BadInput>& rows) {
    for (const BadInput& row : rows) {
      const bf_status status = row.call();
      EXPECT_EQ(status, row.expected) << row.label << ": " << bf_last_error();
      const std::string message = bf_last_error();
      EXPECT_NE(message.find(row.message_part), std::string::npos)
          << row.label << ": message \"" << message << "\" lacks \"" << row.message_part << "\"";
    }
    std::printf("[rank %d] %zu bad-input rows checked\n", rank, rows.size());
  }
  int rank = bf_rank();
  int size = bf_size();
  std::string on_rank = "on rank " + std::to_string(bf_rank());
};

TEST_F(Validation, TensorArguments) {
  float data[12] = {};
  int64_t shape[2] = {3, 4};
  int64_t strides[2] = {1, 3};  // column-major: not compact row-major
  int64_t negative[1] = {-2};
  int64_t huge[2] = {int64_t{1} << 40, int64_t{1} << 40};
  auto make = [&](DLDataType type, int64_t* dims, int ndim) {
    return DLTensor{data, {kDLCPU, 0}, ndim, type, dims, nullptr, 0};
  };
  const DLDataType f32{kDLFloat, 32, 1};
  DLTensor good = make(f32, shape, 2);
  DLTensor strided = make(f32, shape, 2);
  strided.strides = strides;
  DLTensor lanes = make({kDLFloat, 32, 2}, shape, 2);
  DLTensor complex = make({5, 64, 1}, shape, 2);  // kDLComplex
  DLTensor cuda = make(f32, shape, 2);
  cuda.device = {kDLCUDA, 0};
  DLTensor neg = make(f32, negative, 1);
  DLTensor big = make(f32, huge, 2);
  DLTensor misaligned = make(f32, shape, 2);
  misaligned.byte_offset = 2;
  int64_t other_shape[2] = {4, 3};
  DLTensor other = make(f32, other_shape, 2);
  int32_t ints[12] = {};
  DLTensor integer = make({kDLInt, 32, 1}, shape, 2);
  integer.data = ints;
  DLTensor scalar = make(f32, shape, 0);
  DLTensor null_data = make(f32, shape, 2);
  null_data.data = nullptr;
  DLManagedTensor* gathered = nullptr;
  bf_allreduce_args bad_op{sizeof(bf_allreduce_args), nullptr, static_cast<bf_reduce_op>(7), 0};
  bf_op_args zero_size{0, nullptr};

  Check({
      {"NULL in", BF_ERR_INVALID_ARGUMENT, "'in' " + on_rank + " is NULL",
       [&] { return bf_neighbor_allreduce(nullptr, &good, nullptr); }},
      {"NULL out", BF_ERR_INVALID_ARGUMENT, "'out' " + on_rank + " is NULL",
       [&] { return bf_neighbor_allreduce(&good, nullptr, nullptr); }},
      {"non-contiguous", BF_ERR_INVALID_ARGUMENT, "not contiguous",
       [&] { return bf_allreduce(&strided, &strided, nullptr); }},
      {"lanes", BF_ERR_INVALID_ARGUMENT, "lanes",
       [&] { return bf_broadcast(&lanes, &lanes, 0, nullptr); }},
      {"unsupported dtype", BF_ERR_INVALID_ARGUMENT, "unsupported dtype",
       [&] { return bf_allgather(&complex, &gathered, nullptr); }},
      {"cuda device", BF_ERR_UNSUPPORTED, "CUDA",
       [&] { return bf_neighbor_allreduce(&cuda, &cuda, nullptr); }},
      {"negative extent", BF_ERR_INVALID_ARGUMENT, "negative extent",
       [&] { return bf_allreduce(&neg, &neg, nullptr); }},
      {"byte size overflow", BF_ERR_INVALID_ARGUMENT, "overflows",
       [&] { return bf_allreduce(&big, &big, nullptr); }},
      {"misaligned byte_offset", BF_ERR_INVALID_ARGUMENT, "byte_offset",
       [&] { return bf_allreduce(&misaligned, &misaligned, nullptr); }},
      {"NULL data", BF_ERR_INVALID_ARGUMENT, "NULL data",
       [&] { return bf_allreduce(&null_data, &null_data, nullptr); }},
      {"out shape differs", BF_ERR_INVALID_ARGUMENT, "'out' " + on_rank,
       [&] { return bf_neighbor_allreduce(&good, &other, nullptr); }},
      {"integer neighbor_allreduce", BF_ERR_INVALID_ARGUMENT, "floating",
       [&] { return bf_neighbor_allreduce(&integer, &integer, nullptr); }},
      {"integer average", BF_ERR_INVALID_ARGUMENT, "BF_REDUCE_SUM",
       [&] { return bf_allreduce(&integer, &integer, nullptr); }},
      {"rank-0 allgather", BF_ERR_INVALID_ARGUMENT, "ndim >= 1",
       [&] { return bf_allgather(&scalar, &gathered, nullptr); }},
      {"NULL gather output", BF_ERR_INVALID_ARGUMENT, "'out'",
       [&] { return bf_neighbor_allgather(&good, nullptr, nullptr); }},
      {"bad reduce op", BF_ERR_INVALID_ARGUMENT, "args->op",
       [&] { return bf_allreduce(&good, &good, &bad_op); }},
      {"zero struct_size", BF_ERR_INVALID_ARGUMENT, "struct_size",
       [&] { return bf_broadcast(&good, &good, 0, &zero_size); }},
      {"root out of range", BF_ERR_INVALID_ARGUMENT, "root_rank " + std::to_string(size),
       [&] { return bf_broadcast(&good, &good, size, nullptr); }},
      {"NULL handle", BF_ERR_INVALID_ARGUMENT, "'handle' is NULL",
       [&] { return bf_allreduce_async(&good, &good, nullptr, nullptr); }},
      {"unknown handle", BF_ERR_INVALID_ARGUMENT, "unknown",
       [&] { return bf_wait(987654321, 0); }},
      {"pair gossip with itself", BF_ERR_INVALID_ARGUMENT, "itself",
       [&] { return bf_pair_gossip(&good, &good, rank, 0.5, 0.5, nullptr); }},
      {"pair gossip NaN weight", BF_ERR_INVALID_ARGUMENT, size > 1 ? "pair_weight" : "peer_rank",
       [&] { return bf_pair_gossip(&good, &good, size > 1 ? (rank + 1) % size : 1, 0.5, NAN,
                                   nullptr); }},
  });
  EXPECT_EQ(gathered, nullptr) << "output written on error";
}

TEST_F(Validation, NeighborArguments) {
  double x = 1.0;
  int64_t shape[1] = {1};
  DLTensor t{&x, {kDLCPU, 0}, 1, {kDLFloat, 64, 1}, shape, nullptr, 0};
  const std::vector<int> in_neighbors = Exp2InNeighbors(rank, size);
  int outsider = -1;  // a rank that is neither me nor an in-neighbor
  for (int r = 0; r < size; ++r) {
    if (r != rank && std::find(in_neighbors.begin(), in_neighbors.end(), r) == in_neighbors.end()) {
      outsider = r;
    }
  }
  const int out_of_range = size + 3, me = rank;
  const int duplicate[2] = {(rank + 1) % size, (rank + 1) % size};
  const double weights[2] = {0.5, 0.5};
  const double nan_weight = NAN;
  auto args = [](const char* name) {
    bf_neighbor_args a{};
    a.struct_size = sizeof(a);
    a.name = name;
    a.has_weights = 1;
    a.self_weight = 0.5;
    return a;
  };
  bf_neighbor_args range = args("range");
  range.src_count = 1;
  range.src_ranks = &out_of_range;
  range.src_weights = weights;
  bf_neighbor_args self = range;
  self.src_ranks = &me;
  bf_neighbor_args dup = range;
  dup.src_count = 2;
  dup.src_ranks = duplicate;
  bf_neighbor_args nan_self = args("nan");
  nan_self.self_weight = NAN;
  bf_neighbor_args nan_src = args("nan_src");
  nan_src.dynamic = 1;
  nan_src.src_count = 1;
  nan_src.src_ranks = duplicate;
  nan_src.src_weights = &nan_weight;
  bf_neighbor_args static_dst = args("static_dst");
  static_dst.dst_count = 1;
  static_dst.dst_ranks = duplicate;
  bf_neighbor_args dynamic_no_weights{};
  dynamic_no_weights.struct_size = sizeof(dynamic_no_weights);
  dynamic_no_weights.dynamic = 1;
  bf_neighbor_args negative_count = args("negative");
  negative_count.src_count = -1;
  bf_neighbor_args null_ranks = args("null");
  null_ranks.src_count = 2;
  bf_neighbor_args not_neighbor = args("outsider");
  not_neighbor.src_count = 1;
  not_neighbor.src_ranks = &outsider;
  not_neighbor.src_weights = weights;

  std::vector<BadInput> rows = {
      {"src out of range", BF_ERR_INVALID_ARGUMENT,
       "src_ranks names rank " + std::to_string(out_of_range) + ", which is out of range",
       [&] { return bf_neighbor_allreduce(&t, &t, &range); }},
      {"src names self", BF_ERR_INVALID_ARGUMENT, "itself",
       [&] { return bf_neighbor_allreduce(&t, &t, &self); }},
      {"NaN self weight", BF_ERR_INVALID_ARGUMENT, "self_weight is nan " + on_rank,
       [&] { return bf_neighbor_allreduce(&t, &t, &nan_self); }},
      {"dst without dynamic", BF_ERR_INVALID_ARGUMENT, "dynamic is 0",
       [&] { return bf_neighbor_allreduce(&t, &t, &static_dst); }},
      {"dynamic without weights", BF_ERR_INVALID_ARGUMENT, "dynamic mode needs self_weight",
       [&] { return bf_neighbor_allreduce(&t, &t, &dynamic_no_weights); }},
      {"negative count", BF_ERR_INVALID_ARGUMENT, "src_ranks count is -1",
       [&] { return bf_neighbor_allreduce(&t, &t, &negative_count); }},
      {"NULL rank list", BF_ERR_INVALID_ARGUMENT, "src_ranks is NULL",
       [&] { return bf_neighbor_allreduce(&t, &t, &null_ranks); }},
  };
  if (size > 1) {
    rows.push_back({"duplicate src", BF_ERR_INVALID_ARGUMENT, "twice",
                    [&] { return bf_neighbor_allreduce(&t, &t, &dup); }});
    rows.push_back({"NaN src weight", BF_ERR_INVALID_ARGUMENT, "src_weights[0] is nan",
                    [&] { return bf_neighbor_allreduce(&t, &t, &nan_src); }});
  }
  if (outsider >= 0) {
    rows.push_back({"weight for a non-neighbor", BF_ERR_INVALID_ARGUMENT,
                    "src_ranks names rank " + std::to_string(outsider) +
                        ", which is not an in-neighbor of rank " + std::to_string(rank),
                    [&] { return bf_neighbor_allreduce(&t, &t, &not_neighbor); }});
  }
  Check(rows);
  EXPECT_EQ(x, 1.0) << "tensor modified by a rejected call";
}

TEST_F(Validation, TopologyArguments) {
  bf_topology* small = nullptr;
  ASSERT_BF_OK(bf_topology_ring(size + 1, BF_RING_BIDIRECTIONAL, &small));
  Check({
      {"NULL topology", BF_ERR_INVALID_ARGUMENT, "'topology' " + on_rank + " is NULL",
       [&] { return bf_set_topology(nullptr, 0); }},
      {"wrong size", BF_ERR_INVALID_ARGUMENT, "ranks in the world",
       [&] { return bf_set_topology(small, 0); }},
  });
  bf_topology_free(small);
}

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

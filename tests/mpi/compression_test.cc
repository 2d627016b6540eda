// SPDX-License-Identifier: Apache-2.0
// Multi-rank tests of compressed neighbor_allreduce: repeated averaging with error feedback
// reaches the exact global mean (static exp2, weighted ring, one-peer dynamic, fused, every
// encoding and float dtype); without error feedback the mean drifts; mismatched settings, a
// broken feedback sequence and unsupported combinations fail with clear errors.
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "test_util.h"

namespace bftest {
namespace {

constexpr int64_t kElements = 1000;

// Rank r's starting value of element i, and the mean over ranks (closed form, no library).
double Start(int rank, int64_t i) {
  return 3.0 + rank + 2.0 * std::sin(0.37 * static_cast<double>(i) + 1.3 * rank);
}
double Mean(int size, int64_t i) {
  double sum = 0;
  for (int r = 0; r < size; ++r) sum += Start(r, i);
  return sum / size;
}

void SetStaticTopology(bool ring) {
  bf_topology* topology = nullptr;
  const int size = bf_size();
  if (ring) {
    ASSERT_BF_OK(bf_topology_ring(size, BF_RING_BIDIRECTIONAL, &topology));
  } else {
    ASSERT_BF_OK(bf_topology_exponential(size, 2, &topology));
  }
  ASSERT_BF_OK(bf_set_topology(topology, ring ? 1 : 0));  // ring: its own (weighted) weights
  bf_topology_free(topology);
}

bf_neighbor_args Compressed(const char* name, bf_compression compression,
                            bf_error_feedback feedback = BF_ERROR_FEEDBACK_DEFAULT) {
  bf_neighbor_args args{};
  args.struct_size = sizeof(args);
  args.name = name;
  args.compression = compression;
  args.error_feedback = feedback;
  return args;
}

// Dynamic mode, one peer each way with weight 1/2 (self 1/2), as BlueFog's one-peer schedules.
// `*from` and `*to` must outlive the call.
bf_neighbor_args OnePeer(const char* name, bf_compression compression, const int* from,
                         const int* to) {
  static const double kHalf = 0.5;
  bf_neighbor_args args = Compressed(name, compression);
  args.dynamic = 1;
  args.has_weights = 1;
  args.self_weight = 0.5;
  args.src_count = 1;
  args.src_ranks = from;
  args.src_weights = &kHalf;
  args.dst_count = 1;
  args.dst_ranks = to;
  return args;
}

// Largest |x_i - mean_i| / max |mean| over this rank's elements, after `steps` averagings.
double ConsensusError(HostTensor& x) {
  const int size = bf_size();
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < x.size(); ++i) {
    worst = std::max(worst, std::abs(x.Get(i) - Mean(size, i)));
    scale = std::max(scale, std::abs(Mean(size, i)));
  }
  return worst / scale;
}

// The same error, worst over ranks (so every rank asserts the same thing).
double WorstOverRanks(double local) {
  double worst = 0;
  MPI_Allreduce(&local, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return worst;
}

void Fill(HostTensor& x) {
  const int rank = bf_rank();
  for (int64_t i = 0; i < x.size(); ++i) x.Set(i, Start(rank, i));
}

struct Case {
  bf_compression compression;
  DLDataType dtype;
  int steps;
  double tolerance;  // relative to the mean's magnitude
};

std::string CaseName(const Case& c) {
  static const char* const kNames[] = {"default", "none", "bf16", "fp16", "int8", "topk"};
  return std::string(kNames[c.compression]) + "_" + TypeName(c.dtype);
}

class CompressedConsensus : public ::testing::TestWithParam<Case> {
 protected:
  int rank = bf_rank();
  int size = bf_size();
};

// Every encoding, static exponential-2 (uniform weights) and weighted bidirectional ring:
// repeated in-place averaging under one name reaches the exact mean.
TEST_P(CompressedConsensus, StaticGraphsReachTheExactMean) {
  const Case c = GetParam();
  for (bool ring : {false, true}) {
    SetStaticTopology(ring);
    HostTensor x(c.dtype, {kElements});
    Fill(x);
    const std::string name = std::string("consensus.") + (ring ? "ring." : "exp2.") + CaseName(c);
    bf_neighbor_args args = Compressed(name.c_str(), c.compression);
    if (c.compression == BF_COMPRESSION_TOPK) args.topk_ratio = 0.1;
    for (int step = 0; step < c.steps; ++step) {
      ASSERT_BF_OK(bf_neighbor_allreduce(x.get(), x.get(), &args));
    }
    EXPECT_LT(WorstOverRanks(ConsensusError(x)), c.tolerance)
        << CaseName(c) << (ring ? " on the ring" : " on exp2");
  }
  SetStaticTopology(false);
}

INSTANTIATE_TEST_SUITE_P(
    Encodings, CompressedConsensus,
    ::testing::Values(Case{BF_COMPRESSION_INT8, {kDLFloat, 32, 1}, 150, 1e-4},
                      Case{BF_COMPRESSION_INT8, {kDLFloat, 64, 1}, 150, 1e-4},
                      Case{BF_COMPRESSION_BFLOAT16, {kDLFloat, 32, 1}, 150, 1e-4},
                      Case{BF_COMPRESSION_FLOAT16, {kDLFloat, 32, 1}, 150, 1e-4},
                      Case{BF_COMPRESSION_TOPK, {kDLFloat, 32, 1}, 500, 1e-4},
                      // The tensor's own precision bounds 16-bit tensors.
                      Case{BF_COMPRESSION_INT8, {kDLFloat, 16, 1}, 150, 4e-3},
                      Case{BF_COMPRESSION_INT8, {kDLBfloat, 16, 1}, 150, 3e-2}),
    [](const ::testing::TestParamInfo<Case>& info) { return CaseName(info.param); });

// Without error feedback each rank's quantization error moves the sum over ranks, and the ranks
// settle away from the mean (by ~0.5% here); with it, the same run lands on the mean.
TEST(Compression, WithoutErrorFeedbackTheMeanDrifts) {
  const int size = bf_size();
  if (size < 2) GTEST_SKIP() << "needs neighbors";
  SetStaticTopology(false);
  HostTensor biased({kDLFloat, 32, 1}, {kElements}), exact({kDLFloat, 32, 1}, {kElements});
  Fill(biased);
  Fill(exact);
  bf_neighbor_args off = Compressed(nullptr, BF_COMPRESSION_INT8, BF_ERROR_FEEDBACK_OFF);
  bf_neighbor_args on = Compressed("drift.on", BF_COMPRESSION_INT8, BF_ERROR_FEEDBACK_ON);
  for (int step = 0; step < 150; ++step) {
    ASSERT_BF_OK(bf_neighbor_allreduce(biased.get(), biased.get(), &off));  // unnamed is fine
    ASSERT_BF_OK(bf_neighbor_allreduce(exact.get(), exact.get(), &on));
  }
  EXPECT_GT(WorstOverRanks(ConsensusError(biased)), 1e-3)
      << "int8 without error feedback should visibly miss the mean";
  EXPECT_LT(WorstOverRanks(ConsensusError(exact)), 1e-4);
}

// One-peer dynamic exponential-2 (BlueFog's dynamic training pattern): each step rank r sends to
// r + 2^k and receives from r - 2^k with weights 1/2; estimates are kept per edge, and each edge
// is used only every log2(size) steps.
TEST(Compression, OnePeerDynamicReachesTheExactMean) {
  const int rank = bf_rank(), size = bf_size();
  if (size < 2) GTEST_SKIP() << "needs neighbors";
  std::vector<int> distances;
  for (int d = 1; d < size; d *= 2) distances.push_back(d);
  for (bf_compression compression : {BF_COMPRESSION_INT8, BF_COMPRESSION_BFLOAT16}) {
    HostTensor x({kDLFloat, 32, 1}, {kElements});
    Fill(x);
    const std::string name = "one_peer." + std::to_string(compression);
    for (int step = 0; step < 200; ++step) {
      const int d = distances[static_cast<size_t>(step) % distances.size()];
      const int to = (rank + d) % size, from = (rank - d + size) % size;
      bf_neighbor_args args = OnePeer(name.c_str(), compression, &from, &to);
      ASSERT_BF_OK(bf_neighbor_allreduce(x.get(), x.get(), &args));
    }
    EXPECT_LT(WorstOverRanks(ConsensusError(x)), 1e-4) << "compression " << compression;
  }
}

// Many named tensors of mixed sizes in flight at once are fused into one message per peer;
// compressed and raw ones side by side, each converging on its own.
TEST(Compression, FusedTensorsEachReachTheirMean) {
  const int size = bf_size();
  SetStaticTopology(false);
  constexpr int kTensors = 12;
  std::vector<std::unique_ptr<HostTensor>> tensors;
  std::vector<std::string> names;
  for (int t = 0; t < kTensors; ++t) {
    tensors.push_back(std::make_unique<HostTensor>(DLDataType{kDLFloat, 32, 1},
                                                   std::vector<int64_t>{17 + 91 * t}));
    Fill(*tensors.back());
    names.push_back("fused." + std::to_string(t));
  }
  for (int step = 0; step < 120; ++step) {
    std::vector<bf_handle> handles(kTensors);
    for (int t = 0; t < kTensors; ++t) {
      const bf_compression compression = t % 3 == 0   ? BF_COMPRESSION_NONE
                                         : t % 3 == 1 ? BF_COMPRESSION_INT8
                                                      : BF_COMPRESSION_BFLOAT16;
      bf_neighbor_args args = Compressed(names[t].c_str(), compression);
      ASSERT_BF_OK(
          bf_neighbor_allreduce_async(tensors[t]->get(), tensors[t]->get(), &args, &handles[t]));
    }
    for (bf_handle h : handles) ASSERT_BF_OK(bf_wait(h, -1));
  }
  for (int t = 0; t < kTensors; ++t) {
    EXPECT_LT(WorstOverRanks(ConsensusError(*tensors[t])), 1e-4) << names[t];
  }
  (void)size;
}

// hierarchical_neighbor_allreduce compresses the machine roots' exchange of machine sums;
// repeated, it reaches the global mean. Runs where machines are emulated
// (BLUEFOG_NODES_PER_MACHINE, meson.build).
TEST(Compression, HierarchicalReachesTheExactMean) {
  const int machines = bf_machine_size();
  if (machines < 2 || !bf_is_homogeneous()) GTEST_SKIP() << "needs two or more equal machines";
  bf_topology* machine_graph = nullptr;
  ASSERT_BF_OK(bf_topology_exponential(machines, 2, &machine_graph));
  ASSERT_BF_OK(bf_set_machine_topology(machine_graph, 0));
  bf_topology_free(machine_graph);
  for (bf_compression compression : {BF_COMPRESSION_INT8, BF_COMPRESSION_FLOAT16}) {
    HostTensor x({kDLFloat, 32, 1}, {kElements});
    Fill(x);
    const std::string name = "hierarchical." + std::to_string(compression);
    bf_neighbor_args args = Compressed(name.c_str(), compression);
    for (int step = 0; step < 100; ++step) {
      ASSERT_BF_OK(bf_hierarchical_neighbor_allreduce(x.get(), x.get(), &args));
    }
    EXPECT_LT(WorstOverRanks(ConsensusError(x)), 1e-4) << "compression " << compression;
  }
}

// The init default (bf_init_options / BLUEFOG_COMPRESSION) is none here: an unnamed call without
// compression still works, and explicit NONE ignores the other fields.
TEST(Compression, NoneIsExactlyTheUncompressedResult) {
  SetStaticTopology(false);
  HostTensor x({kDLFloat, 64, 1}, {kElements}), plain({kDLFloat, 64, 1}, {kElements}),
      none({kDLFloat, 64, 1}, {kElements});
  Fill(x);
  ASSERT_BF_OK(bf_neighbor_allreduce(x.get(), plain.get(), nullptr));
  bf_neighbor_args args = Compressed(nullptr, BF_COMPRESSION_NONE, BF_ERROR_FEEDBACK_ON);
  args.consensus_step = 0.5;
  ASSERT_BF_OK(bf_neighbor_allreduce(x.get(), none.get(), &args));
  for (int64_t i = 0; i < x.size(); ++i) ASSERT_EQ(plain.Get(i), none.Get(i)) << i;
}

TEST(Compression, BadArgumentsNameTheFieldAndRank) {
  const int rank = bf_rank();
  HostTensor x({kDLFloat, 32, 1}, {10});
  const std::string on_rank = "rank " + std::to_string(rank);
  struct Bad {
    const char* what;
    bf_neighbor_args args;
    bf_status status;
  };
  bf_neighbor_args unnamed = Compressed(nullptr, BF_COMPRESSION_INT8);
  bf_neighbor_args ratio = Compressed("bad.ratio", BF_COMPRESSION_TOPK);
  ratio.topk_ratio = 1.5;
  bf_neighbor_args nan_ratio = Compressed("bad.ratio", BF_COMPRESSION_TOPK);
  nan_ratio.topk_ratio = std::nan("");
  bf_neighbor_args step = Compressed("bad.step", BF_COMPRESSION_INT8);
  step.consensus_step = -0.5;
  bf_neighbor_args kind = Compressed("bad.kind", static_cast<bf_compression>(9));
  bf_neighbor_args feedback = Compressed("bad.feedback", BF_COMPRESSION_INT8,
                                         static_cast<bf_error_feedback>(7));
  const Bad cases[] = {
      {"args->name", unnamed, BF_ERR_INVALID_ARGUMENT},
      {"args->topk_ratio", ratio, BF_ERR_INVALID_ARGUMENT},
      {"args->topk_ratio", nan_ratio, BF_ERR_INVALID_ARGUMENT},
      {"args->consensus_step", step, BF_ERR_INVALID_ARGUMENT},
      {"args->compression", kind, BF_ERR_INVALID_ARGUMENT},
      {"args->error_feedback", feedback, BF_ERR_INVALID_ARGUMENT},
  };
  for (const Bad& bad : cases) {
    EXPECT_EQ(bf_neighbor_allreduce(x.get(), x.get(), &bad.args), bad.status) << bad.what;
    const std::string message = bf_last_error();
    EXPECT_NE(message.find(bad.what), std::string::npos) << message;
    EXPECT_NE(message.find(on_rank), std::string::npos) << message;
  }
  // Gathers send tensors whole.
  bf_neighbor_args gather = Compressed("bad.gather", BF_COMPRESSION_INT8);
  DLManagedTensor* gathered = nullptr;
  EXPECT_EQ(bf_neighbor_allgather(x.get(), &gathered, &gather), BF_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(bf_last_error()).find("compression"), std::string::npos);
  // Integer tensors are not averaged at all.
  HostTensor ints({kDLInt, 32, 1}, {10});
  bf_neighbor_args int8 = Compressed("bad.ints", BF_COMPRESSION_INT8);
  EXPECT_EQ(bf_neighbor_allreduce(ints.get(), ints.get(), &int8), BF_ERR_INVALID_ARGUMENT);
}

// Rank 0 compresses, the others do not: every rank that exchanges with rank 0 fails with a
// message naming the encodings, and the ranks recover for the next operation.
TEST(Compression, MismatchedSettingsFailOnEveryRankInvolved) {
  const int rank = bf_rank(), size = bf_size();
  if (size < 2) GTEST_SKIP() << "needs neighbors";
  SetStaticTopology(false);
  HostTensor x({kDLFloat, 32, 1}, {64});
  Fill(x);
  bf_neighbor_args args =
      Compressed("mismatch", rank == 0 ? BF_COMPRESSION_INT8 : BF_COMPRESSION_NONE);
  const bf_status status = bf_neighbor_allreduce(x.get(), x.get(), &args);
  const std::vector<int> from = Exp2InNeighbors(rank, size);
  const bool involved = rank == 0 || std::find(from.begin(), from.end(), 0) != from.end();
  if (involved) {
    EXPECT_EQ(status, BF_ERR_MISMATCH);
    EXPECT_NE(std::string(bf_last_error()).find("int8"), std::string::npos) << bf_last_error();
  } else {
    EXPECT_BF_OK(status);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  bf_neighbor_args again = Compressed("mismatch.after", BF_COMPRESSION_INT8);
  EXPECT_BF_OK(bf_neighbor_allreduce(x.get(), x.get(), &again));
}

// A failed operation leaves the two ends of an edge out of step: the next one under that name
// says so instead of combining a wrong estimate; a new name starts afresh.
TEST(Compression, BrokenFeedbackSequenceIsReported) {
  const int rank = bf_rank(), size = bf_size();
  if (size < 2) GTEST_SKIP() << "needs neighbors";
  const int peer = rank ^ 1;
  if (peer >= size) {  // odd size: the last rank sits this one out
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    return;
  }
  HostTensor x({kDLFloat, 32, 1}, {300}), wide({kDLFloat, 64, 1}, {300});
  Fill(x);
  Fill(wide);
  bf_neighbor_args args = OnePeer("sequence", BF_COMPRESSION_INT8, &peer, &peer);
  // The odd rank of each pair posts float64 once: both ends refuse the exchange, but the even
  // rank's estimate of what it sent has moved on.
  const bool odd = rank % 2 == 1;
  EXPECT_EQ(bf_neighbor_allreduce(odd ? wide.get() : x.get(), odd ? wide.get() : x.get(), &args),
            BF_ERR_MISMATCH);
  MPI_Barrier(MPI_COMM_WORLD);
  const bf_status status = bf_neighbor_allreduce(x.get(), x.get(), &args);
  const std::string message = bf_last_error();
  if (odd) {  // its float32 estimate of the even rank is new; the even rank's message is not
    EXPECT_EQ(status, BF_ERR_MISMATCH);
    EXPECT_NE(message.find("error-feedback"), std::string::npos) << message;
  } else {  // the odd rank had sent nothing in float32 before: in step
    EXPECT_BF_OK(status);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  args.name = "sequence.renamed";
  EXPECT_BF_OK(bf_neighbor_allreduce(x.get(), x.get(), &args));
}

}  // namespace
}  // namespace bftest

// SPDX-License-Identifier: Apache-2.0
// Named matching: ops issued in a different random order on every rank all complete with exact
// results; duplicate names are refused; a withheld op times out without blocking the engine and
// the stall watchdog names it and the ranks it waits for.
#include <fcntl.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <thread>

#include "test_util.h"

namespace bftest {
namespace {

enum Kind { kAllreduce, kBroadcast, kAllgather, kNeighborAllreduce, kNeighborAllgather, kKinds };

struct Posted {
  int index = 0;
  Kind kind = kAllreduce;
  std::unique_ptr<HostTensor> in, out;
  DLManagedTensor* gathered = nullptr;
  bf_handle handle = 0;
};

double Value(int rank, int index, int64_t i) { return rank * 1000.0 + index + i; }

TEST(NamedMatching, TwoHundredOpsInRandomOrderPerRank) {
  const int rank = bf_rank(), size = bf_size();
  if (bf_matching_mode_in_effect() != BF_MATCHING_NAMED) GTEST_SKIP() << "ordered mode";
  ASSERT_BF_OK(UseExp2Topology());

  constexpr int kOps = 200;
  std::vector<int> order(kOps);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 shuffle(7 + 31 * rank);
  std::shuffle(order.begin(), order.end(), shuffle);

  std::vector<Posted> posted(kOps);
  for (int index : order) {
    Posted& p = posted[index];
    p.index = index;
    p.kind = static_cast<Kind>(index % kKinds);
    const std::string name = "op." + std::to_string(index);
    p.in = std::make_unique<HostTensor>(DLDataType{kDLFloat, 64, 1}, std::vector<int64_t>{3, 2});
    p.out = std::make_unique<HostTensor>(DLDataType{kDLFloat, 64, 1}, std::vector<int64_t>{3, 2});
    for (int64_t i = 0; i < 6; ++i) p.in->Set(i, Value(rank, index, i));
    bf_op_args named{sizeof(named), name.c_str()};
    bf_neighbor_args neighbor{};
    neighbor.struct_size = sizeof(neighbor);
    neighbor.name = name.c_str();
    switch (p.kind) {
      case kAllreduce: {
        bf_allreduce_args sum{sizeof(sum), name.c_str(), BF_REDUCE_SUM, 0};
        ASSERT_BF_OK(bf_allreduce_async(p.in->get(), p.out->get(), &sum, &p.handle));
        break;
      }
      case kBroadcast:
        ASSERT_BF_OK(bf_broadcast_async(p.in->get(), p.out->get(), index % size, &named,
                                        &p.handle));
        break;
      case kAllgather:
        ASSERT_BF_OK(bf_allgather_async(p.in->get(), &p.gathered, &named, &p.handle));
        break;
      case kNeighborAllreduce:
        ASSERT_BF_OK(
            bf_neighbor_allreduce_async(p.in->get(), p.out->get(), &neighbor, &p.handle));
        break;
      case kNeighborAllgather:
        ASSERT_BF_OK(bf_neighbor_allgather_async(p.in->get(), &p.gathered, &neighbor, &p.handle));
        break;
      default: break;
    }
  }
  // Wait in yet another order.
  std::shuffle(order.begin(), order.end(), shuffle);
  const std::vector<int> sources = Exp2InNeighbors(rank, size);
  for (int index : order) {
    Posted& p = posted[index];
    ASSERT_BF_OK(bf_wait(p.handle, -1)) << "op " << index;
    ASSERT_BF_OK(bf_handle_free(p.handle));
    for (int64_t i = 0; i < 6; ++i) {
      double expected = 0;
      switch (p.kind) {
        case kAllreduce:
          for (int r = 0; r < size; ++r) expected += Value(r, index, i);
          EXPECT_EQ(p.out->Get(i), expected) << "allreduce " << index;
          break;
        case kBroadcast:
          EXPECT_EQ(p.out->Get(i), Value(index % size, index, i)) << "broadcast " << index;
          break;
        case kNeighborAllreduce:
          expected = Value(rank, index, i);
          for (int s : sources) expected += Value(s, index, i);
          expected /= static_cast<double>(sources.size() + 1);
          EXPECT_NEAR(p.out->Get(i), expected, 1e-9) << "neighbor_allreduce " << index;
          break;
        default: break;
      }
    }
    if (p.kind == kAllgather || p.kind == kNeighborAllgather) {
      const std::vector<int> from = p.kind == kAllgather ? [&] {
        std::vector<int> all(size);
        std::iota(all.begin(), all.end(), 0);
        return all;
      }() : sources;
      ASSERT_EQ(p.gathered->dl_tensor.shape[0], static_cast<int64_t>(3 * from.size()));
      const auto* data = static_cast<const double*>(p.gathered->dl_tensor.data);
      for (size_t k = 0; k < from.size(); ++k) {
        for (int64_t i = 0; i < 6; ++i) {
          EXPECT_EQ(data[k * 6 + i], Value(from[k], index, i)) << "gather " << index;
        }
      }
      p.gathered->deleter(p.gathered);
    }
  }
}

// Fifty tensors of mixed sizes and dtypes, dynamic with destination weights, posted back to back so
// the engine fuses their messages per destination; every result is checked.
TEST(Fusion, FiftyMixedTensorsDynamicAndDestinationWeighted) {
  const int rank = bf_rank(), size = bf_size();
  if (size < 2) GTEST_SKIP() << "needs a peer";
  constexpr int kTensors = 50;
  const int shift = size > 2 ? 2 : 1;
  const int destination = (rank + shift) % size, source = (rank - shift + size) % size;
  const double dst_weight = 0.5, src_weight = 1.0;
  std::vector<std::unique_ptr<HostTensor>> tensors;
  std::vector<bf_handle> handles(kTensors);
  std::vector<std::string> names;
  for (int k = 0; k < kTensors; ++k) {
    const DLDataType type = k % 3 == 0 ? DLDataType{kDLFloat, 64, 1} : DLDataType{kDLFloat, 32, 1};
    const int64_t length = 1 + (k * 997) % 3000;
    tensors.push_back(std::make_unique<HostTensor>(type, std::vector<int64_t>{length}));
    for (int64_t i = 0; i < length; ++i) tensors[k]->Set(i, Value(rank, k, i % 7));
    names.push_back("fused." + std::to_string(k));
  }
  for (int k = 0; k < kTensors; ++k) {
    bf_neighbor_args args{sizeof(args), names[k].c_str(), 1, 0.5, 1, &source, &src_weight, 1, 1,
                          &destination, &dst_weight};
    ASSERT_BF_OK(bf_neighbor_allreduce_async(tensors[k]->get(), tensors[k]->get(), &args,
                                             &handles[k]));
  }
  for (int k = 0; k < kTensors; ++k) {
    ASSERT_BF_OK(bf_wait(handles[k], -1));
    ASSERT_BF_OK(bf_handle_free(handles[k]));
    for (int64_t i = 0; i < tensors[k]->size(); ++i) {
      const double expected = 0.5 * Value(rank, k, i % 7) + 0.5 * Value(source, k, i % 7);
      ASSERT_NEAR(tensors[k]->Get(i), expected, 1e-3) << "tensor " << k << " element " << i;
    }
  }
}

// Thirty allreduce calls posted together fuse into few reductions (with a cycle time, see
// meson.build). In a second batch a dtype mismatch (rank 0 posts "fuse.1.8" as float64) turns
// fusion off for its round and fails only that op, on every rank.
TEST(Fusion, AllreduceGroupsAndAMismatchAmongThem) {
  const int rank = bf_rank(), size = bf_size();
  if (bf_matching_mode_in_effect() != BF_MATCHING_NAMED) GTEST_SKIP() << "ordered mode";
  constexpr int kTensors = 30;
  for (int batch = 0; batch < 2; ++batch) {
    const bool with_mismatch = batch == 1 && size > 1;
    std::vector<std::unique_ptr<HostTensor>> tensors;
    std::vector<std::string> names;
    std::vector<bf_handle> handles(kTensors);
    for (int k = 0; k < kTensors; ++k) {
      const bool odd_one = with_mismatch && k == 8 && rank == 0;
      const DLDataType type = odd_one || k % 2 ? DLDataType{kDLFloat, 64, 1}
                                               : DLDataType{kDLFloat, 32, 1};
      tensors.push_back(std::make_unique<HostTensor>(type, std::vector<int64_t>{1 + k * 37}));
      for (int64_t i = 0; i < tensors[k]->size(); ++i) tensors[k]->Set(i, Value(rank, k, i % 5));
      names.push_back("fuse." + std::to_string(batch) + "." + std::to_string(k));
    }
    for (int k = 0; k < kTensors; ++k) {
      bf_allreduce_args args{sizeof(args), names[k].c_str(), BF_REDUCE_AVERAGE, 0};
      ASSERT_BF_OK(bf_allreduce_async(tensors[k]->get(), tensors[k]->get(), &args, &handles[k]));
    }
    for (int k = 0; k < kTensors; ++k) {
      const bf_status status = bf_wait(handles[k], -1);
      ASSERT_BF_OK(bf_handle_free(handles[k]));
      if (with_mismatch && k == 8) {
        EXPECT_EQ(status, BF_ERR_MISMATCH) << names[k];
        continue;
      }
      ASSERT_EQ(status, BF_OK) << names[k] << ": " << bf_last_error();
      for (int64_t i = 0; i < tensors[k]->size(); ++i) {
        double expected = 0;
        for (int r = 0; r < size; ++r) expected += Value(r, k, i % 5);
        expected /= size;
        ASSERT_NEAR(tensors[k]->Get(i), expected, 1e-3) << names[k] << " element " << i;
      }
    }
  }
}

TEST(NamedMatching, DuplicateNameInFlightIsRefused) {
  const int rank = bf_rank(), size = bf_size();
  if (size < 2) GTEST_SKIP() << "needs a peer to hold the first op back";
  double value = 1.0;
  int64_t shape[1] = {1};
  DLTensor t{&value, {kDLCPU, 0}, 1, {kDLFloat, 64, 1}, shape, nullptr, 0};
  bf_allreduce_args args{sizeof(args), "twice", BF_REDUCE_SUM, 0};
  bf_handle first = 0, second = 0;
  if (rank == 0) {
    ASSERT_BF_OK(bf_allreduce_async(&t, &t, &args, &first));
    EXPECT_EQ(bf_allreduce_async(&t, &t, &args, &second), BF_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(bf_last_error()).find("already in flight"), std::string::npos)
        << bf_last_error();
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    EXPECT_BF_OK(bf_wait(first, -1));
    EXPECT_BF_OK(bf_handle_free(first));
  } else {
    EXPECT_BF_OK(bf_allreduce(&t, &t, &args));
  }
  EXPECT_EQ(value, size);
}

// Runs `body` with this process's stderr captured; returns what was written.
template <typename Body>
std::string CaptureStderr(Body body) {
  char path[] = "/tmp/bluefog-stderr-XXXXXX";
  const int file = mkstemp(path);
  const int saved = dup(STDERR_FILENO);
  dup2(file, STDERR_FILENO);
  body();
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(file);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  unlink(path);
  return text.str();
}

// Runs under BLUEFOG_STALL_WARNING_S=1 (see meson.build). Rank 1 holds back "late" (a neighbor
// op) and "glate" (a global op) for 2.5 s; meanwhile other ops complete on every rank.
TEST(StallWatchdog, WithheldOpsTimeOutAndAreNamedWhileOthersComplete) {
  const int rank = bf_rank(), size = bf_size();
  if (size < 2) GTEST_SKIP() << "needs a rank that withholds";
  if (bf_matching_mode_in_effect() != BF_MATCHING_NAMED) GTEST_SKIP() << "ordered mode";
  bf_topology* ring = nullptr;
  ASSERT_BF_OK(bf_topology_ring(size, BF_RING_BIDIRECTIONAL, &ring));
  ASSERT_BF_OK(bf_set_topology(ring, 0));
  bf_topology_free(ring);
  HostTensor late({kDLFloat, 32, 1}, {4}), glate({kDLFloat, 32, 1}, {4});
  HostTensor other({kDLFloat, 32, 1}, {4}), sum({kDLFloat, 64, 1}, {1});
  for (int64_t i = 0; i < 4; ++i) late.Set(i, rank);
  glate.Set(0, 1);
  sum.Set(0, 1);
  bf_neighbor_args late_args{sizeof(late_args), "late"};
  bf_allreduce_args glate_args{sizeof(glate_args), "glate", BF_REDUCE_SUM, 0};
  bf_handle late_handle = 0, glate_handle = 0;

  const bool receives_from_one = rank == 0 || rank == 2 % size;  // ring neighbors of rank 1
  std::string captured = CaptureStderr([&] {
    if (rank != 1) {
      ASSERT_BF_OK(bf_neighbor_allreduce_async(late.get(), late.get(), &late_args, &late_handle));
      ASSERT_BF_OK(bf_allreduce_async(glate.get(), glate.get(), &glate_args, &glate_handle));
      if (receives_from_one) EXPECT_EQ(bf_wait(late_handle, 100), BF_ERR_TIMEOUT);
    }
    // The engine stays usable: a neighbor op and a global op posted later complete everywhere.
    bf_neighbor_args other_args{sizeof(other_args), "other"};
    EXPECT_BF_OK(bf_neighbor_allreduce(other.get(), other.get(), &other_args));
    bf_allreduce_args sum_args{sizeof(sum_args), "sum", BF_REDUCE_SUM, 0};
    EXPECT_BF_OK(bf_allreduce(sum.get(), sum.get(), &sum_args));
    EXPECT_EQ(sum.Get(0), size);
    if (rank == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2500));
      EXPECT_BF_OK(bf_neighbor_allreduce(late.get(), late.get(), &late_args));
      EXPECT_BF_OK(bf_allreduce(glate.get(), glate.get(), &glate_args));
    } else {
      EXPECT_BF_OK(bf_wait(late_handle, -1));
      EXPECT_BF_OK(bf_wait(glate_handle, -1));
      EXPECT_BF_OK(bf_handle_free(late_handle));
      EXPECT_BF_OK(bf_handle_free(glate_handle));
    }
  });
  // Assertion failures inside the capture went to the captured text: replay them.
  if (::testing::Test::HasFailure()) {
    std::fprintf(stderr, "[rank %d] captured stderr:\n%s", rank, captured.c_str());
  }
  EXPECT_EQ(glate.Get(0), size);
  if (rank != 1 && receives_from_one) {
    EXPECT_NE(captured.find("stalled: neighbor_allreduce 'late'"), std::string::npos) << captured;
    EXPECT_NE(captured.find("no message yet from rank(s) 1"), std::string::npos) << captured;
  }
  if (rank != 1) {
    EXPECT_NE(captured.find("stalled: allreduce 'glate' has waited"), std::string::npos)
        << captured;
    EXPECT_NE(captured.find("not posted by rank(s) 1 at the last round"), std::string::npos)
        << captured;
  }
}

}  // namespace
}  // namespace bftest

// SPDX-License-Identifier: Apache-2.0
// Multi-rank tests of neighbor_allreduce (static, weighted, explicit, dynamic, dst-scaled, empty
// lists), neighbor_allgather, pair_gossip, mismatch reporting and consensus convergence, against
// closed-form references.
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <string>
#include <random>

#include "test_util.h"

namespace bftest {
namespace {

double Value(int rank, int64_t i) { return static_cast<double>(rank + 1) + 0.25 * (i % 5); }

class NeighborAllreduce : public ::testing::TestWithParam<DLDataType> {
 protected:
  void SetUp() override {  // every test starts from BlueFog's default topology
    ASSERT_BF_OK(UseExp2Topology());
  }
  int rank = bf_rank();
  int size = bf_size();
};

TEST_P(NeighborAllreduce, StaticUniformDefaultOutOfPlaceAndInPlace) {
  const DLDataType type = GetParam();
  HostTensor in(type, {4, 5}), out(type, {4, 5});
  for (int64_t i = 0; i < in.size(); ++i) in.Set(i, Value(rank, i));
  ASSERT_BF_OK(bf_neighbor_allreduce(in.get(), out.get(), nullptr));
  const std::vector<int> sources = Exp2InNeighbors(rank, size);
  for (int64_t i = 0; i < in.size(); ++i) {
    double expected = Value(rank, i);
    for (int s : sources) expected += Value(s, i);
    expected /= static_cast<double>(sources.size() + 1);
    EXPECT_NEAR(out.Get(i), expected, Tolerance(type, expected)) << TypeName(type);
    EXPECT_EQ(in.Get(i), Value(rank, i)) << "input modified";
  }
  ASSERT_BF_OK(bf_neighbor_allreduce(in.get(), in.get(), nullptr));
  for (int64_t i = 0; i < in.size(); ++i) EXPECT_EQ(in.Get(i), out.Get(i)) << "in place differs";
}

TEST_P(NeighborAllreduce, ExplicitWeightsGiveTheSum) {
  const DLDataType type = GetParam();
  HostTensor x(type, {9});
  for (int64_t i = 0; i < x.size(); ++i) x.Set(i, Value(rank, i));
  const std::vector<int> sources = Exp2InNeighbors(rank, size);
  std::vector<double> ones(sources.size(), 1.0);
  bf_neighbor_args args{};
  args.struct_size = sizeof(args);
  args.has_weights = 1;
  args.self_weight = 1.0;
  args.src_count = static_cast<int>(sources.size());
  args.src_ranks = sources.data();
  args.src_weights = ones.data();
  ASSERT_BF_OK(bf_neighbor_allreduce(x.get(), x.get(), &args));
  for (int64_t i = 0; i < x.size(); ++i) {
    double expected = Value(rank, i);
    for (int s : sources) expected += Value(s, i);
    EXPECT_NEAR(x.Get(i), expected, Tolerance(type, expected)) << TypeName(type);
  }
}

TEST_P(NeighborAllreduce, PartialSourceWeightsPairWithTheirRanks) {
  const DLDataType type = GetParam();
  const std::vector<int> sources = Exp2InNeighbors(rank, size);
  if (sources.size() < 2) GTEST_SKIP() << "needs two in-neighbors";
  HostTensor x(type, {3});
  for (int64_t i = 0; i < x.size(); ++i) x.Set(i, Value(rank, i));
  const int chosen = sources.back();  // the last in-neighbor only, weight 0.5
  const double weight = 0.5;
  bf_neighbor_args args{sizeof(args), "partial", 1, 0.5, 1, &chosen, &weight};
  ASSERT_BF_OK(bf_neighbor_allreduce(x.get(), x.get(), &args));
  for (int64_t i = 0; i < x.size(); ++i) {
    const double expected = 0.5 * Value(rank, i) + 0.5 * Value(chosen, i);
    EXPECT_NEAR(x.Get(i), expected, Tolerance(type, expected)) << TypeName(type);
  }
}

TEST_P(NeighborAllreduce, DynamicOnePeerWithDestinationWeights) {
  const DLDataType type = GetParam();
  if (size < 2) GTEST_SKIP() << "needs 2 ranks";
  for (int shift = 1; shift < size; shift *= 2) {
    HostTensor x(type, {2, 3});
    for (int64_t i = 0; i < x.size(); ++i) x.Set(i, Value(rank, i));
    const int destination = (rank + shift) % size;
    const int source = (rank - shift + size) % size;
    const double dst_weight = 0.5, src_weight = 1.0;
    bf_neighbor_args args{sizeof(args), nullptr, 1,           0.5, 1, &source, &src_weight,
                          1,            1,       &destination, &dst_weight, 1};
    ASSERT_BF_OK(bf_neighbor_allreduce(x.get(), x.get(), &args));
    for (int64_t i = 0; i < x.size(); ++i) {
      const double expected = 0.5 * Value(rank, i) + 0.5 * Value(source, i);
      EXPECT_NEAR(x.Get(i), expected, Tolerance(type, expected)) << "shift " << shift;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(FloatDtypes, NeighborAllreduce, ::testing::ValuesIn(FloatTypes()),
                         [](const auto& info) { return TypeName(info.param); });

// Large payloads travel as a separate message after their header; many large unfused ops in
// flight at once from the same senders must each get their own payload back. (Headers handled
// out of match order once swapped payloads between messages; this timing rarely shows it, the
// window stress test did.)
TEST(NeighborStatic, ManyLargeOpsInFlightKeepTheirOwnPayloads) {
  const int rank = bf_rank(), size = bf_size();
  ASSERT_BF_OK(UseExp2Topology());
  constexpr int kOps = 12;
  constexpr int64_t kElements = 5000;  // 20 KB: above the size packed with the header
  std::vector<std::unique_ptr<HostTensor>> tensors;
  std::vector<bf_handle> handles(kOps);
  std::vector<std::string> names(kOps);
  const std::vector<int> sources = Exp2InNeighbors(rank, size);
  const std::vector<int> destinations = Exp2OutNeighbors(rank, size);
  const double uniform = 1.0 / static_cast<double>(sources.size() + 1);
  const std::vector<double> src_weights(sources.size(), uniform);
  std::vector<std::vector<double>> dst_weights(kOps);
  auto DestinationWeight = [](int k) { return 1.0 + 0.125 * k; };
  for (int k = 0; k < kOps; ++k) {
    tensors.push_back(std::make_unique<HostTensor>(DLDataType{kDLFloat, 64, 1},
                                                   std::vector<int64_t>{kElements}));
    for (int64_t i = 0; i < kElements; ++i) tensors[k]->Set(i, 1000.0 * k + rank);
    names[k] = "large." + std::to_string(k);
    // A destination weight of its own keeps each op out of the others' fused messages.
    dst_weights[k].assign(destinations.size(), DestinationWeight(k));
    bf_neighbor_args args{};
    args.struct_size = sizeof(args);
    args.name = names[k].c_str();
    args.dynamic = 1;
    args.dst_count = static_cast<int>(destinations.size());
    args.dst_ranks = destinations.data();
    args.dst_weights = dst_weights[k].data();
    args.has_weights = 1;
    args.self_weight = uniform;
    args.src_count = static_cast<int>(sources.size());
    args.src_ranks = sources.data();
    args.src_weights = src_weights.data();
    ASSERT_BF_OK(bf_neighbor_allreduce_async(tensors[k]->get(), tensors[k]->get(), &args,
                                             &handles[k]));
  }
  for (int k = 0; k < kOps; ++k) {
    ASSERT_BF_OK(bf_wait(handles[k], -1));
    ASSERT_BF_OK(bf_handle_free(handles[k]));
    double expected = 1000.0 * k + rank;
    for (int s : sources) expected += DestinationWeight(k) * (1000.0 * k + s);
    expected *= uniform;
    for (int64_t i = 0; i < kElements; i += 499) {
      ASSERT_NEAR(tensors[k]->Get(i), expected, 1e-9) << "op " << k << " element " << i;
    }
  }
}

TEST(NeighborStatic, WeightedTopologiesUseTheirWeights) {
  const int rank = bf_rank(), size = bf_size();
  std::vector<bf_topology*> graphs(3, nullptr);
  ASSERT_BF_OK(bf_topology_star(size, size - 1, &graphs[0]));
  ASSERT_BF_OK(bf_topology_mesh_grid_2d(size, 0, 0, &graphs[1]));
  ASSERT_BF_OK(bf_topology_ring(size, BF_RING_RIGHT, &graphs[2]));
  for (bf_topology* graph : graphs) {
    ASSERT_BF_OK(bf_set_topology(graph, 1));
    std::vector<double> w(static_cast<size_t>(size) * size);
    ASSERT_BF_OK(bf_topology_to_matrix(graph, w.data()));
    HostTensor x({kDLFloat, 64, 1}, {7});
    for (int64_t i = 0; i < 7; ++i) x.Set(i, Value(rank, i));
    ASSERT_BF_OK(bf_neighbor_allreduce(x.get(), x.get(), nullptr));
    for (int64_t i = 0; i < 7; ++i) {
      double expected = 0;  // sum_j W[j][rank] x_j, self included
      for (int j = 0; j < size; ++j) expected += w[j * size + rank] * Value(j, i);
      EXPECT_NEAR(x.Get(i), expected, 1e-12);
    }
    int weighted = -1;
    bf_topology* current = nullptr;
    ASSERT_BF_OK(bf_get_topology(&current, &weighted));
    EXPECT_EQ(weighted, 1);
    EXPECT_EQ(bf_topology_size(current), size);
    bf_topology_free(current);
    bf_topology_free(graph);
  }
  // Only the weighted flag changes: it takes effect (uniform weights on the same star).
  bf_topology* star = nullptr;
  ASSERT_BF_OK(bf_topology_star(size, 0, &star));
  ASSERT_BF_OK(bf_set_topology(star, 1));
  ASSERT_BF_OK(bf_set_topology(star, 0));
  bf_topology_free(star);
  HostTensor x({kDLFloat, 64, 1}, {1});
  x.Set(0, rank);
  ASSERT_BF_OK(bf_neighbor_allreduce(x.get(), x.get(), nullptr));
  const double expected = rank == 0 ? (size - 1) / 2.0 : rank / 2.0;  // leaves: (rank + 0) / 2
  EXPECT_NEAR(x.Get(0), expected, 1e-12);
}

TEST(NeighborDynamic, EmptySendOrReceiveLists) {
  const int rank = bf_rank(), size = bf_size();
  if (size < 2) GTEST_SKIP() << "needs 2 ranks";
  // Even ranks send to the next rank and receive nothing; odd ranks only receive.
  HostTensor x({kDLFloat, 32, 1}, {5});
  for (int64_t i = 0; i < 5; ++i) x.Set(i, Value(rank, i));
  const bool sender = rank % 2 == 0 && rank + 1 < size;
  const bool receiver = rank % 2 == 1;
  const int destination = rank + 1, source = rank - 1;
  const double one = 1.0;
  bf_neighbor_args args{};
  args.struct_size = sizeof(args);
  args.has_weights = 1;
  args.self_weight = 1.0;
  args.dynamic = 1;
  args.check_topology = 1;
  if (receiver) {
    args.src_count = 1;
    args.src_ranks = &source;
    args.src_weights = &one;
  }
  if (sender) {
    args.dst_count = 1;
    args.dst_ranks = &destination;
  }
  ASSERT_BF_OK(bf_neighbor_allreduce(x.get(), x.get(), &args));
  for (int64_t i = 0; i < 5; ++i) {
    const double expected = Value(rank, i) + (receiver ? Value(source, i) : 0.0);
    EXPECT_FLOAT_EQ(static_cast<float>(x.Get(i)), static_cast<float>(expected));
  }
}

TEST(NeighborDynamic, SourceOutsideTheStaticTopology) {
  const int rank = bf_rank(), size = bf_size();
  if (size < 3) GTEST_SKIP() << "needs 3 ranks";
  bf_topology* ring = nullptr;
  ASSERT_BF_OK(bf_topology_ring(size, BF_RING_RIGHT, &ring));  // receive from rank-1 only
  ASSERT_BF_OK(bf_set_topology(ring, 0));
  bf_topology_free(ring);
  // "Move" values two ranks to the right: rank+2 is not an out-neighbor in the ring.
  const int destination = (rank + 2) % size, source = (rank - 2 + size) % size;
  const double one = 1.0;
  bf_neighbor_args args{sizeof(args), "move", 1, 0.0, 1, &source, &one, 1, 1, &destination};
  HostTensor x({kDLFloat, 64, 1}, {3});
  for (int64_t i = 0; i < 3; ++i) x.Set(i, Value(rank, i));
  ASSERT_BF_OK(bf_neighbor_allreduce(x.get(), x.get(), &args));
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(x.Get(i), Value(source, i));
}

TEST(NeighborDynamic, InconsistentListsFailOnEveryRankWithTheCheck) {
  const int rank = bf_rank(), size = bf_size();
  if (size < 2) GTEST_SKIP() << "needs 2 ranks";
  // Everyone sends to rank+1, but rank 0 does not list rank size-1 as a source.
  const int destination = (rank + 1) % size, source = (rank - 1 + size) % size;
  const double one = 1.0;
  bf_neighbor_args args{sizeof(args), "bad", 1, 0.5, rank == 0 ? 0 : 1, &source, &one, 1, 1,
                        &destination, nullptr, 1};
  HostTensor x({kDLFloat, 32, 1}, {3});
  EXPECT_EQ(bf_neighbor_allreduce(x.get(), x.get(), &args), BF_ERR_MISMATCH);
  const std::string expected = "rank " + std::to_string(size - 1) + " sends to 0 but 0 does not "
                               "receive from " + std::to_string(size - 1);
  EXPECT_NE(std::string(bf_last_error()).find(expected), std::string::npos) << bf_last_error();
  EXPECT_BF_OK(bf_barrier());
}

TEST(NeighborMismatch, DifferentSizesFailOnTheReceivers) {
  const int rank = bf_rank(), size = bf_size();
  if (size < 2) GTEST_SKIP() << "needs 2 ranks";
  bf_topology* ring = nullptr;
  ASSERT_BF_OK(bf_topology_ring(size, BF_RING_BIDIRECTIONAL, &ring));
  ASSERT_BF_OK(bf_set_topology(ring, 0));
  bf_topology_free(ring);
  // Rank 0 posts a longer tensor: its ring neighbors (which receive from it) must fail.
  HostTensor x({kDLFloat, 32, 1}, {rank == 0 ? 9 : 8});
  bf_neighbor_args args{sizeof(args), "sized"};
  const bf_status status = bf_neighbor_allreduce(x.get(), x.get(), &args);
  const bool neighbor_of_zero = rank == 1 || rank == size - 1;
  if (neighbor_of_zero) {
    EXPECT_EQ(status, BF_ERR_MISMATCH);
    EXPECT_NE(std::string(bf_last_error()).find("9 elements"), std::string::npos)
        << bf_last_error();
  }
  if (rank == 0 && size > 1) {
    EXPECT_EQ(status, BF_ERR_MISMATCH) << "rank 0 receives 8s";
  }
  EXPECT_BF_OK(bf_barrier());
}

TEST(NeighborAllgather, StaticOrderIsAscendingInNeighbors) {
  const int rank = bf_rank(), size = bf_size();
  ASSERT_BF_OK(UseExp2Topology());
  for (const DLDataType type : AllTypes()) {
    const int64_t rows = rank % 2 + 1;  // varying first dimension
    HostTensor in(type, {rows, 3});
    for (int64_t i = 0; i < in.size(); ++i) in.Set(i, (rank + i) % 4);
    DLManagedTensor* gathered = nullptr;
    ASSERT_BF_OK(bf_neighbor_allgather(in.get(), &gathered, nullptr));
    const std::vector<int> sources = Exp2InNeighbors(rank, size);
    int64_t total = 0;
    for (int s : sources) total += s % 2 + 1;
    ASSERT_EQ(gathered->dl_tensor.shape[0], total) << TypeName(type);
    HostTensor view(type, {total, 3});
    if (!view.bytes.empty()) {
      std::memcpy(view.bytes.data(), gathered->dl_tensor.data, view.bytes.size());
    }
    int64_t offset = 0;
    for (int s : sources) {
      for (int64_t i = 0; i < (s % 2 + 1) * 3; ++i) EXPECT_EQ(view.Get(offset + i), (s + i) % 4);
      offset += (s % 2 + 1) * 3;
    }
    gathered->deleter(gathered);
  }
}

TEST(NeighborAllgather, DynamicOrderFollowsSourceList) {
  const int rank = bf_rank(), size = bf_size();
  // All-to-all, sources in descending order.
  std::vector<int> others, descending;
  for (int r = 0; r < size; ++r) {
    if (r != rank) others.push_back(r);
  }
  descending.assign(others.rbegin(), others.rend());
  bf_neighbor_args args{};
  args.struct_size = sizeof(args);
  args.dynamic = 1;
  args.src_count = static_cast<int>(descending.size());
  args.src_ranks = descending.data();
  args.dst_count = static_cast<int>(others.size());
  args.dst_ranks = others.data();
  HostTensor in({kDLInt, 32, 1}, {1, 2});
  in.Set(0, rank);
  in.Set(1, -rank);
  DLManagedTensor* gathered = nullptr;
  ASSERT_BF_OK(bf_neighbor_allgather(in.get(), &gathered, &args));
  ASSERT_EQ(gathered->dl_tensor.shape[0], size - 1);
  const auto* data = static_cast<const int32_t*>(gathered->dl_tensor.data);
  for (size_t k = 0; k < descending.size(); ++k) {
    EXPECT_EQ(data[2 * k], descending[k]);
    EXPECT_EQ(data[2 * k + 1], -descending[k]);
  }
  gathered->deleter(gathered);
}

TEST(PairGossip, PairsAverageOrWeight) {
  const int rank = bf_rank(), size = bf_size();
  const int peer = rank ^ 1;
  if (peer >= size) GTEST_SKIP() << "rank has no partner";
  HostTensor x({kDLFloat, 64, 1}, {4});
  for (int64_t i = 0; i < 4; ++i) x.Set(i, Value(rank, i));
  bf_op_args named{sizeof(named), "gossip"};
  ASSERT_BF_OK(bf_pair_gossip(x.get(), x.get(), peer, 0.5, 0.5, &named));
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(x.Get(i), 0.5 * (Value(rank, i) + Value(peer, i)));
  HostTensor y({kDLFloat, 32, 1}, {4});
  for (int64_t i = 0; i < 4; ++i) y.Set(i, Value(rank, i));
  ASSERT_BF_OK(bf_pair_gossip(y.get(), y.get(), peer, 0.75, 0.25, &named));
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_FLOAT_EQ(static_cast<float>(y.Get(i)),
                    static_cast<float>(0.75 * Value(rank, i) + 0.25 * Value(peer, i)));
  }
}

// Repeated averaging on the exponential-2 graph contracts the disagreement by at most rho per
// step (W is circulant, hence normal, so the bound is exact) and, from a generic start, close to
// rho: the measured rate must sit in [0.5 rho, rho].
TEST(Convergence, ExponentialGraphContractsAtItsSpectralGap) {
  const int rank = bf_rank(), size = bf_size();
  bf_topology* exp2 = nullptr;
  ASSERT_BF_OK(bf_topology_exponential(size, 2, &exp2));
  ASSERT_BF_OK(bf_set_topology(exp2, 0));
  double rho = -1;
  ASSERT_BF_OK(bf_topology_spectral_gap(exp2, &rho));
  bf_topology_free(exp2);

  std::mt19937_64 generator(1234 + rank);
  std::normal_distribution<double> normal;
  constexpr int64_t kLength = 64;
  HostTensor x({kDLFloat, 64, 1}, {kLength});
  for (int64_t i = 0; i < kLength; ++i) x.Set(i, normal(generator));
  HostTensor mean({kDLFloat, 64, 1}, {kLength});
  bf_allreduce_args average{sizeof(average), "mean", BF_REDUCE_AVERAGE, 0};
  ASSERT_BF_OK(bf_allreduce(x.get(), mean.get(), &average));

  auto disagreement = [&]() {
    double local = 0;
    for (int64_t i = 0; i < kLength; ++i) local += std::pow(x.Get(i) - mean.Get(i), 2);
    double total = 0;
    MPI_Allreduce(&local, &total, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return std::sqrt(total);
  };
  const double initial = disagreement();
  constexpr int kSteps = 12;
  double error = initial;
  for (int k = 1; k <= kSteps; ++k) {
    ASSERT_BF_OK(bf_neighbor_allreduce(x.get(), x.get(), nullptr));
    error = disagreement();
    EXPECT_LE(error, std::pow(rho, k) * initial * (1 + 1e-9) + 1e-13) << "step " << k;
  }
  if (rho > 1e-6 && error > 1e-11) {
    const double rate = std::pow(error / initial, 1.0 / kSteps);
    EXPECT_GE(rate, 0.5 * rho) << "converges faster than the spectral gap allows";
  }
}

}  // namespace
}  // namespace bftest

namespace bftest {
namespace {

// Each rank declares rank+1 and rank+3 (as destinations, then as sources); the inferred graph must
// hold exactly those edges with uniform, column-stochastic receive weights.
TEST(InferTopology, FromDestinationsAndFromSources) {
  const int rank = bf_rank(), size = bf_size();
  std::vector<int> listed;
  for (int offset : {1, 3}) {
    const int r = (rank + offset) % size;
    if (r != rank && std::find(listed.begin(), listed.end(), r) == listed.end()) listed.push_back(r);
  }
  for (int destinations : {1, 0}) {
    bf_topology* graph = nullptr;
    ASSERT_BF_OK(bf_infer_topology(listed.data(), static_cast<int>(listed.size()), destinations,
                                   &graph));
    std::vector<double> w(static_cast<size_t>(size) * size);
    ASSERT_BF_OK(bf_topology_to_matrix(graph, w.data()));
    for (int i = 0; i < size; ++i) {
      for (int j = 0; j < size; ++j) {
        if (i == j) continue;
        const int offset = destinations ? (j - i + size) % size : (i - j + size) % size;
        const bool expected_edge = (offset == 1 || offset == 3) && offset < size;
        EXPECT_EQ(w[i * size + j] != 0.0, expected_edge) << i << "->" << j;
      }
    }
    for (int j = 0; j < size; ++j) {
      double column = 0;
      for (int i = 0; i < size; ++i) column += w[i * size + j];
      EXPECT_NEAR(column, 1.0, 1e-12) << "column " << j;
    }
    std::vector<int> neighbors(size);
    int count = 0;
    if (destinations) {
      ASSERT_BF_OK(bf_topology_out_neighbors(graph, rank, neighbors.data(), nullptr, size, &count));
    } else {
      ASSERT_BF_OK(bf_topology_in_neighbors(graph, rank, neighbors.data(), nullptr, size, &count));
    }
    neighbors.resize(count);
    std::vector<int> sorted = listed;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(neighbors, sorted);
    bf_topology_free(graph);
  }
  if (size > 1) {
    bf_topology* graph = nullptr;
    EXPECT_EQ(bf_infer_topology(listed.data(), static_cast<int>(listed.size()), rank == 0, &graph),
              BF_ERR_MISMATCH)
        << "ranks mixing destination and source lists must fail everywhere";
    EXPECT_EQ(graph, nullptr);
    // Rank 0 lists itself: invalid there, and every other rank fails too instead of waiting.
    std::vector<int> bad = rank == 0 ? std::vector<int>{0} : listed;
    EXPECT_EQ(bf_infer_topology(bad.data(), static_cast<int>(bad.size()), 1, &graph),
              BF_ERR_INVALID_ARGUMENT);
    const std::string message = bf_last_error();
    EXPECT_NE(message.find(rank == 0 ? "itself" : "rank(s) 0 passed invalid arguments"),
              std::string::npos)
        << message;
    EXPECT_EQ(graph, nullptr);
  }
}

}  // namespace
}  // namespace bftest

namespace bftest {
namespace {

// Payloads above the packing limit travel as a separate contiguous message after their header.
TEST(NeighborLarge, MegabyteTensorsAndAMismatchedLargeSize) {
  const int rank = bf_rank(), size = bf_size();
  bf_topology* ring = nullptr;
  ASSERT_BF_OK(bf_topology_ring(size, BF_RING_BIDIRECTIONAL, &ring));
  ASSERT_BF_OK(bf_set_topology(ring, 0));
  bf_topology_free(ring);
  constexpr int64_t kLength = 300000;  // 1.2 MB of float32
  HostTensor x({kDLFloat, 32, 1}, {kLength});
  for (int64_t i = 0; i < kLength; ++i) x.Set(i, rank + (i % 11));
  bf_neighbor_args args{sizeof(args), "large"};
  ASSERT_BF_OK(bf_neighbor_allreduce(x.get(), x.get(), &args));
  std::vector<int> sources;
  if (size > 1) sources.push_back((rank - 1 + size) % size);
  if (size > 2) sources.push_back((rank + 1) % size);
  for (int64_t i = 0; i < kLength; i += 997) {
    double expected = rank + (i % 11);
    for (int s : sources) expected += s + (i % 11);
    expected /= static_cast<double>(sources.size() + 1);
    ASSERT_NEAR(x.Get(i), expected, 1e-4) << i;
  }
  if (size < 2) return;
  // Rank 0 sends 4 more elements than its neighbors expect: they report it, nothing overflows.
  HostTensor y({kDLFloat, 32, 1}, {rank == 0 ? kLength + 4 : kLength});
  bf_neighbor_args sized{sizeof(sized), "large.sized"};
  const bf_status status = bf_neighbor_allreduce(y.get(), y.get(), &sized);
  if (rank == 1 || rank == size - 1 || rank == 0) EXPECT_EQ(status, BF_ERR_MISMATCH);
  EXPECT_BF_OK(bf_barrier());
}

}  // namespace
}  // namespace bftest

// SPDX-License-Identifier: Apache-2.0
// Unit tests of the topology layer: generators and spectral gaps against hand-computed values,
// schedules against BlueFog's documented sequences, and the C API's error paths.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "bluefog.h"
#include "core/last_error.h"
#include "topology/c_handle.h"
#include "topology/graph.h"
#include "topology/schedules.h"
#include "topology/spectral.h"

namespace bluefog {
namespace {

#define ASSERT_OK(expr)                                              \
  do {                                                               \
    const ::bluefog::Status status_ = (expr);                        \
    ASSERT_TRUE(status_.ok()) << #expr << ": " << status_.message(); \
  } while (0)

using Matrix = std::vector<std::vector<double>>;

Matrix Dense(const Topology& topology) {
  const int n = topology.size();
  Matrix rows(n, std::vector<double>(n));
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) rows[i][j] = topology.weight(i, j);
  }
  return rows;
}

// Circulant matrix with rank i sending to i + offset with `weight` for every offset given.
Matrix Circulant(int n, const std::vector<int>& offsets, double weight) {
  Matrix rows(n, std::vector<double>(n, 0.0));
  for (int i = 0; i < n; ++i) {
    for (int offset : offsets) rows[i][(i + offset) % n] = weight;
  }
  return rows;
}

void ExpectMatrixNear(const Matrix& actual, const Matrix& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    for (size_t j = 0; j < expected.size(); ++j) {
      EXPECT_DOUBLE_EQ(actual[i][j], expected[i][j]) << "at [" << i << "][" << j << "]";
    }
  }
}

// Both factories' results are needed in expressions, so failures are reported, not fatal.
Topology Exponential(int size, int base) {
  Topology t;
  const Status status = Topology::Exponential(size, base, &t);
  EXPECT_TRUE(status.ok()) << status.message();
  return t;
}

Topology FromMatrix(int size, const std::vector<double>& weights) {
  Topology t;
  const Status status = Topology::FromMatrix(size, weights, &t);
  EXPECT_TRUE(status.ok()) << status.message();
  return t;
}

// ===== Generators ===============================================================================

TEST(Generators, ExponentialBase2MatchesBlueFogExamples) {
  ExpectMatrixNear(Dense(Exponential(4, 2)), Circulant(4, {0, 1, 2}, 1.0 / 3));
  ExpectMatrixNear(Dense(Exponential(8, 2)), Circulant(8, {0, 1, 2, 4}, 0.25));
  ExpectMatrixNear(Dense(Exponential(16, 2)), Circulant(16, {0, 1, 2, 4, 8}, 0.2));
  ExpectMatrixNear(Dense(Exponential(1, 2)), Matrix{{1.0}});
  ExpectMatrixNear(Dense(Exponential(2, 7)), Circulant(2, {0, 1}, 0.5));
}

TEST(Generators, ExponentialOtherBases) {
  ExpectMatrixNear(Dense(Exponential(10, 3)), Circulant(10, {0, 1, 3, 9}, 0.25));
  ExpectMatrixNear(Dense(Exponential(17, 4)), Circulant(17, {0, 1, 4, 16}, 0.25));
  ExpectMatrixNear(Dense(Exponential(12, 10)), Circulant(12, {0, 1, 10}, 1.0 / 3));
}

TEST(Generators, ExponentialUsesIntegerPowerTest) {
  // BlueFog's float logarithm misses 243 = 3^5 and 1000 = 10^3.
  const Topology base3 = Exponential(244, 3);
  EXPECT_DOUBLE_EQ(base3.weight(0, 243), 1.0 / 7);  // offsets 0,1,3,9,27,81,243
  EXPECT_DOUBLE_EQ(base3.weight(5, (5 + 243) % 244), 1.0 / 7);
  const Topology base10 = Exponential(1001, 10);
  EXPECT_DOUBLE_EQ(base10.weight(0, 1000), 0.2);  // offsets 0,1,10,100,1000
  EXPECT_EQ(base10.out_neighbors(0), (std::vector<int>{1, 10, 100, 1000}));
}

TEST(Generators, ExponentialTwoEqualsExponentialBase2) {
  for (int size = 1; size <= 40; ++size) {
    Topology two;
    ASSERT_OK(Topology::ExponentialTwo(size, &two));
    EXPECT_EQ(two, Exponential(size, 2)) << "size " << size;
  }
  Topology five;
  ASSERT_OK(Topology::ExponentialTwo(5, &five));
  ExpectMatrixNear(Dense(five), Circulant(5, {0, 1, 2, 4}, 0.25));
}

TEST(Generators, SymmetricExponential) {
  Topology t;
  ASSERT_OK(Topology::SymmetricExponential(16, 4, &t));
  ExpectMatrixNear(Dense(t), Circulant(16, {0, 1, 4, 12, 15}, 0.2));
  ASSERT_OK(Topology::SymmetricExponential(16, 2, &t));
  ExpectMatrixNear(Dense(t), Circulant(16, {0, 1, 2, 4, 8, 12, 14, 15}, 0.125));
  ASSERT_OK(Topology::SymmetricExponential(1, 4, &t));
  ExpectMatrixNear(Dense(t), Matrix{{1.0}});
}

TEST(Generators, RingStyles) {
  Topology t;
  ASSERT_OK(Topology::Ring(5, BF_RING_BIDIRECTIONAL, &t));
  ExpectMatrixNear(Dense(t), Circulant(5, {0, 1, 4}, 1.0 / 3));
  ASSERT_OK(Topology::Ring(5, BF_RING_LEFT, &t));
  ExpectMatrixNear(Dense(t), Circulant(5, {0, 4}, 0.5));
  EXPECT_EQ(t.out_neighbors(2), std::vector<int>{1});  // left: i sends to i - 1
  EXPECT_EQ(t.in_neighbors(2), std::vector<int>{3});
  ASSERT_OK(Topology::Ring(5, BF_RING_RIGHT, &t));
  ExpectMatrixNear(Dense(t), Circulant(5, {0, 1}, 0.5));
  EXPECT_EQ(t.out_neighbors(4), std::vector<int>{0});
  for (bf_ring_style style : {BF_RING_BIDIRECTIONAL, BF_RING_LEFT, BF_RING_RIGHT}) {
    ASSERT_OK(Topology::Ring(2, style, &t));
    ExpectMatrixNear(Dense(t), Matrix{{0.5, 0.5}, {0.5, 0.5}});
    ASSERT_OK(Topology::Ring(1, style, &t));
    ExpectMatrixNear(Dense(t), Matrix{{1.0}});
  }
  ASSERT_OK(Topology::Ring(3, BF_RING_BIDIRECTIONAL, &t));
  ExpectMatrixNear(Dense(t), Circulant(3, {0, 1, 2}, 1.0 / 3));
}

TEST(Generators, StarCenterSelfWeightIsOneOverN) {
  Topology t;
  ASSERT_OK(Topology::Star(4, 1, &t));
  ExpectMatrixNear(Dense(t), Matrix{{0.75, 0.25, 0.0, 0.0},
                                    {0.25, 0.25, 0.25, 0.25},
                                    {0.0, 0.25, 0.75, 0.0},
                                    {0.0, 0.25, 0.0, 0.75}});
  EXPECT_EQ(t.in_neighbors(1), (std::vector<int>{0, 2, 3}));
  EXPECT_EQ(t.out_neighbors(3), std::vector<int>{1});
  ASSERT_OK(Topology::Star(1, 0, &t));
  ExpectMatrixNear(Dense(t), Matrix{{1.0}});
}

TEST(Generators, MeshGrid2DMetropolisHastingsWeights) {
  Topology t;
  ASSERT_OK(Topology::MeshGrid2D(4, 0, 0, &t));  // 2 x 2: every rank has 2 neighbors
  const double third = 1.0 / 3;
  const double diag = 2.0 - (((0.0 + 1.0) + third) + third);
  ExpectMatrixNear(Dense(t), Matrix{{diag, third, third, 0.0},
                                    {third, diag, 0.0, third},
                                    {third, 0.0, diag, third},
                                    {0.0, third, third, diag}});

  ASSERT_OK(Topology::MeshGrid2D(6, 0, 0, &t));  // default 2 x 3
  // Degrees with self: corners 3, middle column 4.
  EXPECT_EQ(t.out_neighbors(0), (std::vector<int>{1, 3}));
  EXPECT_EQ(t.out_neighbors(1), (std::vector<int>{0, 2, 4}));
  EXPECT_DOUBLE_EQ(t.weight(0, 1), 0.25);
  EXPECT_DOUBLE_EQ(t.weight(0, 3), 1.0 / 3);
  EXPECT_DOUBLE_EQ(t.self_weight(0), 1.0 - 0.25 - 1.0 / 3);
  EXPECT_DOUBLE_EQ(t.self_weight(1), 0.25);

  ASSERT_OK(Topology::MeshGrid2D(6, 3, 2, &t));  // explicit 3 x 2
  EXPECT_EQ(t.out_neighbors(0), (std::vector<int>{1, 2}));
  EXPECT_EQ(t.out_neighbors(3), (std::vector<int>{1, 2, 5}));

  ASSERT_OK(Topology::MeshGrid2D(7, 0, 0, &t));  // prime: a 1 x 7 line
  EXPECT_EQ(t.out_neighbors(0), std::vector<int>{1});
  EXPECT_EQ(t.out_neighbors(3), (std::vector<int>{2, 4}));

  ASSERT_OK(Topology::MeshGrid2D(24, 0, 0, &t));  // 4 x 6
  EXPECT_EQ(t.out_neighbors(0), (std::vector<int>{1, 6}));
  EXPECT_EQ(t.out_neighbors(5), (std::vector<int>{4, 11}));

  ASSERT_OK(Topology::MeshGrid2D(1, 0, 0, &t));
  ExpectMatrixNear(Dense(t), Matrix{{1.0}});
}

TEST(Generators, FullyConnected) {
  Topology t;
  ASSERT_OK(Topology::FullyConnected(4, &t));
  ExpectMatrixNear(Dense(t), Matrix(4, std::vector<double>(4, 0.25)));
  EXPECT_EQ(t.in_neighbors(2), (std::vector<int>{0, 1, 3}));
}

TEST(Generators, RowsOfStochasticGeneratorsSumToOne) {
  for (int size = 1; size <= 30; ++size) {
    std::vector<Topology> graphs(6);
    ASSERT_OK(Topology::Exponential(size, 3, &graphs[0]));
    ASSERT_OK(Topology::SymmetricExponential(size, 2, &graphs[1]));
    ASSERT_OK(Topology::Ring(size, BF_RING_BIDIRECTIONAL, &graphs[2]));
    ASSERT_OK(Topology::Star(size, size / 2, &graphs[3]));
    ASSERT_OK(Topology::MeshGrid2D(size, 0, 0, &graphs[4]));
    ASSERT_OK(Topology::FullyConnected(size, &graphs[5]));
    for (const Topology& graph : graphs) {
      for (int i = 0; i < size; ++i) {
        double sum = 0.0;
        for (int j = 0; j < size; ++j) sum += graph.weight(i, j);
        EXPECT_NEAR(sum, 1.0, 1e-12) << "size " << size << " row " << i;
      }
    }
  }
}

// ===== Argument errors ===========================================================================

void ExpectInvalid(const Status& status, const std::string& fragment) {
  EXPECT_EQ(status.code(), BF_ERR_INVALID_ARGUMENT);
  EXPECT_NE(status.message().find(fragment), std::string::npos)
      << "message \"" << status.message() << "\" lacks \"" << fragment << "\"";
}

TEST(GeneratorErrors, NameTheArgument) {
  Topology t = Exponential(3, 2);
  const Topology before = t;
  ExpectInvalid(Topology::Exponential(0, 2, &t), "size 0");
  ExpectInvalid(Topology::Exponential(-4, 2, &t), "size -4");
  ExpectInvalid(Topology::Exponential(Topology::kMaxSize + 1, 2, &t), "exceeds the maximum");
  ExpectInvalid(Topology::Exponential(8, 1, &t), "base 1");
  ExpectInvalid(Topology::SymmetricExponential(8, 0, &t), "base 0");
  ExpectInvalid(Topology::ExponentialTwo(0, &t), "size 0");
  ExpectInvalid(Topology::Ring(8, 3, &t), "style 3");
  ExpectInvalid(Topology::Ring(0, BF_RING_LEFT, &t), "size 0");
  ExpectInvalid(Topology::Star(8, 9, &t), "center_rank 9 is out of range for size 8");
  ExpectInvalid(Topology::Star(8, -1, &t), "center_rank -1");
  ExpectInvalid(Topology::MeshGrid2D(8, 3, 3, &t), "nrows 3 x ncols 3 does not match size 8");
  ExpectInvalid(Topology::MeshGrid2D(8, 0, 8, &t), "nrows 0");
  ExpectInvalid(Topology::MeshGrid2D(8, -2, -4, &t), "nrows -2");
  ExpectInvalid(Topology::FullyConnected(-1, &t), "size -1");
  EXPECT_EQ(t, before);  // untouched by every failure
}

TEST(CustomGraphs, FromMatrixAndFromEdgesAgree) {
  const std::vector<double> weights = {0.5, 0.5, 0.0, 0.0, 0.25, 0.75, 1.0, 0.0, 0.0};
  const Topology from_matrix = FromMatrix(3, weights);
  Topology from_edges;
  const std::vector<int> src = {2, 0, 1, 0, 1};
  const std::vector<int> dst = {0, 0, 2, 1, 1};
  const std::vector<double> edge_weights = {1.0, 0.5, 0.75, 0.5, 0.25};
  ASSERT_OK(Topology::FromEdges(3, src, dst, edge_weights, &from_edges));
  EXPECT_EQ(from_matrix, from_edges);
  EXPECT_EQ(from_matrix.fingerprint(), from_edges.fingerprint());
  EXPECT_EQ(from_matrix.in_neighbors(0), std::vector<int>{2});
  EXPECT_EQ(from_matrix.out_neighbors(0), std::vector<int>{1});
  EXPECT_EQ(from_matrix.in_neighbors(2), std::vector<int>{1});
  EXPECT_EQ(from_matrix.self_weight(2), 0.0);

  Topology unweighted;
  ASSERT_OK(Topology::FromEdges(3, src, dst, {}, &unweighted));
  EXPECT_EQ(unweighted.weight(1, 2), 1.0);
  ASSERT_OK(Topology::FromEdges(4, {}, {}, {}, &unweighted));
  EXPECT_TRUE(unweighted.out_neighbors(0).empty());
}

TEST(CustomGraphs, Errors) {
  Topology t;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  ExpectInvalid(Topology::FromMatrix(2, std::vector<double>{1, 0, nan, 1}, &t),
                "weights[1][0] is nan");
  ExpectInvalid(Topology::FromMatrix(2, std::vector<double>{1, -inf, 0, 1}, &t), "-inf");
  ExpectInvalid(Topology::FromMatrix(2, std::vector<double>{1, 0, 1}, &t), "needs 4");
  const std::vector<int> src = {0, 1, 0};
  const std::vector<int> dst = {1, 0, 1};
  ExpectInvalid(Topology::FromEdges(2, src, dst, {}, &t), "edge 0->1 appears twice");
  ExpectInvalid(Topology::FromEdges(2, std::vector<int>{0, 2}, std::vector<int>{1, 0}, {}, &t),
                "src[1] is 2, out of range for size 2");
  ExpectInvalid(Topology::FromEdges(2, std::vector<int>{0}, std::vector<int>{-1}, {}, &t),
                "dst[0] is -1");
  ExpectInvalid(Topology::FromEdges(2, std::vector<int>{0}, std::vector<int>{1},
                                    std::vector<double>{inf}, &t),
                "weights[0] (edge 0->1) is inf");
  ExpectInvalid(Topology::FromEdges(2, std::vector<int>{0}, std::vector<int>{1},
                                    std::vector<double>{0.0}, &t),
                "is 0");
  EXPECT_EQ(t.size(), 0);
}

TEST(Fingerprint, EqualGraphsHashEqualAndDifferentOnesDiffer) {
  EXPECT_EQ(Exponential(8, 2).fingerprint(), Exponential(8, 2).fingerprint());
  EXPECT_NE(Exponential(8, 2).fingerprint(), Exponential(9, 2).fingerprint());
  EXPECT_NE(Exponential(8, 2).fingerprint(), Exponential(8, 3).fingerprint());
  // Same multiset of weights in different places.
  EXPECT_NE(FromMatrix(2, {1, 0, 0, 1}).fingerprint(), FromMatrix(2, {0, 1, 1, 0}).fingerprint());
  // Same weights on a different number of ranks, and an empty topology.
  EXPECT_NE(FromMatrix(1, {0}).fingerprint(), Topology().fingerprint());
  // -0.0 is no edge and equals +0.0.
  const Topology negative_zero = FromMatrix(2, {1, -0.0, 0, 1});
  const Topology positive_zero = FromMatrix(2, {1, 0.0, 0, 1});
  EXPECT_EQ(negative_zero, positive_zero);
  EXPECT_EQ(negative_zero.fingerprint(), positive_zero.fingerprint());
  EXPECT_FALSE(negative_zero.has_edge(0, 1));
  // A one-ulp change is seen.
  const double almost_half = std::nextafter(0.5, 0.0);
  EXPECT_NE(FromMatrix(2, {0.5, 0.5, 0.5, 0.5}).fingerprint(),
            FromMatrix(2, {0.5, 0.5, 0.5, almost_half}).fingerprint());
}

// ===== Schedules =================================================================================

using Step = std::pair<std::vector<int>, std::vector<int>>;

Step OnePeer(const Topology& topology, int rank, int64_t step) {
  SendRecvLists lists;
  const Status status = OnePeerSchedule(topology).At(rank, step, &lists);
  EXPECT_TRUE(status.ok()) << status.message();
  return {lists.send, lists.recv};
}

TEST(Schedules, OnePeerExp2Of8MatchesBlueFogExample) {
  const Topology exp2 = Exponential(8, 2);
  EXPECT_EQ(OnePeer(exp2, 0, 0), Step({1}, {7}));
  EXPECT_EQ(OnePeer(exp2, 0, 1), Step({2}, {6}));
  EXPECT_EQ(OnePeer(exp2, 0, 2), Step({4}, {4}));
  EXPECT_EQ(OnePeer(exp2, 0, 3), Step({1}, {7}));
  EXPECT_EQ(OnePeer(exp2, 3, 0), Step({4}, {2}));
  EXPECT_EQ(OnePeer(exp2, 3, 1), Step({5}, {1}));
  EXPECT_EQ(OnePeer(exp2, 3, 2), Step({7}, {7}));
  EXPECT_EQ(OnePeer(exp2, 3, 3000000000LL), Step({4}, {2}));  // 3e9 % 3 == 0
}

TEST(Schedules, OnePeerWithoutSelfLoops) {
  // Ring i -> i+1 with no self-loops: BlueFog would take degree 0 and divide by zero.
  Topology ring;
  ASSERT_OK(Topology::FromEdges(4, std::vector<int>{0, 1, 2, 3}, std::vector<int>{1, 2, 3, 0}, {},
                                &ring));
  for (int64_t step = 0; step < 5; ++step) EXPECT_EQ(OnePeer(ring, 2, step), Step({3}, {1}));
  // Rank 0 has no out-neighbors: it sends nothing but still receives.
  Topology inward;
  ASSERT_OK(
      Topology::FromEdges(3, std::vector<int>{1, 2, 2}, std::vector<int>{0, 0, 1}, {}, &inward));
  EXPECT_EQ(OnePeer(inward, 0, 0), Step({}, {1, 2}));
  EXPECT_EQ(OnePeer(inward, 0, 1), Step({}, {1}));
  EXPECT_EQ(OnePeer(inward, 1, 1), Step({0}, {2}));
  EXPECT_EQ(OnePeer(inward, 2, 1), Step({1}, {}));
}

TEST(Schedules, OnePeerErrors) {
  SendRecvLists lists;
  const OnePeerSchedule schedule(Exponential(4, 2));
  ExpectInvalid(schedule.At(4, 0, &lists), "rank 4 is out of range for size 4");
  ExpectInvalid(schedule.At(0, -1, &lists), "step -1");
}

Step Machine(Status (*schedule)(int, int, int, int64_t, SendRecvLists*), int world, int local,
             int rank, int64_t step) {
  SendRecvLists lists;
  const Status status = schedule(world, local, rank, step, &lists);
  EXPECT_TRUE(status.ok()) << status.message();
  return {lists.send, lists.recv};
}

TEST(Schedules, InnerOuterRingWorld8Local4Step0) {
  // 0 <-> 4 cross machines; 1 -> 2 -> 3 -> 1 and 5 -> 6 -> 7 -> 5 inside.
  const std::vector<Step> expected = {{{4}, {4}}, {{2}, {3}}, {{3}, {1}}, {{1}, {2}},
                                      {{0}, {0}}, {{6}, {7}}, {{7}, {5}}, {{5}, {6}}};
  for (int rank = 0; rank < 8; ++rank) {
    EXPECT_EQ(Machine(InnerOuterRingSchedule, 8, 4, rank, 0), expected[rank]) << "rank " << rank;
  }
  // Step 1: local rank 1 goes outside; the inner ring 0 -> 2 -> 3 -> 0 skips it.
  EXPECT_EQ(Machine(InnerOuterRingSchedule, 8, 4, 1, 1), Step({5}, {5}));
  EXPECT_EQ(Machine(InnerOuterRingSchedule, 8, 4, 0, 1), Step({2}, {3}));
  EXPECT_EQ(Machine(InnerOuterRingSchedule, 8, 4, 2, 1), Step({3}, {0}));
}

TEST(Schedules, InnerOuterRingSingleMachineOutgoingRankSitsOut) {
  EXPECT_EQ(Machine(InnerOuterRingSchedule, 4, 4, 0, 0), Step({}, {}));
  EXPECT_EQ(Machine(InnerOuterRingSchedule, 4, 4, 1, 0), Step({2}, {3}));
}

TEST(Schedules, InnerOuterExp2World16Local4Rank0) {
  EXPECT_EQ(Machine(InnerOuterExp2Schedule, 16, 4, 0, 0), Step({4}, {12}));
  EXPECT_EQ(Machine(InnerOuterExp2Schedule, 16, 4, 0, 1), Step({3}, {2}));
  EXPECT_EQ(Machine(InnerOuterExp2Schedule, 16, 4, 0, 2), Step({1}, {3}));
  EXPECT_EQ(Machine(InnerOuterExp2Schedule, 16, 4, 0, 3), Step({2}, {1}));
  EXPECT_EQ(Machine(InnerOuterExp2Schedule, 16, 4, 0, 4), Step({4}, {12}));
}

TEST(Schedules, Exp2Machine) {
  // 4 machines of 2 ranks: distances cycle 1, 2.
  EXPECT_EQ(Machine(Exp2MachineSchedule, 8, 2, 0, 0), Step({1}, {3}));
  EXPECT_EQ(Machine(Exp2MachineSchedule, 8, 2, 1, 1), Step({2}, {2}));
  EXPECT_EQ(Machine(Exp2MachineSchedule, 8, 2, 7, 2), Step({0}, {2}));
  // 2 machines: always the other one.
  for (int64_t step = 0; step < 4; ++step) {
    EXPECT_EQ(Machine(Exp2MachineSchedule, 4, 2, 3, step), Step({0}, {0}));
  }
}

TEST(Schedules, MachineScheduleErrors) {
  SendRecvLists lists;
  ExpectInvalid(InnerOuterRingSchedule(10, 4, 0, 0, &lists),
                "world_size 10 is not a multiple of local_size 4");
  ExpectInvalid(InnerOuterRingSchedule(8, 2, 0, 0, &lists), "local_size 2");
  ExpectInvalid(InnerOuterExp2Schedule(8, 2, 0, 0, &lists), "local_size 2");
  ExpectInvalid(InnerOuterExp2Schedule(4, 4, 0, 0, &lists), "at least 2 machines");
  ExpectInvalid(Exp2MachineSchedule(4, 4, 0, 0, &lists), "at least 2 machines");
  ExpectInvalid(Exp2MachineSchedule(8, 0, 0, 0, &lists), "local_size 0");
  ExpectInvalid(Exp2MachineSchedule(0, 1, 0, 0, &lists), "world_size 0");
  ExpectInvalid(InnerOuterRingSchedule(8, 4, 8, 0, &lists), "rank 8 is out of range");
  ExpectInvalid(InnerOuterExp2Schedule(16, 4, 0, -3, &lists), "step -3");
}

// ===== Eigenvalues and spectral gap ==============================================================

double Rho(const Topology& topology) {
  double rho = -1.0;
  const Status status = topology.SpectralGap(&rho);
  EXPECT_TRUE(status.ok()) << status.message();
  return rho;
}

TEST(Spectral, BidirectionalRingClosedForm) {
  for (int n = 3; n <= 40; ++n) {
    Topology ring;
    ASSERT_OK(Topology::Ring(n, BF_RING_BIDIRECTIONAL, &ring));
    double expected = 0.0;
    for (int k = 1; k < n; ++k) {
      expected =
          std::max(expected, std::abs(1.0 / 3 + 2.0 / 3 * std::cos(2 * std::numbers::pi * k / n)));
    }
    EXPECT_NEAR(Rho(ring), expected, 1e-12) << "n " << n;
  }
}

TEST(Spectral, DirectedRingClosedForm) {
  // W = (I + P) / 2 has eigenvalues (1 + w^k) / 2 with modulus |cos(pi k / n)|.
  for (int n = 3; n <= 40; ++n) {
    Topology ring;
    ASSERT_OK(Topology::Ring(n, n % 2 ? BF_RING_LEFT : BF_RING_RIGHT, &ring));
    EXPECT_NEAR(Rho(ring), std::cos(std::numbers::pi / n), 1e-12) << "n " << n;
  }
}

TEST(Spectral, FullyConnectedStarAndSingleRank) {
  for (int n = 1; n <= 40; ++n) {
    Topology graph;
    ASSERT_OK(Topology::FullyConnected(n, &graph));
    EXPECT_NEAR(Rho(graph), 0.0, 1e-12) << "n " << n;
    // Star: eigenvalues 1, 0 and 1 - 1/n (n - 2 times).
    ASSERT_OK(Topology::Star(n, n - 1, &graph));
    EXPECT_NEAR(Rho(graph), n >= 3 ? 1.0 - 1.0 / n : 0.0, 1e-12) << "n " << n;
  }
  EXPECT_EQ(Rho(FromMatrix(1, {1.0})), 0.0);
}

TEST(Spectral, DisconnectedPermutationAndColumnStochastic) {
  EXPECT_NEAR(Rho(FromMatrix(3, {1, 0, 0, 0, 1, 0, 0, 0, 1})), 1.0, 1e-12);
  // Cyclic shifts: all eigenvalues on the unit circle; the classic stall case for QR shifts.
  for (int n = 2; n <= 40; ++n) {
    std::vector<double> shift(static_cast<size_t>(n) * n, 0.0);
    for (int i = 0; i < n; ++i) shift[static_cast<size_t>(i) * n + (i + 1) % n] = 1.0;
    EXPECT_NEAR(Rho(FromMatrix(n, shift)), 1.0, 1e-10) << "n " << n;
  }
  // Columns sum to 1, rows do not: eigenvalues 1 and 0.3.
  EXPECT_NEAR(Rho(FromMatrix(2, {0.5, 0.2, 0.5, 0.8})), 0.3, 1e-14);
}

// Circulant graphs take the O(n^2) DFT path; the general QR path must agree with it.
TEST(Spectral, CirculantShortcutAgreesWithQr) {
  for (int n = 2; n <= 48; ++n) {
    std::vector<Topology> circulants(3);
    ASSERT_OK(Topology::Exponential(n, 2, &circulants[0]));
    ASSERT_OK(Topology::Ring(n, BF_RING_LEFT, &circulants[1]));
    ASSERT_OK(Topology::SymmetricExponential(n, 3, &circulants[2]));
    for (const Topology& graph : circulants) {
      ASSERT_TRUE(IsCirculant(n, graph.matrix()));
      std::vector<std::complex<double>> eigenvalues;
      ASSERT_OK(
          RealMatrixEigenvalues(n, {graph.matrix().begin(), graph.matrix().end()}, &eigenvalues));
      std::vector<double> qr_moduli;
      for (const auto& value : eigenvalues) qr_moduli.push_back(std::abs(value));
      std::vector<double> dft_moduli;
      for (const auto& value : CirculantEigenvalues(graph.matrix().first(n))) {
        dft_moduli.push_back(std::abs(value));
      }
      std::sort(qr_moduli.begin(), qr_moduli.end());
      std::sort(dft_moduli.begin(), dft_moduli.end());
      for (int k = 0; k < n; ++k) EXPECT_NEAR(qr_moduli[k], dft_moduli[k], 1e-12) << "n " << n;
    }
  }
  Topology star;
  ASSERT_OK(Topology::Star(5, 0, &star));
  EXPECT_FALSE(IsCirculant(5, star.matrix()));
  Topology mesh;
  ASSERT_OK(Topology::MeshGrid2D(6, 0, 0, &mesh));
  EXPECT_FALSE(IsCirculant(6, mesh.matrix()));
}

TEST(Spectral, RejectsNonStochastic) {
  double rho = 42.0;
  ExpectInvalid(FromMatrix(2, {0.5, 0.4, 0.5, 0.5}).SpectralGap(&rho),
                "row 0 sums to 0.9 and column 1 sums to 0.9");
  ExpectInvalid(FromMatrix(1, {0.5}).SpectralGap(&rho), "row- or column-stochastic");
  ExpectInvalid(Topology().SpectralGap(&rho), "empty");
  EXPECT_EQ(rho, 42.0);
}

// A = Q T Q with Q a Householder reflector (Q = Q^T = Q^-1) and T block upper triangular, so the
// eigenvalues are those of T's diagonal blocks while A itself is dense and non-symmetric.
TEST(Spectral, EigenvaluesOfDenseNonSymmetricMatrixWithKnownSpectrum) {
  const int n = 7;
  std::vector<double> t(n * n, 0.0);
  const double diagonal[n] = {2.0, -1.5, 0.25, 0.0, 0.0, 3.0, 3.0};  // 3.0 repeated
  for (int i = 0; i < n; ++i) {
    t[i * n + i] = diagonal[i];
    for (int j = i + 1; j < n; ++j) t[i * n + j] = 0.1 * (i + 2 * j) - 0.3;
  }
  // Rows/columns 3 and 4 form the block [[0.5, -2], [1, 0.5]]: eigenvalues 0.5 +- i sqrt(2).
  t[3 * n + 3] = 0.5;
  t[3 * n + 4] = -2.0;
  t[4 * n + 3] = 1.0;
  t[4 * n + 4] = 0.5;
  std::vector<double> v = {1.0, -2.0, 0.5, 3.0, -1.0, 0.25, 2.0};
  double v_dot_v = 0.0;
  for (double x : v) v_dot_v += x * x;
  std::vector<double> q(n * n);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) q[i * n + j] = (i == j ? 1.0 : 0.0) - 2.0 * v[i] * v[j] / v_dot_v;
  }
  auto multiply = [n](const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> c(n * n, 0.0);
    for (int i = 0; i < n; ++i) {
      for (int k = 0; k < n; ++k) {
        for (int j = 0; j < n; ++j) c[i * n + j] += a[i * n + k] * b[k * n + j];
      }
    }
    return c;
  };
  std::vector<std::complex<double>> eigenvalues;
  ASSERT_OK(RealMatrixEigenvalues(n, multiply(multiply(q, t), q), &eigenvalues));
  const std::vector<std::complex<double>> expected = {
      {2.0, 0.0}, {-1.5, 0.0}, {0.25, 0.0}, {0.5, std::sqrt(2.0)}, {0.5, -std::sqrt(2.0)},
      {3.0, 0.0}, {3.0, 0.0}};
  ASSERT_EQ(eigenvalues.size(), expected.size());
  std::vector<bool> matched(expected.size(), false);
  for (const std::complex<double>& found : eigenvalues) {
    bool any = false;
    for (size_t k = 0; k < expected.size() && !any; ++k) {
      if (!matched[k] && std::abs(found - expected[k]) < 1e-7) matched[k] = any = true;
    }
    EXPECT_TRUE(any) << "unexpected eigenvalue " << found;
  }
}

TEST(Spectral, EigenvaluesOfTinyAndZeroMatrices) {
  std::vector<std::complex<double>> eigenvalues;
  ASSERT_OK(RealMatrixEigenvalues(0, {}, &eigenvalues));
  EXPECT_TRUE(eigenvalues.empty());
  ASSERT_OK(RealMatrixEigenvalues(2, {0, -1, 1, 0}, &eigenvalues));  // rotation: +-i
  ASSERT_EQ(eigenvalues.size(), 2u);
  EXPECT_NEAR(std::abs(eigenvalues[0].imag()), 1.0, 1e-15);
  EXPECT_NEAR(eigenvalues[0].real(), 0.0, 1e-15);
  ASSERT_OK(RealMatrixEigenvalues(5, std::vector<double>(25, 0.0), &eigenvalues));
  for (const auto& value : eigenvalues) EXPECT_EQ(std::abs(value), 0.0);
}

// Entries near DBL_MAX: the row norms overflow to infinity. Balancing used to search forever for
// a power of two to scale an infinite norm by (a fuzz finding); now it ends with eigenvalues or a
// clear error, and never with NaN.
TEST(Spectral, EntriesNearTheLargestDoubleEndInAnAnswerOrAnError) {
  const double big = std::numeric_limits<double>::max();
  // Row-stochastic (summed left to right, big - big + 1 is exactly 1); column 0's off-diagonal
  // norm is infinite while row 0's is 0.5.
  const std::vector<double> weights = {0.5,  0.5,  0,   0,  //
                                       big,  -big, 1,   0,  //
                                       -big, 0,    big, 1,  //
                                       0,    0,    0,   1};
  Topology topology;
  ASSERT_OK(Topology::FromMatrix(4, weights, &topology));
  double rho = -1.0;
  const Status status = topology.SpectralGap(&rho);
  if (status.ok()) {
    EXPECT_FALSE(std::isnan(rho));
  } else {
    EXPECT_EQ(status.code(), BF_ERR_INTERNAL) << status.message();
    EXPECT_EQ(rho, -1.0);
  }
  std::vector<std::complex<double>> eigenvalues;
  const Status direct = RealMatrixEigenvalues(4, weights, &eigenvalues);
  for (const auto& value : eigenvalues) EXPECT_TRUE(std::isfinite(std::abs(value))) << value;
  if (!direct.ok()) EXPECT_EQ(direct.code(), BF_ERR_INTERNAL) << direct.message();
}

// ===== C API =====================================================================================

struct TopologyFree {
  void operator()(bf_topology* topology) const { bf_topology_free(topology); }
};
using TopologyHandle = std::unique_ptr<bf_topology, TopologyFree>;

// Takes the address, not the value: the call that fills `*topology` is the other argument, and
// argument evaluation order is unspecified.
TopologyHandle Adopt(bf_status status, bf_topology** topology) {
  EXPECT_EQ(status, BF_OK) << LastErrorMessage();
  return TopologyHandle(status == BF_OK ? *topology : nullptr);
}

std::string LastError() { return LastErrorMessage(); }

TEST(CApi, GeneratorsReturnHandlesMatchingTheCppValues) {
  bf_topology* raw = nullptr;
  TopologyHandle exp = Adopt(bf_topology_exponential(12, 3, &raw), &raw);
  EXPECT_EQ(exp->graph, Exponential(12, 3));
  EXPECT_EQ(bf_topology_size(exp.get()), 12);
  EXPECT_EQ(bf_topology_size(nullptr), -1);

  TopologyHandle two = Adopt(bf_topology_exponential_two(12, &raw), &raw);
  TopologyHandle sym = Adopt(bf_topology_symmetric_exponential(12, 4, &raw), &raw);
  TopologyHandle ring = Adopt(bf_topology_ring(12, BF_RING_RIGHT, &raw), &raw);
  TopologyHandle star = Adopt(bf_topology_star(12, 5, &raw), &raw);
  TopologyHandle mesh = Adopt(bf_topology_mesh_grid_2d(12, 2, 6, &raw), &raw);
  TopologyHandle full = Adopt(bf_topology_fully_connected(12, &raw), &raw);
  EXPECT_EQ(star->graph.self_weight(5), 1.0 / 12);
  EXPECT_EQ(mesh->graph.out_neighbors(0), (std::vector<int>{1, 6}));

  TopologyHandle copy = Adopt(bf_topology_copy(star.get(), &raw), &raw);
  EXPECT_NE(copy.get(), star.get());
  EXPECT_EQ(copy->graph, star->graph);
}

TEST(CApi, ErrorsCarryTheFunctionNameAndLeaveOutputsUntouched) {
  bf_topology* sentinel = reinterpret_cast<bf_topology*>(0x1234);
  bf_topology* out = sentinel;
  EXPECT_EQ(bf_topology_star(8, 9, &out), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "bf_topology_star: center_rank 9 is out of range for size 8");
  EXPECT_EQ(out, sentinel);
  EXPECT_EQ(bf_topology_exponential(8, 2, nullptr), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "bf_topology_exponential: out is NULL");
  EXPECT_EQ(bf_topology_exponential(0, 2, &out), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_topology_exponential_two(-1, &out), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_topology_symmetric_exponential(8, 1, &out), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_topology_ring(8, static_cast<bf_ring_style>(-1), &out), BF_ERR_INVALID_ARGUMENT);
  EXPECT_NE(LastError().find("bf_topology_ring: style -1"), std::string::npos) << LastError();
  EXPECT_EQ(bf_topology_mesh_grid_2d(8, 3, 0, &out), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_topology_fully_connected(0, &out), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_topology_from_matrix(2, nullptr, &out), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "bf_topology_from_matrix: weights is NULL");
  const double nan_matrix[] = {1.0, std::nan(""), 0.0, 1.0};
  EXPECT_EQ(bf_topology_from_matrix(2, nan_matrix, &out), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_topology_from_matrix(0, nan_matrix, &out), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_topology_from_edges(2, -1, nullptr, nullptr, nullptr, &out),
            BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "bf_topology_from_edges: num_edges -1 must be >= 0");
  const int ranks[] = {0, 1};
  EXPECT_EQ(bf_topology_from_edges(2, 2, nullptr, ranks, nullptr, &out), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "bf_topology_from_edges: src is NULL");
  EXPECT_EQ(bf_topology_from_edges(2, 2, ranks, nullptr, nullptr, &out), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_topology_copy(nullptr, &out), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "bf_topology_copy: topology is NULL");
  EXPECT_EQ(out, sentinel);

  // Success clears the message.
  bf_topology* raw = nullptr;
  TopologyHandle ok = Adopt(bf_topology_from_edges(3, 0, nullptr, nullptr, nullptr, &raw), &raw);
  EXPECT_EQ(LastError(), "");
  bf_topology_free(nullptr);  // a no-op
}

TEST(CApi, QueriesAndTheirErrors) {
  bf_topology* raw = nullptr;
  TopologyHandle exp = Adopt(bf_topology_exponential(8, 2, &raw), &raw);
  double weight = -1.0;
  ASSERT_EQ(bf_topology_weight(exp.get(), 3, 7, &weight), BF_OK);
  EXPECT_EQ(weight, 0.25);
  ASSERT_EQ(bf_topology_weight(exp.get(), 3, 6, &weight), BF_OK);
  EXPECT_EQ(weight, 0.0);
  weight = -1.0;
  EXPECT_EQ(bf_topology_weight(exp.get(), 8, 0, &weight), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "bf_topology_weight: from 8 is out of range for size 8");
  EXPECT_EQ(bf_topology_weight(exp.get(), 0, -1, &weight), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_topology_weight(nullptr, 0, 0, &weight), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_topology_weight(exp.get(), 0, 0, nullptr), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(weight, -1.0);

  std::vector<double> matrix(64, -1.0);
  ASSERT_EQ(bf_topology_to_matrix(exp.get(), matrix.data()), BF_OK);
  EXPECT_EQ(matrix[0 * 8 + 4], 0.25);
  EXPECT_EQ(matrix[0 * 8 + 3], 0.0);
  EXPECT_EQ(bf_topology_to_matrix(exp.get(), nullptr), BF_ERR_INVALID_ARGUMENT);

  int ranks[7];
  double weights[7];
  int count = -1;
  ASSERT_EQ(bf_topology_in_neighbors(exp.get(), 3, ranks, weights, 7, &count), BF_OK);
  ASSERT_EQ(count, 3);
  EXPECT_EQ(std::vector<int>(ranks, ranks + 3), (std::vector<int>{1, 2, 7}));
  EXPECT_EQ(std::vector<double>(weights, weights + 3), std::vector<double>(3, 0.25));
  ASSERT_EQ(bf_topology_out_neighbors(exp.get(), 3, ranks, nullptr, 3, &count), BF_OK);
  EXPECT_EQ(std::vector<int>(ranks, ranks + 3), (std::vector<int>{4, 5, 7}));
  count = -1;
  ASSERT_EQ(bf_topology_out_neighbors(exp.get(), 3, nullptr, nullptr, 0, &count), BF_OK);
  EXPECT_EQ(count, 3);  // ranks == NULL: count only

  count = -1;
  ranks[0] = -7;
  EXPECT_EQ(bf_topology_in_neighbors(exp.get(), 3, ranks, weights, 2, &count),
            BF_ERR_INVALID_ARGUMENT);
  EXPECT_NE(LastError().find("capacity 2 is too small: rank 3 has 3 in-neighbors"),
            std::string::npos)
      << LastError();
  EXPECT_EQ(bf_topology_in_neighbors(exp.get(), 8, ranks, weights, 7, &count),
            BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_topology_in_neighbors(exp.get(), 3, ranks, weights, 7, nullptr),
            BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_topology_out_neighbors(nullptr, 3, ranks, weights, 7, &count),
            BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_topology_out_neighbors(exp.get(), 3, ranks, weights, -1, &count),
            BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(count, -1);
  EXPECT_EQ(ranks[0], -7);

  double rho = -1.0;
  ASSERT_EQ(bf_topology_spectral_gap(exp.get(), &rho), BF_OK);
  EXPECT_NEAR(rho, Rho(Exponential(8, 2)), 0.0);
  EXPECT_EQ(bf_topology_spectral_gap(exp.get(), nullptr), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_topology_spectral_gap(nullptr, &rho), BF_ERR_INVALID_ARGUMENT);
  const int src[] = {0};
  const int dst[] = {1};
  TopologyHandle lone = Adopt(bf_topology_from_edges(2, 1, src, dst, nullptr, &raw), &raw);
  rho = -1.0;
  EXPECT_EQ(bf_topology_spectral_gap(lone.get(), &rho), BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(rho, -1.0);
}

TEST(CApi, Schedules) {
  bf_topology* raw = nullptr;
  TopologyHandle exp = Adopt(bf_topology_exponential(8, 2, &raw), &raw);
  int send[8];
  int recv[8];
  int send_count = -1;
  int recv_count = -1;
  ASSERT_EQ(bf_schedule_one_peer(exp.get(), 3, 2, send, &send_count, recv, &recv_count, 8), BF_OK);
  EXPECT_EQ(send_count, 1);
  EXPECT_EQ(send[0], 7);
  EXPECT_EQ(recv_count, 1);
  EXPECT_EQ(recv[0], 7);

  ASSERT_EQ(bf_schedule_exp2_machine(8, 2, 0, 1, send, &send_count, recv, &recv_count, 1), BF_OK);
  EXPECT_EQ(send[0], 2);
  ASSERT_EQ(bf_schedule_inner_outer_ring(8, 4, 1, 0, send, &send_count, recv, &recv_count, 1),
            BF_OK);
  EXPECT_EQ(send[0], 2);
  EXPECT_EQ(recv[0], 3);
  ASSERT_EQ(bf_schedule_inner_outer_exp2(16, 4, 0, 1, send, &send_count, recv, &recv_count, 8),
            BF_OK);
  EXPECT_EQ(send[0], 3);
  EXPECT_EQ(recv[0], 2);

  // Capacity too small: says how many entries are needed; nothing is written.
  TopologyHandle inward;
  const int src[] = {1, 2, 3};
  const int dst[] = {0, 0, 0};
  inward = Adopt(bf_topology_from_edges(4, 3, src, dst, nullptr, &raw), &raw);
  send_count = recv_count = -1;
  recv[0] = -7;
  EXPECT_EQ(bf_schedule_one_peer(inward.get(), 0, 0, send, &send_count, recv, &recv_count, 2),
            BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(),
            "bf_schedule_one_peer: capacity 2 is too small: recv_ranks needs 3 "
            "entries at this step");
  EXPECT_EQ(send_count, -1);
  EXPECT_EQ(recv_count, -1);
  EXPECT_EQ(recv[0], -7);
  ASSERT_EQ(bf_schedule_one_peer(inward.get(), 0, 0, send, &send_count, recv, &recv_count, 3),
            BF_OK);
  EXPECT_EQ(send_count, 0);
  EXPECT_EQ(recv_count, 3);

  EXPECT_EQ(bf_schedule_one_peer(nullptr, 0, 0, send, &send_count, recv, &recv_count, 8),
            BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_schedule_one_peer(exp.get(), 0, 0, nullptr, &send_count, recv, &recv_count, 8),
            BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "bf_schedule_one_peer: send_ranks is NULL");
  EXPECT_EQ(bf_schedule_one_peer(exp.get(), 9, 0, send, &send_count, recv, &recv_count, 8),
            BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_schedule_exp2_machine(8, 2, 0, 0, send, nullptr, recv, &recv_count, 1),
            BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "bf_schedule_exp2_machine: send_count is NULL");
  EXPECT_EQ(bf_schedule_exp2_machine(8, 2, 0, 0, send, &send_count, nullptr, &recv_count, 1),
            BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(), "bf_schedule_exp2_machine: recv_machines is NULL");
  EXPECT_EQ(bf_schedule_exp2_machine(8, 2, 0, 0, send, &send_count, recv, &recv_count, 0),
            BF_ERR_INVALID_ARGUMENT);
  EXPECT_NE(LastError().find("needs 1 entries"), std::string::npos) << LastError();
  EXPECT_EQ(bf_schedule_inner_outer_ring(8, 2, 0, 0, send, &send_count, recv, &recv_count, 1),
            BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(LastError(),
            "bf_schedule_inner_outer_ring: local_size 2 is too small; this schedule "
            "needs local_size > 2");
  EXPECT_EQ(bf_schedule_inner_outer_exp2(4, 4, 0, 0, send, &send_count, recv, &recv_count, 1),
            BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_schedule_inner_outer_exp2(16, 4, 0, 0, send, &send_count, recv, nullptr, 1),
            BF_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bf_schedule_inner_outer_exp2(16, 4, 0, 0, send, &send_count, recv, &recv_count, -1),
            BF_ERR_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace bluefog

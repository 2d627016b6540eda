// SPDX-License-Identifier: Apache-2.0
// Machine topology and hierarchical_neighbor_allreduce on emulated machines
// (BLUEFOG_NODES_PER_MACHINE), static and dynamic, against the closed form
//   out_m = (self_weight * S_m + sum_j src_weight[j] * dst_weight_j[m] * S_j) / local_size.
#include <mpi.h>

#include "test_util.h"

namespace bftest {
namespace {

double Value(int rank, int64_t i) { return rank + 0.5 * i; }

// Sum over machine m's ranks (contiguous, local_size each).
double MachineSum(int machine, int local_size, int64_t i) {
  double sum = 0;
  for (int r = machine * local_size; r < (machine + 1) * local_size; ++r) sum += Value(r, i);
  return sum;
}

class Hierarchical : public ::testing::Test {
 protected:
  void SetUp() override {
    if (bf_is_homogeneous() != 1) GTEST_SKIP() << "layout is not homogeneous";
  }
  int rank = bf_rank();
  int local_size = bf_local_size();
  int machine = bf_machine_rank();
  int machines = bf_machine_size();
};

TEST_F(Hierarchical, StaticUniformOverExponentialMachineGraph) {
  bf_topology* none = reinterpret_cast<bf_topology*>(1);
  ASSERT_BF_OK(bf_get_machine_topology(&none, nullptr));
  EXPECT_EQ(none, nullptr) << "machine topology set before bf_set_machine_topology";

  bf_topology* exp2 = nullptr;
  ASSERT_BF_OK(bf_topology_exponential(machines, 2, &exp2));
  ASSERT_BF_OK(bf_set_machine_topology(exp2, 0));
  std::vector<int> sources(machines);
  int count = 0;
  ASSERT_BF_OK(
      bf_topology_in_neighbors(exp2, machine, sources.data(), nullptr, machines, &count));
  sources.resize(count);
  bf_topology_free(exp2);

  for (const DLDataType type : FloatTypes()) {
    HostTensor in(type, {5}), out(type, {5});
    for (int64_t i = 0; i < 5; ++i) in.Set(i, Value(rank, i));
    ASSERT_BF_OK(bf_hierarchical_neighbor_allreduce(in.get(), out.get(), nullptr));
    for (int64_t i = 0; i < 5; ++i) {
      double expected = MachineSum(machine, local_size, i);
      for (int m : sources) expected += MachineSum(m, local_size, i);
      expected /= static_cast<double>(local_size) * (sources.size() + 1);
      EXPECT_NEAR(out.Get(i), expected, Tolerance(type, expected)) << TypeName(type);
      EXPECT_EQ(in.Get(i), Value(rank, i)) << "input modified";
    }
  }
}

TEST_F(Hierarchical, WeightedMachineTopology) {
  bf_topology* star = nullptr;
  ASSERT_BF_OK(bf_topology_star(machines, 0, &star));
  ASSERT_BF_OK(bf_set_machine_topology(star, 1));
  std::vector<double> w(static_cast<size_t>(machines) * machines);
  ASSERT_BF_OK(bf_topology_to_matrix(star, w.data()));
  bf_topology_free(star);
  HostTensor x({kDLFloat, 64, 1}, {3});
  for (int64_t i = 0; i < 3; ++i) x.Set(i, Value(rank, i));
  ASSERT_BF_OK(bf_hierarchical_neighbor_allreduce(x.get(), x.get(), nullptr));
  for (int64_t i = 0; i < 3; ++i) {
    double expected = 0;
    for (int j = 0; j < machines; ++j) {
      expected += w[j * machines + machine] * MachineSum(j, local_size, i);
    }
    EXPECT_NEAR(x.Get(i), expected / local_size, 1e-12);
  }
}

TEST_F(Hierarchical, DynamicMoveWithDestinationWeights) {
  if (machines < 2) GTEST_SKIP() << "needs two machines";
  // Each machine sends its sum to the previous machine scaled by 2 and takes it with weight 0.5
  // (BlueFog's "move with dst weight" test), keeping none of its own.
  const int destination = (machine - 1 + machines) % machines;
  const int source = (machine + 1) % machines;
  const double dst_weight = 2.0, src_weight = 0.5;
  bf_neighbor_args args{};
  args.struct_size = sizeof(args);
  args.has_weights = 1;
  args.self_weight = 0.0;
  args.src_count = 1;
  args.src_ranks = &source;
  args.src_weights = &src_weight;
  args.dynamic = 1;
  args.dst_count = 1;
  args.dst_ranks = &destination;
  args.dst_weights = &dst_weight;
  HostTensor x({kDLFloat, 32, 1}, {4});
  for (int64_t i = 0; i < 4; ++i) x.Set(i, Value(rank, i));
  ASSERT_BF_OK(bf_hierarchical_neighbor_allreduce(x.get(), x.get(), &args));
  for (int64_t i = 0; i < 4; ++i) {
    const double expected = MachineSum(source, local_size, i) / local_size;
    EXPECT_NEAR(x.Get(i), expected, Tolerance({kDLFloat, 32, 1}, expected));
  }
}

TEST(HierarchicalErrors, NonHomogeneousLayoutIsRefused) {
  if (bf_is_homogeneous() == 1) GTEST_SKIP() << "layout is homogeneous";
  HostTensor x({kDLFloat, 32, 1}, {2});
  EXPECT_EQ(bf_hierarchical_neighbor_allreduce(x.get(), x.get(), nullptr), BF_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(bf_last_error()).find("not homogeneous"), std::string::npos)
      << bf_last_error();
}

}  // namespace
}  // namespace bftest

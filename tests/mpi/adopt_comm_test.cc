// SPDX-License-Identifier: Apache-2.0
// bf_init adopting a caller's communicator: the world splits into halves, each half runs BlueFog
// on its own communicator, and ranks, sizes and operations stay inside the half. Also checks that
// an idle engine sleeps instead of spinning.
#include <gtest/gtest.h>
#include <mpi.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "bluefog.h"

namespace {

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         1e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

int world_rank = 0, world_size = 1;
MPI_Comm half = MPI_COMM_NULL;

TEST(AdoptComm, RanksAndOperationsStayInTheAdoptedCommunicator) {
  int half_rank = 0, half_size = 0;
  MPI_Comm_rank(half, &half_rank);
  MPI_Comm_size(half, &half_size);
  EXPECT_EQ(bf_rank(), half_rank);
  EXPECT_EQ(bf_size(), half_size);
  double value = world_rank;
  int64_t shape[1] = {1};
  DLTensor t{&value, {kDLCPU, 0}, 1, {kDLFloat, 64, 1}, shape, nullptr, 0};
  bf_allreduce_args sum{sizeof(sum), "sum", BF_REDUCE_SUM, 0};
  ASSERT_EQ(bf_allreduce(&t, &t, &sum), BF_OK) << bf_last_error();
  double expected = 0;  // the half holds world ranks of one parity
  for (int r = world_rank % 2; r < world_size; r += 2) expected += r;
  EXPECT_EQ(value, expected);
}

TEST(AdoptComm, IdleEngineSleeps) {
  const double before = ProcessCpuSeconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double used = ProcessCpuSeconds() - before;
  EXPECT_LT(used, 0.05) << "the process burned " << used << " s of CPU in 0.5 s while idle";
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  MPI_Comm_split(MPI_COMM_WORLD, world_rank % 2, world_rank, &half);
  ::testing::InitGoogleTest(&argc, argv);
  bf_init_options options = BF_INIT_OPTIONS_INIT;
  options.mpi_comm = &half;
  if (bf_init(&options) != BF_OK) {
    std::fprintf(stderr, "[rank %d] bf_init failed: %s\n", world_rank, bf_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  if (bf_finalize() != BF_OK) failed = 1;
  int initialized = 0;
  MPI_Initialized(&initialized);  // BlueFog did not initialize MPI, so it must not finalize it
  if (!initialized) failed = 1;
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Comm_free(&half);
  MPI_Finalize();
  return any_failed;
}

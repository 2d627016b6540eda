// SPDX-License-Identifier: Apache-2.0
// main() for multi-rank gtest programs run under mpirun: MPI is initialized here (bf_init adopts
// it), every rank runs every test, failures print with their rank, rank 0 prints the summary, and
// the exit code is the worst over all ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

#include "bluefog.h"

namespace {

// Prints only failed assertions (with the rank), for ranks other than 0.
class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_,
                 result.file_name() ? result.file_name() : "?", result.line_number(),
                 result.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  ::testing::InitGoogleTest(&argc, argv);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailurePrinter(rank));
  }
  if (bf_init(nullptr) != BF_OK) {
    std::fprintf(stderr, "[rank %d] bf_init failed: %s\n", rank, bf_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  if (bf_initialized() && bf_finalize() != BF_OK) {
    std::fprintf(stderr, "[rank %d] bf_finalize failed: %s\n", rank, bf_last_error());
    failed = 1;
  }
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && any_failed) std::fprintf(stderr, "FAILED on at least one rank\n");
  // A program whose every test skipped on every rank (e.g. GPU tests without a GPU) reports
  // meson's "skipped" status, 77, rather than passing.
  const auto& unit = *::testing::UnitTest::GetInstance();
  int skipped_all = unit.test_to_run_count() > 0 &&
                    unit.skipped_test_count() == unit.test_to_run_count();
  int everywhere = 0;
  MPI_Allreduce(&skipped_all, &everywhere, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Finalize();
  if (any_failed) return 1;
  return everywhere ? 77 : 0;
}

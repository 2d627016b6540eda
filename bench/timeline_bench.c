// SPDX-License-Identifier: Apache-2.0
// Timeline cost: the per-call time of 100 asynchronous 4 KiB neighbor_allreduce calls with the
// timeline off and on (two bf_init configurations in one process, alternated).
#include "bench_util.h"

enum { kCalls = 100, kElements = 1024, kRounds = 6, kRepsPerRound = 20 };

static float tensors[kCalls * kElements];

// Microseconds per call, max over ranks.
static double Step(void) {
  return AsyncNeighborAllreduceStep(tensors, kCalls, kElements, "t") / kCalls * 1e6;
}

int main(int argc, char **argv) {
  int provided = 0, rank = 0, size = 1;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const char *prefix = argc > 1 ? argv[1] : "/tmp/bluefog_timeline_bench_";
  static double off[kRounds * kRepsPerRound], on[kRounds * kRepsPerRound];
  int taken = 0;
  for (int round = 0; round < kRounds; ++round) {
    bf_init_options options = BF_INIT_OPTIONS_INIT;
    CHECK_BF(bf_init(&options));
    Step();
    for (int r = 0; r < kRepsPerRound; ++r) off[taken + r] = Step();
    CHECK_BF(bf_finalize());
    options.timeline_prefix = prefix;
    CHECK_BF(bf_init(&options));
    Step();
    for (int r = 0; r < kRepsPerRound; ++r) on[taken + r] = Step();
    CHECK_BF(bf_finalize());
    taken += kRepsPerRound;
  }
  const double median_off = Median(off, taken), median_on = Median(on, taken);
  if (rank == 0) {
    printf("| ranks | per call, timeline off (us) | per call, timeline on (us) | on/off |\n");
    printf("|---:|---:|---:|---:|\n");
    printf("| %d | %.2f | %.2f | %.2f |\n", size, median_off, median_on, median_on / median_off);
  }
  MPI_Finalize();
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// Timeline cost: the per-call time of 100 asynchronous 4 KiB neighbor_allreduce calls with the
// timeline off and on (two bf_init configurations in one process, alternated).
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bluefog.h"

#define CHECK_BF(call)                                                                    \
  do {                                                                                    \
    const bf_status check_status_ = (call);                                               \
    if (check_status_ != BF_OK) {                                                         \
      fprintf(stderr, "%s failed: %s: %s\n", #call, bf_status_string(check_status_),      \
              bf_last_error());                                                           \
      MPI_Abort(MPI_COMM_WORLD, 1);                                                       \
    }                                                                                     \
  } while (0)

enum { kCalls = 100, kElements = 1024, kRounds = 6, kRepsPerRound = 20 };

static float tensors[kCalls][kElements];

// Microseconds per call for one step of kCalls async calls, max over ranks.
static double Step(void) {
  int64_t shape[1] = {kElements};
  DLTensor views[kCalls];
  bf_handle handles[kCalls];
  char names[kCalls][32];
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  for (int k = 0; k < kCalls; ++k) {
    DLTensor view = {tensors[k], {kDLCPU, 0}, 1, {kDLFloat, 32, 1}, shape, NULL, 0};
    views[k] = view;
    snprintf(names[k], sizeof(names[k]), "t.%d", k);
    bf_neighbor_args args;
    memset(&args, 0, sizeof(args));
    args.struct_size = sizeof(args);
    args.name = names[k];
    CHECK_BF(bf_neighbor_allreduce_async(&views[k], &views[k], &args, &handles[k]));
  }
  for (int k = 0; k < kCalls; ++k) {
    CHECK_BF(bf_wait(handles[k], -1));
    CHECK_BF(bf_handle_free(handles[k]));
  }
  double elapsed = MPI_Wtime() - start, slowest = 0;
  MPI_Allreduce(&elapsed, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return slowest / kCalls * 1e6;
}

static int CompareDoubles(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
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
  qsort(off, (size_t)taken, sizeof(double), CompareDoubles);
  qsort(on, (size_t)taken, sizeof(double), CompareDoubles);
  if (rank == 0) {
    printf("| ranks | per call, timeline off (us) | per call, timeline on (us) | on/off |\n");
    printf("|---:|---:|---:|---:|\n");
    printf("| %d | %.2f | %.2f | %.2f |\n", size, off[taken / 2], on[taken / 2],
           on[taken / 2] / off[taken / 2]);
  }
  MPI_Finalize();
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// Fusion benchmark: 100 neighbor_allreduce calls of 4 KiB each, posted back to back, with fusion
// off and on (two bf_init configurations in one process, alternated), against one 400 KiB
// neighbor_allreduce on the same exponential-2 pattern.
#include "bench_util.h"

enum { kTensors = 100, kElements = 1024 /* 4 KiB of float32 */ };

static float tensors[kTensors * kElements];
static float big_out[kTensors * kElements];

static double OneBig(void) {
  int64_t shape[1] = {kTensors * kElements};
  DLTensor in = {tensors, {kDLCPU, 0}, 1, {kDLFloat, 32, 1}, shape, NULL, 0};
  DLTensor out = {big_out, {kDLCPU, 0}, 1, {kDLFloat, 32, 1}, shape, NULL, 0};
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  CHECK_BF(bf_neighbor_allreduce(&in, &out, NULL));
  return SlowestSince(start);
}

static double HundredSmall(void) {
  return AsyncNeighborAllreduceStep(tensors, kTensors, kElements, "grad");
}

int main(int argc, char **argv) {
  int provided = 0, rank = 0, size = 1;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  for (int i = 0; i < kTensors * kElements; ++i) tensors[i] = (float)(rank + i % 7);
  enum { kRounds = 6, kRepsPerRound = 10 };
  double unfused[kRounds * kRepsPerRound], fused[kRounds * kRepsPerRound];
  double single[kRounds * kRepsPerRound];
  int taken = 0;
  for (int round = 0; round < kRounds; ++round) {
    // Alternate configurations so drift in machine load hits both alike.
    bf_init_options off = BF_INIT_OPTIONS_INIT;
    off.fusion_threshold_bytes = -1;
    CHECK_BF(bf_init(&off));
    HundredSmall();  // warm-up
    for (int r = 0; r < kRepsPerRound; ++r) unfused[taken + r] = HundredSmall();
    CHECK_BF(bf_finalize());
    CHECK_BF(bf_init(NULL));  // defaults: fusion on
    HundredSmall();
    OneBig();
    for (int r = 0; r < kRepsPerRound; ++r) {
      fused[taken + r] = HundredSmall();
      single[taken + r] = OneBig();
    }
    CHECK_BF(bf_finalize());
    taken += kRepsPerRound;
  }
  const double t_unfused = Median(unfused, taken), t_fused = Median(fused, taken);
  const double t_single = Median(single, taken);
  if (rank == 0) {
    printf("| ranks | 100 x 4 KiB unfused (us) | 100 x 4 KiB fused (us) | 1 x 400 KiB (us) |"
           " unfused/fused | fused/400 KiB |\n");
    printf("|---:|---:|---:|---:|---:|---:|\n");
    printf("| %d | %.1f | %.1f | %.1f | %.2f | %.2f |\n", size, t_unfused * 1e6, t_fused * 1e6,
           t_single * 1e6, t_unfused / t_fused, t_fused / t_single);
  }
  MPI_Finalize();
  return 0;
}

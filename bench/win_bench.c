// SPDX-License-Identifier: Apache-2.0
// win_put and win_accumulate against raw MPI one-sided calls under the same lock pattern.
//
// Every rank sends its float32 tensor to each out-neighbor of the exponential-2 graph. Ours:
// bf_win_put / bf_win_accumulate (blocking: returns once every destination has applied it).
// Raw: for each out-neighbor d, MPI_Win_lock(SHARED, d); MPI_Put (or MPI_Accumulate SUM) into
// d's slot for this rank; MPI_Win_unlock(d) — what BlueFog does — over an MPI window created
// once. Pairs of (ours, raw) steps are interleaved; the table gives the median of the per-pair
// ratios raw_time / our_time (>= 1: ours is faster) and both bandwidths as
// bytes * out-degree / time, on the slowest rank.
//
// usage: mpirun -np N win_bench [--min-bytes B] [--max-bytes B] [--reps R]
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "bluefog.h"

typedef struct {
  int count;
  int ranks[64];
} RankList;

static RankList OutNeighbors(int rank, int size) {
  RankList list = {0, {0}};
  for (int step = 1; step < size; step *= 2) list.ranks[list.count++] = (rank + step) % size;
  return list;
}

// Position of `source` among `rank`'s in-neighbors (rank - 2^i), which is where its data lands.
static int SlotOf(int source, int rank, int size) {
  int slot = 0;
  for (int step = 1; step < size; step *= 2, ++slot) {
    if ((rank - step + size) % size == source) return slot;
  }
  return -1;
}

static double RawStep(MPI_Win window, const float *data, int64_t elements, int accumulate,
                      const RankList *out, int rank, int size) {
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  for (int k = 0; k < out->count; ++k) {
    const int d = out->ranks[k];
    const MPI_Aint displacement = (MPI_Aint)SlotOf(rank, d, size) * elements;
    MPI_Win_lock(MPI_LOCK_SHARED, d, 0, window);
    if (accumulate) {
      MPI_Accumulate(data, (int)elements, MPI_FLOAT, d, displacement, (int)elements, MPI_FLOAT,
                     MPI_SUM, window);
    } else {
      MPI_Put(data, (int)elements, MPI_FLOAT, d, displacement, (int)elements, MPI_FLOAT, window);
    }
    MPI_Win_unlock(d, window);
  }
  return SlowestSince(start);
}

static double OurStep(DLTensor *tensor, int accumulate) {
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  if (accumulate) {
    CHECK_BF(bf_win_accumulate(tensor, "win_bench", NULL));
  } else {
    CHECK_BF(bf_win_put(tensor, "win_bench", NULL));
  }
  return SlowestSince(start);
}

int main(int argc, char **argv) {
  int64_t min_bytes = 4 << 10, max_bytes = 64 << 20;
  int reps = 9;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--min-bytes") == 0) min_bytes = atoll(argv[i + 1]);
    else if (strcmp(argv[i], "--max-bytes") == 0) max_bytes = atoll(argv[i + 1]);
    else if (strcmp(argv[i], "--reps") == 0) reps = atoi(argv[i + 1]);
  }
  CHECK_BF(bf_init(NULL));
  const int rank = bf_rank(), size = bf_size();
  const RankList out = OutNeighbors(rank, size);
  if (size < 2) {
    if (rank == 0) printf("win_bench needs at least 2 ranks\n");
    bf_finalize();
    return 0;
  }
  if (rank == 0) {
    printf("## win_bench, %d ranks (exponential-2, out-degree %d)\n\n", size, out.count);
    printf("| bytes | op | ours GB/s | raw MPI GB/s | ratio raw/ours time (median) |\n");
    printf("|---:|---|---:|---:|---:|\n");
  }
  double *ratios = (double *)calloc((size_t)reps, sizeof(double));
  double *ours = (double *)calloc((size_t)reps, sizeof(double));
  double *raws = (double *)calloc((size_t)reps, sizeof(double));
  for (int64_t bytes = min_bytes; bytes <= max_bytes; bytes *= 4) {
    const int64_t elements = bytes / 4;
    float *data = (float *)malloc((size_t)bytes);
    for (int64_t i = 0; i < elements; ++i) data[i] = (float)rank;
    int64_t shape[1] = {elements};
    DLTensor tensor = {data, {kDLCPU, 0}, 1, {kDLFloat, 32, 1}, shape, NULL, 0};
    CHECK_BF(bf_win_create(&tensor, "win_bench", 1));
    float *exposed = NULL;
    MPI_Win window;
    const MPI_Aint exposed_bytes = (MPI_Aint)out.count * bytes;  // in-degree = out-degree here
    MPI_Win_allocate(exposed_bytes, sizeof(float), MPI_INFO_NULL, MPI_COMM_WORLD, &exposed,
                     &window);
    for (int accumulate = 0; accumulate <= 1; ++accumulate) {
      (void)OurStep(&tensor, accumulate);  // warm-up: buffers, connections
      (void)RawStep(window, data, elements, accumulate, &out, rank, size);
      for (int r = 0; r < reps; ++r) {
        ours[r] = OurStep(&tensor, accumulate);
        raws[r] = RawStep(window, data, elements, accumulate, &out, rank, size);
        ratios[r] = raws[r] / ours[r];
      }
      const double ratio = Median(ratios, reps);
      const double our_time = Median(ours, reps), raw_time = Median(raws, reps);
      if (rank == 0) {
        const double moved = (double)bytes * out.count / 1e9;
        printf("| %lld | %s | %.2f | %.2f | %.2f |\n", (long long)bytes,
               accumulate ? "accumulate" : "put", moved / our_time, moved / raw_time, ratio);
        fflush(stdout);
      }
    }
    MPI_Win_free(&window);
    CHECK_BF(bf_win_free("win_bench"));
    free(data);
  }
  if (rank == 0) printf("\n");
  free(ratios);
  free(ours);
  free(raws);
  CHECK_BF(bf_finalize());
  return 0;
}

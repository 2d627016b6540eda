// SPDX-License-Identifier: Apache-2.0
// Shared by the benchmarks: failing fast, timing a step across ranks, and the step of many
// small asynchronous neighbor_allreduce calls that fusion and timeline costs are measured on.
#ifndef BLUEFOG_BENCH_UTIL_H_
#define BLUEFOG_BENCH_UTIL_H_

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bluefog.h"

// A benchmark cannot continue past a failed call, and the other ranks are blocked in the next
// collective: abort the whole job.
#define CHECK_BF(call)                                                  \
  do {                                                                  \
    const bf_status check_status_ = (call);                             \
    if (check_status_ != BF_OK) {                                       \
      fprintf(stderr, "rank %d: %s failed: %s: %s\n", bf_rank(), #call, \
              bf_status_string(check_status_), bf_last_error());        \
      MPI_Abort(MPI_COMM_WORLD, 1);                                     \
    }                                                                   \
  } while (0)

#define CHECK_MPI(call)                                                        \
  do {                                                                         \
    const int check_rc_ = (call);                                              \
    if (check_rc_ != MPI_SUCCESS) {                                            \
      char check_text_[MPI_MAX_ERROR_STRING];                                  \
      int check_length_ = 0;                                                   \
      MPI_Error_string(check_rc_, check_text_, &check_length_);                \
      fprintf(stderr, "%s failed: %.*s\n", #call, check_length_, check_text_); \
      MPI_Abort(MPI_COMM_WORLD, 1);                                            \
    }                                                                          \
  } while (0)

static inline void *checked_malloc(size_t bytes) {
  void *p = malloc(bytes > 0 ? bytes : 1);
  if (p == NULL) {
    fprintf(stderr, "out of memory allocating %zu bytes\n", bytes);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return p;
}

// Seconds since `start` on the slowest rank (a step is done when its slowest rank is).
static inline double SlowestSince(double start) {
  double elapsed = MPI_Wtime() - start, slowest = 0;
  MPI_Allreduce(&elapsed, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return slowest;
}

// One step: `count` async bf_neighbor_allreduce calls (named "<prefix>.<k>") on float32 vectors
// of `elements` each, stored back to back in `data`, then waits for all. Seconds, max over ranks.
static inline double AsyncNeighborAllreduceStep(float *data, int count, int64_t elements,
                                                const char *prefix) {
  int64_t shape[1] = {elements};
  DLTensor *views = (DLTensor *)calloc((size_t)count, sizeof(DLTensor));
  bf_handle *handles = (bf_handle *)calloc((size_t)count, sizeof(bf_handle));
  char(*names)[32] = (char(*)[32])calloc((size_t)count, 32);
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  for (int k = 0; k < count; ++k) {
    DLTensor view = {data + (size_t)k * elements, {kDLCPU, 0}, 1, {kDLFloat, 32, 1}, shape,
                     NULL, 0};
    views[k] = view;
    snprintf(names[k], sizeof(names[k]), "%s.%d", prefix, k);
    bf_neighbor_args args;
    memset(&args, 0, sizeof(args));
    args.struct_size = sizeof(args);
    args.name = names[k];
    CHECK_BF(bf_neighbor_allreduce_async(&views[k], &views[k], &args, &handles[k]));
  }
  for (int k = 0; k < count; ++k) {
    CHECK_BF(bf_wait(handles[k], -1));
    CHECK_BF(bf_handle_free(handles[k]));
  }
  const double seconds = SlowestSince(start);
  free(views);
  free(handles);
  free(names);
  return seconds;
}

// Arguments of a dynamic one-peer exchange, each rank keeping half its value: receive from
// *from with weight *half, send unscaled to *to. The pointers must outlive the call.
static inline bf_neighbor_args OnePeerHalfArgs(const char *name, const int *from, const int *to,
                                               const double *half) {
  bf_neighbor_args args;
  memset(&args, 0, sizeof args);
  args.struct_size = sizeof args;
  args.name = name;
  args.has_weights = 1;
  args.self_weight = 0.5;
  args.src_count = 1;
  args.src_ranks = from;
  args.src_weights = half;
  args.dynamic = 1;
  args.dst_count = 1;
  args.dst_ranks = to;
  return args;
}

static inline int CompareDoubles(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

// Median of `values` (sorts them in place); the mean of the middle two for an even count.
static inline double Median(double *values, int count) {
  qsort(values, (size_t)count, sizeof(double), CompareDoubles);
  return count % 2 ? values[count / 2] : 0.5 * (values[count / 2 - 1] + values[count / 2]);
}

#endif  // BLUEFOG_BENCH_UTIL_H_

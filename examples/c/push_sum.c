// SPDX-License-Identifier: Apache-2.0
// Push-sum consensus over one-sided windows: at step k every rank pushes half of its vector (and
// of its push-sum weight) to one out-neighbor of the exponential-2 graph, cycling through them by
// distance (a directed, column-stochastic, time-varying graph), with bf_win_accumulate, and
// collects what it was sent with bf_win_update_then_collect. x / weight converges to the global
// mean on every rank while the sums over ranks of x and of the weight stay fixed.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bluefog.h"

enum { kLength = 256 };

// An example has no way to recover from a failed collective, and the other ranks may already be
// blocked in the next one, so report and exit: mpirun then stops the whole job.
#define CHECK(call)                                                     \
  do {                                                                  \
    const bf_status check_status_ = (call);                             \
    if (check_status_ != BF_OK) {                                       \
      fprintf(stderr, "rank %d: %s failed: %s: %s\n", bf_rank(), #call, \
              bf_status_string(check_status_), bf_last_error());        \
      exit(EXIT_FAILURE);                                               \
    }                                                                   \
  } while (0)

typedef struct options {
  int iterations;
  double tolerance;
  int associated_p; /* the weight is the window's associated p instead of an extra element */
  int async;        /* no barrier between steps: pushes land whenever they land */
} options;

static void usage(const char *program) {
  fprintf(stderr,
          "usage: %s [--iterations N] [--tolerance T] [--associated-p] [--async]\n"
          "  --associated-p  carry the push-sum weight as the window's associated p\n"
          "  --async         no barrier between steps (accumulates and collects under mutexes)\n"
          "  exit status 0 if every rank's estimate is within T (default 1e-6) of the mean\n"
          "  and the totals over ranks are conserved\n",
          program);
}

static int parse_options(int argc, char **argv, options *opts) {
  *opts = (options){60, 1e-6, 0, 0};
  for (int i = 1; i < argc; ++i) {
    const int has_value = i + 1 < argc;
    if (strcmp(argv[i], "--iterations") == 0 && has_value) {
      opts->iterations = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--tolerance") == 0 && has_value) {
      opts->tolerance = atof(argv[++i]);
    } else if (strcmp(argv[i], "--associated-p") == 0) {
      opts->associated_p = 1;
    } else if (strcmp(argv[i], "--async") == 0) {
      opts->async = 1;
    } else {
      return 0;
    }
  }
  return opts->iterations >= 0 && opts->tolerance >= 0.0;
}

static DLTensor vector_tensor(double *data, int64_t *shape) {
  const DLTensor tensor = {
      .data = data,
      .device = {.device_type = kDLCPU, .device_id = 0},
      .ndim = 1,
      .dtype = {.code = kDLFloat, .bits = 64, .lanes = 1},
      .shape = shape,
  };
  return tensor;
}

// values[i] summed over ranks, in place.
static void sum_over_ranks(double *values, int64_t count) {
  int64_t shape = count;
  DLTensor tensor = vector_tensor(values, &shape);
  const bf_allreduce_args sum = {.struct_size = sizeof(bf_allreduce_args), .op = BF_REDUCE_SUM};
  CHECK(bf_allreduce(&tensor, &tensor, &sum));
}

static double max_over_ranks(double value) {
  int64_t one = 1;
  DLTensor tensor = vector_tensor(&value, &one);
  DLManagedTensor *all = NULL;
  CHECK(bf_allgather(&tensor, &all, NULL));
  const double *per_rank = all->dl_tensor.data;
  double max = 0.0;
  for (int64_t r = 0; r < all->dl_tensor.shape[0]; ++r) {
    if (per_rank[r] > max) max = per_rank[r];
  }
  all->deleter(all);
  return max;
}

// This rank's push-sum weight: the extra last element, or the associated p.
static double weight_of(const double *x, const options *opts) {
  if (!opts->associated_p) return x[kLength];
  double p = 0.0;
  CHECK(bf_win_associated_p("push_sum", &p));
  return p;
}

// Largest distance of any rank's estimate x / weight from the mean.
static double error_to_mean(const double *x, const double *mean, const options *opts) {
  const double weight = weight_of(x, opts);
  double mine = 0.0;
  for (int i = 0; i < kLength; ++i) {
    const double distance = fabs(x[i] / weight - mean[i]);
    if (!(distance <= mine)) mine = distance; /* NaN propagates as a failure */
  }
  return max_over_ranks(mine);
}

// Out-neighbors of `rank` in the process topology, nearest (clockwise) first: rank + 1, + 2, + 4...
static int out_neighbors_by_distance(int rank, int size, int *ranks) {
  bf_topology *topology = NULL;
  CHECK(bf_get_topology(&topology, NULL));
  int count = 0;
  CHECK(bf_topology_out_neighbors(topology, rank, ranks, NULL, size, &count));
  bf_topology_free(topology);
  for (int i = 1; i < count; ++i) { /* insertion sort by distance */
    const int r = ranks[i];
    int j = i;
    while (j > 0 && (ranks[j - 1] - rank + size) % size > (r - rank + size) % size) {
      ranks[j] = ranks[j - 1];
      --j;
    }
    ranks[j] = r;
  }
  return count;
}

int main(int argc, char **argv) {
  CHECK(bf_init(NULL));
  const int rank = bf_rank(), size = bf_size();
  options opts;
  if (!parse_options(argc, argv, &opts)) {
    if (rank == 0) usage(argv[0]);
    CHECK(bf_finalize());
    return 2;
  }
  // Windows keep one buffer per in-neighbor of the topology at creation: exponential-2 here.
  bf_topology *exp2 = NULL;
  CHECK(bf_topology_exponential_two(size, &exp2));
  CHECK(bf_set_topology(exp2, 0));
  bf_topology_free(exp2);
  int *peers = malloc(sizeof(int) * (size_t)size);
  if (!peers) {
    fprintf(stderr, "rank %d: out of memory\n", rank);
    return EXIT_FAILURE;
  }
  const int peer_count = out_neighbors_by_distance(rank, size, peers);

  // x holds the values, then (without --associated-p) the push-sum weight, 1 at the start.
  static double x[kLength + 1], mean[kLength], initial_total[kLength + 1];
  for (int i = 0; i < kLength; ++i) {
    x[i] = sin(0.1 * (rank + 1) * (i + 1)) + cos(0.7 * rank) + 0.01 * rank * (i % 7);
    mean[i] = x[i];
  }
  x[kLength] = 1.0;
  sum_over_ranks(mean, kLength);
  for (int i = 0; i < kLength; ++i) mean[i] /= size;
  int64_t shape = opts.associated_p ? kLength : kLength + 1;
  memcpy(initial_total, x, sizeof(x));
  sum_over_ranks(initial_total, shape);

  CHECK(bf_set_win_associated_p(opts.associated_p));
  DLTensor tensor = vector_tensor(x, &shape);
  // Zero buffers: each holds only what in-neighbors pushed since this rank last collected.
  CHECK(bf_win_create(&tensor, "push_sum", 1));

  if (rank == 0) {
    printf("push_sum: %d ranks, one out-neighbor of exp2 per step, %s, weight as %s, %d doubles\n",
           size, opts.async ? "asynchronous" : "barrier per step",
           opts.associated_p ? "associated p" : "extra element", kLength);
    printf("%5s  %s\n", "step", "max |x/w - mean|");
  }
  const double half = 0.5;
  for (int k = 0; k < opts.iterations; ++k) {
    if (peer_count > 0) {
      const int peer = peers[k % peer_count];
      // Half to the peer, half kept: every column of the step's mixing matrix sums to 1. The
      // mutexes keep a push from landing in a buffer between a collect's read and its reset.
      const bf_win_op_args push = {
          .struct_size = sizeof(bf_win_op_args),
          .has_self_weight = 1,
          .self_weight = half,
          .has_ranks = 1,
          .count = 1,
          .ranks = &peer,
          .weights = &half,
          .require_mutex = 1,
      };
      CHECK(bf_win_accumulate(&tensor, "push_sum", &push));
    }
    if (!opts.async) CHECK(bf_barrier()); /* every push of this step has landed */
    CHECK(bf_win_update_then_collect("push_sum", 1));
    if ((k + 1) % 10 == 0 || k + 1 == opts.iterations) {
      const double error = error_to_mean(x, mean, &opts);
      if (rank == 0) printf("%5d  %.3e\n", k + 1, error);
    }
  }
  // Whatever is still in a buffer (pushes after a rank's last collect) belongs to the total.
  CHECK(bf_barrier());
  CHECK(bf_win_update_then_collect("push_sum", 1));

  const double error = error_to_mean(x, mean, &opts);
  double total[kLength + 1];
  memcpy(total, x, sizeof(x));
  sum_over_ranks(total, shape);
  double weight_total = opts.associated_p ? weight_of(x, &opts) : total[kLength];
  if (opts.associated_p) sum_over_ranks(&weight_total, 1);
  double mass_drift = fabs(weight_total - size);
  for (int i = 0; i < kLength; ++i) {
    const double drift = fabs(total[i] - initial_total[i]) / (1.0 + fabs(initial_total[i]));
    if (!(drift <= mass_drift)) mass_drift = drift;
  }
  // Every rank computed both numbers from the same reduced values, so all exit alike.
  const int converged = error <= opts.tolerance;
  const int conserved = mass_drift <= 1e-12 * size * kLength;
  if (rank == 0) {
    printf("final error %.3e (tolerance %.3e), total drift %.3e, weight total %.15g\n", error,
           opts.tolerance, mass_drift, weight_total);
    if (!converged) fprintf(stderr, "push_sum: estimates did not reach the mean\n");
    if (!conserved) fprintf(stderr, "push_sum: the totals over ranks changed\n");
  }
  CHECK(bf_win_free("push_sum"));
  free(peers);
  CHECK(bf_finalize());
  return converged && conserved ? EXIT_SUCCESS : EXIT_FAILURE;
}

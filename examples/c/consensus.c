// SPDX-License-Identifier: Apache-2.0
// Decentralized averaging: every rank repeatedly averages a vector with its neighbors
// (bf_neighbor_allreduce) and rank 0 reports how fast all ranks approach the global mean.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bluefog.h"

enum { kLength = 1 << 10 };

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
  const char *topology;
  int dynamic;
  int iterations;
  double tolerance;
} options;

static void usage(const char *program) {
  fprintf(stderr,
          "usage: %s [--topology exp2|ring|star|mesh|full] [--dynamic] [--iterations N]\n"
          "          [--tolerance T]\n"
          "  --dynamic   one peer per step (bf_schedule_one_peer over the topology)\n"
          "  exit status 0 if the final relative error is <= T (default 1e-6)\n",
          program);
}

static int parse_options(int argc, char **argv, options *opts) {
  *opts = (options){"exp2", 0, 30, 1e-6};
  for (int i = 1; i < argc; ++i) {
    const int has_value = i + 1 < argc;
    if (strcmp(argv[i], "--topology") == 0 && has_value) {
      opts->topology = argv[++i];
    } else if (strcmp(argv[i], "--dynamic") == 0) {
      opts->dynamic = 1;
    } else if (strcmp(argv[i], "--iterations") == 0 && has_value) {
      opts->iterations = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--tolerance") == 0 && has_value) {
      opts->tolerance = atof(argv[++i]);
    } else {
      return 0;
    }
  }
  return opts->iterations >= 0 && opts->tolerance >= 0.0;
}

static bf_status make_topology(const char *name, int size, bf_topology **out) {
  if (strcmp(name, "exp2") == 0) return bf_topology_exponential_two(size, out);
  if (strcmp(name, "ring") == 0) return bf_topology_ring(size, BF_RING_BIDIRECTIONAL, out);
  if (strcmp(name, "star") == 0) return bf_topology_star(size, 0, out);
  if (strcmp(name, "mesh") == 0) return bf_topology_mesh_grid_2d(size, 0, 0, out);
  if (strcmp(name, "full") == 0) return bf_topology_fully_connected(size, out);
  return BF_ERR_INVALID_ARGUMENT;
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

// Largest squared distance to `mean` over all ranks, and the sum over ranks (the squared norm of
// the stacked, mean-centered vectors). Every rank gets both.
static void distance_to_mean(const double *x, const double *mean, double *max_sq, double *sum_sq) {
  double mine = 0.0;
  for (int i = 0; i < kLength; ++i) mine += (x[i] - mean[i]) * (x[i] - mean[i]);
  int64_t one = 1;
  DLTensor mine_tensor = vector_tensor(&mine, &one);
  DLManagedTensor *all = NULL;
  CHECK(bf_allgather(&mine_tensor, &all, NULL));
  const double *per_rank = all->dl_tensor.data;
  *max_sq = 0.0;
  *sum_sq = 0.0;
  for (int64_t r = 0; r < all->dl_tensor.shape[0]; ++r) {
    if (per_rank[r] > *max_sq) *max_sq = per_rank[r];
    *sum_sq += per_rank[r];
  }
  all->deleter(all);
}

// One-peer step: send to this step's peer, receive from whoever picked us, average uniformly.
static void dynamic_step(const bf_topology *topology, int rank, int size, int64_t step,
                         DLTensor *x) {
  int *send_ranks = malloc(sizeof(int) * (size_t)size);
  int *recv_ranks = malloc(sizeof(int) * (size_t)size);
  double *recv_weights = malloc(sizeof(double) * (size_t)size);
  if (!send_ranks || !recv_ranks || !recv_weights) {
    fprintf(stderr, "rank %d: out of memory\n", rank);
    exit(EXIT_FAILURE);
  }
  int send_count = 0, recv_count = 0;
  CHECK(bf_schedule_one_peer(topology, rank, step, send_ranks, &send_count, recv_ranks, &recv_count,
                             size));
  const double weight = 1.0 / (recv_count + 1);
  for (int k = 0; k < recv_count; ++k) recv_weights[k] = weight;
  const bf_neighbor_args args = {
      .struct_size = sizeof(bf_neighbor_args),
      .has_weights = 1,
      .self_weight = weight,
      .src_count = recv_count,
      .src_ranks = recv_ranks,
      .src_weights = recv_weights,
      .dynamic = 1,
      .dst_count = send_count,
      .dst_ranks = send_ranks,
  };
  CHECK(bf_neighbor_allreduce(x, x, &args));
  free(send_ranks);
  free(recv_ranks);
  free(recv_weights);
}

int main(int argc, char **argv) {
  CHECK(bf_init(NULL));
  const int rank = bf_rank(), size = bf_size();

  // Parsed after bf_init so that only rank 0 complains; every rank sees the same arguments.
  options opts;
  bf_topology *topology = NULL;
  if (!parse_options(argc, argv, &opts) || make_topology(opts.topology, size, &topology) != BF_OK) {
    if (rank == 0) usage(argv[0]);
    CHECK(bf_finalize());
    return 2;
  }
  // Weighted: the static op then mixes with exactly the W whose spectral gap we print.
  CHECK(bf_set_topology(topology, 1));
  double rho = 1.0;
  CHECK(bf_topology_spectral_gap(topology, &rho));

  double x_data[kLength], mean_data[kLength];
  for (int i = 0; i < kLength; ++i) {
    x_data[i] = sin(0.1 * (rank + 1) * (i + 1)) + cos(0.7 * rank) + 0.01 * rank * (i % 7);
  }
  int64_t shape = kLength;
  DLTensor x = vector_tensor(x_data, &shape);
  DLTensor mean = vector_tensor(mean_data, &shape);
  CHECK(bf_allreduce(&x, &mean, NULL));  // average is the default reduce op

  // Errors are relative to the whole mean-centered start, sqrt(sum_r |x_r(0) - mean|^2): with a
  // doubly stochastic, normal W that norm shrinks at least by rho per step, so rho^k bounds it.
  double max_sq = 0.0, initial_sum_sq = 0.0;
  distance_to_mean(x_data, mean_data, &max_sq, &initial_sum_sq);
  const double initial_norm = sqrt(initial_sum_sq);
  double error = initial_norm > 0.0 ? sqrt(max_sq) / initial_norm : 0.0;

  if (rank == 0) {
    printf("consensus: %d ranks, topology %s, %s, %d doubles per rank\n", size, opts.topology,
           opts.dynamic ? "dynamic one-peer" : "static", kLength);
    if (!opts.dynamic) printf("spectral gap rho = %.6f\n", rho);
    printf("%5s  %-12s%s\n", "iter", "error", opts.dynamic ? "" : "  predicted rho^k");
  }
  // The measured error levels off near 1e-16 (double rounding) while rho^k keeps falling.
  for (int k = 1; k <= opts.iterations; ++k) {
    if (opts.dynamic) {
      dynamic_step(topology, rank, size, k - 1, &x);
    } else {
      CHECK(bf_neighbor_allreduce(&x, &x, NULL));
    }
    double sum_sq = 0.0;
    distance_to_mean(x_data, mean_data, &max_sq, &sum_sq);
    error = initial_norm > 0.0 ? sqrt(max_sq) / initial_norm : 0.0;
    if (rank == 0) {
      if (opts.dynamic) {
        printf("%5d  %.6e\n", k, error);
      } else {
        printf("%5d  %.6e  %.6e\n", k, error, pow(rho, k));
      }
    }
  }

  // Every rank computed the same error from the same gathered values, so all exit alike.
  const int converged = error <= opts.tolerance;
  if (rank == 0) {
    if (converged) {
      printf("final error %.3e <= tolerance %.3e\n", error, opts.tolerance);
    } else {
      fprintf(stderr,
              "consensus not reached: final error %.3e > tolerance %.3e after %d "
              "iterations\n",
              error, opts.tolerance, opts.iterations);
    }
  }
  bf_topology_free(topology);
  CHECK(bf_finalize());
  return converged ? EXIT_SUCCESS : EXIT_FAILURE;
}

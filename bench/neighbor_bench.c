// SPDX-License-Identifier: Apache-2.0
// Neighbor-allreduce benchmark: bf_neighbor_allreduce against a hand-written MPI exchange and
// MPI_Neighbor_allgather, same pattern and same weighted sum, on the exponential-2 topology.
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "bluefog.h"

enum { kApproaches = 3, kOurs = 0, kRaw = 1, kNeighborAllgather = 2 };
static const char *const kApproachNames[kApproaches] = {"ours", "raw", "nbr_allgather"};
static const int kRawTag = 77;

typedef struct bench_options {
  size_t min_bytes, max_bytes;
  double budget_s;  // wall time per message size, all three approaches together
  int min_reps, max_reps;
  const char *csv_path;
} bench_options;

// This rank's view of the static topology: who it hears from, who it sends to, and the weights
// neighbor_allreduce applies by default.
typedef struct neighborhood {
  int in_count, out_count;
  int *in_ranks, *out_ranks;
  double self_weight;
  double *in_weights;
} neighborhood;

typedef struct buffers {
  float *send;
  float *out_ours;
  float *out_other;  // raw and neighbor-allgather results, checked against out_ours
  float *received;   // in_count messages back to back, as MPI_Neighbor_allgather lays them out
  MPI_Request *requests;
} buffers;

static int parse_options(int argc, char **argv, bench_options *opts) {
  *opts = (bench_options){4, (size_t)64 << 20, 1.0, 5, 100, NULL};
  for (int i = 1; i < argc; ++i) {
    const int has_value = i + 1 < argc;
    if (strcmp(argv[i], "--min-bytes") == 0 && has_value) {
      opts->min_bytes = strtoull(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--max-bytes") == 0 && has_value) {
      opts->max_bytes = strtoull(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--budget") == 0 && has_value) {
      opts->budget_s = atof(argv[++i]);
    } else if (strcmp(argv[i], "--min-reps") == 0 && has_value) {
      opts->min_reps = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--max-reps") == 0 && has_value) {
      opts->max_reps = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--csv") == 0 && has_value) {
      opts->csv_path = argv[++i];
    } else {
      return 0;
    }
  }
  return opts->min_bytes >= 4 && opts->min_bytes <= opts->max_bytes && opts->min_reps >= 1 &&
         opts->max_reps >= opts->min_reps && opts->max_bytes / 4 <= (size_t)0x7fffffff;
}

// Message sizes: 4 and 8 bytes (the latency points), then powers of 4 from 16 bytes.
static int message_sizes(const bench_options *opts, size_t *sizes, int capacity) {
  int count = 0;
  for (size_t bytes = 4; bytes <= opts->max_bytes && count < capacity;
       bytes = bytes < 16 ? bytes * 2 : bytes * 4) {
    if (bytes >= opts->min_bytes) sizes[count++] = bytes;
  }
  return count;
}

static neighborhood load_neighborhood(int rank, int size) {
  bf_topology *topology = NULL;
  int weighted = 0;
  CHECK_BF(bf_get_topology(&topology, &weighted));
  neighborhood nb;
  nb.in_ranks = checked_malloc(sizeof(int) * (size_t)size);
  nb.out_ranks = checked_malloc(sizeof(int) * (size_t)size);
  nb.in_weights = checked_malloc(sizeof(double) * (size_t)size);
  CHECK_BF(
      bf_topology_in_neighbors(topology, rank, nb.in_ranks, nb.in_weights, size - 1, &nb.in_count));
  CHECK_BF(bf_topology_out_neighbors(topology, rank, nb.out_ranks, NULL, size - 1, &nb.out_count));
  if (weighted) {
    CHECK_BF(bf_topology_weight(topology, rank, rank, &nb.self_weight));
  } else {  // bf_neighbor_allreduce's default for an unweighted topology
    nb.self_weight = 1.0 / (nb.in_count + 1);
    for (int k = 0; k < nb.in_count; ++k) nb.in_weights[k] = nb.self_weight;
  }
  bf_topology_free(topology);
  return nb;
}

// The exchange graph as an MPI distributed-graph communicator, for MPI_Neighbor_allgather.
static MPI_Comm create_graph_comm(const neighborhood *nb, MPI_Comm comm) {
  MPI_Comm graph;
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 takes Open MPI's MPI_UNWEIGHTED, the sentinel pointer (int *)2, for a zero-byte array.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overread"
#endif
  CHECK_MPI(MPI_Dist_graph_create_adjacent(comm, nb->in_count, nb->in_ranks, MPI_UNWEIGHTED,
                                           nb->out_count, nb->out_ranks, MPI_UNWEIGHTED,
                                           MPI_INFO_NULL, 0, &graph));
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  return graph;
}

// out = self * in + sum_k w_k * received_k, one pass per source in ascending in-neighbor order:
// the order bf_neighbor_allreduce adds in, so the results agree bit for bit.
static void weighted_sum(const neighborhood *nb, const float *in, const float *received,
                         size_t count, float *out) {
  const float self = (float)nb->self_weight;
  for (size_t i = 0; i < count; ++i) out[i] = self * in[i];
  for (int k = 0; k < nb->in_count; ++k) {
    const float weight = (float)nb->in_weights[k];
    const float *source = received + (size_t)k * count;
    for (size_t i = 0; i < count; ++i) out[i] += weight * source[i];
  }
}

static void run_ours(buffers *buf, size_t count) {
  int64_t shape = (int64_t)count;
  const DLTensor in = {.data = buf->send,
                       .device = {.device_type = kDLCPU, .device_id = 0},
                       .ndim = 1,
                       .dtype = {.code = kDLFloat, .bits = 32, .lanes = 1},
                       .shape = &shape};
  DLTensor out = in;
  out.data = buf->out_ours;
  CHECK_BF(bf_neighbor_allreduce(&in, &out, NULL));
}

static void run_raw(const neighborhood *nb, buffers *buf, size_t count, MPI_Comm comm) {
  const int n = (int)count;
  for (int k = 0; k < nb->in_count; ++k) {
    CHECK_MPI(MPI_Irecv(buf->received + (size_t)k * count, n, MPI_FLOAT, nb->in_ranks[k], kRawTag,
                        comm, &buf->requests[k]));
  }
  for (int k = 0; k < nb->out_count; ++k) {
    CHECK_MPI(MPI_Isend(buf->send, n, MPI_FLOAT, nb->out_ranks[k], kRawTag, comm,
                        &buf->requests[nb->in_count + k]));
  }
  CHECK_MPI(MPI_Waitall(nb->in_count + nb->out_count, buf->requests, MPI_STATUSES_IGNORE));
  weighted_sum(nb, buf->send, buf->received, count, buf->out_other);
}

static void run_neighbor_allgather(const neighborhood *nb, buffers *buf, size_t count,
                                   MPI_Comm graph) {
  const int n = (int)count;
  CHECK_MPI(MPI_Neighbor_allgather(buf->send, n, MPI_FLOAT, buf->received, n, MPI_FLOAT, graph));
  weighted_sum(nb, buf->send, buf->received, count, buf->out_other);
}

// Runs one approach between barriers so each starts together; returns this rank's time.
static double timed(int approach, const neighborhood *nb, buffers *buf, size_t count, MPI_Comm comm,
                    MPI_Comm graph) {
  CHECK_MPI(MPI_Barrier(comm));
  const double start = MPI_Wtime();
  switch (approach) {
    case kOurs:
      run_ours(buf, count);
      break;
    case kRaw:
      run_raw(nb, buf, count, comm);
      break;
    default:
      run_neighbor_allgather(nb, buf, count, graph);
      break;
  }
  return MPI_Wtime() - start;
}

static void require_same(const float *ours, const float *other, size_t count, int approach,
                         int rank) {
  for (size_t i = 0; i < count; ++i) {
    const float diff = ours[i] > other[i] ? ours[i] - other[i] : other[i] - ours[i];
    const float scale = ours[i] > 0 ? ours[i] : -ours[i];
    if (diff > 1e-6f * (scale > 1.0f ? scale : 1.0f)) {
      fprintf(stderr, "rank %d: %s and ours disagree at element %zu of %zu: %.9g vs %.9g\n", rank,
              kApproachNames[approach], i, count, other[i], ours[i]);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }
}

static const char *format_bytes(size_t bytes, char *text, size_t capacity) {
  if (bytes >= ((size_t)1 << 20)) {
    snprintf(text, capacity, "%zu MiB", bytes >> 20);
  } else if (bytes >= 1024) {
    snprintf(text, capacity, "%zu KiB", bytes >> 10);
  } else {
    snprintf(text, capacity, "%zu B", bytes);
  }
  return text;
}

// The fixed cost of a call without any communication: a dynamic neighbor_allreduce with no peers
// still crosses to the engine thread and back. Median over calls, slowest rank.
static double engine_round_trip_s(buffers *buf, MPI_Comm comm) {
  enum { kCalls = 200 };
  int64_t shape = 1;
  const DLTensor in = {.data = buf->send,
                       .device = {.device_type = kDLCPU, .device_id = 0},
                       .ndim = 1,
                       .dtype = {.code = kDLFloat, .bits = 32, .lanes = 1},
                       .shape = &shape};
  DLTensor out = in;
  out.data = buf->out_ours;
  const bf_neighbor_args no_peers = {
      .struct_size = sizeof(bf_neighbor_args), .has_weights = 1, .self_weight = 1.0, .dynamic = 1};
  double times[kCalls];
  for (int c = 0; c < kCalls; ++c) {
    const double start = MPI_Wtime();
    CHECK_BF(bf_neighbor_allreduce(&in, &out, &no_peers));
    times[c] = MPI_Wtime() - start;
  }
  const double mine = Median(times, kCalls);
  double slowest = 0.0;
  CHECK_MPI(MPI_Reduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, comm));
  return slowest;
}

typedef struct size_result {
  size_t bytes;
  int reps;
  double median_s[kApproaches];
} size_result;

// One message size: a validated warm-up round sizes the repetition count from the time budget,
// then the three approaches run interleaved so that noise hits each alike.
static size_result measure(const bench_options *opts, const neighborhood *nb, buffers *buf,
                           size_t bytes, int rank, MPI_Comm comm, MPI_Comm graph) {
  const size_t count = bytes / sizeof(float);
  double round_s = 0.0;
  for (int a = 0; a < kApproaches; ++a) {
    round_s += timed(a, nb, buf, count, comm, graph);
    if (a != kOurs) require_same(buf->out_ours, buf->out_other, count, a, rank);
  }
  int reps = round_s > 0.0 ? (int)(opts->budget_s / round_s) : opts->max_reps;
  if (reps < opts->min_reps) reps = opts->min_reps;
  if (reps > opts->max_reps) reps = opts->max_reps;
  CHECK_MPI(MPI_Bcast(&reps, 1, MPI_INT, 0, comm));  // every rank must run the same rounds

  double *times = checked_malloc(sizeof(double) * kApproaches * (size_t)reps);
  double *slowest = checked_malloc(sizeof(double) * kApproaches * (size_t)reps);
  for (int r = 0; r < reps; ++r) {
    for (int a = 0; a < kApproaches; ++a) {
      times[a * reps + r] = timed(a, nb, buf, count, comm, graph);
    }
  }
  // An exchange is done when its slowest rank is: take the maximum over ranks per repetition.
  CHECK_MPI(MPI_Reduce(times, slowest, kApproaches * reps, MPI_DOUBLE, MPI_MAX, 0, comm));
  size_result result = {bytes, reps, {0}};
  if (rank == 0) {
    for (int a = 0; a < kApproaches; ++a) result.median_s[a] = Median(slowest + a * reps, reps);
  }
  free(times);
  free(slowest);
  return result;
}

static void print_report(const size_result *results, int count, int size, const neighborhood *nb,
                         double round_trip_s, FILE *csv) {
  const int degree = nb->in_count > nb->out_count ? nb->in_count : nb->out_count;
  printf("### %d ranks (exponential-2, in-degree %d, out-degree %d on rank 0)\n\n", size,
         nb->in_count, nb->out_count);
  printf(
      "| size | reps | ours (us) | raw MPI (us) | nbr_allgather (us) | ours GB/s | raw GB/s "
      "| nbr_allgather GB/s | raw/ours | nbr_allgather/ours |\n");
  printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int s = 0; s < count; ++s) {
    const size_result *r = &results[s];
    char text[32];
    double us[kApproaches], bus_gbs[kApproaches];
    for (int a = 0; a < kApproaches; ++a) {
      us[a] = r->median_s[a] * 1e6;
      bus_gbs[a] = (double)r->bytes * degree / r->median_s[a] / 1e9;
    }
    printf("| %s | %d | %.1f | %.1f | %.1f | %.3f | %.3f | %.3f | %.2f | %.2f |\n",
           format_bytes(r->bytes, text, sizeof(text)), r->reps, us[kOurs], us[kRaw],
           us[kNeighborAllgather], bus_gbs[kOurs], bus_gbs[kRaw], bus_gbs[kNeighborAllgather],
           us[kRaw] / us[kOurs], us[kNeighborAllgather] / us[kOurs]);
    if (csv) {
      fprintf(csv, "%d,%zu,%d,%.3f,%.3f,%.3f\n", size, r->bytes, r->reps, us[kOurs], us[kRaw],
              us[kNeighborAllgather]);
    }
  }
  printf("\n");
  for (int s = 0; s < count && results[s].bytes <= 8; ++s) {
    const size_result *r = &results[s];
    printf(
        "- Latency at %zu B: ours %.1f us, raw MPI %.1f us, nbr_allgather %.1f us "
        "(ours/raw = %.2f)\n",
        r->bytes, r->median_s[kOurs] * 1e6, r->median_s[kRaw] * 1e6,
        r->median_s[kNeighborAllgather] * 1e6, r->median_s[kOurs] / r->median_s[kRaw]);
  }
  printf("- Engine round trip (neighbor_allreduce with no peers, no communication): %.1f us\n\n",
         round_trip_s * 1e6);
}

int main(int argc, char **argv) {
  // We call MPI ourselves while BlueFog's engine thread does too, hence MPI_THREAD_MULTIPLE;
  // bf_init then adopts the running MPI instead of initializing it.
  int provided = 0;
  CHECK_MPI(MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided));
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  bench_options opts;
  if (!parse_options(argc, argv, &opts)) {
    if (rank == 0) {
      fprintf(stderr,
              "usage: %s [--min-bytes B] [--max-bytes B] [--budget SECONDS_PER_SIZE]\n"
              "          [--min-reps N] [--max-reps N] [--csv FILE]\n",
              argv[0]);
    }
    MPI_Finalize();
    return 2;
  }
  if (provided < MPI_THREAD_MULTIPLE) {
    if (rank == 0) fprintf(stderr, "MPI does not provide MPI_THREAD_MULTIPLE\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  CHECK_BF(bf_init(NULL));
  bf_topology *exp2 = NULL;
  CHECK_BF(bf_topology_exponential_two(size, &exp2));
  CHECK_BF(bf_set_topology(exp2, 0));  // unweighted: uniform 1/(in-degree+1), the default
  bf_topology_free(exp2);
  const neighborhood nb = load_neighborhood(rank, size);

  // Our own communicators, so the raw exchange never matches BlueFog's messages or vice versa.
  MPI_Comm comm;
  CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comm));
  MPI_Comm graph = create_graph_comm(&nb, comm);

  const size_t max_count = opts.max_bytes / sizeof(float);
  buffers buf;
  buf.send = checked_malloc(opts.max_bytes);
  buf.out_ours = checked_malloc(opts.max_bytes);
  buf.out_other = checked_malloc(opts.max_bytes);
  buf.received = checked_malloc(opts.max_bytes * (size_t)nb.in_count);
  buf.requests = checked_malloc(sizeof(MPI_Request) * (size_t)(nb.in_count + nb.out_count));
  // Distinct per rank and per element, so a message from the wrong peer or offset shows up.
  for (size_t i = 0; i < max_count; ++i) buf.send[i] = (float)(rank + 1) + (float)(i % 1000) / 1000;
  memset(buf.out_ours, 0, opts.max_bytes);
  memset(buf.out_other, 0, opts.max_bytes);
  memset(buf.received, 0, opts.max_bytes * (size_t)nb.in_count);

  // Connections are set up lazily on first use: one untimed pass at the smallest size first.
  size_t sizes[64];
  const int size_count = message_sizes(&opts, sizes, 64);
  for (int a = 0; a < kApproaches; ++a)
    (void)timed(a, &nb, &buf, sizes[0] / sizeof(float), comm, graph);
  const double round_trip_s = engine_round_trip_s(&buf, comm);
  size_result results[64];
  for (int s = 0; s < size_count; ++s) {
    results[s] = measure(&opts, &nb, &buf, sizes[s], rank, comm, graph);
  }

  if (rank == 0) {
    FILE *csv = NULL;
    if (opts.csv_path) {
      csv = fopen(opts.csv_path, "w");
      if (csv == NULL) {
        perror(opts.csv_path);
      } else {
        fprintf(csv, "ranks,bytes,reps,ours_us,raw_us,nbr_allgather_us\n");
      }
    }
    print_report(results, size_count, size, &nb, round_trip_s, csv);
    if (csv) fclose(csv);
  }

  free(buf.send);
  free(buf.out_ours);
  free(buf.out_other);
  free(buf.received);
  free(buf.requests);
  free(nb.in_ranks);
  free(nb.out_ranks);
  free(nb.in_weights);
  CHECK_MPI(MPI_Comm_free(&graph));
  CHECK_MPI(MPI_Comm_free(&comm));
  CHECK_BF(bf_finalize());
  CHECK_MPI(MPI_Finalize());
  return 0;
}

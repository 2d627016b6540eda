// SPDX-License-Identifier: Apache-2.0
// Emulated-cluster benchmark (run under scripts/emulated_cluster.sh): after a line-rate
// calibration, MPI_Allreduce (default and ring) against one-peer exponential-2 neighbor_allreduce.
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "bluefog.h"

enum { kAllreduceDefault = 0, kAllreduceRing = 1, kOnePeerOurs = 2, kOnePeerRaw = 3, kOps = 4 };
static const char *const kOpNames[kOps] = {
    "MPI_Allreduce, default algorithm", "MPI_Allreduce, ring algorithm",
    "one-peer neighbor_allreduce (ours)", "one-peer MPI_Sendrecv + weighted sum (raw)"};
static const char *const kOpKeys[kOps] = {"allreduce_default", "allreduce_ring", "one_peer_ours",
                                          "one_peer_raw"};  // CSV column values
static const int kRawTag = 78;
static const int kRingAlgorithm = 4;  // coll_tuned_allreduce_algorithm: 4 = ring in Open MPI 4.1
// A calibration above this multiple of the set rate means the links are not shaped; tbf's burst
// (128 KB) can lift a short transfer a little above the rate, never this far.
static const double kGateCeiling = 1.25;

typedef struct bench_options {
  size_t bytes;
  int reps, calibration_reps;
  double rate_gbit;      // the link rate the cluster was set up with; 0 = no gate
  double gate_fraction;  // calibration must reach gate_fraction * rate_gbit
  int ring_algorithm;    // forced on the "ring" communicator
  const char *csv_path;  // every repetition's slowest-rank time, written by rank 0; NULL = none
} bench_options;

typedef struct bench_state {
  int rank, size;
  size_t count;           // floats per message
  MPI_Comm default_comm;  // Open MPI's own choice of allreduce algorithm
  MPI_Comm ring_comm;     // allreduce algorithm forced through MPI_T
  MPI_Comm raw_comm;      // calibration and the raw one-peer exchange
  float *send, *out_ours, *out_other, *received;
} bench_state;

enum { kMaxHops = 31 };  // hop distances 2^k < size for any int size

// Slowest-rank times over the repetitions. One-peer steps at distance size/2 are pairwise (each
// rank sends to and receives from the same peer), which TCP transports may treat differently, so
// one-peer times are also kept per hop distance; a training run cycles through all distances.
typedef struct bench_results {
  double median_s[kOps], min_s[kOps];
  int hops;
  double hop_median_s[kOps][kMaxHops];
  double cycle_mean_s[kOps];  // mean of the per-distance medians: one step of a full cycle
} bench_results;

static int parse_options(int argc, char **argv, bench_options *opts) {
  *opts = (bench_options){(size_t)16 << 20, 15, 7, 0.0, 0.75, kRingAlgorithm, NULL};
  for (int i = 1; i < argc; ++i) {
    const int has_value = i + 1 < argc;
    if (strcmp(argv[i], "--bytes") == 0 && has_value) {
      opts->bytes = strtoull(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--reps") == 0 && has_value) {
      opts->reps = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--calibration-reps") == 0 && has_value) {
      opts->calibration_reps = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--rate-gbit") == 0 && has_value) {
      opts->rate_gbit = atof(argv[++i]);
    } else if (strcmp(argv[i], "--gate") == 0 && has_value) {
      opts->gate_fraction = atof(argv[++i]);
    } else if (strcmp(argv[i], "--ring-algorithm") == 0 && has_value) {
      opts->ring_algorithm = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--csv") == 0 && has_value) {
      opts->csv_path = argv[++i];
    } else {
      return 0;
    }
  }
  return opts->bytes >= 4 && opts->bytes % 4 == 0 && opts->bytes / 4 <= 0x7fffffff &&
         opts->reps >= 1 && opts->calibration_reps >= 1 && opts->rate_gbit >= 0 &&
         opts->gate_fraction >= 0 && opts->ring_algorithm >= 0;
}

// The slowest rank's time for each repetition (an exchange is done when its slowest rank is),
// then the median over repetitions; the same on every rank.
static double slowest_median(const double *times, int reps) {
  double *slowest = checked_malloc(sizeof(double) * (size_t)reps);
  CHECK_MPI(MPI_Allreduce(times, slowest, reps, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  const double median = Median(slowest, reps);
  free(slowest);
  return median;
}

// ---- Communicators -------------------------------------------------------------------------

static int cvar_handle(const char *name, MPI_T_cvar_handle *handle) {
  int index = 0, count = 0;
  if (MPI_T_cvar_get_index(name, &index) != MPI_SUCCESS) return 0;
  return MPI_T_cvar_handle_alloc(index, NULL, handle, &count) == MPI_SUCCESS;
}

// Open MPI reads coll_tuned_allreduce_algorithm when a communicator is created, so writing it
// through MPI_T around one MPI_Comm_dup gives a communicator with the algorithm forced while the
// other keeps the default decision: both measured in one run, interleaved. The variable is only
// honoured with coll_tuned_use_dynamic_rules, which is read-only at run time (mpirun --mca).
static int create_ring_comm(int algorithm, MPI_Comm *ring, int rank) {
  MPI_T_cvar_handle dynamic_rules, forced;
  int dynamic = 0;
  if (!cvar_handle("coll_tuned_use_dynamic_rules", &dynamic_rules) ||
      !cvar_handle("coll_tuned_allreduce_algorithm", &forced)) {
    if (rank == 0) fprintf(stderr, "cluster_bench: Open MPI's coll_tuned variables not found\n");
    return 0;
  }
  CHECK_MPI(MPI_T_cvar_read(dynamic_rules, &dynamic));
  if (!dynamic) {
    if (rank == 0) {
      fprintf(stderr,
              "cluster_bench: the ring column needs mpirun --mca coll_tuned_use_dynamic_rules 1 "
              "(scripts/emulated_cluster.sh --mca coll_tuned_use_dynamic_rules 1 -- ...)\n");
    }
    MPI_T_cvar_handle_free(&dynamic_rules);
    MPI_T_cvar_handle_free(&forced);
    return 0;
  }
  int previous = 0, readback = -1;
  CHECK_MPI(MPI_T_cvar_read(forced, &previous));
  CHECK_MPI(MPI_T_cvar_write(forced, &algorithm));
  CHECK_MPI(MPI_T_cvar_read(forced, &readback));
  CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, ring));
  CHECK_MPI(MPI_T_cvar_write(forced, &previous));
  MPI_T_cvar_handle_free(&dynamic_rules);
  MPI_T_cvar_handle_free(&forced);
  if (readback != algorithm) {
    if (rank == 0) fprintf(stderr, "cluster_bench: MPI_T did not take the allreduce algorithm\n");
    return 0;
  }
  return 1;
}

// ---- One-peer schedule ----------------------------------------------------------------------

// Number of distinct hop distances 2^k < size on the exponential-2 ring.
static int hop_count(int size) {
  int hops = 0;
  for (int distance = 1; distance < size; distance *= 2) ++hops;
  return hops;
}

// Step s sends to rank + 2^k and receives from rank - 2^k, k = s mod hop_count. The library's
// bf_schedule_one_peer on the exponential-2 topology must give the same peers.
static void one_peer(const bench_state *st, const bf_topology *exp2, int64_t step, int *dst,
                     int *src) {
  const int distance = 1 << (int)(step % hop_count(st->size));
  *dst = (st->rank + distance) % st->size;
  *src = (st->rank - distance + st->size) % st->size;
  int send[64], recv[64], send_count = 0, recv_count = 0;
  CHECK_BF(bf_schedule_one_peer(exp2, st->rank, step, send, &send_count, recv, &recv_count, 64));
  if (send_count != 1 || recv_count != 1 || send[0] != *dst || recv[0] != *src) {
    fprintf(stderr, "rank %d step %lld: bf_schedule_one_peer gives %d->%d, expected %d->%d\n",
            st->rank, (long long)step, send_count ? send[0] : -1, recv_count ? recv[0] : -1, *src,
            *dst);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
}

// ---- The four operations ----------------------------------------------------------------------

static void run_allreduce(bench_state *st, MPI_Comm comm) {
  CHECK_MPI(MPI_Allreduce(st->send, st->out_other, (int)st->count, MPI_FLOAT, MPI_SUM, comm));
}

static void run_ours(bench_state *st, int dst, int src) {
  int64_t shape = (int64_t)st->count;
  const DLTensor in = {.data = st->send,
                       .device = {.device_type = kDLCPU, .device_id = 0},
                       .ndim = 1,
                       .dtype = {.code = kDLFloat, .bits = 32, .lanes = 1},
                       .shape = &shape};
  DLTensor out = in;
  out.data = st->out_ours;
  const double half = 0.5;
  const bf_neighbor_args args = {.struct_size = sizeof(bf_neighbor_args),
                                 .has_weights = 1,
                                 .self_weight = 0.5,
                                 .src_count = 1,
                                 .src_ranks = &src,
                                 .src_weights = &half,
                                 .dynamic = 1,
                                 .dst_count = 1,
                                 .dst_ranks = &dst};
  CHECK_BF(bf_neighbor_allreduce(&in, &out, &args));
}

static void run_raw(bench_state *st, int dst, int src) {
  CHECK_MPI(MPI_Sendrecv(st->send, (int)st->count, MPI_FLOAT, dst, kRawTag, st->received,
                         (int)st->count, MPI_FLOAT, src, kRawTag, st->raw_comm, MPI_STATUS_IGNORE));
  for (size_t i = 0; i < st->count; ++i) st->out_other[i] = 0.5f * st->send[i];
  for (size_t i = 0; i < st->count; ++i) st->out_other[i] += 0.5f * st->received[i];
}

// One operation between barriers, so each starts together; returns this rank's time.
static double timed(int op, bench_state *st, int dst, int src) {
  CHECK_MPI(MPI_Barrier(st->raw_comm));
  const double start = MPI_Wtime();
  switch (op) {
    case kAllreduceDefault:
      run_allreduce(st, st->default_comm);
      break;
    case kAllreduceRing:
      run_allreduce(st, st->ring_comm);
      break;
    case kOnePeerOurs:
      run_ours(st, dst, src);
      break;
    default:
      run_raw(st, dst, src);
      break;
  }
  return MPI_Wtime() - start;
}

// ---- Checks against closed forms (never against another code path under test) ---------------

static float send_value(int rank, size_t i) { return (float)(rank + 1) + (float)(i % 1000) / 1000; }

static void require_close(const float *got, size_t count,
                          double (*expected)(const bench_state *, size_t, int),
                          const bench_state *st, int peer, const char *what, double tolerance) {
  for (size_t i = 0; i < count; ++i) {
    const double want = expected(st, i, peer);
    const double diff = got[i] > want ? got[i] - want : want - got[i];
    if (diff > tolerance * (want > 1.0 ? want : 1.0)) {
      fprintf(stderr, "rank %d: %s wrong at element %zu: %.9g, expected %.9g\n", st->rank, what, i,
              got[i], want);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }
}

static double allreduce_value(const bench_state *st, size_t i, int peer) {
  (void)peer;
  const double n = st->size;
  return n * (n + 1) / 2 + n * (double)(i % 1000) / 1000;
}

static double one_peer_value(const bench_state *st, size_t i, int src) {
  return 0.5 * send_value(st->rank, i) + 0.5 * send_value(src, i);
}

// ---- Calibration ------------------------------------------------------------------------------

// Every rank sends `bytes` to rank+1 while receiving from rank-1: each link carries one message
// each way, the one-peer pattern at distance 1. Returns the slowest rank's median time.
static double calibrate(bench_state *st, int reps) {
  enum { kWarmupExchanges = 2 };
  const int dst = (st->rank + 1) % st->size, src = (st->rank - 1 + st->size) % st->size;
  double *times = checked_malloc(sizeof(double) * (size_t)reps);
  for (int r = -kWarmupExchanges; r < reps; ++r) {  // r < 0: opens connections, TCP windows
    CHECK_MPI(MPI_Barrier(st->raw_comm));
    const double start = MPI_Wtime();
    CHECK_MPI(MPI_Sendrecv(st->send, (int)st->count, MPI_FLOAT, dst, kRawTag, st->received,
                           (int)st->count, MPI_FLOAT, src, kRawTag, st->raw_comm,
                           MPI_STATUS_IGNORE));
    if (r >= 0) times[r] = MPI_Wtime() - start;
  }
  const double median = slowest_median(times, reps);
  free(times);
  return median;
}

// ---- Report
// ---------------------------------------------------------------------------------------

static void print_hosts(const bench_state *st) {
  char name[MPI_MAX_PROCESSOR_NAME] = {0};
  int length = 0;
  CHECK_MPI(MPI_Get_processor_name(name, &length));
  char *all = st->rank == 0 ? checked_malloc((size_t)st->size * MPI_MAX_PROCESSOR_NAME) : NULL;
  CHECK_MPI(MPI_Gather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all, MPI_MAX_PROCESSOR_NAME,
                       MPI_CHAR, 0, MPI_COMM_WORLD));
  if (st->rank == 0) {
    printf("- hosts (rank order):");
    for (int r = 0; r < st->size; ++r) printf(" %s", all + (size_t)r * MPI_MAX_PROCESSOR_NAME);
    printf("\n");
    free(all);
  }
}

static void print_results(const bench_state *st, const bench_options *opts, double gbit_per_s,
                          const bench_results *res) {
  const double n = st->size;
  const double ring_factor = 2.0 * (n - 1) / n;  // bytes per rank per link, relative to one-peer
  const double line_s = (double)opts->bytes * 8 / (gbit_per_s * 1e9);  // at the calibrated rate
  const double model_s[kOps] = {ring_factor * line_s, ring_factor * line_s, line_s, line_s};
  printf(
      "\n| operation (%zu MiB float32) | median (ms) | min (ms) | alpha-beta bound (ms) "
      "| median / bound |\n",
      opts->bytes >> 20);
  printf("|---|---:|---:|---:|---:|\n");
  for (int op = 0; op < kOps; ++op) {
    printf("| %s | %.1f | %.1f | %.1f | %.2f |\n", kOpNames[op], res->median_s[op] * 1e3,
           res->min_s[op] * 1e3, model_s[op] * 1e3, res->median_s[op] / model_s[op]);
  }
  printf("\n| one-peer hop distance | ours median (ms) | raw median (ms) |\n|---:|---:|---:|\n");
  for (int h = 0; h < res->hops; ++h) {
    printf("| %d%s | %.1f | %.1f |\n", 1 << h, 2 << h == st->size ? " (pairwise)" : "",
           res->hop_median_s[kOnePeerOurs][h] * 1e3, res->hop_median_s[kOnePeerRaw][h] * 1e3);
  }
  printf("| cycle mean | %.1f | %.1f |\n", res->cycle_mean_s[kOnePeerOurs] * 1e3,
         res->cycle_mean_s[kOnePeerRaw] * 1e3);
  const double *m = res->median_s;
  printf("\nHeadline, medians (alpha-beta model: 2(n-1)/n = %.2f at %d ranks):\n\n", ring_factor,
         st->size);
  printf("- allreduce default / one-peer ours = %.2f\n", m[kAllreduceDefault] / m[kOnePeerOurs]);
  printf("- allreduce ring / one-peer ours = %.2f\n", m[kAllreduceRing] / m[kOnePeerOurs]);
  printf("- allreduce default / one-peer raw = %.2f, allreduce ring / one-peer raw = %.2f\n",
         m[kAllreduceDefault] / m[kOnePeerRaw], m[kAllreduceRing] / m[kOnePeerRaw]);
  printf("- one-peer ours / raw = %.2f\n", m[kOnePeerOurs] / m[kOnePeerRaw]);
  const double cycle = res->cycle_mean_s[kOnePeerOurs];
  printf("- against the cycle mean of one-peer ours: allreduce default %.2f, ring %.2f\n",
         m[kAllreduceDefault] / cycle, m[kAllreduceRing] / cycle);
}

// ---- Main -------------------------------------------------------------------------------------

// Every operation once, checked against its closed form; also the untimed warm-up.
static void validate(bench_state *st, const bf_topology *exp2) {
  int dst = 0, src = 0;
  one_peer(st, exp2, 0, &dst, &src);
  (void)timed(kAllreduceDefault, st, dst, src);
  require_close(st->out_other, st->count, allreduce_value, st, 0, "allreduce (default)", 1e-5);
  (void)timed(kAllreduceRing, st, dst, src);
  require_close(st->out_other, st->count, allreduce_value, st, 0, "allreduce (ring)", 1e-5);
  (void)timed(kOnePeerOurs, st, dst, src);
  require_close(st->out_ours, st->count, one_peer_value, st, src, "neighbor_allreduce", 1e-6);
  (void)timed(kOnePeerRaw, st, dst, src);
  require_close(st->out_other, st->count, one_peer_value, st, src, "raw one-peer", 1e-6);
}

// Repetition r runs all four operations, starting at a different one each time so that no
// operation always follows the same neighbor; one-peer steps advance with r. With a CSV path,
// rank 0 writes every repetition's slowest-rank time (to see bimodal or drifting times).
static void measure(bench_state *st, const bf_topology *exp2, int reps, const char *csv_path,
                    bench_results *res) {
  const int hops = hop_count(st->size);
  double *times = checked_malloc(sizeof(double) * kOps * (size_t)reps);
  for (int r = 0; r < reps; ++r) {
    int dst = 0, src = 0;
    one_peer(st, exp2, r, &dst, &src);
    for (int j = 0; j < kOps; ++j) {
      const int op = (r + j) % kOps;
      times[op * reps + r] = timed(op, st, dst, src);
    }
  }
  double *slowest = checked_malloc(sizeof(double) * kOps * (size_t)reps);
  CHECK_MPI(MPI_Allreduce(times, slowest, kOps * reps, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  FILE *csv = st->rank == 0 && csv_path ? fopen(csv_path, "w") : NULL;
  if (csv) {
    fprintf(csv, "ranks,bytes,rep,hop_distance,operation,slowest_ms\n");
    for (int r = 0; r < reps; ++r) {
      for (int op = 0; op < kOps; ++op) {
        fprintf(csv, "%d,%zu,%d,%d,%s,%.3f\n", st->size, st->count * sizeof(float), r,
                1 << (r % hops), kOpKeys[op], slowest[op * reps + r] * 1e3);
      }
    }
    fclose(csv);
  } else if (st->rank == 0 && csv_path) {
    perror(csv_path);
  }
  res->hops = hops;
  double *by_hop = checked_malloc(sizeof(double) * (size_t)reps);
  for (int op = 0; op < kOps; ++op) {
    const int measured_hops = reps < hops ? reps : hops;  // fewer repetitions than distances
    res->cycle_mean_s[op] = 0.0;
    for (int h = 0; h < hops; ++h) {
      int count = 0;
      for (int r = h; r < reps; r += hops) by_hop[count++] = slowest[op * reps + r];
      res->hop_median_s[op][h] = count > 0 ? Median(by_hop, count) : 0.0;
      res->cycle_mean_s[op] += res->hop_median_s[op][h] / measured_hops;
    }
    res->median_s[op] = Median(slowest + op * reps, reps);  // sorts: the minimum comes first
    res->min_s[op] = slowest[op * reps];
  }
  free(by_hop);
  free(slowest);
  free(times);
}

int main(int argc, char **argv) {
  // We call MPI ourselves while BlueFog's engine thread does too, hence MPI_THREAD_MULTIPLE;
  // bf_init then adopts the running MPI instead of initializing it.
  int provided = 0, provided_t = 0;
  CHECK_MPI(MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided));
  CHECK_MPI(MPI_T_init_thread(MPI_THREAD_MULTIPLE, &provided_t));
  bench_state st = {0};
  MPI_Comm_rank(MPI_COMM_WORLD, &st.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &st.size);
  bench_options opts;
  if (!parse_options(argc, argv, &opts) || st.size < 2) {
    if (st.rank == 0) {
      fprintf(stderr,
              "usage: mpirun -np N (N >= 2) %s [--bytes B] [--reps N] [--calibration-reps N]\n"
              "          [--rate-gbit R] [--gate FRACTION] [--ring-algorithm K] [--csv FILE]\n",
              argv[0]);
    }
    MPI_T_finalize();
    MPI_Finalize();
    return 2;
  }
  if (provided < MPI_THREAD_MULTIPLE) {
    if (st.rank == 0) fprintf(stderr, "MPI does not provide MPI_THREAD_MULTIPLE\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  if (!create_ring_comm(opts.ring_algorithm, &st.ring_comm, st.rank)) {
    MPI_T_finalize();
    MPI_Finalize();
    return 1;
  }
  CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &st.default_comm));
  CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &st.raw_comm));
  CHECK_BF(bf_init(NULL));
  bf_topology *exp2 = NULL;
  CHECK_BF(bf_topology_exponential_two(st.size, &exp2));

  st.count = opts.bytes / sizeof(float);
  st.send = checked_malloc(opts.bytes);
  st.out_ours = checked_malloc(opts.bytes);
  st.out_other = checked_malloc(opts.bytes);
  st.received = checked_malloc(opts.bytes);
  for (size_t i = 0; i < st.count; ++i) st.send[i] = send_value(st.rank, i);
  memset(st.out_ours, 0, opts.bytes);
  memset(st.out_other, 0, opts.bytes);
  memset(st.received, 0, opts.bytes);

  if (st.rank == 0) {
    printf("### cluster_bench: %d ranks, %zu bytes per message, %d repetitions\n\n", st.size,
           opts.bytes, opts.reps);
  }
  print_hosts(&st);

  const double calibration_s = calibrate(&st, opts.calibration_reps);
  const double gbit_per_s = (double)opts.bytes * 8 / calibration_s / 1e9;
  // Too slow: something other than the links limits us. Too fast: the shaping is not in place
  // (an unshaped veth runs at several Gbit/s). Same verdict on all ranks.
  const int gate_failed = opts.rate_gbit > 0 && (gbit_per_s < opts.gate_fraction * opts.rate_gbit ||
                                                 gbit_per_s > kGateCeiling * opts.rate_gbit);
  if (st.rank == 0) {
    printf(
        "- calibration: MPI_Sendrecv ring (to rank+1, from rank-1), median of %d, slowest "
        "rank: %.1f ms = %.3f Gbit/s",
        opts.calibration_reps, calibration_s * 1e3, gbit_per_s);
    if (opts.rate_gbit > 0) {
      printf(" = %.2f of the set %.3g Gbit/s (gate %.2f..%.2f: %s)\n", gbit_per_s / opts.rate_gbit,
             opts.rate_gbit, opts.gate_fraction, kGateCeiling, gate_failed ? "FAILED" : "passed");
    } else {
      printf(" (no --rate-gbit: gate off)\n");
    }
    fflush(stdout);
  }
  int rc = 0;
  if (gate_failed) {
    if (st.rank == 0) {
      fprintf(stderr,
              "cluster_bench: calibration gate failed: raw MPI_Sendrecv reached %.3f Gbit/s, "
              "outside %.2f..%.2f x %.3g Gbit/s: %s; nothing else is measured\n",
              gbit_per_s, opts.gate_fraction, kGateCeiling, opts.rate_gbit,
              gbit_per_s > opts.rate_gbit
                  ? "the links are not shaped to that rate"
                  : "the links are not the bottleneck (CPU load from other processes?)");
    }
    rc = 1;
  } else {
    validate(&st, exp2);
    bench_results results;
    measure(&st, exp2, opts.reps, opts.csv_path, &results);
    if (st.rank == 0) print_results(&st, &opts, gbit_per_s, &results);
  }

  free(st.send);
  free(st.out_ours);
  free(st.out_other);
  free(st.received);
  bf_topology_free(exp2);
  CHECK_MPI(MPI_Comm_free(&st.default_comm));
  CHECK_MPI(MPI_Comm_free(&st.ring_comm));
  CHECK_MPI(MPI_Comm_free(&st.raw_comm));
  CHECK_BF(bf_finalize());
  MPI_T_finalize();
  CHECK_MPI(MPI_Finalize());
  return rc;
}

// SPDX-License-Identifier: Apache-2.0
// The benchmark suite (issue 9): each case pairs one of our calls with the raw MPI code that does
// the same work, alternates them (ours, raw, ours, raw, ...) so load from other processes hits
// both alike, checks that both computed the same numbers, and prints one JSON line per case and
// size on rank 0 with the median of the per-pair ratios raw_time / our_time (>= 1: ours faster),
// both median times, bus bandwidths and whether the case's target is met. bench/run_suite.py
// runs it at several rank counts and turns the lines into tables and plots.
//
// usage: mpirun -np N suite_bench [--sizes B,B,...] [--budget S] [--min-reps N] [--max-reps N]
//                                 [--cases NAME,NAME,...] [--nodes-per-machine L]
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "bluefog.h"

enum { kMaxSizes = 32, kTag = 91 };
static const size_t kLatencyBytes = 8;  // latency target: ours <= raw + 10 us
static const double kLatencySlackUs = 10.0;

typedef struct suite_options {
  size_t sizes[kMaxSizes];
  int size_count;
  double budget_s;  // wall time per case and size
  int min_reps, max_reps;
  const char *cases;  // comma-separated names, NULL: all
  int nodes_per_machine;
} suite_options;

// Everything a case needs for one message size. Buffers are float32 with integer values, so
// sums are exact in any order; weighted sums are compared with a relative tolerance.
typedef struct case_state {
  size_t bytes, count;  // count: float32 elements per rank
  int rank, size;
  float *in, *out_ours, *out_raw, *scratch;
  int step;  // the pair's index: one-peer cases choose their peer from it
  DLManagedTensor *gathered;
  // Static exponential-2 neighborhood (ranks, or machines for the hierarchical case).
  int in_count, out_count, in_ranks[64], out_ranks[64];
  double self_weight, in_weights[64];
  // Hierarchical: machine layout and the communicators of its raw phases.
  int local_size, machine, machines;
  MPI_Comm machine_comm, roots_comm;
  // Overlap: iterations of the compute loop, sized to the op's duration.
  long compute_iterations;
  double op_alone_s, compute_alone_s;  // the pair's components, for the JSON line
  MPI_Request requests[128];
} case_state;

typedef struct bench_case {
  const char *name;
  const char *reference;  // what "raw" is, for the table
  double ratio_target;    // raw/ours must reach this from ratio_from_bytes up (0: none)
  int min_bytes;          // smaller sizes are skipped
  size_t ratio_from_bytes;
  size_t fixed_bytes;  // nonzero: run once at this size instead of the size sweep
  int (*applies)(const case_state *s);
  void (*setup)(case_state *s);
  double (*ours)(case_state *s);  // seconds on this rank
  double (*raw)(case_state *s);
  void (*check)(case_state *s);
  double (*bus_bytes)(const case_state *s);  // bytes per rank that count for bus bandwidth
} bench_case;

static DLTensor Tensor(float *data, int64_t *shape) {
  DLTensor t = {data, {kDLCPU, 0}, 1, {kDLFloat, 32, 1}, shape, NULL, 0};
  return t;
}

static void Fail(const case_state *s, const char *what, size_t index, double ours, double raw) {
  fprintf(stderr, "rank %d: %s at %zu bytes: element %zu is %.9g (ours), %.9g (raw)\n", s->rank,
          what, s->bytes, index, ours, raw);
  MPI_Abort(MPI_COMM_WORLD, 3);
}

// Ours must equal raw to float32 rounding of a weighted sum (relative 1e-5 of the magnitude).
static void CompareOutputs(const case_state *s, const float *ours, const float *raw, size_t n,
                           const char *what) {
  for (size_t i = 0; i < n; ++i) {
    const double a = ours[i], b = raw[i];
    if (!(fabs(a - b) <= 1e-5 * (fabs(b) + 1.0))) Fail(s, what, i, a, b);
  }
}

static void FillInput(case_state *s) {
  for (size_t i = 0; i < s->count; ++i) s->in[i] = (float)(s->rank + 1 + (int)(i % 7));
}

static void Barrier(void) { CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD)); }

// ---- one-peer dynamic exponential-2 neighbor_allreduce vs MPI_Sendrecv + weighted sum --------

static int OnePeerDistance(const case_state *s) {
  int hops = 0;
  for (int d = 1; d < s->size; d *= 2) ++hops;
  return 1 << (s->step % hops);
}

static int NeedsTwo(const case_state *s) { return s->size >= 2; }
static void NoSetup(case_state *s) { (void)s; }

static double OnePeerOurs(case_state *s) {
  const int d = OnePeerDistance(s);
  const int to = (s->rank + d) % s->size, from = (s->rank - d + s->size) % s->size;
  const double half = 0.5;
  int64_t shape[1] = {(int64_t)s->count};
  DLTensor in = Tensor(s->in, shape), out = Tensor(s->out_ours, shape);
  const bf_neighbor_args args = OnePeerHalfArgs("suite.one_peer", &from, &to, &half);
  Barrier();
  const double start = MPI_Wtime();
  CHECK_BF(bf_neighbor_allreduce(&in, &out, &args));
  return MPI_Wtime() - start;
}

static double OnePeerRaw(case_state *s) {
  const int d = OnePeerDistance(s);
  const int to = (s->rank + d) % s->size, from = (s->rank - d + s->size) % s->size;
  const int n = (int)s->count;
  Barrier();
  const double start = MPI_Wtime();
  CHECK_MPI(MPI_Sendrecv(s->in, n, MPI_FLOAT, to, kTag, s->scratch, n, MPI_FLOAT, from, kTag,
                         MPI_COMM_WORLD, MPI_STATUS_IGNORE));
  for (size_t i = 0; i < s->count; ++i) s->out_raw[i] = 0.5f * s->in[i] + 0.5f * s->scratch[i];
  return MPI_Wtime() - start;
}

static void CheckNeighborOutputs(case_state *s) {
  CompareOutputs(s, s->out_ours, s->out_raw, s->count, "neighbor_allreduce differs from raw");
}

static double OnePeerBusBytes(const case_state *s) { return (double)s->bytes; }

// ---- static exponential-2 neighbor_allreduce vs MPI_Isend/MPI_Irecv + weighted sum ------------

static void LoadExp2(int node, int nodes, case_state *s) {
  bf_topology *topology = NULL;
  CHECK_BF(bf_topology_exponential_two(nodes, &topology));
  CHECK_BF(bf_topology_in_neighbors(topology, node, s->in_ranks, NULL, 64, &s->in_count));
  CHECK_BF(bf_topology_out_neighbors(topology, node, s->out_ranks, NULL, 64, &s->out_count));
  bf_topology_free(topology);
  // neighbor_allreduce's default weights for an unweighted topology: 1/(in-degree+1) each.
  s->self_weight = 1.0 / (s->in_count + 1);
  for (int k = 0; k < s->in_count; ++k) s->in_weights[k] = s->self_weight;
}

static void StaticSetup(case_state *s) { LoadExp2(s->rank, s->size, s); }

static double StaticOurs(case_state *s) {
  int64_t shape[1] = {(int64_t)s->count};
  DLTensor in = Tensor(s->in, shape), out = Tensor(s->out_ours, shape);
  Barrier();
  const double start = MPI_Wtime();
  CHECK_BF(bf_neighbor_allreduce(&in, &out, NULL));
  return MPI_Wtime() - start;
}

// Receives from in-neighbors and sends to out-neighbors of `comm`, then out = the weighted sum,
// adding sources in ascending order as the library does.
static void ExchangeAndCombine(case_state *s, const float *in, float *out, MPI_Comm comm,
                               double scale) {
  const int n = (int)s->count;
  int r = 0;
  for (int k = 0; k < s->in_count; ++k) {
    CHECK_MPI(MPI_Irecv(s->scratch + (size_t)k * s->count, n, MPI_FLOAT, s->in_ranks[k], kTag, comm,
                        &s->requests[r++]));
  }
  for (int k = 0; k < s->out_count; ++k) {
    CHECK_MPI(MPI_Isend(in, n, MPI_FLOAT, s->out_ranks[k], kTag, comm, &s->requests[r++]));
  }
  CHECK_MPI(MPI_Waitall(r, s->requests, MPI_STATUSES_IGNORE));
  const float self = (float)(s->self_weight * scale);
  for (size_t i = 0; i < s->count; ++i) out[i] = self * in[i];
  for (int k = 0; k < s->in_count; ++k) {
    const float w = (float)(s->in_weights[k] * scale);
    const float *source = s->scratch + (size_t)k * s->count;
    for (size_t i = 0; i < s->count; ++i) out[i] += w * source[i];
  }
}

static double StaticRaw(case_state *s) {
  Barrier();
  const double start = MPI_Wtime();
  ExchangeAndCombine(s, s->in, s->out_raw, MPI_COMM_WORLD, 1.0);
  return MPI_Wtime() - start;
}

static double StaticBusBytes(const case_state *s) {
  return (double)s->bytes * (s->in_count > s->out_count ? s->in_count : s->out_count);
}

// ---- allreduce, broadcast, allgather vs the direct MPI call -----------------------------------

static int Always(const case_state *s) { return s->size >= 1; }

static double AllreduceOurs(case_state *s) {
  int64_t shape[1] = {(int64_t)s->count};
  DLTensor in = Tensor(s->in, shape), out = Tensor(s->out_ours, shape);
  bf_allreduce_args args = {sizeof args, "suite.allreduce", BF_REDUCE_SUM, 0};
  Barrier();
  const double start = MPI_Wtime();
  CHECK_BF(bf_allreduce(&in, &out, &args));
  return MPI_Wtime() - start;
}

static double AllreduceRaw(case_state *s) {
  Barrier();
  const double start = MPI_Wtime();
  CHECK_MPI(MPI_Allreduce(s->in, s->out_raw, (int)s->count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
  return MPI_Wtime() - start;
}

static void CheckAllreduce(case_state *s) {
  CompareOutputs(s, s->out_ours, s->out_raw, s->count, "allreduce differs from MPI_Allreduce");
}

// nccl-tests' bus bandwidth conventions, so numbers compare across rank counts.
static double AllreduceBusBytes(const case_state *s) {
  return (double)s->bytes * 2.0 * (s->size - 1) / s->size;
}

static double BroadcastOurs(case_state *s) {
  int64_t shape[1] = {(int64_t)s->count};
  DLTensor in = Tensor(s->in, shape), out = Tensor(s->out_ours, shape);
  bf_op_args args = {sizeof args, "suite.broadcast"};
  Barrier();
  const double start = MPI_Wtime();
  CHECK_BF(bf_broadcast(&in, &out, 0, &args));
  return MPI_Wtime() - start;
}

static double BroadcastRaw(case_state *s) {
  // The same work as ours: bf_broadcast(in, out) is out of place, so the root copies in to out
  // and MPI_Bcast sends from there. (The copy was once outside the timing, which made ours look
  // 0.6 to 0.75 as fast from 1 MiB up: the copy is all of that difference.)
  Barrier();
  const double start = MPI_Wtime();
  if (s->rank == 0) memcpy(s->out_raw, s->in, s->bytes);
  CHECK_MPI(MPI_Bcast(s->out_raw, (int)s->count, MPI_FLOAT, 0, MPI_COMM_WORLD));
  return MPI_Wtime() - start;
}

static void CheckBroadcast(case_state *s) {
  CompareOutputs(s, s->out_ours, s->out_raw, s->count, "broadcast differs from MPI_Bcast");
  if (s->out_raw[0] != 1.0f) Fail(s, "broadcast did not deliver root's data", 0, s->out_raw[0], 1);
}

static double BroadcastBusBytes(const case_state *s) { return (double)s->bytes; }

static double AllgatherOurs(case_state *s) {
  if (s->gathered != NULL) {  // the previous result, released outside the timing
    s->gathered->deleter(s->gathered);
    s->gathered = NULL;
  }
  int64_t shape[1] = {(int64_t)s->count};
  DLTensor in = Tensor(s->in, shape);
  bf_op_args args = {sizeof args, "suite.allgather"};
  Barrier();
  const double start = MPI_Wtime();
  CHECK_BF(bf_allgather(&in, &s->gathered, &args));
  return MPI_Wtime() - start;
}

static double AllgatherRaw(case_state *s) {
  Barrier();
  const double start = MPI_Wtime();
  CHECK_MPI(MPI_Allgather(s->in, (int)s->count, MPI_FLOAT, s->scratch, (int)s->count, MPI_FLOAT,
                          MPI_COMM_WORLD));
  return MPI_Wtime() - start;
}

static void CheckAllgather(case_state *s) {
  const DLTensor *t = &s->gathered->dl_tensor;
  if (t->ndim != 1 || t->shape[0] != (int64_t)(s->count * (size_t)s->size)) {
    Fail(s, "allgather result has the wrong shape", 0, (double)t->shape[0],
         (double)(s->count * (size_t)s->size));
  }
  CompareOutputs(s, (const float *)((const char *)t->data + t->byte_offset), s->scratch,
                 s->count * (size_t)s->size, "allgather differs from MPI_Allgather");
}

static double AllgatherBusBytes(const case_state *s) {
  return (double)s->bytes * (s->size - 1);  // total bytes x (n-1)/n
}

// ---- hierarchical neighbor_allreduce vs its three phases alone (raw MPI) ----------------------
// The library's phases: allreduce-sum within each machine, the machine roots' neighbor
// averaging over the machine topology (exponential-2 over machines, uniform weights) divided by
// the local size, and a broadcast within the machine.

static int HierarchicalApplies(const case_state *s) { return s->machines >= 2; }

static void HierarchicalSetup(case_state *s) { LoadExp2(s->machine, s->machines, s); }

static double HierarchicalOurs(case_state *s) {
  int64_t shape[1] = {(int64_t)s->count};
  DLTensor in = Tensor(s->in, shape), out = Tensor(s->out_ours, shape);
  bf_neighbor_args args;
  memset(&args, 0, sizeof args);
  args.struct_size = sizeof args;
  args.name = "suite.hierarchical";
  Barrier();
  const double start = MPI_Wtime();
  CHECK_BF(bf_hierarchical_neighbor_allreduce(&in, &out, &args));
  return MPI_Wtime() - start;
}

// Each phase runs alone (barrier before, slowest rank's time); the sum of the three.
static double HierarchicalRaw(case_state *s) {
  const int n = (int)s->count;
  double total = 0;
  float *sum = s->out_raw;
  Barrier();
  double start = MPI_Wtime();
  CHECK_MPI(MPI_Allreduce(s->in, sum, n, MPI_FLOAT, MPI_SUM, s->machine_comm));
  total += SlowestSince(start);
  // Phase 2 writes into a copy so each root sends the machine sum while building the average.
  float *averaged = s->scratch + (size_t)s->in_count * s->count;
  Barrier();
  start = MPI_Wtime();
  if (s->roots_comm != MPI_COMM_NULL) {
    ExchangeAndCombine(s, sum, averaged, s->roots_comm, 1.0 / s->local_size);
    memcpy(sum, averaged, s->bytes);
  }
  total += SlowestSince(start);
  Barrier();
  start = MPI_Wtime();
  CHECK_MPI(MPI_Bcast(sum, n, MPI_FLOAT, 0, s->machine_comm));
  total += SlowestSince(start);
  return total;
}

static double HierarchicalBusBytes(const case_state *s) { return (double)s->bytes; }

// ---- overlap: an async allreduce during a compute loop vs the longer of the two alone ---------

static volatile float overlap_sink;

static double Compute(long iterations) {
  // A cache-resident multiply-add loop: CPU work that needs no memory bandwidth.
  enum { kLength = 4096 };
  static float work[kLength];
  const double start = MPI_Wtime();
  for (long it = 0; it < iterations; ++it) {
    for (int i = 0; i < kLength; ++i) work[i] = work[i] * 0.999f + 1.0f;
  }
  overlap_sink = work[kLength - 1];
  return MPI_Wtime() - start;
}

static int OverlapApplies(const case_state *s) { return s->size >= 2; }

static double OverlapRaw(case_state *s);

static void OverlapSetup(case_state *s) {
  // Size the loop to the op's duration under the conditions of the measurement (OverlapRaw: the
  // loop right after the op, every rank busy; with more ranks than cores its wall time grows with
  // the ranks and engine threads sharing a core): a guess from 100 iterations, then three
  // corrections by the ratio of the two times. Rank 0's count, so every rank runs the same loop.
  (void)AllreduceOurs(s);
  const double per_iteration = Compute(100) / 100;
  double op = AllreduceOurs(s);
  CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &op, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  double iterations = op / (per_iteration > 0 ? per_iteration : 1e-9);
  for (int pass = 0;; ++pass) {
    if (iterations < 1) iterations = 1;
    CHECK_MPI(MPI_Bcast(&iterations, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD));
    s->compute_iterations = (long)iterations;
    if (pass == 3) break;
    (void)OverlapRaw(s);
    iterations *= s->op_alone_s / (s->compute_alone_s > 0 ? s->compute_alone_s : 1e-9);
  }
  s->op_alone_s = s->compute_alone_s = 0;
  CHECK_MPI(MPI_Allreduce(s->in, s->out_raw, (int)s->count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
}

static double OverlapOurs(case_state *s) {
  int64_t shape[1] = {(int64_t)s->count};
  DLTensor in = Tensor(s->in, shape), out = Tensor(s->out_ours, shape);
  bf_allreduce_args args = {sizeof args, "suite.overlap", BF_REDUCE_SUM, 0};
  bf_handle handle = 0;
  Barrier();
  const double start = MPI_Wtime();
  CHECK_BF(bf_allreduce_async(&in, &out, &args, &handle));
  (void)Compute(s->compute_iterations);
  CHECK_BF(bf_wait(handle, -1));
  const double seconds = MPI_Wtime() - start;
  CHECK_BF(bf_handle_free(handle));
  return seconds;
}

// The reference: the op alone and the compute alone, each the slowest rank's; the longer one.
static double OverlapRaw(case_state *s) {
  double alone[2];
  alone[0] = AllreduceOurs(s);  // barrier inside
  Barrier();
  alone[1] = Compute(s->compute_iterations);
  CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, alone, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  s->op_alone_s = alone[0];
  s->compute_alone_s = alone[1];
  return s->op_alone_s > s->compute_alone_s ? s->op_alone_s : s->compute_alone_s;
}

static void CheckOverlap(case_state *s) {
  CompareOutputs(s, s->out_ours, s->out_raw, s->count, "async allreduce differs from MPI");
}

static double OverlapBusBytes(const case_state *s) { return AllreduceBusBytes(s); }

// ---- fusion: 100 async neighbor_allreduce calls of 4 KiB vs one raw 400 KiB exchange ---------

enum { kFusedCalls = 100, kFusedElements = 1024, kFusedBytes = kFusedCalls * kFusedElements * 4 };

static double FusionOurs(case_state *s) {
  int64_t shape[1] = {kFusedElements};
  DLTensor in[kFusedCalls], out[kFusedCalls];
  bf_handle handles[kFusedCalls];
  char names[kFusedCalls][32];
  bf_neighbor_args args[kFusedCalls];
  for (int k = 0; k < kFusedCalls; ++k) {
    in[k] = Tensor(s->in + (size_t)k * kFusedElements, shape);
    out[k] = Tensor(s->out_ours + (size_t)k * kFusedElements, shape);
    snprintf(names[k], sizeof names[k], "suite.fusion.%d", k);
    memset(&args[k], 0, sizeof args[k]);
    args[k].struct_size = sizeof args[k];
    args[k].name = names[k];
  }
  Barrier();
  const double start = MPI_Wtime();
  for (int k = 0; k < kFusedCalls; ++k) {
    CHECK_BF(bf_neighbor_allreduce_async(&in[k], &out[k], &args[k], &handles[k]));
  }
  for (int k = 0; k < kFusedCalls; ++k) CHECK_BF(bf_wait(handles[k], -1));
  const double seconds = MPI_Wtime() - start;
  for (int k = 0; k < kFusedCalls; ++k) CHECK_BF(bf_handle_free(handles[k]));
  return seconds;
}

// ---- the cases ---------------------------------------------------------------------------------

// Ratio targets apply from 1 MiB up (the bandwidth range), fusion's at its one size.
#define MIB ((size_t)1 << 20)
static const bench_case kCases[] = {
    {"one_peer_exp2", "MPI_Sendrecv + weighted sum", 0.90, 0, MIB, 0, NeedsTwo, NoSetup,
     OnePeerOurs, OnePeerRaw, CheckNeighborOutputs, OnePeerBusBytes},
    {"static_exp2", "MPI_Isend/Irecv + weighted sum", 0.85, 0, MIB, 0, NeedsTwo, StaticSetup,
     StaticOurs, StaticRaw, CheckNeighborOutputs, StaticBusBytes},
    {"allreduce", "MPI_Allreduce", 0.95, 0, MIB, 0, Always, NoSetup, AllreduceOurs, AllreduceRaw,
     CheckAllreduce, AllreduceBusBytes},
    {"broadcast", "root memcpy + MPI_Bcast", 0.95, 0, MIB, 0, Always, NoSetup, BroadcastOurs, BroadcastRaw,
     CheckBroadcast, BroadcastBusBytes},
    {"allgather", "MPI_Allgather", 0.95, 0, MIB, 0, Always, NoSetup, AllgatherOurs, AllgatherRaw,
     CheckAllgather, AllgatherBusBytes},
    {"hierarchical", "sum of its 3 phases alone (raw MPI)", 1.0 / 1.15, 0, MIB, 0,
     HierarchicalApplies, HierarchicalSetup, HierarchicalOurs, HierarchicalRaw,
     CheckNeighborOutputs, HierarchicalBusBytes},
    {"overlap", "max(allreduce alone, compute alone)", 1.0 / 1.15, 65536, MIB, 0, OverlapApplies,
     OverlapSetup, OverlapOurs, OverlapRaw, CheckOverlap, OverlapBusBytes},
    {"fusion_100x4k", "one raw 400 KiB static exp2 exchange", 1.0 / 1.5, 0, 0, kFusedBytes,
     NeedsTwo, StaticSetup, FusionOurs, StaticRaw, CheckNeighborOutputs, StaticBusBytes},
};
enum { kCaseCount = sizeof kCases / sizeof kCases[0] };

static int Selected(const suite_options *opts, const char *name) {
  if (opts->cases == NULL) return 1;
  const size_t length = strlen(name);
  for (const char *p = opts->cases; (p = strstr(p, name)) != NULL; p += length) {
    const int starts = p == opts->cases || p[-1] == ',';
    const int ends = p[length] == '\0' || p[length] == ',';
    if (starts && ends) return 1;
  }
  return 0;
}

static int ParseOptions(int argc, char **argv, suite_options *opts) {
  static const size_t kDefaultSizes[] = {8, 4096, 65536, 1 << 20, 4 << 20, 16 << 20};
  memset(opts, 0, sizeof *opts);
  opts->size_count = (int)(sizeof kDefaultSizes / sizeof kDefaultSizes[0]);
  memcpy(opts->sizes, kDefaultSizes, sizeof kDefaultSizes);
  opts->budget_s = 0.5;
  opts->min_reps = 5;
  opts->max_reps = 200;
  opts->nodes_per_machine = 2;
  for (int i = 1; i < argc; ++i) {
    if (i + 1 >= argc) return 0;
    const char *value = argv[++i];
    if (strcmp(argv[i - 1], "--sizes") == 0) {
      opts->size_count = 0;
      for (char *end = NULL; *value != '\0' && opts->size_count < kMaxSizes; value = end) {
        const size_t bytes = strtoull(value, &end, 10);
        if (end == value || bytes < 4 || bytes % 4 != 0 || bytes / 4 > 0x7fffffff) return 0;
        opts->sizes[opts->size_count++] = bytes;
        if (*end == ',') ++end;
      }
    } else if (strcmp(argv[i - 1], "--budget") == 0) {
      opts->budget_s = atof(value);
    } else if (strcmp(argv[i - 1], "--min-reps") == 0) {
      opts->min_reps = atoi(value);
    } else if (strcmp(argv[i - 1], "--max-reps") == 0) {
      opts->max_reps = atoi(value);
    } else if (strcmp(argv[i - 1], "--cases") == 0) {
      opts->cases = value;
    } else if (strcmp(argv[i - 1], "--nodes-per-machine") == 0) {
      opts->nodes_per_machine = atoi(value);
    } else {
      return 0;
    }
  }
  return opts->size_count > 0 && opts->min_reps >= 1 && opts->max_reps >= opts->min_reps &&
         opts->nodes_per_machine >= 1;
}

static double MedianOf(const double *values, int count, double *scratch) {
  memcpy(scratch, values, sizeof(double) * (size_t)count);
  return Median(scratch, count);
}

// One case at one size: a checked warm-up pair sizes the repetition count from the budget; the
// measured pairs follow; the last pair is checked too. Prints the JSON line on rank 0.
static void RunCase(const bench_case *c, case_state *s, const suite_options *opts) {
  s->op_alone_s = s->compute_alone_s = 0;
  c->setup(s);
  s->step = 0;
  double warm = c->ours(s);
  warm += c->raw(s);
  c->check(s);
  CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &warm, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  int reps = (int)(opts->budget_s / (warm > 1e-9 ? warm : 1e-9));
  if (reps < opts->min_reps) reps = opts->min_reps;
  if (reps > opts->max_reps) reps = opts->max_reps;
  CHECK_MPI(MPI_Bcast(&reps, 1, MPI_INT, 0, MPI_COMM_WORLD));  // every rank runs the same pairs

  double *ours = checked_malloc(sizeof(double) * (size_t)reps * 5);
  double *raw = ours + reps, *ratio = raw + reps, *diff = ratio + reps, *sorted = diff + reps;
  double op_alone = 0, compute_alone = 0;
  for (int r = 0; r < reps; ++r) {
    s->step = r + 1;
    ours[r] = c->ours(s);
    raw[r] = c->raw(s);
    op_alone += s->op_alone_s;
    compute_alone += s->compute_alone_s;
  }
  c->check(s);
  // A pair's time on each side is its slowest rank's (an exchange is done when all ranks are).
  CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, ours, 2 * reps, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  for (int r = 0; r < reps; ++r) {
    ratio[r] = raw[r] / ours[r];
    diff[r] = (ours[r] - raw[r]) * 1e6;
  }
  const double ours_s = MedianOf(ours, reps, sorted), raw_s = MedianOf(raw, reps, sorted);
  const double median_ratio = MedianOf(ratio, reps, sorted);
  const double median_diff_us = MedianOf(diff, reps, sorted);
  if (s->rank == 0) {
    // The verdict: the latency target at 8 bytes, the ratio target from 1 MiB up, none between.
    const char *met = "null";
    char target[64] = "";
    const int overlap = strcmp(c->name, "overlap") == 0;
    if (s->bytes == kLatencyBytes && !overlap) {
      snprintf(target, sizeof target, "ours <= raw + %.0f us", kLatencySlackUs);
      met = median_diff_us <= kLatencySlackUs ? "true" : "false";
    } else if (s->bytes >= c->ratio_from_bytes && c->ratio_target > 0) {
      snprintf(target, sizeof target, "raw/ours >= %.3f", c->ratio_target);
      met = median_ratio >= c->ratio_target ? "true" : "false";
    }
    const double bus = c->bus_bytes(s);
    printf(
        "{\"case\": \"%s\", \"reference\": \"%s\", \"ranks\": %d, \"bytes\": %zu, "
        "\"reps\": %d, \"ours_us\": %.3f, \"raw_us\": %.3f, \"ratio\": %.4f, "
        "\"diff_us\": %.3f, \"busbw_ours_gbps\": %.4f, \"busbw_raw_gbps\": %.4f, "
        "\"target\": \"%s\", \"met\": %s, \"checked\": true",
        c->name, c->reference, s->size, s->bytes, reps, ours_s * 1e6, raw_s * 1e6, median_ratio,
        median_diff_us, bus / ours_s / 1e9, bus / raw_s / 1e9, target, met);
    if (overlap) {
      printf(", \"op_alone_us\": %.3f, \"compute_alone_us\": %.3f", op_alone / reps * 1e6,
             compute_alone / reps * 1e6);
    }
    printf("}\n");
    fflush(stdout);
  }
  free(ours);
}

int main(int argc, char **argv) {
  int provided = 0;
  // MPI first, so the raw code has MPI_COMM_WORLD; bf_init adopts it.
  CHECK_MPI(MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided));
  suite_options opts;
  if (!ParseOptions(argc, argv, &opts)) {
    fprintf(stderr,
            "usage: mpirun -np N %s [--sizes B,B,...] [--budget S] [--min-reps N] "
            "[--max-reps N] [--cases NAME,...] [--nodes-per-machine L]\n",
            argv[0]);
    MPI_Finalize();
    return 2;
  }
  bf_init_options init = BF_INIT_OPTIONS_INIT;
  init.nodes_per_machine = opts.nodes_per_machine;  // emulated machines for the hierarchical case
  CHECK_BF(bf_init(&init));
  case_state s;
  memset(&s, 0, sizeof s);
  s.rank = bf_rank();
  s.size = bf_size();
  s.local_size = bf_local_size();
  s.machine = bf_machine_rank();
  s.machines = bf_machine_size();
  s.machine_comm = MPI_COMM_NULL;
  s.roots_comm = MPI_COMM_NULL;
  if (s.machines >= 2) {
    bf_topology *machine_topology = NULL;
    CHECK_BF(bf_topology_exponential_two(s.machines, &machine_topology));
    CHECK_BF(bf_set_machine_topology(machine_topology, 0));
    bf_topology_free(machine_topology);
    // The library's machines are contiguous blocks of local_size ranks (checked: homogeneous).
    if (bf_is_homogeneous() != 1 || s.machine != s.rank / s.local_size) {
      fprintf(stderr, "rank %d: unexpected machine layout\n", s.rank);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    CHECK_MPI(MPI_Comm_split(MPI_COMM_WORLD, s.machine, s.rank, &s.machine_comm));
    CHECK_MPI(MPI_Comm_split(MPI_COMM_WORLD, bf_local_rank() == 0 ? 0 : MPI_UNDEFINED, s.rank,
                             &s.roots_comm));
  }
  size_t largest = 0;
  for (int k = 0; k < opts.size_count; ++k) {
    if (opts.sizes[k] > largest) largest = opts.sizes[k];
  }
  for (int c = 0; c < kCaseCount; ++c) {
    if (kCases[c].fixed_bytes > largest) largest = kCases[c].fixed_bytes;
  }
  s.in = checked_malloc(largest);
  s.out_ours = checked_malloc(largest);
  s.out_raw = checked_malloc(largest);
  // Received messages: every rank's for allgather, which is more than any rank's in-neighbors
  // (log2 of the size) plus the hierarchical case's combine buffer.
  const int slots = s.size + 2;
  s.scratch = checked_malloc(largest * (size_t)slots);
  for (int c = 0; c < kCaseCount; ++c) {
    if (!Selected(&opts, kCases[c].name)) continue;
    const int sizes = kCases[c].fixed_bytes > 0 ? 1 : opts.size_count;
    for (int k = 0; k < sizes; ++k) {
      s.bytes = kCases[c].fixed_bytes > 0 ? kCases[c].fixed_bytes : opts.sizes[k];
      s.count = s.bytes / 4;
      if (!kCases[c].applies(&s) || s.bytes < (size_t)kCases[c].min_bytes) continue;
      FillInput(&s);
      if (s.rank == 0) fprintf(stderr, "suite_bench: %s %zu bytes\n", kCases[c].name, s.bytes);
      RunCase(&kCases[c], &s, &opts);
    }
  }
  if (s.gathered != NULL) s.gathered->deleter(s.gathered);
  if (s.machine_comm != MPI_COMM_NULL) MPI_Comm_free(&s.machine_comm);
  if (s.roots_comm != MPI_COMM_NULL) MPI_Comm_free(&s.roots_comm);
  free(s.in);
  free(s.out_ours);
  free(s.out_raw);
  free(s.scratch);
  CHECK_BF(bf_finalize());
  CHECK_MPI(MPI_Finalize());
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// Compressed neighbor averaging: time per step and bytes on the wire of a one-peer dynamic
// exponential-2 neighbor_allreduce (each step rank r sends to r + 2^k, receives from r - 2^k,
// weights 1/2) for each compression mode, next to the raw transport measured in the same run
// (MPI_Sendrecv of the uncompressed tensor along the same pattern + the same weighted sum).
// Steps of all modes are interleaved round by round so that drifting machine load hits them
// alike; each time is the median over rounds of the slowest rank's step.
//
// Bytes on the wire are read from the kernel's counters of this rank's network interfaces
// (/proc/net/dev, loopback excluded): real on the emulated cluster (scripts/emulated_cluster.sh),
// zero on shared memory, where the payload column still gives the encoded size.
//
//   mpirun -np 4 build/bench/compression_bench [--megabytes 16] [--rounds 10]
#include <math.h>
#include <stdint.h>

#include "bench_util.h"

enum { kModes = 6 };
static const char *const kModeNames[kModes] = {"raw sendrecv", "none", "bf16", "fp16", "int8",
                                               "topk 1%"};
static const bf_compression kModeCompression[kModes] = {
    BF_COMPRESSION_NONE, BF_COMPRESSION_NONE, BF_COMPRESSION_BFLOAT16, BF_COMPRESSION_FLOAT16,
    BF_COMPRESSION_INT8, BF_COMPRESSION_TOPK};
static const double kTopKRatio = 0.01;

// Bytes this rank has sent on its non-loopback interfaces so far (0 where there are none).
static uint64_t InterfaceBytesSent(void) {
  FILE *file = fopen("/proc/net/dev", "r");
  if (file == NULL) return 0;
  char line[512];
  uint64_t total = 0;
  for (int row = 0; fgets(line, sizeof line, file) != NULL; ++row) {
    if (row < 2) continue;  // two header lines
    char *colon = strchr(line, ':');
    if (colon == NULL) continue;
    *colon = '\0';
    const char *name = line;
    while (*name == ' ') ++name;
    if (strcmp(name, "lo") == 0) continue;
    unsigned long long rx_bytes, rx_packets, rx_errs, rx_drop, rx_fifo, rx_frame, rx_compressed,
        rx_multicast, tx_bytes;
    if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &rx_bytes,
               &rx_packets, &rx_errs, &rx_drop, &rx_fifo, &rx_frame, &rx_compressed,
               &rx_multicast, &tx_bytes) == 9) {
      total += tx_bytes;
    }
  }
  fclose(file);
  return total;
}

// The encoded size of one message (mirrors docs/compression.md).
static double PayloadBytes(int mode, int64_t n) {
  switch (kModeCompression[mode]) {
    case BF_COMPRESSION_BFLOAT16:
    case BF_COMPRESSION_FLOAT16: return 2.0 * (double)n;
    case BF_COMPRESSION_INT8: return (double)n + 4.0 * (double)((n + 255) / 256);
    case BF_COMPRESSION_TOPK: return 8.0 * ceil(kTopKRatio * (double)n);
    default: return 4.0 * (double)n;
  }
}

typedef struct step_buffers {
  float *x, *received;
  int64_t n;
} step_buffers;

// One step of `mode`: x <- x/2 + (peer's x)/2 along distance d. Seconds on the slowest rank.
static double Step(int mode, step_buffers *b, int d) {
  const int rank = bf_rank(), size = bf_size();
  const int to = (rank + d) % size, from = (rank - d + size) % size;
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  if (mode == 0) {  // the raw transport: what neighbor_allreduce of uncompressed data must do
    const int count = (int)b->n;
    MPI_Sendrecv(b->x, count, MPI_FLOAT, to, 7, b->received, count, MPI_FLOAT, from, 7,
                 MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    for (int64_t i = 0; i < b->n; ++i) b->x[i] = 0.5f * b->x[i] + 0.5f * b->received[i];
  } else {
    int64_t shape[1] = {b->n};
    DLTensor tensor = {b->x, {kDLCPU, 0}, 1, {kDLFloat, 32, 1}, shape, NULL, 0};
    const double half = 0.5;
    char name[48];
    snprintf(name, sizeof name, "compression_bench.%d", mode);  // one name: error feedback
    bf_neighbor_args args = OnePeerHalfArgs(name, &from, &to, &half);
    args.compression = kModeCompression[mode];
    args.topk_ratio = kTopKRatio;
    CHECK_BF(bf_neighbor_allreduce(&tensor, &tensor, &args));
  }
  return SlowestSince(start);
}

int main(int argc, char **argv) {
  double megabytes = 16;
  int rounds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--megabytes") == 0) megabytes = atof(argv[i + 1]);
    if (strcmp(argv[i], "--rounds") == 0) rounds = atoi(argv[i + 1]);
  }
  CHECK_BF(bf_init(NULL));
  const int rank = bf_rank(), size = bf_size();
  if (size < 2 || rounds < 1 || megabytes <= 0) {
    if (rank == 0) fprintf(stderr, "usage: mpirun -np N>=2 %s [--megabytes M] [--rounds R]\n",
                           argv[0]);
    bf_finalize();
    return 2;
  }
  int distances[32], hops = 0;
  for (int d = 1; d < size; d *= 2) distances[hops++] = d;

  step_buffers buffers[kModes];
  const int64_t n = (int64_t)(megabytes * 1024 * 1024 / 4);
  for (int mode = 0; mode < kModes; ++mode) {
    buffers[mode].n = n;
    buffers[mode].x = (float *)malloc((size_t)n * sizeof(float));
    buffers[mode].received = (float *)malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; ++i) buffers[mode].x[i] = (float)(rank + 1) + 1e-3f * (float)(i % 97);
  }
  double *seconds = (double *)malloc(sizeof(double) * (size_t)(kModes * rounds));
  uint64_t sent[kModes] = {0};
  // One warm-up step per mode (buffers, estimates, connections), then the measured rounds.
  for (int mode = 0; mode < kModes; ++mode) (void)Step(mode, &buffers[mode], distances[0]);
  for (int round = 0; round < rounds; ++round) {
    for (int mode = 0; mode < kModes; ++mode) {
      const uint64_t before = InterfaceBytesSent();
      seconds[mode * rounds + round] = Step(mode, &buffers[mode], distances[(round + 1) % hops]);
      sent[mode] += InterfaceBytesSent() - before;
    }
  }
  // Bytes on the wire: the largest per-step count over ranks.
  uint64_t most[kModes];
  MPI_Allreduce(sent, most, kModes, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0) {
    double median[kModes];
    for (int mode = 0; mode < kModes; ++mode) median[mode] = Median(seconds + mode * rounds, rounds);
    printf("%d ranks, %.0f MiB float32, %d rounds (median of the slowest rank per step)\n\n",
           size, megabytes, rounds);
    printf("| mode | payload per message (MiB) | sent per step (MiB, interfaces) | "
           "time per step (ms) | raw time / time | none time / time |\n"
           "|---|---|---|---|---|---|\n");
    for (int mode = 0; mode < kModes; ++mode) {
      printf("| %s | %.2f | %.2f | %.2f | %.2f | %.2f |\n", kModeNames[mode],
             PayloadBytes(mode, n) / (1 << 20), (double)most[mode] / rounds / (1 << 20),
             1e3 * median[mode], median[0] / median[mode], median[1] / median[mode]);
    }
  }
  for (int mode = 0; mode < kModes; ++mode) {
    free(buffers[mode].x);
    free(buffers[mode].received);
  }
  free(seconds);
  CHECK_BF(bf_finalize());
  return 0;
}

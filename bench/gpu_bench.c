// SPDX-License-Identifier: Apache-2.0
// GPU benchmark (issue 8): bf_neighbor_allreduce on device tensors over the exponential-2 graph
// against the same exchange written directly in NCCL (grouped ncclSend/ncclRecv to and from the
// same neighbors, no combine), in the same run, interleaved pair by pair. Prints, per message
// size, the median time of each, the median of the per-pair ratios raw/ours and the bus
// bandwidth (bytes x max(in-degree, out-degree) / time). One rank per GPU (NCCL's rule).
//
// Exits 77 (skipped) where there is no GPU or no NCCL build, or fewer GPUs than local ranks.
//
// usage: mpirun -np N gpu_bench [--min-bytes B] [--max-bytes B] [--pairs P]
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "bluefog.h"

#define CHECK_CUDA(call)                                                        \
  do {                                                                          \
    const cudaError_t check_error_ = (call);                                    \
    if (check_error_ != cudaSuccess) {                                          \
      fprintf(stderr, "%s failed: %s\n", #call, cudaGetErrorString(check_error_)); \
      MPI_Abort(MPI_COMM_WORLD, 1);                                             \
    }                                                                           \
  } while (0)

#define CHECK_NCCL(call)                                                        \
  do {                                                                          \
    const ncclResult_t check_result_ = (call);                                  \
    if (check_result_ != ncclSuccess) {                                         \
      fprintf(stderr, "%s failed: %s\n", #call, ncclGetErrorString(check_result_)); \
      MPI_Abort(MPI_COMM_WORLD, 1);                                             \
    }                                                                           \
  } while (0)


// The raw exchange: what bf_neighbor_allreduce moves, as one NCCL group on `stream`.
static double raw_exchange(ncclComm_t comm, cudaStream_t stream, const float *send,
                           float *receive, size_t elements, const int *in, int in_count,
                           const int *out, int out_count) {
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  CHECK_NCCL(ncclGroupStart());
  for (int k = 0; k < in_count; ++k) {
    CHECK_NCCL(ncclRecv(receive + (size_t)k * elements, elements, ncclFloat32, in[k], comm,
                        stream));
  }
  for (int k = 0; k < out_count; ++k) {
    CHECK_NCCL(ncclSend(send, elements, ncclFloat32, out[k], comm, stream));
  }
  CHECK_NCCL(ncclGroupEnd());
  CHECK_CUDA(cudaStreamSynchronize(stream));
  return SlowestSince(start);
}

static double ours(DLTensor *in, DLTensor *out) {
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  CHECK_BF(bf_neighbor_allreduce(in, out, NULL));
  return SlowestSince(start);
}

int main(int argc, char **argv) {
  size_t min_bytes = 4, max_bytes = (size_t)256 << 20;
  int pairs = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--min-bytes") == 0) min_bytes = strtoull(argv[i + 1], NULL, 10);
    if (strcmp(argv[i], "--max-bytes") == 0) max_bytes = strtoull(argv[i + 1], NULL, 10);
    if (strcmp(argv[i], "--pairs") == 0) pairs = atoi(argv[i + 1]);
  }
  if (pairs < 1) pairs = 1;
  if (min_bytes < 4) min_bytes = 4;
  CHECK_BF(bf_init(NULL));
  const int rank = bf_rank(), size = bf_size();
  int skip = !bf_nccl_built() || bf_cuda_device_count() < bf_local_size();
  int any_skip = 0;
  MPI_Allreduce(&skip, &any_skip, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (any_skip) {
    if (rank == 0) {
      printf("gpu_bench: skipped: needs an NCCL build and a GPU per local rank (NCCL built: %d, "
             "%d GPU(s), %d local rank(s))\n",
             bf_nccl_built(), bf_cuda_device_count(), bf_local_size());
    }
    bf_finalize();
    return 77;
  }
  const int device = bf_local_rank();
  CHECK_CUDA(cudaSetDevice(device));

  bf_topology *exp2 = NULL;
  CHECK_BF(bf_topology_exponential(size, 2, &exp2));
  CHECK_BF(bf_set_topology(exp2, 0));
  int in_count = 0, out_count = 0;
  int *in = (int *)checked_malloc(sizeof(int) * (size_t)size);
  int *out = (int *)checked_malloc(sizeof(int) * (size_t)size);
  CHECK_BF(bf_topology_in_neighbors(exp2, rank, in, NULL, size, &in_count));
  CHECK_BF(bf_topology_out_neighbors(exp2, rank, out, NULL, size, &out_count));
  bf_topology_free(exp2);
  const int degree = in_count > out_count ? in_count : out_count;

  // The raw side's own communicator, made the way BlueFog makes its own.
  ncclUniqueId id;
  if (rank == 0) CHECK_NCCL(ncclGetUniqueId(&id));
  CHECK_MPI(MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD));
  ncclComm_t comm;
  CHECK_NCCL(ncclCommInitRank(&comm, size, id, rank));
  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));

  float *send = NULL, *result = NULL, *receive = NULL;
  CHECK_CUDA(cudaMalloc((void **)&send, max_bytes));
  CHECK_CUDA(cudaMalloc((void **)&result, max_bytes));
  CHECK_CUDA(cudaMalloc((void **)&receive, max_bytes * (size_t)(in_count > 0 ? in_count : 1)));
  {  // every element of rank r's input is r, so ours has a closed form to check
    float *host = (float *)checked_malloc(max_bytes);
    for (size_t i = 0; i < max_bytes / sizeof(float); ++i) host[i] = (float)rank;
    CHECK_CUDA(cudaMemcpy(send, host, max_bytes, cudaMemcpyHostToDevice));
    free(host);
  }
  double expected = rank;
  for (int k = 0; k < in_count; ++k) expected += in[k];
  expected /= in_count + 1;  // the exponential-2 graph's uniform default weights

  double *ours_s = (double *)checked_malloc(sizeof(double) * (size_t)pairs);
  double *raw_s = (double *)checked_malloc(sizeof(double) * (size_t)pairs);
  double *ratio = (double *)checked_malloc(sizeof(double) * (size_t)pairs);
  if (rank == 0) {
    printf("# gpu_bench: %d ranks, exponential-2 (in-degree %d, out-degree %d on rank 0), "
           "float32, %d pairs per size\n", size, in_count, out_count, pairs);
    printf("| bytes | ours (us) | raw NCCL (us) | raw/ours | busbw ours (GB/s) | busbw raw (GB/s) |\n");
    printf("|---:|---:|---:|---:|---:|---:|\n");
  }
  for (size_t bytes = min_bytes; bytes <= max_bytes; bytes *= 4) {
    const size_t elements = bytes / sizeof(float);
    int64_t shape[1] = {(int64_t)elements};
    DLTensor tensor_in = {send, {kDLCUDA, device}, 1, {kDLFloat, 32, 1}, shape, NULL, 0};
    DLTensor tensor_out = {result, {kDLCUDA, device}, 1, {kDLFloat, 32, 1}, shape, NULL, 0};
    (void)ours(&tensor_in, &tensor_out);  // warm-up: communicator set-up, scratch
    float last = 0;
    CHECK_CUDA(cudaMemcpy(&last, result + elements - 1, sizeof(float), cudaMemcpyDeviceToHost));
    if (last < expected - 1e-4 * (size + 1) || last > expected + 1e-4 * (size + 1)) {
      fprintf(stderr, "rank %d: neighbor_allreduce gave %g, expected %g\n", rank, last, expected);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    (void)raw_exchange(comm, stream, send, receive, elements, in, in_count, out, out_count);
    for (int p = 0; p < pairs; ++p) {
      ours_s[p] = ours(&tensor_in, &tensor_out);
      raw_s[p] = raw_exchange(comm, stream, send, receive, elements, in, in_count, out, out_count);
      ratio[p] = raw_s[p] / ours_s[p];
    }
    const double t_ours = Median(ours_s, pairs), t_raw = Median(raw_s, pairs);
    const double r = Median(ratio, pairs);
    if (rank == 0) {
      const double moved = (double)(elements * sizeof(float)) * degree;
      printf("| %zu | %.1f | %.1f | %.2f | %.2f | %.2f |\n", elements * sizeof(float),
             t_ours * 1e6, t_raw * 1e6, r, moved / t_ours / 1e9, moved / t_raw / 1e9);
    }
  }
  CHECK_CUDA(cudaFree(send));
  CHECK_CUDA(cudaFree(result));
  CHECK_CUDA(cudaFree(receive));
  CHECK_CUDA(cudaStreamDestroy(stream));
  CHECK_NCCL(ncclCommDestroy(comm));
  free(in);
  free(out);
  free(ours_s);
  free(raw_s);
  free(ratio);
  CHECK_BF(bf_finalize());
  return 0;
}

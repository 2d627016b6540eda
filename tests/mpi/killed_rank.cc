// SPDX-License-Identifier: Apache-2.0
// Fault injection: every rank runs neighbor_allreduce and allreduce in a loop; the last rank
// kills itself with SIGKILL partway (no goodbye, no bf_finalize). check_killed_rank.py asserts
// the job as a whole ends, with an error, within 60 s instead of hanging: Open MPI's runtime
// notices the dead process and terminates the others, which are blocked in bf_wait meanwhile.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bluefog.h"

int main(int argc, char** argv) {
  const int kill_at = argc > 1 ? std::atoi(argv[1]) : 20;
  if (bf_init(nullptr) != BF_OK) return 2;
  const int rank = bf_rank(), size = bf_size();
  double x[256];
  int64_t shape[1] = {256};
  DLTensor tensor{};
  tensor.data = x;
  tensor.device = {kDLCPU, 0};
  tensor.ndim = 1;
  tensor.dtype = {kDLFloat, 64, 1};
  tensor.shape = shape;
  for (double& value : x) value = rank;
  for (int step = 0; step < 1000000; ++step) {
    if (rank == size - 1 && step == kill_at) {
      std::fprintf(stderr, "[rank %d] killing myself at step %d\n", rank, step);
      std::fflush(stderr);
      std::raise(SIGKILL);
    }
    const std::string name = "step." + std::to_string(step);
    bf_neighbor_args args{};
    args.struct_size = sizeof(args);
    args.name = name.c_str();
    if (bf_neighbor_allreduce(&tensor, &tensor, &args) != BF_OK ||
        bf_allreduce(&tensor, &tensor, nullptr) != BF_OK) {
      std::fprintf(stderr, "[rank %d] step %d failed: %s\n", rank, step, bf_last_error());
      return 1;
    }
  }
  std::fprintf(stderr, "[rank %d] finished a run that should have been cut short\n", rank);
  bf_finalize();
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// bf_init / bf_finalize cycles in one MPI job, with the ranks finishing at different times. Each
// cycle's engine must take every message addressed to it before its communicator is freed: a
// departure notice that arrived after the free used to surface in the next cycle's communicator
// (MPI reuses the context id) and fail or hang its operations (found by fusion_bench). Each cycle
// ends with a broadcast and a barrier that rank 0 finishes first (it roots the broadcast and
// decides the negotiation rounds) and then leaves at once: its departure must not fail them on
// ranks that have not yet learned they are ready.
#include <mpi.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>
#include <vector>

#include "bluefog.h"

namespace {

int Fail(const char* what, int rank) {
  std::fprintf(stderr, "rank %d: %s: %s\n", rank, what, bf_last_error());
  MPI_Abort(MPI_COMM_WORLD, 1);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0, rank = 0, size = 1;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  constexpr int kCycles = 8;
  std::vector<float> x(1024);
  int64_t shape[1] = {static_cast<int64_t>(x.size())};
  DLTensor tensor = {x.data(), {kDLCPU, 0}, 1, {kDLFloat, 32, 1}, shape, nullptr, 0};
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    if (bf_init(nullptr) != BF_OK) return Fail("bf_init", rank);
    // More messages each cycle: the transport numbers messages per peer and communicator, so a
    // stale message from the last cycle collides with this cycle's once the count passes it.
    for (int op = 0; op < 10 * (cycle + 1); ++op) {
      for (float& v : x) v = static_cast<float>(rank);
      if (bf_neighbor_allreduce(&tensor, &tensor, nullptr) != BF_OK) {
        return Fail("bf_neighbor_allreduce", rank);
      }
      // Exponential-2 in-neighbors r - 2^k, uniform weights: a closed form.
      double expected = rank;
      int degree = 0;
      for (int d = 1; d < size; d *= 2, ++degree) expected += (rank - d + size) % size;
      expected /= degree + 1;
      if (std::abs(x[0] - expected) > 1e-5) {
        std::fprintf(stderr, "rank %d cycle %d: got %f, expected %f\n", rank, cycle, x[0], expected);
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
    }
    // A different rank finishes late each cycle, so the others' notices reach it while it is
    // still running, and its own reaches them when they have begun to leave.
    if (rank == cycle % size) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (float& v : x) v = rank == 0 ? 100.0f + static_cast<float>(cycle) : -1.0f;
    bf_op_args named{};
    named.struct_size = sizeof(named);
    named.name = "last.broadcast";
    if (bf_broadcast(&tensor, &tensor, 0, &named) != BF_OK) return Fail("bf_broadcast", rank);
    if (x[0] != 100.0f + static_cast<float>(cycle) || x.back() != x[0]) {
      std::fprintf(stderr, "rank %d cycle %d: broadcast gave %f\n", rank, cycle, x[0]);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (bf_barrier() != BF_OK) return Fail("bf_barrier", rank);
    if (bf_finalize() != BF_OK) return Fail("bf_finalize", rank);
  }
  if (rank == 0) std::printf("%d init/finalize cycles on %d ranks: OK\n", kCycles, size);
  MPI_Finalize();
  return 0;
}

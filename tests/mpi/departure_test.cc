// SPDX-License-Identifier: Apache-2.0
// A rank that finalizes early: operations on the other ranks that need it fail with
// BF_ERR_SHUTDOWN naming it (not a hang), operations that do not need it still complete, and
// everyone finalizes cleanly. Its own main: rank 0 leaves halfway, which a shared gtest main
// could not survive.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bluefog.h"

namespace {

int failures = 0;

void Expect(bool condition, int rank, const std::string& what) {
  if (condition) return;
  std::fprintf(stderr, "[rank %d] FAILED: %s (last error: %s)\n", rank, what.c_str(),
               bf_last_error());
  ++failures;
}

DLTensor Vector(double* data, int64_t* shape) {
  DLTensor tensor{};
  tensor.data = data;
  tensor.device = {kDLCPU, 0};
  tensor.ndim = 1;
  tensor.dtype = {kDLFloat, 64, 1};
  tensor.shape = shape;
  return tensor;
}

}  // namespace

int main() {
  if (bf_init(nullptr) != BF_OK) {
    std::fprintf(stderr, "bf_init failed: %s\n", bf_last_error());
    return 1;
  }
  const int rank = bf_rank(), size = bf_size();
  if (size < 2) {
    std::printf("departure_test needs 2 or more ranks; nothing to test\n");
    return bf_finalize() == BF_OK ? 0 : 1;
  }
  Expect(bf_barrier() == BF_OK, rank, "barrier before the departure");
  if (rank == 0) {
    // Leaves while the others still have work that needs it.
    Expect(bf_finalize() == BF_OK, rank, "early bf_finalize");
    return failures == 0 ? 0 : 1;
  }

  double x[64];
  int64_t shape[1] = {64};
  DLTensor tensor = Vector(x, shape);
  for (double& value : x) value = rank;

  // Receives from rank 0, which will never send: fails, naming rank 0.
  const int zero = 0;
  bf_neighbor_args from_zero{};
  from_zero.struct_size = sizeof(from_zero);
  from_zero.name = "needs.rank0";
  from_zero.dynamic = 1;
  from_zero.has_weights = 1;
  from_zero.self_weight = 0.5;
  from_zero.src_count = 1;
  from_zero.src_ranks = &zero;
  bf_handle handle = 0;
  Expect(bf_neighbor_allreduce_async(&tensor, &tensor, &from_zero, &handle) == BF_OK, rank,
         "posting a receive from rank 0");
  const bf_status waited = bf_wait(handle, 30000);
  Expect(waited == BF_ERR_SHUTDOWN, rank,
         std::string("a receive from the departed rank: ") + bf_status_string(waited));
  Expect(std::strstr(bf_last_error(), "rank 0") != nullptr, rank, "the error names rank 0");
  (void)bf_handle_free(handle);

  // A global operation needs every rank.
  const bf_status reduced = bf_allreduce(&tensor, &tensor, nullptr);
  Expect(reduced == BF_ERR_SHUTDOWN, rank,
         std::string("an allreduce without rank 0: ") + bf_status_string(reduced));

  // Ranks 1 and 2 can still exchange between themselves.
  if (size >= 3 && rank <= 2) {
    const int peer = rank == 1 ? 2 : 1;
    for (double& value : x) value = rank;
    bf_op_args args{};
    args.struct_size = sizeof(args);
    args.name = "survivors";
    Expect(bf_pair_gossip(&tensor, &tensor, peer, 0.5, 0.5, &args) == BF_OK, rank,
           "pair_gossip between survivors");
    Expect(x[0] == 1.5 && x[63] == 1.5, rank, "pair_gossip result between survivors");
  }

  Expect(bf_finalize() == BF_OK, rank, "bf_finalize after the departure");
  if (failures == 0) std::printf("[rank %d] departure handled\n", rank);
  return failures == 0 ? 0 : 1;
}

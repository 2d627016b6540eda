// SPDX-License-Identifier: Apache-2.0
// Soak: random mixed operations for a given time, every result checked against a closed form,
// and resident memory compared between the end of the warm-up and the end of the run.
//
// usage: soak_test [--seconds S] [--max-growth-mib M]
// Every rank draws the same sequence of operation kinds from a shared seed (collectives must
// line up); values depend on rank and iteration, so every result has an exact expectation.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "bluefog.h"

namespace {

int rank_ = 0, size_ = 1;
long failures = 0;

void Check(bool ok, long iteration, const char* what, double got, double expected) {
  if (ok) return;
  if (++failures <= 20) {
    std::fprintf(stderr, "[rank %d] iteration %ld: %s: got %.17g, expected %.17g\n", rank_,
                 iteration, what, got, expected);
  }
}

void Require(bf_status status, const char* what) {
  if (status == BF_OK) return;
  std::fprintf(stderr, "[rank %d] %s failed: %s: %s\n", rank_, what, bf_status_string(status),
               bf_last_error());
  std::exit(1);
}

double ResidentMiB() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1048576.0;
}

DLTensor View(void* data, int64_t* shape, DLDataType dtype) {
  DLTensor tensor{};
  tensor.data = data;
  tensor.device = {kDLCPU, 0};
  tensor.ndim = 1;
  tensor.dtype = dtype;
  tensor.shape = shape;
  return tensor;
}

constexpr DLDataType kF64{kDLFloat, 64, 1};
constexpr DLDataType kI64{kDLInt, 64, 1};
constexpr int64_t kLength = 1000;

std::vector<int> InNeighbors() {  // exponential-2: rank - 2^i
  std::vector<int> in;
  for (int step = 1; step < size_; step *= 2) in.push_back((rank_ - step + size_) % size_);
  std::sort(in.begin(), in.end());
  in.erase(std::unique(in.begin(), in.end()), in.end());
  return in;
}

// One iteration of `kind`; `it` keeps names unique and values fresh.
void RunOne(int kind, long it, std::vector<double>* window_data) {
  const std::string name = "soak." + std::to_string(it);
  std::vector<double> x(kLength);
  int64_t shape[1] = {kLength};
  DLTensor tensor = View(x.data(), shape, kF64);
  auto value = [&](int r, int64_t i) { return static_cast<double>(r + 1) + 0.5 * (i % 7) + it % 13; };
  for (int64_t i = 0; i < kLength; ++i) x[i] = value(rank_, i);
  switch (kind) {
    case 0: {  // static neighbor_allreduce, uniform weights
      bf_neighbor_args args{};
      args.struct_size = sizeof(args);
      args.name = name.c_str();
      Require(bf_neighbor_allreduce(&tensor, &tensor, &args), "neighbor_allreduce");
      const std::vector<int> in = InNeighbors();
      for (int64_t i = 0; i < kLength; i += 97) {
        double expected = value(rank_, i);
        for (int s : in) expected += value(s, i);
        expected /= static_cast<double>(in.size() + 1);
        Check(std::fabs(x[i] - expected) < 1e-9, it, "neighbor_allreduce", x[i], expected);
      }
      break;
    }
    case 1: {  // dynamic one-peer exchange, async
      const int shift = 1 << (it % std::max(1, static_cast<int>(std::log2(size_))));
      const int dst = (rank_ + shift) % size_, src = (rank_ - shift % size_ + size_) % size_;
      const double half = 0.5;
      bf_neighbor_args args{};
      args.struct_size = sizeof(args);
      args.name = name.c_str();
      args.dynamic = 1;
      args.has_weights = 1;
      args.self_weight = 0.5;
      args.src_count = size_ > 1 ? 1 : 0;
      args.src_ranks = &src;
      args.src_weights = &half;
      args.dst_count = size_ > 1 ? 1 : 0;
      args.dst_ranks = &dst;
      bf_handle handle = 0;
      Require(bf_neighbor_allreduce_async(&tensor, &tensor, &args, &handle), "dynamic");
      Require(bf_wait(handle, -1), "wait dynamic");
      Require(bf_handle_free(handle), "free dynamic");
      for (int64_t i = 0; i < kLength; i += 97) {
        const double expected =
            size_ > 1 ? 0.5 * value(rank_, i) + 0.5 * value(src, i) : 0.5 * value(rank_, i);
        Check(std::fabs(x[i] - expected) < 1e-9, it, "dynamic one-peer", x[i], expected);
      }
      break;
    }
    case 2: {  // allreduce, integer sum
      std::vector<int64_t> n(kLength, rank_ + it);
      DLTensor ints = View(n.data(), shape, kI64);
      bf_allreduce_args args{};
      args.struct_size = sizeof(args);
      args.name = name.c_str();
      args.op = BF_REDUCE_SUM;
      Require(bf_allreduce(&ints, &ints, &args), "allreduce");
      const int64_t expected = static_cast<int64_t>(size_) * it + size_ * (size_ - 1) / 2;
      Check(n[0] == expected && n[kLength - 1] == expected, it, "allreduce",
            static_cast<double>(n[0]), static_cast<double>(expected));
      break;
    }
    case 3: {  // broadcast from a moving root
      const int root = static_cast<int>(it % size_);
      bf_op_args args{};
      args.struct_size = sizeof(args);
      args.name = name.c_str();
      Require(bf_broadcast(&tensor, &tensor, root, &args), "broadcast");
      Check(x[5] == value(root, 5), it, "broadcast", x[5], value(root, 5));
      break;
    }
    case 4: {  // allgather with a varying first dimension
      const int64_t rows = rank_ % 3 + 1;
      std::vector<double> mine(static_cast<size_t>(rows) * 4, rank_);
      int64_t mine_shape[2] = {rows, 4};
      DLTensor in = View(mine.data(), mine_shape, kF64);
      in.ndim = 2;
      bf_op_args args{};
      args.struct_size = sizeof(args);
      args.name = name.c_str();
      DLManagedTensor* gathered = nullptr;
      Require(bf_allgather(&in, &gathered, &args), "allgather");
      const double* all = static_cast<const double*>(gathered->dl_tensor.data);
      int64_t row = 0;
      for (int r = 0; r < size_; ++r) {
        for (int k = 0; k < r % 3 + 1; ++k, ++row) {
          Check(all[row * 4 + 3] == r, it, "allgather", all[row * 4 + 3], r);
        }
      }
      Check(gathered->dl_tensor.shape[0] == row, it, "allgather rows",
            static_cast<double>(gathered->dl_tensor.shape[0]), static_cast<double>(row));
      gathered->deleter(gathered);
      break;
    }
    case 5: {  // window: put to out-neighbors, barrier, read the buffers back with a clone update
      for (int64_t i = 0; i < kLength; ++i) (*window_data)[i] = value(rank_, i);
      int64_t window_shape[1] = {kLength};
      DLTensor window_tensor = View(window_data->data(), window_shape, kF64);
      Require(bf_win_put(&window_tensor, "soak.window", nullptr), "win_put");
      Require(bf_barrier(), "barrier");
      const std::vector<int> in = InNeighbors();
      std::vector<double> weights(in.size(), 1.0);
      bf_win_update_args args{};
      args.struct_size = sizeof(args);
      args.has_weights = 1;
      args.self_weight = 0.0;
      args.count = static_cast<int>(in.size());
      args.ranks = in.data();
      args.weights = weights.data();
      Require(bf_win_update("soak.window", &args, &tensor), "win_update");
      for (int64_t i = 0; i < kLength; i += 97) {
        double expected = 0;
        for (int s : in) expected += value(s, i);
        Check(std::fabs(x[i] - expected) < 1e-9, it, "window", x[i], expected);
      }
      Require(bf_barrier(), "barrier");  // nobody puts the next values before all have read
      break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 60, max_growth_mib = 16;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--max-growth-mib") == 0) max_growth_mib = std::atof(argv[i + 1]);
  }
  Require(bf_init(nullptr), "bf_init");
  rank_ = bf_rank();
  size_ = bf_size();
  std::vector<double> window_data(kLength, 0.0);
  int64_t shape[1] = {kLength};
  DLTensor window_tensor = View(window_data.data(), shape, kF64);
  Require(bf_win_create(&window_tensor, "soak.window", 0), "win_create");

  std::mt19937 shared(20261130);  // the same on every rank
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  double warm_mib = -1;
  long it = 0;
  int counts[6] = {};
  for (;; ++it) {
    // Rank 0's clock decides when to stop, so every rank runs the same iterations.
    int64_t go = rank_ == 0 ? (elapsed() < seconds ? 1 : 0) : 0;
    int64_t shape1[1] = {1};
    DLTensor flag = View(&go, shape1, kI64);
    bf_op_args args{};
    args.struct_size = sizeof(args);
    const std::string name = "soak.go." + std::to_string(it);
    args.name = name.c_str();
    Require(bf_broadcast(&flag, &flag, 0, &args), "broadcast go");
    if (!go) break;
    if (warm_mib < 0 && elapsed() > 0.25 * seconds) warm_mib = ResidentMiB();
    const int kind = static_cast<int>(shared() % 6);
    ++counts[kind];
    RunOne(kind, it, &window_data);
  }
  const double end_mib = ResidentMiB();
  if (warm_mib < 0) warm_mib = end_mib;
  Require(bf_win_free("soak.window"), "win_free");
  std::printf("[rank %d] soak: %ld iterations in %.1f s (nbr %d, dyn %d, allreduce %d, bcast %d, "
              "allgather %d, window %d), resident %.1f MiB after warm-up, %.1f MiB at the end, "
              "%ld wrong results\n",
              rank_, it, elapsed(), counts[0], counts[1], counts[2], counts[3], counts[4],
              counts[5], warm_mib, end_mib, failures);
  const bool grew = end_mib - warm_mib > max_growth_mib;
  if (grew) {
    std::fprintf(stderr, "[rank %d] resident memory grew by %.1f MiB (limit %.1f)\n", rank_,
                 end_mib - warm_mib, max_growth_mib);
  }
  Require(bf_finalize(), "bf_finalize");
  return failures == 0 && !grew ? 0 : 1;
}

// SPDX-License-Identifier: Apache-2.0
// Thousands of random one-sided window operations per rank, in a different order and at a
// different pace on every rank (per-rank seeds, random short delays, several transfers in flight),
// checked against invariants that hold whatever the interleaving:
//  - mass: push-sum accumulates under mutexes move fractions of a float64 tensor (and of the
//    associated p) between ranks; after a barrier and a final collect, the total over ranks equals
//    the initial total to rounding, and the p total equals the number of ranks;
//  - count: int64 accumulates of ones under mutexes, collected concurrently under mutexes, lose
//    nothing: each rank ends with exactly the number of accumulates its in-neighbors sent it;
//  - copies: puts and gets with weights from {0.5, 1, 2} of a tensor f that every rank shares,
//    with or without mutexes, leave every buffer element at 0.5, 1 or 2 times f (no torn or
//    misplaced chunks), and never change f.
// A watchdog aborts the job with the operation it was in if a rank makes no progress for 120 s.
#include <mpi.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <random>
#include <string>
#include <thread>

#include "test_util.h"

namespace bftest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kMassLength = 8;
constexpr int64_t kCountLength = 4;
constexpr int64_t kCopyLength = 2500;  // spans several messages when chunked by 1000
constexpr int kWaitMs = 60000;

double Shared(int64_t i) { return 1.0 + static_cast<double>(i % 7); }

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value ? std::atoi(value) : fallback;
}

// Aborts the whole job: a rank that cannot finish its operations would leave the others waiting.
[[noreturn]] void Fatal(const std::string& message) {
  std::fprintf(stderr, "[rank %d] FATAL: %s\n", bf_rank(), message.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 2);
  std::abort();
}

class Watchdog {
 public:
  explicit Watchdog(int limit_s) : limit_s_(limit_s), thread_([this] { Run(); }) {
    Progress("start");
  }
  ~Watchdog() {
    stop_ = true;
    thread_.join();
  }
  void Progress(const char* what) {
    what_ = what;
    last_ms_ = NowMs();
  }

 private:
  static int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
        .count();
  }
  void Run() {
    while (!stop_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (NowMs() - last_ms_ > limit_s_ * 1000) {
        Fatal(std::string("no progress for ") + std::to_string(limit_s_) + " s in " + what_.load());
      }
    }
  }
  const int limit_s_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> last_ms_{0};
  std::atomic<const char*> what_{"start"};
  std::thread thread_;
};

// Waits for a window operation with a timeout; failing to complete is fatal (see Fatal).
void Finish(bf_handle handle, const char* what) {
  const bf_status status = bf_wait(handle, kWaitMs);
  if (status == BF_ERR_TIMEOUT) Fatal(std::string(what) + " did not complete within 60 s");
  if (status != BF_OK) Fatal(std::string(what) + " failed: " + bf_last_error());
  if (bf_handle_free(handle) != BF_OK)
    Fatal(std::string("freeing ") + what + ": " + bf_last_error());
}

void Check(bf_status status, const char* what) {
  if (status != BF_OK) Fatal(std::string(what) + " failed: " + bf_last_error());
}

// A random non-empty subset of `ranks` (empty only if `ranks` is).
std::vector<int> Subset(const std::vector<int>& ranks, std::mt19937& rng) {
  std::vector<int> chosen;
  for (int r : ranks) {
    if (rng() % 2) chosen.push_back(r);
  }
  if (chosen.empty() && !ranks.empty()) chosen.push_back(ranks[rng() % ranks.size()]);
  return chosen;
}

TEST(WindowStress, RandomOperationsKeepMassCountsAndCopies) {
  const int rank = bf_rank(), size = bf_size();
  ASSERT_BF_OK(UseExp2Topology());
  const std::vector<int> in = Exp2InNeighbors(rank, size), out = Exp2OutNeighbors(rank, size);
  const unsigned seed = static_cast<unsigned>(EnvInt("BF_STRESS_SEED", 2024)) + 7919u * rank;
  std::mt19937 rng(seed);
  const int max_ops = EnvInt("BF_STRESS_OPS", 15000);
  const int seconds = EnvInt("BF_STRESS_SECONDS", 20);
  // For narrowing a failure down: the operation kinds (digits of the switch below) to run.
  const std::string kinds_enabled =
      std::getenv("BF_STRESS_KINDS") ? std::getenv("BF_STRESS_KINDS") : "0123456789";
  if (rank == 0) {
    std::printf("stress: %d ranks, up to %d ops or %d s per rank, seeds %u + 7919 * rank\n", size,
                max_ops, seconds, seed);
  }

  ASSERT_BF_OK(bf_set_win_associated_p(1));
  HostTensor mass({kDLFloat, 64, 1}, {kMassLength});
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (int64_t i = 0; i < kMassLength; ++i) mass.Set(i, 1.0 + 10.0 * uniform(rng));
  std::vector<double> initial(kMassLength), initial_total(kMassLength);
  for (int64_t i = 0; i < kMassLength; ++i) initial[i] = mass.Get(i);
  MPI_Allreduce(initial.data(), initial_total.data(), kMassLength, MPI_DOUBLE, MPI_SUM,
                MPI_COMM_WORLD);
  HostTensor count({kDLInt, 64, 1}, {kCountLength});
  HostTensor ones({kDLInt, 64, 1}, {kCountLength});
  for (int64_t i = 0; i < kCountLength; ++i) ones.Set(i, 1);
  HostTensor copy({kDLFloat, 32, 1}, {kCopyLength});
  for (int64_t i = 0; i < kCopyLength; ++i) copy.Set(i, Shared(i));
  ASSERT_BF_OK(bf_win_create(mass.get(), "stress.mass", 1));
  ASSERT_BF_OK(bf_win_create(count.get(), "stress.count", 1));
  ASSERT_BF_OK(bf_win_create(copy.get(), "stress.copy", 0));

  Watchdog watchdog(120);
  const std::vector<double> factors = {0.5, 1.0, 2.0};
  bf_handle mass_pending = 0, count_pending = 0;
  std::deque<bf_handle> copy_pending;
  int64_t count_sent = 0;  // accumulates of ones to each out-neighbor
  int ops = 0;
  int tally[10] = {};
  const auto deadline = Clock::now() + std::chrono::seconds(seconds);
  HostTensor scratch({kDLFloat, 32, 1}, {kCopyLength});
  for (; ops < max_ops && Clock::now() < deadline; ++ops) {
    int kind = static_cast<int>(rng() % 10);
    if (kinds_enabled.find(static_cast<char>('0' + kind)) == std::string::npos) kind = 8;
    ++tally[kind];
    switch (kind) {
      case 0:
      case 1: {  // push a random fraction of the mass to some out-neighbors, keep the rest
        watchdog.Progress("mass accumulate");
        if (mass_pending) Finish(mass_pending, "mass accumulate");
        mass_pending = 0;
        if (out.empty()) break;
        std::vector<int> ranks = Subset(out, rng);
        std::vector<double> weights;
        double sent = 0;
        for (size_t k = 0; k < ranks.size(); ++k) {
          weights.push_back(0.05 + 0.85 / static_cast<double>(ranks.size()) * uniform(rng));
          sent += weights.back();
        }
        bf_win_op_args args{
            sizeof(args),   1, 1.0 - sent, 1, static_cast<int>(ranks.size()), ranks.data(),
            weights.data(), 1};
        Check(bf_win_accumulate_async(mass.get(), "stress.mass", &args, &mass_pending),
              "mass accumulate");
        break;
      }
      case 2: {  // collect everything received, under the mutexes
        watchdog.Progress("mass collect");
        if (mass_pending) Finish(mass_pending, "mass accumulate");
        mass_pending = 0;
        Check(bf_win_update_then_collect("stress.mass", 1), "mass update_then_collect");
        break;
      }
      case 3: {  // or only some buffers: self weight 1, weights 1, reset
        watchdog.Progress("mass partial update");
        if (mass_pending) Finish(mass_pending, "mass accumulate");
        mass_pending = 0;
        std::vector<int> ranks = Subset(in, rng);
        bf_win_update_args args{sizeof(args), 1,       1.0, static_cast<int>(ranks.size()),
                                ranks.data(), nullptr, 1,   1};
        Check(bf_win_update("stress.mass", &args, nullptr), "mass partial update");
        break;
      }
      case 4: {  // count: ones to every out-neighbor, or collect
        watchdog.Progress("count");
        if (count_pending) Finish(count_pending, "count accumulate");
        count_pending = 0;
        if (rng() % 3) {
          bf_win_op_args args{sizeof(args)};
          args.require_mutex = 1;
          Check(bf_win_accumulate_async(ones.get(), "stress.count", &args, &count_pending),
                "count accumulate");
          ++count_sent;
        } else {
          Check(bf_win_update_then_collect("stress.count", 1), "count collect");
        }
        break;
      }
      case 5:
      case 6: {  // copies: put to or get from some neighbors with weights 0.5, 1 or 2
        watchdog.Progress("copy transfer");
        while (copy_pending.size() >= 4) {
          Finish(copy_pending.front(), "copy transfer");
          copy_pending.pop_front();
        }
        const bool put = kind == 5;
        std::vector<int> ranks = Subset(put ? out : in, rng);
        std::vector<double> weights;
        for (size_t k = 0; k < ranks.size(); ++k) weights.push_back(factors[rng() % 3]);
        bf_win_op_args args{sizeof(args),
                            0,
                            0.0,
                            1,
                            static_cast<int>(ranks.size()),
                            ranks.data(),
                            weights.data(),
                            static_cast<int>(rng() % 2)};
        bf_handle handle = 0;
        if (put) {
          Check(bf_win_put_async(copy.get(), "stress.copy", &args, &handle), "copy put");
        } else {
          Check(bf_win_get_async("stress.copy", &args, &handle), "copy get");
        }
        copy_pending.push_back(handle);
        break;
      }
      case 7: {  // a cloning update of the copies: bounded by the factors
        watchdog.Progress("copy update");
        std::vector<int> ranks = Subset(in, rng);
        std::vector<double> weights;
        double total = 0;
        for (size_t k = 0; k < ranks.size(); ++k) {
          weights.push_back(0.25 * static_cast<double>(1 + rng() % 4));
          total += weights.back();
        }
        bf_win_update_args args{sizeof(args),
                                1,
                                0.5,
                                static_cast<int>(ranks.size()),
                                ranks.data(),
                                weights.data(),
                                0,
                                static_cast<int>(rng() % 2)};
        Check(bf_win_update("stress.copy", &args, scratch.get()), "copy update");
        int64_t bad = -1;
        for (int64_t i = 0; i < kCopyLength && bad < 0; i += 97) {
          const double low = (0.5 + 0.5 * total) * Shared(i), high = (0.5 + 2 * total) * Shared(i);
          if (scratch.Get(i) < low - 1e-4 || scratch.Get(i) > high + 1e-4) bad = i;
        }
        if (bad >= 0) {  // which buffer holds what, read one at a time right after
          std::string detail;
          for (size_t k = 0; k < ranks.size(); ++k) {
            bf_win_update_args one{sizeof(one), 1, 0.0, 1, &ranks[k]};
            HostTensor single({kDLFloat, 32, 1}, {kCopyLength});
            Check(bf_win_update("stress.copy", &one, single.get()), "copy read");
            detail += " rank " + std::to_string(ranks[k]) + " weight " +
                      std::to_string(weights[k]) + " buffer/f " +
                      std::to_string(single.Get(bad) / Shared(bad)) + ";";
          }
          ADD_FAILURE() << "copy update (self 0.5, mutex " << args.require_mutex << ") element "
                        << bad << " = " << scratch.Get(bad) << " is not 0.5 f + sum of weight * "
                        << "{0.5, 1, 2} f with f = " << Shared(bad) << ", op " << ops << ":"
                        << detail;
        }
        break;
      }
      case 8: {  // a short pause, so ranks drift apart
        watchdog.Progress("sleep");
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 400));
        break;
      }
      default: {  // versions are counts
        watchdog.Progress("versions");
        std::vector<int> ranks(in.size() + 1), versions(in.size() + 1);
        int n = -1;
        Check(bf_win_versions("stress.copy", ranks.data(), versions.data(),
                              static_cast<int>(ranks.size()), &n),
              "versions");
        EXPECT_EQ(n, static_cast<int>(in.size()));
        for (int k = 0; k < n && k < static_cast<int>(in.size()); ++k) {
          EXPECT_EQ(ranks[k], in[k]);
          EXPECT_GE(versions[k], 0);
        }
        break;
      }
    }
    if (::testing::Test::HasFailure()) break;
  }
  watchdog.Progress("final waits");
  if (mass_pending) Finish(mass_pending, "mass accumulate");
  if (count_pending) Finish(count_pending, "count accumulate");
  for (bf_handle handle : copy_pending) Finish(handle, "copy transfer");
  std::printf(
      "[rank %d] %d ops: accumulate %d, collect %d, partial update %d, count %d, put %d, "
      "get %d, clone update %d, sleep %d, versions %d\n",
      rank, ops, tally[0] + tally[1], tally[2], tally[3], tally[4], tally[5], tally[6], tally[7],
      tally[8], tally[9]);

  watchdog.Progress("final barrier");
  ASSERT_BF_OK(bf_barrier());  // every transfer has landed
  watchdog.Progress("final collect");
  ASSERT_BF_OK(bf_win_update_then_collect("stress.mass", 1));
  ASSERT_BF_OK(bf_win_update_then_collect("stress.count", 1));

  // Mass and p: conserved to rounding.
  std::vector<double> final_mass(kMassLength), final_total(kMassLength);
  for (int64_t i = 0; i < kMassLength; ++i) final_mass[i] = mass.Get(i);
  MPI_Allreduce(final_mass.data(), final_total.data(), kMassLength, MPI_DOUBLE, MPI_SUM,
                MPI_COMM_WORLD);
  for (int64_t i = 0; i < kMassLength; ++i) {
    EXPECT_NEAR(final_total[i], initial_total[i], 1e-11 * initial_total[i])
        << "mass element " << i << " not conserved";
  }
  double p = 0, p_total = 0;
  ASSERT_BF_OK(bf_win_associated_p("stress.mass", &p));
  MPI_Allreduce(&p, &p_total, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  EXPECT_NEAR(p_total, static_cast<double>(size), 1e-11 * size) << "associated p not conserved";

  // Counts: exactly what the in-neighbors sent.
  std::vector<int64_t> sent(static_cast<size_t>(size));
  MPI_Allgather(&count_sent, 1, MPI_INT64_T, sent.data(), 1, MPI_INT64_T, MPI_COMM_WORLD);
  int64_t expected_count = 0;
  for (int s : in) expected_count += sent[s];
  for (int64_t i = 0; i < kCountLength; ++i) {
    EXPECT_EQ(count.Get(i), static_cast<double>(expected_count)) << "count element " << i;
  }

  // Copies: f untouched, every buffer element 0.5, 1 or 2 times f.
  for (int64_t i = 0; i < kCopyLength; ++i) {
    ASSERT_EQ(copy.Get(i), Shared(i)) << "the copies' tensor changed at " << i;
  }
  for (int s : in) {
    bf_win_update_args read{sizeof(read), 1, 0.0, 1, &s};
    ASSERT_BF_OK(bf_win_update("stress.copy", &read, scratch.get()));
    int64_t wrong = 0, first = -1;
    for (int64_t i = 0; i < kCopyLength; ++i) {
      const double ratio = scratch.Get(i) / Shared(i);
      if (ratio != 0.5 && ratio != 1.0 && ratio != 2.0) {
        if (first < 0) first = i;
        ++wrong;
      }
    }
    EXPECT_EQ(wrong, 0) << "buffer for " << s << ": first bad element " << first << " = "
                        << (first >= 0 ? scratch.Get(first) : 0.0);
  }

  watchdog.Progress("free");
  ASSERT_BF_OK(bf_barrier());
  ASSERT_BF_OK(bf_win_free(nullptr));
  ASSERT_BF_OK(bf_set_win_associated_p(0));
}

}  // namespace
}  // namespace bftest

// SPDX-License-Identifier: Apache-2.0
// Multi-rank concurrency test, meant to run under ThreadSanitizer as well: on every rank four
// threads issue mixed operations at once (neighbor_allreduce, allreduce, broadcast, allgather,
// neighbor_allgather, pair_gossip, window put/accumulate/get/update on per-thread windows), hand
// the handles of their async operations to the next thread, which waits for, checks and frees
// them, while a fifth thread polls (and zero-timeout waits on) recent handles. Every result is
// checked exactly against a closed form (small integers and dyadic weights: no rounding anywhere).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace bftest {
namespace {

constexpr int kThreads = 4;
constexpr int kIterations = 200;  // at most 512: Value() keeps the iteration in 9 bits
constexpr int64_t kElements = 16;
constexpr int kWaitLimitMs = 120000;  // a handle not done by then is reported, not waited for

// Distinct per (rank, thread, iteration), small enough that sums over 8 ranks and dyadic
// weights stay exact in float32 and int32.
double Value(int rank, int thread, int iteration, int64_t i) {
  return 16384.0 * (rank + 1) + 2048.0 * thread + 4.0 * iteration + static_cast<double>(i % 4);
}
// The constant tensor of the pull window of `thread` on `rank`.
double PullValue(int rank, int thread, int64_t i) { return 8.0 * rank + thread + i + 1; }

// Built with a stream: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string.
std::string OpName(int thread, int iteration, const char* op) {
  std::ostringstream name;
  name << 't' << thread << ".it" << iteration << '.' << op;
  return name.str();
}
std::string WindowName(const char* kind, int thread) {
  std::ostringstream name;
  name << "conc." << kind << ".t" << thread;
  return name.str();
}
std::string PushWindow(int thread) { return WindowName("push", thread); }
std::string PullWindow(int thread) { return WindowName("pull", thread); }

// Failures found on any thread; the main thread turns them into one gtest failure.
class Failures {
 public:
  void Add(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (texts_.size() < 20) texts_.push_back(text);
    ++count_;
  }
  std::string Summary() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::ostringstream out;
    out << count_ << " failure(s)";
    for (const std::string& text : texts_) out << "\n  " << text;
    return out.str();
  }
  int count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return count_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> texts_;
  int count_ = 0;
};

// An async operation in flight with everything it borrows: its tensors live here until the
// waiting thread has checked the result and freed the handle.
struct Pending {
  bf_handle handle = 0;
  std::string what;
  std::unique_ptr<HostTensor> in, out;
  DLManagedTensor* gathered = nullptr;
  // Compares the result with its closed form; returns "" or what differs.
  std::function<std::string(Pending&)> check;
};
using Batch = std::vector<std::unique_ptr<Pending>>;

// One batch of async operations per iteration, from the issuing thread to the waiting thread.
class BatchQueue {
 public:
  void Push(Batch batch) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      batches_.push_back(std::move(batch));
    }
    cv_.notify_one();
  }
  Batch Pop() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return !batches_.empty(); });
    Batch batch = std::move(batches_.front());
    batches_.pop_front();
    return batch;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Batch> batches_;
};

// Recently issued handles, for the polling thread.
class RecentHandles {
 public:
  void Add(bf_handle handle) {
    std::lock_guard<std::mutex> lock(mutex_);
    handles_[next_++ % handles_.size()] = handle;
  }
  std::vector<bf_handle> Snapshot() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::vector<bf_handle>(handles_.begin(), handles_.end());
  }

 private:
  mutable std::mutex mutex_;
  std::vector<bf_handle> handles_ = std::vector<bf_handle>(64, 0);
  size_t next_ = 0;
};

std::string CompareTensor(const HostTensor& tensor,
                          const std::function<double(int64_t)>& expected) {
  for (int64_t i = 0; i < tensor.size(); ++i) {
    if (tensor.Get(i) != expected(i)) {
      std::ostringstream text;
      text << "element " << i << " is " << tensor.Get(i) << ", expected " << expected(i);
      return text.str();
    }
  }
  return "";
}

class ConcurrencyRun {
 public:
  ConcurrencyRun() : rank_(bf_rank()), size_(bf_size()) {
    in_neighbors_ = Exp2InNeighbors(rank_, size_);
    out_neighbors_ = Exp2OutNeighbors(rank_, size_);
    peer_ = (rank_ ^ 1) < size_ ? (rank_ ^ 1) : -1;
  }

  // Creates the per-thread windows (collective, on the main thread).
  void CreateWindows() {
    for (int t = 0; t < kThreads; ++t) {
      push_tensors_.push_back(std::make_unique<HostTensor>(DLDataType{kDLFloat, 64, 1},
                                                           std::vector<int64_t>{kElements}));
      pull_tensors_.push_back(std::make_unique<HostTensor>(DLDataType{kDLFloat, 64, 1},
                                                           std::vector<int64_t>{kElements}));
      for (int64_t i = 0; i < kElements; ++i) pull_tensors_[t]->Set(i, PullValue(rank_, t, i));
      ASSERT_BF_OK(bf_win_create(push_tensors_[t]->get(), PushWindow(t).c_str(), 1));
      ASSERT_BF_OK(bf_win_create(pull_tensors_[t]->get(), PullWindow(t).c_str(), 1));
    }
  }

  void Run() {
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) workers.emplace_back([this, t] { Worker(t); });
    std::thread poller([this] { Poller(); });
    for (std::thread& worker : workers) worker.join();
    stop_polling_.store(true);
    poller.join();
  }

  // After every rank's threads are done: the push windows hold the last put plus half the last
  // accumulate of each in-neighbor, and every put and accumulate was counted.
  void CheckWindowsAndFree() {
    ASSERT_BF_OK(bf_barrier());
    for (int t = 0; t < kThreads; ++t) {
      const std::string name = PushWindow(t);
      std::vector<int> ranks(in_neighbors_.size() + 1), versions(in_neighbors_.size() + 1);
      int count = -1;
      ASSERT_BF_OK(bf_win_versions(name.c_str(), ranks.data(), versions.data(),
                                   static_cast<int>(ranks.size()), &count));
      ASSERT_EQ(count, static_cast<int>(in_neighbors_.size()));
      for (int j = 0; j < count; ++j) {
        EXPECT_EQ(ranks[j], in_neighbors_[j]);
        EXPECT_EQ(versions[j], 2 * kIterations) << name << " from rank " << ranks[j];
      }
      HostTensor out(DLDataType{kDLFloat, 64, 1}, {kElements});
      std::vector<double> weights(in_neighbors_.size(), 1.0);
      bf_win_update_args args{sizeof(args)};
      args.has_weights = 1;
      args.self_weight = 0.0;
      args.count = static_cast<int>(in_neighbors_.size());
      args.ranks = in_neighbors_.data();
      args.weights = weights.data();
      ASSERT_BF_OK(bf_win_update(name.c_str(), &args, out.get()));
      const std::string diff = CompareTensor(out, [&](int64_t i) {
        double sum = 0;
        for (int j : in_neighbors_) {
          const double last = Value(j, t, kIterations - 1, i);
          sum += last + 0.5 * (last + 1);
        }
        return sum;
      });
      EXPECT_EQ(diff, "") << name;
    }
    ASSERT_BF_OK(bf_win_free(nullptr));
  }

  const Failures& failures() const { return failures_; }
  int64_t polls() const { return polls_.load(); }

 private:
  void Fail(int t, int k, const std::string& what, const std::string& detail) {
    failures_.Add("[rank " + std::to_string(rank_) + "] thread " + std::to_string(t) +
                  " iteration " + std::to_string(k) + " " + what + ": " + detail);
  }
  void ExpectOk(int t, int k, const std::string& what, bf_status status) {
    if (status != BF_OK) {
      Fail(t, k, what, std::string(bf_status_string(status)) + ": " + bf_last_error());
    }
  }

  void ExpectOkOrNoTimeline(int t, int k, bf_status status) {
    if (status != BF_ERR_UNSUPPORTED) ExpectOk(t, k, "timeline activity", status);
  }

  std::unique_ptr<HostTensor> Filled(DLDataType type, std::vector<int64_t> shape, int t, int k) {
    auto tensor = std::make_unique<HostTensor>(type, std::move(shape));
    for (int64_t i = 0; i < tensor->size(); ++i) tensor->Set(i, Value(rank_, t, k, i));
    return tensor;
  }

  // Issues the async operations of one iteration; the returned batch goes to another thread.
  Batch IssueAsync(int t, int k) {
    Batch batch;
    const DLDataType f32{kDLFloat, 32, 1}, f64{kDLFloat, 64, 1}, i32{kDLInt, 32, 1};
    auto add = [&](std::unique_ptr<Pending> pending, bf_status status) {
      if (status != BF_OK) {
        Fail(t, k, pending->what + " (issue)",
             std::string(bf_status_string(status)) + ": " + bf_last_error());
        return;
      }
      recent_.Add(pending->handle);
      batch.push_back(std::move(pending));
    };

    {  // neighbor_allreduce with explicit dyadic weights; in place on odd iterations
      auto p = std::make_unique<Pending>();
      p->what = OpName(t, k, "neighbor_allreduce");
      p->in = Filled(k % 2 ? f32 : f64, {kElements}, t, k);
      if (k % 2 == 0) p->out = std::make_unique<HostTensor>(f64, std::vector<int64_t>{kElements});
      std::vector<double> weights(in_neighbors_.size(), 0.25);
      bf_neighbor_args args{sizeof(args)};
      args.name = p->what.c_str();
      args.has_weights = 1;
      args.self_weight = 0.5;
      args.src_count = static_cast<int>(in_neighbors_.size());
      args.src_ranks = in_neighbors_.data();
      args.src_weights = weights.data();
      HostTensor* out = p->out ? p->out.get() : p->in.get();
      p->check = [this, t, k, out](Pending&) {
        return CompareTensor(*out, [&](int64_t i) {
          double sum = 0.5 * Value(rank_, t, k, i);
          for (int j : in_neighbors_) sum += 0.25 * Value(j, t, k, i);
          return sum;
        });
      };
      const bf_status status =
          bf_neighbor_allreduce_async(p->in->get(), out->get(), &args, &p->handle);
      add(std::move(p), status);
    }
    {  // allreduce, sum, float64 or int32
      auto p = std::make_unique<Pending>();
      p->what = OpName(t, k, "allreduce");
      const DLDataType type = k % 2 ? i32 : f64;
      p->in = Filled(type, {kElements}, t, k);
      p->out = std::make_unique<HostTensor>(type, std::vector<int64_t>{kElements});
      bf_allreduce_args args{sizeof(args)};
      args.name = p->what.c_str();
      args.op = BF_REDUCE_SUM;
      p->check = [this, t, k](Pending& self) {
        return CompareTensor(*self.out, [&](int64_t i) {
          double sum = 0;
          for (int r = 0; r < size_; ++r) sum += Value(r, t, k, i);
          return sum;
        });
      };
      const bf_status status = bf_allreduce_async(p->in->get(), p->out->get(), &args, &p->handle);
      add(std::move(p), status);
    }
    {  // broadcast from a root that moves with thread and iteration
      auto p = std::make_unique<Pending>();
      p->what = OpName(t, k, "broadcast");
      const int root = (t + k) % size_;
      p->in = Filled(f32, {kElements}, t, k);
      p->out = std::make_unique<HostTensor>(f32, std::vector<int64_t>{kElements});
      bf_op_args args{sizeof(args), p->what.c_str()};
      p->check = [t, k, root](Pending& self) {
        return CompareTensor(*self.out, [&](int64_t i) { return Value(root, t, k, i); });
      };
      const bf_status status =
          bf_broadcast_async(p->in->get(), p->out->get(), root, &args, &p->handle);
      add(std::move(p), status);
    }
    {  // allgather: rank r contributes r + 1 rows
      auto p = std::make_unique<Pending>();
      p->what = OpName(t, k, "allgather");
      p->in = Filled(f64, {rank_ + 1, 3}, t, k);
      bf_op_args args{sizeof(args), p->what.c_str()};
      p->check = [this, t, k](Pending& self) -> std::string {
        const DLTensor& got = self.gathered->dl_tensor;
        const int64_t rows = static_cast<int64_t>(size_) * (size_ + 1) / 2;
        if (got.ndim != 2 || got.shape[0] != rows || got.shape[1] != 3) return "wrong shape";
        const double* data =
            reinterpret_cast<const double*>(static_cast<const char*>(got.data) + got.byte_offset);
        int64_t row = 0;
        for (int r = 0; r < size_; ++r) {
          for (int64_t i = 0; i < (r + 1) * 3; ++i) {
            if (data[row * 3 + i] != Value(r, t, k, i)) {
              return "rank " + std::to_string(r) + " element " + std::to_string(i) + " is " +
                     std::to_string(data[row * 3 + i]);
            }
          }
          row += r + 1;
        }
        return "";
      };
      const bf_status status = bf_allgather_async(p->in->get(), &p->gathered, &args, &p->handle);
      add(std::move(p), status);
    }
    if (peer_ >= 0) {  // pair gossip with rank ^ 1
      auto p = std::make_unique<Pending>();
      p->what = OpName(t, k, "pair_gossip");
      p->in = Filled(f64, {kElements}, t, k);
      p->out = std::make_unique<HostTensor>(f64, std::vector<int64_t>{kElements});
      bf_op_args args{sizeof(args), p->what.c_str()};
      const int peer = peer_;
      p->check = [this, t, k, peer](Pending& self) {
        return CompareTensor(*self.out, [&](int64_t i) {
          return 0.5 * Value(rank_, t, k, i) + 0.5 * Value(peer, t, k, i);
        });
      };
      const bf_status status =
          bf_pair_gossip_async(p->in->get(), p->out->get(), peer, 0.5, 0.5, &args, &p->handle);
      add(std::move(p), status);
    }
    if (k % 2 == 0) {  // window put then accumulate, async (applied in issue order)
      const std::string window = PushWindow(t);
      auto put = std::make_unique<Pending>();
      put->what = OpName(t, k, "win_put");
      put->in = Filled(f64, {kElements}, t, k);
      put->check = [](Pending&) { return std::string(); };
      const bf_status put_status =
          bf_win_put_async(put->in->get(), window.c_str(), nullptr, &put->handle);
      add(std::move(put), put_status);

      auto acc = std::make_unique<Pending>();
      acc->what = OpName(t, k, "win_accumulate");
      acc->in = Filled(f64, {kElements}, t, k);
      for (int64_t i = 0; i < kElements; ++i) acc->in->Set(i, Value(rank_, t, k, i) + 1);
      std::vector<double> halves(out_neighbors_.size(), 0.5);
      bf_win_op_args args{sizeof(args)};
      args.has_ranks = 1;
      args.count = static_cast<int>(out_neighbors_.size());
      args.ranks = out_neighbors_.data();
      args.weights = halves.data();
      acc->check = [](Pending&) { return std::string(); };
      const bf_status acc_status =
          bf_win_accumulate_async(acc->in->get(), window.c_str(), &args, &acc->handle);
      add(std::move(acc), acc_status);
    }
    return batch;
  }

  // Blocking operations of one iteration, on the issuing thread.
  void RunBlocking(int t, int k) {
    const DLDataType f64{kDLFloat, 64, 1};
    {  // neighbor_allgather of two elements per in-neighbor, in ascending rank order
      auto in = Filled(f64, {2}, t, k);
      DLManagedTensor* gathered = nullptr;
      const std::string name = OpName(t, k, "neighbor_allgather");
      bf_neighbor_args args{sizeof(args)};
      args.name = name.c_str();
      const bf_status status = bf_neighbor_allgather(in->get(), &gathered, &args);
      ExpectOk(t, k, name, status);
      if (status == BF_OK) {
        const DLTensor& got = gathered->dl_tensor;
        const auto count = static_cast<int64_t>(in_neighbors_.size());
        if (got.ndim != 1 || got.shape[0] != 2 * count) {
          Fail(t, k, name, "wrong shape");
        } else {
          const double* data =
              reinterpret_cast<const double*>(static_cast<const char*>(got.data) + got.byte_offset);
          for (int64_t j = 0; j < count; ++j) {
            for (int64_t i = 0; i < 2; ++i) {
              if (data[j * 2 + i] != Value(in_neighbors_[j], t, k, i)) {
                Fail(t, k, name,
                     "from rank " + std::to_string(in_neighbors_[j]) + " element " +
                         std::to_string(i) + " is " + std::to_string(data[j * 2 + i]));
              }
            }
          }
        }
        gathered->deleter(gathered);
      }
    }
    if (k % 2 == 1) {  // blocking put then accumulate on the push window
      const std::string window = PushWindow(t);
      auto put = Filled(f64, {kElements}, t, k);
      ExpectOk(t, k, "win_put", bf_win_put(put->get(), window.c_str(), nullptr));
      auto acc = Filled(f64, {kElements}, t, k);
      for (int64_t i = 0; i < kElements; ++i) acc->Set(i, Value(rank_, t, k, i) + 1);
      std::vector<double> halves(out_neighbors_.size(), 0.5);
      bf_win_op_args args{sizeof(args)};
      args.has_ranks = 1;
      args.count = static_cast<int>(out_neighbors_.size());
      args.ranks = out_neighbors_.data();
      args.weights = halves.data();
      ExpectOk(t, k, "win_accumulate", bf_win_accumulate(acc->get(), window.c_str(), &args));
    }
    {  // get half of every in-neighbor's constant pull tensor, then a clone update
      const std::string window = PullWindow(t);
      std::vector<double> halves(in_neighbors_.size(), 0.5);
      bf_win_op_args get_args{sizeof(get_args)};
      get_args.has_ranks = 1;
      get_args.count = static_cast<int>(in_neighbors_.size());
      get_args.ranks = in_neighbors_.data();
      get_args.weights = halves.data();
      ExpectOk(t, k, "win_get", bf_win_get(window.c_str(), &get_args));
      std::vector<double> ones(in_neighbors_.size(), 1.0);
      bf_win_update_args update_args{sizeof(update_args)};
      update_args.has_weights = 1;
      update_args.self_weight = 1.0;
      update_args.count = static_cast<int>(in_neighbors_.size());
      update_args.ranks = in_neighbors_.data();
      update_args.weights = ones.data();
      HostTensor out(f64, {kElements});
      const bf_status status = bf_win_update(window.c_str(), &update_args, out.get());
      ExpectOk(t, k, "win_update", status);
      if (status == BF_OK) {
        const std::string diff = CompareTensor(out, [&](int64_t i) {
          double sum = PullValue(rank_, t, i);
          for (int s : in_neighbors_) sum += 0.5 * PullValue(s, t, i);
          return sum;
        });
        if (!diff.empty()) Fail(t, k, "win_update of " + window, diff);
      }
    }
    {  // an invalid call: its error message stays on this thread
      HostTensor in(f64, {kElements});
      if (bf_neighbor_allreduce(in.get(), nullptr, nullptr) != BF_ERR_INVALID_ARGUMENT ||
          std::string(bf_last_error()).find("out") == std::string::npos) {
        Fail(t, k, "invalid neighbor_allreduce", bf_last_error());
      }
    }
  }

  // Waits for (three different ways), checks and frees another thread's handles.
  void Complete(int t, int k, Batch batch) {
    for (auto& p : batch) {
      bf_status status = BF_ERR_TIMEOUT;
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitLimitMs);
      switch (p->handle % 3) {
        case 0:
          status = bf_wait(p->handle, kWaitLimitMs);
          break;
        case 1:  // short timeouts, as a caller overlapping work would
          while ((status = bf_wait(p->handle, 2)) == BF_ERR_TIMEOUT &&
                 std::chrono::steady_clock::now() < deadline) {
          }
          break;
        default:  // poll, then collect the status with a zero timeout
          for (;;) {
            int done = 0;
            ExpectOk(t, k, p->what + " bf_poll", bf_poll(p->handle, &done));
            if (done || std::chrono::steady_clock::now() > deadline) break;
            std::this_thread::sleep_for(std::chrono::microseconds(200));
          }
          status = bf_wait(p->handle, 0);
          break;
      }
      if (status == BF_ERR_TIMEOUT) {
        Fail(t, k, p->what, "did not complete; its memory is leaked on purpose");
        (void)p.release();
        continue;
      }
      ExpectOk(t, k, p->what + " (wait)", status);
      if (status == BF_OK) {
        const std::string diff = p->check(*p);
        if (!diff.empty()) Fail(t, k, p->what, diff);
      }
      ExpectOk(t, k, p->what + " (free)", bf_handle_free(p->handle));
      if (bf_handle_free(p->handle) != BF_ERR_INVALID_ARGUMENT) {
        Fail(t, k, p->what, "a second bf_handle_free was not refused");
      }
      if (p->gathered != nullptr) p->gathered->deleter(p->gathered);
    }
  }

  // Thread t: issues iteration k, hands its handles to thread t + 1, completes thread t - 1's.
  // Every thread issues iteration k before waiting on anything of it, so no rank can block an
  // operation another rank waits for.
  void Worker(int t) {
    const std::string row = "conc.t" + std::to_string(t);
    for (int k = 0; k < kIterations; ++k) {
      // Caller activities on the timeline, from every thread (BF_ERR_UNSUPPORTED when it is off).
      ExpectOkOrNoTimeline(t, k, bf_timeline_start_activity(row.c_str(), "ISSUE"));
      queues_[(t + 1) % kThreads].Push(IssueAsync(t, k));
      ExpectOkOrNoTimeline(t, k, bf_timeline_end_activity(row.c_str()));
      RunBlocking(t, k);
      Complete(t, k, queues_[t].Pop());
    }
  }

  // Polls and waits (without blocking) on recent handles: a handle answers OK (done or not)
  // until freed, then INVALID_ARGUMENT, and once seen done it stays done.
  void Poller() {
    std::set<bf_handle> seen_done;
    while (!stop_polling_.load()) {
      for (bf_handle handle : recent_.Snapshot()) {
        if (handle == 0) continue;
        int done = -1;
        const bf_status status = bf_poll(handle, &done);
        polls_.fetch_add(1);
        if (status == BF_OK) {
          if (done) {
            seen_done.insert(handle);
          } else if (seen_done.count(handle)) {
            Fail(-1, -1, "bf_poll", "handle " + std::to_string(handle) + " was done, then not");
          }
        } else if (status != BF_ERR_INVALID_ARGUMENT) {
          Fail(-1, -1, "bf_poll", std::string(bf_status_string(status)) + ": " + bf_last_error());
        }
        // A second waiter on the same handle, with a zero timeout.
        const bf_status waited = bf_wait(handle, 0);
        if (waited != BF_OK && waited != BF_ERR_TIMEOUT && waited != BF_ERR_INVALID_ARGUMENT) {
          Fail(-1, -1, "bf_wait", std::string(bf_status_string(waited)) + ": " + bf_last_error());
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  }

  const int rank_;
  const int size_;
  std::vector<int> in_neighbors_, out_neighbors_;
  int peer_ = -1;
  std::vector<std::unique_ptr<HostTensor>> push_tensors_, pull_tensors_;
  BatchQueue queues_[kThreads];
  RecentHandles recent_;
  std::atomic<bool> stop_polling_{false};
  std::atomic<int64_t> polls_{0};
  Failures failures_;
};

TEST(Concurrency, MixedOperationsFromFourThreadsWithHandlesWaitedElsewhere) {
  if (bf_matching_mode_in_effect() != BF_MATCHING_NAMED) {
    GTEST_SKIP() << "threads issue global operations in different orders on different ranks, "
                    "which only the named matching mode allows";
  }
  const int size = bf_size();
  ASSERT_BF_OK(UseExp2Topology());

  const auto start = std::chrono::steady_clock::now();
  ConcurrencyRun run;
  run.CreateWindows();
  if (HasFatalFailure()) return;
  run.Run();
  EXPECT_EQ(run.failures().count(), 0) << run.failures().Summary();
  run.CheckWindowsAndFree();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (bf_rank() == 0) {
    std::printf("%d threads x %d iterations at %d ranks: %.1f s, %lld polls on rank 0\n", kThreads,
                kIterations, size, seconds, static_cast<long long>(run.polls()));
  }
}

}  // namespace
}  // namespace bftest

// SPDX-License-Identifier: Apache-2.0
// Engine: the one thread that owns every MPI call. Callers enqueue validated Ops; the engine runs
// them in issue order and completes their handles. It sleeps on a condition variable when idle.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "backend/mpi/mpi_backend.h"
#include "core/op.h"

namespace bluefog {

class Engine {
 public:
  // What the engine does with each op; runs on the engine thread with the backend.
  using Executor = std::function<Status(Op&, Backend&, const ProcessLayout&)>;

  // Starts the thread, which initializes the backend; returns once the layout is known.
  static Status Start(const MpiBackend::Options& options, Executor executor,
                      std::unique_ptr<Engine>* out);
  ~Engine();

  // Queues `op`; its completion fires when it has run. BF_ERR_SHUTDOWN once Stop has begun.
  Status Enqueue(std::unique_ptr<Op> op);
  // Runs everything queued, then shuts the backend down and joins the thread.
  Status Stop();

  const ProcessLayout& layout() const { return layout_; }
  // Ops enqueued and not yet completed.
  int in_flight() const { return in_flight_.load(); }

 private:
  Engine() = default;
  void Run(MpiBackend::Options options, std::promise<Status>* started);

  Executor executor_;
  ProcessLayout layout_;
  std::unique_ptr<MpiBackend> backend_;
  std::thread thread_;

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<std::unique_ptr<Op>> queue_;
  bool stopping_ = false;
  bool engine_sleeping_ = false;        // guarded by queue_mutex_: Enqueue must notify
  std::atomic<int> queued_{0};          // lock-free view of queue_.size() for the spin phase
  std::atomic<int> in_flight_{0};
  Status shutdown_status_;
};

}  // namespace bluefog

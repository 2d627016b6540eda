// SPDX-License-Identifier: Apache-2.0
// Engine thread: backend start-up, the run loop, and draining at shutdown.
#include "core/engine.h"

#include "core/backoff.h"

namespace bluefog {

Status Engine::Start(const MpiBackend::Options& options, Executor executor,
                     std::unique_ptr<Engine>* out) {
  std::unique_ptr<Engine> engine(new Engine());
  engine->executor_ = std::move(executor);
  std::promise<Status> started;
  std::future<Status> started_future = started.get_future();
  engine->thread_ = std::thread(&Engine::Run, engine.get(), options, &started);
  Status status = started_future.get();
  if (!status.ok()) {
    engine->thread_.join();  // Run returned after reporting the failure
    return status;
  }
  *out = std::move(engine);
  return Status::Ok();
}

Engine::~Engine() {
  if (thread_.joinable()) (void)Stop();
}

void Engine::Run(MpiBackend::Options options, std::promise<Status>* started) {
  Status status = MpiBackend::Create(options, &backend_);
  if (!status.ok()) {
    backend_.reset();
    started->set_value(std::move(status));
    return;
  }
  layout_ = backend_->layout();
  started->set_value(Status::Ok());

  for (;;) {
    std::unique_ptr<Op> op;
    // Callers often issue the next op right away: look for it briefly before sleeping.
    SpinBriefly([this] { return queued_.load(std::memory_order_acquire) > 0; },
                std::chrono::microseconds(50));
    {
      std::unique_lock<std::mutex> lock(queue_mutex_);
      engine_sleeping_ = true;
      queue_cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      engine_sleeping_ = false;
      if (queue_.empty()) break;  // stopping and drained
      op = std::move(queue_.front());
      queue_.pop_front();
      queued_.fetch_sub(1, std::memory_order_relaxed);
    }
    Status result = executor_(*op, *backend_, layout_);
    auto completion = op->completion;
    op.reset();  // release op-owned resources before waking the waiter
    --in_flight_;
    completion->Complete(std::move(result));
  }
  shutdown_status_ = backend_->Shutdown();
  backend_.reset();
}

Status Engine::Enqueue(std::unique_ptr<Op> op) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    if (stopping_) {
      return Status(BF_ERR_SHUTDOWN, "BlueFog is shutting down; the operation was not queued");
    }
    ++in_flight_;
    queue_.push_back(std::move(op));
    queued_.fetch_add(1, std::memory_order_release);
    wake = engine_sleeping_;
  }
  if (wake) queue_cv_.notify_one();
  return Status::Ok();
}

Status Engine::Stop() {
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    stopping_ = true;
  }
  queue_cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  return shutdown_status_;
}

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Engine: the one thread that owns every MPI call. Callers enqueue validated Ops; the engine
// starts neighbor ops at once (they match by name through the mailbox, in any order), orders
// global ops across ranks (negotiated by name, or in issue order), completes handles, and warns
// about ops that stall. It sleeps on a condition variable when it has nothing to do.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "backend/mpi/mpi_backend.h"
#include "core/host_storage_pool.h"
#include "core/op.h"
#include "core/timeline.h"
#include "ops/compression.h"
#include "ops/execute.h"
#include "window/window.h"
#include "window/window_service.h"

namespace bluefog {

class Engine {
 public:
  struct Settings {
    bf_matching_mode matching = BF_MATCHING_NAMED;
    double stall_warning_s = 60.0;  // <= 0: never warn
    size_t fusion_threshold_bytes = size_t{8} << 20;
    double cycle_time_ms = 0.0;
    int64_t window_chunk_elements = 0;  // 0: no limit beyond the transport's
    bool window_shared_memory = true;   // same-machine window peers write buffers directly
  };

  // Starts the thread, which initializes the backend; returns once the layout is known.
  static Status Start(const MpiBackend::Options& options, const Settings& settings,
                      std::unique_ptr<Engine>* out);
  ~Engine();

  // Queues `op`; its completion fires when it has run. BF_ERR_SHUTDOWN once Stop has begun;
  // BF_ERR_INVALID_ARGUMENT if an op of the same name is still in flight on this rank.
  Status Enqueue(std::unique_ptr<Op> op);
  // Runs everything queued, then shuts the backend down and joins the thread.
  Status Stop();

  // bf_suspend / bf_resume: while suspended Enqueue refuses every op (BF_ERR_SUSPENDED) and the
  // engine, once what was queued has finished, sleeps on its condition variable (waking every
  // kSuspendedServicePeriod to serve peers' window requests while windows exist).
  void Suspend();
  void Resume();
  bool suspended() const;

  // Where the engine records op phases (null: off). Set before the first op is enqueued.
  void set_timeline(Timeline* timeline) { timeline_.store(timeline); }

  const ProcessLayout& layout() const { return layout_; }
  // Switched at run time by a set_matching_mode op (engine thread); read by any thread.
  bf_matching_mode matching_mode() const { return matching_.load(std::memory_order_acquire); }
  // Ops enqueued and not yet completed.
  int in_flight() const { return in_flight_.load(); }
  // The windows that exist on this rank (callers validate against them; the engine serves them).
  WindowRegistry& windows() { return windows_; }
  // Error-feedback estimates of compressed neighbor ops (engine thread only; ops carry a pointer).
  FeedbackStore* feedback() { return &feedback_; }

 private:
  Engine() = default;
  void Run(MpiBackend::Options options, std::promise<Status>* started);
  bool has_ops() const {
    return !active_.empty() || !awaiting_order_.empty() || !window_ops_.empty() ||
           !arriving_.empty() || !copying_out_.empty();
  }
  // Ops in flight, or windows to serve: the loop keeps polling instead of sleeping.
  bool busy() const { return has_ops() || (window_service_ && window_service_->busy()); }

  // Engine-thread steps.
  // Takes newly queued ops in issue order; those with device tensors first copy their input to
  // the host (device/staging.h), and the ops behind them wait, so issue order is kept.
  void Admit(std::deque<std::unique_ptr<Op>> ops);
  void AdmitInOrder(std::deque<std::unique_ptr<Op>> ops);
  // Polls the copies of staged ops: admits ops whose input has arrived, completes ops whose
  // result has reached the device.
  void AdvanceDeviceCopies(bool* progressed);
  void StartNeighbors(std::vector<std::unique_ptr<Op>>* ops);
  void RunOrdered(std::unique_ptr<Op> op);  // a globally ordered op whose turn has come
  // set_matching_mode on every rank at the same point of the global order: agree, then switch.
  Status SwitchMatchingMode(const Op& op);
  // While suspended and idle: sleeps until resumed, stopped or (with windows) the next service
  // pass is due.
  void SleepWhileSuspended(bool progressed_last_pass);
  // Runs the ops a negotiation round made ready (the same list on every rank), grouping device
  // ops and fusing host allreduce ops when every rank would group them the same way.
  void RunReady(std::vector<std::unique_ptr<Op>> ready);
  // Runs the device ops among `ready` that group (ops/device_ops.cc) as one group, once every
  // rank has agreed to; those that ran are moved out of `ready`.
  void RunDeviceGroup(std::vector<std::unique_ptr<Op>>* ready);
  Status AdvanceNeighborOps(bool* progressed);
  Status AdvanceNegotiation(bool* progressed);
  Status AdvanceWindowOps(bool* progressed);
  // Fails the ops that wait on a rank that has left (bf_finalize): they cannot complete.
  void FailOpsWaitingOnDeparted();
  bool departed(int rank) const;
  // Globally ordered ops (allreduce, broadcast, ..., and neighbor ops that need the global order)
  // run in the same sequence on every rank; `position` counts them from 0. Whether a rank that
  // has left had not run the op at `position` (so it cannot complete), and that op's error then.
  bool MissedByDeparted(uint64_t position) const;
  Status ShutDownBefore(uint64_t position, const Op& op) const;
  // Marks the ordered ops this rank runs next (count of them; 0: a step before them, such as an
  // agreement) while they run: waits in the backend are abandoned for a departed rank only if it
  // missed them.
  struct OrderedRun {
    OrderedRun(Engine* engine, size_t count)
        : engine(engine), position(engine->ordered_started_) {
      engine->ordered_started_ += count;
      engine->running_ordered_ = position;
    }
    ~OrderedRun() { engine->running_ordered_ = kNoOrderedOp; }
    OrderedRun(const OrderedRun&) = delete;
    OrderedRun& operator=(const OrderedRun&) = delete;
    Engine* engine;
    const uint64_t position;
  };
  // Tells every other rank this one is leaving, then waits (bounded) for their notices, so that
  // nothing is still addressed to this rank's communicator when it is freed. True if every
  // other rank's notice arrived.
  bool AnnounceDeparture();
  // Completes `op` (an op on device tensors first copies its result back).
  void Finish(std::unique_ptr<Op> op, Status status);
  // Releases `op` and settles its completion; its waiters are woken by the next WakeWaiters.
  void Complete(std::unique_ptr<Op> op, Status status);
  // Wakes the waiters of every op completed since the last call: at the end of each pass of the
  // loop and before each globally ordered op runs (which may block in a collective).
  void WakeWaiters();
  void WarnAboutStalls();

  Settings settings_;
  std::atomic<bf_matching_mode> matching_{BF_MATCHING_NAMED};
  ProcessLayout layout_;
  std::unique_ptr<MpiBackend> backend_;
  std::thread thread_;

  // Shared with callers.
  mutable std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<std::unique_ptr<Op>> queue_;
  bool stopping_ = false;
  bool suspended_ = false;        // guarded by queue_mutex_
  std::atomic<bool> suspended_hint_{false};  // lock-free view of suspended_ for the loop
  bool engine_sleeping_ = false;  // guarded by queue_mutex_: Enqueue must notify
  std::atomic<int> queued_{0};    // lock-free view of queue_.size() for the spin phase
  std::atomic<int> in_flight_{0};
  std::mutex names_mutex_;
  std::unordered_set<std::string> names_in_flight_;
  Status shutdown_status_;

  std::atomic<Timeline*> timeline_{nullptr};
  // Storage of gathered results; closed when the thread ends (results may outlive the engine).
  const std::shared_ptr<HostStoragePool> result_storage_ = std::make_shared<HostStoragePool>();
  WindowRegistry windows_;

  // Engine thread only.
  std::deque<std::unique_ptr<Op>> arriving_;            // issue order; the front copies in
  std::vector<std::unique_ptr<Op>> copying_out_;        // ran; results on their way to devices
  std::vector<std::unique_ptr<Op>> active_;             // neighbor ops started, not finished
  std::vector<std::unique_ptr<Op>> window_ops_;         // window ops started, not finished
  std::unique_ptr<WindowService> window_service_;
  DeviceComms device_comms_;  // created by the first op on the device communicator
  FeedbackStore feedback_;
  std::vector<int> departed_;  // ranks that have announced bf_finalize
  static constexpr uint64_t kNoOrderedOp = ~uint64_t{0};
  uint64_t ordered_started_ = 0;  // globally ordered ops this rank has started
  uint64_t running_ordered_ = kNoOrderedOp;  // position of the one running now
  // The fewest ordered ops any departed rank had started when it left (its notice says).
  uint64_t ordered_run_by_departed_ = kNoOrderedOp;
  size_t departures_handled_ = 0;
  std::deque<std::unique_ptr<Op>> awaiting_order_;      // named mode: waiting for negotiation
  std::unique_ptr<NegotiationRound> round_;
  bool new_names_to_offer_ = false;
  std::chrono::steady_clock::time_point last_stall_check_{};
  std::vector<std::shared_ptr<Completion>> to_wake_;  // settled, waiters not yet woken
};

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Engine thread: backend start-up, the event loop (admit, progress, finish, negotiate, watch for
// stalls, back off), and draining at shutdown.
#include "core/engine.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "core/backoff.h"
#include "device/staging.h"
#include "ops/agreement.h"
#include "ops/execute.h"

namespace bluefog {

namespace {

// How often a suspended engine wakes to serve peers' window requests while windows exist.
constexpr auto kSuspendedServicePeriod = std::chrono::milliseconds(50);

// Dynamic neighbor ops that check their plan first run a global allgather, so they need the
// same cross-rank ordering as global collectives.
// Ops on the device communicator too: NCCL matches a pair's transfers in posting order, so
// every rank must run them in the same order.
bool NeedsGlobalOrder(const Op& op) {
  return IsGlobal(op.kind) || (op.neighbor.dynamic && op.neighbor.check_topology) ||
         (op.stage && op.stage->direct);
}

std::string RankList(const std::vector<int>& ranks) {
  std::ostringstream text;
  for (size_t i = 0; i < ranks.size(); ++i) text << (i ? ", " : "") << ranks[i];
  return text.str();
}

}  // namespace

Status Engine::Start(const MpiBackend::Options& options, const Settings& settings,
                     std::unique_ptr<Engine>* out) {
  std::unique_ptr<Engine> engine(new Engine());
  engine->settings_ = settings;
  engine->matching_.store(settings.matching);
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
  window_service_ = std::make_unique<WindowService>(*backend_, windows_, layout_.rank,
                                                    settings_.window_chunk_elements,
                                                    settings_.window_shared_memory);
  backend_->SetUnsolicitedHandler([this](std::unique_ptr<ReceivedMessage> message) {
    if (message->header.op_kind == WireHeader::kDeparture) {
      departed_.push_back(message->source);
      ordered_run_by_departed_ = std::min(
          ordered_run_by_departed_, static_cast<uint64_t>(message->header.payload_elements));
      return;
    }
    window_service_->Handle(std::move(message));
  });
  backend_->SetPeerGoneCheck([this] {
    return running_ordered_ == kNoOrderedOp ? !departed_.empty()
                                            : MissedByDeparted(running_ordered_);
  });
  backend_->SetPollHook([this] { window_service_->ServePending(); });
  started->set_value(Status::Ok());

  Backoff backoff;
  bool progressed_last_pass = false;
  for (;;) {
    SleepWhileSuspended(progressed_last_pass);
    std::deque<std::unique_ptr<Op>> admitted;
    if (!busy()) {
      // Callers often issue the next op right away: look for it briefly before sleeping.
      SpinBriefly([this] { return queued_.load(std::memory_order_acquire) > 0; },
                  std::chrono::microseconds(50));
    }
    {
      std::unique_lock<std::mutex> lock(queue_mutex_);
      if (!busy()) {
        engine_sleeping_ = true;
        queue_cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
        engine_sleeping_ = false;
        if (queue_.empty()) break;  // stopping and drained
      } else if (stopping_ && queue_.empty() && !has_ops()) {
        break;  // only windows left to serve, and the process is leaving
      }
      admitted.swap(queue_);
      queued_.store(0, std::memory_order_release);
    }
    if (!admitted.empty() && settings_.cycle_time_ms > 0) {
      // Give the caller a moment to queue more operations that can share messages.
      std::this_thread::sleep_for(
          std::chrono::duration<double, std::milli>(settings_.cycle_time_ms));
      std::lock_guard<std::mutex> lock(queue_mutex_);
      for (auto& op : queue_) admitted.push_back(std::move(op));
      queue_.clear();
      queued_.store(0, std::memory_order_release);
    }
    bool progressed = !admitted.empty();
    Admit(std::move(admitted));
    if (!arriving_.empty() || !copying_out_.empty()) AdvanceDeviceCopies(&progressed);

    // Finish what needs no MPI call first: with mpi_yield_when_idle every MPI progress call may
    // give the core away, which oversubscribed ranks feel as latency.
    bool moved = false;
    Status step = AdvanceNeighborOps(&progressed);
    if (step.ok() && busy()) {
      step = backend_->Progress(&moved);
      if (step.ok() && moved) step = AdvanceNeighborOps(&progressed);
    }
    if (step.ok()) step = AdvanceWindowOps(&progressed);
    if (departures_handled_ != departed_.size() || (!departed_.empty() && has_ops())) {
      FailOpsWaitingOnDeparted();
      departures_handled_ = departed_.size();
    }
    if (step.ok() && matching_mode() == BF_MATCHING_NAMED) step = AdvanceNegotiation(&progressed);
    if (!step.ok()) {
      // The transport itself failed: nothing in flight can complete any more.
      std::fprintf(stderr, "bluefog: rank %d: engine error: %s\n", layout_.rank,
                   step.message().c_str());
      while (!active_.empty()) {
        Finish(std::move(active_.back()), step);
        active_.pop_back();
      }
      while (!awaiting_order_.empty()) {
        Finish(std::move(awaiting_order_.front()), step);
        awaiting_order_.pop_front();
      }
      while (!window_ops_.empty()) {
        Finish(std::move(window_ops_.back()), step);
        window_ops_.pop_back();
      }
      round_.reset();
    }
    WarnAboutStalls();
    WakeWaiters();
    progressed_last_pass = progressed || moved;
    if (progressed || moved) {
      backoff.Progressed();
    } else if (busy()) {
      // A device copy in flight finishes on its own, soon: keep polling it like a transfer.
      const bool copying = !arriving_.empty() || !copying_out_.empty();
      backoff.Pause(/*waiting_for_peer=*/!backend_->transferring() && !copying);
    }
  }
  round_.reset();
  WakeWaiters();
  const bool everyone_left = AnnounceDeparture();
  backend_->SetUnsolicitedHandler(nullptr);
  backend_->SetPollHook(nullptr);
  window_service_.reset();
  for (const auto& window : windows_.All()) windows_.Remove(window->name);
  device_comms_ = {};  // before the MPI communicators the emulation duplicated
  shutdown_status_ = backend_->Shutdown(/*free_communicators=*/everyone_left);
  backend_.reset();
  result_storage_->Close();
}

void Engine::Admit(std::deque<std::unique_ptr<Op>> ops) {
  if (arriving_.empty() &&
      std::none_of(ops.begin(), ops.end(), [](const auto& op) { return op->stage != nullptr; })) {
    return AdmitInOrder(std::move(ops));  // host tensors only: nothing to wait for
  }
  for (auto& op : ops) {
    if (op->stage) {
      if (Status status = StartCopyIn(*op); !status.ok()) {
        Complete(std::move(op), std::move(status));
        continue;
      }
    }
    arriving_.push_back(std::move(op));
  }
  bool progressed = false;
  AdvanceDeviceCopies(&progressed);
}

void Engine::AdvanceDeviceCopies(bool* progressed) {
  Timeline* timeline = timeline_.load(std::memory_order_relaxed);
  auto span = [&](const Op& op, const char* phase) {
    if (timeline) timeline->Span(op.name, phase, op.stage->copy_started, Timeline::Clock::now());
  };
  std::deque<std::unique_ptr<Op>> ready;
  while (!arriving_.empty()) {
    Op& front = *arriving_.front();
    if (front.stage && front.stage->phase == DeviceStage::Phase::kCopyingIn) {
      bool done = false;
      Status status = PollCopy(front, &done);
      if (status.ok() && !done) break;  // the ops behind it keep their place
      span(front, front.stage->mpi_direct ? "DEVICE_INPUT_READY" : "COPY_TO_HOST");
      if (!status.ok()) {
        std::unique_ptr<Op> failed = std::move(arriving_.front());
        arriving_.pop_front();
        Complete(std::move(failed), std::move(status));
        *progressed = true;
        continue;
      }
    }
    ready.push_back(std::move(arriving_.front()));
    arriving_.pop_front();
  }
  if (!ready.empty()) {
    *progressed = true;
    AdmitInOrder(std::move(ready));
  }
  for (size_t i = 0; i < copying_out_.size();) {
    bool done = false;
    Status status = PollCopy(*copying_out_[i], &done);
    if (status.ok() && !done) {
      ++i;
      continue;
    }
    std::unique_ptr<Op> op = std::move(copying_out_[i]);
    copying_out_.erase(copying_out_.begin() + static_cast<std::ptrdiff_t>(i));
    span(*op, op->stage->direct       ? "DEVICE_COMMUNICATE"
              : op->stage->mpi_direct ? "DEVICE_RESULT_READY"
                                      : "COPY_TO_DEVICE");
    Complete(std::move(op), std::move(status));
    *progressed = true;
  }
}

void Engine::AdmitInOrder(std::deque<std::unique_ptr<Op>> ops) {
  Timeline* timeline = timeline_.load(std::memory_order_relaxed);
  const auto now = std::chrono::steady_clock::now();
  // Neighbor ops queued together start together, so their messages can share fused sends.
  std::vector<std::unique_ptr<Op>> neighbor_ops;
  for (auto& op : ops) {
    op->posted_at = now;
    if (timeline) timeline->Span(op->name, "QUEUE", op->queued_at, now);
    if (IsWindowOp(op->kind)) {
      // One-sided: needs no agreement with anyone, so it starts at once.
      Status status = window_service_->Start(*op);
      if (status.ok()) {
        window_ops_.push_back(std::move(op));
      } else {
        Finish(std::move(op), status);
      }
    } else if (!NeedsGlobalOrder(*op)) {
      neighbor_ops.push_back(std::move(op));
    } else if (matching_mode() == BF_MATCHING_NAMED) {
      awaiting_order_.push_back(std::move(op));
      new_names_to_offer_ = true;
    } else {
      StartNeighbors(&neighbor_ops);  // keep issue order around an ordered global op
      RunOrdered(std::move(op));
    }
  }
  StartNeighbors(&neighbor_ops);
}

void Engine::StartNeighbors(std::vector<std::unique_ptr<Op>>* ops) {
  if (ops->empty()) return;
  std::vector<Op*> started;
  for (auto& op : *ops) started.push_back(op.get());
  Status status = StartNeighborOps(started, *backend_, settings_.fusion_threshold_bytes);
  for (auto& op : *ops) {
    if (status.ok()) {
      active_.push_back(std::move(op));
    } else {
      Finish(std::move(op), status);
    }
  }
  ops->clear();
}

void Engine::RunOrdered(std::unique_ptr<Op> op) {
  WakeWaiters();  // what finished before this op need not wait for its collective
  const OrderedRun run(this, 1);
  if (Status gone = ShutDownBefore(run.position, *op); !gone.ok()) {
    return Finish(std::move(op), std::move(gone));
  }
  Timeline* timeline = timeline_.load(std::memory_order_relaxed);
  if (timeline && matching_mode() == BF_MATCHING_NAMED) {
    timeline->Span(op->name, "NEGOTIATE", op->posted_at, Timeline::Clock::now());
  }
  if (op->stage && op->stage->direct) {
    Status status = RunOnDevice(*op, *backend_, &device_comms_);
    return Finish(std::move(op), status);  // on success, its device work is in flight
  }
  if (IsGlobal(op->kind)) {
    Status status;
    {
      Timeline::Scope communicate(timeline, op->name, "COMMUNICATE");
      // (Placeholders for invalid arguments fail the same way for every kind: RunGlobalOp.)
      const bool window_collective =
          (op->kind == OpKind::kWinCreate || op->kind == OpKind::kWinFree) &&
          op->invalid_reason.empty();
      if (op->kind == OpKind::kSetMatchingMode) {
        status = SwitchMatchingMode(*op);
      } else {
        status = window_collective ? window_service_->RunCollective(*op)
                                   : RunGlobalOp(*op, *backend_);
      }
    }
    return Finish(std::move(op), status);
  }
  op->posted_at = std::chrono::steady_clock::now();  // communication starts now
  Status status = CheckTopologyConsistency(*op, *backend_);
  if (status.ok()) status = StartNeighborOp(*op, *backend_);
  if (!status.ok()) return Finish(std::move(op), status);
  active_.push_back(std::move(op));
}

Status Engine::AdvanceNeighborOps(bool* progressed) {
  Timeline* timeline = timeline_.load(std::memory_order_relaxed);
  // The ops of a batch sit next to each other in active_ (started together, removed in place):
  // its sends are tested once per pass, not once per op.
  const SendBatch* tested = nullptr;
  for (size_t i = 0; i < active_.size();) {
    bool arrived = false;
    Status status;
    if (const SendBatch* batch = active_[i]->progress->batch.get(); batch != tested) {
      status = TestNeighborSends(*active_[i]);
      tested = batch;
    }
    if (status.ok()) status = PollNeighborOp(*active_[i], *backend_, &arrived);
    if (!arrived && status.ok()) {
      ++i;
      continue;
    }
    std::unique_ptr<Op> op = std::move(active_[i]);
    active_.erase(active_.begin() + static_cast<std::ptrdiff_t>(i));
    if (status.ok()) {
      if (timeline) timeline->Span(op->name, "COMMUNICATE", op->posted_at, Timeline::Clock::now());
      Timeline::Scope reduce(timeline, op->name, "REDUCE");
      status = CompleteNeighborOp(*op, *backend_);
    }
    Finish(std::move(op), status);
    *progressed = true;
  }
  return Status::Ok();
}

Status Engine::AdvanceWindowOps(bool* progressed) {
  BF_RETURN_IF_ERROR(window_service_->Advance());
  Timeline* timeline = timeline_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < window_ops_.size();) {
    bool done = false;
    Status status = window_service_->Poll(*window_ops_[i], &done);
    if (!done && status.ok()) {
      ++i;
      continue;
    }
    std::unique_ptr<Op> op = std::move(window_ops_[i]);
    window_ops_.erase(window_ops_.begin() + static_cast<std::ptrdiff_t>(i));
    if (!done) window_service_->Abandon(*op);  // failed midway: forget its requests
    if (timeline) timeline->Span(op->name, "COMMUNICATE", op->posted_at, Timeline::Clock::now());
    Finish(std::move(op), status);
    *progressed = true;
  }
  return Status::Ok();
}

Status Engine::SwitchMatchingMode(const Op& op) {
  BF_RETURN_IF_ERROR(AgreeOnOp(*backend_, OpDescriptor::For(op), Group::kWorld));
  // Global ops still waiting for a negotiation round would never get one in ordered mode (and
  // the ranks could not agree where they belong in named mode): the switch needs none, anywhere.
  const auto mode = static_cast<int64_t>(op.matching_mode);
  int64_t fields[3] = {mode, -mode, awaiting_order_.empty() ? 0 : 1};
  BF_RETURN_IF_ERROR(backend_->AllreduceMax(fields, 3, Group::kWorld));
  if (fields[0] != -fields[1]) {
    return Error(BF_ERR_MISMATCH, "bf_set_matching_mode: the ranks asked for different matching "
                 "modes (named and ordered; rank ", layout_.rank, " asked for ",
                 op.matching_mode == BF_MATCHING_ORDERED ? "ordered" : "named",
                 "); the mode is unchanged");
  }
  if (fields[2] != 0) {
    return Error(BF_ERR_IN_PROGRESS, "bf_set_matching_mode: some rank still had global "
                 "operations waiting for their turn when the switch ran (rank ", layout_.rank,
                 " had ", awaiting_order_.size(), "); wait for them first. The mode is unchanged");
  }
  matching_.store(op.matching_mode, std::memory_order_release);
  return Status::Ok();
}

void Engine::SleepWhileSuspended(bool progressed_last_pass) {
  // Queued ops run to completion first, and a pass that moved something gets a next one.
  if (!suspended_hint_.load(std::memory_order_acquire) || progressed_last_pass || has_ops()) {
    return;
  }
  std::unique_lock<std::mutex> lock(queue_mutex_);
  auto awake = [this] { return !suspended_ || stopping_ || !queue_.empty(); };
  if (awake()) return;
  engine_sleeping_ = true;
  if (window_service_->busy()) {
    // Peers' one-sided requests are still served, one pass per period: they complete later
    // instead of waiting for bf_resume.
    queue_cv_.wait_for(lock, kSuspendedServicePeriod, awake);
  } else {
    queue_cv_.wait(lock, awake);
  }
  engine_sleeping_ = false;
}

void Engine::Suspend() {
  std::lock_guard<std::mutex> lock(queue_mutex_);
  suspended_ = true;
  suspended_hint_.store(true, std::memory_order_release);
}

void Engine::Resume() {
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    suspended_ = false;
    suspended_hint_.store(false, std::memory_order_release);
  }
  queue_cv_.notify_one();
}

bool Engine::suspended() const {
  std::lock_guard<std::mutex> lock(queue_mutex_);
  return suspended_;
}

bool Engine::departed(int rank) const {
  return std::find(departed_.begin(), departed_.end(), rank) != departed_.end();
}

bool Engine::MissedByDeparted(uint64_t position) const {
  return !departed_.empty() && position >= ordered_run_by_departed_;
}

Status Engine::ShutDownBefore(uint64_t position, const Op& op) const {
  if (!MissedByDeparted(position)) return Status::Ok();
  return Error(BF_ERR_SHUTDOWN, OpKindName(op.kind), " '", op.name, "' needs every rank, but rank ",
               departed_.front(), " has shut down (bf_finalize) before running it");
}

void Engine::FailOpsWaitingOnDeparted() {
  // A departed rank's last payloads may still be arriving (its notice overtakes them): wait.
  if (backend_->transferring()) return;
  auto gone = [&](const std::vector<int>& ranks) {
    for (int rank : ranks) {
      if (departed(rank)) return rank;
    }
    return -1;
  };
  auto shutdown = [&](const Op& op, int rank) {
    return Error(BF_ERR_SHUTDOWN, OpKindName(op.kind), " '", op.name, "' on rank ", layout_.rank,
                 " cannot complete: rank ", rank, " has shut down (bf_finalize)");
  };
  for (size_t i = 0; i < active_.size();) {
    Op& op = *active_[i];
    int rank = gone(MissingSources(op));
    if (rank < 0 && op.progress && !op.progress->sends_done) rank = gone(op.neighbor.dst_ranks);
    if (rank < 0) {
      ++i;
      continue;
    }
    Status status = shutdown(op, rank);
    std::unique_ptr<Op> failed = std::move(active_[i]);
    active_.erase(active_.begin() + static_cast<std::ptrdiff_t>(i));
    Finish(std::move(failed), std::move(status));
  }
  for (size_t i = 0; i < window_ops_.size();) {
    const int rank = gone(window_service_->WaitingFor(*window_ops_[i]));
    if (rank < 0) {
      ++i;
      continue;
    }
    Status status = shutdown(*window_ops_[i], rank);
    std::unique_ptr<Op> failed = std::move(window_ops_[i]);
    window_ops_.erase(window_ops_.begin() + static_cast<std::ptrdiff_t>(i));
    window_service_->Abandon(*failed);
    Finish(std::move(failed), std::move(status));
  }
  // Globally ordered ops need every rank. A departed rank ran those up to the count in its notice
  // before it left; while this rank is behind it, they still come ready here (a rank can finish
  // some, a broadcast's root or a barrier, before the others start them).
  if (!MissedByDeparted(ordered_started_)) return;
  while (!awaiting_order_.empty()) {
    Status status = shutdown(*awaiting_order_.front(), departed_.front());
    Finish(std::move(awaiting_order_.front()), std::move(status));
    awaiting_order_.pop_front();
  }
  round_.reset();
}

bool Engine::AnnounceDeparture() {
  std::vector<Outgoing> notices;
  for (int rank = 0; rank < layout_.size; ++rank) {
    if (rank == layout_.rank) continue;  // ranks that left first wait for this notice too
    Outgoing notice;
    notice.peer = rank;
    notice.header.op_kind = WireHeader::kDeparture;
    notice.header.sender = layout_.rank;
    notice.header.payload_elements = static_cast<int64_t>(ordered_started_);
    notices.push_back(notice);
  }
  std::unique_ptr<PendingSends> sends;
  if (!notices.empty() && !backend_->StartSends(notices, &sends).ok()) return false;
  // bf_finalize is collective: every other rank's notice follows soon, after all it sent us
  // before. A rank that never finalizes (killed, or stuck) only delays this by the deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool sent = notices.empty();
  Backoff backoff;
  for (;;) {
    if (!sent && !sends->Test(&sent).ok()) return false;
    if (sent && departed_.size() + 1 >= static_cast<size_t>(layout_.size)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    bool progressed = false;
    if (!backend_->Progress(&progressed).ok()) return false;
    if (progressed) {
      backoff.Progressed();
    } else {
      backoff.Pause(/*waiting_for_peer=*/true);
    }
  }
}

Status Engine::AdvanceNegotiation(bool* progressed) {
  if (!round_) {
    if (awaiting_order_.empty()) return Status::Ok();  // nothing we offer could become ready
    bool requested = false;
    BF_RETURN_IF_ERROR(backend_->NegotiationRequested(&requested));
    if (!new_names_to_offer_ && !requested) return Status::Ok();
    std::vector<NegotiationOffer> offers;
    for (const auto& op : awaiting_order_) offers.push_back({HashName(op->name), Fingerprint(*op)});
    BF_RETURN_IF_ERROR(backend_->StartNegotiation(offers, &round_));
    new_names_to_offer_ = false;
    *progressed = true;
  }
  bool done = false;
  BF_RETURN_IF_ERROR(round_->Test(&done));
  if (!done) return Status::Ok();
  *progressed = true;
  // Every rank got the same ready list in the same order.
  std::vector<std::unique_ptr<Op>> ready;
  for (uint64_t name : round_->ready()) {
    auto it = std::find_if(awaiting_order_.begin(), awaiting_order_.end(),
                           [&](const auto& op) { return HashName(op->name) == name; });
    if (it == awaiting_order_.end()) continue;
    (*it)->negotiated_alike = round_->Agreed(name);
    ready.push_back(std::move(*it));
    awaiting_order_.erase(it);
  }
  for (auto& op : awaiting_order_) op->not_posted_by = round_->MissingRanks(HashName(op->name));
  round_.reset();
  RunReady(std::move(ready));
  return Status::Ok();
}

void Engine::RunReady(std::vector<std::unique_ptr<Op>> ready) {
  if (MissedByDeparted(ordered_started_)) {  // each fails on its own: a rank left before them
    for (auto& op : ready) RunOrdered(std::move(op));
    return;
  }
  // Ops ready together run as one device group and in host fusion groups only if every rank
  // plans the same groups (ranks may disagree on an op's dtype or size, a mismatch to report, or
  // on whether it runs on the device, as for a rank whose arguments failed validation): a hash of
  // each op's grouping facts decides, in one agreement for both. Otherwise each op runs on its
  // own, and its own agreement reports what differs.
  bool fuse = false;
  // Ops every rank posted alike on the host path (SynchronizesAlone) are planned alike: their
  // fingerprints hold the facts the plan is made of. No agreement needed.
  const bool alike = std::all_of(ready.begin(), ready.end(),
                                 [](const auto& op) { return SynchronizesAlone(*op); });
  if (ready.size() >= 2 && settings_.fusion_threshold_bytes > 0 && alike) {
    fuse = true;
  } else if (ready.size() >= 2 && settings_.fusion_threshold_bytes > 0) {
    uint64_t plan = 1469598103934665603ull;
    for (const auto& op : ready) {
      for (uint64_t fact : {DeviceGroupFact(*op, device_comms_), AllreduceFusionKey(*op),
                            static_cast<uint64_t>(op->in.num_elements)}) {
        plan = (plan ^ fact) * 1099511628211ull;
      }
    }
    Status status;
    {
      const OrderedRun agreeing(this, 0);
      status = AgreeOnValue(*backend_, plan, Group::kWorld, &fuse);
    }
    if (!status.ok()) {
      const OrderedRun failing(this, ready.size());
      for (auto& op : ready) Finish(std::move(op), status);
      return;
    }
  }
  if (fuse) RunDeviceGroup(&ready);
  for (size_t i = 0; i < ready.size(); ++i) {
    if (!ready[i]) continue;  // already ran in an earlier group
    const uint64_t key = AllreduceFusionKey(*ready[i]);
    if (!fuse || key == 0) {
      RunOrdered(std::move(ready[i]));
      continue;
    }
    // Group every later ready allreduce with the same key, up to the threshold.
    std::vector<size_t> members = {i};
    size_t bytes = ready[i]->in.num_bytes();
    for (size_t j = i + 1; j < ready.size(); ++j) {
      if (!ready[j] || AllreduceFusionKey(*ready[j]) != key) continue;
      if (bytes + ready[j]->in.num_bytes() > settings_.fusion_threshold_bytes) continue;
      bytes += ready[j]->in.num_bytes();
      members.push_back(j);
    }
    if (members.size() == 1) {
      RunOrdered(std::move(ready[i]));
      continue;
    }
    WakeWaiters();  // as in RunOrdered
    std::vector<Op*> group;
    for (size_t m : members) group.push_back(ready[m].get());
    Timeline* timeline = timeline_.load(std::memory_order_relaxed);
    const OrderedRun run(this, group.size());
    Status status = ShutDownBefore(run.position, *group.front());
    if (status.ok()) {
      Timeline::Scope communicate(timeline, ready[i]->name, "FUSED_ALLREDUCE");
      status = RunFusedAllreduce(group, *backend_);
    }
    for (size_t m : members) Finish(std::move(ready[m]), status);
  }
}

void Engine::RunDeviceGroup(std::vector<std::unique_ptr<Op>>* ready) {
  std::vector<Op*> group;
  for (const auto& op : *ready) {
    if (GroupsOnDevice(*op)) group.push_back(op.get());
  }
  if (group.size() < 2) return;
  Timeline* timeline = timeline_.load(std::memory_order_relaxed);
  bool ran = false;
  Status status = ShutDownBefore(ordered_started_, *group.front());
  if (status.ok()) {
    const OrderedRun agreeing(this, 0);  // whether the group runs is agreed first
    Timeline::Scope grouping(timeline, group.front()->name, "DEVICE_GROUP");
    status = RunGroupOnDevice(group, &device_comms_, &ran);
  }
  if (status.ok() && !ran) return;  // each runs on its own
  const OrderedRun run(this, group.size());
  for (auto& op : *ready) {
    if (op && GroupsOnDevice(*op)) Finish(std::move(op), status);
  }
}

void Engine::Finish(std::unique_ptr<Op> op, Status status) {
  if (status.ok() && op->stage && op->stage->phase == DeviceStage::Phase::kRunning) {
    status = StartCopyOut(*op);
  }
  if (status.ok() && op->stage && op->stage->phase == DeviceStage::Phase::kCopyingOut) {
    copying_out_.push_back(std::move(op));  // completes once its device work is done
    return;
  }
  Complete(std::move(op), std::move(status));
}

void Engine::Complete(std::unique_ptr<Op> op, Status status) {
  {
    std::lock_guard<std::mutex> lock(names_mutex_);
    names_in_flight_.erase(op->name);
  }
  auto completion = op->completion;
  if (op->window) --op->window->pending_ops;
  op.reset();  // release op-owned resources before waking the waiter
  --in_flight_;
  completion->Settle(std::move(status));
  to_wake_.push_back(std::move(completion));
}

void Engine::WakeWaiters() {
  for (const auto& completion : to_wake_) completion->Wake();
  to_wake_.clear();
}

void Engine::WarnAboutStalls() {
  if (settings_.stall_warning_s <= 0 || !busy()) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_stall_check_ < std::chrono::milliseconds(200)) return;
  last_stall_check_ = now;
  const auto period = std::chrono::duration<double>(settings_.stall_warning_s);
  auto overdue = [&](Op& op) {
    if (now - op.posted_at < period || now - op.last_stall_warning < period) return false;
    op.last_stall_warning = now;
    return true;
  };
  auto waited = [&](const Op& op) {
    return std::chrono::duration<double>(now - op.posted_at).count();
  };
  for (auto& op : active_) {
    if (!overdue(*op)) continue;
    const std::vector<int> missing = MissingSources(*op);
    std::ostringstream text;
    text << OpKindName(op->kind) << " '" << op->name << "' has waited " << waited(*op) << " s";
    if (!missing.empty()) text << "; no message yet from rank(s) " << RankList(missing);
    if (op->progress && !op->progress->sends_done) {
      text << "; its sends to rank(s) " << RankList(op->neighbor.dst_ranks)
           << " have not all been taken";
    }
    std::fprintf(stderr, "bluefog: rank %d: stalled: %s\n", layout_.rank, text.str().c_str());
  }
  for (auto& op : window_ops_) {
    if (!overdue(*op)) continue;
    std::fprintf(stderr, "bluefog: rank %d: stalled: %s '%s' has waited %g s for rank(s) %s\n",
                 layout_.rank, OpKindName(op->kind), op->name.c_str(), waited(*op),
                 RankList(window_service_->WaitingFor(*op)).c_str());
  }
  for (auto& op : awaiting_order_) {
    if (!overdue(*op)) continue;
    std::ostringstream text;
    text << OpKindName(op->kind) << " '" << op->name << "' has waited " << waited(*op)
         << " s for every rank to post it";
    if (!op->not_posted_by.empty()) {
      text << "; not posted by rank(s) " << RankList(op->not_posted_by) << " at the last round";
    }
    if (round_) text << "; the negotiation is waiting for " << round_->WaitingFor();
    std::fprintf(stderr, "bluefog: rank %d: stalled: %s\n", layout_.rank, text.str().c_str());
  }
}

Status Engine::Enqueue(std::unique_ptr<Op> op) {
  {
    std::lock_guard<std::mutex> lock(names_mutex_);
    if (!names_in_flight_.insert(op->name).second) {
      return Error(BF_ERR_INVALID_ARGUMENT, "an operation named '", op->name,
                   "' is already in flight on rank ", layout_.rank,
                   "; names must be unique among pending operations");
    }
  }
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    if (stopping_ || suspended_) {
      std::lock_guard<std::mutex> names_lock(names_mutex_);
      names_in_flight_.erase(op->name);
      if (stopping_) {
        return Status(BF_ERR_SHUTDOWN, "BlueFog is shutting down; the operation was not queued");
      }
      return Error(BF_ERR_SUSPENDED, OpKindName(op->kind), " '", op->name, "' was not queued: "
                   "BlueFog is suspended on rank ", layout_.rank, " (bf_suspend); call bf_resume "
                   "first");
    }
    ++in_flight_;
    if (op->window) ++op->window->pending_ops;  // until Finish
    if (op->managed_out != nullptr) op->result_storage = result_storage_;
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

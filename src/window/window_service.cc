// SPDX-License-Identifier: Apache-2.0
// Window protocol: the origin's transfers (mutex, data, reply) and the target's service.
#include "window/window_service.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <new>

#include "device/device.h"
#include "device/staging.h"
#include "ops/agreement.h"
#include "ops/combine.h"
#include "topology/graph.h"

namespace bluefog {

namespace {

constexpr uint32_t kLastChunk = 1;
constexpr uint32_t kHasP = 2;

// Where a window's slots start in the memory given for them (kSlotAlignment spare bytes).
std::byte* AlignSlots(std::byte* memory) {
  const auto address = reinterpret_cast<uintptr_t>(memory);
  return memory + (kSlotAlignment - address % kSlotAlignment) % kSlotAlignment;
}

// Every message is capped below MPI's int count; BLUEFOG_MAX_WIN_SENT_LENGTH may cap it lower.
constexpr int64_t kMaxChunkBytes = int64_t{1} << 30;

// The header every window message starts with; the chunk fields are the caller's to set.
WireHeader WindowHeader(WindowMessage kind, DType dtype, uint64_t window_hash, int sender,
                        uint64_t request) {
  WireHeader header;
  header.op_kind = static_cast<uint8_t>(kind);
  header.dtype = static_cast<uint8_t>(dtype);
  header.sender = sender;
  header.name_hash = window_hash;
  header.window = {};
  header.window.request = request;
  header.window.mutex_index = -1;
  return header;
}

std::string WindowWhere(const Window& window, int rank) {
  return "window '" + window.name + "' on rank " + std::to_string(rank);
}

}  // namespace

WindowService::WindowService(Backend& backend, WindowRegistry& registry, int rank,
                             int64_t max_chunk_elements, bool share_memory)
    : backend_(backend), registry_(registry), rank_(rank),
      max_chunk_elements_(max_chunk_elements), share_memory_(share_memory) {}

WindowService::~WindowService() {
  // A copy still running into a mirror must not outlive the mirror (freed with its window).
  for (DeviceSnapshot& snapshot : snapshots_) {
    for (bool done = false; !done;) {
      if (!Devices().Query(snapshot.copied, &done).ok()) break;
    }
    Devices().Release(snapshot.copied);
  }
}

bool WindowService::busy() const {
  return !answers_.empty() || !requests_.empty() || !registry_.empty() || !snapshots_.empty();
}

namespace {

// Whether a peer's put, accumulate or get request must wait for bf_win_unlock (under the
// window's data_mutex). The later chunks of a write already under way never wait.
bool MustHold(const Window& window, int source, uint64_t request, bool replay) {
  if (window.partial_writes.count({source, request}) != 0) return false;
  if (replay) return window.locked;  // it was first in line
  return window.locked || !window.held.empty();
}

}  // namespace

// ----- Collectives --------------------------------------------------------------------------

Status WindowService::RunCollective(Op& op) {
  return op.kind == OpKind::kWinCreate ? Create(op) : Free(op);
}

Status WindowService::Create(Op& op) {
  BF_RETURN_IF_ERROR(AgreeOnOp(backend_, OpDescriptor::For(op), Group::kWorld));
  auto window = std::make_shared<Window>();
  window->name = op.window_plan.window_name;
  window->hash = HashName("window:" + window->name);
  window->tensor = op.in;  // a GPU window's: the staged copy, until its mirror replaces it below
  window->weighted = op.topology_weighted;
  window->in_neighbors = op.topology->in_neighbors(rank_);
  window->out_neighbors = op.topology->out_neighbors(rank_);
  window->topology_self_weight = op.topology->self_weight(rank_);
  for (int source : window->in_neighbors) {
    window->topology_in_weights.push_back(op.topology->weight(source, rank_));
  }
  Status added = AllocateSlots(op, window.get());
  if (added.ok() && op.stage) added = AttachMirror(op, window.get());
  if (added.ok()) added = registry_.Add(window);
  // No rank may return (and put to a peer) before every rank has registered the window.
  int64_t failed = added.ok() ? 0 : 1;
  Status synced = backend_.AllreduceMax(&failed, 1, Group::kWorld);
  if (!synced.ok()) {
    if (added.ok()) registry_.Remove(window->name);  // a failed create leaves no window behind
    return synced;
  }
  if (!added.ok()) return Status(added.code(), added.message() + " on rank " +
                                                   std::to_string(rank_));
  if (failed != 0) {
    registry_.Remove(window->name);
    return Error(BF_ERR_INVALID_ARGUMENT, "bf_win_create: window '", window->name,
                 "' could not be created on every rank (see the failing rank's error)");
  }
  FindDirectTargets(op, window.get());
  return Status::Ok();
}

Status WindowService::AllocateSlots(const Op& op, Window* window) {
  const size_t bytes = op.in.num_bytes();
  const size_t count = window->in_neighbors.size();
  // Room to align the block wherever the memory starts.
  const size_t block_bytes = WindowBlockBytes(count, bytes) + kSlotAlignment;
  // Every rank of the machine takes part in the shared allocation, or none does.
  int64_t unwilling = share_memory_ ? 0 : 1;
  BF_RETURN_IF_ERROR(backend_.AllreduceMax(&unwilling, 1, Group::kMachine));
  if (unwilling == 0) BF_RETURN_IF_ERROR(backend_.AllocateShared(block_bytes, &window->shared));
  std::byte* memory = nullptr;
  if (window->shared) {
    memory = window->shared->part(rank_);
  } else {
    window->own_block = std::make_unique<std::byte[]>(block_bytes);
    memory = window->own_block.get();
  }
  window->block = AlignSlots(memory);
  window->buffer_bytes = bytes;
  auto* header = new (window->block) WindowBlockHeader;
  header->slot_count = static_cast<int32_t>(count);
  header->buffer_bytes = bytes;
  for (size_t i = 0; i < count; ++i) {
    auto* slot = new (SlotAt(window->block, i, bytes)) WindowSlot;
    slot->source = window->in_neighbors[i];
    if (bytes == 0) continue;
    if (op.window_plan.zero_init) {
      std::memset(SlotBuffer(slot), 0, bytes);
    } else {
      std::memcpy(SlotBuffer(slot), op.in.data, bytes);  // BlueFog starts buffers as the tensor
    }
  }
  return Status::Ok();
}

void WindowService::FindDirectTargets(const Op& op, Window* window) {
  if (!window->shared) return;
  // Registered already: another thread of this process may be putting to it.
  std::lock_guard<std::mutex> direct(window->direct_mutex);
  for (int peer : window->out_neighbors) {
    std::byte* part = window->shared->part(peer);
    if (part == nullptr) continue;  // on another machine: messages
    std::byte* block = AlignSlots(part);
    const std::vector<int> sources = op.topology->in_neighbors(peer);
    auto it = std::lower_bound(sources.begin(), sources.end(), rank_);
    auto* header = reinterpret_cast<WindowBlockHeader*>(block);
    if (it == sources.end() || *it != rank_ ||
        header->slot_count != static_cast<int32_t>(sources.size()) ||
        header->buffer_bytes != window->buffer_bytes) {
      continue;  // laid out otherwise: messages, whose answer says what is wrong
    }
    WindowSlot* slot = SlotAt(block, static_cast<size_t>(it - sources.begin()),
                              window->buffer_bytes);
    if (slot->source != rank_) continue;
    DirectTarget target;
    target.peer = peer;
    target.header = header;
    target.slot = slot;
    window->direct_targets.push_back(std::move(target));
  }
}

Status WindowService::AttachMirror(const Op& op, Window* window) {
  // op.in is the device tensor's copy, staged behind the caller's stream mark; it dies with the
  // op, so the window keeps a pinned mirror of its own for the snapshots peers' gets are served.
  const size_t bytes = op.in.num_bytes();
  void* mirror = nullptr;
  BF_RETURN_IF_ERROR(Devices().AllocateHost(bytes, &mirror));
  if (bytes > 0) std::memcpy(mirror, op.in.data, bytes);
  window->tensor.data = mirror;
  window->device_tensor = op.stage->device_in;  // from now on the window frees the mirror
  return Status::Ok();
}

Status WindowService::Free(Op& op) {
  BF_RETURN_IF_ERROR(AgreeOnOp(backend_, OpDescriptor::For(op), Group::kWorld));
  std::vector<std::shared_ptr<Window>> freed;
  if (op.window_plan.free_all) {
    freed = registry_.All();
  } else if (auto window = registry_.Find(op.window_plan.window_name)) {
    freed.push_back(window);
  }
  Status status;
  for (const auto& window : freed) {
    // Whoever still waits for one of its mutexes is told, rather than left waiting.
    for (auto& [index, mutex] : window->mutexes) {
      for (const WindowMutex::Waiter& waiter : mutex.waiters) {
        if (waiter.rank != rank_) {
          Refuse(waiter.rank, waiter.request, WindowWhere(*window, rank_) + " was freed");
        }
      }
    }
    RefuseHeld(*window);
    registry_.Remove(window->name);
    {
      std::lock_guard<std::mutex> direct(window->direct_mutex);
      window->direct_open = false;  // a blocking put on another thread writes no more
      window->direct_targets.clear();
    }
    {
      std::lock_guard<std::mutex> lock(window->data_mutex);
      window->block = nullptr;  // queries holding the window see it freed
    }
    // Every rank of the machine frees its windows in this order (by name), and no rank writes
    // any more: each finished its own operations on the window before freeing it.
    if (window->shared) {
      Status freed_segment = window->shared->Free();
      if (status.ok()) status = freed_segment;
    }
  }
  return status;
}

void WindowService::RefuseHeld(Window& window) {
  std::deque<std::unique_ptr<ReceivedMessage>> held;
  {
    std::lock_guard<std::mutex> lock(window.data_mutex);
    held.swap(window.held);
    window.SetLocked(false);
  }
  std::set<std::pair<int, uint64_t>> refused;  // once per request, not per chunk
  for (const auto& message : held) {
    const uint64_t request = message->header.window.request;
    if (!refused.insert({message->source, request}).second) continue;
    Refuse(message->source, request,
           WindowWhere(window, rank_) + " was freed while locked (bf_win_lock)");
  }
}

void WindowService::ServeHeld() {
  for (size_t i = 0; i < holding_.size();) {
    std::shared_ptr<Window> window = holding_[i].lock();
    bool empty = true;
    while (window) {
      std::unique_ptr<ReceivedMessage> next;
      {
        std::lock_guard<std::mutex> lock(window->data_mutex);
        empty = window->held.empty();
        if (empty) break;
        // Locked again: only the rest of a write under way goes on (bf_win_lock waits for it).
        const ReceivedMessage& front = *window->held.front();
        if (window->locked &&
            window->partial_writes.count({front.source, front.header.window.request}) == 0) {
          break;
        }
        next = std::move(window->held.front());
        window->held.pop_front();
      }
      HandleRequest(next, /*replay=*/true);  // back at the front if locked again meanwhile
    }
    if (window && !empty) {
      ++i;
      continue;
    }
    holding_[i] = std::move(holding_.back());
    holding_.pop_back();
  }
}

// ----- Origin side --------------------------------------------------------------------------

void WindowService::Register(PeerTransfer* transfer) {
  transfer->request = next_request_++;
  requests_[transfer->request] = transfer;
}

Status WindowService::Start(Op& op) {
  Window& window = *op.window;
  auto progress = std::make_shared<WindowProgress>();
  const WindowPlan& plan = op.window_plan;
  // Whose mutexes: this rank's own (update, for_self) or the peers' mutex for this rank.
  const bool self_mutexes = op.kind == OpKind::kWinUpdate ||
                            ((op.kind == OpKind::kWinMutexAcquire ||
                              op.kind == OpKind::kWinMutexRelease) &&
                             plan.for_self);
  progress->transfers.resize(plan.ranks.size());
  for (size_t i = 0; i < plan.ranks.size(); ++i) {
    PeerTransfer& transfer = progress->transfers[i];
    transfer.peer = plan.ranks[i];
    transfer.weight = i < plan.weights.size() ? plan.weights[i] : 1.0;
    if (self_mutexes) {
      transfer.mutex_owner = rank_;
      transfer.mutex_index = plan.ranks[i];
    } else {
      transfer.mutex_owner = plan.ranks[i];
      transfer.mutex_index = rank_;
    }
  }
  op.window_progress = progress;
  if (op.kind == OpKind::kWinMutexRelease) {
    for (const PeerTransfer& transfer : progress->transfers) {
      if (held_.count({window.hash, transfer.mutex_owner, transfer.mutex_index}) == 0) {
        return Error(BF_ERR_INVALID_ARGUMENT, "bf_win_mutex_release: rank ", rank_,
                     " does not hold mutex (owner ", transfer.mutex_owner, ", index ",
                     transfer.mutex_index, ") of window '", window.name, "'");
      }
    }
    for (PeerTransfer& transfer : progress->transfers) {
      BF_RETURN_IF_ERROR(
          ReleaseMutex(window, transfer.mutex_owner, transfer.mutex_index, progress.get()));
      transfer.stage = PeerTransfer::Stage::kDone;
    }
  }
  return Status::Ok();
}

Status WindowService::RequestMutex(Window& window, PeerTransfer* transfer,
                                   WindowProgress* progress) {
  Register(transfer);
  if (transfer->mutex_owner != rank_) {
    return Send(transfer->mutex_owner, WindowMessage::kMutexAcquire, window, transfer->request,
                &progress->sends, transfer->mutex_index);
  }
  WindowMutex& mutex = window.mutexes[transfer->mutex_index];
  if (mutex.holder == -1) {
    mutex.holder = rank_;
    transfer->granted = true;
    requests_.erase(transfer->request);
    held_.insert({window.hash, rank_, transfer->mutex_index});
  } else {
    mutex.waiters.push_back({rank_, transfer->request});
  }
  return Status::Ok();
}

Status WindowService::ReleaseMutex(Window& window, int owner, int index,
                                   WindowProgress* progress) {
  held_.erase({window.hash, owner, index});
  if (owner == rank_) {
    ReleaseLocal(window, index, rank_);
    return Status::Ok();
  }
  return Send(owner, WindowMessage::kMutexRelease, window, 0, &progress->sends, index);
}

void WindowService::ReleaseLocal(Window& window, int index, int holder) {
  auto it = window.mutexes.find(index);
  if (it == window.mutexes.end() || it->second.holder != holder) return;  // not held by holder
  WindowMutex& mutex = it->second;
  mutex.holder = -1;
  if (mutex.waiters.empty()) return;
  const WindowMutex::Waiter next = mutex.waiters.front();
  mutex.waiters.pop_front();
  mutex.holder = next.rank;
  if (next.rank != rank_) {
    Reply(next.rank, WindowMessage::kGrant, window, next.request);
    return;
  }
  auto waiting = requests_.find(next.request);
  if (waiting == requests_.end()) return;
  waiting->second->granted = true;
  requests_.erase(waiting);
  held_.insert({window.hash, rank_, index});
}

Status WindowService::AdvanceTransfer(Op& op, PeerTransfer* transfer) {
  using Stage = PeerTransfer::Stage;
  Window& window = *op.window;
  WindowProgress* progress = op.window_progress.get();
  const WindowPlan& plan = op.window_plan;
  if (!transfer->error.ok()) {
    transfer->stage = Stage::kDone;
    return Status::Ok();
  }
  const bool mutex_first = plan.require_mutex || op.kind == OpKind::kWinMutexAcquire;
  switch (transfer->stage) {
    case Stage::kStart:
      if (mutex_first) {
        transfer->stage = Stage::kAwaitGrant;
        BF_RETURN_IF_ERROR(RequestMutex(window, transfer, progress));
        return AdvanceTransfer(op, transfer);
      }
      [[fallthrough]];
    case Stage::kAwaitGrant: {
      if (mutex_first && !transfer->granted) return Status::Ok();
      if (op.kind == OpKind::kWinMutexAcquire || op.kind == OpKind::kWinUpdate) {
        transfer->stage = Stage::kDone;
        return Status::Ok();
      }
      if (op.kind != OpKind::kWinGet) {
        std::unique_lock<std::mutex> direct(window.direct_mutex);
        if (DirectTarget* target = window.FindDirectTarget(transfer->peer)) {
          transfer->stage = Stage::kWriteDirect;
          transfer->request = next_request_++;  // its place in the target's queue
          target->queue.push_back(transfer->request);
          direct.unlock();
          return AdvanceTransfer(op, transfer);
        }
      }
      transfer->stage = Stage::kAwaitReply;
      Register(transfer);
      if (op.kind == OpKind::kWinGet) {
        return Send(transfer->peer, WindowMessage::kGetRequest, window, transfer->request,
                    &progress->sends);
      }
      const std::byte* data = static_cast<const std::byte*>(op.in.data);
      if (transfer->weight != 1.0) {
        transfer->scaled.resize(op.in.num_bytes());
        Scale(op.in.dtype, transfer->scaled.data(), op.in.data, transfer->weight,
              static_cast<size_t>(op.in.num_elements));
        data = transfer->scaled.data();
      }
      double p = 0.0;
      if (plan.with_associated_p) {
        std::lock_guard<std::mutex> lock(window.data_mutex);
        p = window.associated_p * transfer->weight;
      }
      const auto kind =
          op.kind == OpKind::kWinPut ? WindowMessage::kPut : WindowMessage::kAccumulate;
      BF_RETURN_IF_ERROR(SendData(transfer->peer, kind, window, transfer->request, data,
                                  plan.with_associated_p, p, &progress->sends));
      // The release follows the data in order, so the owner applies the data first.
      if (plan.require_mutex) {
        BF_RETURN_IF_ERROR(
            ReleaseMutex(window, transfer->mutex_owner, transfer->mutex_index, progress));
      }
      return Status::Ok();
    }
    case Stage::kWriteDirect:
      if (!TryWriteDirect(op, transfer)) return Status::Ok();
      transfer->stage = Stage::kDone;
      if (plan.require_mutex) {
        return ReleaseMutex(window, transfer->mutex_owner, transfer->mutex_index, progress);
      }
      return Status::Ok();
    case Stage::kAwaitReply:
      if (!transfer->replied) return Status::Ok();
      transfer->stage = Stage::kDone;
      if (op.kind == OpKind::kWinGet && plan.require_mutex) {
        return ReleaseMutex(window, transfer->mutex_owner, transfer->mutex_index, progress);
      }
      return Status::Ok();
    case Stage::kDone:
      return Status::Ok();
  }
  return Status::Ok();
}

bool WindowService::TryWriteDirect(Op& op, PeerTransfer* transfer) {
  Window& window = *op.window;
  const WindowPlan& plan = op.window_plan;
  std::lock_guard<std::mutex> direct(window.direct_mutex);
  DirectTarget* target = window.FindDirectTarget(transfer->peer);
  if (target == nullptr) {  // the window is being freed (cannot happen while this op runs)
    transfer->error = Error(BF_ERR_INTERNAL, WindowWhere(window, transfer->peer),
                            " is no longer writable from rank ", rank_);
    return true;
  }
  if (target->queue.front() != transfer->request) return false;  // an earlier one goes first
  double p = 0.0;
  if (plan.with_associated_p) {
    std::lock_guard<std::mutex> lock(window.data_mutex);
    p = window.associated_p;
  }
  const SlotWrite write = PrepareSlotWrite(op.kind == OpKind::kWinAccumulate, op.in,
                                           transfer->weight, plan.with_associated_p, p,
                                           &transfer->scaled);
  if (!TryWriteSlot(*target, write)) return false;
  target->queue.pop_front();
  return true;
}

Status WindowService::Combine(Op& op) {
  Window& window = *op.window;
  const WindowPlan& plan = op.window_plan;
  // A GPU window's update runs on host copies staged by the engine: op.in holds the device
  // tensor as of the caller's stream mark, op.out is where the result goes back to the device
  // from (the same buffer in place). A host window's update reads and writes its tensor.
  const bool staged = op.stage != nullptr;
  const void* self = staged ? op.in.data : window.tensor.data;
  void* target = op.out.data != nullptr ? op.out.data : window.tensor.data;
  const bool clone = plan.clone;
  const size_t count = static_cast<size_t>(window.tensor.num_elements);
  std::lock_guard<std::mutex> lock(window.data_mutex);
  std::vector<const void*> sources;
  std::vector<int> indexes;
  std::deque<SlotGuard> held;  // the slots read, against same-machine writers (ranks are distinct)
  for (int rank : plan.ranks) {
    const int index = window.InNeighborIndex(rank);
    indexes.push_back(index);
    held.emplace_back(window.slot(static_cast<size_t>(index)));
    sources.push_back(window.buffer(static_cast<size_t>(index)));
  }
  if (IsFloatingPoint(window.tensor.dtype)) {
    WeightedCombine(window.tensor.dtype, target, self, plan.self_weight, sources, plan.weights,
                    count);
  } else {  // integer windows: weights are all 1 (checked when issued)
    if (target != self && count > 0) std::memcpy(target, self, window.tensor.num_bytes());
    for (const void* source : sources) AddInto(window.tensor.dtype, target, source, count);
  }
  if (plan.with_associated_p && !clone) {
    double p = plan.self_weight * window.associated_p;
    for (size_t k = 0; k < indexes.size(); ++k) {
      p += plan.weights[k] * window.slot(static_cast<size_t>(indexes[k])).p;
    }
    window.associated_p = p;
  }
  for (int index : indexes) {
    WindowSlot& slot = window.slot(static_cast<size_t>(index));
    slot.version = 0;
    if (plan.reset) {
      if (window.buffer_bytes > 0) std::memset(SlotBuffer(&slot), 0, window.buffer_bytes);
      slot.p = 0.0;
    }
  }
  return Status::Ok();
}

Status WindowService::Poll(Op& op, bool* done) {
  *done = false;
  WindowProgress& progress = *op.window_progress;
  auto& transfers = progress.transfers;
  // Mutex acquisitions (explicit, or an update's own) go one at a time in ascending order, so
  // two lockers of overlapping sets never hold one each while waiting for the other's.
  const bool sequential = op.kind == OpKind::kWinMutexAcquire ||
                          (op.kind == OpKind::kWinUpdate && op.window_plan.require_mutex);
  if (op.kind == OpKind::kWinUpdate && !op.window_plan.require_mutex) {
    for (PeerTransfer& transfer : transfers) transfer.stage = PeerTransfer::Stage::kDone;
  }
  for (PeerTransfer& transfer : transfers) {
    BF_RETURN_IF_ERROR(AdvanceTransfer(op, &transfer));
    if (sequential && transfer.stage != PeerTransfer::Stage::kDone) break;
  }
  for (PeerTransfer& transfer : transfers) {
    if (transfer.stage != PeerTransfer::Stage::kDone) return Status::Ok();
  }
  Status result;
  for (PeerTransfer& transfer : transfers) {
    if (!transfer.error.ok() && result.ok()) result = transfer.error;
  }
  if (op.kind == OpKind::kWinUpdate && !progress.combined) {
    progress.combined = true;
    if (result.ok()) result = Combine(op);
    if (op.window_plan.require_mutex) {
      for (PeerTransfer& transfer : transfers) {
        if (transfer.granted) {
          BF_RETURN_IF_ERROR(
              ReleaseMutex(*op.window, transfer.mutex_owner, transfer.mutex_index, &progress));
        }
      }
    }
  }
  if (op.kind == OpKind::kWinMutexAcquire && !result.ok()) {
    // All or nothing: give back what was granted before the failure.
    for (PeerTransfer& transfer : transfers) {
      if (transfer.granted) {
        BF_RETURN_IF_ERROR(
            ReleaseMutex(*op.window, transfer.mutex_owner, transfer.mutex_index, &progress));
        transfer.granted = false;
      }
    }
  }
  // Payloads (scaled copies, the caller's tensor) stay untouched until every send has left.
  for (auto& sends : progress.sends) {
    bool left = false;
    BF_RETURN_IF_ERROR(sends->Test(&left));
    if (!left) return Status::Ok();
  }
  progress.sends.clear();
  if (result.ok() && (op.kind == OpKind::kWinPut || op.kind == OpKind::kWinAccumulate)) {
    ApplySelfWeight(*op.window, op.window_plan, op.in);
  }
  for (PeerTransfer& transfer : transfers) requests_.erase(transfer.request);
  *done = true;
  return result;
}

std::vector<int> WindowService::WaitingFor(const Op& op) const {
  std::vector<int> ranks;
  if (!op.window_progress) return ranks;
  for (const PeerTransfer& transfer : op.window_progress->transfers) {
    if (transfer.stage == PeerTransfer::Stage::kAwaitGrant) {
      ranks.push_back(transfer.mutex_owner);
    } else if (transfer.stage == PeerTransfer::Stage::kAwaitReply ||
               transfer.stage == PeerTransfer::Stage::kWriteDirect) {
      ranks.push_back(transfer.peer);
    }
  }
  return ranks;
}

void WindowService::Abandon(Op& op) {
  if (!op.window_progress) return;
  for (PeerTransfer& transfer : op.window_progress->transfers) {
    requests_.erase(transfer.request);
    if (transfer.stage != PeerTransfer::Stage::kWriteDirect) continue;
    std::lock_guard<std::mutex> direct(op.window->direct_mutex);
    if (DirectTarget* target = op.window->FindDirectTarget(transfer.peer)) {
      std::erase(target->queue, transfer.request);
    }
  }
}

// ----- Messages -----------------------------------------------------------------------------

Status WindowService::Send(int peer, WindowMessage kind, const Window& window, uint64_t request,
                           std::vector<std::unique_ptr<PendingSends>>* sends,
                           int32_t mutex_index) {
  Outgoing out;
  out.peer = peer;
  out.header = WindowHeader(kind, window.tensor.dtype, window.hash, rank_, request);
  out.header.window.mutex_index = mutex_index;
  std::unique_ptr<PendingSends> pending;
  BF_RETURN_IF_ERROR(backend_.StartSends({&out, 1}, &pending));
  sends->push_back(std::move(pending));
  return Status::Ok();
}

Status WindowService::SendData(int peer, WindowMessage kind, const Window& window,
                               uint64_t request, const std::byte* data, bool with_p,
                               double associated_p,
                               std::vector<std::unique_ptr<PendingSends>>* sends) {
  const int64_t total = window.tensor.num_elements;
  const size_t element_size = ElementSize(window.tensor.dtype);
  int64_t chunk = kMaxChunkBytes / static_cast<int64_t>(element_size);
  if (max_chunk_elements_ > 0) chunk = std::min(chunk, max_chunk_elements_);
  std::vector<Outgoing> chunks;
  int64_t offset = 0;
  do {
    const int64_t count = std::min(chunk, total - offset);
    Outgoing out;
    out.peer = peer;
    out.header = WindowHeader(kind, window.tensor.dtype, window.hash, rank_, request);
    out.header.payload_elements = count;
    out.header.row_elements = offset;
    out.payload = data + static_cast<size_t>(offset) * element_size;
    out.payload_bytes = static_cast<size_t>(count) * element_size;
    offset += count;
    if (offset == total) {
      out.header.window.window_flags = kLastChunk | (with_p ? kHasP : 0);
      out.header.window.associated_p = associated_p;
    }
    chunks.push_back(out);
  } while (offset < total);
  std::unique_ptr<PendingSends> pending;
  BF_RETURN_IF_ERROR(backend_.StartSends(chunks, &pending));
  sends->push_back(std::move(pending));
  return Status::Ok();
}

void WindowService::Reply(int peer, WindowMessage kind, const Window& window, uint64_t request) {
  PendingAnswer answer;
  Status sent = Send(peer, kind, window, request, &answer.sends);
  if (!sent.ok()) {
    std::fprintf(stderr, "bluefog: rank %d: could not answer rank %d: %s\n", rank_, peer,
                 sent.message().c_str());
    return;
  }
  answers_.push_back(std::move(answer));
}

void WindowService::Refuse(int peer, uint64_t request, const std::string& reason) {
  PendingAnswer answer;
  answer.data.resize(reason.size());
  std::memcpy(answer.data.data(), reason.data(), reason.size());
  Outgoing out;
  out.peer = peer;
  out.header = WindowHeader(WindowMessage::kRefused, DType::kUInt8, 0, rank_, request);
  out.header.payload_elements = static_cast<int64_t>(reason.size());
  out.payload = answer.data.data();
  out.payload_bytes = answer.data.size();
  std::unique_ptr<PendingSends> pending;
  Status sent = backend_.StartSends({&out, 1}, &pending);
  if (!sent.ok()) {
    std::fprintf(stderr, "bluefog: rank %d: could not answer rank %d: %s\n", rank_, peer,
                 sent.message().c_str());
    return;
  }
  answer.sends.push_back(std::move(pending));
  answers_.push_back(std::move(answer));
}

Status WindowService::Advance() {
  if (!holding_.empty()) ServeHeld();
  if (!snapshots_.empty()) AdvanceSnapshots();
  for (size_t i = 0; i < answers_.size();) {
    bool left = true;
    for (auto& sends : answers_[i].sends) {
      bool done = false;
      BF_RETURN_IF_ERROR(sends->Test(&done));
      left = left && done;
    }
    if (!left) {
      ++i;
      continue;
    }
    answers_[i] = std::move(answers_.back());
    answers_.pop_back();
  }
  return Status::Ok();
}

void WindowService::Handle(std::unique_ptr<ReceivedMessage> message) {
  switch (static_cast<WindowMessage>(message->header.op_kind)) {
    case WindowMessage::kAck:
    case WindowMessage::kGrant:
    case WindowMessage::kGetReply:
    case WindowMessage::kRefused: return HandleReply(*message);
    default: return HandleRequest(message, /*replay=*/false);
  }
}

void WindowService::HandleRequest(std::unique_ptr<ReceivedMessage>& owned, bool replay) {
  const ReceivedMessage& message = *owned;
  const WireHeader& header = message.header;
  const int source = message.source;
  const uint64_t request = header.window.request;
  const auto kind = static_cast<WindowMessage>(header.op_kind);
  std::shared_ptr<Window> window = registry_.FindByHash(header.name_hash);
  if (!window) {
    if (kind != WindowMessage::kMutexRelease) {
      Refuse(source, request,
             "rank " + std::to_string(rank_) +
                 " has no such window (it was freed there or never created)");
    }
    return;
  }
  // Moves the request into the window's queue until bf_win_unlock (data_mutex held).
  auto hold = [&] {
    if (!replay && window->held.empty()) holding_.push_back(window);  // replay: listed already
    if (replay) {
      window->held.push_front(std::move(owned));
    } else {
      window->held.push_back(std::move(owned));
    }
  };
  switch (kind) {
    case WindowMessage::kPut:
    case WindowMessage::kAccumulate: {
      const int index = window->InNeighborIndex(source);
      const size_t element_size = ElementSize(window->tensor.dtype);
      const int64_t offset = header.row_elements;
      const int64_t count = header.payload_elements;
      if (index < 0) {
        return Refuse(source, request,
                      "rank " + std::to_string(source) + " is not an in-neighbor of " +
                          WindowWhere(*window, rank_));
      }
      if (header.dtype != static_cast<uint8_t>(window->tensor.dtype) || offset < 0 ||
          count < 0 || offset + count > window->tensor.num_elements ||
          message.payload_bytes() != static_cast<size_t>(count) * element_size) {
        return Refuse(source, request,
                      "the data does not fit " + WindowWhere(*window, rank_) + " (" +
                          window->tensor.Describe() + ")");
      }
      const bool last = (header.window.window_flags & kLastChunk) != 0;
      {
        std::lock_guard<std::mutex> lock(window->data_mutex);
        if (MustHold(*window, source, request, replay)) return hold();
        if (!last) {
          window->partial_writes.insert({source, request});
        } else if (window->partial_writes.erase({source, request}) != 0 &&
                   window->partial_writes.empty()) {
          window->writes_settled.notify_all();
        }
        WindowSlot& slot = window->slot(static_cast<size_t>(index));
        SlotGuard guard(slot);
        std::byte* target = SlotBuffer(&slot) + static_cast<size_t>(offset) * element_size;
        if (kind == WindowMessage::kPut) {
          if (count > 0) std::memcpy(target, message.payload(), message.payload_bytes());
        } else {
          AddInto(window->tensor.dtype, target, message.payload(), static_cast<size_t>(count));
        }
        if (last) {
          ++slot.version;
          if (header.window.window_flags & kHasP) {
            double& p = slot.p;
            p = kind == WindowMessage::kPut ? header.window.associated_p
                                            : p + header.window.associated_p;
          }
        }
      }
      if (last) Reply(source, WindowMessage::kAck, *window, request);
      return;
    }
    case WindowMessage::kGetRequest: {
      std::vector<std::byte> snapshot;
      {
        // Under the lock, so that a bf_win_lock that returns has no copy of the tensor under way.
        std::lock_guard<std::mutex> lock(window->data_mutex);
        if (MustHold(*window, source, request, replay)) return hold();
        if (window->on_device()) {
          ++window->device_reads;  // until its copy has left device memory
        } else {
          snapshot.resize(window->tensor.num_bytes());
          if (!snapshot.empty()) std::memcpy(snapshot.data(), window->tensor.data, snapshot.size());
        }
      }
      if (window->on_device()) return SnapshotForGet(window, source, request);
      return SendGetReply(*window, source, request, std::move(snapshot));
    }
    case WindowMessage::kMutexAcquire: {
      WindowMutex& mutex = window->mutexes[header.window.mutex_index];
      if (mutex.holder == -1) {
        mutex.holder = source;
        Reply(source, WindowMessage::kGrant, *window, request);
      } else {
        mutex.waiters.push_back({source, request});
      }
      return;
    }
    case WindowMessage::kMutexRelease:
      ReleaseLocal(*window, header.window.mutex_index, source);
      return;
    default:
      std::fprintf(stderr, "bluefog: rank %d: dropped an unknown window message (kind %d) from "
                   "rank %d\n", rank_, header.op_kind, source);
  }
}

void WindowService::SendGetReply(const Window& window, int peer, uint64_t request,
                                 std::vector<std::byte> snapshot) {
  PendingAnswer answer;
  answer.data = std::move(snapshot);
  Status sent = SendData(peer, WindowMessage::kGetReply, window, request, answer.data.data(),
                         false, 0.0, &answer.sends);
  if (!sent.ok()) {
    return Refuse(peer, request, "rank " + std::to_string(rank_) +
                                     " could not send its tensor: " + sent.message());
  }
  answers_.push_back(std::move(answer));
}

// ----- GPU windows: peers' gets read the device tensor through the window's mirror ------------

void WindowService::SnapshotForGet(const std::shared_ptr<Window>& window, int peer,
                                   uint64_t request) {
  // One copy into a mirror at a time: a get arriving while one runs waits for the next copy
  // (which starts after its arrival, so it never sees the tensor as of before its request).
  for (DeviceSnapshot& snapshot : snapshots_) {
    if (snapshot.window == window) {
      snapshot.next.push_back({peer, request});
      return;
    }
  }
  DeviceSnapshot snapshot;
  snapshot.window = window;
  snapshot.next.push_back({peer, request});
  if (StartSnapshot(&snapshot)) snapshots_.push_back(std::move(snapshot));
}

bool WindowService::StartSnapshot(DeviceSnapshot* snapshot) {
  Window& window = *snapshot->window;
  snapshot->serving = std::move(snapshot->next);
  snapshot->next.clear();
  // On the engine's stream, behind no caller mark: like a host window's get, it reads the
  // tensor as it is, which includes the caller's device work once that has finished, and every
  // window operation's copy back to the device queued before it (the same stream).
  Status started = Devices().CopyAsync(window.device_tensor.device.device_id, nullptr,
                                       window.tensor.data, window.device_tensor.data,
                                       window.tensor.num_bytes(), &snapshot->copied);
  if (started.ok()) return true;
  snapshot->copied = nullptr;
  FinishSnapshot(snapshot, started);
  return false;
}

void WindowService::FinishSnapshot(DeviceSnapshot* snapshot, const Status& copied) {
  Window& window = *snapshot->window;
  for (const auto& [peer, request] : snapshot->serving) {
    if (!copied.ok()) {
      Refuse(peer, request, "rank " + std::to_string(rank_) + " could not copy its GPU tensor of " +
                                WindowWhere(window, rank_) + ": " + copied.message());
      continue;
    }
    const auto* mirror = static_cast<const std::byte*>(window.tensor.data);
    SendGetReply(window, peer, request,
                 std::vector<std::byte>(mirror, mirror + window.tensor.num_bytes()));
  }
  std::lock_guard<std::mutex> lock(window.data_mutex);
  window.device_reads -= static_cast<int>(snapshot->serving.size());
  if (window.device_reads == 0) window.writes_settled.notify_all();
  snapshot->serving.clear();
}

void WindowService::AdvanceSnapshots() {
  for (size_t i = 0; i < snapshots_.size();) {
    DeviceSnapshot& snapshot = snapshots_[i];
    bool done = false;
    Status copied = Devices().Query(snapshot.copied, &done);
    if (copied.ok() && !done) {
      ++i;
      continue;
    }
    Devices().Release(snapshot.copied);
    snapshot.copied = nullptr;
    FinishSnapshot(&snapshot, copied);
    if (!snapshot.next.empty() && StartSnapshot(&snapshot)) {
      ++i;
      continue;
    }
    if (i + 1 != snapshots_.size()) snapshots_[i] = std::move(snapshots_.back());
    snapshots_.pop_back();
  }
}

void WindowService::ServePending() {
  ServeHeld();
  if (!snapshots_.empty()) AdvanceSnapshots();
}

void WindowService::HandleReply(const ReceivedMessage& message) {
  const WireHeader& header = message.header;
  auto it = requests_.find(header.window.request);
  if (it == requests_.end()) return;  // a late answer to a request that already failed
  PeerTransfer* transfer = it->second;
  switch (static_cast<WindowMessage>(header.op_kind)) {
    case WindowMessage::kAck:
      transfer->replied = true;
      requests_.erase(it);
      return;
    case WindowMessage::kGrant:
      transfer->granted = true;
      held_.insert({header.name_hash, message.source, transfer->mutex_index});
      requests_.erase(it);
      return;
    case WindowMessage::kRefused:
      transfer->error = Error(BF_ERR_MISMATCH, "window request from rank ", rank_, " to rank ",
                              message.source, " refused: ",
                              std::string(reinterpret_cast<const char*>(message.payload()),
                                          message.payload_bytes()));
      requests_.erase(it);
      return;
    case WindowMessage::kGetReply: {
      std::shared_ptr<Window> window = registry_.FindByHash(header.name_hash);
      const int index = window ? window->InNeighborIndex(message.source) : -1;
      const int64_t offset = header.row_elements;
      const int64_t count = header.payload_elements;
      if (index < 0 || offset < 0 || count < 0 ||
          offset + count > window->tensor.num_elements ||
          message.payload_bytes() !=
              static_cast<size_t>(count) * ElementSize(window->tensor.dtype)) {
        transfer->error = Error(BF_ERR_INTERNAL, "rank ", rank_,
                                " received a malformed window get reply from rank ",
                                message.source);
        requests_.erase(it);
        return;
      }
      {
        std::lock_guard<std::mutex> lock(window->data_mutex);
        WindowSlot& slot = window->slot(static_cast<size_t>(index));
        SlotGuard guard(slot);
        std::byte* target =
            SlotBuffer(&slot) + static_cast<size_t>(offset) * ElementSize(window->tensor.dtype);
        if (transfer->weight == 1.0) {
          if (count > 0) std::memcpy(target, message.payload(), message.payload_bytes());
        } else {
          Scale(window->tensor.dtype, target, message.payload(), transfer->weight,
                static_cast<size_t>(count));
        }
        transfer->received_elements += count;
        // Complete on the element count, not on which chunk came last.
        if (transfer->received_elements >= window->tensor.num_elements) {
          ++slot.version;
          transfer->replied = true;
          requests_.erase(it);
        }
      }
      return;
    }
    default:
      return;
  }
}

}  // namespace bluefog

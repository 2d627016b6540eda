// SPDX-License-Identifier: Apache-2.0
// WindowService: one-sided window operations built on the engine's messages. Rather than MPI RMA
// (whose passive-target progress, TCP support and 16-bit float accumulates vary by MPI and by
// transport), a put, accumulate, get or mutex request is a message to the peer's engine thread,
// which applies it to its window and answers. Every rank's engine polls while a window exists,
// and serves requests from inside blocking collectives too (Backend::SetUnsolicitedHandler), so a
// peer's request waits at most one engine cycle whatever this rank's caller is doing.
// Engine thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "core/op.h"
#include "device/device.h"
#include "window/window.h"

namespace bluefog {

// The window protocol (WireHeader::op_kind).
enum class WindowMessage : uint8_t {
  kPut = WireHeader::kFirstWindowMessage,
  kAccumulate,
  kGetRequest,
  kGetReply,
  kMutexAcquire,
  kMutexRelease,
  kAck,      // a put or accumulate has been applied
  kGrant,    // a mutex is now the requester's
  kRefused,  // the request cannot be served; the payload says why
};

// One peer's part of a window operation at the origin.
struct PeerTransfer {
  // kWriteDirect: a put or accumulate to a same-machine peer, waiting for its turn, the peer's
  // slot or the peer's bf_win_unlock.
  enum class Stage { kStart, kAwaitGrant, kAwaitReply, kWriteDirect, kDone };
  Stage stage = Stage::kStart;
  int peer = -1;          // the rank data moves to or from (put, accumulate, get)
  double weight = 1.0;
  int mutex_owner = -1;   // the mutex this transfer holds (owner, index), if any
  int mutex_index = -1;
  uint64_t request = 0;
  bool granted = false;
  bool replied = false;
  int64_t received_elements = 0;   // get
  std::vector<std::byte> scaled;   // put/accumulate: weight * tensor when weight != 1
  Status error;
};

struct WindowProgress {
  std::vector<PeerTransfer> transfers;
  std::vector<std::unique_ptr<PendingSends>> sends;
  bool combined = false;  // update: the combine has run
};

class WindowService {
 public:
  // share_memory: same-machine peers' puts and accumulates write buffers directly where the
  // machine's ranks share memory (BLUEFOG_WIN_SHARED_MEMORY).
  WindowService(Backend& backend, WindowRegistry& registry, int rank,
                int64_t max_chunk_elements, bool share_memory);
  ~WindowService();

  // Windows exist or messages are in flight: the engine must keep polling.
  bool busy() const;

  // win_create / win_free, on every rank (the engine has ordered them).
  Status RunCollective(Op& op);

  // Put, accumulate, get, update, mutex acquire/release: Start once, then Poll until *done.
  Status Start(Op& op);
  Status Poll(Op& op, bool* done);
  // Tests the sends of answers already given.
  Status Advance();
  // The peers a stalled window op is still waiting for.
  std::vector<int> WaitingFor(const Op& op) const;
  // Forgets an op that will never be polled again (a peer it waits for has left).
  void Abandon(Op& op);

  // Every window protocol message arriving at this rank (Backend::SetUnsolicitedHandler).
  void Handle(std::unique_ptr<ReceivedMessage> message);
  // Serves the requests held by bf_win_lock of windows unlocked since, in arrival order (from
  // Advance, and while a blocking collective waits).
  void ServeHeld();
  // ServeHeld, and answers the gets whose copies out of a GPU window have finished (while a
  // blocking collective waits: a peer blocked in its get may be needed by that collective).
  void ServePending();

 private:
  Status Create(Op& op);
  // Gives `window` its slots, in memory shared with the machine's ranks where they share it.
  // Collective over the machine.
  Status AllocateSlots(const Op& op, Window* window);
  // Finds the same-machine out-neighbors whose slots for this rank can be written directly
  // (once every rank has laid out its slots).
  void FindDirectTargets(const Op& op, Window* window);
  // Writes a put or accumulate into `target`'s slot; false if it must wait (not its turn, the
  // slot busy, the peer's window locked): the next Poll tries again.
  bool TryWriteDirect(Op& op, PeerTransfer* transfer);
  // A GPU window's create: gives `window` its pinned host mirror, filled from the staged copy.
  Status AttachMirror(const Op& op, Window* window);
  Status Free(Op& op);
  // Serves a peer's request; a put, accumulate or get request that must wait for bf_win_unlock
  // is moved into its window's `held` queue (at its front when `replay`: it came from there).
  void HandleRequest(std::unique_ptr<ReceivedMessage>& message, bool replay);
  // Refuses every request held by `window` (it is being freed).
  void RefuseHeld(Window& window);
  void HandleReply(const ReceivedMessage& message);
  // Answers a get with `snapshot` (the window's tensor, copied), or refuses it.
  void SendGetReply(const Window& window, int peer, uint64_t request,
                    std::vector<std::byte> snapshot);

  // A GPU window's tensor being copied into its mirror for peers' gets.
  struct DeviceSnapshot {
    std::shared_ptr<Window> window;  // keeps the mirror alive while the copy runs
    DeviceEvent copied = nullptr;
    std::vector<std::pair<int, uint64_t>> serving;  // (peer, request) answered by this copy
    std::vector<std::pair<int, uint64_t>> next;     // arrived meanwhile: answered by the next
  };
  // Queues a peer's get of a GPU window for a copy of its device tensor.
  void SnapshotForGet(const std::shared_ptr<Window>& window, int peer, uint64_t request);
  // Starts the copy for the gets in `next`; false if it could not (they have been refused).
  bool StartSnapshot(DeviceSnapshot* snapshot);
  // Answers the gets `serving` from the mirror (or refuses them when the copy failed).
  void FinishSnapshot(DeviceSnapshot* snapshot, const Status& copied);
  void AdvanceSnapshots();

  // Sends one message now, keeping it alive in `sends` until it has left.
  Status Send(int peer, WindowMessage kind, const Window& window, uint64_t request,
              std::vector<std::unique_ptr<PendingSends>>* sends, int32_t mutex_index = -1);
  // Sends `elements` elements of `data` in chunks; the last carries kLastChunk (and p).
  Status SendData(int peer, WindowMessage kind, const Window& window, uint64_t request,
                  const std::byte* data, bool with_p, double associated_p,
                  std::vector<std::unique_ptr<PendingSends>>* sends);
  void Refuse(int peer, uint64_t request, const std::string& reason);
  void Reply(int peer, WindowMessage kind, const Window& window, uint64_t request);

  // Mutexes: request (owner, index) for `transfer` (granted at once when local and free).
  Status RequestMutex(Window& window, PeerTransfer* transfer, WindowProgress* progress);
  Status ReleaseMutex(Window& window, int owner, int index, WindowProgress* progress);
  // Frees this rank's mutex `index` held by `holder` and grants it to the next waiter.
  void ReleaseLocal(Window& window, int index, int holder);

  Status AdvanceTransfer(Op& op, PeerTransfer* transfer);
  Status Combine(Op& op);
  void Register(PeerTransfer* transfer);

  Backend& backend_;
  WindowRegistry& registry_;
  int rank_;
  int64_t max_chunk_elements_;
  bool share_memory_;
  uint64_t next_request_ = 1;
  std::unordered_map<uint64_t, PeerTransfer*> requests_;  // awaiting a grant or a reply
  std::set<std::tuple<uint64_t, int, int>> held_;          // (window hash, owner, index)
  struct PendingAnswer {
    std::vector<std::byte> data;  // get replies: the snapshot being sent
    std::vector<std::unique_ptr<PendingSends>> sends;
  };
  std::vector<PendingAnswer> answers_;
  std::vector<std::weak_ptr<Window>> holding_;  // windows whose `held` queue is not empty
  std::vector<DeviceSnapshot> snapshots_;       // at most one per GPU window
};

}  // namespace bluefog

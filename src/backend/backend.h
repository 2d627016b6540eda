// SPDX-License-Identifier: Apache-2.0
// Backend: the narrow transport interface every operation is written against. The MPI backend
// carries host memory; a device backend (NCCL) implements the same calls later.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace bluefog {

// Which ranks a collective spans: everyone, or this rank's machine.
enum class Group { kWorld, kMachine };

// Sent in front of every point-to-point payload so the receiver can tell a mismatched operation
// (kind, name, dtype, size) from the one it expects instead of misreading the bytes.
struct WireHeader {
  static constexpr uint32_t kMagic = 0x42464731;  // "BFG1"
  uint32_t magic = kMagic;
  uint8_t op_kind = 0;
  uint8_t dtype = 0;
  uint8_t encoding = 0;  // neighbor payloads: a WireEncoding (ops/compression.h); 0: raw dtype
  uint8_t flags = 0;
  int32_t sender = -1;
  // 0: one payload follows. N > 0: a fused message: N sub-headers follow, then their payloads,
  // each starting at a multiple of kFusedAlignment bytes from the message start (several small
  // operations to the same destination in one message). kPayloadFollows: the payload is the
  // sender's next message on the payload tag (large payloads travel contiguous, uncopied).
  int32_t fused_count = 0;
  static constexpr int32_t kPayloadFollows = -1;
  uint64_t name_hash = 0;
  int64_t payload_elements = 0;
  int64_t row_elements = 0;  // window messages: element offset of this chunk
  // Bytes of the payload. The backend sets it for every message it sends; senders of fused
  // messages set it in each sub-header.
  uint64_t payload_bytes = 0;
  // Compressed neighbor payloads with error feedback: how many messages this edge carried under
  // this name before (0: the sender starts from nothing, and so must the receiver).
  uint32_t feedback_sequence = 0;
  uint8_t feedback = 0;  // 1: the payload encodes a difference (error feedback)
  uint8_t reserved[3] = {};
  // Window messages (op_kind >= kFirstWindowMessage) carry their request instead of a name.
  // (Trivial, so the union stays trivial; senders value-initialize it before filling it in.)
  struct WindowFields {
    uint64_t request;        // the origin's id for the request this message belongs to
    double associated_p;     // push-sum weight travelling with a put or accumulate
    int32_t mutex_index;     // mutex requests: which of the owner's mutexes
    uint32_t window_flags;   // kLastChunk, kHasP (window_service.cc)
  };
  union {
    char name[24] = {};  // a prefix of the op name, for error messages only
    WindowFields window;
  };

  // op_kind values from here on are unsolicited: window protocol messages and the departure
  // notice. They are not taken by name but handed, in arrival order per sender, to the handler
  // (Backend::SetUnsolicitedHandler).
  static constexpr uint8_t kFirstWindowMessage = 0x40;
  // Sent to every rank by a rank leaving (bf_finalize): what still waits on it cannot complete.
  static constexpr uint8_t kDeparture = 0x7f;
  bool is_unsolicited() const { return op_kind >= kFirstWindowMessage; }
};
static_assert(sizeof(WireHeader) == 80, "WireHeader is a fixed 80-byte wire format");

// Payloads in fused messages start at multiples of this, so every element type is aligned.
constexpr size_t kFusedAlignment = 64;
inline size_t AlignFused(size_t offset) {
  return (offset + kFusedAlignment - 1) / kFusedAlignment * kFusedAlignment;
}

struct Outgoing {
  int peer = -1;
  WireHeader header;
  const void* payload = nullptr;
  size_t payload_bytes = 0;
};

// A message taken from the mailbox: its sender, header and payload (a backend-owned buffer that
// goes back to the backend's pool when this object is destroyed).
class ReceivedMessage {
 public:
  virtual ~ReceivedMessage() = default;
  int source = -1;
  WireHeader header;
  virtual const std::byte* payload() const = 0;
  virtual size_t payload_bytes() const = 0;
};

// Sends in flight; the payloads they read must stay untouched until Test reports them done.
class PendingSends {
 public:
  virtual ~PendingSends() = default;
  virtual Status Test(bool* done) = 0;
};

// What a rank offers for one global operation it has posted: its name's hash, and a fingerprint
// of what it posted under that name (kind, dtype, size, root, ...), so that the round also says
// whether every rank posted the same thing.
struct NegotiationOffer {
  uint64_t name = 0;
  uint64_t fingerprint = 0;
};

// One negotiation round over every rank: each offers the names (hashes) of the global operations
// it has posted; the round returns the names every rank offered, in one order all ranks share.
class NegotiationRound {
 public:
  virtual ~NegotiationRound() = default;
  // Advances the round; *done once `ready()` is known.
  virtual Status Test(bool* done) = 0;
  virtual const std::vector<uint64_t>& ready() const = 0;
  // After the round, for a ready name: every rank offered it with the same fingerprint (false
  // says only that they differ; the operation's own agreement then reports how).
  virtual bool Agreed(uint64_t name) const = 0;
  // While not done: the ranks this rank is waiting on (for the stall watchdog).
  virtual std::string WaitingFor() const = 0;
  // After the round: the ranks that had not offered `name`.
  virtual std::vector<int> MissingRanks(uint64_t name) const = 0;
};

// Memory that every rank of a machine maps: the window buffers same-machine peers write
// directly. Made collectively (Backend::AllocateShared) and freed collectively (Free); a segment
// never freed is reclaimed when MPI finalizes.
class SharedSegment {
 public:
  virtual ~SharedSegment() = default;
  // World rank `rank`'s part (as many bytes as it asked for), or nullptr if that rank does not
  // share memory with this one.
  virtual std::byte* part(int rank) const = 0;
  // Collective over the ranks that share the segment.
  virtual Status Free() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual int rank(Group group) const = 0;
  virtual int size(Group group) const = 0;

  // Small control-plane collectives. Every rank of the group calls them with the same count,
  // so they match structurally even when the operations that use them do not. They keep the
  // mailbox moving while they wait.
  virtual Status AllreduceMax(int64_t* values, int count, Group group) = 0;
  virtual Status AllgatherFixed(const void* mine, size_t bytes, void* all, Group group) = 0;

  // Data collectives; callers have checked that every rank agrees on the operation first.
  // `in` may be `out` (in place); otherwise MPI reads one and writes the other, which Open MPI
  // does up to twice as fast as copying first and reducing in place.
  virtual Status AllreduceSum(const void* in, void* out, int64_t count, DType dtype,
                              Group group) = 0;
  virtual Status Broadcast(void* buffer, size_t bytes, int root, Group group) = 0;
  virtual Status Allgatherv(const void* mine, size_t my_bytes, void* all,
                            const std::vector<int64_t>& bytes_per_rank, Group group) = 0;

  // Every rank of this machine that shares memory with the others calls it with its own `bytes`
  // (0 allowed). *out is nullptr when this rank shares memory with no other rank.
  virtual Status AllocateShared(size_t bytes, std::unique_ptr<SharedSegment>* out) = 0;

  // Point-to-point, world ranks. Every rank's engine receives every neighbor message as it
  // arrives into a mailbox keyed by (sender, name hash), whether or not it has posted the
  // operation yet; operations take their messages from there. So sends always complete and
  // operations may be posted in any order.
  virtual Status StartSends(std::span<const Outgoing> sends,
                            std::unique_ptr<PendingSends>* out) = 0;
  // Receives whatever has arrived. *progressed: something completed or arrived.
  virtual Status Progress(bool* progressed) = 0;
  // The oldest message from `source` for `name_hash`, or nullptr if none has arrived.
  virtual std::unique_ptr<ReceivedMessage> Take(int source, uint64_t name_hash) = 0;
  // How many messages have been filed for Take so far. While it stays the same, a Take that found
  // nothing still finds nothing: pollers skip their lookups.
  virtual uint64_t filed_count() const = 0;

  // Starts the next negotiation round offering `names` (at most one round at a time). Every rank
  // takes part in every round; a rank starts one when it has new names to offer or when
  // NegotiationRequested says a peer has started the next round.
  virtual Status StartNegotiation(const std::vector<NegotiationOffer>& offers,
                                  std::unique_ptr<NegotiationRound>* out) = 0;
  virtual Status NegotiationRequested(bool* requested) = 0;

  // Unsolicited messages (window protocol, departures) go to `handler` as they arrive, in order
  // per sender, from inside
  // Progress (and so from every wait of a blocking collective too): a peer's one-sided request
  // is served even while this rank's engine waits in a collective.
  using UnsolicitedHandler = std::function<void(std::unique_ptr<ReceivedMessage>)>;
  virtual void SetUnsolicitedHandler(UnsolicitedHandler handler) = 0;
};

}  // namespace bluefog

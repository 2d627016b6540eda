// SPDX-License-Identifier: Apache-2.0
// Mailbox: receives every framed neighbor message as soon as it arrives (any sender, any name)
// and files it under (sender, name hash) until an operation takes it. This is what lets neighbor
// operations be posted in different orders on different ranks without coordination.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "backend/mpi/buffer_pool.h"

namespace bluefog {

class Mailbox {
 public:
  // Headers (and small payloads) travel on `tag`, large payloads on `payload_tag`.
  Mailbox(MPI_Comm comm, int tag, int payload_tag);
  ~Mailbox();

  // Matches newly arrived messages and completes receives in flight. *progressed: something
  // arrived or completed; *transferring: a receive is still moving bytes.
  Status Pump(bool* progressed, bool* transferring);
  std::unique_ptr<ReceivedMessage> Take(int source, uint64_t name_hash);
  uint64_t filed_count() const { return filed_count_; }  // see Backend::filed_count
  // Unsolicited messages are not filed but handed to `handler` by Pump, in order per sender.
  void SetUnsolicitedHandler(Backend::UnsolicitedHandler handler) { unsolicited_handler_ = std::move(handler); }

  // Posts `sends` (header + payload as one message each).
  Status Send(std::span<const Outgoing> sends, std::unique_ptr<PendingSends>* out);

 private:
  struct Arriving {
    MPI_Request request = MPI_REQUEST_NULL;
    int source = -1;
    PooledBuffer buffer;
    bool is_payload = false;  // the separate payload of `header`
    WireHeader header;
    uint64_t inbox_seq = 0;   // a window message's payload: its place in inbox_
  };
  Status Arrived(Arriving arriving);
  // A received buffer shared by the messages filed from it (several when fused); it goes back to
  // the pool when the last of them is consumed.
  struct SharedBuffer {
    PooledBuffer buffer;
    std::shared_ptr<BufferPool> pool;
    ~SharedBuffer() { pool->Release(std::move(buffer)); }
  };
  struct Filed {
    std::shared_ptr<SharedBuffer> storage;
    WireHeader header;
    size_t payload_offset = 0;
    size_t payload_bytes = 0;
  };
  void File(int source, PooledBuffer buffer);
  // Unsolicited messages wait here in arrival order; one whose payload is still arriving holds back
  // the later messages of its sender (a mutex release must not overtake the put before it).
  struct InboxEntry {
    uint64_t seq = 0;
    int source = -1;
    std::unique_ptr<ReceivedMessage> message;  // null until the payload has arrived
  };
  bool DeliverUnsolicited();  // true if it handed any over

  MPI_Comm comm_;
  int tag_;
  int payload_tag_;
  std::shared_ptr<BufferPool> pool_ = std::make_shared<BufferPool>();
  std::vector<Arriving> arriving_;
  std::map<std::pair<int, uint64_t>, std::deque<Filed>> filed_;
  uint64_t filed_count_ = 0;  // messages ever put in filed_
  std::deque<InboxEntry> inbox_;
  uint64_t next_inbox_seq_ = 1;
  Backend::UnsolicitedHandler unsolicited_handler_;
};

}  // namespace bluefog

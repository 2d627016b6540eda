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

  // Posts `sends` (header + payload as one message each).
  Status Send(std::span<const Outgoing> sends, std::unique_ptr<PendingSends>* out);

 private:
  struct Arriving {
    MPI_Request request = MPI_REQUEST_NULL;
    int source = -1;
    PooledBuffer buffer;
    bool is_payload = false;  // the separate payload of `header`
    WireHeader header;
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

  MPI_Comm comm_;
  int tag_;
  int payload_tag_;
  std::shared_ptr<BufferPool> pool_ = std::make_shared<BufferPool>();
  std::vector<Arriving> arriving_;
  std::map<std::pair<int, uint64_t>, std::deque<Filed>> filed_;
};

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Mailbox: matched-probe receives into pooled buffers, filing by (sender, name), and framed sends.
#include "backend/mpi/mailbox.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>

#include "backend/mpi/mpi_check.h"
#include "core/dtype.h"

namespace bluefog {

namespace {

// Messages up to this size are packed with their header into one buffer (a copy is cheaper than
// a derived datatype); larger payloads go out in place through an hindexed datatype.
constexpr size_t kPackLimitBytes = 8 * 1024;

template <typename Storage>
class FiledMessage final : public ReceivedMessage {
 public:
  FiledMessage(int from, const WireHeader& filed_header, std::shared_ptr<Storage> storage,
               size_t payload_offset, size_t payload_bytes)
      : storage_(std::move(storage)), offset_(payload_offset), bytes_(payload_bytes) {
    source = from;
    header = filed_header;
  }
  const std::byte* payload() const override {
    return storage_->buffer.data.get() + offset_;
  }
  size_t payload_bytes() const override { return bytes_; }

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_, bytes_;
};

class MpiPendingSends final : public PendingSends {
 public:
  std::vector<MPI_Request> requests;
  std::vector<std::unique_ptr<std::byte[]>> packed;  // header + payload, every byte written
  std::vector<WireHeader> headers;  // derived datatypes point here until the sends complete

  ~MpiPendingSends() override {
    // Sends are only abandoned at shutdown; cancel rather than leave MPI writing from freed memory.
    for (MPI_Request& request : requests) {
      if (request != MPI_REQUEST_NULL) {
        MPI_Cancel(&request);
        MPI_Request_free(&request);
      }
    }
  }

  Status Test(bool* done) override {
    int flag = 1;
    if (!requests.empty()) {
      BF_MPI_CHECK(MPI_Testall(static_cast<int>(requests.size()), requests.data(), &flag,
                               MPI_STATUSES_IGNORE));
    }
    *done = flag != 0;
    return Status::Ok();
  }
};

}  // namespace

Mailbox::Mailbox(MPI_Comm comm, int tag, int payload_tag)
    : comm_(comm), tag_(tag), payload_tag_(payload_tag) {}

Mailbox::~Mailbox() {
  for (Arriving& arriving : arriving_) {
    if (arriving.request != MPI_REQUEST_NULL) MPI_Wait(&arriving.request, MPI_STATUS_IGNORE);
  }
}

Status Mailbox::Arrived(Arriving arrived) {
  if (arrived.is_payload) {
    auto storage = std::make_shared<SharedBuffer>();
    storage->buffer = std::move(arrived.buffer);
    storage->pool = pool_;
    const size_t bytes = storage->buffer.size;
    if (arrived.inbox_seq != 0) {
      for (InboxEntry& entry : inbox_) {
        if (entry.seq != arrived.inbox_seq) continue;
        entry.message = std::make_unique<FiledMessage<SharedBuffer>>(
            arrived.source, arrived.header, std::move(storage), 0, bytes);
        break;
      }
      return Status::Ok();
    }
    filed_[{arrived.source, arrived.header.name_hash}].push_back(
        {std::move(storage), arrived.header, 0, bytes});
    ++filed_count_;
    return Status::Ok();
  }
  WireHeader header;
  if (arrived.buffer.size == sizeof(WireHeader)) {
    std::memcpy(&header, arrived.buffer.data.get(), sizeof(WireHeader));
    if (header.fused_count == WireHeader::kPayloadFollows) {
      // The payload is the sender's next message on the payload tag: receive it in order.
      const size_t bytes = header.payload_bytes;
      pool_->Release(std::move(arrived.buffer));
      Arriving payload;
      payload.source = arrived.source;
      payload.is_payload = true;
      payload.header = header;
      payload.header.fused_count = 0;
      payload.buffer = pool_->Acquire(bytes);
      if (header.is_unsolicited()) {
        payload.inbox_seq = next_inbox_seq_++;
        inbox_.push_back({payload.inbox_seq, arrived.source, nullptr});
      }
      BF_MPI_CHECK(MPI_Irecv(payload.buffer.data.get(), static_cast<int>(bytes), MPI_BYTE,
                             arrived.source, payload_tag_, comm_, &payload.request));
      arriving_.push_back(std::move(payload));
      return Status::Ok();
    }
  }
  File(arrived.source, std::move(arrived.buffer));
  return Status::Ok();
}

void Mailbox::File(int source, PooledBuffer buffer) {
  if (buffer.size < sizeof(WireHeader)) {
    std::fprintf(stderr, "bluefog: dropped a %zu-byte message from rank %d: not a neighbor frame\n",
                 buffer.size, source);
    pool_->Release(std::move(buffer));
    return;
  }
  WireHeader header;
  std::memcpy(&header, buffer.data.get(), sizeof(WireHeader));
  const size_t total = buffer.size;
  auto storage = std::make_shared<SharedBuffer>();
  storage->buffer = std::move(buffer);
  storage->pool = pool_;
  if (header.is_unsolicited()) {
    inbox_.push_back({next_inbox_seq_++, source,
                      std::make_unique<FiledMessage<SharedBuffer>>(
                          source, header, std::move(storage), sizeof(WireHeader),
                          total - sizeof(WireHeader))});
    return;
  }
  if (header.fused_count <= 0) {
    filed_[{source, header.name_hash}].push_back(
        {storage, header, sizeof(WireHeader), total - sizeof(WireHeader)});
    ++filed_count_;
    return;
  }
  // Fused: [outer header][fused_count sub-headers][payloads in the same order].
  const size_t count = static_cast<size_t>(header.fused_count);
  size_t offset = sizeof(WireHeader) * (1 + count);
  for (size_t k = 0; k < count && offset <= total; ++k) {
    offset = AlignFused(offset);
    WireHeader part;
    std::memcpy(&part, storage->buffer.data.get() + sizeof(WireHeader) * (1 + k), sizeof(part));
    const size_t bytes = part.payload_bytes;
    if (bytes > total || offset + bytes > total) break;  // malformed; the op will report the missing payload
    filed_[{source, part.name_hash}].push_back({storage, part, offset, bytes});
    ++filed_count_;
    offset += bytes;
  }
}

Status Mailbox::Pump(bool* progressed, bool* transferring) {
  *progressed = false;
  for (;;) {
    int found = 0;
    MPI_Message message;
    MPI_Status status;
    BF_MPI_CHECK(MPI_Improbe(MPI_ANY_SOURCE, tag_, comm_, &found, &message, &status));
    if (!found) break;
    int bytes = 0;
    BF_MPI_CHECK(MPI_Get_count(&status, MPI_BYTE, &bytes));
    Arriving arriving;
    arriving.source = status.MPI_SOURCE;
    arriving.buffer = pool_->Acquire(static_cast<size_t>(bytes));
    BF_MPI_CHECK(MPI_Imrecv(arriving.buffer.data.get(), bytes, MPI_BYTE, &message,
                            &arriving.request));
    arriving_.push_back(std::move(arriving));
    *progressed = true;
  }
  // Headers are handled in the order they were matched, per sender: a header may post the
  // receive of its separate payload, and payloads match those receives in posting order, so a
  // later header handled first would take an earlier message's payload.
  std::vector<int> held_back;  // senders with an earlier header still arriving
  for (size_t i = 0; i < arriving_.size();) {
    Arriving& arriving = arriving_[i];
    const bool is_header = !arriving.is_payload;
    int done = 0;
    if (!is_header || std::find(held_back.begin(), held_back.end(), arriving.source) ==
                          held_back.end()) {
      BF_MPI_CHECK(MPI_Test(&arriving.request, &done, MPI_STATUS_IGNORE));
    }
    if (!done) {
      if (is_header) held_back.push_back(arriving.source);
      ++i;
      continue;
    }
    Arriving arrived = std::move(arriving);
    arriving_.erase(arriving_.begin() + static_cast<std::ptrdiff_t>(i));
    BF_RETURN_IF_ERROR(Arrived(std::move(arrived)));  // may append a payload receive
    *progressed = true;
  }
  *transferring = !arriving_.empty();
  if (!inbox_.empty() && unsolicited_handler_ && DeliverUnsolicited()) *progressed = true;
  return Status::Ok();
}

bool Mailbox::DeliverUnsolicited() {
  bool delivered = false;
  std::vector<int> held_back;  // senders with a message still arriving ahead of the rest
  for (size_t i = 0; i < inbox_.size();) {
    InboxEntry& entry = inbox_[i];
    const bool blocked =
        std::find(held_back.begin(), held_back.end(), entry.source) != held_back.end();
    if (entry.message == nullptr || blocked) {
      if (!blocked) held_back.push_back(entry.source);
      ++i;
      continue;
    }
    std::unique_ptr<ReceivedMessage> message = std::move(entry.message);
    inbox_.erase(inbox_.begin() + static_cast<std::ptrdiff_t>(i));
    unsolicited_handler_(std::move(message));
    delivered = true;
  }
  return delivered;
}

std::unique_ptr<ReceivedMessage> Mailbox::Take(int source, uint64_t name_hash) {
  auto it = filed_.find({source, name_hash});
  if (it == filed_.end()) return nullptr;
  Filed filed = std::move(it->second.front());
  it->second.pop_front();
  if (it->second.empty()) filed_.erase(it);
  return std::make_unique<FiledMessage<SharedBuffer>>(source, filed.header, filed.storage,
                                                      filed.payload_offset, filed.payload_bytes);
}

Status Mailbox::Send(std::span<const Outgoing> sends, std::unique_ptr<PendingSends>* out) {
  auto pending = std::make_unique<MpiPendingSends>();
  pending->requests.assign(sends.size(), MPI_REQUEST_NULL);
  pending->packed.resize(sends.size());
  pending->headers.resize(sends.size());
  for (size_t i = 0; i < sends.size(); ++i) {
    const Outgoing& send = sends[i];
    const size_t total = sizeof(WireHeader) + send.payload_bytes;
    if (total > static_cast<size_t>(INT_MAX)) {
      return Unsupported("a neighbor message exceeds 2 GiB; split the tensor");
    }
    pending->headers[i] = send.header;
    pending->headers[i].payload_bytes = send.payload_bytes;
    if (send.payload_bytes <= kPackLimitBytes) {
      std::byte* packed =
          (pending->packed[i] = std::make_unique_for_overwrite<std::byte[]>(total)).get();
      std::memcpy(packed, &pending->headers[i], sizeof(WireHeader));
      if (send.payload_bytes) {
        std::memcpy(packed + sizeof(WireHeader), send.payload, send.payload_bytes);
      }
      BF_MPI_CHECK(MPI_Isend(packed, static_cast<int>(total), MPI_BYTE, send.peer, tag_,
                             comm_, &pending->requests[i]));
      continue;
    }
    if (send.header.fused_count > 0) {
      // A fused body is ours already; header and body go as one message (hindexed, no copy).
      int lengths[2] = {static_cast<int>(sizeof(WireHeader)),
                        static_cast<int>(send.payload_bytes)};
      MPI_Aint addresses[2];
      BF_MPI_CHECK(MPI_Get_address(&pending->headers[i], &addresses[0]));
      BF_MPI_CHECK(MPI_Get_address(send.payload, &addresses[1]));
      MPI_Datatype framed;
      BF_MPI_CHECK(MPI_Type_create_hindexed(2, lengths, addresses, MPI_BYTE, &framed));
      BF_MPI_CHECK(MPI_Type_commit(&framed));
      const int rc =
          MPI_Isend(MPI_BOTTOM, 1, framed, send.peer, tag_, comm_, &pending->requests[i]);
      MPI_Type_free(&framed);  // released once the send completes
      BF_MPI_CHECK(rc);
      continue;
    }
    // Large payloads leave from where they are, contiguous, right after their header: the
    // transport's single-copy path, no packing.
    pending->headers[i].fused_count = WireHeader::kPayloadFollows;
    BF_MPI_CHECK(MPI_Isend(&pending->headers[i], static_cast<int>(sizeof(WireHeader)), MPI_BYTE,
                           send.peer, tag_, comm_, &pending->requests[i]));
    pending->requests.push_back(MPI_REQUEST_NULL);
    BF_MPI_CHECK(MPI_Isend(send.payload, static_cast<int>(send.payload_bytes), MPI_BYTE,
                           send.peer, payload_tag_, comm_, &pending->requests.back()));
  }
  *out = std::move(pending);
  return Status::Ok();
}

}  // namespace bluefog

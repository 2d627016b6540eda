// SPDX-License-Identifier: Apache-2.0
// Backend: the narrow transport interface every operation is written against. The MPI backend
// carries host memory; a device backend (NCCL) implements the same calls later.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
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
  uint8_t wire_dtype = 0;  // encoding on the wire; equal to dtype until compression lands
  uint8_t flags = 0;
  int32_t sender = -1;
  int32_t reserved = 0;
  uint64_t name_hash = 0;
  int64_t payload_elements = 0;
  int64_t row_elements = 0;
  char name[24] = {};  // a prefix of the op name, for error messages only
};
static_assert(sizeof(WireHeader) == 64, "WireHeader is a fixed 64-byte wire format");

struct Outgoing {
  int peer = -1;
  WireHeader header;
  const void* payload = nullptr;
  size_t payload_bytes = 0;
};

// Filled by Exchange: the header and payload received from `peer`. The payload points into a
// backend-owned buffer that stays valid until the next Exchange.
struct Incoming {
  int peer = -1;
  WireHeader header;
  const std::byte* payload = nullptr;
  size_t payload_bytes = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual int rank(Group group) const = 0;
  virtual int size(Group group) const = 0;

  // Small control-plane collectives. Every rank of the group calls them with the same count,
  // so they match structurally even when the operations that use them do not.
  virtual Status AllreduceMax(int64_t* values, int count, Group group) = 0;
  virtual Status AllgatherFixed(const void* mine, size_t bytes, void* all, Group group) = 0;

  // Data collectives; callers have checked that every rank agrees on the operation first.
  virtual Status AllreduceSum(void* buffer, int64_t count, DType dtype, Group group) = 0;
  virtual Status Broadcast(void* buffer, size_t bytes, int root, Group group) = 0;
  virtual Status Allgatherv(const void* mine, size_t my_bytes, void* all,
                            const std::vector<int64_t>& bytes_per_rank, Group group) = 0;

  // Point-to-point: sends every Outgoing and receives one message from each Incoming's peer,
  // whatever its size. World group ranks.
  virtual Status Exchange(std::span<const Outgoing> sends, std::span<Incoming> receives) = 0;
};

}  // namespace bluefog

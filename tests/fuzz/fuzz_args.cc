// SPDX-License-Identifier: Apache-2.0
// libFuzzer harness: ReadArgs (the struct_size protocol of every argument struct) with arbitrary
// struct_size values and contents. The caller's struct is a heap buffer of exactly
// max(8, struct_size) bytes, so ASan catches a read past what the caller declared.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "api/api_util.h"
#include "byte_reader.h"
#include "fuzz_check.h"

namespace {

using bluefog::Status;
using bluefog::fuzz::ByteReader;

// A member's bytes; compared as bytes, so padding is ignored and no out-of-range enum is loaded.
struct Field {
  size_t offset;
  size_t size;
};
#define FIELD(Type, member) Field{offsetof(Type, member), sizeof(Type::member)}

template <typename Args>
std::vector<Field> Fields();
template <>
std::vector<Field> Fields<bf_op_args>() {
  return {FIELD(bf_op_args, struct_size), FIELD(bf_op_args, name)};
}
template <>
std::vector<Field> Fields<bf_allreduce_args>() {
  return {FIELD(bf_allreduce_args, struct_size), FIELD(bf_allreduce_args, name),
          FIELD(bf_allreduce_args, op), FIELD(bf_allreduce_args, machine_local)};
}
template <>
std::vector<Field> Fields<bf_neighbor_args>() {
  return {FIELD(bf_neighbor_args, struct_size), FIELD(bf_neighbor_args, name),
          FIELD(bf_neighbor_args, has_weights), FIELD(bf_neighbor_args, self_weight),
          FIELD(bf_neighbor_args, src_count),   FIELD(bf_neighbor_args, src_ranks),
          FIELD(bf_neighbor_args, src_weights), FIELD(bf_neighbor_args, dynamic),
          FIELD(bf_neighbor_args, dst_count),   FIELD(bf_neighbor_args, dst_ranks),
          FIELD(bf_neighbor_args, dst_weights), FIELD(bf_neighbor_args, check_topology)};
}
template <>
std::vector<Field> Fields<bf_win_op_args>() {
  return {FIELD(bf_win_op_args, struct_size), FIELD(bf_win_op_args, has_self_weight),
          FIELD(bf_win_op_args, self_weight), FIELD(bf_win_op_args, has_ranks),
          FIELD(bf_win_op_args, count),       FIELD(bf_win_op_args, ranks),
          FIELD(bf_win_op_args, weights),     FIELD(bf_win_op_args, require_mutex)};
}
template <>
std::vector<Field> Fields<bf_win_update_args>() {
  return {FIELD(bf_win_update_args, struct_size), FIELD(bf_win_update_args, has_weights),
          FIELD(bf_win_update_args, self_weight), FIELD(bf_win_update_args, count),
          FIELD(bf_win_update_args, ranks),       FIELD(bf_win_update_args, weights),
          FIELD(bf_win_update_args, reset),       FIELD(bf_win_update_args, require_mutex)};
}

// Layout after the struct byte: flags u8 (1: NULL, 2: zero the bytes beyond sizeof(Args) so a
// larger struct from a newer caller is accepted), struct_size u16, then the struct's bytes after
// its size field.
template <typename Args>
void FuzzReadArgs(ByteReader& in) {
  const uint8_t flags = in.Read<uint8_t>();
  const size_t struct_size = in.Read<uint16_t>();
  const size_t buffer_size = std::max(sizeof(size_t), struct_size);
  std::unique_ptr<unsigned char[]> buffer(new unsigned char[buffer_size]);
  std::memcpy(buffer.get(), &struct_size, sizeof(size_t));
  for (size_t i = sizeof(size_t); i < buffer_size; ++i) {
    buffer[i] = (i >= sizeof(Args) && (flags & 2)) ? 0 : in.Read<uint8_t>();
  }
  const auto* given = (flags & 1) ? nullptr : reinterpret_cast<const Args*>(buffer.get());

  // The expected result, as bytes: defaults (zeros), then the caller's first struct_size bytes.
  unsigned char expected[sizeof(Args)] = {};
  bool expect_ok = true;
  bf_status expect_code = BF_OK;
  if (given != nullptr) {
    if (struct_size < sizeof(size_t)) {
      expect_ok = false;
      expect_code = BF_ERR_INVALID_ARGUMENT;
    } else if (std::any_of(buffer.get() + std::min(buffer_size, sizeof(Args)),
                           buffer.get() + buffer_size, [](unsigned char b) { return b != 0; })) {
      expect_ok = false;
      expect_code = BF_ERR_UNSUPPORTED;
    }
    std::memcpy(expected, buffer.get(), std::min(struct_size, sizeof(Args)));
  }
  const size_t own_size = sizeof(Args);
  std::memcpy(expected, &own_size, sizeof(size_t));

  unsigned char out_bytes[sizeof(Args)];
  std::memset(out_bytes, 0xA5, sizeof(out_bytes));
  Args out;
  std::memcpy(&out, out_bytes, sizeof(out));
  const Status status = bluefog::ReadArgs(given, "bf_fuzz", &out);
  std::memcpy(out_bytes, &out, sizeof(out));
  // No version of a struct that starts with a size_t has a size that is not a multiple of
  // alignof(size_t), and such a size may cut a pointer in two: refusing it is allowed too.
  const bool impossible_size = given != nullptr && struct_size % alignof(size_t) != 0;
  if (!status.ok() && impossible_size && status.code() == BF_ERR_INVALID_ARGUMENT) {
    expect_ok = false;
    expect_code = BF_ERR_INVALID_ARGUMENT;
  }
  FUZZ_CHECK(status.ok() == expect_ok);
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == expect_code && !status.message().empty());
    for (unsigned char byte : out_bytes) FUZZ_CHECK(byte == 0xA5);  // untouched on error
    return;
  }
  for (const Field& field : Fields<Args>()) {
    FUZZ_CHECK(std::memcmp(out_bytes + field.offset, expected + field.offset, field.size) == 0);
  }
}

}  // namespace

// Layout: which struct u8 (op, allreduce, neighbor, win_op, win_update), then FuzzReadArgs's.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  switch (in.Read<uint8_t>() % 5) {
    case 0: FuzzReadArgs<bf_op_args>(in); break;
    case 1: FuzzReadArgs<bf_allreduce_args>(in); break;
    case 2: FuzzReadArgs<bf_neighbor_args>(in); break;
    case 3: FuzzReadArgs<bf_win_op_args>(in); break;
    default: FuzzReadArgs<bf_win_update_args>(in); break;
  }
  return 0;
}

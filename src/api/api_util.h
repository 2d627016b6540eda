// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the extern "C" entry points: context lookup, argument-struct reading, naming
// arguments in messages, and the blocking = async + wait pattern.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "core/context.h"
#include "core/runtime.h"

namespace bluefog {

Status RequireContext(std::shared_ptr<Context>* out);

// "bf_allreduce: 'in' on rank 3"
std::string ArgWhere(const char* function, const char* argument, int rank);
// " on rank 3" while BlueFog is initialized, else "": for checks that run before the context is
// looked up.
std::string OnCallerRank();

// Copies an argument struct honoring struct_size: NULL gives all defaults (zeros + struct_size);
// a smaller struct (older caller) is zero-extended; a larger one (newer caller) is accepted only
// if the fields this library does not know are zero.
template <typename Args>
Status ReadArgs(const Args* given, const char* function, Args* out) {
  Args args{};
  args.struct_size = sizeof(Args);
  if (given != nullptr) {
    const size_t size = given->struct_size;
    // Every version's sizeof is a multiple of alignof(size_t); any other size may end inside a
    // pointer field (name, ranks, weights), whose remaining bytes would be read as an address.
    if (size < sizeof(size_t) || size % alignof(size_t) != 0) {
      return Error(BF_ERR_INVALID_ARGUMENT, function, ": args->struct_size is ", size,
                   OnCallerRank(), "; set it to sizeof the argument struct");
    }
    if (size > sizeof(Args)) {
      const auto* extra = reinterpret_cast<const unsigned char*>(given) + sizeof(Args);
      if (std::any_of(extra, extra + (size - sizeof(Args)), [](unsigned char b) { return b; })) {
        return Error(BF_ERR_UNSUPPORTED, function, ": args->struct_size is ", size,
                     OnCallerRank(), " and sets fields this library version (", sizeof(Args),
                     " bytes) does not know");
      }
    }
    std::memcpy(&args, given, std::min(size, sizeof(Args)));
    args.struct_size = sizeof(Args);
  }
  *out = args;
  return Status::Ok();
}

// Submits `op`, waits for it and frees its handle: the blocking form of every operation.
Status RunBlocking(Context& context, std::unique_ptr<Op> op);
// Submits asynchronously (handle != NULL) or runs to completion (handle == NULL).
Status Dispatch(Context& context, std::unique_ptr<Op> op, bf_handle* handle);

// A global op whose arguments fail validation on this rank still takes part under its name, as
// a placeholder carrying the reason, so that every rank fails it (BF_ERR_MISMATCH naming this
// rank) instead of the others waiting forever. `started` (may be null) is the op as far as it
// was built; its name wins over given_name. Returns this rank's own error.
Status FailTogether(OpKind kind, const char* given_name, const std::unique_ptr<Op>& started,
                    Status invalid);

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Compressed neighbor payloads: the wire encodings (16-bit float casts, int8 with a scale per
// chunk, top-k index/value pairs) and the error-feedback estimates the engine keeps per edge.
//
// With error feedback both ends of an edge j -> i hold the same estimate of j's tensor: j sends
// encode(x_j - estimate), and each end adds decode(message) to its copy with AddDecoded, the same
// code on the same bytes, so the copies stay bit-identical. What the estimate still lacks is the
// residual the sender keeps (ops/neighbor.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "bluefog.h"
#include "core/dtype.h"
#include "core/status.h"

namespace bluefog {

enum class WireEncoding : uint8_t { kRaw = 0, kBFloat16 = 1, kFloat16 = 2, kInt8 = 3, kTopK = 4 };

// The int8 encoding keeps one float32 scale per this many elements.
constexpr int64_t kInt8ChunkElements = 256;

const char* EncodingName(WireEncoding encoding);
// The encoding a (resolved, not default) bf_compression value sends.
WireEncoding EncodingFor(bf_compression compression);

// Elements top-k keeps of `elements`: ceil(ratio * elements), at least 1 unless empty.
int64_t TopKCount(double ratio, int64_t elements);

// Bytes of `elements` values of `dtype` once encoded (`kept`: top-k only).
size_t EncodedBytes(WireEncoding encoding, DType dtype, int64_t elements, int64_t kept);

// Writes the encoding of `count` values of a floating `dtype` to `wire` (EncodedBytes long).
// Non-finite values decode as NaN (int8: their whole chunk), so they spread as they would
// uncompressed; so does an int8 chunk whose float32 scale would overflow (|x| > 127 * FLT_MAX,
// float64 only).
void Encode(WireEncoding encoding, DType dtype, const void* values, int64_t count, int64_t kept,
            std::byte* wire);

// estimate += decode(wire), element by element in the dtype's compute precision (float32 for
// 16-bit floats). False if the payload is malformed (a top-k index out of range); nothing past
// the bad entry is applied.
bool AddDecoded(WireEncoding encoding, DType dtype, const std::byte* wire, int64_t count,
                int64_t kept, void* estimate);

// out = a - b for a floating dtype (out may alias a or b).
void Subtract(DType dtype, void* out, const void* a, const void* b, size_t count);

// The sender's side of error feedback, in one call: wire = encode(value - estimate), then
// estimate += decode(wire) exactly as the receiver's AddDecoded will, and
// residual = value - estimate (what the receiver still lacks). `residual` and `wire` are
// scratch the caller owns (count elements; EncodedBytes).
void EncodeDifference(WireEncoding encoding, DType dtype, const void* value, int64_t count,
                      int64_t kept, void* estimate, void* residual, std::byte* wire);

// One end's copy of an edge's estimate.
struct EdgeEstimate {
  DType dtype = DType::kFloat32;
  int64_t elements = 0;
  uint32_t sequence = 0;  // messages added so far
  std::vector<std::byte> values;
  // Sender only: the last message and residual, reused call after call (the next call under
  // this name cannot start before this one has completed).
  std::vector<std::byte> wire, residual;

  void Reset();  // back to zero, sequence 0
};

// Every estimate this rank keeps, by (name, peer, side). Engine thread only. Entries live until
// finalize; an entry whose tensor changed dtype or size starts again from zero.
class FeedbackStore {
 public:
  enum class Side { kSent, kReceived };  // my tensor as `peer` has it / `peer`'s as I have it

  EdgeEstimate& Find(const std::string& name, int peer, Side side, DType dtype,
                     int64_t elements);

 private:
  std::map<std::tuple<std::string, int, Side>, EdgeEstimate> edges_;
};

}  // namespace bluefog

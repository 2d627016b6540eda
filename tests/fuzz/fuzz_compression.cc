// SPDX-License-Identifier: Apache-2.0
// libFuzzer harness: the wire encodings of compressed neighbor payloads (ops/compression.h).
// Round trips of arbitrary values (NaN, infinities, subnormals, huge and tiny chunks) must stay
// within each encoding's error bound, top-k must keep exactly the largest magnitudes, and
// decoding arbitrary bytes must never touch memory outside the estimate (ASan) nor crash.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "byte_reader.h"
#include "core/dtype.h"
#include "fuzz_check.h"
#include "ops/compression.h"

namespace {

using bluefog::DType;
using bluefog::WireEncoding;
using bluefog::fuzz::ByteReader;

constexpr DType kDTypes[] = {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16};

double Get(DType dtype, const std::vector<std::byte>& bytes, size_t i) {
  switch (dtype) {
    case DType::kFloat32: { float v; std::memcpy(&v, &bytes[i * 4], 4); return v; }
    case DType::kFloat64: { double v; std::memcpy(&v, &bytes[i * 8], 8); return v; }
    default: {
      uint16_t b;
      std::memcpy(&b, &bytes[i * 2], 2);
      return dtype == DType::kFloat16 ? bluefog::HalfToFloat(b) : bluefog::BFloat16ToFloat(b);
    }
  }
}

// Relative rounding of a value stored in `dtype` (half an ulp).
double StoreRounding(DType dtype) {
  switch (dtype) {
    case DType::kFloat64: return 0x1p-53;
    case DType::kFloat32: return 0x1p-24;
    case DType::kFloat16: return 0x1p-11;
    default: return 0x1p-8;
  }
}

// Absolute rounding of a tiny value stored in `dtype` (half its smallest subnormal step).
double StoreUnderflow(DType dtype) { return dtype == DType::kFloat16 ? 0x1p-25 : 1e-38; }

double Magnitude(double v) { return std::isnan(v) ? INFINITY : std::abs(v); }

void CheckRoundTrip(WireEncoding encoding, DType dtype, const std::vector<std::byte>& in,
                    const std::vector<std::byte>& out, size_t count, size_t kept) {
  const double store = StoreRounding(dtype);
  const double underflow = StoreUnderflow(dtype);
  if (encoding == WireEncoding::kTopK) {
    // Kept values come back exactly; the smallest kept magnitude is at least the largest dropped.
    double smallest_kept = INFINITY, largest_dropped = 0;
    size_t nonzero = 0;
    for (size_t i = 0; i < count; ++i) {
      const double x = Get(dtype, in, i), y = Get(dtype, out, i);
      const bool same = (std::isnan(x) && std::isnan(y)) || x == y;
      if (y != 0 || std::isnan(y)) {
        FUZZ_CHECK(same);
        ++nonzero;
        smallest_kept = std::min(smallest_kept, Magnitude(x));
      } else if (x != 0) {
        largest_dropped = std::max(largest_dropped, Magnitude(x));
      }
    }
    FUZZ_CHECK(nonzero <= kept);
    if (nonzero == kept) FUZZ_CHECK(smallest_kept >= largest_dropped);
    if (kept == count) FUZZ_CHECK(largest_dropped == 0);  // everything kept
    return;
  }
  const size_t chunk = static_cast<size_t>(bluefog::kInt8ChunkElements);
  for (size_t i = 0; i < count; ++i) {
    const double x = Get(dtype, in, i), y = Get(dtype, out, i);
    if (encoding == WireEncoding::kRaw) {
      FUZZ_CHECK((std::isnan(x) && std::isnan(y)) || x == y);
      continue;
    }
    if (encoding == WireEncoding::kInt8) {
      const size_t start = i / chunk * chunk;
      double largest = 0;
      bool finite = true;
      for (size_t j = start; j < std::min(count, start + chunk); ++j) {
        const double v = Get(dtype, in, j);
        finite = finite && std::isfinite(v);
        largest = std::max(largest, std::abs(v));
      }
      if (!finite) {
        FUZZ_CHECK(std::isnan(y));  // the whole chunk spreads as NaN
        continue;
      }
      if (std::isnan(y)) {  // only when the chunk's float32 scale overflows
        FUZZ_CHECK(largest / 127 > static_cast<double>(FLT_MAX) * 0.99);
        continue;
      }
      const double step = largest / 127;
      const double bound =
          step * 0.5001 + (std::abs(x) + step) * (store + 0x1p-23) + underflow + 1e-30;
      FUZZ_CHECK(std::abs(y - x) <= bound);
      continue;
    }
    // Casts to 16-bit floats.
    if (!std::isfinite(x)) {
      FUZZ_CHECK(std::isnan(x) ? std::isnan(y) : y == x);
      continue;
    }
    const bool half = encoding == WireEncoding::kFloat16;
    // Near the largest finite value of the wire type or of the tensor's own type, rounding may
    // overflow to infinity (e.g. 65504 in a float16 tensor rounds to 65536 as bfloat16).
    const double largest = std::min(half || dtype == DType::kFloat16 ? 65504.0 : 3.38e38,
                                    dtype == DType::kFloat32 || dtype == DType::kFloat64
                                        ? INFINITY
                                        : 3.38e38);
    if (std::abs(x) > largest * (1 - 0x1p-8)) continue;
    const double relative = (half ? 0x1p-11 : 0x1p-8) + store + 0x1p-24;
    const double absolute = half ? 0x1p-25 : 1e-38;
    FUZZ_CHECK(std::abs(y - x) <= std::abs(x) * relative * 1.0001 + absolute + underflow);
  }
}

}  // namespace

// Layout: mode u8 (bit 0: decode arbitrary wire bytes instead of a round trip), encoding u8,
// dtype u8, count u16 (at most 4096 elements), kept u16 (top-k, clamped to [1, count]), then the
// tensor's values (round trip) or the wire bytes (decode), zero-padded.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  const uint8_t mode = in.Read<uint8_t>();
  const auto encoding = static_cast<WireEncoding>(in.Read<uint8_t>() % 5);
  const DType dtype = kDTypes[in.Read<uint8_t>() % 4];
  const size_t count = in.Read<uint16_t>() % 4097;
  size_t kept = in.Read<uint16_t>();
  kept = count == 0 ? 0 : std::clamp<size_t>(kept, 1, count);
  if (encoding != WireEncoding::kTopK) kept = 0;
  const size_t element = bluefog::ElementSize(dtype);
  const auto n = static_cast<int64_t>(count);
  const auto k = static_cast<int64_t>(kept);
  const size_t wire_bytes = bluefog::EncodedBytes(encoding, dtype, n, k);

  // Exactly sized buffers, so ASan sees any access past them.
  std::vector<std::byte> estimate(count * element);
  if (mode & 1) {
    std::vector<std::byte> wire(wire_bytes);
    const size_t given = std::min(wire_bytes, in.remaining());
    if (given) std::memcpy(wire.data(), in.rest(), given);
    (void)bluefog::AddDecoded(encoding, dtype, wire.data(), n, k, estimate.data());
    return 0;
  }
  std::vector<std::byte> values(count * element);
  const size_t given = std::min(values.size(), in.remaining());
  if (given) std::memcpy(values.data(), in.rest(), given);
  std::vector<std::byte> wire(wire_bytes);
  bluefog::Encode(encoding, dtype, values.data(), n, k, wire.data());
  FUZZ_CHECK(bluefog::AddDecoded(encoding, dtype, wire.data(), n, k, estimate.data()));
  CheckRoundTrip(encoding, dtype, values, estimate, count, kept);
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// Wire encodings for compressed neighbor payloads, and the error-feedback estimate store.
//
// Every kernel works in the dtype's compute precision C (double for float64, float otherwise),
// a block at a time. Both ends of an edge update their estimates with the one AddDecoded below,
// so they compute the same bits.
#include "ops/compression.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

namespace bluefog {

const char* EncodingName(WireEncoding encoding) {
  switch (encoding) {
    case WireEncoding::kRaw: return "none";
    case WireEncoding::kBFloat16: return "bfloat16";
    case WireEncoding::kFloat16: return "float16";
    case WireEncoding::kInt8: return "int8";
    case WireEncoding::kTopK: return "top-k";
  }
  return "unknown";
}

WireEncoding EncodingFor(bf_compression compression) {
  switch (compression) {
    case BF_COMPRESSION_BFLOAT16: return WireEncoding::kBFloat16;
    case BF_COMPRESSION_FLOAT16: return WireEncoding::kFloat16;
    case BF_COMPRESSION_INT8: return WireEncoding::kInt8;
    case BF_COMPRESSION_TOPK: return WireEncoding::kTopK;
    default: return WireEncoding::kRaw;
  }
}

int64_t TopKCount(double ratio, int64_t elements) {
  if (elements <= 0) return 0;
  const double kept = std::ceil(ratio * static_cast<double>(elements));
  return std::clamp<int64_t>(static_cast<int64_t>(kept), 1, elements);
}

size_t EncodedBytes(WireEncoding encoding, DType dtype, int64_t elements, int64_t kept) {
  const auto n = static_cast<size_t>(elements);
  switch (encoding) {
    case WireEncoding::kRaw: return n * ElementSize(dtype);
    case WireEncoding::kBFloat16:
    case WireEncoding::kFloat16: return n * sizeof(uint16_t);
    case WireEncoding::kInt8: {
      const size_t chunks = (n + kInt8ChunkElements - 1) / kInt8ChunkElements;
      return chunks * sizeof(float) + n;
    }
    case WireEncoding::kTopK:
      return static_cast<size_t>(kept) * (sizeof(uint32_t) + ElementSize(dtype));
  }
  return 0;
}

namespace {

constexpr size_t kBlock = 2048;

// values[offset, offset + n) of a floating tensor, as C.
template <typename C>
void Load(DType dtype, const void* src, size_t offset, size_t n, C* out) {
  switch (dtype) {
    case DType::kFloat32: {
      const float* p = static_cast<const float*>(src) + offset;
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<C>(p[i]);
      break;
    }
    case DType::kFloat64: {
      const double* p = static_cast<const double*>(src) + offset;
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<C>(p[i]);
      break;
    }
    default: {  // 16-bit floats
      float wide[kBlock];
      WidenToFloat(dtype, static_cast<const uint16_t*>(src) + offset, wide, n);
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<C>(wide[i]);
      break;
    }
  }
}

template <typename C>
void Store(DType dtype, const C* in, void* dst, size_t offset, size_t n) {
  switch (dtype) {
    case DType::kFloat32: {
      float* p = static_cast<float*>(dst) + offset;
      for (size_t i = 0; i < n; ++i) p[i] = static_cast<float>(in[i]);
      break;
    }
    case DType::kFloat64: {
      double* p = static_cast<double*>(dst) + offset;
      for (size_t i = 0; i < n; ++i) p[i] = static_cast<double>(in[i]);
      break;
    }
    default: {
      float narrow[kBlock];
      for (size_t i = 0; i < n; ++i) narrow[i] = static_cast<float>(in[i]);
      NarrowFromFloat(dtype, narrow, static_cast<uint16_t*>(dst) + offset, n);
      break;
    }
  }
}

// One element of a floating dtype read from unaligned bytes, as C.
template <typename C>
C ReadElement(DType dtype, const std::byte* at) {
  switch (dtype) {
    case DType::kFloat32: {
      float v;
      std::memcpy(&v, at, sizeof v);
      return static_cast<C>(v);
    }
    case DType::kFloat64: {
      double v;
      std::memcpy(&v, at, sizeof v);
      return static_cast<C>(v);
    }
    default: {
      uint16_t bits;
      std::memcpy(&bits, at, sizeof bits);
      return static_cast<C>(dtype == DType::kFloat16 ? HalfToFloat(bits) : BFloat16ToFloat(bits));
    }
  }
}

DType CastTarget(WireEncoding encoding) {
  return encoding == WireEncoding::kFloat16 ? DType::kFloat16 : DType::kBFloat16;
}

template <typename C>
void EncodeCast(WireEncoding encoding, DType dtype, const void* values, size_t count,
                std::byte* wire) {
  C block[kBlock];
  float narrow[kBlock];
  uint16_t bits[kBlock];
  for (size_t start = 0; start < count; start += kBlock) {
    const size_t n = std::min(kBlock, count - start);
    Load(dtype, values, start, n, block);
    for (size_t i = 0; i < n; ++i) narrow[i] = static_cast<float>(block[i]);
    NarrowFromFloat(CastTarget(encoding), narrow, bits, n);
    std::memcpy(wire + start * sizeof(uint16_t), bits, n * sizeof(uint16_t));
  }
}

// [one float scale per chunk][one int8 per element]: value ~ q * scale, |q| <= 127.
template <typename C>
void EncodeInt8(DType dtype, const void* values, size_t count, std::byte* wire) {
  const size_t chunk = static_cast<size_t>(kInt8ChunkElements);
  const size_t chunks = (count + chunk - 1) / chunk;
  std::byte* quantized = wire + chunks * sizeof(float);
  C block[static_cast<size_t>(kInt8ChunkElements)];
  for (size_t c = 0; c < chunks; ++c) {
    const size_t start = c * chunk;
    const size_t n = std::min(chunk, count - start);
    Load(dtype, values, start, n, block);
    C largest = 0;
    bool finite = true;
    for (size_t i = 0; i < n; ++i) {
      finite = finite && std::isfinite(block[i]);
      largest = std::max(largest, std::abs(block[i]));
    }
    float scale = static_cast<float>(largest / 127);
    if (!finite || !std::isfinite(scale)) scale = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(wire + c * sizeof(float), &scale, sizeof scale);
    int8_t levels[static_cast<size_t>(kInt8ChunkElements)] = {};
    if (std::isfinite(scale) && scale > 0) {
      const C step = static_cast<C>(scale);  // (a reciprocal can overflow for tiny scales)
      for (size_t i = 0; i < n; ++i) {
        // Round half away from zero (truncating x +- 0.5): branch-free, so it vectorizes.
        const C x = std::clamp<C>(block[i] / step, -127, 127);
        levels[i] = static_cast<int8_t>(x + std::copysign(C(0.5), x));
      }
    }
    std::memcpy(quantized + start, levels, n);
  }
}

// The k-th largest of `values` (1 <= k <= size). A strided sample gives a bound that at least k
// values likely reach; then only the values at or above it are ordered. If fewer than k reach it,
// all values are (the answer is exact either way).
template <typename C>
C KthLargest(const std::vector<C>& values, size_t k) {
  constexpr size_t kSample = 4096;
  const size_t n = values.size();
  if (n > 16 * kSample) {
    const size_t stride = n / kSample;
    std::vector<C> sample;
    sample.reserve(n / stride + 1);
    for (size_t i = 0; i < n; i += stride) sample.push_back(values[i]);
    // Twice the sample's expected count above the answer, plus slack: usually reached by >= k.
    const size_t rank = std::min(sample.size() - 1, 2 * (k * sample.size() / n) + 16);
    std::nth_element(sample.begin(), sample.begin() + static_cast<ptrdiff_t>(rank), sample.end(),
                     std::greater<C>());
    const C bound = sample[rank];
    thread_local std::vector<C> above;
    above.clear();
    for (C v : values) {
      if (v >= bound) above.push_back(v);
    }
    if (above.size() >= k) {
      std::nth_element(above.begin(), above.begin() + static_cast<ptrdiff_t>(k - 1), above.end(),
                       std::greater<C>());
      return above[k - 1];
    }
  }
  std::vector<C> all = values;
  std::nth_element(all.begin(), all.begin() + static_cast<ptrdiff_t>(k - 1), all.end(),
                   std::greater<C>());
  return all[k - 1];
}

// [kept uint32 indices, ascending][kept values in the tensor's dtype]: the largest magnitudes.
template <typename C>
void EncodeTopK(DType dtype, const void* values, size_t count, size_t kept, std::byte* wire) {
  // Kept between calls (the engine thread encodes every step): no fresh pages to fault in.
  thread_local std::vector<C> magnitude;
  magnitude.resize(count);
  for (size_t start = 0; start < count; start += kBlock) {
    const size_t n = std::min(kBlock, count - start);
    Load(dtype, values, start, n, magnitude.data() + start);
    for (size_t i = start; i < start + n; ++i) {
      // NaN ranks first (it must reach the peer as it would uncompressed) and keeps the
      // comparison a strict weak order.
      magnitude[i] = std::isnan(magnitude[i]) ? std::numeric_limits<C>::infinity()
                                              : std::abs(magnitude[i]);
    }
  }
  // The kept set: every magnitude above the kept-th largest, then ties at it by lower index.
  std::vector<uint32_t> order;
  order.reserve(kept);
  if (kept < count) {
    const C threshold = KthLargest(magnitude, kept);
    size_t above = 0;
    for (size_t i = 0; i < count; ++i) above += magnitude[i] > threshold;
    size_t ties = kept - above;  // entries equal to the threshold still to take
    for (size_t i = 0; i < count; ++i) {
      bool take = magnitude[i] > threshold;
      if (!take && magnitude[i] == threshold && ties > 0) {
        take = true;
        --ties;
      }
      if (take) order.push_back(static_cast<uint32_t>(i));
    }
  } else {
    for (size_t i = 0; i < count; ++i) order.push_back(static_cast<uint32_t>(i));
  }
  const size_t element = ElementSize(dtype);
  std::byte* value_at = wire + kept * sizeof(uint32_t);
  const auto* source = static_cast<const std::byte*>(values);
  for (size_t k = 0; k < kept; ++k) {
    std::memcpy(wire + k * sizeof(uint32_t), &order[k], sizeof(uint32_t));
    std::memcpy(value_at + k * element, source + order[k] * element, element);
  }
}

template <typename C>
void Encode(WireEncoding encoding, DType dtype, const void* values, size_t count, size_t kept,
            std::byte* wire) {
  switch (encoding) {
    case WireEncoding::kRaw:
      if (count) std::memcpy(wire, values, count * ElementSize(dtype));
      break;
    case WireEncoding::kBFloat16:
    case WireEncoding::kFloat16: EncodeCast<C>(encoding, dtype, values, count, wire); break;
    case WireEncoding::kInt8: EncodeInt8<C>(dtype, values, count, wire); break;
    case WireEncoding::kTopK: EncodeTopK<C>(dtype, values, count, kept, wire); break;
  }
}

template <typename C>
bool AddDecoded(WireEncoding encoding, DType dtype, const std::byte* wire, size_t count,
                size_t kept, void* estimate) {
  C block[kBlock];
  switch (encoding) {
    case WireEncoding::kRaw: {
      const size_t element = ElementSize(dtype);
      for (size_t start = 0; start < count; start += kBlock) {
        const size_t n = std::min(kBlock, count - start);
        Load(dtype, estimate, start, n, block);
        for (size_t i = 0; i < n; ++i) block[i] += ReadElement<C>(dtype, wire + (start + i) * element);
        Store(dtype, block, estimate, start, n);
      }
      return true;
    }
    case WireEncoding::kBFloat16:
    case WireEncoding::kFloat16: {
      uint16_t bits[kBlock];
      float wide[kBlock];
      for (size_t start = 0; start < count; start += kBlock) {
        const size_t n = std::min(kBlock, count - start);
        std::memcpy(bits, wire + start * sizeof(uint16_t), n * sizeof(uint16_t));
        WidenToFloat(CastTarget(encoding), bits, wide, n);
        Load(dtype, estimate, start, n, block);
        for (size_t i = 0; i < n; ++i) block[i] += static_cast<C>(wide[i]);
        Store(dtype, block, estimate, start, n);
      }
      return true;
    }
    case WireEncoding::kInt8: {
      const size_t chunk = static_cast<size_t>(kInt8ChunkElements);
      const size_t chunks = (count + chunk - 1) / chunk;
      const std::byte* quantized = wire + chunks * sizeof(float);
      for (size_t c = 0; c < chunks; ++c) {
        const size_t start = c * chunk;
        const size_t n = std::min(chunk, count - start);
        float scale;
        std::memcpy(&scale, wire + c * sizeof(float), sizeof scale);
        int8_t levels[static_cast<size_t>(kInt8ChunkElements)];
        std::memcpy(levels, quantized + start, n);
        Load(dtype, estimate, start, n, block);
        // In double: q * scale of a float64 chunk may exceed float32's range. For float32 the
        // product is clamped: 127 * (largest / 127 rounded to float) may exceed FLT_MAX by an
        // ulp, which must decode as FLT_MAX, not infinity.
        constexpr double kLargest = std::numeric_limits<C>::max();
        for (size_t i = 0; i < n; ++i) {
          const double value = static_cast<double>(levels[i]) * scale;
          block[i] += static_cast<C>(std::clamp(value, -kLargest, kLargest));
        }
        Store(dtype, block, estimate, start, n);
      }
      return true;
    }
    case WireEncoding::kTopK: {
      const size_t element = ElementSize(dtype);
      const std::byte* value_at = wire + kept * sizeof(uint32_t);
      for (size_t k = 0; k < kept; ++k) {
        uint32_t index;
        std::memcpy(&index, wire + k * sizeof(uint32_t), sizeof index);
        if (index >= count) return false;
        C current;
        Load(dtype, estimate, index, 1, &current);
        current += ReadElement<C>(dtype, value_at + k * element);
        Store(dtype, &current, estimate, index, 1);
      }
      return true;
    }
  }
  return false;
}

template <typename C>
void Subtract(DType dtype, void* out, const void* a, const void* b, size_t count) {
  C left[kBlock];
  C right[kBlock];
  for (size_t start = 0; start < count; start += kBlock) {
    const size_t n = std::min(kBlock, count - start);
    Load(dtype, a, start, n, left);
    Load(dtype, b, start, n, right);
    for (size_t i = 0; i < n; ++i) left[i] -= right[i];
    Store(dtype, left, out, start, n);
  }
}

// Error feedback at the sender. The chunked encodings go a block at a time (all four steps on
// data in cache): the block is encoded as a message of its own, whose scales and levels are then
// copied to their places in the whole message. Decoding the block runs the same per-element
// arithmetic the receiver runs on the whole message, so both estimates get the same bits.
template <typename C>
void EncodeDifference(WireEncoding encoding, DType dtype, const void* value, size_t count,
                      size_t kept, void* estimate, void* residual, std::byte* wire) {
  if (encoding == WireEncoding::kTopK || encoding == WireEncoding::kRaw) {
    Subtract<C>(dtype, residual, value, estimate, count);
    Encode<C>(encoding, dtype, residual, count, kept, wire);
    (void)AddDecoded<C>(encoding, dtype, wire, count, kept, estimate);
    Subtract<C>(dtype, residual, value, estimate, count);
    return;
  }
  static_assert(kBlock % static_cast<size_t>(kInt8ChunkElements) == 0);
  const size_t element = ElementSize(dtype);
  const size_t chunk = static_cast<size_t>(kInt8ChunkElements);
  const size_t chunks = (count + chunk - 1) / chunk;
  std::byte piece[kBlock * sizeof(uint16_t)];  // the largest block encoding (casts)
  for (size_t start = 0; start < count; start += kBlock) {
    const size_t n = std::min(kBlock, count - start);
    const auto* v = static_cast<const std::byte*>(value) + start * element;
    auto* e = static_cast<std::byte*>(estimate) + start * element;
    auto* r = static_cast<std::byte*>(residual) + start * element;
    Subtract<C>(dtype, r, v, e, n);
    Encode<C>(encoding, dtype, r, n, 0, piece);
    (void)AddDecoded<C>(encoding, dtype, piece, n, 0, e);
    Subtract<C>(dtype, r, v, e, n);
    if (encoding == WireEncoding::kInt8) {
      const size_t piece_chunks = (n + chunk - 1) / chunk;
      std::memcpy(wire + start / chunk * sizeof(float), piece, piece_chunks * sizeof(float));
      std::memcpy(wire + chunks * sizeof(float) + start, piece + piece_chunks * sizeof(float), n);
    } else {
      std::memcpy(wire + start * sizeof(uint16_t), piece, n * sizeof(uint16_t));
    }
  }
}

}  // namespace

void EncodeDifference(WireEncoding encoding, DType dtype, const void* value, int64_t count,
                      int64_t kept, void* estimate, void* residual, std::byte* wire) {
  const auto n = static_cast<size_t>(count);
  const auto k = static_cast<size_t>(kept);
  if (dtype == DType::kFloat64) {
    EncodeDifference<double>(encoding, dtype, value, n, k, estimate, residual, wire);
  } else {
    EncodeDifference<float>(encoding, dtype, value, n, k, estimate, residual, wire);
  }
}

void Encode(WireEncoding encoding, DType dtype, const void* values, int64_t count, int64_t kept,
            std::byte* wire) {
  const auto n = static_cast<size_t>(count);
  const auto k = static_cast<size_t>(kept);
  if (dtype == DType::kFloat64) {
    Encode<double>(encoding, dtype, values, n, k, wire);
  } else {
    Encode<float>(encoding, dtype, values, n, k, wire);
  }
}

bool AddDecoded(WireEncoding encoding, DType dtype, const std::byte* wire, int64_t count,
                int64_t kept, void* estimate) {
  const auto n = static_cast<size_t>(count);
  const auto k = static_cast<size_t>(kept);
  if (dtype == DType::kFloat64) return AddDecoded<double>(encoding, dtype, wire, n, k, estimate);
  return AddDecoded<float>(encoding, dtype, wire, n, k, estimate);
}

void Subtract(DType dtype, void* out, const void* a, const void* b, size_t count) {
  if (dtype == DType::kFloat64) {
    Subtract<double>(dtype, out, a, b, count);
  } else {
    Subtract<float>(dtype, out, a, b, count);
  }
}

void EdgeEstimate::Reset() {
  std::fill(values.begin(), values.end(), std::byte{0});
  sequence = 0;
}

EdgeEstimate& FeedbackStore::Find(const std::string& name, int peer, Side side, DType dtype,
                                  int64_t elements) {
  EdgeEstimate& edge = edges_[{name, peer, side}];
  if (edge.values.empty() || edge.dtype != dtype || edge.elements != elements) {
    edge.dtype = dtype;
    edge.elements = elements;
    edge.values.assign(static_cast<size_t>(elements) * ElementSize(dtype), std::byte{0});
    edge.sequence = 0;
  }
  return edge;
}

}  // namespace bluefog

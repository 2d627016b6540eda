// SPDX-License-Identifier: Apache-2.0
// The wire encodings of compressed neighbor payloads: sizes, round-trip error bounds per
// encoding and dtype, top-k selection, non-finite values, malformed payloads, and the
// error-feedback store.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "ops/compression.h"

namespace bluefog {
namespace {

// A tensor of `dtype` held as bytes, read and written as doubles.
struct Values {
  DType dtype;
  std::vector<std::byte> bytes;
  Values(DType type, size_t n) : dtype(type), bytes(n * ElementSize(type)) {}
  size_t size() const { return bytes.size() / ElementSize(dtype); }
  void* data() { return bytes.data(); }
  double Get(size_t i) const {
    switch (dtype) {
      case DType::kFloat32: { float v; std::memcpy(&v, &bytes[i * 4], 4); return v; }
      case DType::kFloat64: { double v; std::memcpy(&v, &bytes[i * 8], 8); return v; }
      default: {
        uint16_t b; std::memcpy(&b, &bytes[i * 2], 2);
        return dtype == DType::kFloat16 ? HalfToFloat(b) : BFloat16ToFloat(b);
      }
    }
  }
  void Set(size_t i, double value) {
    switch (dtype) {
      case DType::kFloat32: { float v = static_cast<float>(value); std::memcpy(&bytes[i * 4], &v, 4); break; }
      case DType::kFloat64: std::memcpy(&bytes[i * 8], &value, 8); break;
      default: {
        const float f = static_cast<float>(value);
        const uint16_t b = dtype == DType::kFloat16 ? FloatToHalf(f) : FloatToBFloat16(f);
        std::memcpy(&bytes[i * 2], &b, 2);
      }
    }
  }
};

Values Random(DType dtype, size_t n, unsigned seed, double spread = 3.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, spread);
  Values v(dtype, n);
  for (size_t i = 0; i < n; ++i) v.Set(i, normal(rng));
  return v;
}

// decode(encode(v)) into a zero estimate.
Values RoundTrip(WireEncoding encoding, const Values& in, int64_t kept) {
  const auto n = static_cast<int64_t>(in.size());
  std::vector<std::byte> wire(EncodedBytes(encoding, in.dtype, n, kept));
  Encode(encoding, in.dtype, in.bytes.data(), n, kept, wire.data());
  Values out(in.dtype, in.size());
  EXPECT_TRUE(AddDecoded(encoding, in.dtype, wire.data(), n, kept, out.data()));
  return out;
}

const DType kFloatTypes[] = {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16};

TEST(Compression, EncodedSizes) {
  EXPECT_EQ(EncodedBytes(WireEncoding::kRaw, DType::kFloat32, 1000, 0), 4000u);
  EXPECT_EQ(EncodedBytes(WireEncoding::kBFloat16, DType::kFloat64, 1000, 0), 2000u);
  EXPECT_EQ(EncodedBytes(WireEncoding::kFloat16, DType::kFloat32, 3, 0), 6u);
  // int8: one byte per element plus one float scale per started chunk of 256.
  EXPECT_EQ(EncodedBytes(WireEncoding::kInt8, DType::kFloat32, 256, 0), 256u + 4u);
  EXPECT_EQ(EncodedBytes(WireEncoding::kInt8, DType::kFloat32, 257, 0), 257u + 8u);
  EXPECT_EQ(EncodedBytes(WireEncoding::kInt8, DType::kFloat64, 0, 0), 0u);
  EXPECT_EQ(EncodedBytes(WireEncoding::kTopK, DType::kFloat64, 1000, 10), 10u * 12u);
  EXPECT_EQ(EncodedBytes(WireEncoding::kTopK, DType::kFloat16, 1000, 10), 10u * 6u);
  EXPECT_EQ(TopKCount(0.01, 1000), 10);
  EXPECT_EQ(TopKCount(0.01, 1001), 11);  // ceil
  EXPECT_EQ(TopKCount(0.001, 10), 1);    // at least one
  EXPECT_EQ(TopKCount(1.0, 10), 10);
  EXPECT_EQ(TopKCount(0.5, 0), 0);
}

TEST(Compression, CastsRoundLikeTheTargetType) {
  for (DType dtype : kFloatTypes) {
    const Values in = Random(dtype, 3000, 1);
    for (WireEncoding encoding : {WireEncoding::kBFloat16, WireEncoding::kFloat16}) {
      const Values out = RoundTrip(encoding, in, 0);
      const double relative = encoding == WireEncoding::kBFloat16 ? 1.0 / 256 : 1.0 / 2048;
      for (size_t i = 0; i < in.size(); ++i) {
        ASSERT_NEAR(out.Get(i), in.Get(i), std::abs(in.Get(i)) * relative + 1e-7)
            << DTypeName(dtype) << " via " << EncodingName(encoding) << " at " << i;
      }
    }
  }
}

TEST(Compression, Int8ErrorIsHalfAStepOfItsChunk) {
  for (DType dtype : kFloatTypes) {
    Values in = Random(dtype, 1000, 2);
    // Chunks of very different ranges: each gets its own scale.
    for (size_t i = 256; i < 512; ++i) in.Set(i, in.Get(i) * 1e-3);
    const Values out = RoundTrip(WireEncoding::kInt8, in, 0);
    for (size_t start = 0; start < in.size(); start += 256) {
      double largest = 0;
      for (size_t i = start; i < std::min(in.size(), start + 256); ++i) {
        largest = std::max(largest, std::abs(in.Get(i)));
      }
      const double step = largest / 127;
      // Half a quantization step, plus the tensor's own rounding for 16-bit dtypes.
      const double slack = dtype == DType::kBFloat16 ? largest / 128
                           : dtype == DType::kFloat16 ? largest / 1024
                                                      : largest * 1e-6;
      for (size_t i = start; i < std::min(in.size(), start + 256); ++i) {
        ASSERT_LE(std::abs(out.Get(i) - in.Get(i)), step / 2 + slack)
            << DTypeName(dtype) << " element " << i;
      }
    }
  }
}

TEST(Compression, Int8OfZerosIsExactAndNonFiniteChunksDecodeAsNaN) {
  Values in(DType::kFloat32, 600);  // zeros
  in.Set(300, std::numeric_limits<double>::infinity());
  in.Set(550, std::numeric_limits<double>::quiet_NaN());
  const Values out = RoundTrip(WireEncoding::kInt8, in, 0);
  for (size_t i = 0; i < 256; ++i) ASSERT_EQ(out.Get(i), 0.0) << i;
  for (size_t i = 256; i < 600; ++i) ASSERT_TRUE(std::isnan(out.Get(i))) << i;
}

TEST(Compression, TopKKeepsTheLargestMagnitudesExactly) {
  for (DType dtype : kFloatTypes) {
    Values in(dtype, 1000);
    for (size_t i = 0; i < in.size(); ++i) in.Set(i, (i % 2 ? -1.0 : 1.0) * 0.001 * (i % 97));
    in.Set(17, -50.0);
    in.Set(400, 40.0);
    in.Set(999, 30.0);
    const Values out = RoundTrip(WireEncoding::kTopK, in, 3);
    for (size_t i = 0; i < in.size(); ++i) {
      const bool kept = i == 17 || i == 400 || i == 999;
      ASSERT_EQ(out.Get(i), kept ? in.Get(i) : 0.0) << DTypeName(dtype) << " element " << i;
    }
  }
}

// Large tensors take a sampled shortcut to the threshold; the kept set must still be exactly the
// k largest magnitudes, ties broken by lower index, for any distribution (including ones that
// defeat the sample and take the full selection).
TEST(Compression, TopKOfLargeTensorsIsExact) {
  const size_t n = 200000;
  std::mt19937 rng(9);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<std::pair<const char*, std::vector<float>>> patterns;
  std::vector<float> values(n);
  for (float& v : values) v = static_cast<float>(normal(rng));
  patterns.emplace_back("normal", values);
  for (size_t i = 0; i < n; ++i) values[i] = static_cast<float>(i);  // ascending
  patterns.emplace_back("ascending", values);
  for (size_t i = 0; i < n; ++i) values[i] = (i % 97 == 0) ? 1000.0f + i : 1.0f;  // spikes, ties
  patterns.emplace_back("spikes", values);
  for (size_t i = 0; i < n; ++i) values[i] = (i % 3 == 0) ? -2.0f : 0.5f;  // one big tie
  patterns.emplace_back("ties", values);
  for (const auto& [name, data] : patterns) {
    for (int64_t kept : {int64_t{1}, int64_t{2000}, int64_t{50000}}) {
      std::vector<uint32_t> order(n);
      for (size_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
      std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        return std::abs(data[a]) > std::abs(data[b]);
      });
      order.resize(static_cast<size_t>(kept));
      std::sort(order.begin(), order.end());
      std::vector<std::byte> wire(EncodedBytes(WireEncoding::kTopK, DType::kFloat32, n, kept));
      Encode(WireEncoding::kTopK, DType::kFloat32, data.data(), n, kept, wire.data());
      std::vector<uint32_t> sent(static_cast<size_t>(kept));
      std::memcpy(sent.data(), wire.data(), sent.size() * sizeof(uint32_t));
      EXPECT_EQ(sent, order) << name << ", k = " << kept;
    }
  }
}

TEST(Compression, TopKSendsNaNFirstAndAllWhenKeptIsEverything) {
  Values in = Random(DType::kFloat64, 50, 3);
  in.Set(7, std::numeric_limits<double>::quiet_NaN());
  const Values one = RoundTrip(WireEncoding::kTopK, in, 1);
  EXPECT_TRUE(std::isnan(one.Get(7)));
  for (size_t i = 0; i < in.size(); ++i) {
    if (i != 7) EXPECT_EQ(one.Get(i), 0.0);
  }
  const Values all = RoundTrip(WireEncoding::kTopK, in, 50);
  for (size_t i = 0; i < in.size(); ++i) {
    if (i != 7) EXPECT_EQ(all.Get(i), in.Get(i));
  }
}

TEST(Compression, DecodingAddsToTheEstimate) {
  const Values in = Random(DType::kFloat32, 100, 4);
  std::vector<std::byte> wire(EncodedBytes(WireEncoding::kBFloat16, DType::kFloat32, 100, 0));
  Encode(WireEncoding::kBFloat16, DType::kFloat32, in.bytes.data(), 100, 0, wire.data());
  Values estimate(DType::kFloat32, 100);
  for (size_t i = 0; i < 100; ++i) estimate.Set(i, 10.0);
  ASSERT_TRUE(AddDecoded(WireEncoding::kBFloat16, DType::kFloat32, wire.data(), 100, 0,
                         estimate.data()));
  for (size_t i = 0; i < 100; ++i) {
    EXPECT_NEAR(estimate.Get(i), 10.0 + in.Get(i), std::abs(in.Get(i)) / 256 + 1e-6);
  }
}

TEST(Compression, MalformedTopKIndexIsRefusedWithoutWritingOutOfRange) {
  const Values in = Random(DType::kFloat32, 10, 5);
  std::vector<std::byte> wire(EncodedBytes(WireEncoding::kTopK, DType::kFloat32, 10, 2));
  Encode(WireEncoding::kTopK, DType::kFloat32, in.bytes.data(), 10, 2, wire.data());
  const uint32_t bad = 10;
  std::memcpy(wire.data() + 4, &bad, 4);  // the second index
  Values estimate(DType::kFloat32, 10);
  EXPECT_FALSE(AddDecoded(WireEncoding::kTopK, DType::kFloat32, wire.data(), 10, 2,
                          estimate.data()));
}

// Error feedback on one edge: sender and receiver estimates stay bit-identical, and the estimate
// converges to a fixed value however coarse the encoding (the residual shrinks geometrically).
TEST(Compression, FeedbackEstimatesStayIdenticalAndConverge) {
  for (WireEncoding encoding : {WireEncoding::kInt8, WireEncoding::kBFloat16,
                                WireEncoding::kTopK}) {
    const Values target = Random(DType::kFloat32, 700, 6);
    FeedbackStore sender_store, receiver_store;
    const int64_t n = 700;
    const int64_t kept = encoding == WireEncoding::kTopK ? 70 : 0;
    double residual = 0;
    for (int round = 0; round < 60; ++round) {
      EdgeEstimate& sent =
          sender_store.Find("x", 1, FeedbackStore::Side::kSent, DType::kFloat32, n);
      EdgeEstimate& received =
          receiver_store.Find("x", 0, FeedbackStore::Side::kReceived, DType::kFloat32, n);
      Values difference(DType::kFloat32, 700);
      Subtract(DType::kFloat32, difference.data(), target.bytes.data(), sent.values.data(), 700);
      std::vector<std::byte> wire(EncodedBytes(encoding, DType::kFloat32, n, kept));
      Encode(encoding, DType::kFloat32, difference.data(), n, kept, wire.data());
      ASSERT_TRUE(AddDecoded(encoding, DType::kFloat32, wire.data(), n, kept, sent.values.data()));
      ASSERT_TRUE(
          AddDecoded(encoding, DType::kFloat32, wire.data(), n, kept, received.values.data()));
      ASSERT_EQ(sent.values, received.values) << EncodingName(encoding) << " round " << round;
      residual = 0;
      for (size_t i = 0; i < 700; ++i) {
        float e;
        std::memcpy(&e, &sent.values[i * 4], 4);
        residual = std::max(residual, std::abs(target.Get(i) - e));
      }
    }
    EXPECT_LT(residual, 1e-5) << EncodingName(encoding);
  }
}

// The sender's one-call, block-at-a-time EncodeDifference gives exactly the bytes and estimate
// of the plain steps (subtract, encode, decode into the estimate, subtract), as the receiver's
// whole-message AddDecoded must reproduce its estimate bit for bit.
TEST(Compression, EncodeDifferenceMatchesThePlainStepsBitForBit) {
  for (DType dtype : kFloatTypes) {
    for (WireEncoding encoding : {WireEncoding::kInt8, WireEncoding::kBFloat16,
                                  WireEncoding::kFloat16, WireEncoding::kTopK}) {
      const size_t n = 5000;  // not a multiple of the 2048-element blocks nor of 256
      const int64_t kept = encoding == WireEncoding::kTopK ? 100 : 0;
      const Values value = Random(dtype, n, 7);
      Values estimate = Random(dtype, n, 8, 0.5);
      Values reference_estimate = estimate;
      Values residual(dtype, n), reference_residual(dtype, n);
      const size_t bytes = EncodedBytes(encoding, dtype, 5000, kept);
      std::vector<std::byte> wire(bytes), reference_wire(bytes);
      EncodeDifference(encoding, dtype, value.bytes.data(), 5000, kept, estimate.data(),
                       residual.data(), wire.data());
      Subtract(dtype, reference_residual.data(), value.bytes.data(), reference_estimate.data(), n);
      Encode(encoding, dtype, reference_residual.data(), 5000, kept, reference_wire.data());
      Values receiver = Random(dtype, n, 8, 0.5);  // the receiver's copy before the message
      ASSERT_TRUE(AddDecoded(encoding, dtype, reference_wire.data(), 5000, kept,
                             reference_estimate.data()));
      ASSERT_TRUE(AddDecoded(encoding, dtype, wire.data(), 5000, kept, receiver.data()));
      Subtract(dtype, reference_residual.data(), value.bytes.data(), reference_estimate.data(), n);
      const std::string what = std::string(DTypeName(dtype)) + " " + EncodingName(encoding);
      EXPECT_EQ(wire, reference_wire) << what;
      EXPECT_EQ(estimate.bytes, reference_estimate.bytes) << what;
      EXPECT_EQ(receiver.bytes, estimate.bytes) << what << ": receiver and sender differ";
      EXPECT_EQ(residual.bytes, reference_residual.bytes) << what;
    }
  }
}

TEST(Compression, FeedbackStoreStartsAgainWhenTheTensorChanges) {
  FeedbackStore store;
  EdgeEstimate& first = store.Find("w", 2, FeedbackStore::Side::kSent, DType::kFloat32, 4);
  first.values[0] = std::byte{1};
  first.sequence = 5;
  EXPECT_EQ(store.Find("w", 2, FeedbackStore::Side::kSent, DType::kFloat32, 4).sequence, 5u);
  EXPECT_EQ(store.Find("w", 2, FeedbackStore::Side::kReceived, DType::kFloat32, 4).sequence, 0u);
  EXPECT_EQ(store.Find("w", 3, FeedbackStore::Side::kSent, DType::kFloat32, 4).sequence, 0u);
  EdgeEstimate& resized = store.Find("w", 2, FeedbackStore::Side::kSent, DType::kFloat32, 5);
  EXPECT_EQ(resized.sequence, 0u);
  EXPECT_EQ(resized.values.size(), 20u);
  EXPECT_EQ(resized.values[0], std::byte{0});
  EdgeEstimate& retyped = store.Find("w", 2, FeedbackStore::Side::kSent, DType::kFloat64, 5);
  EXPECT_EQ(retyped.values.size(), 40u);
}

}  // namespace
}  // namespace bluefog

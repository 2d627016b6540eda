// SPDX-License-Identifier: Apache-2.0
// Typed element access for test tensors (16-bit floats converted with independent code).
#include "test_util.h"

#include <algorithm>
#include <cmath>

namespace bftest {

namespace {

// Reference 16-bit conversions written for the tests (via frexp/ldexp), independent of the
// library's bit-manipulation code.
float HalfBitsToFloat(uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int exponent = (h >> 10) & 0x1F;
  const int mantissa = h & 0x3FF;
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -24);
  if (exponent == 31) return mantissa ? NAN : sign * INFINITY;
  return sign * std::ldexp(static_cast<float>(mantissa + 1024), exponent - 25);
}

uint16_t FloatToHalfBits(float value) {
  // Test values are exactly representable or rounded by nearbyint on the scaled mantissa.
  uint16_t sign = value < 0 ? 0x8000 : 0;
  double magnitude = std::fabs(value);
  if (magnitude == 0) return sign;
  int exponent = 0;
  std::frexp(magnitude, &exponent);  // magnitude = m * 2^exponent, m in [0.5, 1)
  int biased = exponent + 14;
  if (biased <= 0) {
    return sign | static_cast<uint16_t>(std::nearbyint(std::ldexp(magnitude, 24)));
  }
  double scaled = std::nearbyint(std::ldexp(magnitude, 11 - exponent));  // 1024..2048
  if (scaled >= 2048) {
    scaled /= 2;
    ++biased;
  }
  if (biased >= 31) return sign | 0x7C00;
  return sign | static_cast<uint16_t>(biased << 10) | static_cast<uint16_t>(scaled - 1024);
}

}  // namespace

void HostTensor::Set(int64_t i, double value) {
  unsigned char* p = bytes.data() + i * (dtype.bits / 8);
  switch (dtype.code) {
    case kDLInt:
      if (dtype.bits == 8) *reinterpret_cast<int8_t*>(p) = static_cast<int8_t>(value);
      if (dtype.bits == 16) *reinterpret_cast<int16_t*>(p) = static_cast<int16_t>(value);
      if (dtype.bits == 32) *reinterpret_cast<int32_t*>(p) = static_cast<int32_t>(value);
      if (dtype.bits == 64) *reinterpret_cast<int64_t*>(p) = static_cast<int64_t>(value);
      break;
    case kDLUInt: *p = static_cast<uint8_t>(value); break;
    case kDLBfloat: {
      float f = static_cast<float>(value);
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      const uint16_t h = static_cast<uint16_t>(bits >> 16);  // test values fit bfloat16 exactly
      std::memcpy(p, &h, 2);
      break;
    }
    case kDLFloat:
      if (dtype.bits == 16) {
        const uint16_t h = FloatToHalfBits(static_cast<float>(value));
        std::memcpy(p, &h, 2);
      }
      if (dtype.bits == 32) *reinterpret_cast<float*>(p) = static_cast<float>(value);
      if (dtype.bits == 64) *reinterpret_cast<double*>(p) = value;
      break;
  }
}

double HostTensor::Get(int64_t i) const {
  const unsigned char* p = bytes.data() + i * (dtype.bits / 8);
  switch (dtype.code) {
    case kDLInt:
      if (dtype.bits == 8) return *reinterpret_cast<const int8_t*>(p);
      if (dtype.bits == 16) return *reinterpret_cast<const int16_t*>(p);
      if (dtype.bits == 32) return *reinterpret_cast<const int32_t*>(p);
      return static_cast<double>(*reinterpret_cast<const int64_t*>(p));
    case kDLUInt: return *p;
    case kDLBfloat: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      const uint32_t bits = static_cast<uint32_t>(h) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    default:
      if (dtype.bits == 16) {
        uint16_t h;
        std::memcpy(&h, p, 2);
        return HalfBitsToFloat(h);
      }
      if (dtype.bits == 32) return *reinterpret_cast<const float*>(p);
      return *reinterpret_cast<const double*>(p);
  }
}

std::string TypeName(DLDataType type) {
  std::string base = type.code == kDLInt    ? "int"
                     : type.code == kDLUInt ? "uint"
                     : type.code == kDLBfloat ? "bfloat"
                                              : "float";
  return base + std::to_string(type.bits);
}

double Tolerance(DLDataType type, double scale) {
  if (type.code == kDLInt || type.code == kDLUInt) return 0.0;
  const double relative = type.code == kDLBfloat ? 1.6e-2 : type.bits == 16 ? 2e-3
                          : type.bits == 32      ? 2e-6
                                                 : 1e-12;
  return relative * (scale < 1 ? 1 : scale);
}

bf_status UseExp2Topology() {
  bf_topology* exp2 = nullptr;
  const bf_status made = bf_topology_exponential(bf_size(), 2, &exp2);
  if (made != BF_OK) return made;
  const bf_status set = bf_set_topology(exp2, 0);
  bf_topology_free(exp2);
  return set;
}

std::vector<int> Exp2InNeighbors(int rank, int size) {
  std::vector<int> ranks;
  for (int step = 1; step < size; step *= 2) ranks.push_back(((rank - step) % size + size) % size);
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  return ranks;
}

std::vector<int> Exp2OutNeighbors(int rank, int size) {
  std::vector<int> ranks;
  for (int step = 1; step < size; step *= 2) ranks.push_back((rank + step) % size);
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  return ranks;
}

}  // namespace bftest

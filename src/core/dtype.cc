// SPDX-License-Identifier: Apache-2.0
// DLPack dtype mapping and the bit-level 16-bit float conversions used by reductions.
#include "core/dtype.h"

#include <bit>
#include <cstring>

namespace bluefog {

Status DTypeFromDLPack(DLDataType dl, const std::string& what, DType* out) {
  if (dl.lanes != 1) {
    return Error(BF_ERR_INVALID_ARGUMENT, what, " has ", dl.lanes,
                 " lanes; only scalar element types (lanes == 1) are supported");
  }
  const int code = dl.code;
  const int bits = dl.bits;
  if (code == kDLInt && bits == 8) return *out = DType::kInt8, Status::Ok();
  if (code == kDLInt && bits == 16) return *out = DType::kInt16, Status::Ok();
  if (code == kDLInt && bits == 32) return *out = DType::kInt32, Status::Ok();
  if (code == kDLInt && bits == 64) return *out = DType::kInt64, Status::Ok();
  if (code == kDLUInt && bits == 8) return *out = DType::kUInt8, Status::Ok();
  if (code == kDLFloat && bits == 16) return *out = DType::kFloat16, Status::Ok();
  if (code == kDLBfloat && bits == 16) return *out = DType::kBFloat16, Status::Ok();
  if (code == kDLFloat && bits == 32) return *out = DType::kFloat32, Status::Ok();
  if (code == kDLFloat && bits == 64) return *out = DType::kFloat64, Status::Ok();
  return Error(BF_ERR_INVALID_ARGUMENT, what, " has unsupported dtype (code ", code, ", bits ",
               bits, "); supported: int8/16/32/64, uint8, float16, bfloat16, float32, float64");
}

DLDataType DTypeToDLPack(DType dtype) {
  switch (dtype) {
    case DType::kInt8: return {kDLInt, 8, 1};
    case DType::kInt16: return {kDLInt, 16, 1};
    case DType::kInt32: return {kDLInt, 32, 1};
    case DType::kInt64: return {kDLInt, 64, 1};
    case DType::kUInt8: return {kDLUInt, 8, 1};
    case DType::kFloat16: return {kDLFloat, 16, 1};
    case DType::kBFloat16: return {kDLBfloat, 16, 1};
    case DType::kFloat32: return {kDLFloat, 32, 1};
    case DType::kFloat64: return {kDLFloat, 64, 1};
  }
  return {kDLFloat, 32, 1};
}

size_t ElementSize(DType dtype) {
  switch (dtype) {
    case DType::kInt8:
    case DType::kUInt8: return 1;
    case DType::kInt16:
    case DType::kFloat16:
    case DType::kBFloat16: return 2;
    case DType::kInt32:
    case DType::kFloat32: return 4;
    case DType::kInt64:
    case DType::kFloat64: return 8;
  }
  return 1;
}

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kInt8: return "int8";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kUInt8: return "uint8";
    case DType::kFloat16: return "float16";
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
  }
  return "unknown";
}

bool IsFloatingPoint(DType dtype) {
  return dtype == DType::kFloat16 || dtype == DType::kBFloat16 || dtype == DType::kFloat32 ||
         dtype == DType::kFloat64;
}

bool Is16BitFloat(DType dtype) { return dtype == DType::kFloat16 || dtype == DType::kBFloat16; }

float HalfToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1Fu;
  uint32_t mantissa = bits & 0x3FFu;
  uint32_t result;
  if (exponent == 0x1F) {  // inf / NaN keep their payload
    result = sign | 0x7F800000u | (mantissa << 13);
  } else if (exponent != 0) {  // normal: rebias 15 -> 127
    result = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    result = sign;
  } else {  // subnormal half -> normal float: shift the leading one into place
    int shift = 0;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shift;
    }
    mantissa &= 0x3FFu;
    result = sign | (static_cast<uint32_t>(113 - shift) << 23) | (mantissa << 13);
  }
  return std::bit_cast<float>(result);
}

uint16_t FloatToHalf(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs_bits = bits & 0x7FFFFFFFu;
  if (abs_bits >= 0x7F800000u) {  // inf or NaN (quiet NaN keeps a mantissa bit)
    return sign | 0x7C00u | (abs_bits > 0x7F800000u ? 0x200u : 0u);
  }
  if (abs_bits >= 0x477FF000u) return sign | 0x7C00u;  // rounds past 65504: overflow to inf
  if (abs_bits < 0x38800000u) {                        // below the smallest normal half
    if (abs_bits < 0x33000000u) return sign;           // rounds to zero
    // Subnormal: shift the full 24-bit significand right, round to nearest even.
    const uint32_t exponent = abs_bits >> 23;
    const uint32_t significand = (abs_bits & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126 - exponent;  // 14..24
    uint32_t half = significand >> shift;
    const uint32_t remainder = significand & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (remainder > halfway || (remainder == halfway && (half & 1u))) ++half;
    return sign | static_cast<uint16_t>(half);
  }
  // Normal: rebias and round the 13 dropped bits to nearest even (carry may bump the exponent).
  uint32_t half = ((abs_bits >> 13) - (112u << 10));
  const uint32_t remainder = abs_bits & 0x1FFFu;
  if (remainder > 0x1000u || (remainder == 0x1000u && (half & 1u))) ++half;
  return sign | static_cast<uint16_t>(half);
}

float BFloat16ToFloat(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

uint16_t FloatToBFloat16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  const uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

void WidenToFloat(DType dtype, const void* src, float* dst, size_t count) {
  const auto* in = static_cast<const uint16_t*>(src);
  if (dtype == DType::kFloat16) {
    for (size_t i = 0; i < count; ++i) dst[i] = HalfToFloat(in[i]);
  } else {
    for (size_t i = 0; i < count; ++i) dst[i] = BFloat16ToFloat(in[i]);
  }
}

void NarrowFromFloat(DType dtype, const float* src, void* dst, size_t count) {
  auto* out = static_cast<uint16_t*>(dst);
  if (dtype == DType::kFloat16) {
    for (size_t i = 0; i < count; ++i) out[i] = FloatToHalf(src[i]);
  } else {
    for (size_t i = 0; i < count; ++i) out[i] = FloatToBFloat16(src[i]);
  }
}

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Element types the engine understands, their DLPack encodings, and 16-bit float conversions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "bluefog.h"
#include "core/status.h"

namespace bluefog {

enum class DType : uint8_t {
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kUInt8,
  kFloat16,
  kBFloat16,
  kFloat32,
  kFloat64,
};

// Maps a DLPack dtype; lanes must be 1. `what` names the argument in the error ("'in' on rank 3").
Status DTypeFromDLPack(DLDataType dl, const std::string& what, DType* out);
DLDataType DTypeToDLPack(DType dtype);

size_t ElementSize(DType dtype);
const char* DTypeName(DType dtype);
bool IsFloatingPoint(DType dtype);
bool Is16BitFloat(DType dtype);

// IEEE binary16 and bfloat16 <-> float32, rounding to nearest even; NaN stays NaN.
float HalfToFloat(uint16_t bits);
uint16_t FloatToHalf(float value);
float BFloat16ToFloat(uint16_t bits);
uint16_t FloatToBFloat16(float value);

// Widen/narrow whole buffers of 16-bit floats (dtype kFloat16 or kBFloat16) to/from float32.
void WidenToFloat(DType dtype, const void* src, float* dst, size_t count);
void NarrowFromFloat(DType dtype, const float* src, void* dst, size_t count);

}  // namespace bluefog

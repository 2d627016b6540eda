// SPDX-License-Identifier: Apache-2.0
// ByteReader: reads fixed-width little-endian fields from the front of a fuzzer input, zeros once
// the input runs out. A forward layout (unlike FuzzedDataProvider's) lets make_seeds.py write
// meaningful seeds with struct.pack.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

namespace bluefog::fuzz {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  template <typename T>
  T Read() {
    T value{};
    const size_t n = std::min(sizeof(T), size_ - offset_);
    if (n > 0) std::memcpy(&value, data_ + offset_, n);
    offset_ += n;
    return value;
  }

  // A double either taken from a table of edge cases (one byte, tag < 0x80) or read raw (tag
  // >= 0x80, then 8 bytes): seeds stay small while every bit pattern stays reachable.
  double ReadDouble() {
    static constexpr double kTable[] = {
        0.0, 1.0, 0.5, 1.0 / 3.0, 0.25, 0.2, -1.0, -0.5,
        -0.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::denorm_min(),
        std::numeric_limits<double>::min(), std::numeric_limits<double>::max(),
        std::numeric_limits<double>::lowest(), 1e-300, 1e300, 2.0, 1e-10, 1.0 + 1e-12, 60.0,
        1e9, -1e-9};
    constexpr size_t kTableSize = sizeof(kTable) / sizeof(kTable[0]);
    const uint8_t tag = Read<uint8_t>();
    if (tag >= 0x80) return Read<double>();
    return kTable[tag % kTableSize];
  }

  // A string of up to 255 bytes (length byte first); it may hold NULs, which C APIs truncate at.
  std::string ReadString() {
    const size_t length = std::min<size_t>(Read<uint8_t>(), size_ - offset_);
    std::string text(reinterpret_cast<const char*>(data_ + offset_), length);
    offset_ += length;
    return text;
  }

  // The bytes not read yet.
  const uint8_t* rest() const { return data_ + offset_; }
  size_t remaining() const { return size_ - offset_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t offset_ = 0;
};

}  // namespace bluefog::fuzz

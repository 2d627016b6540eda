// SPDX-License-Identifier: Apache-2.0
// Helpers for multi-rank tests: DLTensor views over std::vector, typed fills for every dtype,
// and independent (closed-form) neighbor lists for the exponential-2 graph.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bluefog.h"

namespace bftest {

// A host tensor that owns its bytes.
struct HostTensor {
  std::vector<unsigned char> bytes;
  std::vector<int64_t> shape;
  DLDataType dtype{kDLFloat, 32, 1};
  DLTensor tensor{};

  HostTensor(DLDataType type, std::vector<int64_t> dims) : shape(std::move(dims)), dtype(type) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    bytes.assign(static_cast<size_t>(n) * (type.bits / 8), 0);
    tensor.data = bytes.data();
    tensor.device = {kDLCPU, 0};
    tensor.ndim = static_cast<int>(shape.size());
    tensor.dtype = dtype;
    tensor.shape = shape.data();
    tensor.strides = nullptr;
    tensor.byte_offset = 0;
  }
  HostTensor(const HostTensor&) = delete;
  HostTensor& operator=(const HostTensor&) = delete;

  DLTensor* get() { return &tensor; }
  int64_t size() const { return static_cast<int64_t>(bytes.size() / (dtype.bits / 8)); }
  void Set(int64_t i, double value);
  double Get(int64_t i) const;
};

inline std::vector<DLDataType> FloatTypes() {
  return {{kDLFloat, 16, 1}, {kDLBfloat, 16, 1}, {kDLFloat, 32, 1}, {kDLFloat, 64, 1}};
}
inline std::vector<DLDataType> AllTypes() {
  return {{kDLInt, 8, 1},    {kDLInt, 16, 1},   {kDLInt, 32, 1},   {kDLInt, 64, 1},
          {kDLUInt, 8, 1},   {kDLFloat, 16, 1}, {kDLBfloat, 16, 1}, {kDLFloat, 32, 1},
          {kDLFloat, 64, 1}};
}
std::string TypeName(DLDataType type);
// Absolute tolerance for values of magnitude ~`scale` in `type`.
double Tolerance(DLDataType type, double scale);

// In-/out-neighbors of `rank` in BlueFog's exponential-2 graph, from its closed form
// (rank -/+ 2^i mod size), not from the library.
std::vector<int> Exp2InNeighbors(int rank, int size);
std::vector<int> Exp2OutNeighbors(int rank, int size);

// Sets BlueFog's default topology, exponential-2 over every rank (unweighted), as most tests
// start from. Collective, like bf_set_topology.
bf_status UseExp2Topology();

#define EXPECT_BF_OK(call) EXPECT_EQ((call), BF_OK) << bf_last_error()
#define ASSERT_BF_OK(call) ASSERT_EQ((call), BF_OK) << bf_last_error()

}  // namespace bftest

// SPDX-License-Identifier: Apache-2.0
// libFuzzer harness: LoadConfig on bf_init_options built from the input (any struct_size, enum
// value or double, NaN included) with the BLUEFOG_* environment variables set to strings from the
// input. The options live in a heap buffer of exactly max(8, struct_size) bytes, so ASan catches a
// read past what the caller declared.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "byte_reader.h"
#include "core/config.h"
#include "fuzz_check.h"

namespace {

using bluefog::Config;
using bluefog::Status;
using bluefog::fuzz::ByteReader;

constexpr const char* kVariables[] = {
    "BLUEFOG_NODES_PER_MACHINE", "BLUEFOG_MATCHING",   "BLUEFOG_STALL_WARNING_S",
    "BLUEFOG_FUSION_THRESHOLD",  "BLUEFOG_CYCLE_TIME", "BLUEFOG_MAX_WIN_SENT_LENGTH",
    "BLUEFOG_TIMELINE",          "BLUEFOG_COMPRESSION", "BLUEFOG_TOPK_RATIO",
};

// Sets the variables for one input and unsets them all afterwards, whatever happens between.
class ScopedEnvironment {
 public:
  explicit ScopedEnvironment(ByteReader& in) {
    for (const char* name : kVariables) {
      // Presence byte (odd: set), then the value; setenv stops at an embedded NUL.
      if (in.Read<uint8_t>() & 1) setenv(name, in.ReadString().c_str(), 1);
    }
  }
  ~ScopedEnvironment() {
    for (const char* name : kVariables) unsetenv(name);
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;
};

bool IsZero(double value) { return value == 0.0; }

}  // namespace

// Layout: flags u8 (1: options NULL, 2: struct_size from a u16 instead of sizeof, 4: a timeline
// prefix), [struct_size u16], mpi_comm u64, nodes_per_machine i32, matching_mode i32,
// stall_warning_s, fusion_threshold_bytes i64, cycle_time_ms (doubles as ByteReader::ReadDouble),
// [timeline prefix string], the tail bytes beyond sizeof(bf_init_options), per variable of
// kVariables a presence byte and a string, then compression i32 and topk_ratio (a ReadDouble),
// written into the caller's struct where its struct_size covers them. (Fields added later are
// read last, so older corpus inputs keep their meaning.)
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  const uint8_t flags = in.Read<uint8_t>();
  const size_t struct_size = (flags & 2) ? in.Read<uint16_t>() : sizeof(bf_init_options);

  bf_init_options full{};
  full.struct_size = struct_size;
  full.mpi_comm = reinterpret_cast<const void*>(in.Read<uint64_t>());  // copied, never read
  full.nodes_per_machine = in.Read<int32_t>();
  const int32_t mode = in.Read<int32_t>();
  std::memcpy(&full.matching_mode, &mode, sizeof(mode));  // any int, as a C caller may pass
  full.stall_warning_s = in.ReadDouble();
  full.fusion_threshold_bytes = in.Read<int64_t>();
  full.cycle_time_ms = in.ReadDouble();
  const std::string prefix = (flags & 4) ? in.ReadString() : std::string();
  full.timeline_prefix = (flags & 4) ? prefix.c_str() : nullptr;

  // The caller's struct: struct_size bytes (at least the size field itself), the tail beyond
  // sizeof filled from the input, since a newer caller may have fields this build ignores.
  const size_t buffer_size = std::max(sizeof(size_t), struct_size);
  std::unique_ptr<unsigned char[]> buffer(new unsigned char[buffer_size]);
  std::memset(buffer.get(), 0, buffer_size);
  std::memcpy(buffer.get(), &full, std::min(buffer_size, sizeof(full)));
  for (size_t i = sizeof(full); i < buffer_size; ++i) buffer[i] = in.Read<uint8_t>();
  const auto* options = reinterpret_cast<const bf_init_options*>(buffer.get());
  if (flags & 1) options = nullptr;

  const ScopedEnvironment environment(in);
  const int32_t compression = in.Read<int32_t>();
  const double topk_ratio = in.ReadDouble();
  if (options != nullptr) {
    auto patch = [&](size_t offset, const void* value, size_t bytes) {
      if (offset + bytes <= buffer_size) std::memcpy(buffer.get() + offset, value, bytes);
    };
    patch(offsetof(bf_init_options, compression), &compression, sizeof(compression));
    patch(offsetof(bf_init_options, topk_ratio), &topk_ratio, sizeof(topk_ratio));
  }
  Config config;
  config.timeline_prefix = "sentinel";
  config.nodes_per_machine = 12345;
  const Status status = bluefog::LoadConfig(options, &config);
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == BF_ERR_INVALID_ARGUMENT && !status.message().empty());
    FUZZ_CHECK(config.timeline_prefix == "sentinel" && config.nodes_per_machine == 12345);
    return 0;
  }

  // What the library may see of the options: the first struct_size bytes, the rest zero.
  bf_init_options seen{};
  if (options != nullptr) {
    FUZZ_CHECK(struct_size >= sizeof(size_t));
    std::memcpy(&seen, options, std::min(struct_size, sizeof(seen)));
  }
  int seen_mode;
  std::memcpy(&seen_mode, &seen.matching_mode, sizeof(seen_mode));

  FUZZ_CHECK(config.mpi_comm == seen.mpi_comm);
  FUZZ_CHECK(config.nodes_per_machine >= 0);
  if (seen.nodes_per_machine != 0) FUZZ_CHECK(config.nodes_per_machine == seen.nodes_per_machine);
  FUZZ_CHECK(config.matching_mode == BF_MATCHING_ORDERED ||
             config.matching_mode == BF_MATCHING_NAMED);
  if (seen_mode != BF_MATCHING_DEFAULT) FUZZ_CHECK(config.matching_mode == seen_mode);
  FUZZ_CHECK(std::isfinite(config.stall_warning_s) && !IsZero(config.stall_warning_s));
  if (!IsZero(seen.stall_warning_s)) FUZZ_CHECK(config.stall_warning_s == seen.stall_warning_s);
  FUZZ_CHECK(config.fusion_threshold_bytes >= 0);
  if (seen.fusion_threshold_bytes > 0) {
    FUZZ_CHECK(config.fusion_threshold_bytes == seen.fusion_threshold_bytes);
  }
  if (seen.fusion_threshold_bytes < 0) FUZZ_CHECK(config.fusion_threshold_bytes == 0);
  FUZZ_CHECK(std::isfinite(config.cycle_time_ms) && config.cycle_time_ms >= 0.0);
  FUZZ_CHECK(config.window_chunk_elements >= 0);
  int seen_compression;
  std::memcpy(&seen_compression, &seen.compression, sizeof(seen_compression));
  FUZZ_CHECK(config.compression >= BF_COMPRESSION_NONE && config.compression <= BF_COMPRESSION_TOPK);
  if (seen_compression != BF_COMPRESSION_DEFAULT) FUZZ_CHECK(config.compression == seen_compression);
  FUZZ_CHECK(config.topk_ratio > 0.0 && config.topk_ratio <= 1.0);
  if (seen.topk_ratio > 0.0) FUZZ_CHECK(config.topk_ratio == seen.topk_ratio);
  if (seen.timeline_prefix != nullptr) {
    FUZZ_CHECK(config.timeline_prefix == seen.timeline_prefix);
  } else if (const char* text = std::getenv("BLUEFOG_TIMELINE"); text != nullptr) {
    FUZZ_CHECK(config.timeline_prefix == text);
  } else {
    FUZZ_CHECK(config.timeline_prefix.empty());
  }
  return 0;
}

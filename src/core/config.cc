// SPDX-License-Identifier: Apache-2.0
// Option and environment parsing for bf_init.
#include "core/config.h"

#include "core/enum_value.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <iterator>
#include <string>
#include <utility>

namespace bluefog {

Status ReadPositiveIntEnv(const char* name, int* out) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return Status::Ok();
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || value <= 0 || value > (1 << 30)) {
    return Error(BF_ERR_INVALID_ARGUMENT, "environment variable ", name, "='", text,
                 "' is not a positive integer");
  }
  *out = static_cast<int>(value);
  return Status::Ok();
}

Status ReadPositiveDoubleEnv(const char* name, double* out) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return Status::Ok();
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text, &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(value) || value <= 0) {
    return Error(BF_ERR_INVALID_ARGUMENT, "environment variable ", name, "='", text,
                 "' is not a positive number");
  }
  *out = value;
  return Status::Ok();
}

namespace {

// options->compression and ->topk_ratio, else BLUEFOG_COMPRESSION and BLUEFOG_TOPK_RATIO.
Status ReadCompression(const bf_init_options& given, Config* config) {
  int compression = EnumValue(given.compression);
  if (compression == BF_COMPRESSION_DEFAULT) {
    compression = BF_COMPRESSION_NONE;
    if (const char* text = std::getenv("BLUEFOG_COMPRESSION"); text && *text) {
      static constexpr std::pair<const char*, bf_compression> kNames[] = {
          {"none", BF_COMPRESSION_NONE}, {"bf16", BF_COMPRESSION_BFLOAT16},
          {"bfloat16", BF_COMPRESSION_BFLOAT16}, {"fp16", BF_COMPRESSION_FLOAT16},
          {"float16", BF_COMPRESSION_FLOAT16}, {"int8", BF_COMPRESSION_INT8},
          {"topk", BF_COMPRESSION_TOPK}};
      auto found = std::find_if(std::begin(kNames), std::end(kNames),
                                [&](const auto& entry) { return std::strcmp(entry.first, text) == 0; });
      if (found == std::end(kNames)) {
        return Error(BF_ERR_INVALID_ARGUMENT, "environment variable BLUEFOG_COMPRESSION='", text,
                     "' is not a compression (none, bf16, fp16, int8, topk)");
      }
      compression = found->second;
    }
  }
  if (compression < BF_COMPRESSION_NONE || compression > BF_COMPRESSION_TOPK) {
    return Error(BF_ERR_INVALID_ARGUMENT, "bf_init: options->compression ", compression,
                 " is not a bf_compression value");
  }
  config->compression = static_cast<bf_compression>(compression);

  const double ratio = given.topk_ratio;
  if (!(ratio >= 0.0 && ratio <= 1.0)) {
    return Error(BF_ERR_INVALID_ARGUMENT, "bf_init: options->topk_ratio is ", ratio,
                 "; it must be in (0, 1] (or 0 for the default)");
  }
  if (ratio > 0.0) {
    config->topk_ratio = ratio;
  } else {
    BF_RETURN_IF_ERROR(ReadPositiveDoubleEnv("BLUEFOG_TOPK_RATIO", &config->topk_ratio));
    if (config->topk_ratio > 1.0) {
      return Error(BF_ERR_INVALID_ARGUMENT, "environment variable BLUEFOG_TOPK_RATIO='",
                   std::getenv("BLUEFOG_TOPK_RATIO"), "' must be in (0, 1]");
    }
  }
  return Status::Ok();
}

}  // namespace

Status LoadConfig(const bf_init_options* options, Config* out) {
  bf_init_options given{};
  if (options != nullptr) {
    // Every version's sizeof is a multiple of alignof(size_t); any other size may end inside a
    // pointer field, whose remaining bytes would then be read as an address.
    if (options->struct_size < sizeof(size_t) || options->struct_size % alignof(size_t) != 0) {
      return Error(BF_ERR_INVALID_ARGUMENT, "bf_init: options->struct_size is ",
                   options->struct_size, "; set it to sizeof(bf_init_options)");
    }
    std::memcpy(&given, options, std::min(options->struct_size, sizeof(given)));
  }
  Config config;
  config.mpi_comm = given.mpi_comm;
  if (given.nodes_per_machine < 0) {
    return Error(BF_ERR_INVALID_ARGUMENT, "bf_init: options->nodes_per_machine is ",
                 given.nodes_per_machine, "; it must be positive (or 0 for the default)");
  }
  config.nodes_per_machine = given.nodes_per_machine;
  if (config.nodes_per_machine == 0) {
    BF_RETURN_IF_ERROR(ReadPositiveIntEnv("BLUEFOG_NODES_PER_MACHINE", &config.nodes_per_machine));
  }

  int mode = EnumValue(given.matching_mode);
  if (mode == BF_MATCHING_DEFAULT) {
    const char* text = std::getenv("BLUEFOG_MATCHING");
    if (text == nullptr || *text == '\0' || std::strcmp(text, "named") == 0) {
      mode = BF_MATCHING_NAMED;
    } else if (std::strcmp(text, "ordered") == 0) {
      mode = BF_MATCHING_ORDERED;
    } else {
      return Error(BF_ERR_INVALID_ARGUMENT, "environment variable BLUEFOG_MATCHING='", text,
                   "' is not a matching mode (named, ordered)");
    }
  }
  if (mode != BF_MATCHING_ORDERED && mode != BF_MATCHING_NAMED) {
    return Error(BF_ERR_INVALID_ARGUMENT, "bf_init: options->matching_mode ",
                 mode, " is not a matching mode this build has");
  }
  config.matching_mode = static_cast<bf_matching_mode>(mode);

  if (!std::isfinite(given.stall_warning_s)) {
    return InvalidArgument("bf_init: options->stall_warning_s must be finite");
  }
  config.stall_warning_s = given.stall_warning_s;
  if (config.stall_warning_s == 0.0) {
    config.stall_warning_s = 60.0;
    BF_RETURN_IF_ERROR(ReadPositiveDoubleEnv("BLUEFOG_STALL_WARNING_S", &config.stall_warning_s));
  }

  if (given.fusion_threshold_bytes < 0) {
    config.fusion_threshold_bytes = 0;
  } else if (given.fusion_threshold_bytes > 0) {
    config.fusion_threshold_bytes = given.fusion_threshold_bytes;
  } else if (const char* text = std::getenv("BLUEFOG_FUSION_THRESHOLD"); text && *text) {
    char* end = nullptr;
    errno = 0;
    const long long value = std::strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < 0) {
      return Error(BF_ERR_INVALID_ARGUMENT, "environment variable BLUEFOG_FUSION_THRESHOLD='",
                   text, "' is not a byte count (0 disables fusion)");
    }
    config.fusion_threshold_bytes = value;
  }
  if (!std::isfinite(given.cycle_time_ms)) {
    return InvalidArgument("bf_init: options->cycle_time_ms must be finite");
  }
  if (given.cycle_time_ms != 0.0) {
    config.cycle_time_ms = std::max(0.0, given.cycle_time_ms);
  } else {
    BF_RETURN_IF_ERROR(ReadPositiveDoubleEnv("BLUEFOG_CYCLE_TIME", &config.cycle_time_ms));
  }

  BF_RETURN_IF_ERROR(
      ReadPositiveIntEnv("BLUEFOG_MAX_WIN_SENT_LENGTH", &config.window_chunk_elements));

  if (const char* text = std::getenv("BLUEFOG_WIN_SHARED_MEMORY"); text && *text) {
    if (std::strcmp(text, "0") != 0 && std::strcmp(text, "1") != 0) {
      return Error(BF_ERR_INVALID_ARGUMENT, "environment variable BLUEFOG_WIN_SHARED_MEMORY='",
                   text, "' is not 0 or 1");
    }
    config.window_shared_memory = text[0] == '1';
  }

  BF_RETURN_IF_ERROR(ReadCompression(given, &config));

  if (given.timeline_prefix != nullptr) {
    config.timeline_prefix = given.timeline_prefix;
  } else if (const char* text = std::getenv("BLUEFOG_TIMELINE"); text != nullptr) {
    config.timeline_prefix = text;
  }
  *out = config;
  return Status::Ok();
}

}  // namespace bluefog

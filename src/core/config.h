// SPDX-License-Identifier: Apache-2.0
// Config: bf_init options merged with BLUEFOG_* environment variables (options win).
#pragma once

#include <string>

#include "bluefog.h"
#include "core/status.h"

namespace bluefog {

struct Config {
  const void* mpi_comm = nullptr;
  int nodes_per_machine = 0;  // 0: shared-memory split
  bf_matching_mode matching_mode = BF_MATCHING_NAMED;
  double stall_warning_s = 60.0;  // <= 0: never warn
  int64_t fusion_threshold_bytes = int64_t{8} << 20;  // 0: no fusion
  double cycle_time_ms = 0.0;
  int window_chunk_elements = 0;  // BLUEFOG_MAX_WIN_SENT_LENGTH; 0: no limit of ours
  bool window_shared_memory = true;  // BLUEFOG_WIN_SHARED_MEMORY
  std::string timeline_prefix;  // BLUEFOG_TIMELINE: writes <prefix><rank>.json; empty: off
  bf_compression compression = BF_COMPRESSION_NONE;  // BLUEFOG_COMPRESSION
  double topk_ratio = 0.01;                          // BLUEFOG_TOPK_RATIO
};

// Reads min(options->struct_size, sizeof) bytes of `options` (NULL: defaults), then the
// environment for fields left at zero. Malformed values are errors naming the variable.
Status LoadConfig(const bf_init_options* options, Config* out);

// Parse a positive integer / number environment variable; *out untouched when unset.
Status ReadPositiveIntEnv(const char* name, int* out);
Status ReadPositiveDoubleEnv(const char* name, double* out);

}  // namespace bluefog

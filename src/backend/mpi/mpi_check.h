// SPDX-License-Identifier: Apache-2.0
// BF_MPI_CHECK: turns a failed MPI call into a BF_ERR_BACKEND Status naming the call, the source
// location and MPI's own error text.
#pragma once

#include <mpi.h>

#include <string>

#include "core/status.h"

namespace bluefog {

inline std::string MpiErrorText(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, length);
}

}  // namespace bluefog

#define BF_MPI_CHECK(call)                                                           \
  do {                                                                               \
    const int bf_mpi_rc_ = (call);                                                   \
    if (bf_mpi_rc_ != MPI_SUCCESS) {                                                 \
      return ::bluefog::Error(BF_ERR_BACKEND, #call " failed at " __FILE__ ":", __LINE__, \
                              ": ", ::bluefog::MpiErrorText(bf_mpi_rc_));            \
    }                                                                                \
  } while (0)

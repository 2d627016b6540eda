/* SPDX-License-Identifier: Apache-2.0 */
/* C-API checks compiled as strict C99 (-std=c99 -pedantic -Werror): the header is C-clean, the
 * argument structs start with struct_size, versions agree, and the whole lifecycle behaves —
 * calls before bf_init and after bf_finalize fail cleanly instead of crashing. One process. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "bluefog.h"

static int failures = 0;

#define CHECK(cond)                                                    \
  do {                                                                 \
    if (!(cond)) {                                                     \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                      \
    }                                                                  \
  } while (0)

static void check_layout_and_version(void) {
  bf_init_options options = BF_INIT_OPTIONS_INIT;
  CHECK(offsetof(bf_init_options, struct_size) == 0);
  CHECK(offsetof(bf_op_args, struct_size) == 0);
  CHECK(offsetof(bf_allreduce_args, struct_size) == 0);
  CHECK(offsetof(bf_neighbor_args, struct_size) == 0);
  CHECK(options.struct_size == sizeof(bf_init_options));
  CHECK(bf_get_version() == BF_VERSION);
  CHECK(BF_VERSION == BF_VERSION_CODE(BF_VERSION_MAJOR, BF_VERSION_MINOR, BF_VERSION_PATCH));
  CHECK(strcmp(bf_status_string(BF_OK), "BF_OK") == 0);
  CHECK(strcmp(bf_status_string(BF_ERR_MISMATCH), "BF_ERR_MISMATCH") == 0);
  CHECK(strcmp(bf_status_string(BF_ERR_INTERNAL), "BF_ERR_INTERNAL") == 0);
  CHECK(strcmp(bf_status_string(BF_ERR_SUSPENDED), "BF_ERR_SUSPENDED") == 0);
  CHECK(bf_status_string((bf_status)999) != NULL);
}

static void check_not_initialized(const char *when) {
  float value = 1.0f;
  int64_t shape[1] = {1};
  DLTensor x = {&value, {kDLCPU, 0}, 1, {kDLFloat, 32, 1}, shape, NULL, 0};
  bf_handle handle = 0;
  int done = 0;
  bf_topology *topology = NULL;
  fprintf(stderr, "checking calls %s\n", when);
  CHECK(bf_initialized() == 0);
  CHECK(bf_rank() == -1 && bf_size() == -1 && bf_local_rank() == -1 && bf_local_size() == -1);
  CHECK(bf_machine_rank() == -1 && bf_machine_size() == -1 && bf_is_homogeneous() == -1);
  CHECK(bf_neighbor_allreduce(&x, &x, NULL) == BF_ERR_NOT_INITIALIZED);
  CHECK(strstr(bf_last_error(), "bf_init") != NULL);
  CHECK(bf_allreduce(&x, &x, NULL) == BF_ERR_NOT_INITIALIZED);
  CHECK(bf_broadcast_async(&x, &x, 0, NULL, &handle) == BF_ERR_NOT_INITIALIZED);
  CHECK(bf_barrier() == BF_ERR_NOT_INITIALIZED);
  CHECK(bf_wait(1, 0) == BF_ERR_NOT_INITIALIZED);
  CHECK(bf_poll(1, &done) == BF_ERR_NOT_INITIALIZED);
  CHECK(bf_handle_free(1) == BF_ERR_NOT_INITIALIZED);
  CHECK(bf_get_topology(&topology, NULL) == BF_ERR_NOT_INITIALIZED);
  CHECK(bf_set_topology(NULL, 0) == BF_ERR_NOT_INITIALIZED);
  CHECK(bf_mpi_threads_supported() == -1 && bf_unified_mpi_window_model_supported() == -1);
  CHECK(bf_suspended() == -1);
  CHECK(bf_suspend() == BF_ERR_NOT_INITIALIZED && bf_resume() == BF_ERR_NOT_INITIALIZED);
  CHECK(bf_win_lock("w") == BF_ERR_NOT_INITIALIZED && bf_win_unlock("w") == BF_ERR_NOT_INITIALIZED);
  CHECK(bf_set_matching_mode(BF_MATCHING_ORDERED) == BF_ERR_NOT_INITIALIZED);
  CHECK(bf_finalize() == BF_ERR_NOT_INITIALIZED);
  /* Topology objects are plain values: they work without bf_init. */
  CHECK(bf_topology_ring(4, BF_RING_BIDIRECTIONAL, &topology) == BF_OK);
  CHECK(bf_topology_size(topology) == 4);
  bf_topology_free(topology);
}

static void check_lifecycle(void) {
  bf_init_options options = BF_INIT_OPTIONS_INIT;
  bf_init_options bad = BF_INIT_OPTIONS_INIT;
  bad.struct_size = 0;
  CHECK(bf_init(&bad) == BF_ERR_INVALID_ARGUMENT);
  CHECK(strstr(bf_last_error(), "struct_size") != NULL);
  bad.struct_size = sizeof(bad);
  bad.nodes_per_machine = -3;
  CHECK(bf_init(&bad) == BF_ERR_INVALID_ARGUMENT);
  CHECK(strstr(bf_last_error(), "nodes_per_machine") != NULL);

  CHECK(bf_init(&options) == BF_OK); /* initializes MPI itself (singleton) */
  CHECK(bf_init(NULL) == BF_OK);     /* a second init is a no-op */
  CHECK(bf_initialized() == 1);
  CHECK(bf_rank() == 0 && bf_size() == 1 && bf_local_size() == 1 && bf_machine_size() == 1);
  CHECK(bf_barrier() == BF_OK);
  CHECK(bf_mpi_threads_supported() == 1); /* MPI initialized by bf_init asks for MULTIPLE */
  CHECK(bf_unified_mpi_window_model_supported() == 1);
  CHECK(bf_suspend() == BF_OK && bf_suspended() == 1);
  CHECK(bf_barrier() == BF_ERR_SUSPENDED);
  CHECK(strstr(bf_last_error(), "bf_resume") != NULL);
  CHECK(bf_resume() == BF_OK && bf_barrier() == BF_OK);
  CHECK(bf_suspend() == BF_OK); /* bf_finalize resumes first */
  CHECK(bf_finalize() == BF_OK);
  check_not_initialized("after bf_finalize");
  /* MPI was finalized by BlueFog, so a restart must be refused cleanly. */
  CHECK(bf_init(NULL) == BF_ERR_UNSUPPORTED);
  CHECK(strstr(bf_last_error(), "finalized") != NULL);
}

int main(void) {
  check_layout_and_version();
  check_not_initialized("before bf_init");
  check_lifecycle();
  if (failures) fprintf(stderr, "%d checks failed\n", failures);
  return failures ? 1 : 0;
}

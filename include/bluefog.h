/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bluefog.h — the whole public C API of BlueFog-C, a neighbor-collective engine for
 * decentralized training. C99, no C++ types, no exceptions; tensors are DLPack.
 *
 * Conventions that hold for every function below unless its comment says otherwise:
 *  - Functions that can fail return bf_status. On failure, out-parameters are left untouched and
 *    bf_last_error() holds a sentence naming the argument and the rank.
 *  - Thread safety: any thread may call any function. All MPI calls happen on the engine thread.
 *  - Tensors: inputs are `const DLTensor*`, outputs `DLTensor*`; both are borrowed (never freed by
 *    the library) and must stay valid until the operation completes. `out` may alias `in`.
 *    Tensors must be compact row-major (strides NULL or matching the shape); lanes must be 1.
 *  - Collective: a function marked "collective" must be called by every rank of the group it
 *    names, in the same order relative to the other collective calls.
 *  - Argument structs start with `size_t struct_size`; zero-initialised fields mean "default";
 *    the library reads only the first struct_size bytes, so structs grow without breaking callers.
 *    Passing NULL for an argument struct means "all defaults".
 */
#ifndef BLUEFOG_H_
#define BLUEFOG_H_

#include <stddef.h>
#include <stdint.h>

#include <dlpack/dlpack.h>

#ifndef BF_API
#if defined(__GNUC__) || defined(__clang__)
#define BF_API __attribute__((visibility("default")))
#else
#define BF_API
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Version. BF_VERSION_CODE encodes (major, minor, patch) as major*10000 + minor*100 + patch.
 */
#define BF_VERSION_MAJOR 0
#define BF_VERSION_MINOR 1
#define BF_VERSION_PATCH 0
#define BF_VERSION_CODE(major, minor, patch) ((major) * 10000 + (minor) * 100 + (patch))
#define BF_VERSION BF_VERSION_CODE(BF_VERSION_MAJOR, BF_VERSION_MINOR, BF_VERSION_PATCH)

/* The version of the library actually loaded, encoded as BF_VERSION. Never fails. */
BF_API int bf_get_version(void);

/* ---------------------------------------------------------------------------------------------
 * Status codes. Values are pinned and append-only.
 */
typedef enum bf_status {
  BF_OK = 0,
  BF_ERR_INVALID_ARGUMENT = 1, /* an argument is malformed or names something that does not exist */
  BF_ERR_NOT_INITIALIZED = 2,  /* called before bf_init or after bf_finalize */
  BF_ERR_MISMATCH = 3,         /* ranks posted incompatible collectives; reported on all of them */
  BF_ERR_BACKEND = 4,          /* MPI / NCCL / CUDA failed; the message carries their text */
  BF_ERR_TIMEOUT = 5,          /* bf_wait timed out; the operation is still in flight */
  BF_ERR_UNSUPPORTED = 6,      /* valid request this build or this device cannot serve */
  BF_ERR_SHUTDOWN = 7,         /* the engine shut down before the operation could run */
  BF_ERR_IN_PROGRESS = 8,      /* the object is still in use by an operation in flight */
  BF_ERR_OUT_OF_MEMORY = 9,
  BF_ERR_INTERNAL = 10, /* a bug in BlueFog-C; please report it with bf_last_error() */
  BF_ERR_SUSPENDED = 11 /* the engine is suspended (bf_suspend); nothing was queued */
} bf_status;

/* A short constant English name for a status ("BF_ERR_MISMATCH"). Never NULL. */
BF_API const char *bf_status_string(bf_status status);

/* The message of the last failed call on this thread ("" if none). The pointer stays valid until
 * the next bf_* call on the same thread. */
BF_API const char *bf_last_error(void);

/* ---------------------------------------------------------------------------------------------
 * Process model.
 */
/* How operations are matched across ranks. */
typedef enum bf_matching_mode {
  BF_MATCHING_DEFAULT = 0, /* the BLUEFOG_MATCHING env var ("named" or "ordered"), else named */
  /* Global ops (allreduce, broadcast, allgather, barrier, set_topology, checked dynamic neighbor
   * ops) run in issue order on every rank, with no coordination traffic, as in MPI/NCCL and
   * BlueFog's skip-negotiate stage. Neighbor ops match by name in either mode. */
  BF_MATCHING_ORDERED = 1,
  /* Ops match by name and may be issued in different orders on different ranks (as autograd
   * hooks do). Global ops are ordered by negotiation rounds over a tree of ranks, started only
   * when a rank has global ops pending; neighbor ops never coordinate beyond their own messages. */
  BF_MATCHING_NAMED = 2
} bf_matching_mode;

/* Compression of neighbor_allreduce payloads (see bf_neighbor_args and docs/compression.md). */
typedef enum bf_compression {
  BF_COMPRESSION_DEFAULT = 0, /* bf_init_options.compression / BLUEFOG_COMPRESSION, else none */
  BF_COMPRESSION_NONE = 1,
  BF_COMPRESSION_BFLOAT16 = 2, /* 2 bytes per element */
  BF_COMPRESSION_FLOAT16 = 3,  /* 2 bytes per element (values beyond +-65504 become infinite) */
  BF_COMPRESSION_INT8 = 4,     /* 1 byte per element + 4 bytes per 256 elements */
  BF_COMPRESSION_TOPK = 5      /* ceil(ratio * n) elements, 4 + element size bytes each */
} bf_compression;

typedef enum bf_error_feedback {
  BF_ERROR_FEEDBACK_DEFAULT = 0, /* on for every lossy compression */
  BF_ERROR_FEEDBACK_ON = 1,
  BF_ERROR_FEEDBACK_OFF = 2 /* send the encoded tensor itself: the mean drifts (biased) */
} bf_error_feedback;

typedef struct bf_init_options {
  size_t struct_size; /* sizeof(bf_init_options) */
  /* Pointer to an MPI_Comm to adopt (the library duplicates it; the caller keeps ownership).
   * NULL: MPI_COMM_WORLD, initializing MPI first if nobody has. */
  const void *mpi_comm;
  /* Ranks per machine for local/machine queries and hierarchical ops. 0: BLUEFOG_NODES_PER_MACHINE,
   * else a shared-memory split. */
  int nodes_per_machine;
  bf_matching_mode matching_mode;
  /* Seconds an op may wait before the engine names it and the ranks it waits for on stderr
   * (repeated once per period). 0: BLUEFOG_STALL_WARNING_S, else 60. Negative: never warn. */
  double stall_warning_s;
  /* Write a Chrome trace to <timeline_prefix><rank>.json (docs/timeline.md). NULL:
   * BLUEFOG_TIMELINE, else no timeline. Copied. */
  const char *timeline_prefix;
  /* Small neighbor messages to the same destination are fused into one message while their
   * payloads total at most this many bytes. 0: BLUEFOG_FUSION_THRESHOLD, else 8 MiB.
   * Negative: no fusion. */
  int64_t fusion_threshold_bytes;
  /* Milliseconds the engine waits after waking for more operations to fuse with. 0:
   * BLUEFOG_CYCLE_TIME, else 0 (fuse only what is already queued, adding no latency).
   * Negative: 0. */
  double cycle_time_ms;
  /* Compression for neighbor operations whose arguments leave it at BF_COMPRESSION_DEFAULT.
   * BF_COMPRESSION_DEFAULT: BLUEFOG_COMPRESSION (none, bf16, fp16, int8, topk), else none. */
  bf_compression compression;
  /* Top-k fraction where arguments leave it 0. 0: BLUEFOG_TOPK_RATIO, else 0.01. */
  double topk_ratio;
} bf_init_options;

#define BF_INIT_OPTIONS_INIT \
  {sizeof(bf_init_options), NULL, 0, BF_MATCHING_DEFAULT, 0.0, NULL, 0, 0.0, \
   BF_COMPRESSION_DEFAULT, 0.0}

/* The matching mode in effect (BF_MATCHING_ORDERED or BF_MATCHING_NAMED), or -1 if not
 * initialized. */
BF_API int bf_matching_mode_in_effect(void);

/* Starts the engine. Collective over the adopted communicator. Initializes MPI (thread level
 * MPI_THREAD_MULTIPLE) if it is not initialized yet; adopts it otherwise (it must provide at least
 * MPI_THREAD_SERIALIZED). Sets the default topology: bf_topology_exponential(size, 2), unweighted.
 * Calling it again while initialized is a no-op returning BF_OK. After bf_finalize it may be called
 * again only if MPI is still initialized (someone other than BlueFog initialized it).
 * options may be NULL. Returns BF_OK, BF_ERR_INVALID_ARGUMENT, BF_ERR_BACKEND, BF_ERR_UNSUPPORTED. */
BF_API bf_status bf_init(const bf_init_options *options);

/* Stops the engine: windows still open are freed (collectively), queued operations are run to
 * completion, every other rank is told this one is leaving, and once every other rank has said
 * the same (at most 10 s; after that the communicators are left allocated rather than freed under
 * a message still on its way) communicators are freed and MPI is finalized if bf_init initialized
 * it. Collective. On the other ranks, operations that still need this rank fail with
 * BF_ERR_SHUTDOWN (a blocking collective after a 2 s grace) instead of waiting. Later calls
 * (other than bf_init) return BF_ERR_NOT_INITIALIZED.
 * Returns BF_OK, BF_ERR_NOT_INITIALIZED, BF_ERR_BACKEND. */
BF_API bf_status bf_finalize(void);

/* 1 between a successful bf_init and bf_finalize, else 0. */
BF_API int bf_initialized(void);

/* Plain queries: the value, or -1 when not initialized. Machines are groups of local ranks. */
BF_API int bf_rank(void);
BF_API int bf_size(void);
BF_API int bf_local_rank(void);
BF_API int bf_local_size(void);
BF_API int bf_machine_rank(void);
BF_API int bf_machine_size(void);
/* 1 if every machine has the same local size and its ranks are contiguous, 0 if not, -1 if not
 * initialized. Hierarchical operations need a homogeneous layout. */
BF_API int bf_is_homogeneous(void);

/* ---------------------------------------------------------------------------------------------
 * GPU tensors (kDLCUDA). Every operation that takes host tensors takes GPU tensors too (windows
 * included: see bf_win_create); `in` and `out` must then be on the same device. With NCCL (built with it,
 * and a GPU), allreduce, broadcast, allgather, neighbor_allgather and uncompressed
 * neighbor_allreduce and hierarchical_neighbor_allreduce on device tensors run on the device: queued on an NCCL stream behind the work the caller had
 * queued on its stream when issuing the operation (see bf_set_cuda_stream), ordered the same way
 * on every rank, one device per rank (the device of its first such operation); the handle
 * completes once that work has finished. BLUEFOG_<OP>_BY_MPI=1 (ALLREDUCE, BROADCAST, ALLGATHER,
 * NEIGHBOR_ALLGATHER, NEIGHBOR_ALLREDUCE, HIERARCHICAL_NEIGHBOR_ALLREDUCE) sends an operation
 * kind through host memory instead. Every other operation,
 * and all of them without NCCL, runs on page-locked host copies: the engine copies the input to
 * the host on a stream of its own behind the caller's stream, runs the operation, copies the
 * result back, and completes the handle once that copy has finished. Either way, after bf_wait
 * every stream sees the result. Gathers return results in memory of the input's device.
 * docs/gpu.md says what each build and machine does.
 */

/* The CUDA devices this process can use: 0 when the library was built without CUDA or no device
 * is visible. Needs no bf_init. */
BF_API int bf_cuda_device_count(void);
/* 1 if this build has the NCCL backend (it then carries the operations named above when a GPU
 * is visible), 0 if operations on GPU tensors are all staged through host memory. */
BF_API int bf_nccl_built(void);
/* GPU tensors the calling thread passes from now on are read only after the work queued on
 * `stream` (a cudaStream_t; NULL, the initial value: the legacy default stream) when each
 * operation is issued. Per thread, like CUDA's current stream. Needs no bf_init; BF_OK. */
BF_API bf_status bf_set_cuda_stream(void *stream);

/* ---------------------------------------------------------------------------------------------
 * Topology: a weighted digraph on `size` ranks. Edge i->j with weight W[i][j] means "i sends to j
 * and j weighs i's value by W[i][j]"; W[i][i] is i's self weight. Topology objects are plain
 * values owned by the caller (free with bf_topology_free); they are not tied to bf_init.
 */
typedef struct bf_topology bf_topology;

typedef enum bf_ring_style {
  BF_RING_BIDIRECTIONAL = 0, /* i <-> i-1 and i <-> i+1, weights 1/3 */
  BF_RING_LEFT = 1,          /* i sends to i-1, weights 1/2 */
  BF_RING_RIGHT = 2          /* i sends to i+1, weights 1/2 */
} bf_ring_style;

/* Generators, exactly BlueFog's (topology_util.py) with its float-logarithm quirk fixed.
 * All return BF_OK or BF_ERR_INVALID_ARGUMENT (size < 1, bad base, center out of range, ...). */
BF_API bf_status bf_topology_exponential(int size, int base, bf_topology **out);
BF_API bf_status bf_topology_exponential_two(int size, bf_topology **out);
BF_API bf_status bf_topology_symmetric_exponential(int size, int base, bf_topology **out);
BF_API bf_status bf_topology_ring(int size, bf_ring_style style, bf_topology **out);
BF_API bf_status bf_topology_star(int size, int center_rank, bf_topology **out);
/* nrows = ncols = 0 picks BlueFog's default shape (the largest divisor <= sqrt(size) rows). */
BF_API bf_status bf_topology_mesh_grid_2d(int size, int nrows, int ncols, bf_topology **out);
BF_API bf_status bf_topology_fully_connected(int size, bf_topology **out);

/* From a dense row-major size*size matrix: every non-zero W[i][j] is an edge i->j (i == j: self
 * weight). Weights must be finite. */
BF_API bf_status bf_topology_from_matrix(int size, const double *weights, bf_topology **out);
/* From an edge list: edge k is src[k] -> dst[k] with weights[k] (weights NULL: 1.0). Duplicate edges
 * and non-finite weights are rejected. */
BF_API bf_status bf_topology_from_edges(int size, int num_edges, const int *src, const int *dst,
                                        const double *weights, bf_topology **out);
BF_API bf_status bf_topology_copy(const bf_topology *topology, bf_topology **out);
/* Frees a topology; NULL is a no-op. */
BF_API void bf_topology_free(bf_topology *topology);

/* Number of ranks, or -1 for NULL. */
BF_API int bf_topology_size(const bf_topology *topology);
/* W[from][to] (0.0 when there is no edge). */
BF_API bf_status bf_topology_weight(const bf_topology *topology, int from, int to, double *weight);
/* Writes the dense row-major size*size weight matrix into `matrix`. */
BF_API bf_status bf_topology_to_matrix(const bf_topology *topology, double *matrix);
/* In-neighbors of `rank` (ranks j != rank with an edge j->rank), ascending, with W[j][rank].
 * `ranks`/`weights` hold `capacity` entries (weights may be NULL); *count receives the number of
 * neighbors. A capacity of size-1 always suffices; ranks == NULL only counts (*count). A capacity
 * that is too small is BF_ERR_INVALID_ARGUMENT with the number needed. */
BF_API bf_status bf_topology_in_neighbors(const bf_topology *topology, int rank, int *ranks,
                                          double *weights, int capacity, int *count);
/* Out-neighbors of `rank` (ranks j != rank with an edge rank->j), ascending, with W[rank][j]. */
BF_API bf_status bf_topology_out_neighbors(const bf_topology *topology, int rank, int *ranks,
                                           double *weights, int capacity, int *count);
/* rho = max(|lambda_2|, |lambda_n|) of W: the per-step contraction of repeated averaging
 * (smaller is faster; 1 means no mixing). Requires a row- or column-stochastic W. */
BF_API bf_status bf_topology_spectral_gap(const bf_topology *topology, double *rho);

/* Dynamic schedules: pure functions of the step (step 0 is the first), identical on every rank and
 * to BlueFog's generators. Each writes the ranks to send to and receive from; `capacity` entries
 * are available in each array (size suffices). The uniform weight to pair with them is
 * 1 / (recv_count + 1). Return BF_OK or BF_ERR_INVALID_ARGUMENT. */

/* One peer per step, cycling through `rank`'s out-neighbors by clockwise distance
 * (GetDynamicOnePeerSendRecvRanks); works with and without self-loops. Receives from every rank
 * whose turn points at `rank`. */
BF_API bf_status bf_schedule_one_peer(const bf_topology *topology, int rank, int64_t step,
                                      int *send_ranks, int *send_count, int *recv_ranks,
                                      int *recv_count, int capacity);
/* Machine ids for an exponential-two machine schedule (GetExp2DynamicSendRecvMachineRanks). */
BF_API bf_status bf_schedule_exp2_machine(int world_size, int local_size, int rank, int64_t step,
                                          int *send_machines, int *send_count,
                                          int *recv_machines, int *recv_count, int capacity);
/* Inner ring inside each machine, one rank per step crossing to the next machine
 * (GetInnerOuterRingDynamicSendRecvRanks). Needs local_size > 2. With a single machine the rank
 * whose turn it is to cross gets empty lists (BlueFog made it send to itself). */
BF_API bf_status bf_schedule_inner_outer_ring(int world_size, int local_size, int rank,
                                              int64_t step, int *send_ranks, int *send_count,
                                              int *recv_ranks, int *recv_count, int capacity);
/* Exponential-two inside and across machines (GetInnerOuterExpo2DynamicSendRecvRanks).
 * Needs local_size > 2 and at least 2 machines. */
BF_API bf_status bf_schedule_inner_outer_exp2(int world_size, int local_size, int rank,
                                              int64_t step, int *send_ranks, int *send_count,
                                              int *recv_ranks, int *recv_count, int capacity);

/* Makes `topology` the process topology used by static neighbor operations. Collective: every rank
 * must pass the same graph (checked; BF_ERR_MISMATCH otherwise). The topology is copied.
 * is_weighted != 0: static neighbor_allreduce defaults to the graph's weights; else to uniform
 * 1/(in-degree+1). Refused with BF_ERR_IN_PROGRESS while operations are in flight. */
BF_API bf_status bf_set_topology(const bf_topology *topology, int is_weighted);
/* A copy of the current process topology (free it) and its weighted flag (either may be NULL). */
BF_API bf_status bf_get_topology(bf_topology **out, int *is_weighted);

/* Infers the whole communication graph from every rank's own list (InferSourceFromDestinationRanks
 * and InferDestinationFromSourceRanks of BlueFog). Collective. Each rank passes the ranks it sends
 * to (ranks_are_destinations != 0) or the ranks it receives from (0); every rank must use the same
 * convention. The result has an edge i -> j for every declared pair, and uniform receive weights:
 * W[j][j] = W[i][j] = 1 / (in-degree of j + 1), so every column sums to 1. Read the inferred lists
 * with bf_topology_in_neighbors / bf_topology_out_neighbors. Free it with bf_topology_free. */
BF_API bf_status bf_infer_topology(const int *ranks, int count, int ranks_are_destinations,
                                   bf_topology **out);

/* Makes `topology` (over bf_machine_size() machines) the machine topology used by static
 * hierarchical operations. Collective, checked like bf_set_topology; copied. Needs a homogeneous
 * layout (bf_is_homogeneous). Not set by bf_init. */
BF_API bf_status bf_set_machine_topology(const bf_topology *topology, int is_weighted);
/* A copy of the machine topology (NULL if none is set; free it) and its weighted flag. */
BF_API bf_status bf_get_machine_topology(bf_topology **out, int *is_weighted);

/* ---------------------------------------------------------------------------------------------
 * Handles for asynchronous operations. A handle is a process-local id (never 0). Every `_async`
 * call that returns BF_OK gives a handle that must be released with bf_handle_free after it has
 * completed. The blocking forms are the async form followed by bf_wait and bf_handle_free.
 */
typedef uint64_t bf_handle;

/* Waits until the operation completes or timeout_ms passes (timeout_ms < 0: forever; 0: poll).
 * Returns the operation's own status once complete (BF_OK, BF_ERR_MISMATCH, ...), BF_ERR_TIMEOUT
 * if still in flight (the operation continues), BF_ERR_INVALID_ARGUMENT for an unknown handle.
 * May be called repeatedly and from any thread. */
BF_API bf_status bf_wait(bf_handle handle, int timeout_ms);
/* *done = 1 if the operation has completed (bf_wait then returns at once), else 0. */
BF_API bf_status bf_poll(bf_handle handle, int *done);
/* Releases a completed handle. BF_ERR_IN_PROGRESS if still in flight (wait first),
 * BF_ERR_INVALID_ARGUMENT if unknown or already freed. */
BF_API bf_status bf_handle_free(bf_handle handle);

/* ---------------------------------------------------------------------------------------------
 * Operations. Each has a blocking form and an `_async` form; both are collective over the ranks the
 * operation involves. Ops are matched across ranks by name (see bf_matching_mode); names must be
 * unique among the ops a rank has in flight (BF_ERR_INVALID_ARGUMENT otherwise). Every transfer
 * carries a header, so a mismatch (different operation, dtype, element count or root under one
 * name) fails with BF_ERR_MISMATCH instead of hanging or corrupting memory.
 * Dtypes: int8/16/32/64, uint8, float16, bfloat16, float32, float64 where the op makes sense;
 * reductions of 16-bit floats accumulate in float32. Devices: kDLCPU, kDLCUDAHost, kDLCUDA (see
 * GPU tensors above).
 */

/* Arguments shared by the simple operations. */
typedef struct bf_op_args {
  size_t struct_size; /* sizeof(bf_op_args) */
  /* Name matched across ranks (copied). NULL: "<op>.noname.<n>", n counting this rank's unnamed
   * operations of that kind, so unnamed ops match when issued in the same order. */
  const char *name;
} bf_op_args;

typedef enum bf_reduce_op {
  BF_REDUCE_AVERAGE = 0, /* the default, as in BlueFog; floating dtypes only */
  BF_REDUCE_SUM = 1
} bf_reduce_op;

typedef struct bf_allreduce_args {
  size_t struct_size; /* sizeof(bf_allreduce_args) */
  const char *name;
  bf_reduce_op op;
  int machine_local; /* nonzero: reduce over this machine's ranks only (average by local size) */
} bf_allreduce_args;

/* out = sum (or average) over ranks of in. out has in's dtype and shape. */
BF_API bf_status bf_allreduce(const DLTensor *in, DLTensor *out, const bf_allreduce_args *args);
BF_API bf_status bf_allreduce_async(const DLTensor *in, DLTensor *out,
                                    const bf_allreduce_args *args, bf_handle *handle);

/* out = root's in on every rank (on root, out receives a copy unless it aliases in). Every rank
 * passes the same root, dtype and shape. */
BF_API bf_status bf_broadcast(const DLTensor *in, DLTensor *out, int root_rank,
                              const bf_op_args *args);
BF_API bf_status bf_broadcast_async(const DLTensor *in, DLTensor *out, int root_rank,
                                    const bf_op_args *args, bf_handle *handle);

/* Concatenation of every rank's `in` along dim 0 in rank order. First dimensions may differ;
 * other dimensions and the dtype must agree. ndim >= 1. The result is allocated by the library and
 * handed over as a DLManagedTensor (*out; call its deleter when done). For the async form, *out is
 * written when the operation completes: keep `out` valid and read it after bf_wait returns BF_OK. */
BF_API bf_status bf_allgather(const DLTensor *in, DLManagedTensor **out, const bf_op_args *args);
BF_API bf_status bf_allgather_async(const DLTensor *in, DLManagedTensor **out,
                                    const bf_op_args *args, bf_handle *handle);

/* Returns once every rank has entered the barrier. */
BF_API bf_status bf_barrier(void);
BF_API bf_status bf_barrier_async(bf_handle *handle);

/* Neighbor operations: who sends to whom, with which weights.
 *
 * Static mode (dynamic == 0): every rank sends to its out-neighbors in the process topology and
 * receives from its in-neighbors. Without has_weights, neighbor_allreduce uses the topology's
 * weights (weighted topology) or uniform 1/(in-degree+1). With has_weights, src_ranks must be
 * in-neighbors; in-neighbors left out get weight 0.
 *
 * Dynamic mode (dynamic != 0): this call's send list (dst_ranks, optionally scaled per destination
 * by dst_weights, applied at the sender) and receive list (src_ranks with src_weights, required)
 * replace the topology; any rank may appear; either list may be empty. Every rank's lists must be
 * consistent (i sends to j iff j receives from i); check_topology != 0 verifies this globally first
 * and fails on every rank with a message naming the ranks, at the cost of one allgather.
 *
 * neighbor_allreduce computes, for rank i,
 *   out_i = self_weight * in_i + sum_{j in src} src_weight[j] * dst_weight_j[i] * in_j.
 * Weights are doubles, applied in the tensor's precision (float32 for 16-bit floats).
 *
 * Compression (docs/compression.md): neighbor_allreduce and hierarchical_neighbor_allreduce can
 * send less than the tensor: cast to bfloat16/float16, int8 with one float32 scale per 256
 * elements, or top-k (the largest-magnitude fraction, as index/value pairs). The combine runs in
 * the tensor's precision. With error feedback (the default for every lossy mode) the engine keeps,
 * per (name, peer), what each destination has of this rank's tensor and sends only an encoding
 * of the difference (CHOCO-gossip); the part not yet sent stays with the sender, so the sum over
 * ranks is kept and repeated averaging reaches the exact mean (exactly when the receivers' weights
 * for this rank are known: static mode with topology weights, or equal to this rank's own source
 * weights, as in uniform and one-peer schedules). The result is then
 *   out_i = in_i + step * (self_weight * in_i + sum_j src_weight[j] * est_j
 *                          + sum_k recv_weight[k] * residual_k - in_i),
 * est_j being what this rank has of j, residual_k what destination k lacks of this rank. Error
 * feedback keeps state per name: the operation must be named, with the same shape every call.
 * Floating dtypes only; every rank of an exchange must use the same settings. */
typedef struct bf_neighbor_args {
  size_t struct_size; /* sizeof(bf_neighbor_args) */
  const char *name;
  int has_weights; /* nonzero: self_weight and src_ranks/src_weights are given */
  double self_weight;
  int src_count;
  const int *src_ranks;      /* src_count distinct ranks, not this rank */
  const double *src_weights; /* src_count weights; NULL means 1.0 each */
  int dynamic;               /* nonzero: use dst_ranks/src_ranks instead of the topology */
  int dst_count;
  const int *dst_ranks;      /* dst_count distinct ranks, not this rank */
  const double *dst_weights; /* dst_count weights; NULL means 1.0 each (no scaling) */
  int check_topology;
  /* Compression (above). Callers built against an older bluefog.h pass a smaller struct_size,
   * which leaves these at their defaults. */
  bf_compression compression;
  double topk_ratio;             /* top-k: fraction kept, in (0, 1]; 0: the init default (0.01) */
  bf_error_feedback error_feedback;
  double consensus_step;         /* `step` above, in (0, 1]; 0: 1, or min(1, 2 * ratio) for top-k */
} bf_neighbor_args;

/* Weighted average with neighbors (formula above). out has in's dtype and shape. Float dtypes. */
BF_API bf_status bf_neighbor_allreduce(const DLTensor *in, DLTensor *out,
                                       const bf_neighbor_args *args);
BF_API bf_status bf_neighbor_allreduce_async(const DLTensor *in, DLTensor *out,
                                             const bf_neighbor_args *args, bf_handle *handle);

/* Hierarchical neighbor averaging for machines of local ranks (homogeneous layouts only): the
 * tensor is summed within each machine, the machine sums are neighbor-averaged between machines'
 * local rank 0 over the machine topology, and the result is shared within the machine:
 *   out = (self_weight * S_m + sum_{j in src} src_weight[j] * dst_weight_j[m] * S_j) / local_size
 * with S_m the sum over machine m. `args` is read as for bf_neighbor_allreduce with machine ids in
 * place of ranks: static mode uses the machine topology (bf_set_machine_topology) and its weights
 * or uniform 1/(in-degree+1); dynamic mode uses the given machine lists. Collective over all
 * ranks. Float dtypes. */
BF_API bf_status bf_hierarchical_neighbor_allreduce(const DLTensor *in, DLTensor *out,
                                                   const bf_neighbor_args *args);
BF_API bf_status bf_hierarchical_neighbor_allreduce_async(const DLTensor *in, DLTensor *out,
                                                         const bf_neighbor_args *args,
                                                         bf_handle *handle);

/* Concatenation along dim 0 of the in-neighbors' tensors (self not included), in ascending rank
 * order (static) or in src_ranks order (dynamic). First dimensions may differ. Weights are ignored.
 * Output ownership as for bf_allgather. */
BF_API bf_status bf_neighbor_allgather(const DLTensor *in, DLManagedTensor **out,
                                       const bf_neighbor_args *args);
BF_API bf_status bf_neighbor_allgather_async(const DLTensor *in, DLManagedTensor **out,
                                             const bf_neighbor_args *args, bf_handle *handle);

/* out = self_weight * in + pair_weight * (peer's in). Collective over this rank and peer_rank,
 * which must call it with this rank as its peer. BlueFog's default is 0.5 and 0.5. Float dtypes. */
BF_API bf_status bf_pair_gossip(const DLTensor *in, DLTensor *out, int peer_rank,
                                double self_weight, double pair_weight, const bf_op_args *args);
BF_API bf_status bf_pair_gossip_async(const DLTensor *in, DLTensor *out, int peer_rank,
                                      double self_weight, double pair_weight,
                                      const bf_op_args *args, bf_handle *handle);

/* ---------------------------------------------------------------------------------------------
 * One-sided windows (docs/windows.md). A window named `name` exposes a tensor of every rank and
 * keeps, on each rank, one buffer per in-neighbor of the topology at creation: in-neighbor j's
 * puts and accumulates land in this rank's buffer for j, and this rank's gets from j fill it too.
 * bf_win_update combines the tensor with those buffers. Puts, gets and accumulates are
 * one-sided: the peer's program takes no part, its engine thread serves them within one engine
 * cycle even while its caller computes. Every MPI call runs on the engine threads.
 * The topology cannot change while any window exists.
 *
 * Mutexes: mutex (i, j) guards rank i's buffer for j. A put or accumulate from j with
 * require_mutex holds mutex (d, j) at each destination d while it writes; bf_win_update with
 * require_mutex holds (i, r) for each neighbor r it reads; bf_win_mutex_acquire takes them
 * explicitly. Versions count the puts and accumulates received from, and gets done from, each
 * in-neighbor since the last bf_win_update that read its buffer. Associated p (the push-sum
 * weight, 1.0 at creation) travels with puts and accumulates, scaled by the same weights, and is
 * combined by bf_win_update with the tensor's weights, while bf_set_win_associated_p is on.
 * Puts and accumulates without require_mutex from one rank to one peer are applied in the order
 * they were issued (with require_mutex, each waits for its grant first). A blocking put,
 * accumulate or get returns (and an async one completes) once the data is in place at its
 * destination. Neighbor p-slots start at 0; a clone update (out != NULL) leaves p unchanged.
 * Integer windows take only weights of 1.0, in transfers and updates alike.
 */

/* Creates the window `name` over `tensor`, collectively: every rank passes the same name, dtype
 * and shape. The tensor's data is borrowed until bf_win_free: keep it alive and do not move it
 * (the DLTensor struct itself, shape included, is copied and may go). Neighbor
 * buffers start as copies of this rank's tensor (BlueFog's behavior), or zeros if zero_init.
 * BF_ERR_INVALID_ARGUMENT if a window of that name exists; BF_ERR_MISMATCH on every rank if the
 * ranks disagree. Float (16/32/64-bit) and int32/int64 dtypes; host memory or a CUDA device.
 * A GPU window (docs/windows.md) is staged through pinned host memory: its operations take
 * tensors on its device only (BF_ERR_INVALID_ARGUMENT naming the argument otherwise); puts,
 * accumulates and updates read the device tensor behind the caller's stream (bf_set_cuda_stream)
 * and return once results are back in device memory; a peer's get copies the device tensor as
 * the engine finds it when serving the request. */
BF_API bf_status bf_win_create(DLTensor *tensor, const char *name, int zero_init);
/* Frees the window `name`, or every window if name is NULL, collectively. Waits first for this
 * rank's own window operations on it to complete. */
BF_API bf_status bf_win_free(const char *name);
/* The names of the windows that exist, sorted, each followed by '\n', NUL-terminated. Writes at
 * most `capacity` bytes (truncating, still NUL-terminated; buffer may be NULL if capacity is 0);
 * *needed (if not NULL) receives the size including the NUL. */
BF_API bf_status bf_win_names(char *buffer, size_t capacity, size_t *needed);

/* Arguments of bf_win_put, bf_win_accumulate and bf_win_get; NULL means all defaults.
 * Put and accumulate: ranks are destinations, a subset of the out-neighbors (default: all of
 * them); rank d receives weight[d] * tensor. Get: ranks are sources, a subset of the in-neighbors
 * (default: all); this rank's buffer for s becomes weight[s] * (s's window tensor). */
typedef struct bf_win_op_args {
  size_t struct_size; /* sizeof(bf_win_op_args) */
  int has_self_weight; /* put/accumulate only: after sending, tensor *= self_weight (default 1) */
  double self_weight;
  int has_ranks; /* nonzero: count/ranks/weights are given; zero: every neighbor, weight 1.0 */
  int count;
  const int *ranks;      /* count distinct ranks, not this rank */
  const double *weights; /* count weights; NULL means 1.0 each */
  int require_mutex;     /* hold mutex (peer, this rank) at each peer while transferring */
} bf_win_op_args;

/* Writes weight[d] * tensor into rank d's buffer for this rank, replacing it, for every
 * destination d; then scales `tensor` by self_weight (and this rank's associated p likewise).
 * `tensor` has the window's dtype and shape; it may be the window's own tensor. */
BF_API bf_status bf_win_put(DLTensor *tensor, const char *name, const bf_win_op_args *args);
BF_API bf_status bf_win_put_async(DLTensor *tensor, const char *name, const bf_win_op_args *args,
                                  bf_handle *handle);
/* As bf_win_put, but adds weight[d] * tensor into rank d's buffer for this rank. */
BF_API bf_status bf_win_accumulate(DLTensor *tensor, const char *name,
                                   const bf_win_op_args *args);
BF_API bf_status bf_win_accumulate_async(DLTensor *tensor, const char *name,
                                         const bf_win_op_args *args, bf_handle *handle);
/* For every source s: this rank's buffer for s = weight[s] * (s's window tensor as it is when
 * s's engine serves the request). has_self_weight must be zero. */
BF_API bf_status bf_win_get(const char *name, const bf_win_op_args *args);
BF_API bf_status bf_win_get_async(const char *name, const bf_win_op_args *args,
                                  bf_handle *handle);

/* Arguments of bf_win_update; NULL means the defaults. */
typedef struct bf_win_update_args {
  size_t struct_size; /* sizeof(bf_win_update_args) */
  /* nonzero: self_weight and count/ranks/weights are given (ranks a subset of the
   * in-neighbors). zero: the topology's weights if it was set weighted, else 1/(in-degree+1)
   * for the tensor and every buffer. */
  int has_weights;
  double self_weight;
  int count;
  const int *ranks;
  const double *weights; /* NULL means 1.0 each */
  int reset;             /* zero the buffers read (and their associated p) afterwards */
  int require_mutex;     /* hold mutex (this rank, r) for every buffer r read */
} bf_win_update_args;

/* result = self_weight * tensor + sum_r weight[r] * buffer[r], in the tensor's precision;
 * versions of the buffers read drop to 0. out == NULL: the result replaces the window's tensor;
 * otherwise it goes to `out` (same dtype and shape) and the window's tensor is untouched
 * (BlueFog's clone=True). Integer windows allow only weights of 1.0 (self_weight included), so
 * they add. Local to this rank. A peer's get copies this rank's tensor whenever its engine serves
 * the request: writes by the caller to the tensor are not ordered against peers' gets unless the
 * program orders them (a barrier, or only puts and accumulates on that window). */
BF_API bf_status bf_win_update(const char *name, const bf_win_update_args *args, DLTensor *out);
/* tensor += sum of every buffer, then the buffers are zeroed: the push-sum collect step. */
BF_API bf_status bf_win_update_then_collect(const char *name, int require_mutex);

/* Acquires (blocking) the mutexes of window `name`: for_self == 0: mutex (r, this rank) at each
 * rank r; for_self != 0: this rank's mutex (this rank, r). ranks == NULL: the out-neighbors
 * (an empty list is a non-NULL ranks with count 0).
 * Mutexes are taken one at a time in ascending order, so lockers never deadlock each other. */
BF_API bf_status bf_win_mutex_acquire(const char *name, const int *ranks, int count,
                                      int for_self);
/* Releases mutexes this rank holds, named as for bf_win_mutex_acquire. */
BF_API bf_status bf_win_mutex_release(const char *name, const int *ranks, int count,
                                      int for_self);

/* The in-neighbors of window `name` in ascending order, each with its version. Writes at most
 * `capacity` entries to ranks/versions (either may be NULL if capacity is 0); *count receives
 * the number of in-neighbors. */
BF_API bf_status bf_win_versions(const char *name, int *ranks, int *versions, int capacity,
                                 int *count);
/* This rank's associated p of window `name`. */
BF_API bf_status bf_win_associated_p(const char *name, double *p);
/* Turns the associated-p bookkeeping of window operations on or off (off at bf_init); read by each
 * operation when it is issued. */
BF_API bf_status bf_set_win_associated_p(int enabled);
BF_API bf_status bf_get_win_associated_p(int *enabled);

/* ---------------------------------------------------------------------------------------------
 * Timeline: a Chrome trace of this rank's operations, written to <prefix><rank>.json when
 * BLUEFOG_TIMELINE=<prefix> is set at bf_init (docs/timeline.md). Every operation's phases are
 * recorded under its name; these two functions add the caller's own activities to the same file.
 * Not collective; any thread may call them. Events are buffered and written by a background
 * thread, so neither call waits for the disk. The file is completed (a closed JSON array) by
 * bf_finalize.
 */

/* Begins `activity` under `name` (both copied; UTF-8, escaped as needed). `name` groups events in
 * the viewer as one row, like an operation's name (it may be one, to annotate that operation).
 * Activities nest: each bf_timeline_end_activity ends the innermost one this thread began under
 * `name`, so begin and end an activity on the same thread.
 * Returns BF_OK; BF_ERR_NOT_INITIALIZED before bf_init or after bf_finalize;
 * BF_ERR_INVALID_ARGUMENT if name or activity is NULL; BF_ERR_UNSUPPORTED if the timeline is off. */
BF_API bf_status bf_timeline_start_activity(const char *name, const char *activity);
/* Ends the innermost activity this thread began under `name` (copied). Statuses as above. */
BF_API bf_status bf_timeline_end_activity(const char *name);

/* ---------------------------------------------------------------------------------------------
 * Engine controls: queries about the transport, a window lock against peers' one-sided access,
 * pausing the engine, and switching the matching mode while running (docs/engine-controls.md).
 */

/* 1 if MPI runs at MPI_THREAD_MULTIPLE (MPI_Query_thread at bf_init), so the application's other
 * threads may call MPI (mpi4py, ...) alongside the engine; 0 if it provides less (BlueFog then
 * needs MPI_THREAD_SERIALIZED and calls MPI only from its engine thread); -1 if not initialized.
 * Local; any thread. */
BF_API int bf_mpi_threads_supported(void);

/* 1 after bf_init, -1 if not initialized. BlueFog-C windows are not MPI windows: a peer's put or
 * accumulate is written by this rank's engine thread straight into the one copy of the window
 * memory that bf_win_update reads, and a get reads the tensor itself, so there is no separate
 * public copy to synchronize: the memory model is unified in MPI's sense (MPI_WIN_UNIFIED), for
 * every MPI library and transport. Local (BlueFog's query was collective); any thread. */
BF_API int bf_unified_mpi_window_model_supported(void);

/* Locks window `name` of this rank against its peers: until bf_win_unlock, this rank's engine
 * applies no put or accumulate from a peer to the window and serves no peer's get of it. They are
 * kept in arrival order and served at bf_win_unlock (never dropped), so the peers' operations
 * complete later instead of failing. Returns once no peer's write is half applied (a transfer of
 * several chunks that had begun is finished first), so the caller then reads and writes the
 * tensor and buffers undisturbed. This rank's own window operations, mutex requests and
 * bf_win_update are not held back. Local, not collective; any thread may unlock. bf_win_free
 * unlocks the window first (a peer whose put is held may be waiting in its own bf_win_free), so
 * the held requests are served before the window goes. While holding the lock, do not wait for
 * anything a peer whose request is held must do first (a collective it joins after its put).
 * Returns BF_OK; BF_ERR_NOT_INITIALIZED; BF_ERR_INVALID_ARGUMENT for a NULL or unknown name or a
 * window already locked. */
BF_API bf_status bf_win_lock(const char *name);
/* Unlocks window `name`; the engine then serves what was held, in arrival order, before anything
 * that arrives later. Returns BF_OK; BF_ERR_NOT_INITIALIZED; BF_ERR_INVALID_ARGUMENT for a NULL
 * or unknown name or a window that is not locked. */
BF_API bf_status bf_win_unlock(const char *name);
/* *locked = 1 if window `name` is locked by bf_win_lock, else 0. */
BF_API bf_status bf_win_is_locked(const char *name, int *locked);

/* Suspends this rank's engine (BlueFog's suspend, for interactive sessions): from now on every
 * operation call fails with BF_ERR_SUSPENDED without queuing anything. Operations already queued
 * run to completion; then the engine thread sleeps on a condition variable instead of polling.
 * While windows exist it wakes every 50 ms to serve peers' puts, accumulates, gets and mutex
 * requests, so their one-sided operations still complete (more slowly); without windows it sleeps
 * until bf_resume or bf_finalize. Calls that queue nothing keep working: queries, bf_wait,
 * bf_poll, bf_handle_free, bf_win_lock/unlock. bf_finalize resumes first. Local; calling it twice is a no-op.
 * Returns BF_OK or BF_ERR_NOT_INITIALIZED. */
BF_API bf_status bf_suspend(void);
/* Ends bf_suspend: operations may be queued again and the engine polls as usual. A no-op when
 * not suspended. Returns BF_OK or BF_ERR_NOT_INITIALIZED. */
BF_API bf_status bf_resume(void);
/* 1 while suspended, 0 if not, -1 if not initialized. */
BF_API int bf_suspended(void);

/* Switches the matching mode (BF_MATCHING_ORDERED or BF_MATCHING_NAMED) of every rank at once:
 * BlueFog's set_skip_negotiate_stage. Collective over all ranks, ordered like the other global
 * operations, so every rank switches at the same point of the sequence of global ops; operations
 * issued after it returns use the new mode. Every rank must ask for the same mode. The switch
 * needs a quiet engine: BF_ERR_IN_PROGRESS if this rank has operations in flight when it is
 * called, and on every rank if any rank still has global operations waiting for their turn when
 * the switch runs (the mode is then unchanged everywhere). Asking for the mode already in effect
 * still synchronizes (and checks agreement). Returns BF_OK; BF_ERR_NOT_INITIALIZED;
 * BF_ERR_INVALID_ARGUMENT for another value; BF_ERR_MISMATCH on every rank if ranks asked for
 * different modes (unchanged everywhere); BF_ERR_IN_PROGRESS; BF_ERR_SUSPENDED. */
BF_API bf_status bf_set_matching_mode(bf_matching_mode mode);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BLUEFOG_H_ */

// SPDX-License-Identifier: Apache-2.0
// Op: one queued operation, fully validated and owning copies of everything the caller passed
// except the borrowed tensors.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <chrono>

#include "backend/backend.h"
#include "bluefog.h"
#include "core/handle_table.h"
#include "core/tensor.h"

namespace bluefog {

struct DeviceStage;
class HostStoragePool;
class FeedbackStore;
class Topology;
struct Window;
struct WindowProgress;

enum class OpKind : uint8_t {
  kAllreduce = 1,
  kBroadcast,
  kAllgather,
  kBarrier,
  kNeighborAllreduce,
  kNeighborAllgather,
  kPairGossip,
  kSetTopology,
  kHierarchicalNeighborAllreduce,
  kSetMachineTopology,
  kInferTopology,
  kWinCreate,
  kWinFree,
  kWinPut,
  kWinAccumulate,
  kWinGet,
  kWinUpdate,
  kWinMutexAcquire,
  kWinMutexRelease,
  kSetMatchingMode,
};

const char* OpKindName(OpKind kind);

// The send/receive pattern and weights of one neighbor operation, resolved at enqueue time.
struct NeighborPlan {
  bool dynamic = false;
  bool check_topology = false;
  double self_weight = 1.0;
  std::vector<int> src_ranks;       // receive from, in combine/gather order
  std::vector<double> src_weights;  // parallel to src_ranks
  std::vector<int> dst_ranks;       // send to
  std::vector<double> dst_weights;  // parallel to dst_ranks; 1.0 means unscaled

  // Compression of what this rank sends (ops/compression.h); BF_COMPRESSION_NONE: raw.
  bf_compression compression = BF_COMPRESSION_NONE;
  double topk_ratio = 0.0;
  bool error_feedback = false;
  double consensus_step = 1.0;
  // Error feedback: parallel to dst_ranks, the weight each destination gives this rank's value
  // (the part of it a destination lacks stays here, with that weight).
  std::vector<double> receiver_weights;
  FeedbackStore* feedback = nullptr;  // the engine's; used on the engine thread only
};

// The sends of neighbor ops started together: possibly fused messages (which own their packed
// buffers), shared by every op of the batch, each of which finishes only once all have left.
struct SendBatch {
  // Fused message bodies; not zero-filled first (every byte sent is written, padding included).
  std::vector<std::unique_ptr<std::byte[]>> fused_buffers;
  std::unique_ptr<PendingSends> sends;
  bool done = false;
};

// Where a neighbor operation stands between posting its sends and finishing (engine thread only).
struct NeighborProgress {
  std::vector<std::vector<std::byte>> scaled;  // per-destination weighted copies of `in`
  // Compressed sends, per destination: the encoded payload (owned here without error feedback)
  // and, with error feedback, the residual: what the destination's estimate still lacks of the
  // scaled `in` (both then live in the edge's state, ops/compression.h).
  std::vector<std::vector<std::byte>> encoded;
  std::vector<const void*> payloads;
  std::vector<const void*> residuals;
  std::shared_ptr<SendBatch> batch;
  bool sends_done = false;
  uint64_t name_hash = 0;  // HashName(op.name), which every poll of the mailbox looks up
  uint64_t filed_seen = ~uint64_t{0};  // Backend::filed_count at the last lookup
  std::vector<std::unique_ptr<ReceivedMessage>> received;  // parallel to src_ranks
  size_t received_count = 0;
};

// What a window operation does, resolved at issue time.
struct WindowPlan {
  std::string window_name;
  std::vector<int> ranks;       // peers (put/accumulate: destinations; get/update: sources;
                                // mutexes: owners, or indexes when for_self)
  std::vector<double> weights;  // parallel to ranks
  bool has_self_weight = false;
  double self_weight = 1.0;
  bool require_mutex = false;
  bool reset = false;            // update
  bool clone = false;            // update into `out`, leaving the window's tensor as it is
  bool for_self = false;         // mutex acquire/release
  bool with_associated_p = false;
  bool zero_init = false;        // create
  bool free_all = false;         // free
};

// Global ops are ordered across ranks (negotiated or in issue order); neighbor ops are not.
bool IsGlobal(OpKind kind);
// Window operations that run on this rank's own (put, get, update, mutexes); the window's
// collectives (create, free) are global.
bool IsWindowOp(OpKind kind);

struct Op {
  OpKind kind = OpKind::kBarrier;
  std::string name;
  TensorRef in;
  TensorRef out;  // unused by gathers (engine-allocated output) and barrier
  DLManagedTensor** managed_out = nullptr;
  std::shared_ptr<HostStoragePool> result_storage;  // where managed_out's storage comes from

  bf_reduce_op reduce_op = BF_REDUCE_AVERAGE;  // allreduce
  bool machine_local = false;                  // allreduce
  int root_or_peer = -1;                       // broadcast root, pair_gossip peer
  double pair_weight = 0.0;                    // pair_gossip (self weight in neighbor.self_weight)
  NeighborPlan neighbor;                       // neighbor ops, pair_gossip
  std::shared_ptr<const Topology> topology;    // set_topology
  bool topology_weighted = false;              // set_topology
  std::vector<int> listed_ranks;               // infer_topology: this rank's list
  bool listed_are_destinations = false;        // infer_topology
  bf_matching_mode matching_mode = BF_MATCHING_DEFAULT;     // set_matching_mode: the new mode
  std::shared_ptr<const Topology>* inferred_out = nullptr;  // infer_topology: written on success
  WindowPlan window_plan;                  // window ops
  std::shared_ptr<Window> window;          // window ops but create and free
  // Collective calls whose arguments failed validation on this rank still run, so that every
  // rank fails instead of the others waiting forever; this is why it failed here.
  std::string invalid_reason;

  std::shared_ptr<Completion> completion;
  // Tensors on a CUDA device: the op runs on host copies (device/staging.h); null otherwise.
  std::shared_ptr<DeviceStage> stage;

  // Engine bookkeeping.
  std::unique_ptr<NeighborProgress> progress;
  std::shared_ptr<WindowProgress> window_progress;
  std::chrono::steady_clock::time_point queued_at = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point posted_at = queued_at;  // admitted by the engine
  std::chrono::steady_clock::time_point last_stall_warning{};
  std::vector<int> not_posted_by;  // named mode: ranks that had not offered it in the last round
  // Named mode: every rank offered the op with the same Fingerprint (ops/agreement.h).
  bool negotiated_alike = false;
};

uint64_t HashName(const std::string& name);

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Context: the process-wide state between bf_init and bf_finalize — engine, layout, handles and
// the current topology. The C API holds the one instance (runtime.h); everything else receives it.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "core/config.h"
#include "core/engine.h"
#include "core/handle_table.h"
#include "core/op.h"
#include "core/timeline.h"

namespace bluefog {

class Topology;

class Context {
 public:
  static Status Create(const Config& config, std::shared_ptr<Context>* out);

  const ProcessLayout& layout() const { return engine_->layout(); }
  HandleTable& handles() { return handles_; }
  // The trace writer, or null when the timeline is off.
  Timeline* timeline() const { return timeline_.get(); }
  int in_flight() const { return engine_->in_flight(); }
  bf_matching_mode matching_mode() const { return engine_->matching_mode(); }
  // bf_suspend / bf_resume (see Engine::Suspend).
  void Suspend() { engine_->Suspend(); }
  void Resume() { engine_->Resume(); }
  bool suspended() const { return engine_->suspended(); }
  WindowRegistry& windows() { return engine_->windows(); }
  FeedbackStore* feedback() { return engine_->feedback(); }
  // Compression defaults for neighbor ops (bf_init_options, BLUEFOG_COMPRESSION/_TOPK_RATIO).
  bf_compression default_compression() const { return default_compression_; }
  double default_topk_ratio() const { return default_topk_ratio_; }
  // Whether window ops issued now carry associated p (bf_set_win_associated_p).
  bool win_associated_p() const { return win_associated_p_.load(); }
  void set_win_associated_p(bool on) { win_associated_p_.store(on); }

  // Registers a handle for `op` and queues it; *handle receives its id.
  Status Submit(std::unique_ptr<Op> op, bf_handle* handle);
  // "<kind>.noname.<n>", counting this rank's unnamed ops of that kind.
  std::string AutoName(OpKind kind);

  std::shared_ptr<const Topology> topology(bool* weighted) const;
  void ReplaceTopology(std::shared_ptr<const Topology> topology, bool weighted);
  // Graph over machines for hierarchical ops; null until set.
  std::shared_ptr<const Topology> machine_topology(bool* weighted) const;
  void ReplaceMachineTopology(std::shared_ptr<const Topology> topology, bool weighted);

  // The pattern and weights a static neighbor op gets from a graph's own neighbors and weights
  // (api/neighbor_plan.cc), cached per graph (machines: the machine graph) because most calls ask
  // for it and building it scans the graph. Find: false unless cached for this very `topology`.
  bool FindDefaultPlan(bool machines, const Topology* topology, bool weighted,
                       NeighborPlan* out) const;
  void CacheDefaultPlan(bool machines, std::shared_ptr<const Topology> topology, bool weighted,
                        const NeighborPlan& plan);

  Status Shutdown();

 private:
  struct DefaultPlan {
    std::shared_ptr<const Topology> topology;  // held, so its address is not reused meanwhile
    bool weighted = false;
    NeighborPlan plan;
  };

  Context() = default;

  std::unique_ptr<Timeline> timeline_;  // declared before engine_: outlives the engine thread
  std::unique_ptr<Engine> engine_;
  HandleTable handles_;
  std::atomic<bool> win_associated_p_{false};
  bf_compression default_compression_ = BF_COMPRESSION_NONE;
  double default_topk_ratio_ = 0.01;
  std::array<std::atomic<uint64_t>, 32> unnamed_counts_{};  // by OpKind

  mutable std::mutex topology_mutex_;
  std::shared_ptr<const Topology> topology_;
  bool topology_weighted_ = false;
  std::shared_ptr<const Topology> machine_topology_;
  bool machine_topology_weighted_ = false;
  std::array<DefaultPlan, 2> default_plans_;  // by machines; guarded by topology_mutex_
};

}  // namespace bluefog

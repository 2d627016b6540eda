// SPDX-License-Identifier: Apache-2.0
// Context and the process-wide runtime slot behind bf_init / bf_finalize.
#include "core/context.h"

#include <iostream>

#include "core/runtime.h"
#include "topology/graph.h"

namespace bluefog {

Status Context::Create(const Config& config, std::shared_ptr<Context>* out) {
  std::shared_ptr<Context> context(new Context());
  MpiBackend::Options backend_options;
  backend_options.adopt_comm = config.mpi_comm;
  backend_options.nodes_per_machine = config.nodes_per_machine;
  Engine::Settings settings;
  settings.matching = config.matching_mode;
  settings.stall_warning_s = config.stall_warning_s;
  settings.fusion_threshold_bytes = static_cast<size_t>(config.fusion_threshold_bytes);
  settings.cycle_time_ms = config.cycle_time_ms;
  settings.window_chunk_elements = config.window_chunk_elements;
  settings.window_shared_memory = config.window_shared_memory;
  BF_RETURN_IF_ERROR(Engine::Start(backend_options, settings, &context->engine_));
  context->default_compression_ = config.compression;
  context->default_topk_ratio_ = config.topk_ratio;
  if (!config.timeline_prefix.empty()) {
    BF_RETURN_IF_ERROR(
        Timeline::Open(config.timeline_prefix, context->layout().rank, &context->timeline_));
    context->engine_->set_timeline(context->timeline_.get());
  }

  // BlueFog's default: the exponential-2 graph, unweighted.
  Topology initial;
  BF_RETURN_IF_ERROR(Topology::Exponential(context->layout().size, 2, &initial));
  context->topology_ = std::make_shared<const Topology>(std::move(initial));
  *out = std::move(context);
  return Status::Ok();
}

Status Context::Submit(std::unique_ptr<Op> op, bf_handle* handle) {
  auto completion = std::make_shared<Completion>();
  op->completion = completion;
  const uint64_t id = handles_.Add(completion);
  Status status = engine_->Enqueue(std::move(op));
  if (!status.ok()) {
    completion->Complete(status);
    (void)handles_.Free(id);
    return status;
  }
  *handle = id;
  return Status::Ok();
}

std::string Context::AutoName(OpKind kind) {
  const uint64_t n = unnamed_counts_[static_cast<size_t>(kind)]++;
  return std::string(OpKindName(kind)) + ".noname." + std::to_string(n);
}

std::shared_ptr<const Topology> Context::topology(bool* weighted) const {
  std::lock_guard<std::mutex> lock(topology_mutex_);
  if (weighted != nullptr) *weighted = topology_weighted_;
  return topology_;
}

void Context::ReplaceTopology(std::shared_ptr<const Topology> topology, bool weighted) {
  std::lock_guard<std::mutex> lock(topology_mutex_);
  topology_ = std::move(topology);
  topology_weighted_ = weighted;
}

std::shared_ptr<const Topology> Context::machine_topology(bool* weighted) const {
  std::lock_guard<std::mutex> lock(topology_mutex_);
  if (weighted != nullptr) *weighted = machine_topology_weighted_;
  return machine_topology_;
}

void Context::ReplaceMachineTopology(std::shared_ptr<const Topology> topology, bool weighted) {
  std::lock_guard<std::mutex> lock(topology_mutex_);
  machine_topology_ = std::move(topology);
  machine_topology_weighted_ = weighted;
}

bool Context::FindDefaultPlan(bool machines, const Topology* topology, bool weighted,
                              NeighborPlan* out) const {
  std::lock_guard<std::mutex> lock(topology_mutex_);
  const DefaultPlan& cached = default_plans_[machines ? 1 : 0];
  if (cached.topology.get() != topology || cached.weighted != weighted) return false;
  out->self_weight = cached.plan.self_weight;
  out->src_ranks = cached.plan.src_ranks;
  out->src_weights = cached.plan.src_weights;
  out->dst_ranks = cached.plan.dst_ranks;
  out->dst_weights = cached.plan.dst_weights;
  return true;
}

void Context::CacheDefaultPlan(bool machines, std::shared_ptr<const Topology> topology,
                               bool weighted, const NeighborPlan& plan) {
  std::lock_guard<std::mutex> lock(topology_mutex_);
  DefaultPlan& cached = default_plans_[machines ? 1 : 0];
  cached.topology = std::move(topology);
  cached.weighted = weighted;
  cached.plan = plan;
}

Status Context::Shutdown() {
  Status status = engine_->Stop();
  // After the engine, so its last phases are in; a trace that cannot be written is not a reason
  // to fail bf_finalize.
  if (timeline_) {
    const Status closed = timeline_->Close();
    if (!closed.ok()) std::cerr << "bluefog: " << closed.message() << "\n";
  }
  return status;
}

namespace {
std::mutex runtime_mutex;
std::shared_ptr<Context> runtime_context;
}  // namespace

std::shared_ptr<Context> CurrentContext() {
  std::lock_guard<std::mutex> lock(runtime_mutex);
  return runtime_context;
}

Status InitRuntime(const bf_init_options* options) {
  Config config;
  BF_RETURN_IF_ERROR(LoadConfig(options, &config));
  std::lock_guard<std::mutex> lock(runtime_mutex);
  if (runtime_context) return Status::Ok();  // already initialized: a no-op, as in BlueFog
  return Context::Create(config, &runtime_context);
}

Status FinalizeRuntime() {
  std::shared_ptr<Context> context;
  {
    std::lock_guard<std::mutex> lock(runtime_mutex);
    context.swap(runtime_context);
  }
  if (!context) return NotInitialized();
  return context->Shutdown();
}

}  // namespace bluefog

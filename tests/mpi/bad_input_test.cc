// SPDX-License-Identifier: Apache-2.0
// The bad-input catalogue: one table row per public function and class of bad input (NULL
// pointers, struct_size, dtypes, shapes, strides, offsets, devices, ranks, weights, lifecycle,
// handles). Each row states the status it expects and what bf_last_error() must name; after every
// row the out-parameters and tensors the call was given must be untouched. Every function that
// bluefog.h declares must have a row. Runs before bf_init, while initialized and after bf_finalize,
// so it has its own main(); MPI is initialized here so that bf_finalize leaves it usable.
#include <mpi.h>

#include <cctype>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bluefog.h"

#ifndef BLUEFOG_HEADER
#error "BLUEFOG_HEADER must name include/bluefog.h (set by tests/mpi/meson.build)"
#endif

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// An int passed where the API takes a C enum, as a C caller may (copied, not converted).
template <typename Enum>
Enum RawEnum(int value) {
  static_assert(sizeof(Enum) == sizeof(int), "C enums travel as int");
  Enum e;
  std::memcpy(&e, &value, sizeof(e));
  return e;
}

// ----- Out-parameters and tensors every row hands over; each must be untouched on error. -------

struct Outs {
  bf_topology* topology;
  DLManagedTensor* managed;
  bf_handle handle;
  int count;
  int count2;
  int flag;
  double value;
  size_t needed;
  int ranks[8];
  int ranks2[8];
  double weights[16];
  char text[16];

  void Reset() {
    topology = reinterpret_cast<bf_topology*>(uintptr_t{0xBAD0});
    managed = reinterpret_cast<DLManagedTensor*>(uintptr_t{0xBAD8});
    handle = 0xBADBAD;
    count = -777;
    count2 = -778;
    flag = -779;
    value = -7.5;
    needed = 7777;
    for (int& r : ranks) r = -9;
    for (int& r : ranks2) r = -9;
    for (double& w : weights) w = -9.5;
    std::memset(text, 'x', sizeof(text));
  }
  // "" if every field still holds its sentinel, else the first one that changed.
  std::string Changed() const {
    Outs fresh;
    fresh.Reset();
    if (topology != fresh.topology) return "bf_topology** out";
    if (managed != fresh.managed) return "DLManagedTensor** out";
    if (handle != fresh.handle) return "bf_handle* handle";
    if (count != fresh.count || count2 != fresh.count2) return "int* count";
    if (flag != fresh.flag) return "int* flag";
    if (value != fresh.value) return "double* out";
    if (needed != fresh.needed) return "size_t* needed";
    if (std::memcmp(ranks, fresh.ranks, sizeof(ranks)) != 0) return "int* ranks";
    if (std::memcmp(ranks2, fresh.ranks2, sizeof(ranks2)) != 0) return "int* ranks (second)";
    if (std::memcmp(weights, fresh.weights, sizeof(weights)) != 0) return "double* weights";
    if (std::memcmp(text, fresh.text, sizeof(text)) != 0) return "char* buffer";
    return "";
  }
};
Outs out;

// float32[3, 4] tensors the valid arguments of rows point at, filled with a pattern.
struct GoodTensor {
  float data[12];
  int64_t shape[2] = {3, 4};
  DLTensor tensor{};
  float fill;

  explicit GoodTensor(float value) : fill(value) {
    tensor = DLTensor{data, {kDLCPU, 0}, 2, {kDLFloat, 32, 1}, shape, nullptr, 0};
    Reset();
  }
  void Reset() {
    for (int i = 0; i < 12; ++i) data[i] = fill + static_cast<float>(i);
    tensor = DLTensor{data, {kDLCPU, 0}, 2, {kDLFloat, 32, 1}, shape, nullptr, 0};
  }
  bool Intact() const {
    for (int i = 0; i < 12; ++i) {
      if (data[i] != fill + static_cast<float>(i)) return false;
    }
    return tensor.data == data && tensor.ndim == 2 && tensor.shape == shape && shape[0] == 3 &&
           shape[1] == 4;
  }
  DLTensor* get() { return &tensor; }
};

// ----- The catalogue ----------------------------------------------------------------------------

class Catalogue {
 public:
  // rank: this process's rank while initialized (messages must name it), -1 outside.
  void SetPhase(const char* phase, int rank, std::vector<GoodTensor*> watched) {
    phase_ = phase;
    rank_ = rank;
    watched_ = std::move(watched);
  }

  // A function bound to the initialized library: its message names the function, the argument
  // (parts) and, while initialized, this rank.
  void Ranked(const char* function, const std::string& label, bf_status expected,
              std::vector<std::string> parts, const std::function<bf_status()>& call,
              const std::string& known_bug = "") {
    Run(function, label, expected, std::move(parts), call, /*rank_aware=*/true, known_bug);
  }
  // A function that needs no bf_init (topology values, schedules, bf_init itself).
  void Pure(const char* function, const std::string& label, bf_status expected,
            std::vector<std::string> parts, const std::function<bf_status()>& call,
            const std::string& known_bug = "") {
    Run(function, label, expected, std::move(parts), call, /*rank_aware=*/false, known_bug);
  }
  // A function that returns a value rather than a status: probe returns "" or what is wrong.
  void Value(const char* function, const std::string& label,
             const std::function<std::string()>& probe) {
    functions_.insert(function);
    ++rows_;
    out.Reset();
    const std::string wrong = probe();
    if (!wrong.empty()) Fail(function, label, wrong);
  }

  int rows() const { return rows_; }
  int failures() const { return failures_; }
  int known_bugs_seen() const { return known_seen_; }
  const std::set<std::string>& functions() const { return functions_; }
  void Fail(const std::string& function, const std::string& label, const std::string& why) {
    ++failures_;
    std::fprintf(stderr, "[rank %d] FAIL %s | %s | %s: %s\n", rank_, phase_, function.c_str(),
                 label.c_str(), why.c_str());
  }

 private:
  void Run(const char* function, const std::string& label, bf_status expected,
           std::vector<std::string> parts, const std::function<bf_status()>& call, bool rank_aware,
           const std::string& known_bug) {
    functions_.insert(function);
    ++rows_;
    out.Reset();
    if (expected != BF_ERR_NOT_INITIALIZED) parts.insert(parts.begin(), function);
    const bf_status status = call();
    const std::string message = bf_last_error();
    std::string wrong;
    if (status != expected) {
      wrong = std::string("status ") + bf_status_string(status) + ", expected " +
              bf_status_string(expected);
    }
    for (const std::string& part : parts) {
      if (wrong.empty() && message.find(part) == std::string::npos) {
        wrong = "message lacks \"" + part + "\"";
      }
    }
    if (wrong.empty() && rank_aware && rank_ >= 0 && expected != BF_OK &&
        !NamesRank(message, rank_)) {
      wrong = "message does not name rank " + std::to_string(rank_);
    }
    if (wrong.empty()) {
      if (std::string changed = out.Changed(); !changed.empty()) {
        wrong = "out-parameter " + changed + " written on error";
      }
    }
    for (GoodTensor* tensor : watched_) {
      if (wrong.empty() && !tensor->Intact()) wrong = "a tensor was modified by a rejected call";
      tensor->Reset();
    }
    if (!wrong.empty()) wrong += " (message: \"" + message + "\")";
    if (!known_bug.empty()) {
      if (wrong.empty()) {
        Fail(function, label, "marked as known bug '" + known_bug + "' but passes: drop the mark");
      } else {
        ++known_seen_;
        std::fprintf(stderr, "[rank %d] KNOWN BUG %s | %s | %s: %s\n", rank_, phase_, function,
                     label.c_str(), wrong.c_str());
      }
      return;
    }
    if (!wrong.empty()) Fail(function, label, wrong);
  }

  // "rank N" not followed by another digit.
  static bool NamesRank(const std::string& message, int rank) {
    const std::string needle = "rank " + std::to_string(rank);
    for (size_t at = message.find(needle); at != std::string::npos;
         at = message.find(needle, at + 1)) {
      const size_t end = at + needle.size();
      if (end == message.size() || !std::isdigit(static_cast<unsigned char>(message[end]))) {
        return true;
      }
    }
    return false;
  }

  const char* phase_ = "";
  int rank_ = -1;
  std::vector<GoodTensor*> watched_;
  int rows_ = 0;
  int failures_ = 0;
  int known_seen_ = 0;
  std::set<std::string> functions_;
};

Catalogue cat;

// ----- Malformed tensors ------------------------------------------------------------------------

struct BadTensor {
  std::string label;
  DLTensor tensor;
  bf_status expected;
  std::string part;
};

// Storage the malformed tensors point at; lives for the whole program.
struct TensorZoo {
  alignas(16) unsigned char bytes[128] = {};
  double wide[12] = {};
  int64_t shape[2] = {3, 4};
  int64_t transposed[2] = {4, 3};
  int64_t flat[1] = {12};
  int64_t negative[2] = {3, -4};
  int64_t huge[2] = {int64_t{1} << 40, int64_t{1} << 40};
  int64_t max[2] = {INT64_MAX, INT64_MAX};
  int64_t column_major[2] = {1, 3};
  int64_t zero_strides[2] = {0, 0};

  DLTensor Base() { return DLTensor{bytes, {kDLCPU, 0}, 2, {kDLFloat, 32, 1}, shape, nullptr, 0}; }

  // Defects any tensor argument is checked for; each tensor has exactly one.
  std::vector<BadTensor> ForAnyArgument() {
    std::vector<BadTensor> cases;
    auto add = [&](std::string label, bf_status expected, std::string part, auto edit) {
      DLTensor t = Base();
      edit(t);
      cases.push_back({std::move(label), t, expected, std::move(part)});
    };
    const bf_status invalid = BF_ERR_INVALID_ARGUMENT, unsupported = BF_ERR_UNSUPPORTED;
    add("NULL data with 12 elements", invalid, "NULL data", [](DLTensor& t) { t.data = nullptr; });
    add("lanes 2", invalid, "lanes", [](DLTensor& t) { t.dtype.lanes = 2; });
    add("lanes 0", invalid, "lanes", [](DLTensor& t) { t.dtype.lanes = 0; });
    add("complex64 dtype", invalid, "unsupported dtype", [](DLTensor& t) {
      t.dtype = {kDLComplex, 64, 1};
    });
    add("float8 dtype", invalid, "unsupported dtype", [](DLTensor& t) {
      t.dtype = {kDLFloat, 8, 1};
    });
    add("opaque-handle dtype", invalid, "unsupported dtype", [](DLTensor& t) {
      t.dtype = {kDLOpaqueHandle, 64, 1};
    });
    add("ndim -1", invalid, "ndim -1", [](DLTensor& t) { t.ndim = -1; });
    add("ndim 65", invalid, "ndim 65", [](DLTensor& t) { t.ndim = 65; });
    add("ndim INT_MAX", invalid, "ndim 2147483647", [](DLTensor& t) { t.ndim = INT_MAX; });
    add("ndim 2 with NULL shape", invalid, "shape is NULL", [](DLTensor& t) { t.shape = nullptr; });
    add("negative extent", invalid, "negative extent", [&](DLTensor& t) { t.shape = negative; });
    add("2^40 x 2^40 elements", invalid, "overflows", [&](DLTensor& t) { t.shape = huge; });
    add("INT64_MAX x INT64_MAX elements", invalid, "overflows",
        [&](DLTensor& t) { t.shape = max; });
    add("column-major strides", invalid, "not contiguous",
        [&](DLTensor& t) { t.strides = column_major; });
    add("zero strides", invalid, "not contiguous", [&](DLTensor& t) { t.strides = zero_strides; });
    add("byte_offset 2 for float32", invalid, "byte_offset 2",
        [](DLTensor& t) { t.byte_offset = 2; });
    add("data misaligned by 1 byte", invalid, "not aligned",
        [&](DLTensor& t) { t.data = bytes + 1; });
    add("kDLCUDA device", unsupported, "CUDA", [](DLTensor& t) { t.device = {kDLCUDA, 0}; });
    add("kDLVulkan device", unsupported, "device type 7", [](DLTensor& t) {
      t.device = {kDLVulkan, 0};
    });
    return cases;
  }

  // Defects of an output relative to a valid float32[3, 4] input.
  std::vector<BadTensor> ForOutput() {
    std::vector<BadTensor> cases = ForAnyArgument();
    const std::string layout = "same dtype and shape";
    DLTensor t = Base();
    t.shape = transposed;
    cases.push_back({"out float32[4, 3] for in float32[3, 4]", t, BF_ERR_INVALID_ARGUMENT, layout});
    t = Base();
    t.ndim = 1;
    t.shape = flat;
    cases.push_back({"out float32[12] for in float32[3, 4]", t, BF_ERR_INVALID_ARGUMENT, layout});
    t = Base();
    t.data = wide;
    t.dtype = {kDLFloat, 64, 1};
    cases.push_back({"out float64 for in float32", t, BF_ERR_INVALID_ARGUMENT, layout});
    return cases;
  }
};

TensorZoo zoo;

std::string Quoted(const char* argument) { return std::string("'") + argument + "'"; }

// One row per malformed tensor for `argument` of `function`.
void TensorRows(const char* function, const char* argument, const std::vector<BadTensor>& cases,
                const std::function<bf_status(DLTensor*)>& call) {
  cat.Ranked(function, std::string(argument) + " NULL", BF_ERR_INVALID_ARGUMENT,
             {Quoted(argument), "is NULL"}, [&] { return call(nullptr); });
  for (const BadTensor& bad : cases) {
    DLTensor tensor = bad.tensor;
    cat.Ranked(function, std::string(argument) + ": " + bad.label, bad.expected,
               {Quoted(argument), bad.part}, [&] { return call(&tensor); });
  }
}

// ----- Phase 1 and 3: the library is not initialized --------------------------------------------

// Every function bound to the initialized library, called with otherwise valid arguments.
void NotInitializedRows(GoodTensor& in, GoodTensor& result, const bf_topology* topology) {
  const bf_status not_init = BF_ERR_NOT_INITIALIZED;
  const std::vector<std::string> says = {"not been initialized"};
  DLTensor* a = in.get();
  DLTensor* b = result.get();
  const int peers[1] = {0};
  auto row = [&](const char* function, const std::function<bf_status()>& call) {
    cat.Ranked(function, "not initialized", not_init, says, call);
  };
  row("bf_finalize", [] { return bf_finalize(); });
  row("bf_set_topology", [&] { return bf_set_topology(topology, 0); });
  row("bf_get_topology", [] { return bf_get_topology(&out.topology, &out.flag); });
  row("bf_infer_topology", [&] { return bf_infer_topology(peers, 0, 1, &out.topology); });
  row("bf_set_machine_topology", [&] { return bf_set_machine_topology(topology, 0); });
  row("bf_get_machine_topology", [] { return bf_get_machine_topology(&out.topology, &out.flag); });
  row("bf_wait", [] { return bf_wait(1, 0); });
  row("bf_poll", [] { return bf_poll(1, &out.flag); });
  row("bf_handle_free", [] { return bf_handle_free(1); });
  row("bf_allreduce", [&] { return bf_allreduce(a, b, nullptr); });
  row("bf_allreduce_async", [&] { return bf_allreduce_async(a, b, nullptr, &out.handle); });
  row("bf_broadcast", [&] { return bf_broadcast(a, b, 0, nullptr); });
  row("bf_broadcast_async", [&] { return bf_broadcast_async(a, b, 0, nullptr, &out.handle); });
  row("bf_allgather", [&] { return bf_allgather(a, &out.managed, nullptr); });
  row("bf_allgather_async",
      [&] { return bf_allgather_async(a, &out.managed, nullptr, &out.handle); });
  row("bf_barrier", [] { return bf_barrier(); });
  row("bf_barrier_async", [] { return bf_barrier_async(&out.handle); });
  row("bf_neighbor_allreduce", [&] { return bf_neighbor_allreduce(a, b, nullptr); });
  row("bf_neighbor_allreduce_async",
      [&] { return bf_neighbor_allreduce_async(a, b, nullptr, &out.handle); });
  row("bf_hierarchical_neighbor_allreduce",
      [&] { return bf_hierarchical_neighbor_allreduce(a, b, nullptr); });
  row("bf_hierarchical_neighbor_allreduce_async",
      [&] { return bf_hierarchical_neighbor_allreduce_async(a, b, nullptr, &out.handle); });
  row("bf_neighbor_allgather", [&] { return bf_neighbor_allgather(a, &out.managed, nullptr); });
  row("bf_neighbor_allgather_async",
      [&] { return bf_neighbor_allgather_async(a, &out.managed, nullptr, &out.handle); });
  row("bf_pair_gossip", [&] { return bf_pair_gossip(a, b, 1, 0.5, 0.5, nullptr); });
  row("bf_pair_gossip_async",
      [&] { return bf_pair_gossip_async(a, b, 1, 0.5, 0.5, nullptr, &out.handle); });
  row("bf_win_create", [&] { return bf_win_create(a, "bad.win", 0); });
  row("bf_win_free", [] { return bf_win_free("bad.win"); });
  row("bf_win_free", [] { return bf_win_free(nullptr); });
  row("bf_win_names", [] { return bf_win_names(out.text, sizeof(out.text), &out.needed); });
  row("bf_win_put", [&] { return bf_win_put(a, "bad.win", nullptr); });
  row("bf_win_put_async", [&] { return bf_win_put_async(a, "bad.win", nullptr, &out.handle); });
  row("bf_win_accumulate", [&] { return bf_win_accumulate(a, "bad.win", nullptr); });
  row("bf_win_accumulate_async",
      [&] { return bf_win_accumulate_async(a, "bad.win", nullptr, &out.handle); });
  row("bf_win_get", [] { return bf_win_get("bad.win", nullptr); });
  row("bf_win_get_async", [] { return bf_win_get_async("bad.win", nullptr, &out.handle); });
  row("bf_win_update", [&] { return bf_win_update("bad.win", nullptr, b); });
  row("bf_win_update_then_collect", [] { return bf_win_update_then_collect("bad.win", 0); });
  row("bf_win_mutex_acquire", [] { return bf_win_mutex_acquire("bad.win", nullptr, 0, 0); });
  row("bf_win_mutex_release", [] { return bf_win_mutex_release("bad.win", nullptr, 0, 0); });
  row("bf_win_versions",
      [] { return bf_win_versions("bad.win", out.ranks, out.ranks2, 8, &out.count); });
  row("bf_win_associated_p", [] { return bf_win_associated_p("bad.win", &out.value); });
  row("bf_set_win_associated_p", [] { return bf_set_win_associated_p(1); });
  row("bf_get_win_associated_p", [] { return bf_get_win_associated_p(&out.flag); });
  row("bf_timeline_start_activity", [] { return bf_timeline_start_activity("n", "a"); });
  row("bf_timeline_end_activity", [] { return bf_timeline_end_activity("n"); });
  row("bf_win_lock", [] { return bf_win_lock("bad.win"); });
  row("bf_win_unlock", [] { return bf_win_unlock("bad.win"); });
  row("bf_win_is_locked", [] { return bf_win_is_locked("bad.win", &out.flag); });
  row("bf_suspend", [] { return bf_suspend(); });
  row("bf_resume", [] { return bf_resume(); });
  row("bf_set_matching_mode", [] { return bf_set_matching_mode(BF_MATCHING_ORDERED); });

  auto expect_int = [](const char* function, int (*query)(void), int expected) {
    cat.Value(function, "not initialized", [=]() -> std::string {
      const int got = query();
      if (got == expected) return "";
      return "returned " + std::to_string(got) + ", expected " + std::to_string(expected);
    });
  };
  expect_int("bf_initialized", bf_initialized, 0);
  expect_int("bf_matching_mode_in_effect", bf_matching_mode_in_effect, -1);
  expect_int("bf_rank", bf_rank, -1);
  expect_int("bf_size", bf_size, -1);
  expect_int("bf_local_rank", bf_local_rank, -1);
  expect_int("bf_local_size", bf_local_size, -1);
  expect_int("bf_machine_rank", bf_machine_rank, -1);
  expect_int("bf_machine_size", bf_machine_size, -1);
  expect_int("bf_is_homogeneous", bf_is_homogeneous, -1);
  expect_int("bf_mpi_threads_supported", bf_mpi_threads_supported, -1);
  expect_int("bf_unified_mpi_window_model_supported", bf_unified_mpi_window_model_supported, -1);
  expect_int("bf_suspended", bf_suspended, -1);
}

// bf_init's own argument struct: rejected before anything starts, whatever the state.
void InitOptionRows(bool with_null_comm) {
  const bf_status invalid = BF_ERR_INVALID_ARGUMENT;
  auto with = [](auto edit) {
    return [edit] {
      bf_init_options options = BF_INIT_OPTIONS_INIT;
      edit(options);
      return bf_init(&options);
    };
  };
  cat.Pure("bf_init", "struct_size 0", invalid, {"options->struct_size is 0"},
           with([](bf_init_options& o) { o.struct_size = 0; }));
  cat.Pure("bf_init", "struct_size 3", invalid, {"options->struct_size is 3"},
           with([](bf_init_options& o) { o.struct_size = 3; }));
  cat.Pure("bf_init", "nodes_per_machine -1", invalid, {"options->nodes_per_machine"},
           with([](bf_init_options& o) { o.nodes_per_machine = -1; }));
  cat.Pure("bf_init", "matching_mode 99", invalid, {"options->matching_mode 99"},
           with([](bf_init_options& o) { o.matching_mode = RawEnum<bf_matching_mode>(99); }));
  cat.Pure("bf_init", "matching_mode -1", invalid, {"options->matching_mode -1"},
           with([](bf_init_options& o) { o.matching_mode = RawEnum<bf_matching_mode>(-1); }));
  cat.Pure("bf_init", "stall_warning_s NaN", invalid, {"options->stall_warning_s"},
           with([](bf_init_options& o) { o.stall_warning_s = kNaN; }));
  cat.Pure("bf_init", "cycle_time_ms +Inf", invalid, {"options->cycle_time_ms"},
           with([](bf_init_options& o) { o.cycle_time_ms = kInf; }));
  if (with_null_comm) {
    static const MPI_Comm null_comm = MPI_COMM_NULL;
    cat.Pure("bf_init", "mpi_comm points at MPI_COMM_NULL", invalid, {"options->mpi_comm"},
             with([](bf_init_options& o) { o.mpi_comm = &null_comm; }));
  }
}

// Functions that need no bf_init: status names, the version, topologies and schedules.
void PureRows() {
  const bf_status invalid = BF_ERR_INVALID_ARGUMENT;
  cat.Value("bf_get_version", "always BF_VERSION",
            []() -> std::string { return bf_get_version() == BF_VERSION ? "" : "not BF_VERSION"; });
  // GPU queries need no bf_init and take no arguments; the stream is only used (and a bad one
  // reported by CUDA) when a GPU tensor is passed.
  cat.Value("bf_cuda_device_count", "never negative", []() -> std::string {
    return bf_cuda_device_count() >= 0 ? "" : "negative";
  });
  cat.Value("bf_nccl_built", "0 or 1", []() -> std::string {
    const int built = bf_nccl_built();
    return built == 0 || built == 1 ? "" : "returned " + std::to_string(built);
  });
  cat.Value("bf_set_cuda_stream", "any stream, before a GPU tensor uses it", []() -> std::string {
    if (bf_set_cuda_stream(reinterpret_cast<void*>(0x1234)) != BF_OK) return bf_last_error();
    return bf_set_cuda_stream(nullptr) == BF_OK ? "" : bf_last_error();
  });
  for (int code : {-1, 12, 999, INT_MAX}) {
    cat.Value("bf_status_string", "unknown status " + std::to_string(code),
              [code]() -> std::string {
                const char* name = bf_status_string(RawEnum<bf_status>(code));
                return name != nullptr && *name != '\0' ? "" : "NULL or empty name";
              });
  }
  cat.Value("bf_last_error", "empty after a successful call", []() -> std::string {
    bf_topology* t = nullptr;
    (void)bf_topology_exponential_two(0, &t);  // fails: sets a message
    if (bf_topology_exponential_two(2, &t) != BF_OK) return "setup failed";
    bf_topology_free(t);
    const char* message = bf_last_error();
    return message != nullptr && *message == '\0' ? "" : "not \"\" after success";
  });
  cat.Value("bf_topology_free", "NULL is a no-op", []() -> std::string {
    bf_topology_free(nullptr);
    return "";
  });
  cat.Value("bf_topology_size", "NULL gives -1",
            []() -> std::string { return bf_topology_size(nullptr) == -1 ? "" : "not -1"; });

  bf_topology** to = &out.topology;
  // Generators: sizes, bases, styles, centers, shapes, NULL out.
  cat.Pure("bf_topology_exponential", "size 0", invalid, {"size 0"},
           [&] { return bf_topology_exponential(0, 2, to); });
  cat.Pure("bf_topology_exponential", "size -1", invalid, {"size -1"},
           [&] { return bf_topology_exponential(-1, 2, to); });
  cat.Pure("bf_topology_exponential", "size 70000 beyond the maximum", invalid, {"size 70000"},
           [&] { return bf_topology_exponential(70000, 2, to); });
  cat.Pure("bf_topology_exponential", "base 1", invalid, {"base 1"},
           [&] { return bf_topology_exponential(4, 1, to); });
  cat.Pure("bf_topology_exponential", "base -3", invalid, {"base -3"},
           [&] { return bf_topology_exponential(4, -3, to); });
  cat.Pure("bf_topology_exponential", "out NULL", invalid, {"out is NULL"},
           [&] { return bf_topology_exponential(4, 2, nullptr); });
  cat.Pure("bf_topology_exponential_two", "size 0", invalid, {"size 0"},
           [&] { return bf_topology_exponential_two(0, to); });
  cat.Pure("bf_topology_exponential_two", "out NULL", invalid, {"out is NULL"},
           [&] { return bf_topology_exponential_two(4, nullptr); });
  cat.Pure("bf_topology_symmetric_exponential", "size 0", invalid, {"size 0"},
           [&] { return bf_topology_symmetric_exponential(0, 2, to); });
  cat.Pure("bf_topology_symmetric_exponential", "base 1", invalid, {"base 1"},
           [&] { return bf_topology_symmetric_exponential(4, 1, to); });
  cat.Pure("bf_topology_symmetric_exponential", "out NULL", invalid, {"out is NULL"},
           [&] { return bf_topology_symmetric_exponential(4, 2, nullptr); });
  cat.Pure("bf_topology_ring", "size 0", invalid, {"size 0"},
           [&] { return bf_topology_ring(0, BF_RING_LEFT, to); });
  cat.Pure("bf_topology_ring", "style 7", invalid, {"style 7"},
           [&] { return bf_topology_ring(4, RawEnum<bf_ring_style>(7), to); });
  cat.Pure("bf_topology_ring", "style -1", invalid, {"style -1"},
           [&] { return bf_topology_ring(4, RawEnum<bf_ring_style>(-1), to); });
  cat.Pure("bf_topology_ring", "out NULL", invalid, {"out is NULL"},
           [&] { return bf_topology_ring(4, BF_RING_LEFT, nullptr); });
  cat.Pure("bf_topology_star", "size 0", invalid, {"size 0"},
           [&] { return bf_topology_star(0, 0, to); });
  cat.Pure("bf_topology_star", "center_rank -1", invalid, {"center_rank -1"},
           [&] { return bf_topology_star(4, -1, to); });
  cat.Pure("bf_topology_star", "center_rank 4 for size 4", invalid, {"center_rank 4"},
           [&] { return bf_topology_star(4, 4, to); });
  cat.Pure("bf_topology_star", "out NULL", invalid, {"out is NULL"},
           [&] { return bf_topology_star(4, 0, nullptr); });
  cat.Pure("bf_topology_mesh_grid_2d", "size 0", invalid, {"size 0"},
           [&] { return bf_topology_mesh_grid_2d(0, 0, 0, to); });
  cat.Pure("bf_topology_mesh_grid_2d", "3 x 3 for size 8", invalid, {"nrows 3 x ncols 3"},
           [&] { return bf_topology_mesh_grid_2d(8, 3, 3, to); });
  cat.Pure("bf_topology_mesh_grid_2d", "-2 x -4 for size 8", invalid, {"nrows -2"},
           [&] { return bf_topology_mesh_grid_2d(8, -2, -4, to); });
  cat.Pure("bf_topology_mesh_grid_2d", "8 x 0 for size 8", invalid, {"ncols 0"},
           [&] { return bf_topology_mesh_grid_2d(8, 8, 0, to); });
  cat.Pure("bf_topology_mesh_grid_2d", "out NULL", invalid, {"out is NULL"},
           [&] { return bf_topology_mesh_grid_2d(4, 0, 0, nullptr); });
  cat.Pure("bf_topology_fully_connected", "size 0", invalid, {"size 0"},
           [&] { return bf_topology_fully_connected(0, to); });
  cat.Pure("bf_topology_fully_connected", "out NULL", invalid, {"out is NULL"},
           [&] { return bf_topology_fully_connected(4, nullptr); });

  // Custom graphs: NULL arrays, sizes, non-finite weights, out-of-range and duplicate edges.
  static const double good2[4] = {0.5, 0.5, 0.5, 0.5};
  static const double nan2[4] = {0.5, kNaN, 0.5, 0.5};
  static const double inf2[4] = {0.5, 0.5, -kInf, 0.5};
  cat.Pure("bf_topology_from_matrix", "weights NULL", invalid, {"weights is NULL"},
           [&] { return bf_topology_from_matrix(2, nullptr, to); });
  cat.Pure("bf_topology_from_matrix", "size 0", invalid, {"size 0"},
           [&] { return bf_topology_from_matrix(0, good2, to); });
  cat.Pure("bf_topology_from_matrix", "size 70000 (never read)", invalid, {"size 70000"},
           [&] { return bf_topology_from_matrix(70000, good2, to); });
  cat.Pure("bf_topology_from_matrix", "NaN weight", invalid, {"weights[0][1]", "nan"},
           [&] { return bf_topology_from_matrix(2, nan2, to); });
  cat.Pure("bf_topology_from_matrix", "-Inf weight", invalid, {"weights[1][0]", "inf"},
           [&] { return bf_topology_from_matrix(2, inf2, to); });
  cat.Pure("bf_topology_from_matrix", "out NULL", invalid, {"out is NULL"},
           [&] { return bf_topology_from_matrix(2, good2, nullptr); });
  static const int src[2] = {0, 1}, dst[2] = {1, 0}, far[2] = {0, 5}, negative[2] = {-1, 0};
  static const int same_src[2] = {0, 0}, same_dst[2] = {1, 1};
  static const double edge_nan[2] = {1.0, kNaN}, edge_inf[2] = {kInf, 1.0};
  cat.Pure("bf_topology_from_edges", "num_edges -1", invalid, {"num_edges -1"},
           [&] { return bf_topology_from_edges(2, -1, src, dst, nullptr, to); });
  cat.Pure("bf_topology_from_edges", "src NULL", invalid, {"src is NULL"},
           [&] { return bf_topology_from_edges(2, 2, nullptr, dst, nullptr, to); });
  cat.Pure("bf_topology_from_edges", "dst NULL", invalid, {"dst is NULL"},
           [&] { return bf_topology_from_edges(2, 2, src, nullptr, nullptr, to); });
  cat.Pure("bf_topology_from_edges", "size 0", invalid, {"size 0"},
           [&] { return bf_topology_from_edges(0, 2, src, dst, nullptr, to); });
  cat.Pure("bf_topology_from_edges", "dst rank 5 for size 2", invalid, {"dst[1] is 5"},
           [&] { return bf_topology_from_edges(2, 2, src, far, nullptr, to); });
  cat.Pure("bf_topology_from_edges", "src rank -1", invalid, {"src[0] is -1"},
           [&] { return bf_topology_from_edges(2, 2, negative, dst, nullptr, to); });
  cat.Pure("bf_topology_from_edges", "duplicate edge 0->1", invalid, {"edge 0->1"},
           [&] { return bf_topology_from_edges(2, 2, same_src, same_dst, nullptr, to); });
  cat.Pure("bf_topology_from_edges", "NaN weight", invalid, {"weights[1]", "nan"},
           [&] { return bf_topology_from_edges(2, 2, src, dst, edge_nan, to); });
  cat.Pure("bf_topology_from_edges", "+Inf weight", invalid, {"weights[0]", "inf"},
           [&] { return bf_topology_from_edges(2, 2, src, dst, edge_inf, to); });
  cat.Pure("bf_topology_from_edges", "out NULL", invalid, {"out is NULL"},
           [&] { return bf_topology_from_edges(2, 2, src, dst, nullptr, nullptr); });

  bf_topology* exp4 = nullptr;
  bf_topology* unnormalized = nullptr;
  static const double ones[4] = {1.0, 1.0, 1.0, 1.0};
  if (bf_topology_exponential(4, 2, &exp4) != BF_OK ||
      bf_topology_from_matrix(2, ones, &unnormalized) != BF_OK) {
    cat.Fail("setup", "valid topologies", bf_last_error());
    return;
  }
  cat.Pure("bf_topology_copy", "topology NULL", invalid, {"topology is NULL"},
           [&] { return bf_topology_copy(nullptr, to); });
  cat.Pure("bf_topology_copy", "out NULL", invalid, {"out is NULL"},
           [&] { return bf_topology_copy(exp4, nullptr); });
  cat.Pure("bf_topology_weight", "topology NULL", invalid, {"topology is NULL"},
           [&] { return bf_topology_weight(nullptr, 0, 1, &out.value); });
  cat.Pure("bf_topology_weight", "weight NULL", invalid, {"weight is NULL"},
           [&] { return bf_topology_weight(exp4, 0, 1, nullptr); });
  cat.Pure("bf_topology_weight", "from -1", invalid, {"from -1"},
           [&] { return bf_topology_weight(exp4, -1, 1, &out.value); });
  cat.Pure("bf_topology_weight", "to 4 for size 4", invalid, {"to 4"},
           [&] { return bf_topology_weight(exp4, 0, 4, &out.value); });
  cat.Pure("bf_topology_to_matrix", "topology NULL", invalid, {"topology is NULL"},
           [&] { return bf_topology_to_matrix(nullptr, out.weights); });
  cat.Pure("bf_topology_to_matrix", "matrix NULL", invalid, {"matrix is NULL"},
           [&] { return bf_topology_to_matrix(exp4, nullptr); });
  using NeighborQuery = bf_status (*)(const bf_topology*, int, int*, double*, int, int*);
  const std::pair<const char*, NeighborQuery> queries[] = {
      {"bf_topology_in_neighbors", bf_topology_in_neighbors},
      {"bf_topology_out_neighbors", bf_topology_out_neighbors}};
  for (const auto& [name, query] : queries) {
    cat.Pure(name, "topology NULL", invalid, {"topology is NULL"},
             [&] { return query(nullptr, 0, out.ranks, out.weights, 8, &out.count); });
    cat.Pure(name, "count NULL", invalid, {"count is NULL"},
             [&] { return query(exp4, 0, out.ranks, out.weights, 8, nullptr); });
    cat.Pure(name, "rank -1", invalid, {"rank -1"},
             [&] { return query(exp4, -1, out.ranks, out.weights, 8, &out.count); });
    cat.Pure(name, "rank 4 for size 4", invalid, {"rank 4"},
             [&] { return query(exp4, 4, out.ranks, out.weights, 8, &out.count); });
    cat.Pure(name, "capacity -1", invalid, {"capacity -1"},
             [&] { return query(exp4, 0, out.ranks, out.weights, -1, &out.count); });
    cat.Pure(name, "capacity 1 for 2 neighbors", invalid, {"capacity 1 is too small"},
             [&] { return query(exp4, 0, out.ranks, out.weights, 1, &out.count); });
  }
  cat.Pure("bf_topology_spectral_gap", "topology NULL", invalid, {"topology is NULL"},
           [&] { return bf_topology_spectral_gap(nullptr, &out.value); });
  cat.Pure("bf_topology_spectral_gap", "rho NULL", invalid, {"rho is NULL"},
           [&] { return bf_topology_spectral_gap(exp4, nullptr); });
  cat.Pure("bf_topology_spectral_gap", "rows and columns summing to 2", invalid, {"stochastic"},
           [&] { return bf_topology_spectral_gap(unnormalized, &out.value); });

  // Schedules: NULL outputs, capacities, ranks, steps, layouts.
  int* s = out.ranks;
  int* r = out.ranks2;
  int* sc = &out.count;
  int* rc = &out.count2;
  const char* one_peer = "bf_schedule_one_peer";
  cat.Pure(one_peer, "topology NULL", invalid, {"topology is NULL"},
           [&] { return bf_schedule_one_peer(nullptr, 0, 0, s, sc, r, rc, 8); });
  cat.Pure(one_peer, "send_ranks NULL", invalid, {"send_ranks is NULL"},
           [&] { return bf_schedule_one_peer(exp4, 0, 0, nullptr, sc, r, rc, 8); });
  cat.Pure(one_peer, "send_count NULL", invalid, {"send_count is NULL"},
           [&] { return bf_schedule_one_peer(exp4, 0, 0, s, nullptr, r, rc, 8); });
  cat.Pure(one_peer, "recv_ranks NULL", invalid, {"recv_ranks is NULL"},
           [&] { return bf_schedule_one_peer(exp4, 0, 0, s, sc, nullptr, rc, 8); });
  cat.Pure(one_peer, "recv_count NULL", invalid, {"recv_count is NULL"},
           [&] { return bf_schedule_one_peer(exp4, 0, 0, s, sc, r, nullptr, 8); });
  cat.Pure(one_peer, "capacity -1", invalid, {"capacity -1"},
           [&] { return bf_schedule_one_peer(exp4, 0, 0, s, sc, r, rc, -1); });
  cat.Pure(one_peer, "capacity 0", invalid, {"capacity 0 is too small"},
           [&] { return bf_schedule_one_peer(exp4, 0, 0, s, sc, r, rc, 0); });
  cat.Pure(one_peer, "rank 4 for size 4", invalid, {"rank 4"},
           [&] { return bf_schedule_one_peer(exp4, 4, 0, s, sc, r, rc, 8); });
  cat.Pure(one_peer, "rank -1", invalid, {"rank -1"},
           [&] { return bf_schedule_one_peer(exp4, -1, 0, s, sc, r, rc, 8); });
  cat.Pure(one_peer, "step -1", invalid, {"step -1"},
           [&] { return bf_schedule_one_peer(exp4, 0, -1, s, sc, r, rc, 8); });
  using MachineSchedule = bf_status (*)(int, int, int, int64_t, int*, int*, int*, int*, int);
  struct MachineCase {
    const char* name;
    MachineSchedule schedule;
    const char* send;
    const char* recv;
  };
  const MachineCase machine_schedules[] = {
      {"bf_schedule_exp2_machine", bf_schedule_exp2_machine, "send_machines", "recv_machines"},
      {"bf_schedule_inner_outer_ring", bf_schedule_inner_outer_ring, "send_ranks", "recv_ranks"},
      {"bf_schedule_inner_outer_exp2", bf_schedule_inner_outer_exp2, "send_ranks", "recv_ranks"}};
  for (const MachineCase& m : machine_schedules) {
    auto f = m.schedule;
    // 12 ranks as 3 machines of 4: valid for all three schedules.
    cat.Pure(m.name, "world_size 0", invalid, {"world_size 0"},
             [&] { return f(0, 4, 0, 0, s, sc, r, rc, 16); });
    cat.Pure(m.name, "local_size 0", invalid, {"local_size 0"},
             [&] { return f(12, 0, 0, 0, s, sc, r, rc, 16); });
    cat.Pure(m.name, "local_size 5 does not divide 12", invalid, {"world_size 12"},
             [&] { return f(12, 5, 0, 0, s, sc, r, rc, 16); });
    cat.Pure(m.name, "rank 12 of 12", invalid, {"rank 12"},
             [&] { return f(12, 4, 12, 0, s, sc, r, rc, 16); });
    cat.Pure(m.name, "rank -1", invalid, {"rank -1"},
             [&] { return f(12, 4, -1, 0, s, sc, r, rc, 16); });
    cat.Pure(m.name, "step -1", invalid, {"step -1"},
             [&] { return f(12, 4, 0, -1, s, sc, r, rc, 16); });
    cat.Pure(m.name, std::string(m.send) + " NULL", invalid, {std::string(m.send) + " is NULL"},
             [&] { return f(12, 4, 0, 0, nullptr, sc, r, rc, 16); });
    cat.Pure(m.name, "send_count NULL", invalid, {"send_count is NULL"},
             [&] { return f(12, 4, 0, 0, s, nullptr, r, rc, 16); });
    cat.Pure(m.name, std::string(m.recv) + " NULL", invalid, {std::string(m.recv) + " is NULL"},
             [&] { return f(12, 4, 0, 0, s, sc, nullptr, rc, 16); });
    cat.Pure(m.name, "recv_count NULL", invalid, {"recv_count is NULL"},
             [&] { return f(12, 4, 0, 0, s, sc, r, nullptr, 16); });
    cat.Pure(m.name, "capacity -1", invalid, {"capacity -1"},
             [&] { return f(12, 4, 0, 0, s, sc, r, rc, -1); });
    cat.Pure(m.name, "capacity 0", invalid, {"capacity 0 is too small"},
             [&] { return f(12, 4, 0, 0, s, sc, r, rc, 0); });
  }
  cat.Pure("bf_schedule_inner_outer_ring", "local_size 2", invalid, {"local_size 2"},
           [&] { return bf_schedule_inner_outer_ring(8, 2, 0, 0, s, sc, r, rc, 16); });
  cat.Pure("bf_schedule_inner_outer_exp2", "local_size 2", invalid, {"local_size 2"},
           [&] { return bf_schedule_inner_outer_exp2(8, 2, 0, 0, s, sc, r, rc, 16); });
  cat.Pure("bf_schedule_inner_outer_exp2", "a single machine", invalid, {"single machine"},
           [&] { return bf_schedule_inner_outer_exp2(4, 4, 0, 0, s, sc, r, rc, 16); });
  bf_topology_free(exp4);
  bf_topology_free(unnormalized);
}

// ----- Phase 2: initialized ---------------------------------------------------------------------

struct World {
  int rank;
  int size;
  int machine_rank;
  int machine_size;
  // The process topology of phase 2: ring to the right (i sends to i+1) from 3 ranks on, so
  // that some ranks are neither neighbor; below that, the default exponential-2 graph.
  bool ring;
  int out_neighbor() const { return (rank + 1) % size; }  // an out-neighbor when size > 1
  int in_neighbor() const { return (rank + size - 1) % size; }
  // A rank (maybe out of range) that is neither this rank nor an out- / in-neighbor.
  int not_out_neighbor() const { return ring ? (rank + 2) % size : size; }
  int not_in_neighbor() const { return ring ? (rank + 1) % size : size; }
};

// Oversized argument structs whose unknown trailing field is set (a newer caller's field).
template <typename Args>
struct Oversized {
  Args args;
  uint64_t future_field;
};
template <typename Args>
Oversized<Args> MakeOversized() {
  Oversized<Args> big{};
  big.args.struct_size = sizeof(big);
  big.future_field = 1;
  return big;
}

// Argument structs with a bad struct_size, as (label, pointer, expected, part).
template <typename Args>
struct SizeCase {
  std::string label;
  const Args* args;
  bf_status expected;
};
// ReadArgs runs before the context is looked up, so these messages lack the rank.
template <typename Args>
std::vector<SizeCase<Args>> StructSizeCases() {
  static Args zero{};
  static Args four{};
  four.struct_size = 4;
  static Oversized<Args> big = MakeOversized<Args>();
  return {{"args->struct_size 0", &zero, BF_ERR_INVALID_ARGUMENT},
          {"args->struct_size 4", &four, BF_ERR_INVALID_ARGUMENT},
          {"args->struct_size larger, unknown field set", &big.args, BF_ERR_UNSUPPORTED}};
}

void OpTensorRows(GoodTensor& in, GoodTensor& result) {
  const auto any = zoo.ForAnyArgument();
  const auto outputs = zoo.ForOutput();
  DLTensor* a = in.get();
  DLTensor* b = result.get();
  bf_handle* h = &out.handle;
  DLManagedTensor** g = &out.managed;
  const int peer = (bf_rank() + 1) % bf_size();
  using Call = std::function<bf_status(DLTensor*)>;
  struct InOut {
    const char* function;
    Call with_in;
    Call with_out;                                  // empty: `out` is not a DLTensor
    std::function<bf_status()> null_out = nullptr;  // a NULL DLManagedTensor** out
  };
  const std::vector<InOut> ops = {
      {"bf_allreduce", [&](DLTensor* t) { return bf_allreduce(t, b, nullptr); },
       [&](DLTensor* t) { return bf_allreduce(a, t, nullptr); }},
      {"bf_allreduce_async", [&](DLTensor* t) { return bf_allreduce_async(t, b, nullptr, h); },
       [&](DLTensor* t) { return bf_allreduce_async(a, t, nullptr, h); }},
      {"bf_broadcast", [&](DLTensor* t) { return bf_broadcast(t, b, 0, nullptr); },
       [&](DLTensor* t) { return bf_broadcast(a, t, 0, nullptr); }},
      {"bf_broadcast_async", [&](DLTensor* t) { return bf_broadcast_async(t, b, 0, nullptr, h); },
       [&](DLTensor* t) { return bf_broadcast_async(a, t, 0, nullptr, h); }},
      {"bf_allgather", [&](DLTensor* t) { return bf_allgather(t, g, nullptr); }, nullptr,
       [&] { return bf_allgather(a, nullptr, nullptr); }},
      {"bf_allgather_async", [&](DLTensor* t) { return bf_allgather_async(t, g, nullptr, h); },
       nullptr, [&] { return bf_allgather_async(a, nullptr, nullptr, h); }},
      {"bf_neighbor_allreduce", [&](DLTensor* t) { return bf_neighbor_allreduce(t, b, nullptr); },
       [&](DLTensor* t) { return bf_neighbor_allreduce(a, t, nullptr); }},
      {"bf_neighbor_allreduce_async",
       [&](DLTensor* t) { return bf_neighbor_allreduce_async(t, b, nullptr, h); },
       [&](DLTensor* t) { return bf_neighbor_allreduce_async(a, t, nullptr, h); }},
      {"bf_hierarchical_neighbor_allreduce",
       [&](DLTensor* t) { return bf_hierarchical_neighbor_allreduce(t, b, nullptr); },
       [&](DLTensor* t) { return bf_hierarchical_neighbor_allreduce(a, t, nullptr); }},
      {"bf_hierarchical_neighbor_allreduce_async",
       [&](DLTensor* t) { return bf_hierarchical_neighbor_allreduce_async(t, b, nullptr, h); },
       [&](DLTensor* t) { return bf_hierarchical_neighbor_allreduce_async(a, t, nullptr, h); }},
      {"bf_neighbor_allgather", [&](DLTensor* t) { return bf_neighbor_allgather(t, g, nullptr); },
       nullptr, [&] { return bf_neighbor_allgather(a, nullptr, nullptr); }},
      {"bf_neighbor_allgather_async",
       [&](DLTensor* t) { return bf_neighbor_allgather_async(t, g, nullptr, h); }, nullptr,
       [&] { return bf_neighbor_allgather_async(a, nullptr, nullptr, h); }},
      {"bf_pair_gossip", [&](DLTensor* t) { return bf_pair_gossip(t, b, peer, 0.5, 0.5, nullptr); },
       [&](DLTensor* t) { return bf_pair_gossip(a, t, peer, 0.5, 0.5, nullptr); }},
      {"bf_pair_gossip_async",
       [&](DLTensor* t) { return bf_pair_gossip_async(t, b, peer, 0.5, 0.5, nullptr, h); },
       [&](DLTensor* t) { return bf_pair_gossip_async(a, t, peer, 0.5, 0.5, nullptr, h); }},
  };
  for (const InOut& op : ops) {
    TensorRows(op.function, "in", any, op.with_in);
    if (op.with_out) {
      TensorRows(op.function, "out", outputs, op.with_out);
    } else {
      cat.Ranked(op.function, "out NULL", BF_ERR_INVALID_ARGUMENT, {"'out'", "is NULL"},
                 op.null_out);
    }
  }
}

void OpArgumentRows(GoodTensor& in, GoodTensor& result, const World& w) {
  const bf_status invalid = BF_ERR_INVALID_ARGUMENT;
  DLTensor* a = in.get();
  DLTensor* b = result.get();
  bf_handle* h = &out.handle;
  DLManagedTensor** g = &out.managed;
  const std::string me = std::to_string(w.rank);

  // NULL handles of every async form (checked before anything is posted).
  const std::vector<std::pair<const char*, std::function<bf_status()>>> null_handles = {
      {"bf_allreduce_async", [&] { return bf_allreduce_async(a, b, nullptr, nullptr); }},
      {"bf_broadcast_async", [&] { return bf_broadcast_async(a, b, 0, nullptr, nullptr); }},
      {"bf_allgather_async", [&] { return bf_allgather_async(a, g, nullptr, nullptr); }},
      {"bf_barrier_async", [&] { return bf_barrier_async(nullptr); }},
      {"bf_neighbor_allreduce_async",
       [&] { return bf_neighbor_allreduce_async(a, b, nullptr, nullptr); }},
      {"bf_hierarchical_neighbor_allreduce_async",
       [&] { return bf_hierarchical_neighbor_allreduce_async(a, b, nullptr, nullptr); }},
      {"bf_neighbor_allgather_async",
       [&] { return bf_neighbor_allgather_async(a, g, nullptr, nullptr); }},
      {"bf_pair_gossip_async",
       [&] { return bf_pair_gossip_async(a, b, w.out_neighbor(), 0.5, 0.5, nullptr, nullptr); }},
  };
  for (const auto& [function, call] : null_handles) {
    cat.Ranked(function, "handle NULL", invalid, {"'handle' is NULL"}, call);
  }

  // bf_allreduce_args.
  for (const auto& c : StructSizeCases<bf_allreduce_args>()) {
    cat.Ranked(
        "bf_allreduce", c.label, c.expected, {"struct_size"},
        [&] { return bf_allreduce(a, b, c.args); });
    cat.Ranked(
        "bf_allreduce_async", c.label, c.expected, {"struct_size"},
        [&] { return bf_allreduce_async(a, b, c.args, h); });
  }
  for (int op : {7, -1}) {
    const bf_allreduce_args bad{sizeof(bf_allreduce_args), nullptr, RawEnum<bf_reduce_op>(op), 0};
    cat.Ranked("bf_allreduce", "args->op " + std::to_string(op), invalid,
               {"args->op is " + std::to_string(op)}, [&] { return bf_allreduce(a, b, &bad); });
    cat.Ranked("bf_allreduce_async", "args->op " + std::to_string(op), invalid,
               {"args->op is " + std::to_string(op)},
               [&] { return bf_allreduce_async(a, b, &bad, h); });
  }
  int32_t ints[12] = {};
  DLTensor integer = *a;
  integer.data = ints;
  integer.dtype = {kDLInt, 32, 1};
  cat.Ranked("bf_allreduce", "average of int32", invalid, {"'in'", "BF_REDUCE_SUM"},
             [&] { return bf_allreduce(&integer, &integer, nullptr); });

  // bf_op_args of broadcast, allgather and pair gossip; roots and peers.
  for (const auto& c : StructSizeCases<bf_op_args>()) {
    cat.Ranked(
        "bf_broadcast", c.label, c.expected, {"struct_size"},
        [&] { return bf_broadcast(a, b, 0, c.args); });
    cat.Ranked(
        "bf_broadcast_async", c.label, c.expected, {"struct_size"},
        [&] { return bf_broadcast_async(a, b, 0, c.args, h); });
    cat.Ranked(
        "bf_allgather", c.label, c.expected, {"struct_size"},
        [&] { return bf_allgather(a, g, c.args); });
    cat.Ranked(
        "bf_allgather_async", c.label, c.expected, {"struct_size"},
        [&] { return bf_allgather_async(a, g, c.args, h); });
    cat.Ranked(
        "bf_pair_gossip", c.label, c.expected, {"struct_size"},
        [&] { return bf_pair_gossip(a, b, w.out_neighbor(), 0.5, 0.5, c.args); });
    cat.Ranked(
        "bf_pair_gossip_async", c.label, c.expected, {"struct_size"},
        [&] { return bf_pair_gossip_async(a, b, w.out_neighbor(), 0.5, 0.5, c.args, h); });
  }
  for (int root : {-1, w.size, INT_MAX}) {
    const std::string label = "root_rank " + std::to_string(root);
    cat.Ranked("bf_broadcast", label, invalid, {label, "out of range"},
               [&] { return bf_broadcast(a, b, root, nullptr); });
    cat.Ranked("bf_broadcast_async", label, invalid, {label, "out of range"},
               [&] { return bf_broadcast_async(a, b, root, nullptr, h); });
  }
  DLTensor scalar = *a;
  scalar.ndim = 0;
  cat.Ranked("bf_allgather", "rank-0 in", invalid, {"'in'", "ndim >= 1"},
             [&] { return bf_allgather(&scalar, g, nullptr); });
  cat.Ranked("bf_neighbor_allgather", "rank-0 in", invalid, {"'in'", "ndim >= 1"},
             [&] { return bf_neighbor_allgather(&scalar, g, nullptr); });
  cat.Ranked("bf_neighbor_allreduce", "int32 in", invalid, {"'in'", "floating dtype"},
             [&] { return bf_neighbor_allreduce(&integer, &integer, nullptr); });
  cat.Ranked("bf_hierarchical_neighbor_allreduce", "int32 in", invalid, {"'in'", "floating dtype"},
             [&] { return bf_hierarchical_neighbor_allreduce(&integer, &integer, nullptr); });
  cat.Ranked("bf_pair_gossip", "int32 in", invalid, {"'in'", "floating dtype"}, [&] {
    return bf_pair_gossip(&integer, &integer, w.out_neighbor(), 0.5, 0.5, nullptr);
  });
  for (const char* fn : {"bf_pair_gossip", "bf_pair_gossip_async"}) {
    const bool async = fn[std::strlen(fn) - 1] == 'c';
    auto gossip = [&, async](int peer, double self, double pair) {
      return async ? bf_pair_gossip_async(a, b, peer, self, pair, nullptr, h)
                   : bf_pair_gossip(a, b, peer, self, pair, nullptr);
    };
    cat.Ranked(fn, "peer_rank -1", invalid, {"peer_rank names rank -1"},
               [&] { return gossip(-1, 0.5, 0.5); });
    cat.Ranked(fn, "peer_rank = size", invalid, {"peer_rank names rank " + std::to_string(w.size)},
               [&] { return gossip(w.size, 0.5, 0.5); });
    cat.Ranked(fn, "peer_rank is this rank", invalid, {"peer_rank", "itself"},
               [&] { return gossip(w.rank, 0.5, 0.5); });
    if (w.size > 1) {
      cat.Ranked(fn, "self_weight NaN", invalid, {"self_weight is nan"},
                 [&] { return gossip(w.out_neighbor(), kNaN, 0.5); });
      cat.Ranked(fn, "pair_weight +Inf", invalid, {"pair_weight is inf"},
                 [&] { return gossip(w.out_neighbor(), 0.5, kInf); });
      cat.Ranked(fn, "pair_weight -Inf", invalid, {"pair_weight is -inf"},
                 [&] { return gossip(w.out_neighbor(), 0.5, -kInf); });
    }
  }
}

// bf_neighbor_args of the three neighbor operations (sync and async).
void NeighborArgumentRows(GoodTensor& in, GoodTensor& result, const World& w) {
  const bf_status invalid = BF_ERR_INVALID_ARGUMENT;
  DLTensor* a = in.get();
  DLTensor* b = result.get();
  struct Target {
    const char* function;
    std::function<bf_status(const bf_neighbor_args*)> call;
    bool machines;       // ranks are machine ids
    bool needs_weights;  // dynamic mode needs has_weights
  };
  const std::vector<Target> targets = {
      {"bf_neighbor_allreduce",
       [&](const bf_neighbor_args* x) { return bf_neighbor_allreduce(a, b, x); }, false, true},
      {"bf_neighbor_allreduce_async",
       [&](const bf_neighbor_args* x) { return bf_neighbor_allreduce_async(a, b, x, &out.handle); },
       false, true},
      {"bf_neighbor_allgather",
       [&](const bf_neighbor_args* x) { return bf_neighbor_allgather(a, &out.managed, x); }, false,
       false},
      {"bf_neighbor_allgather_async",
       [&](const bf_neighbor_args* x) {
         return bf_neighbor_allgather_async(a, &out.managed, x, &out.handle);
       },
       false, false},
      {"bf_hierarchical_neighbor_allreduce",
       [&](const bf_neighbor_args* x) { return bf_hierarchical_neighbor_allreduce(a, b, x); }, true,
       true},
      {"bf_hierarchical_neighbor_allreduce_async",
       [&](const bf_neighbor_args* x) {
         return bf_hierarchical_neighbor_allreduce_async(a, b, x, &out.handle);
       },
       true, true},
  };
  for (const Target& t : targets) {
    const int me = t.machines ? w.machine_rank : w.rank;
    const int size = t.machines ? w.machine_size : w.size;
    const std::string src = t.machines ? "src_ranks (machine ids)" : "src_ranks";
    const std::string dst = t.machines ? "dst_ranks (machine ids)" : "dst_ranks";
    const int other = (me + 1) % size;  // another rank (machine) when size > 1
    auto args = [] {
      bf_neighbor_args x{};
      x.struct_size = sizeof(x);
      return x;
    };
    auto weighted = [&] {
      bf_neighbor_args x = args();
      x.has_weights = 1;
      x.self_weight = 0.5;
      return x;
    };
    auto row = [&](const std::string& label, bf_status expected, std::vector<std::string> parts,
                   const bf_neighbor_args& x) {
      cat.Ranked(t.function, label, expected, std::move(parts), [&] { return t.call(&x); });
    };
    for (const auto& c : StructSizeCases<bf_neighbor_args>()) {
      cat.Ranked(
          t.function, c.label, c.expected, {"struct_size"}, [&] { return t.call(c.args); });
    }
    static const int far = 1000, minus = -1;
    static const double weights2[2] = {0.5, 0.5};
    static const double nan_weight = kNaN, inf_weight = kInf;
    const int self_list = me;
    const int twice[2] = {other, other};
    bf_neighbor_args x = weighted();
    x.self_weight = kNaN;
    row("self_weight NaN", invalid, {"self_weight is nan"}, x);
    x.self_weight = -kInf;
    row("self_weight -Inf", invalid, {"self_weight is -inf"}, x);
    x = weighted();
    x.src_count = -1;
    row("src_count -1", invalid, {src + " count is -1"}, x);
    x = weighted();
    x.src_count = 2;
    row("src_ranks NULL with src_count 2", invalid, {src + " is NULL"}, x);
    x = weighted();
    x.src_count = 1;
    x.src_ranks = &far;
    x.src_weights = weights2;
    row("src rank 1000 out of range", invalid, {src + " names rank 1000", "out of range"}, x);
    x.src_ranks = &minus;
    row("src rank -1 out of range", invalid, {src + " names rank -1", "out of range"}, x);
    x.src_ranks = &self_list;
    row("src names this rank", invalid, {src, "itself"}, x);
    if (size > 1) {
      x.src_count = 2;
      x.src_ranks = twice;
      row("src rank listed twice", invalid, {src, "twice"}, x);
    }
    x = weighted();
    x.dst_count = 1;
    x.dst_ranks = &far;
    row("dst_ranks without dynamic", invalid, {"dst_ranks/dst_weights", "dynamic is 0"}, x);
    x = weighted();
    x.dynamic = 1;
    x.dst_count = -1;
    row("dynamic dst_count -1", invalid, {dst + " count is -1"}, x);
    x.dst_count = 1;
    row("dynamic dst_ranks NULL", invalid, {dst + " is NULL"}, x);
    x.dst_ranks = &far;
    row("dynamic dst rank 1000", invalid, {dst + " names rank 1000", "out of range"}, x);
    x.dst_ranks = &self_list;
    row("dynamic dst names this rank", invalid, {dst, "itself"}, x);
    if (size > 1) {
      x = weighted();
      x.dynamic = 1;
      x.src_count = 1;
      x.src_ranks = &other;
      x.src_weights = &nan_weight;
      row("dynamic src_weights[0] NaN", invalid, {"src_weights[0] is nan"}, x);
      x = weighted();
      x.dynamic = 1;
      x.dst_count = 1;
      x.dst_ranks = &other;
      x.dst_weights = &inf_weight;
      row("dynamic dst_weights[0] +Inf", invalid, {"dst_weights[0] is inf"}, x);
    }
    if (t.needs_weights) {
      x = args();
      x.dynamic = 1;
      row("dynamic without has_weights", invalid, {"dynamic mode needs self_weight"}, x);
    }
    if (!t.machines && size > 1) {
      x = args();
      x.src_count = 1;
      x.src_ranks = &other;
      row("static src_ranks without has_weights", invalid, {"without weights"}, x);
    }
    if (!t.machines && w.ring) {
      const int outsider = w.not_in_neighbor();
      x = weighted();
      x.src_count = 1;
      x.src_ranks = &outsider;
      x.src_weights = weights2;
      row("static weight for a non-in-neighbor", invalid,
          {"names rank " + std::to_string(outsider),
           "not an in-neighbor of rank " + std::to_string(w.rank)},
          x);
    }
    if (t.machines) {
      row("static without a machine topology", invalid, {"machine topology must be set"}, args());
      x = args();
      x.check_topology = 1;
      cat.Ranked(t.function, "check_topology", BF_ERR_UNSUPPORTED, {"check_topology"},
                 [&] { return t.call(&x); });
    }
  }
}

// Engine controls: the matching-mode switch's argument, and what suspension refuses.
void EngineControlRows() {
  const bf_status invalid = BF_ERR_INVALID_ARGUMENT;
  for (int mode : {0, 3, -1, 99}) {
    cat.Ranked("bf_set_matching_mode", "mode " + std::to_string(mode), invalid,
               {"'mode'", "is " + std::to_string(mode)},
               [mode] { return bf_set_matching_mode(RawEnum<bf_matching_mode>(mode)); });
  }
  cat.Value("bf_suspended", "0 while running",
            []() -> std::string { return bf_suspended() == 0 ? "" : "not 0"; });
  cat.Value("bf_mpi_threads_supported", "0 or 1", []() -> std::string {
    const int got = bf_mpi_threads_supported();
    return got == 0 || got == 1 ? "" : "returned " + std::to_string(got);
  });
  cat.Value("bf_unified_mpi_window_model_supported", "1 while initialized", []() -> std::string {
    return bf_unified_mpi_window_model_supported() == 1 ? "" : "not 1";
  });
  // While suspended every operation is refused with a message naming bf_suspend and the rank.
  if (bf_suspend() != BF_OK) cat.Fail("setup", "bf_suspend", bf_last_error());
  cat.Ranked("bf_suspend", "a barrier while suspended", BF_ERR_SUSPENDED,
             {"suspended on rank", "bf_resume"}, [] { return bf_barrier(); });
  if (bf_resume() != BF_OK) cat.Fail("teardown", "bf_resume", bf_last_error());
}

void TopologyStateRows(const World& w) {
  const bf_status invalid = BF_ERR_INVALID_ARGUMENT;
  bf_topology* wrong_size = nullptr;
  bf_topology* wrong_machines = nullptr;
  if (bf_topology_ring(w.size + 1, BF_RING_LEFT, &wrong_size) != BF_OK ||
      bf_topology_ring(w.machine_size + 1, BF_RING_LEFT, &wrong_machines) != BF_OK) {
    cat.Fail("setup", "topologies of the wrong size", bf_last_error());
    return;
  }
  cat.Ranked("bf_set_topology", "topology NULL", invalid, {"'topology'", "is NULL"},
             [] { return bf_set_topology(nullptr, 0); });
  cat.Ranked("bf_set_topology", "size + 1 ranks", invalid, {"'topology'", "ranks in the world"},
             [&] { return bf_set_topology(wrong_size, 1); });
  cat.Ranked("bf_set_machine_topology", "topology NULL", invalid, {"'topology'", "is NULL"},
             [] { return bf_set_machine_topology(nullptr, 0); });
  cat.Ranked("bf_set_machine_topology", "machine_size + 1 machines",
             bf_is_homogeneous() ? invalid : BF_ERR_UNSUPPORTED,
             {bf_is_homogeneous() ? "machines" : "homogeneous"},
             [&] { return bf_set_machine_topology(wrong_machines, 0); });
  bf_topology_free(wrong_size);
  bf_topology_free(wrong_machines);

  static const int far = 1000;
  const int self_list = w.rank;
  const int twice[2] = {w.out_neighbor(), w.out_neighbor()};
  cat.Ranked("bf_infer_topology", "out NULL", invalid, {"'out'", "is NULL"},
             [] { return bf_infer_topology(nullptr, 0, 1, nullptr); });
  cat.Ranked("bf_infer_topology", "count -1", invalid, {"ranks count is -1"},
             [] { return bf_infer_topology(&far, -1, 1, &out.topology); });
  cat.Ranked("bf_infer_topology", "ranks NULL with count 1", invalid, {"ranks is NULL"},
             [] { return bf_infer_topology(nullptr, 1, 1, &out.topology); });
  cat.Ranked("bf_infer_topology", "rank 1000", invalid, {"ranks names rank 1000", "out of range"},
             [] { return bf_infer_topology(&far, 1, 0, &out.topology); });
  cat.Ranked("bf_infer_topology", "this rank", invalid, {"ranks names rank", "itself"},
             [&] { return bf_infer_topology(&self_list, 1, 1, &out.topology); });
  if (w.size > 1) {
    cat.Ranked("bf_infer_topology", "a rank twice", invalid, {"twice"},
               [&] { return bf_infer_topology(twice, 2, 1, &out.topology); });
  }
}

void HandleRows() {
  const bf_status invalid = BF_ERR_INVALID_ARGUMENT;
  bf_handle freed = 0, live = 0;
  if (bf_barrier_async(&freed) != BF_OK || bf_wait(freed, -1) != BF_OK ||
      bf_handle_free(freed) != BF_OK || bf_barrier_async(&live) != BF_OK ||
      bf_wait(live, -1) != BF_OK) {
    cat.Fail("setup", "handles", bf_last_error());
    return;
  }
  const std::string freed_text = "handle " + std::to_string(freed);
  // Never issued by this process: 0 (never a handle), far beyond the counter, the largest id.
  const bf_handle foreign[] = {0, live + 1000000, UINT64_MAX};
  cat.Ranked("bf_wait", "freed handle", invalid, {freed_text, "unknown or was already freed"},
             [&] { return bf_wait(freed, 0); });
  cat.Ranked("bf_wait", "freed handle, waiting forever", invalid, {freed_text},
             [&] { return bf_wait(freed, -1); });
  cat.Ranked("bf_poll", "freed handle", invalid, {freed_text, "unknown or was already freed"},
             [&] { return bf_poll(freed, &out.flag); });
  cat.Ranked(
      "bf_handle_free", "double free", invalid, {freed_text, "already freed"},
      [&] { return bf_handle_free(freed); });
  for (bf_handle h : foreign) {
    const std::string text = "handle " + std::to_string(h);
    cat.Ranked("bf_wait", "foreign " + text, invalid, {text, "unknown"},
               [&] { return bf_wait(h, 0); });
    cat.Ranked("bf_poll", "foreign " + text, invalid, {text, "unknown"},
               [&] { return bf_poll(h, &out.flag); });
    cat.Ranked(
        "bf_handle_free", "foreign " + text, invalid, {text, "unknown"},
        [&] { return bf_handle_free(h); });
  }
  cat.Ranked(
      "bf_poll", "done NULL", invalid, {"'done'", "is NULL"}, [&] { return bf_poll(live, nullptr); });
  if (bf_handle_free(live) != BF_OK) cat.Fail("teardown", "handles", bf_last_error());
}

void TimelineRows() {
  const bf_status invalid = BF_ERR_INVALID_ARGUMENT;
  cat.Ranked("bf_timeline_start_activity", "name NULL", invalid, {"'name'", "is NULL"},
             [] { return bf_timeline_start_activity(nullptr, "a"); });
  cat.Ranked("bf_timeline_start_activity", "activity NULL", invalid, {"'activity'", "is NULL"},
             [] { return bf_timeline_start_activity("n", nullptr); });
  cat.Ranked(
      "bf_timeline_start_activity", "timeline off", BF_ERR_UNSUPPORTED, {"timeline is off"},
      [] { return bf_timeline_start_activity("n", "a"); });
  cat.Ranked("bf_timeline_end_activity", "name NULL", invalid, {"'name'", "is NULL"},
             [] { return bf_timeline_end_activity(nullptr); });
  cat.Ranked(
      "bf_timeline_end_activity", "timeline off", BF_ERR_UNSUPPORTED, {"timeline is off"},
      [] { return bf_timeline_end_activity("n"); });
}

// Windows "bad.win" (float32[3, 4]) and "bad.win.int" (int32[3, 4]) exist during these rows.
void WindowRows(GoodTensor& in, DLTensor* int_window, const World& w) {
  const bf_status invalid = BF_ERR_INVALID_ARGUMENT;
  DLTensor* a = in.get();
  const char* win = "bad.win";
  const char* win_int = "bad.win.int";
  const char* missing = "no.such.window";

  // Creation: every malformed tensor, names, dtypes, devices, an existing name.
  auto any = zoo.ForAnyArgument();
  TensorRows("bf_win_create", "tensor", any,
             [](DLTensor* t) { return bf_win_create(t, "bad.win.new", 0); });
  cat.Ranked("bf_win_create", "name NULL", invalid, {"'name'", "NULL"},
             [&] { return bf_win_create(a, nullptr, 0); });
  cat.Ranked("bf_win_create", "name empty", invalid, {"'name'", "empty"},
             [&] { return bf_win_create(a, "", 0); });
  cat.Ranked("bf_win_create", "name with a newline", invalid, {"'name'", "newline"},
             [&] { return bf_win_create(a, "bad\nname", 0); });
  cat.Ranked("bf_win_create", "existing name", invalid, {"'bad.win' already exists"},
             [&] { return bf_win_create(a, win, 0); });
  int8_t small[12] = {};
  DLTensor int8 = *a;
  int8.data = small;
  int8.dtype = {kDLInt, 8, 1};
  cat.Ranked("bf_win_create", "int8 tensor", invalid, {"'tensor'", "window dtypes"},
             [&] { return bf_win_create(&int8, "bad.win.int8", 0); });
  DLTensor pinned = *a;
  pinned.device = {kDLCUDAHost, 0};
  cat.Ranked("bf_win_create", "kDLCUDAHost tensor", BF_ERR_UNSUPPORTED, {"'tensor'", "host memory"},
             [&] { return bf_win_create(&pinned, "bad.win.pin", 0); });

  cat.Ranked("bf_win_free", "unknown name", invalid, {"no window named 'no.such.window'"},
             [&] { return bf_win_free(missing); });
  cat.Ranked("bf_win_free", "empty name", invalid, {"no window named ''"},
             [&] { return bf_win_free(""); });
  cat.Ranked(
      "bf_win_names", "buffer NULL with capacity 8", invalid, {"'buffer'", "is NULL"},
      [&] { return bf_win_names(nullptr, 8, &out.needed); });

  // Put, accumulate and get: names, tensors, argument structs, ranks and weights.
  struct Transfer {
    const char* function;
    bool get;
    std::function<bf_status(DLTensor*, const char*, const bf_win_op_args*)> call;
  };
  bf_handle* h = &out.handle;
  const std::vector<Transfer> transfers = {
      {"bf_win_put", false,
       [](DLTensor* t, const char* n, const bf_win_op_args* x) { return bf_win_put(t, n, x); }},
      {"bf_win_put_async", false,
       [h](DLTensor* t, const char* n, const bf_win_op_args* x) {
         return bf_win_put_async(t, n, x, h);
       }},
      {"bf_win_accumulate", false,
       [](DLTensor* t, const char* n, const bf_win_op_args* x) {
         return bf_win_accumulate(t, n, x);
       }},
      {"bf_win_accumulate_async", false,
       [h](DLTensor* t, const char* n, const bf_win_op_args* x) {
         return bf_win_accumulate_async(t, n, x, h);
       }},
      {"bf_win_get", true,
       [](DLTensor*, const char* n, const bf_win_op_args* x) { return bf_win_get(n, x); }},
      {"bf_win_get_async", true,
       [h](DLTensor*, const char* n, const bf_win_op_args* x) {
         return bf_win_get_async(n, x, h);
       }},
  };
  const auto outputs = zoo.ForOutput();  // against the window's float32[3, 4]
  static const double nan_weight = kNaN, half = 0.5;
  for (const Transfer& t : transfers) {
    auto call = [&](const bf_win_op_args* x) { return t.call(a, win, x); };
    cat.Ranked(t.function, "name NULL", invalid, {"'name'", "NULL or empty"},
               [&] { return t.call(a, nullptr, nullptr); });
    cat.Ranked(t.function, "name empty", invalid, {"'name'", "NULL or empty"},
               [&] { return t.call(a, "", nullptr); });
    cat.Ranked(t.function, "unknown window", invalid, {"no window named 'no.such.window'"},
               [&] { return t.call(a, missing, nullptr); });
    if (!t.get) {
      TensorRows(t.function, "tensor", outputs,
                 [&](DLTensor* bad) { return t.call(bad, win, nullptr); });
    }
    for (const auto& c : StructSizeCases<bf_win_op_args>()) {
      cat.Ranked(
          t.function, c.label, c.expected, {"struct_size"}, [&] { return call(c.args); });
    }
    auto args = [] {
      bf_win_op_args x{};
      x.struct_size = sizeof(x);
      x.has_ranks = 1;
      return x;
    };
    const std::string role = t.get ? "in-neighbor" : "out-neighbor";
    const int outsider = t.get ? w.not_in_neighbor() : w.not_out_neighbor();
    const int neighbor = t.get ? w.in_neighbor() : w.out_neighbor();
    const int self_list = w.rank;
    const int twice[2] = {neighbor, neighbor};
    bf_win_op_args x = args();
    x.count = -1;
    cat.Ranked(t.function, "count -1", invalid, {"'count'", "is -1"}, [&] { return call(&x); });
    x = args();
    x.count = 1;
    cat.Ranked(t.function, "ranks NULL with count 1", invalid, {"'ranks'", "is NULL"},
               [&] { return call(&x); });
    x.ranks = &self_list;
    cat.Ranked(t.function, "ranks lists this rank", invalid, {"'ranks'", "itself"},
               [&] { return call(&x); });
    x.ranks = &outsider;
    cat.Ranked(t.function, "ranks lists a non-" + role, invalid,
               {"'ranks'", "lists rank " + std::to_string(outsider), "not an " + role},
               [&] { return call(&x); });
    if (w.size > 1) {
      x.count = 2;
      x.ranks = twice;
      cat.Ranked(t.function, "ranks lists a neighbor twice", invalid, {"'ranks'", "twice"},
                 [&] { return call(&x); });
      x.count = 1;
      x.ranks = &neighbor;
      x.weights = &nan_weight;
      cat.Ranked(t.function, "weights[0] NaN", invalid, {"'weights'", "nan"},
                 [&] { return call(&x); });
      x.weights = &half;
      cat.Ranked(t.function, "weight 0.5 on an int32 window", invalid,
                 {"'weights'", "integer windows"}, [&] { return t.call(int_window, win_int, &x); });
    }
    x = args();
    x.has_ranks = 0;
    x.has_self_weight = 1;
    if (t.get) {
      x.self_weight = 1.0;
      cat.Ranked(t.function, "has_self_weight on a get", invalid, {"'args->has_self_weight'"},
                 [&] { return call(&x); });
    } else {
      x.self_weight = kNaN;
      cat.Ranked(t.function, "self_weight NaN", invalid, {"'args->self_weight'", "nan"},
                 [&] { return call(&x); });
      x.self_weight = kInf;
      cat.Ranked(t.function, "self_weight +Inf", invalid, {"'args->self_weight'", "inf"},
                 [&] { return call(&x); });
      x.self_weight = 0.5;
      cat.Ranked(t.function, "self_weight 0.5 on an int32 window", invalid,
                 {"'args->self_weight'", "integer windows"},
                 [&] { return t.call(int_window, win_int, &x); });
    }
  }
  for (const char* fn : {"bf_win_put_async", "bf_win_accumulate_async", "bf_win_get_async"}) {
    cat.Ranked(
        fn, "handle NULL", invalid, {"'handle' is NULL"},
        [&] {
          if (std::strcmp(fn, "bf_win_put_async") == 0)
            return bf_win_put_async(a, win, nullptr, nullptr);
          if (std::strcmp(fn, "bf_win_get_async") == 0)
            return bf_win_get_async(win, nullptr, nullptr);
          return bf_win_accumulate_async(a, win, nullptr, nullptr);
        });
  }

  // Update: names, out tensors, argument structs, ranks and weights.
  const char* update = "bf_win_update";
  cat.Ranked(update, "name NULL", invalid, {"'name'", "NULL or empty"},
             [&] { return bf_win_update(nullptr, nullptr, nullptr); });
  cat.Ranked(update, "unknown window", invalid, {"no window named 'no.such.window'"},
             [&] { return bf_win_update(missing, nullptr, nullptr); });
  {
    auto bad_outputs = outputs;
    // A NULL out is the in-place update, not an error: only the malformed ones.
    for (const BadTensor& bad : bad_outputs) {
      DLTensor t = bad.tensor;
      cat.Ranked(update, "out: " + bad.label, bad.expected, {"'out'", bad.part},
                 [&] { return bf_win_update(win, nullptr, &t); });
    }
  }
  for (const auto& c : StructSizeCases<bf_win_update_args>()) {
    cat.Ranked(
        update, c.label, c.expected, {"struct_size"},
        [&] { return bf_win_update(win, c.args, nullptr); });
  }
  auto update_args = [] {
    bf_win_update_args x{};
    x.struct_size = sizeof(x);
    x.has_weights = 1;
    x.self_weight = 0.5;
    return x;
  };
  const int self_list = w.rank;
  const int outsider = w.not_in_neighbor();
  const int neighbor = w.in_neighbor();
  const int twice[2] = {neighbor, neighbor};
  bf_win_update_args u = update_args();
  u.self_weight = kNaN;
  cat.Ranked(update, "self_weight NaN", invalid, {"'args->self_weight'", "nan"},
             [&] { return bf_win_update(win, &u, nullptr); });
  u = update_args();
  u.count = -1;
  cat.Ranked(update, "count -1", invalid, {"'count'", "is -1"},
             [&] { return bf_win_update(win, &u, nullptr); });
  u.count = 1;
  cat.Ranked(update, "ranks NULL with count 1", invalid, {"'ranks'", "is NULL"},
             [&] { return bf_win_update(win, &u, nullptr); });
  u.ranks = &self_list;
  cat.Ranked(update, "ranks lists this rank", invalid, {"'ranks'", "itself"},
             [&] { return bf_win_update(win, &u, nullptr); });
  u.ranks = &outsider;
  cat.Ranked(update, "ranks lists a non-in-neighbor", invalid,
             {"'ranks'", "lists rank " + std::to_string(outsider), "not an in-neighbor"},
             [&] { return bf_win_update(win, &u, nullptr); });
  if (w.size > 1) {
    u.count = 2;
    u.ranks = twice;
    cat.Ranked(update, "ranks lists a neighbor twice", invalid, {"'ranks'", "twice"},
               [&] { return bf_win_update(win, &u, nullptr); });
    u.count = 1;
    u.ranks = &neighbor;
    u.weights = &nan_weight;
    cat.Ranked(update, "weights[0] NaN", invalid, {"'weights'", "nan"},
               [&] { return bf_win_update(win, &u, nullptr); });
  }
  u = update_args();
  cat.Ranked(update, "self_weight 0.5 on an int32 window", invalid, {"self_weight", "integer"},
             [&] { return bf_win_update(win_int, &u, nullptr); });

  const char* collect = "bf_win_update_then_collect";
  cat.Ranked(collect, "name NULL", invalid, {"'name'", "NULL or empty"},
             [] { return bf_win_update_then_collect(nullptr, 0); });
  cat.Ranked(collect, "name empty", invalid, {"'name'", "NULL or empty"},
             [] { return bf_win_update_then_collect("", 1); });
  cat.Ranked(collect, "unknown window", invalid, {"no window named 'no.such.window'"},
             [&] { return bf_win_update_then_collect(missing, 0); });

  // Mutexes: names, counts, ranks; releasing what is not held.
  const int beyond = w.size;
  const int same_twice[2] = {w.rank, w.rank};
  for (const char* fn : {"bf_win_mutex_acquire", "bf_win_mutex_release"}) {
    const auto f =
        std::strcmp(fn, "bf_win_mutex_acquire") == 0 ? bf_win_mutex_acquire : bf_win_mutex_release;
    cat.Ranked(fn, "name NULL", invalid, {"'name'", "NULL or empty"},
               [&] { return f(nullptr, nullptr, 0, 0); });
    cat.Ranked(fn, "unknown window", invalid, {"no window named 'no.such.window'"},
               [&] { return f(missing, nullptr, 0, 0); });
    cat.Ranked(fn, "count -1", invalid, {"'count'", "is -1"},
               [&] { return f(win, &self_list, -1, 0); });
    cat.Ranked(fn, "rank = size", invalid, {"'ranks'", "lists rank " + std::to_string(beyond)},
               [&] { return f(win, &beyond, 1, 1); });
    cat.Ranked(fn, "a rank twice", invalid, {"'ranks'", "twice"},
               [&] { return f(win, same_twice, 2, 1); });
  }
  cat.Ranked("bf_win_mutex_release", "a mutex this rank does not hold", invalid,
             {"does not hold mutex"}, [&] { return bf_win_mutex_release(win, &self_list, 1, 1); });

  // Queries.
  const char* versions = "bf_win_versions";
  cat.Ranked(versions, "name NULL", invalid, {"'name'", "NULL or empty"},
             [] { return bf_win_versions(nullptr, out.ranks, out.ranks2, 8, &out.count); });
  cat.Ranked(versions, "unknown window", invalid, {"no window named 'no.such.window'"},
             [&] { return bf_win_versions(missing, out.ranks, out.ranks2, 8, &out.count); });
  cat.Ranked(versions, "count NULL", invalid, {"'count'", "is NULL"},
             [&] { return bf_win_versions(win, out.ranks, out.ranks2, 8, nullptr); });
  cat.Ranked(versions, "capacity -1", invalid, {"'capacity'", "negative"},
             [&] { return bf_win_versions(win, out.ranks, out.ranks2, -1, &out.count); });
  cat.Ranked(versions, "ranks NULL with capacity 8", invalid, {"'ranks'", "NULL"},
             [&] { return bf_win_versions(win, nullptr, out.ranks2, 8, &out.count); });
  cat.Ranked(versions, "versions NULL with capacity 8", invalid, {"'versions'", "NULL"},
             [&] { return bf_win_versions(win, out.ranks, nullptr, 8, &out.count); });
  cat.Ranked("bf_win_associated_p", "name NULL", invalid, {"'name'", "NULL or empty"},
             [] { return bf_win_associated_p(nullptr, &out.value); });
  cat.Ranked("bf_win_associated_p", "unknown window", invalid, {"no window named"},
             [&] { return bf_win_associated_p(missing, &out.value); });
  cat.Ranked("bf_win_associated_p", "p NULL", invalid, {"'p'", "is NULL"},
             [&] { return bf_win_associated_p(win, nullptr); });
  cat.Ranked(
      "bf_get_win_associated_p", "enabled NULL", invalid, {"'enabled'", "is NULL"},
      [] { return bf_get_win_associated_p(nullptr); });

  // The window lock: names, double lock, unlocking what is not locked.
  for (const char* fn : {"bf_win_lock", "bf_win_unlock"}) {
    const auto f = std::strcmp(fn, "bf_win_lock") == 0 ? bf_win_lock : bf_win_unlock;
    cat.Ranked(fn, "name NULL", invalid, {"'name'", "NULL or empty"}, [&] { return f(nullptr); });
    cat.Ranked(fn, "name empty", invalid, {"'name'", "NULL or empty"}, [&] { return f(""); });
    cat.Ranked(fn, "unknown window", invalid, {"no window named 'no.such.window'"},
               [&] { return f(missing); });
  }
  cat.Ranked("bf_win_unlock", "a window that is not locked", invalid, {"'bad.win'", "not locked"},
             [&] { return bf_win_unlock(win); });
  if (bf_win_lock(win) != BF_OK) cat.Fail("setup", "bf_win_lock", bf_last_error());
  cat.Ranked("bf_win_lock", "a window already locked", invalid, {"'bad.win'", "already locked"},
             [&] { return bf_win_lock(win); });
  if (bf_win_unlock(win) != BF_OK) cat.Fail("teardown", "bf_win_unlock", bf_last_error());
  cat.Ranked("bf_win_is_locked", "name NULL", invalid, {"'name'", "NULL or empty"},
             [] { return bf_win_is_locked(nullptr, &out.flag); });
  cat.Ranked("bf_win_is_locked", "unknown window", invalid, {"no window named 'no.such.window'"},
             [&] { return bf_win_is_locked(missing, &out.flag); });
  cat.Ranked("bf_win_is_locked", "locked NULL", invalid, {"'locked'", "is NULL"},
             [&] { return bf_win_is_locked(win, nullptr); });

  // The topology is pinned while windows exist.
  bf_topology* current = nullptr;
  if (bf_get_topology(&current, nullptr) != BF_OK) {
    cat.Fail("setup", "bf_get_topology", bf_last_error());
    return;
  }
  cat.Ranked("bf_set_topology", "while windows exist", BF_ERR_IN_PROGRESS, {"bf_win_free"},
             [&] { return bf_set_topology(current, 0); });
  bf_topology_free(current);
}

// ----- Coverage ---------------------------------------------------------------------------------

std::set<std::string> HeaderFunctions(const char* path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  std::string without_comments = text.str();
  for (size_t open = without_comments.find("/*"); open != std::string::npos;
       open = without_comments.find("/*", open)) {
    const size_t close = without_comments.find("*/", open + 2);
    without_comments.replace(
        open, close == std::string::npos ? std::string::npos : close + 2 - open, " ");
  }
  // Each "BF_API ... bf_name(" up to the first '(' or ';' declares bf_name.
  std::set<std::string> names;
  for (size_t at = without_comments.find("BF_API"); at != std::string::npos;
       at = without_comments.find("BF_API", at + 6)) {
    const size_t paren = without_comments.find_first_of("(;", at);
    if (paren == std::string::npos || without_comments[paren] != '(') continue;
    size_t end = paren;
    while (end > at && std::isspace(static_cast<unsigned char>(without_comments[end - 1]))) --end;
    size_t begin = end;
    while (begin > at && (std::isalnum(static_cast<unsigned char>(without_comments[begin - 1])) ||
                          without_comments[begin - 1] == '_')) {
      --begin;
    }
    const std::string name = without_comments.substr(begin, end - begin);
    if (name.rfind("bf_", 0) == 0) names.insert(name);
  }
  return names;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  unsetenv("BLUEFOG_TIMELINE");  // the rows expect the timeline to be off

  GoodTensor in(1.0f), result(-100.0f), window_tensor(50.0f);
  int32_t int_window_data[12] = {};
  int64_t int_window_shape[2] = {3, 4};
  DLTensor int_window{int_window_data,  {kDLCPU, 0}, 2, {kDLInt, 32, 1},
                      int_window_shape, nullptr,     0};
  bf_topology* some_topology = nullptr;
  bf_topology_exponential_two(size, &some_topology);

  // Phase 1: before bf_init.
  cat.SetPhase("before bf_init", -1, {&in, &result});
  PureRows();
  InitOptionRows(/*with_null_comm=*/true);
  NotInitializedRows(in, result, some_topology);

  // Phase 2: initialized.
  if (bf_init(nullptr) != BF_OK) {
    std::fprintf(stderr, "[rank %d] bf_init failed: %s\n", rank, bf_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  World world{bf_rank(), bf_size(), bf_machine_rank(), bf_machine_size(), bf_size() >= 3};
  if (world.ring) {
    bf_topology* ring = nullptr;
    if (bf_topology_ring(world.size, BF_RING_RIGHT, &ring) != BF_OK ||
        bf_set_topology(ring, 0) != BF_OK) {
      std::fprintf(stderr, "[rank %d] ring topology: %s\n", rank, bf_last_error());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    bf_topology_free(ring);
  }
  cat.SetPhase("initialized", world.rank, {&in, &result, &window_tensor});
  InitOptionRows(/*with_null_comm=*/false);  // still checked while initialized
  OpTensorRows(in, result);
  OpArgumentRows(in, result, world);
  NeighborArgumentRows(in, result, world);
  TopologyStateRows(world);
  EngineControlRows();
  HandleRows();
  TimelineRows();
  if (bf_win_create(window_tensor.get(), "bad.win", 0) != BF_OK ||
      bf_win_create(&int_window, "bad.win.int", 1) != BF_OK) {
    std::fprintf(stderr, "[rank %d] bf_win_create: %s\n", rank, bf_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  WindowRows(in, &int_window, world);
  if (bf_win_free(nullptr) != BF_OK) cat.Fail("teardown", "bf_win_free", bf_last_error());
  cat.Ranked("bf_win_free", "a freed window", BF_ERR_INVALID_ARGUMENT,
             {"no window named 'bad.win'"}, [] { return bf_win_free("bad.win"); });
  cat.Ranked("bf_win_put", "a freed window", BF_ERR_INVALID_ARGUMENT, {"no window named 'bad.win'"},
             [&] { return bf_win_put(window_tensor.get(), "bad.win", nullptr); });
  // A completed handle left unfreed across bf_finalize.
  bf_handle stale = 0;
  if (bf_barrier_async(&stale) != BF_OK || bf_wait(stale, -1) != BF_OK) {
    cat.Fail("setup", "stale handle", bf_last_error());
  }
  if (bf_finalize() != BF_OK) {
    std::fprintf(stderr, "[rank %d] bf_finalize failed: %s\n", rank, bf_last_error());
    cat.Fail("teardown", "bf_finalize", bf_last_error());
  }

  // Phase 3: after bf_finalize (bf_finalize again is its first row).
  cat.SetPhase("after bf_finalize", -1, {&in, &result});
  NotInitializedRows(in, result, some_topology);
  cat.Ranked("bf_wait", "a handle from before bf_finalize", BF_ERR_NOT_INITIALIZED,
             {"not been initialized"}, [&] { return bf_wait(stale, 0); });
  cat.Ranked("bf_handle_free", "a handle from before bf_finalize", BF_ERR_NOT_INITIALIZED,
             {"not been initialized"}, [&] { return bf_handle_free(stale); });
  InitOptionRows(/*with_null_comm=*/false);
  bf_topology_free(some_topology);

  // Every function bluefog.h declares has a row, and every row names a declared function.
  const std::set<std::string> declared = HeaderFunctions(BLUEFOG_HEADER);
  if (declared.size() < 50) {
    cat.Fail("coverage", BLUEFOG_HEADER,
             "found only " + std::to_string(declared.size()) + " BF_API functions");
  }
  for (const std::string& name : declared) {
    if (!cat.functions().count(name)) cat.Fail("coverage", name, "no row in the catalogue");
  }
  for (const std::string& name : cat.functions()) {
    if (name.rfind("bf_", 0) == 0 && !declared.count(name)) {
      cat.Fail("coverage", name, "has rows but is not declared in bluefog.h");
    }
  }

  const int counts[2] = {cat.rows(), -cat.rows()};
  int extremes[2] = {0, 0};
  MPI_Allreduce(counts, extremes, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  int failed = cat.failures() > 0 ? 1 : 0, any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0) {
    std::printf(
        "bad-input catalogue: %d rows checked (%zu public functions covered, %d rows "
        "deviating as known bugs on rank 0, %d ranks)\n",
        cat.rows(), declared.size(), cat.known_bugs_seen(), size);
    if (extremes[0] != -extremes[1]) {
      std::printf("row counts differ between ranks: %d to %d\n", -extremes[1], extremes[0]);
    }
    if (any_failed) std::fprintf(stderr, "FAILED on at least one rank\n");
  }
  MPI_Finalize();
  return any_failed;
}

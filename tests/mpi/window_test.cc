// SPDX-License-Identifier: Apache-2.0
// Multi-rank tests of one-sided windows: create/free/names, put/get/accumulate per dtype with
// weights and self weights, update (uniform, topology-weighted, explicit, reset, clone),
// update_then_collect, versions, associated p, mutexes, chunked large transfers and every refused
// argument, against closed-form references on the exponential-2 graph.
#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "test_util.h"
#include "window_values.h"

namespace bftest {
namespace {

double Value(int rank, int64_t i) { return WindowValue(rank, i); }

bool Contains(const std::vector<int>& ranks, int rank) {
  return std::find(ranks.begin(), ranks.end(), rank) != ranks.end();
}

// bf_win_op_args whose rank and weight arrays live as long as the builder.
struct WinOp {
  std::vector<int> ranks;
  std::vector<double> weights;
  bf_win_op_args args{};
  WinOp() { args.struct_size = sizeof(args); }
  WinOp& Ranks(std::vector<int> list, std::vector<double> list_weights = {}) {
    ranks = std::move(list);
    weights = std::move(list_weights);
    args.has_ranks = 1;
    return *this;
  }
  WinOp& Self(double weight) {
    args.has_self_weight = 1;
    args.self_weight = weight;
    return *this;
  }
  WinOp& Mutex() {
    args.require_mutex = 1;
    return *this;
  }
  const bf_win_op_args* get() {
    if (args.has_ranks) {
      args.count = static_cast<int>(ranks.size());
      args.ranks = ranks.data();
      args.weights = weights.empty() ? nullptr : weights.data();
    }
    return &args;
  }
};

struct WinUpdate {
  std::vector<int> ranks;
  std::vector<double> weights;
  bf_win_update_args args{};
  WinUpdate() { args.struct_size = sizeof(args); }
  WinUpdate& Weights(double self_weight, std::vector<int> list,
                     std::vector<double> list_weights = {}) {
    args.has_weights = 1;
    args.self_weight = self_weight;
    ranks = std::move(list);
    weights = std::move(list_weights);
    return *this;
  }
  WinUpdate& Reset() {
    args.reset = 1;
    return *this;
  }
  WinUpdate& Mutex() {
    args.require_mutex = 1;
    return *this;
  }
  const bf_win_update_args* get() {
    args.count = static_cast<int>(ranks.size());
    args.ranks = ranks.data();
    args.weights = weights.empty() ? nullptr : weights.data();
    return &args;
  }
};

bool HasText(const std::string& message, const std::string& part) {
  return message.find(part) != std::string::npos;
}

class Window : public ::testing::Test {
 protected:
  void SetUp() override {  // every test starts from BlueFog's default topology, p off
    ASSERT_BF_OK(UseExp2Topology());
    ASSERT_BF_OK(bf_set_win_associated_p(0));
  }
  // Frees what a test left behind (after a failure); the tensors outlive their windows because
  // the fixture owns them and is destroyed after TearDown.
  void TearDown() override {
    EXPECT_BF_OK(bf_win_free(nullptr));
    EXPECT_BF_OK(bf_set_win_associated_p(0));
  }

  HostTensor& Tensor(DLDataType type, std::vector<int64_t> shape) {
    tensors_.push_back(std::make_unique<HostTensor>(type, std::move(shape)));
    return *tensors_.back();
  }
  HostTensor& Filled(DLDataType type, std::vector<int64_t> shape, int of_rank, double offset = 0) {
    HostTensor& t = Tensor(type, std::move(shape));
    for (int64_t i = 0; i < t.size(); ++i) t.Set(i, Value(of_rank, i) + offset);
    return t;
  }

  // This rank's buffer for `source`, read with a cloning update (which resets its version).
  // Integer windows allow only weights of 1, so they read tensor + buffer and subtract.
  std::vector<double> ReadBuffer(const std::string& name, HostTensor& window, int source) {
    const bool integer = IsInteger(window.dtype);
    HostTensor out(window.dtype, window.shape);
    WinUpdate update;
    update.Weights(integer ? 1.0 : 0.0, {source});
    EXPECT_BF_OK(bf_win_update(name.c_str(), update.get(), out.get())) << "reading " << source;
    std::vector<double> values(static_cast<size_t>(out.size()));
    for (int64_t i = 0; i < out.size(); ++i) {
      values[i] = out.Get(i) - (integer ? window.Get(i) : 0.0);
    }
    return values;
  }

  // Versions of the in-neighbors' buffers, after checking the listed ranks are the in-neighbors.
  std::vector<int> Versions(const std::string& name) {
    int count = -1;
    EXPECT_BF_OK(bf_win_versions(name.c_str(), nullptr, nullptr, 0, &count));
    EXPECT_EQ(count, static_cast<int>(in.size()));
    std::vector<int> ranks(in.size() + 1, -1), versions(in.size() + 1, -1);
    EXPECT_BF_OK(bf_win_versions(name.c_str(), ranks.data(), versions.data(),
                                 static_cast<int>(ranks.size()), &count));
    EXPECT_EQ(count, static_cast<int>(in.size()));
    ranks.resize(in.size());
    versions.resize(in.size());
    EXPECT_EQ(ranks, in) << "bf_win_versions lists the in-neighbors ascending";
    return versions;
  }

  std::string Names() {
    size_t needed = 0;
    char probe = 'x';
    EXPECT_BF_OK(bf_win_names(&probe, 0, &needed));
    EXPECT_EQ(probe, 'x') << "capacity 0 wrote a byte";
    std::string buffer(needed + 4, '#');
    size_t again = 0;
    EXPECT_BF_OK(bf_win_names(buffer.data(), buffer.size(), &again));
    EXPECT_EQ(again, needed);
    return std::string(buffer.c_str());
  }

  int rank = bf_rank();
  int size = bf_size();
  std::vector<int> in = Exp2InNeighbors(bf_rank(), bf_size());
  std::vector<int> out = Exp2OutNeighbors(bf_rank(), bf_size());

 private:
  std::vector<std::unique_ptr<HostTensor>> tensors_;
};

// ---------------------------------------------------------------------------------------------
// Lifecycle.

TEST_F(Window, CreateFreeAndNamesSorted) {
  EXPECT_EQ(Names(), "");
  size_t needed = 0;
  EXPECT_BF_OK(bf_win_names(nullptr, 0, &needed)) << "NULL buffer with capacity 0";
  EXPECT_EQ(needed, 1u);
  HostTensor& b = Filled({kDLFloat, 32, 1}, {3}, rank);
  HostTensor& a = Filled({kDLFloat, 64, 1}, {2, 2}, rank);
  ASSERT_BF_OK(bf_win_create(b.get(), "life.b", 0));
  ASSERT_BF_OK(bf_win_create(a.get(), "life.a", 1));
  EXPECT_EQ(Names(), "life.a\nlife.b\n");
  ASSERT_BF_OK(bf_win_names(nullptr, 0, &needed));
  EXPECT_EQ(needed, std::string("life.a\nlife.b\n").size() + 1);
  char small[5] = {'#', '#', '#', '#', '#'};  // too small: truncated, still NUL-terminated
  ASSERT_BF_OK(bf_win_names(small, sizeof(small), &needed));
  EXPECT_EQ(std::string(small), "life");
  EXPECT_EQ(needed, std::string("life.a\nlife.b\n").size() + 1);

  HostTensor& again = Filled({kDLFloat, 32, 1}, {3}, rank);
  EXPECT_EQ(bf_win_create(again.get(), "life.b", 0), BF_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(HasText(bf_last_error(), "life.b")) << bf_last_error();

  // Neighbor buffers start as copies of the tensor, or zeros; versions start at 0.
  for (int s : in) {
    const std::vector<double> copy = ReadBuffer("life.b", b, s);
    const std::vector<double> zero = ReadBuffer("life.a", a, s);
    for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(copy[i], Value(rank, i)) << "copy for " << s;
    for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(zero[i], 0.0) << "zero for " << s;
  }
  for (int v : Versions("life.b")) EXPECT_EQ(v, 0);
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(b.Get(i), Value(rank, i)) << "tensor touched";

  ASSERT_BF_OK(bf_win_free("life.a"));
  EXPECT_EQ(Names(), "life.b\n");
  EXPECT_EQ(bf_win_free("life.a"), BF_ERR_INVALID_ARGUMENT) << "freed twice";
  EXPECT_TRUE(HasText(bf_last_error(), "life.a")) << bf_last_error();
  // The name is free again and the window works after re-creation.
  ASSERT_BF_OK(bf_win_create(a.get(), "life.a", 0));
  EXPECT_EQ(Names(), "life.a\nlife.b\n");
  ASSERT_BF_OK(bf_win_free(nullptr));
  EXPECT_EQ(Names(), "");
  ASSERT_BF_OK(bf_win_free(nullptr)) << "freeing all of no windows";
}

TEST_F(Window, TopologyCannotChangeWhileAWindowExists) {
  HostTensor& t = Filled({kDLFloat, 32, 1}, {4}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), "topo.held", 0));
  bf_topology* ring = nullptr;
  ASSERT_BF_OK(bf_topology_ring(size, BF_RING_BIDIRECTIONAL, &ring));
  EXPECT_EQ(bf_set_topology(ring, 0), BF_ERR_IN_PROGRESS);
  const std::string message = bf_last_error();
  EXPECT_TRUE(HasText(message, "topo.held") || HasText(message, "window")) << message;
  ASSERT_BF_OK(bf_win_free("topo.held"));
  EXPECT_BF_OK(bf_set_topology(ring, 0)) << "allowed again once no window exists";
  bf_topology_free(ring);
}

TEST_F(Window, RanksDisagreeingOnShapeOrDtypeFailEverywhere) {
  if (size < 2) GTEST_SKIP() << "needs 2 ranks";
  HostTensor& t = Filled({kDLFloat, 32, 1}, {rank == 0 ? 4 : 5}, rank);
  EXPECT_EQ(bf_win_create(t.get(), "disagree.shape", 0), BF_ERR_MISMATCH);
  HostTensor& u =
      Filled(rank == 0 ? DLDataType{kDLFloat, 64, 1} : DLDataType{kDLFloat, 32, 1}, {4}, rank);
  EXPECT_EQ(bf_win_create(u.get(), "disagree.dtype", 0), BF_ERR_MISMATCH);
  EXPECT_EQ(Names(), "") << "a failed create leaves no window";
  EXPECT_BF_OK(bf_barrier());
  HostTensor& v = Filled({kDLFloat, 32, 1}, {4}, rank);
  EXPECT_BF_OK(bf_win_create(v.get(), "disagree.shape", 0)) << "the name is still free";
  EXPECT_BF_OK(bf_win_free("disagree.shape"));
}

// free waits for this rank's own operations on the window first.
TEST_F(Window, FreeWaitsForOwnOperations) {
  HostTensor& t = Filled({kDLFloat, 32, 1}, {1 << 16}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), "free.waits", 1));
  bf_handle put = 0, get = 0;
  ASSERT_BF_OK(bf_win_put_async(t.get(), "free.waits", nullptr, &put));
  ASSERT_BF_OK(bf_win_get_async("free.waits", nullptr, &get));
  ASSERT_BF_OK(bf_win_free("free.waits"));
  int done = 0;
  EXPECT_BF_OK(bf_poll(put, &done));
  EXPECT_EQ(done, 1) << "put still in flight after its window was freed";
  EXPECT_BF_OK(bf_poll(get, &done));
  EXPECT_EQ(done, 1) << "get still in flight after its window was freed";
  EXPECT_BF_OK(bf_wait(put, 60000));
  EXPECT_BF_OK(bf_wait(get, 60000));
  EXPECT_BF_OK(bf_handle_free(put));
  EXPECT_BF_OK(bf_handle_free(get));
}

// ---------------------------------------------------------------------------------------------
// put / accumulate / get for every window dtype.

class WindowDtype : public Window, public ::testing::WithParamInterface<DLDataType> {};

TEST_P(WindowDtype, PutReplacesWithWeightsThenScalesTheTensor) {
  const DLDataType type = GetParam();
  const bool integer = IsInteger(type);
  const std::string name = "put." + TypeName(type);
  HostTensor& t = Filled(type, {3, 5}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), name.c_str(), 1));
  auto weight = [&](int from, int to) { return integer ? 1.0 : Weight(from, to); };
  const double self = integer ? 1.0 : 0.5;

  std::vector<double> weights;
  for (int d : out) weights.push_back(weight(rank, d));
  WinOp op;
  op.Ranks(out, weights).Self(self);
  ASSERT_BF_OK(bf_win_put(t.get(), name.c_str(), op.get()));
  for (int64_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(t.Get(i), self * Value(rank, i)) << "tensor *= self_weight " << TypeName(type);
  }
  ASSERT_BF_OK(bf_barrier());  // every put has completed, so it has landed
  std::vector<int> versions = Versions(name);
  for (size_t k = 0; k < in.size(); ++k) EXPECT_EQ(versions[k], 1) << "from " << in[k];
  for (int s : in) {
    const std::vector<double> buffer = ReadBuffer(name, t, s);
    for (int64_t i = 0; i < t.size(); ++i) {
      const double expected = weight(s, rank) * Value(s, i);
      EXPECT_NEAR(buffer[i], expected, Tolerance(type, expected))
          << TypeName(type) << " from " << s;
    }
  }
  for (int v : Versions(name)) EXPECT_EQ(v, 0) << "reading a buffer resets its version";
  ASSERT_BF_OK(bf_barrier());

  // A second put from another tensor, to the first out-neighbor only, default weight: it replaces
  // what was there, scales only the tensor passed, and leaves the other buffers alone.
  HostTensor& other = Filled(type, {3, 5}, rank, 20);
  WinOp first;
  first.Ranks(out.empty() ? std::vector<int>{} : std::vector<int>{out.front()});
  if (!integer) first.Self(0.5);
  ASSERT_BF_OK(bf_win_put(other.get(), name.c_str(), first.get()));
  for (int64_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(t.Get(i), self * Value(rank, i)) << "window tensor changed by another's put";
    EXPECT_EQ(other.Get(i), (integer ? 1.0 : 0.5) * (Value(rank, i) + 20));
  }
  ASSERT_BF_OK(bf_barrier());
  versions = Versions(name);
  for (size_t k = 0; k < in.size(); ++k) {
    const int s = in[k];
    const bool replaced = Exp2OutNeighbors(s, size).front() == rank;
    EXPECT_EQ(versions[k], replaced ? 1 : 0) << "from " << s;
    const std::vector<double> buffer = ReadBuffer(name, t, s);
    for (int64_t i = 0; i < t.size(); ++i) {
      const double expected = replaced ? Value(s, i) + 20 : weight(s, rank) * Value(s, i);
      EXPECT_NEAR(buffer[i], expected, Tolerance(type, expected))
          << TypeName(type) << " from " << s;
    }
  }
  ASSERT_BF_OK(bf_barrier());
  EXPECT_BF_OK(bf_win_free(name.c_str()));
}

TEST_P(WindowDtype, AccumulateAddsToTheInitialCopy) {
  const DLDataType type = GetParam();
  const bool integer = IsInteger(type);
  const std::string name = "acc." + TypeName(type);
  HostTensor& t = Filled(type, {3, 5}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), name.c_str(), 0));  // buffers start as Value(rank)
  auto weight = [&](int from, int to) { return integer ? 1.0 : Weight(from, to); };
  std::vector<double> weights;
  for (int d : out) weights.push_back(weight(rank, d));
  for (int repeat = 0; repeat < 2; ++repeat) {
    WinOp op;
    op.Ranks(out, weights);
    if (!integer) op.Self(0.5);
    ASSERT_BF_OK(bf_win_accumulate(t.get(), name.c_str(), op.get()));
  }
  const double self_total = integer ? 1.0 : 0.25;
  const double sent_total = integer ? 2.0 : 1.5;  // w * T + w * (0.5 T)
  for (int64_t i = 0; i < t.size(); ++i) EXPECT_EQ(t.Get(i), self_total * Value(rank, i));
  ASSERT_BF_OK(bf_barrier());
  const std::vector<int> versions = Versions(name);
  for (size_t k = 0; k < in.size(); ++k) EXPECT_EQ(versions[k], 2) << "from " << in[k];
  for (int s : in) {
    const std::vector<double> buffer = ReadBuffer(name, t, s);
    for (int64_t i = 0; i < t.size(); ++i) {
      const double expected = Value(rank, i) + sent_total * weight(s, rank) * Value(s, i);
      EXPECT_NEAR(buffer[i], expected, Tolerance(type, expected))
          << TypeName(type) << " from " << s;
    }
  }
  ASSERT_BF_OK(bf_barrier());
  EXPECT_BF_OK(bf_win_free(name.c_str()));
}

TEST_P(WindowDtype, GetFetchesWeightedSourceTensors) {
  const DLDataType type = GetParam();
  const bool integer = IsInteger(type);
  const std::string name = "get." + TypeName(type);
  HostTensor& t = Filled(type, {3, 5}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), name.c_str(), 1));
  std::vector<double> weights;
  for (int s : in) weights.push_back(integer ? 1.0 : Weight(rank, s));
  WinOp op;
  op.Ranks(in, weights);
  ASSERT_BF_OK(bf_win_get(name.c_str(), op.get()));
  std::vector<int> versions = Versions(name);
  for (size_t k = 0; k < in.size(); ++k) EXPECT_EQ(versions[k], 1) << "get from " << in[k];
  for (size_t k = 0; k < in.size(); ++k) {
    const std::vector<double> buffer = ReadBuffer(name, t, in[k]);
    for (int64_t i = 0; i < t.size(); ++i) {
      const double expected = weights[k] * Value(in[k], i);
      EXPECT_NEAR(buffer[i], expected, Tolerance(type, expected))
          << TypeName(type) << " from " << in[k];
    }
  }
  // Defaults: every in-neighbor, weight 1. The tensor itself never changes.
  ASSERT_BF_OK(bf_win_get(name.c_str(), nullptr));
  versions = Versions(name);
  for (size_t k = 0; k < in.size(); ++k) EXPECT_EQ(versions[k], 1) << "get from " << in[k];
  for (int s : in) {
    const std::vector<double> buffer = ReadBuffer(name, t, s);
    for (int64_t i = 0; i < t.size(); ++i) EXPECT_EQ(buffer[i], Value(s, i)) << "from " << s;
  }
  for (int64_t i = 0; i < t.size(); ++i) EXPECT_EQ(t.Get(i), Value(rank, i));
  ASSERT_BF_OK(bf_barrier());  // nobody frees while a neighbor still reads its tensor
  EXPECT_BF_OK(bf_win_free(name.c_str()));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, WindowDtype, ::testing::ValuesIn(WindowTypes()),
                         [](const auto& info) { return TypeName(info.param); });

// Every async form gives a handle that completes, polls done, and frees once.
TEST_F(Window, AsyncFormsAndVersionsCountEveryTransfer) {
  HostTensor& t = Filled({kDLFloat, 64, 1}, {6}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), "async", 1));
  bf_handle handles[3] = {0, 0, 0};
  ASSERT_BF_OK(bf_win_put_async(t.get(), "async", nullptr, &handles[0]));
  ASSERT_BF_OK(bf_wait(handles[0], 60000));
  ASSERT_BF_OK(bf_win_accumulate_async(t.get(), "async", nullptr, &handles[1]));
  ASSERT_BF_OK(bf_wait(handles[1], 60000));
  ASSERT_BF_OK(bf_win_get_async("async", nullptr, &handles[2]));
  ASSERT_BF_OK(bf_wait(handles[2], 60000));
  for (bf_handle handle : handles) {
    EXPECT_NE(handle, 0u);
    int done = 0;
    EXPECT_BF_OK(bf_poll(handle, &done));
    EXPECT_EQ(done, 1);
    EXPECT_BF_OK(bf_handle_free(handle));
    EXPECT_EQ(bf_handle_free(handle), BF_ERR_INVALID_ARGUMENT) << "freed twice";
  }
  ASSERT_BF_OK(bf_barrier());
  // At the target: one put and one accumulate from each in-neighbor; at the origin: one get.
  for (int v : Versions("async")) EXPECT_EQ(v, 3);
  if (!in.empty()) {  // a capacity below the count writes that many and still counts them all
    int first_rank = -1, first_version = -1, count = 0;
    ASSERT_BF_OK(bf_win_versions("async", &first_rank, &first_version, 1, &count));
    EXPECT_EQ(count, static_cast<int>(in.size()));
    EXPECT_EQ(first_rank, in.front());
    EXPECT_EQ(first_version, 3);
  }
  ASSERT_BF_OK(bf_barrier());

  // Extra puts per sender (1 + sender % 3), then an update that reads only the first buffer.
  for (int k = 0; k < 1 + rank % 3; ++k) ASSERT_BF_OK(bf_win_put(t.get(), "async", nullptr));
  ASSERT_BF_OK(bf_barrier());
  std::vector<int> versions = Versions("async");
  for (size_t k = 0; k < in.size(); ++k) EXPECT_EQ(versions[k], 3 + 1 + in[k] % 3);
  if (!in.empty()) {
    HostTensor scratch({kDLFloat, 64, 1}, {6});
    WinUpdate first;
    first.Weights(1.0, {in.front()});
    ASSERT_BF_OK(bf_win_update("async", first.get(), scratch.get()));
    versions = Versions("async");
    for (size_t k = 0; k < in.size(); ++k) {
      EXPECT_EQ(versions[k], k == 0 ? 0 : 3 + 1 + in[k] % 3) << "from " << in[k];
    }
  }
  ASSERT_BF_OK(bf_win_update("async", nullptr, nullptr));
  for (int v : Versions("async")) EXPECT_EQ(v, 0) << "a default update reads every buffer";
  ASSERT_BF_OK(bf_barrier());
}

// Two transfers on one window may be in flight together.
TEST_F(Window, TwoAsyncTransfersOnOneWindowInFlight) {
  HostTensor& t = Filled({kDLFloat, 32, 1}, {5}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), "two", 1));
  bf_handle put = 0, acc = 0;
  ASSERT_BF_OK(bf_win_put_async(t.get(), "two", nullptr, &put));
  ASSERT_BF_OK(bf_win_accumulate_async(t.get(), "two", nullptr, &acc));
  EXPECT_BF_OK(bf_wait(put, 60000));
  EXPECT_BF_OK(bf_wait(acc, 60000));
  EXPECT_BF_OK(bf_handle_free(put));
  EXPECT_BF_OK(bf_handle_free(acc));
  ASSERT_BF_OK(bf_barrier());
  // The put and the accumulate of the same values land in either order: 2 Value (accumulate
  // last) or Value (put last, replacing).
  for (int s : in) {
    const std::vector<double> buffer = ReadBuffer("two", t, s);
    const bool doubled = buffer[0] == 2 * Value(s, 0);
    for (int64_t i = 0; i < 5; ++i) {
      EXPECT_EQ(buffer[i], (doubled ? 2 : 1) * Value(s, i)) << "from " << s;
    }
  }
  for (int v : Versions("two")) EXPECT_EQ(v, 0);
  ASSERT_BF_OK(bf_barrier());
}

// One rank's puts to a neighbor land in the order it issued them, whichever way they travel
// (messages, or same-machine writes from the engine and, for a blocking put with nothing else
// under way, from the caller's thread): the last one wins, and each one counts.
TEST_F(Window, PutsLandInIssueOrderAsyncThenBlocking) {
  constexpr int kAsyncPuts = 20;
  HostTensor& t = Filled({kDLFloat, 32, 1}, {3000}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), "order", 1));
  std::vector<HostTensor*> sent;
  std::vector<bf_handle> handles;
  for (int k = 1; k <= kAsyncPuts; ++k) {
    sent.push_back(&Filled({kDLFloat, 32, 1}, {3000}, rank, 1000.0 * k));
    bf_handle handle = 0;
    ASSERT_BF_OK(bf_win_put_async(sent.back()->get(), "order", nullptr, &handle));
    handles.push_back(handle);
  }
  HostTensor& last = Filled({kDLFloat, 32, 1}, {3000}, rank, -1.0);
  ASSERT_BF_OK(bf_win_put(last.get(), "order", nullptr));  // after the async ones
  for (bf_handle handle : handles) {
    EXPECT_BF_OK(bf_wait(handle, 60000));
    EXPECT_BF_OK(bf_handle_free(handle));
  }
  ASSERT_BF_OK(bf_barrier());
  for (int v : Versions("order")) EXPECT_EQ(v, kAsyncPuts + 1);
  for (int s : in) {
    const std::vector<double> buffer = ReadBuffer("order", t, s);  // resets its version
    for (int64_t i = 0; i < 3000; i += 299) {
      EXPECT_EQ(buffer[i], Value(s, i) - 1.0) << "from " << s << " at " << i;
    }
  }
  ASSERT_BF_OK(bf_barrier());
  HostTensor& again = Filled({kDLFloat, 32, 1}, {3000}, rank, -2.0);
  ASSERT_BF_OK(bf_win_put(again.get(), "order", nullptr));  // nothing under way now
  ASSERT_BF_OK(bf_barrier());
  for (int v : Versions("order")) EXPECT_EQ(v, 1);
  for (int s : in) {
    const std::vector<double> buffer = ReadBuffer("order", t, s);
    for (int64_t i = 0; i < 3000; i += 299) {
      EXPECT_EQ(buffer[i], Value(s, i) - 2.0) << "from " << s << " at " << i;
    }
  }
  ASSERT_BF_OK(bf_barrier());
}

// ---------------------------------------------------------------------------------------------
// update and update_then_collect.

TEST_F(Window, UpdateDefaultIsUniformOverTheInNeighbors) {
  for (const DLDataType type : FloatTypes()) {
    const std::string name = "update.uniform." + TypeName(type);
    HostTensor& t = Filled(type, {4, 3}, rank);
    ASSERT_BF_OK(bf_win_create(t.get(), name.c_str(), 1));
    ASSERT_BF_OK(bf_win_put(t.get(), name.c_str(), nullptr));
    ASSERT_BF_OK(bf_barrier());
    ASSERT_BF_OK(bf_win_update(name.c_str(), nullptr, nullptr));
    for (int64_t i = 0; i < t.size(); ++i) {
      double expected = Value(rank, i);
      for (int s : in) expected += Value(s, i);
      expected /= static_cast<double>(in.size() + 1);
      EXPECT_NEAR(t.Get(i), expected, Tolerance(type, expected)) << TypeName(type);
    }
    for (int v : Versions(name)) EXPECT_EQ(v, 0);
    for (int s : in) {  // no reset: the buffers keep what was put
      const std::vector<double> buffer = ReadBuffer(name, t, s);
      for (int64_t i = 0; i < t.size(); ++i) EXPECT_EQ(buffer[i], Value(s, i)) << TypeName(type);
    }
    ASSERT_BF_OK(bf_barrier());
    ASSERT_BF_OK(bf_win_free(name.c_str()));
  }
}

TEST_F(Window, UpdateExplicitWeightsCloneAndReset) {
  const DLDataType type{kDLFloat, 64, 1};
  HostTensor& t = Filled(type, {7}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), "update.explicit", 0));
  ASSERT_BF_OK(bf_win_put(t.get(), "update.explicit", nullptr));
  ASSERT_BF_OK(bf_barrier());

  // Clone: all in-neighbors but the last, weights NULL (1.0): out gets it, the tensor does not.
  std::vector<int> subset = in;
  if (!subset.empty()) subset.pop_back();
  HostTensor& clone = Tensor(type, {7});
  WinUpdate partial;
  partial.Weights(0.25, subset);
  ASSERT_BF_OK(bf_win_update("update.explicit", partial.get(), clone.get()));
  for (int64_t i = 0; i < 7; ++i) {
    double expected = 0.25 * Value(rank, i);
    for (int s : subset) expected += Value(s, i);
    EXPECT_DOUBLE_EQ(clone.Get(i), expected);
    EXPECT_EQ(t.Get(i), Value(rank, i)) << "clone changed the window's tensor";
  }
  std::vector<int> versions = Versions("update.explicit");
  for (size_t k = 0; k < in.size(); ++k) {
    EXPECT_EQ(versions[k], Contains(subset, in[k]) ? 0 : 1) << "from " << in[k];
  }

  // In place with per-rank weights and reset: the buffers read are zero afterwards.
  std::vector<double> weights;
  for (int s : in) weights.push_back(Weight(s, rank));
  WinUpdate weighted;
  weighted.Weights(0.5, in, weights).Reset();
  ASSERT_BF_OK(bf_win_update("update.explicit", weighted.get(), nullptr));
  std::vector<double> expected(7);
  for (int64_t i = 0; i < 7; ++i) {
    expected[i] = 0.5 * Value(rank, i);
    for (int s : in) expected[i] += Weight(s, rank) * Value(s, i);
    EXPECT_DOUBLE_EQ(t.Get(i), expected[i]);
  }
  for (int v : Versions("update.explicit")) EXPECT_EQ(v, 0);
  for (int s : in) {
    for (double value : ReadBuffer("update.explicit", t, s)) EXPECT_EQ(value, 0.0) << "reset";
  }
  // Zero buffers add nothing; an empty rank list is just the self weight.
  WinUpdate ones;
  ones.Weights(1.0, in);
  ASSERT_BF_OK(bf_win_update("update.explicit", ones.get(), nullptr));
  for (int64_t i = 0; i < 7; ++i) EXPECT_DOUBLE_EQ(t.Get(i), expected[i]);
  WinUpdate only_self;
  only_self.Weights(2.0, {});
  ASSERT_BF_OK(bf_win_update("update.explicit", only_self.get(), nullptr));
  for (int64_t i = 0; i < 7; ++i) EXPECT_DOUBLE_EQ(t.Get(i), 2.0 * expected[i]);
  ASSERT_BF_OK(bf_barrier());
}

// Without weights, an update of a window created under a weighted topology uses its W.
TEST_F(Window, UpdateDefaultUsesTheWeightedTopology) {
  std::vector<double> w(static_cast<size_t>(size) * size, 0.0);
  for (int j = 0; j < size; ++j) {
    w[j * size + j] = 0.5;
    for (int i : Exp2InNeighbors(j, size)) w[i * size + j] = 0.25 + 0.125 * ((i + j) % 3);
  }
  bf_topology* weighted = nullptr;
  ASSERT_BF_OK(bf_topology_from_matrix(size, w.data(), &weighted));
  ASSERT_BF_OK(bf_set_topology(weighted, 1));
  bf_topology_free(weighted);
  HostTensor& t = Filled({kDLFloat, 64, 1}, {5}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), "update.weighted", 1));
  ASSERT_BF_OK(bf_win_put(t.get(), "update.weighted", nullptr));
  ASSERT_BF_OK(bf_barrier());
  ASSERT_BF_OK(bf_win_update("update.weighted", nullptr, nullptr));
  for (int64_t i = 0; i < 5; ++i) {
    double expected = 0;
    for (int j = 0; j < size; ++j) expected += w[j * size + rank] * Value(j, i);
    EXPECT_DOUBLE_EQ(t.Get(i), expected);
  }
  ASSERT_BF_OK(bf_barrier());
  ASSERT_BF_OK(bf_win_free("update.weighted"));
}

TEST_F(Window, IntegerWindowsUpdateWithUnitWeightsOnly) {
  for (const DLDataType type : {DLDataType{kDLInt, 32, 1}, DLDataType{kDLInt, 64, 1}}) {
    const std::string name = "update.int." + TypeName(type);
    HostTensor& t = Filled(type, {6}, rank);
    ASSERT_BF_OK(bf_win_create(t.get(), name.c_str(), 1));
    ASSERT_BF_OK(bf_win_put(t.get(), name.c_str(), nullptr));
    ASSERT_BF_OK(bf_barrier());
    WinUpdate half;
    half.Weights(1.0, in, std::vector<double>(in.size(), 0.5));
    if (!in.empty()) {
      EXPECT_EQ(bf_win_update(name.c_str(), half.get(), nullptr), BF_ERR_INVALID_ARGUMENT);
    }
    WinUpdate half_self;
    half_self.Weights(0.5, in);
    EXPECT_EQ(bf_win_update(name.c_str(), half_self.get(), nullptr), BF_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(HasText(bf_last_error(), "weight")) << bf_last_error();
    // The default weights are 1/(in-degree+1): 1 only without neighbors.
    EXPECT_EQ(bf_win_update(name.c_str(), nullptr, nullptr),
              in.empty() ? BF_OK : BF_ERR_INVALID_ARGUMENT)
        << bf_last_error();
    for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(t.Get(i), Value(rank, i)) << "refused update wrote";
    WinUpdate sum;
    sum.Weights(1.0, in).Reset();
    ASSERT_BF_OK(bf_win_update(name.c_str(), sum.get(), nullptr));
    for (int64_t i = 0; i < 6; ++i) {
      double expected = Value(rank, i);
      for (int s : in) expected += Value(s, i);
      EXPECT_EQ(t.Get(i), expected) << TypeName(type);
    }
    ASSERT_BF_OK(bf_barrier());
    ASSERT_BF_OK(bf_win_free(name.c_str()));
  }
}

TEST_F(Window, UpdateThenCollectAddsAndZeroesEveryBuffer) {
  const DLDataType type{kDLFloat, 32, 1};
  HostTensor& t = Filled(type, {9}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), "collect", 1));
  ASSERT_BF_OK(bf_win_accumulate(t.get(), "collect", nullptr));
  ASSERT_BF_OK(bf_win_accumulate(t.get(), "collect", nullptr));
  ASSERT_BF_OK(bf_barrier());
  ASSERT_BF_OK(bf_win_update_then_collect("collect", 0));
  for (int64_t i = 0; i < 9; ++i) {
    double expected = Value(rank, i);
    for (int s : in) expected += 2 * Value(s, i);
    EXPECT_EQ(t.Get(i), expected);
  }
  for (int s : in) {
    for (double value : ReadBuffer("collect", t, s)) EXPECT_EQ(value, 0.0) << "not zeroed";
  }
  // Buffers that start as copies are collected too; require_mutex takes the path with mutexes.
  HostTensor& u = Filled(type, {9}, rank);
  ASSERT_BF_OK(bf_win_create(u.get(), "collect.copies", 0));
  ASSERT_BF_OK(bf_win_update_then_collect("collect.copies", 1));
  for (int64_t i = 0; i < 9; ++i) {
    EXPECT_EQ(u.Get(i), static_cast<double>(in.size() + 1) * Value(rank, i));
  }
  ASSERT_BF_OK(bf_barrier());
  ASSERT_BF_OK(bf_win_free(nullptr));
}

// ---------------------------------------------------------------------------------------------
// Associated p.

// Rank r's p after the phases of AssociatedPFollowsTheTensorWeights, from the closed form.
double PAfterUpdates(int r, int size) {
  const std::vector<int> sources = Exp2InNeighbors(r, size);
  double p = 0.5 * 0.25;  // self weight 0.5 on p = 1 * 0.5 * 0.5
  for (int s : sources) p += 0.5 * (Weight(s, r) + 0.125);
  return p / static_cast<double>(sources.size() + 1);  // then a uniform update of zero slots
}

TEST_F(Window, AssociatedPFollowsTheTensorWeights) {
  int enabled = -1;
  ASSERT_BF_OK(bf_get_win_associated_p(&enabled));
  EXPECT_EQ(enabled, 0) << "off by default";
  const DLDataType type{kDLFloat, 64, 1};

  // Off: self weights scale only the tensor.
  HostTensor& off = Filled(type, {3}, rank);
  ASSERT_BF_OK(bf_win_create(off.get(), "p.off", 1));
  WinOp halve;
  halve.Self(0.5);
  ASSERT_BF_OK(bf_win_put(off.get(), "p.off", halve.get()));
  double p = -1;
  ASSERT_BF_OK(bf_win_associated_p("p.off", &p));
  EXPECT_EQ(p, 1.0);

  ASSERT_BF_OK(bf_set_win_associated_p(1));
  ASSERT_BF_OK(bf_get_win_associated_p(&enabled));
  EXPECT_EQ(enabled, 1);
  HostTensor& t = Filled(type, {3}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), "p.on", 1));
  ASSERT_BF_OK(bf_win_associated_p("p.on", &p));
  EXPECT_EQ(p, 1.0);
  // put: slot at d = W(rank, d) * 1; accumulate adds 0.25 * 0.5; my p = 1 * 0.5 * 0.5.
  std::vector<double> weights;
  for (int d : out) weights.push_back(Weight(rank, d));
  WinOp put;
  put.Ranks(out, weights).Self(0.5);
  ASSERT_BF_OK(bf_win_put(t.get(), "p.on", put.get()));
  ASSERT_BF_OK(bf_win_associated_p("p.on", &p));
  EXPECT_EQ(p, 0.5);
  WinOp acc;
  acc.Ranks(out, std::vector<double>(out.size(), 0.25)).Self(0.5);
  ASSERT_BF_OK(bf_win_accumulate(t.get(), "p.on", acc.get()));
  ASSERT_BF_OK(bf_win_associated_p("p.on", &p));
  EXPECT_EQ(p, 0.25);
  ASSERT_BF_OK(bf_barrier());

  // update: p = 0.5 p + sum 0.5 p_s, with the same weights as the tensor; reset zeroes slots.
  WinUpdate half;
  half.Weights(0.5, in, std::vector<double>(in.size(), 0.5)).Reset();
  ASSERT_BF_OK(bf_win_update("p.on", half.get(), nullptr));
  double expected_p = 0.5 * 0.25;
  for (int s : in) expected_p += 0.5 * (Weight(s, rank) + 0.125);
  ASSERT_BF_OK(bf_win_associated_p("p.on", &p));
  EXPECT_DOUBLE_EQ(p, expected_p);
  for (int64_t i = 0; i < 3; ++i) {  // buffers hold p_s * Value(s): x/p is the average of Values
    double expected = 0.5 * 0.25 * Value(rank, i);
    for (int s : in) expected += 0.5 * (Weight(s, rank) + 0.125) * Value(s, i);
    EXPECT_DOUBLE_EQ(t.Get(i), expected);
  }
  WinUpdate ones;
  ones.Weights(1.0, in);
  ASSERT_BF_OK(bf_win_update("p.on", ones.get(), nullptr));
  ASSERT_BF_OK(bf_win_associated_p("p.on", &p));
  EXPECT_DOUBLE_EQ(p, expected_p) << "the reset slots still held p";
  ASSERT_BF_OK(bf_win_update("p.on", nullptr, nullptr));  // uniform over zero slots
  ASSERT_BF_OK(bf_win_associated_p("p.on", &p));
  EXPECT_DOUBLE_EQ(p, PAfterUpdates(rank, size));
  ASSERT_BF_OK(bf_barrier());

  // accumulate without a self weight sends p and keeps it; collect adds the slots and zeroes them.
  ASSERT_BF_OK(bf_win_accumulate(t.get(), "p.on", nullptr));
  ASSERT_BF_OK(bf_win_associated_p("p.on", &p));
  EXPECT_DOUBLE_EQ(p, PAfterUpdates(rank, size));
  ASSERT_BF_OK(bf_barrier());
  ASSERT_BF_OK(bf_win_update_then_collect("p.on", 0));
  expected_p = PAfterUpdates(rank, size);
  for (int s : in) expected_p += PAfterUpdates(s, size);
  ASSERT_BF_OK(bf_win_associated_p("p.on", &p));
  EXPECT_NEAR(p, expected_p, 1e-14) << "update_then_collect collects p";
  ASSERT_BF_OK(bf_win_update("p.on", ones.get(), nullptr));
  ASSERT_BF_OK(bf_win_associated_p("p.on", &p));
  EXPECT_NEAR(p, expected_p, 1e-14) << "update_then_collect zeroes the p slots";

  // Turned off again: the existing window keeps its p, operations stop changing it.
  ASSERT_BF_OK(bf_set_win_associated_p(0));
  ASSERT_BF_OK(bf_win_put(t.get(), "p.on", halve.get()));
  double after = -1;
  ASSERT_BF_OK(bf_win_associated_p("p.on", &after));
  EXPECT_EQ(after, p);
  ASSERT_BF_OK(bf_barrier());
}

// ---------------------------------------------------------------------------------------------
// Mutexes.

// One-sided means the target's caller takes no part: rank 0 computes (no BlueFog call at all)
// while its neighbors put to it and get from it, and their transfers finish long before it
// returns, served by rank 0's engine thread.
TEST_F(Window, BusyTargetStillServesPutsAndGets) {
  if (size < 2) GTEST_SKIP() << "needs a peer";
  using Clock = std::chrono::steady_clock;
  constexpr auto kBusy = std::chrono::milliseconds(3000);
  constexpr auto kDeadline = std::chrono::milliseconds(2000);
  HostTensor& t = Filled({kDLFloat, 64, 1}, {1000}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), "busy", 1));
  ASSERT_BF_OK(bf_barrier());
  const auto start = Clock::now();
  if (rank == 0) {
    volatile double sink = 0;
    while (Clock::now() - start < kBusy) sink = sink + 1.0;  // computing, not calling BlueFog
  } else {
    const int zero = 0;
    bf_win_op_args to_zero{};
    to_zero.struct_size = sizeof(to_zero);
    to_zero.has_ranks = 1;
    to_zero.count = 1;
    to_zero.ranks = &zero;
    if (std::count(out.begin(), out.end(), 0)) {
      ASSERT_BF_OK(bf_win_put(t.get(), "busy", &to_zero));
    }
    if (std::count(in.begin(), in.end(), 0)) {
      ASSERT_BF_OK(bf_win_get("busy", &to_zero));
    }
    const auto took = Clock::now() - start;
    EXPECT_LT(took, kDeadline) << "rank " << rank << "'s transfers with busy rank 0 took "
                               << std::chrono::duration<double>(took).count() << " s";
  }
  ASSERT_BF_OK(bf_barrier());
  // What the transfers left: rank 0's buffer for each sender holds that sender's tensor, and a
  // getter's buffer for rank 0 holds rank 0's.
  for (int s : in) {
    const std::vector<int> senders_out = Exp2OutNeighbors(s, size);
    const bool moved =
        rank == 0 ? std::count(senders_out.begin(), senders_out.end(), 0) > 0 : s == 0;
    if (!moved) continue;
    EXPECT_EQ(ReadBuffer("busy", t, s)[999], Value(s, 999)) << "buffer for " << s;
  }
  ASSERT_BF_OK(bf_barrier());
  ASSERT_BF_OK(bf_win_free("busy"));
}

TEST_F(Window, MutexAcquireReleaseAndReleasingOneNotHeld) {
  HostTensor& t = Filled({kDLFloat, 32, 1}, {4}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), "mutex.basic", 0));
  // Default ranks (the out-neighbors), not for self: mutex (d, rank) at each out-neighbor d.
  ASSERT_BF_OK(bf_win_mutex_acquire("mutex.basic", nullptr, 0, 0));
  ASSERT_BF_OK(bf_win_mutex_release("mutex.basic", nullptr, 0, 0));
  if (!in.empty()) {
    ASSERT_BF_OK(bf_win_mutex_acquire("mutex.basic", in.data(), static_cast<int>(in.size()), 1));
    ASSERT_BF_OK(bf_win_mutex_release("mutex.basic", in.data(), static_cast<int>(in.size()), 1));
    EXPECT_EQ(bf_win_mutex_release("mutex.basic", in.data(), static_cast<int>(in.size()), 1),
              BF_ERR_INVALID_ARGUMENT)
        << "released twice";
    const std::string message = bf_last_error();
    EXPECT_TRUE(HasText(message, "held") || HasText(message, "hold")) << message;
    EXPECT_EQ(bf_win_mutex_release("mutex.basic", out.data(), 1, 0), BF_ERR_INVALID_ARGUMENT)
        << "never acquired";
  }
  // Transfers and updates that take the mutexes complete when nobody else holds them.
  WinOp locked;
  locked.Mutex();
  ASSERT_BF_OK(bf_win_put(t.get(), "mutex.basic", locked.get()));
  ASSERT_BF_OK(bf_win_accumulate(t.get(), "mutex.basic", locked.get()));
  ASSERT_BF_OK(bf_win_get("mutex.basic", locked.get()));
  WinUpdate update;
  update.Mutex();
  ASSERT_BF_OK(bf_win_update("mutex.basic", update.get(), nullptr));
  ASSERT_BF_OK(bf_barrier());
}

// Rank 0 holds its own mutexes for its in-neighbors: their puts that require the mutex wait.
TEST_F(Window, MutexForSelfHoldsBackNeighborsPuts) {
  if (size < 2) GTEST_SKIP() << "needs 2 ranks";
  HostTensor& t = Filled({kDLFloat, 32, 1}, {8}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), "mutex.self", 1));
  const std::vector<int> senders = Exp2InNeighbors(0, size);
  const bool sender = Contains(senders, rank);
  if (rank == 0) {
    ASSERT_BF_OK(
        bf_win_mutex_acquire("mutex.self", senders.data(), static_cast<int>(senders.size()), 1));
  }
  ASSERT_BF_OK(bf_barrier());
  bf_handle handle = 0;
  if (sender) {
    WinOp to_zero;
    to_zero.Ranks({0}).Mutex();
    ASSERT_BF_OK(bf_win_put_async(t.get(), "mutex.self", to_zero.get(), &handle));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    int done = 1;
    EXPECT_BF_OK(bf_poll(handle, &done));
    EXPECT_EQ(done, 0) << "put completed while rank 0 held the mutex";
    EXPECT_EQ(bf_wait(handle, 0), BF_ERR_TIMEOUT);
  }
  ASSERT_BF_OK(bf_barrier());
  if (rank == 0) {
    for (int s : senders) {
      for (double value : ReadBuffer("mutex.self", t, s)) {
        EXPECT_EQ(value, 0.0) << "rank " << s << " wrote while the mutex was held";
      }
    }
    ASSERT_BF_OK(
        bf_win_mutex_release("mutex.self", senders.data(), static_cast<int>(senders.size()), 1));
  }
  if (sender) {
    EXPECT_BF_OK(bf_wait(handle, 60000)) << "put never completed after the release";
    EXPECT_BF_OK(bf_handle_free(handle));
  }
  ASSERT_BF_OK(bf_barrier());
  if (rank == 0) {
    for (int s : senders) {
      const std::vector<double> buffer = ReadBuffer("mutex.self", t, s);
      for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(buffer[i], Value(s, i)) << "from " << s;
    }
  }
  ASSERT_BF_OK(bf_barrier());
}

// An in-neighbor j of rank 0 holds mutex (0, j): rank 0's update that requires it waits.
TEST_F(Window, MutexOfAPeerHoldsBackTheOwnersUpdate) {
  if (size < 2) GTEST_SKIP() << "needs 2 ranks";
  HostTensor& t = Filled({kDLFloat, 64, 1}, {4}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), "mutex.peer", 1));
  const int holder = Exp2InNeighbors(0, size).front();
  const int zero = 0;
  if (rank == holder) {
    ASSERT_BF_OK(bf_win_mutex_acquire("mutex.peer", &zero, 1, 0));
  }
  ASSERT_BF_OK(bf_barrier());
  std::atomic<bool> finished{false};
  bf_status update_status = BF_ERR_INTERNAL;
  std::string update_error;
  std::thread updater;
  if (rank == 0) {
    updater = std::thread([&] {
      HostTensor result({kDLFloat, 64, 1}, {4});
      WinUpdate update;
      update.Weights(1.0, {holder}).Mutex();
      update_status = bf_win_update("mutex.peer", update.get(), result.get());
      update_error = bf_last_error();
      finished = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(finished) << "update ran while rank " << holder << " held mutex (0, " << holder
                           << ")";
  }
  EXPECT_BF_OK(bf_barrier());  // not ASSERT: the updater thread must be joined
  if (rank == holder) {
    EXPECT_BF_OK(bf_win_mutex_release("mutex.peer", &zero, 1, 0));
  }
  if (rank == 0) {
    updater.join();
    EXPECT_TRUE(finished);
    EXPECT_EQ(update_status, BF_OK) << update_error;
  }
  ASSERT_BF_OK(bf_barrier());
}

// ---------------------------------------------------------------------------------------------
// Large and odd-sized transfers (split into messages by BLUEFOG_MAX_WIN_SENT_LENGTH when set).

class WindowLarge : public Window {
 protected:
  void Run(const std::string& name, std::vector<int64_t> shape, int64_t stride) {
    HostTensor& t = Tensor({kDLFloat, 32, 1}, shape);
    const int64_t n = t.size();
    auto value = [](int r, int64_t i) { return static_cast<float>((r + 1) * 1000 + i % 4093); };
    float* data = reinterpret_cast<float*>(t.bytes.data());
    for (int64_t i = 0; i < n; ++i) data[i] = value(rank, i);
    ASSERT_BF_OK(bf_win_create(t.get(), name.c_str(), 1));
    auto check = [&](int s, double scale, const char* what) {
      HostTensor buffer({kDLFloat, 32, 1}, shape);
      WinUpdate read;
      read.Weights(0.0, {s});
      ASSERT_BF_OK(bf_win_update(name.c_str(), read.get(), buffer.get()));
      const float* got = reinterpret_cast<const float*>(buffer.bytes.data());
      int64_t wrong = 0, first = -1;
      auto compare = [&](int64_t i) {
        if (got[i] != static_cast<float>(scale * value(s, i))) {
          if (first < 0) first = i;
          ++wrong;
        }
      };
      for (int64_t i = 0; i < n; i += stride) compare(i);
      compare(n - 1);
      EXPECT_EQ(wrong, 0) << what << " from " << s << ": first wrong element " << first;
    };
    // Put with weight 2 (exact), then get with weight 0.5, then accumulate with weight 1.
    WinOp put;
    put.Ranks(out, std::vector<double>(out.size(), 2.0));
    ASSERT_BF_OK(bf_win_put(t.get(), name.c_str(), put.get()));
    ASSERT_BF_OK(bf_barrier());
    for (int s : in) check(s, 2.0, "put");
    ASSERT_BF_OK(bf_barrier());
    WinOp get;
    get.Ranks(in, std::vector<double>(in.size(), 0.5));
    ASSERT_BF_OK(bf_win_get(name.c_str(), get.get()));
    for (int s : in) check(s, 0.5, "get");
    ASSERT_BF_OK(bf_barrier());
    // Onto what the get left (checked above): 0.5 + 1. Each transfer of 64 MiB in 1000-element
    // messages costs seconds, so there is no fresh put first.
    ASSERT_BF_OK(bf_win_accumulate(t.get(), name.c_str(), nullptr));
    ASSERT_BF_OK(bf_barrier());
    for (int s : in) check(s, 1.5, "accumulate onto the get");
    for (int v : Versions(name)) EXPECT_EQ(v, 0);
    ASSERT_BF_OK(bf_barrier());
    ASSERT_BF_OK(bf_win_free(name.c_str()));
  }
};

TEST_F(WindowLarge, OddCube23x23x23) { Run("large.cube", {23, 23, 23}, 1); }

TEST_F(WindowLarge, SixtyFourMebibytes) {
  const char* limit = std::getenv("BLUEFOG_MAX_WIN_SENT_LENGTH");
  if (rank == 0) {
    std::printf("BLUEFOG_MAX_WIN_SENT_LENGTH=%s\n", limit ? limit : "(unset)");
  }
  Run("large.64mib", {int64_t{1} << 24}, 4099);
}

// ---------------------------------------------------------------------------------------------
// Refused arguments: each row expects its status and a message containing one of the parts.

struct BadInput {
  const char* label;
  bf_status expected;
  std::string message_parts;  // one of them, separated by '|'
  std::function<bf_status()> call;
};

TEST_F(Window, RefusedArgumentsNameWhatIsWrong) {
  HostTensor& t = Filled({kDLFloat, 32, 1}, {4}, rank);
  HostTensor& ints = Filled({kDLInt, 32, 1}, {4}, rank);
  ASSERT_BF_OK(bf_win_create(t.get(), "err", 0));
  ASSERT_BF_OK(bf_win_create(ints.get(), "err.int", 0));
  HostTensor& wrong_shape = Filled({kDLFloat, 32, 1}, {5}, rank);
  HostTensor& wrong_dtype = Filled({kDLFloat, 64, 1}, {4}, rank);
  HostTensor& int8 = Filled({kDLInt, 8, 1}, {4}, rank);
  HostTensor& update_out = Tensor({kDLFloat, 32, 1}, {3});

  int outsider_out = -1, outsider_in = -1;  // not me and not a neighbor of that direction
  for (int r = 0; r < size; ++r) {
    if (r != rank && !Contains(out, r)) outsider_out = r;
    if (r != rank && !Contains(in, r)) outsider_in = r;
  }
  const int out_of_range = size + 3, me = rank;
  WinOp range;
  range.Ranks({out_of_range});
  WinOp self;
  self.Ranks({me});
  WinOp duplicate;
  if (!out.empty()) duplicate.Ranks({out[0], out[0]});
  WinOp nan_weight;
  if (!out.empty()) nan_weight.Ranks({out[0]}, {NAN});
  WinOp int_double;
  if (!out.empty()) int_double.Ranks({out[0]}, {2.0});
  WinOp inf_self;
  inf_self.Self(INFINITY);
  bf_win_op_args negative{sizeof(bf_win_op_args)};
  negative.has_ranks = 1;
  negative.count = -1;
  bf_win_op_args null_ranks{sizeof(bf_win_op_args)};
  null_ranks.has_ranks = 1;
  null_ranks.count = 2;
  WinOp not_out;
  not_out.Ranks({outsider_out});
  WinOp not_in;
  not_in.Ranks({outsider_in});
  WinOp get_self_weight;
  get_self_weight.Self(0.5);
  bf_win_op_args zero_size{};
  WinUpdate update_not_in;
  update_not_in.Weights(0.5, {outsider_in});
  WinUpdate update_nan;
  update_nan.Weights(NAN, {});
  WinUpdate int_half;
  int_half.Weights(0.5, {});
  char names[64];
  int versions_count = 0;
  double p = 0;

  const bf_status invalid = BF_ERR_INVALID_ARGUMENT;
  std::vector<BadInput> rows = {
      {"put to unknown window", invalid, "nope",
       [&] { return bf_win_put(t.get(), "nope", nullptr); }},
      {"accumulate to unknown window", invalid, "nope",
       [&] { return bf_win_accumulate(t.get(), "nope", nullptr); }},
      {"get from unknown window", invalid, "nope", [&] { return bf_win_get("nope", nullptr); }},
      {"update unknown window", invalid, "nope",
       [&] { return bf_win_update("nope", nullptr, nullptr); }},
      {"collect unknown window", invalid, "nope",
       [&] { return bf_win_update_then_collect("nope", 0); }},
      {"versions of unknown window", invalid, "nope",
       [&] { return bf_win_versions("nope", nullptr, nullptr, 0, &versions_count); }},
      {"p of unknown window", invalid, "nope", [&] { return bf_win_associated_p("nope", &p); }},
      {"mutex of unknown window", invalid, "nope",
       [&] { return bf_win_mutex_acquire("nope", nullptr, 0, 0); }},
      {"release of unknown window", invalid, "nope",
       [&] { return bf_win_mutex_release("nope", nullptr, 0, 0); }},
      {"free unknown window", invalid, "nope", [&] { return bf_win_free("nope"); }},
      {"create existing", invalid, "err", [&] { return bf_win_create(t.get(), "err", 0); }},
      {"create NULL name", invalid, "name", [&] { return bf_win_create(t.get(), nullptr, 0); }},
      {"create NULL tensor", invalid, "tensor",
       [&] { return bf_win_create(nullptr, "err.null", 0); }},
      {"create int8", invalid, "dtype", [&] { return bf_win_create(int8.get(), "err.int8", 0); }},
      {"put NULL name", invalid, "name", [&] { return bf_win_put(t.get(), nullptr, nullptr); }},
      {"put NULL tensor", invalid, "tensor", [&] { return bf_win_put(nullptr, "err", nullptr); }},
      {"put wrong shape", invalid, "shape|tensor",
       [&] { return bf_win_put(wrong_shape.get(), "err", nullptr); }},
      {"accumulate wrong dtype", invalid, "dtype|tensor",
       [&] { return bf_win_accumulate(wrong_dtype.get(), "err", nullptr); }},
      {"put rank out of range", invalid, "ranks",
       [&] { return bf_win_put(t.get(), "err", range.get()); }},
      {"put to itself", invalid, "ranks", [&] { return bf_win_put(t.get(), "err", self.get()); }},
      {"accumulate to itself", invalid, "ranks",
       [&] { return bf_win_accumulate(t.get(), "err", self.get()); }},
      {"get from itself", invalid, "ranks", [&] { return bf_win_get("err", self.get()); }},
      {"infinite self weight", invalid, "self_weight",
       [&] { return bf_win_put(t.get(), "err", inf_self.get()); }},
      {"negative count", invalid, "count|ranks",
       [&] { return bf_win_put(t.get(), "err", &negative); }},
      {"NULL ranks", invalid, "ranks",
       [&] { return bf_win_accumulate(t.get(), "err", &null_ranks); }},
      {"zero struct_size", invalid, "struct_size",
       [&] { return bf_win_put(t.get(), "err", &zero_size); }},
      {"get with self weight", invalid, "self_weight",
       [&] { return bf_win_get("err", get_self_weight.get()); }},
      {"put_async NULL handle", invalid, "handle",
       [&] { return bf_win_put_async(t.get(), "err", nullptr, nullptr); }},
      {"update NaN self weight", invalid, "self_weight",
       [&] { return bf_win_update("err", update_nan.get(), nullptr); }},
      {"update out shape differs", invalid, "out",
       [&] { return bf_win_update("err", nullptr, update_out.get()); }},
      {"integer update weight 0.5", invalid, "weight",
       [&] { return bf_win_update("err.int", int_half.get(), nullptr); }},
      {"names NULL buffer", invalid, "buffer",
       [&] { return bf_win_names(nullptr, sizeof(names), nullptr); }},
  };
  if (!out.empty()) {
    rows.push_back({"integer put weight 2", invalid, "weights",
                    [&] { return bf_win_put(ints.get(), "err.int", int_double.get()); }});
    rows.push_back({"put duplicate ranks", invalid, "ranks",
                    [&] { return bf_win_put(t.get(), "err", duplicate.get()); }});
    rows.push_back({"accumulate NaN weight", invalid, "weights",
                    [&] { return bf_win_accumulate(t.get(), "err", nan_weight.get()); }});
  }
  if (outsider_out >= 0) {
    rows.push_back({"put to a non-out-neighbor", invalid, "ranks",
                    [&] { return bf_win_put(t.get(), "err", not_out.get()); }});
    rows.push_back({"accumulate to a non-out-neighbor", invalid, "ranks",
                    [&] { return bf_win_accumulate(t.get(), "err", not_out.get()); }});
  }
  if (outsider_in >= 0) {
    rows.push_back({"get from a non-in-neighbor", invalid, "ranks",
                    [&] { return bf_win_get("err", not_in.get()); }});
    rows.push_back({"update a non-in-neighbor", invalid, "ranks",
                    [&] { return bf_win_update("err", update_not_in.get(), nullptr); }});
  }
  if (!in.empty()) {
    rows.push_back({"release not held", invalid, "held|hold", [&] {
                      return bf_win_mutex_release("err", in.data(), static_cast<int>(in.size()), 1);
                    }});
  }
  for (const BadInput& row : rows) {
    const bf_status status = row.call();
    EXPECT_EQ(status, row.expected) << row.label << ": " << bf_last_error();
    const std::string message = bf_last_error();
    bool found = false;
    std::string parts = row.message_parts;
    for (size_t begin = 0, bar = 0; bar != std::string::npos; begin = bar + 1) {
      bar = parts.find('|', begin);
      found = found || HasText(message, parts.substr(begin, bar - begin));
    }
    EXPECT_TRUE(found) << row.label << ": message \"" << message << "\" lacks \"" << parts << "\"";
  }
  std::printf("[rank %d] %zu refused window calls checked\n", rank, rows.size());
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(t.Get(i), Value(rank, i)) << "tensor modified by a refused call";
    EXPECT_EQ(ints.Get(i), Value(rank, i)) << "integer tensor modified by a refused call";
  }
  EXPECT_EQ(Names(), "err\nerr.int\n") << "refused calls created or freed windows";
  ASSERT_BF_OK(bf_barrier());
  ASSERT_BF_OK(bf_win_free(nullptr));
}

}  // namespace
}  // namespace bftest

// SPDX-License-Identifier: Apache-2.0
// Multi-rank tests of the engine controls: the MPI thread-level and window-model queries, the
// window lock (peers' puts and gets held until unlock, then applied in order), suspend/resume
// (operations refused, the engine asleep, peers' window requests still served) and the run-time
// switch of the matching mode. References come from MPI itself or from closed forms.
#include <mpi.h>
#include <time.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace bftest {
namespace {

constexpr int64_t kElements = 6;

int Rank() { return bf_rank(); }
int Size() { return bf_size(); }

void Sleep(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

bool Mentions(const char* text, const std::string& part) {
  return std::string(text).find(part) != std::string::npos;
}

// Every rank sends to every other: each rank is an in-neighbor of rank 0's window.
class FullyConnected {
 public:
  FullyConnected() {
    bf_topology* topology = nullptr;
    EXPECT_BF_OK(bf_topology_fully_connected(Size(), &topology));
    EXPECT_BF_OK(bf_set_topology(topology, 0));
    bf_topology_free(topology);
  }
  ~FullyConnected() {
    bf_topology* topology = nullptr;
    EXPECT_BF_OK(bf_topology_exponential(Size(), 2, &topology));
    EXPECT_BF_OK(bf_set_topology(topology, 0));
    bf_topology_free(topology);
  }
};

// This rank's buffer for `peer` of window `name`, read through a clone update (self weight 0).
std::vector<double> BufferFor(const char* name, int peer) {
  HostTensor out({kDLFloat, 32, 1}, {kElements});
  bf_win_update_args args{};
  args.struct_size = sizeof(args);
  args.has_weights = 1;
  args.self_weight = 0.0;
  args.count = 1;
  args.ranks = &peer;
  EXPECT_BF_OK(bf_win_update(name, &args, out.get()));
  std::vector<double> values;
  for (int64_t i = 0; i < kElements; ++i) values.push_back(out.Get(i));
  return values;
}

std::vector<double> Filled(double base) {
  std::vector<double> values;
  for (int64_t i = 0; i < kElements; ++i) values.push_back(base + static_cast<double>(i));
  return values;
}

void Fill(HostTensor* tensor, double base) {
  for (int64_t i = 0; i < kElements; ++i) tensor->Set(i, base + static_cast<double>(i));
}

int VersionOf(const char* name, int peer) {
  std::vector<int> ranks(static_cast<size_t>(Size())), versions(static_cast<size_t>(Size()));
  int count = 0;
  EXPECT_BF_OK(bf_win_versions(name, ranks.data(), versions.data(), Size(), &count));
  for (int i = 0; i < count; ++i) {
    if (ranks[static_cast<size_t>(i)] == peer) return versions[static_cast<size_t>(i)];
  }
  return -1;
}

bf_win_op_args ToRank(const int* rank) {
  bf_win_op_args args{};
  args.struct_size = sizeof(args);
  args.has_ranks = 1;
  args.count = 1;
  args.ranks = rank;
  return args;
}

// ----- Queries --------------------------------------------------------------------------------

TEST(EngineQueries, ThreadLevelMatchesMpi) {
  int provided = 0;
  MPI_Query_thread(&provided);
  EXPECT_EQ(bf_mpi_threads_supported(), provided == MPI_THREAD_MULTIPLE ? 1 : 0);
}

TEST(EngineQueries, WindowModelIsUnified) { EXPECT_EQ(bf_unified_mpi_window_model_supported(), 1); }

// ----- Window lock ----------------------------------------------------------------------------

TEST(WinLock, ErrorsNameTheWindowAndRank) {
  HostTensor x({kDLFloat, 32, 1}, {kElements});
  ASSERT_BF_OK(bf_win_create(x.get(), "ctl.errors", 0));
  const std::string on_rank = "on rank " + std::to_string(Rank());
  int locked = -1;
  EXPECT_BF_OK(bf_win_is_locked("ctl.errors", &locked));
  EXPECT_EQ(locked, 0);

  EXPECT_EQ(bf_win_unlock("ctl.errors"), BF_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(Mentions(bf_last_error(), "not locked")) << bf_last_error();
  EXPECT_TRUE(Mentions(bf_last_error(), on_rank)) << bf_last_error();

  EXPECT_BF_OK(bf_win_lock("ctl.errors"));
  EXPECT_BF_OK(bf_win_is_locked("ctl.errors", &locked));
  EXPECT_EQ(locked, 1);
  EXPECT_EQ(bf_win_lock("ctl.errors"), BF_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(Mentions(bf_last_error(), "already locked")) << bf_last_error();
  EXPECT_BF_OK(bf_win_unlock("ctl.errors"));

  EXPECT_EQ(bf_win_lock("ctl.nowhere"), BF_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(Mentions(bf_last_error(), "no window named 'ctl.nowhere'")) << bf_last_error();
  EXPECT_TRUE(Mentions(bf_last_error(), on_rank)) << bf_last_error();
  EXPECT_EQ(bf_win_unlock(nullptr), BF_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(Mentions(bf_last_error(), "'name'")) << bf_last_error();
  EXPECT_BF_OK(bf_win_free("ctl.errors"));
}

// Rank 0 locks its window; every other rank puts into it and gets from it. Nothing of theirs
// lands or is served until rank 0 unlocks; then the puts are in place (one version each) and the
// gets see the tensor as rank 0 left it inside the lock.
TEST(WinLock, PeersPutsAndGetsWaitForUnlock) {
  FullyConnected topology;
  const int me = Rank();
  HostTensor x({kDLFloat, 32, 1}, {kElements});
  Fill(&x, 10.0 * me);
  ASSERT_BF_OK(bf_win_create(x.get(), "ctl.lock", 0));
  if (me == 0) ASSERT_BF_OK(bf_win_lock("ctl.lock"));
  ASSERT_BF_OK(bf_barrier());

  const int owner = 0;
  HostTensor sent({kDLFloat, 32, 1}, {kElements});
  Fill(&sent, 100.0 * me);
  bf_handle put = 0, get = 0;
  if (me != 0) {
    bf_win_op_args args = ToRank(&owner);
    ASSERT_BF_OK(bf_win_put_async(sent.get(), "ctl.lock", &args, &put));
    ASSERT_BF_OK(bf_win_get_async("ctl.lock", &args, &get));
    Sleep(300);
    int done = -1;
    EXPECT_BF_OK(bf_poll(put, &done));
    EXPECT_EQ(done, 0) << "a put completed while the destination's window was locked";
    EXPECT_BF_OK(bf_poll(get, &done));
    EXPECT_EQ(done, 0) << "a get was served while the source's window was locked";
  }
  ASSERT_BF_OK(bf_barrier());
  if (me == 0) {
    Sleep(200);  // the peers' requests have arrived by now, and wait
    for (int peer = 1; peer < Size(); ++peer) {
      EXPECT_EQ(VersionOf("ctl.lock", peer), 0);
      EXPECT_EQ(BufferFor("ctl.lock", peer), Filled(0.0)) << "put from rank " << peer;
    }
    Fill(&x, 50.0);  // what the held gets will see
    ASSERT_BF_OK(bf_win_unlock("ctl.lock"));
  } else {
    EXPECT_BF_OK(bf_wait(put, -1));
    EXPECT_BF_OK(bf_wait(get, -1));
    EXPECT_BF_OK(bf_handle_free(put));
    EXPECT_BF_OK(bf_handle_free(get));
  }
  ASSERT_BF_OK(bf_barrier());
  if (me == 0) {
    for (int peer = 1; peer < Size(); ++peer) {
      EXPECT_EQ(VersionOf("ctl.lock", peer), 1);  // read first: an update resets it
      EXPECT_EQ(BufferFor("ctl.lock", peer), Filled(100.0 * peer)) << "put from rank " << peer;
    }
  } else {
    EXPECT_EQ(BufferFor("ctl.lock", 0), Filled(50.0));
  }
  EXPECT_BF_OK(bf_win_free("ctl.lock"));
}

// Several puts from each peer while locked are applied in the order they were sent: the last
// one wins, and each counts as a version.
TEST(WinLock, HeldPutsApplyInArrivalOrder) {
  FullyConnected topology;
  const int me = Rank();
  HostTensor x({kDLFloat, 32, 1}, {kElements});
  ASSERT_BF_OK(bf_win_create(x.get(), "ctl.order", 1));
  if (me == 0) ASSERT_BF_OK(bf_win_lock("ctl.order"));
  ASSERT_BF_OK(bf_barrier());
  constexpr int kPuts = 3;
  std::vector<std::unique_ptr<HostTensor>> sent;
  std::vector<bf_handle> handles;
  if (me != 0) {
    const int owner = 0;
    bf_win_op_args args = ToRank(&owner);
    for (int k = 0; k < kPuts; ++k) {
      sent.push_back(std::make_unique<HostTensor>(DLDataType{kDLFloat, 32, 1},
                                                  std::vector<int64_t>{kElements}));
      Fill(sent.back().get(), 100.0 * me + 10.0 * k);
      bf_handle handle = 0;
      ASSERT_BF_OK(bf_win_put_async(sent.back()->get(), "ctl.order", &args, &handle));
      handles.push_back(handle);
    }
  }
  ASSERT_BF_OK(bf_barrier());
  if (me == 0) {
    Sleep(200);
    for (int peer = 1; peer < Size(); ++peer) EXPECT_EQ(VersionOf("ctl.order", peer), 0);
    ASSERT_BF_OK(bf_win_unlock("ctl.order"));
  }
  for (bf_handle handle : handles) {
    EXPECT_BF_OK(bf_wait(handle, -1));
    EXPECT_BF_OK(bf_handle_free(handle));
  }
  ASSERT_BF_OK(bf_barrier());
  if (me == 0) {
    for (int peer = 1; peer < Size(); ++peer) {
      EXPECT_EQ(VersionOf("ctl.order", peer), kPuts);
      EXPECT_EQ(BufferFor("ctl.order", peer), Filled(100.0 * peer + 10.0 * (kPuts - 1)));
    }
  }
  EXPECT_BF_OK(bf_win_free("ctl.order"));
}

// A window freed while locked, with a peer's put held: the free unlocks it first, so neither
// side hangs and the put lands.
TEST(WinLock, FreeWhileLockedDoesNotHang) {
  FullyConnected topology;
  const int me = Rank();
  HostTensor x({kDLFloat, 32, 1}, {kElements});
  ASSERT_BF_OK(bf_win_create(x.get(), "ctl.free", 1));
  if (me == 0) ASSERT_BF_OK(bf_win_lock("ctl.free"));
  ASSERT_BF_OK(bf_barrier());
  HostTensor sent({kDLFloat, 32, 1}, {kElements});
  bf_handle put = 0;
  if (me == 1) {
    const int owner = 0;
    bf_win_op_args args = ToRank(&owner);
    ASSERT_BF_OK(bf_win_put_async(sent.get(), "ctl.free", &args, &put));
  }
  EXPECT_BF_OK(bf_win_free("ctl.free"));
  if (me == 1) {
    EXPECT_BF_OK(bf_wait(put, -1));
    EXPECT_BF_OK(bf_handle_free(put));
  }
}

// Peers put large tensors (several chunks under BLUEFOG_MAX_WIN_SENT_LENGTH) in a loop while
// rank 0 locks and unlocks: inside the lock every buffer holds one whole put, never the start of
// one and the end of another, and no put is lost or stuck (every blocking put returns). (Chunks
// of one put usually arrive in one engine pass, so this is a consistency check more than a
// reliable detector of a lock that returned with a write under way.)
TEST(WinLock, NeverSeesAHalfAppliedPut) {
  FullyConnected topology;
  const int me = Rank();
  constexpr int64_t kBig = 4096;
  constexpr int kPuts = 300;
  HostTensor x({kDLFloat, 64, 1}, {kBig});
  ASSERT_BF_OK(bf_win_create(x.get(), "ctl.torn", 1));
  ASSERT_BF_OK(bf_barrier());
  if (me == 0) {
    // An MPI barrier, not bf_barrier_async: in ordered mode that would run on the engine thread
    // until the others join, and this rank's updates inside the lock would queue behind it while
    // the others wait for their held puts.
    MPI_Request others_done = MPI_REQUEST_NULL;
    MPI_Ibarrier(MPI_COMM_WORLD, &others_done);
    HostTensor out({kDLFloat, 64, 1}, {kBig});
    int done = 0, checks = 0;
    std::string torn;  // found inside the lock, reported after unlocking
    while (!done) {
      ASSERT_BF_OK(bf_win_lock("ctl.torn"));
      for (int peer = 1; peer < Size() && torn.empty(); ++peer) {
        bf_win_update_args args{};
        args.struct_size = sizeof(args);
        args.has_weights = 1;
        args.count = 1;
        args.ranks = &peer;
        if (bf_win_update("ctl.torn", &args, out.get()) != BF_OK) torn = bf_last_error();
        for (int64_t i = 1; i < kBig && torn.empty(); ++i) {
          if (out.Get(i) != out.Get(0)) {
            torn = "rank " + std::to_string(peer) + "'s buffer is torn at " + std::to_string(i);
          }
        }
      }
      ++checks;
      ASSERT_BF_OK(bf_win_unlock("ctl.torn"));
      EXPECT_EQ(torn, "");
      Sleep(1);
      MPI_Test(&others_done, &done, MPI_STATUS_IGNORE);
    }
    EXPECT_GT(checks, 0);
    RecordProperty("lock_checks", checks);
  } else {
    HostTensor sent({kDLFloat, 64, 1}, {kBig});
    const int owner = 0;
    bf_win_op_args args = ToRank(&owner);
    for (int k = 1; k <= kPuts; ++k) {
      for (int64_t i = 0; i < kBig; ++i) sent.Set(i, 1000.0 * k + me);
      ASSERT_BF_OK(bf_win_put(sent.get(), "ctl.torn", &args));
    }
    MPI_Request others_done = MPI_REQUEST_NULL;  // matches rank 0's (nonblocking) barrier
    MPI_Ibarrier(MPI_COMM_WORLD, &others_done);
    MPI_Wait(&others_done, MPI_STATUS_IGNORE);
  }
  EXPECT_BF_OK(bf_win_free("ctl.torn"));
}

// ----- Suspend / resume -----------------------------------------------------------------------

double ProcessCpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

TEST(Suspend, OperationsFailWithAClearErrorUntilResume) {
  EXPECT_EQ(bf_suspended(), 0);
  ASSERT_BF_OK(bf_suspend());
  EXPECT_BF_OK(bf_suspend());  // twice is a no-op
  EXPECT_EQ(bf_suspended(), 1);
  EXPECT_EQ(bf_barrier(), BF_ERR_SUSPENDED);
  EXPECT_TRUE(Mentions(bf_last_error(), "suspended on rank " + std::to_string(Rank())))
      << bf_last_error();
  EXPECT_TRUE(Mentions(bf_last_error(), "bf_resume")) << bf_last_error();
  HostTensor x({kDLFloat, 32, 1}, {kElements});
  EXPECT_EQ(bf_allreduce(x.get(), x.get(), nullptr), BF_ERR_SUSPENDED);
  EXPECT_EQ(bf_neighbor_allreduce(x.get(), x.get(), nullptr), BF_ERR_SUSPENDED);
  EXPECT_STREQ(bf_status_string(BF_ERR_SUSPENDED), "BF_ERR_SUSPENDED");
  ASSERT_BF_OK(bf_resume());
  EXPECT_EQ(bf_suspended(), 0);
  Fill(&x, Rank());
  bf_allreduce_args args{};
  args.struct_size = sizeof(args);
  args.op = BF_REDUCE_SUM;
  ASSERT_BF_OK(bf_allreduce(x.get(), x.get(), &args));
  const double rank_sum = Size() * (Size() - 1) / 2.0;
  for (int64_t i = 0; i < kElements; ++i) EXPECT_EQ(x.Get(i), rank_sum + Size() * i);
}

// A suspended engine with a window sleeps (little CPU over half a second) and still serves a
// peer's blocking put, which completes before rank 0 resumes.
TEST(Suspend, EngineSleepsAndStillServesWindows) {
  FullyConnected topology;
  const int me = Rank();
  HostTensor x({kDLFloat, 32, 1}, {kElements});
  ASSERT_BF_OK(bf_win_create(x.get(), "ctl.suspend", 1));
  ASSERT_BF_OK(bf_barrier());
  if (me == 0) {
    ASSERT_BF_OK(bf_suspend());
    Sleep(100);  // queued work done, the engine goes to sleep
    const double cpu_before = ProcessCpuSeconds();
    Sleep(500);
    const double cpu_used = ProcessCpuSeconds() - cpu_before;
    EXPECT_LT(cpu_used, 0.15) << "the suspended engine should sleep, not poll";
  }
  MPI_Barrier(MPI_COMM_WORLD);  // bf_barrier would be refused on rank 0
  if (me != 0) {
    HostTensor sent({kDLFloat, 32, 1}, {kElements});
    Fill(&sent, 100.0 * me);
    const int owner = 0;
    bf_win_op_args args = ToRank(&owner);
    EXPECT_BF_OK(bf_win_put(sent.get(), "ctl.suspend", &args));  // served while suspended
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (me == 0) {
    EXPECT_EQ(bf_win_update("ctl.suspend", nullptr, nullptr), BF_ERR_SUSPENDED);
    ASSERT_BF_OK(bf_resume());
    for (int peer = 1; peer < Size(); ++peer) {
      EXPECT_EQ(VersionOf("ctl.suspend", peer), 1);
      EXPECT_EQ(BufferFor("ctl.suspend", peer), Filled(100.0 * peer));
    }
  }
  EXPECT_BF_OK(bf_win_free("ctl.suspend"));
}

// ----- Matching mode --------------------------------------------------------------------------

void ExpectAllreduceOfRanks(const char* name) {
  HostTensor x({kDLFloat, 64, 1}, {kElements});
  Fill(&x, Rank());
  bf_allreduce_args args{};
  args.struct_size = sizeof(args);
  args.name = name;
  args.op = BF_REDUCE_SUM;
  ASSERT_BF_OK(bf_allreduce(x.get(), x.get(), &args));
  const double rank_sum = Size() * (Size() - 1) / 2.0;
  for (int64_t i = 0; i < kElements; ++i) EXPECT_EQ(x.Get(i), rank_sum + Size() * i);
}

// Uniform average over the exponential-2 in-neighbors of a tensor holding each rank's number.
void ExpectNeighborAverage() {
  HostTensor x({kDLFloat, 64, 1}, {kElements});
  for (int64_t i = 0; i < kElements; ++i) x.Set(i, Rank());
  ASSERT_BF_OK(bf_neighbor_allreduce(x.get(), x.get(), nullptr));
  const std::vector<int> sources = Exp2InNeighbors(Rank(), Size());
  double expected = Rank();
  for (int source : sources) expected += source;
  expected /= static_cast<double>(sources.size() + 1);
  for (int64_t i = 0; i < kElements; ++i) EXPECT_NEAR(x.Get(i), expected, 1e-12);
}

TEST(MatchingMode, SwitchBothWaysThenOperationsWork) {
  const int initial = bf_matching_mode_in_effect();
  ASSERT_BF_OK(bf_set_matching_mode(BF_MATCHING_ORDERED));
  EXPECT_EQ(bf_matching_mode_in_effect(), BF_MATCHING_ORDERED);
  ExpectAllreduceOfRanks(nullptr);
  ExpectNeighborAverage();
  ASSERT_BF_OK(bf_barrier());
  ASSERT_BF_OK(bf_set_matching_mode(BF_MATCHING_ORDERED));  // the same mode again: fine
  ASSERT_BF_OK(bf_set_matching_mode(BF_MATCHING_NAMED));
  EXPECT_EQ(bf_matching_mode_in_effect(), BF_MATCHING_NAMED);
  ExpectAllreduceOfRanks("ctl.named");
  ExpectNeighborAverage();
  ASSERT_BF_OK(bf_set_matching_mode(static_cast<bf_matching_mode>(initial)));
  EXPECT_EQ(bf_matching_mode_in_effect(), initial);
}

TEST(MatchingMode, RefusesBadValuesAndPendingOperations) {
  EXPECT_EQ(bf_set_matching_mode(BF_MATCHING_DEFAULT), BF_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(Mentions(bf_last_error(), "'mode' on rank " + std::to_string(Rank())))
      << bf_last_error();
  EXPECT_EQ(bf_set_matching_mode(static_cast<bf_matching_mode>(7)), BF_ERR_INVALID_ARGUMENT);
  if (Size() < 2) return;
  // Rank 0 has an allreduce in flight that cannot finish before the others post theirs.
  HostTensor x({kDLFloat, 32, 1}, {kElements});
  bf_allreduce_args args{};
  args.struct_size = sizeof(args);
  args.name = "ctl.pending";
  bf_handle handle = 0;
  if (Rank() == 0) {
    ASSERT_BF_OK(bf_allreduce_async(x.get(), x.get(), &args, &handle));
    EXPECT_EQ(bf_set_matching_mode(BF_MATCHING_ORDERED), BF_ERR_IN_PROGRESS);
    EXPECT_TRUE(Mentions(bf_last_error(), "operations in flight")) << bf_last_error();
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (Rank() != 0) ASSERT_BF_OK(bf_allreduce_async(x.get(), x.get(), &args, &handle));
  EXPECT_BF_OK(bf_wait(handle, -1));
  EXPECT_BF_OK(bf_handle_free(handle));
}

TEST(MatchingMode, RanksAskingForDifferentModesAllFail) {
  if (Size() < 2) return;
  const int initial = bf_matching_mode_in_effect();
  const bf_matching_mode asked = Rank() == 0 ? BF_MATCHING_ORDERED : BF_MATCHING_NAMED;
  EXPECT_EQ(bf_set_matching_mode(asked), BF_ERR_MISMATCH);
  EXPECT_TRUE(Mentions(bf_last_error(), "different matching modes")) << bf_last_error();
  EXPECT_EQ(bf_matching_mode_in_effect(), initial);
  ExpectAllreduceOfRanks("ctl.after_mismatch");
}

}  // namespace
}  // namespace bftest

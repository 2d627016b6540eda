// SPDX-License-Identifier: Apache-2.0
// Backoff for polling loops. While bytes are moving, MPI only advances inside our progress calls,
// so the loop keeps calling (yielding the core between calls); only a wait with no progress for
// a long time — a peer that has not posted — turns into sleeps, so a stalled job does not burn
// cores that 8 oversubscribed ranks share.
#pragma once

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace bluefog {

class Backoff {
 public:
  // Something completed or matched: waiting starts over.
  void Progressed() { idle_since_ = Clock::now(); }

  // waiting_for_peer: nothing of ours is in transit (a peer has not posted yet), so sleeping
  // early costs nothing; otherwise a transfer is under way and needs progress calls.
  void Pause(bool waiting_for_peer) {
    const auto idle = Clock::now() - idle_since_;
    const auto yield_phase = waiting_for_peer ? kPeerYieldPhase : kTransferYieldPhase;
    if (idle < yield_phase) {
      sched_yield();
      return;
    }
    const auto sleep = std::min<Clock::duration>(kMaxSleep, (idle - yield_phase) / 8 + kMinSleep);
    std::this_thread::sleep_for(sleep);
  }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kPeerYieldPhase = std::chrono::milliseconds(2);
  static constexpr auto kTransferYieldPhase = std::chrono::milliseconds(200);
  static constexpr auto kMinSleep = std::chrono::microseconds(20);
  static constexpr auto kMaxSleep = std::chrono::milliseconds(1);
  Clock::time_point idle_since_ = Clock::now();
};

// Spins (yielding) for up to `budget` until ready() holds; true if it did. Used before blocking
// on a condition variable, whose wake-up costs ~10 us on these machines.
template <typename Ready>
bool SpinBriefly(Ready ready, std::chrono::microseconds budget) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  do {
    if (ready()) return true;
    sched_yield();
  } while (std::chrono::steady_clock::now() < deadline);
  return ready();
}

}  // namespace bluefog

// SPDX-License-Identifier: Apache-2.0
// Backoff for polling loops: yields at first (latency), then sleeps longer and longer (a stalled
// peer must not burn a core that 8 oversubscribed ranks share).
#pragma once

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace bluefog {

class Backoff {
 public:
  void Progressed() { idle_since_ = Clock::now(); }

  void Pause() {
    const auto idle = Clock::now() - idle_since_;
    if (idle < kYieldPhase) {
      sched_yield();
      return;
    }
    const auto sleep = std::min<Clock::duration>(kMaxSleep, (idle - kYieldPhase) / 8 + kMinSleep);
    std::this_thread::sleep_for(sleep);
  }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kYieldPhase = std::chrono::milliseconds(2);
  static constexpr auto kMinSleep = std::chrono::microseconds(20);
  static constexpr auto kMaxSleep = std::chrono::milliseconds(1);
  Clock::time_point idle_since_ = Clock::now();
};

}  // namespace bluefog

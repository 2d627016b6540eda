// SPDX-License-Identifier: Apache-2.0
// Timeline: a per-rank Chrome trace (<prefix><rank>.json) of op phases and user activities.
// Callers append to an in-memory buffer; a writer thread formats and writes it, never the caller.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace bluefog {

// One trace file. Each distinct name (op or tensor name) becomes a trace "process" (pid = 1, 2, ...
// in order of first use, announced with process_name / process_sort_index metadata); each calling
// thread becomes a "thread" (tid = 1, 2, ... in order of first use). Start/End write B/E duration
// events whose ts is in microseconds since Open.
//
// The engine holds a Timeline* that is null when the timeline is off; Scope and the inline helpers
// below reduce to one branch in that case. All methods are thread-safe.
class Timeline {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    // The writer wakes when this many events are buffered, or flush_interval after the first one.
    size_t flush_events = 8192;
    std::chrono::milliseconds flush_interval{100};
    // Events beyond this many buffered ones are dropped (counted in dropped_events()), so a slow
    // disk costs events, never unbounded memory or a blocked caller.
    size_t max_pending_events = size_t{1} << 20;
  };

  // Creates <prefix><rank>.json, writes "[" and starts the writer thread. A file that cannot be
  // created is BF_ERR_INVALID_ARGUMENT naming the path and the OS error.
  static Status Open(std::string_view prefix, int rank, std::unique_ptr<Timeline>* out);
  static Status Open(std::string_view prefix, int rank, const Options& options,
                     std::unique_ptr<Timeline>* out);

  // Closes (see Close) if not done yet.
  ~Timeline();
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  // Begins `activity` in `name`'s process on the calling thread's row. Strings are copied.
  void Start(std::string_view name, std::string_view activity) noexcept;
  // Ends the innermost activity begun by this thread in `name`'s process (Chrome pairs B/E per
  // pid and tid, last in first out; an End without a Start is written and ignored by viewers).
  void End(std::string_view name) noexcept;
  // A complete span [start, end] on the calling thread's row, for phases whose start was observed
  // elsewhere (an op's QUEUE phase: enqueued on a user thread, dequeued on the engine thread).
  void Span(std::string_view name, std::string_view activity, Clock::time_point start,
            Clock::time_point end) noexcept;

  // Writes every buffered event, closes the JSON array and the file, and joins the writer. Later
  // Start/End/Span calls are ignored. Idempotent; returns the first write error, if any.
  Status Close();

  const std::string& path() const { return path_; }
  // Events refused because the buffer was full or memory ran out.
  uint64_t dropped_events() const;

  // RAII activity: Start in the constructor, End in the destructor; nothing at all when timeline
  // is null. `name` is not copied by the Scope: it must outlive it (an Op's name does).
  class Scope {
   public:
    Scope(Timeline* timeline, std::string_view name, std::string_view activity) noexcept
        : timeline_(timeline), name_(name) {
      if (timeline_ != nullptr) timeline_->Start(name_, activity);
    }
    ~Scope() {
      if (timeline_ != nullptr) timeline_->End(name_);
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Timeline* const timeline_;
    const std::string_view name_;
  };

 private:
  enum class Phase : char { kBegin = 'B', kEnd = 'E', kComplete = 'X' };

  // An event's fixed part; its name and activity bytes live in Batch::text.
  struct Event {
    Phase phase;
    int tid;
    int64_t ts_ns;   // since open_time_
    int64_t dur_ns;  // kComplete only
    uint32_t name_size;
    uint32_t activity_size;
  };
  struct Batch {
    std::vector<Event> events;
    std::string text;
    void clear() {
      events.clear();
      text.clear();
    }
  };

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };

  Timeline(std::string path, std::FILE* file, const Options& options);

  void Append(Phase phase, std::string_view name, std::string_view activity, int64_t ts_ns,
              int64_t dur_ns) noexcept;
  int64_t SinceOpenNs(Clock::time_point when) const;
  int ThreadId();
  void WriterLoop();
  // Writer thread only: formats `batch` as JSON lines into `out`, event by event, so that running
  // out of memory midway still leaves whole JSON.
  void Format(const Batch& batch, std::string* out);
  void FormatEvent(const Event& event, std::string_view name, std::string_view activity,
                   std::string* out);
  int ProcessId(std::string_view name, int tid, std::string* out);
  void WriteOut(std::string_view text);

  const std::string path_;
  const Options options_;
  const Clock::time_point open_time_;
  const uint64_t serial_;  // tells this timeline's thread-local tid cache apart from others

  std::mutex thread_ids_mutex_;
  std::unordered_map<std::thread::id, int> thread_ids_;

  mutable std::mutex mutex_;
  std::condition_variable wake_writer_;
  Batch pending_;
  bool closing_ = false;
  uint64_t dropped_ = 0;

  std::mutex close_mutex_;  // serializes Close; guards closed_ and close_status_
  bool closed_ = false;
  Status close_status_;

  // Writer-thread state (and Close's, after the join).
  std::FILE* file_;
  Status write_status_;
  bool wrote_event_ = false;
  std::unordered_map<std::string, int, StringHash, std::equal_to<>> process_ids_;
  std::thread writer_;
};

// Appends `text` to `out` as the inside of a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD. Exposed for tests.
void AppendJsonEscaped(std::string_view text, std::string* out);

}  // namespace bluefog

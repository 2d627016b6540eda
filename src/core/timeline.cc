// SPDX-License-Identifier: Apache-2.0
// Timeline: event buffering on the caller side, JSON formatting and file output on the writer.
#include "core/timeline.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <iostream>
#include <limits>
#include <utility>

namespace bluefog {

namespace {

std::atomic<uint64_t> next_timeline_serial{1};

void AppendInt(int64_t value, std::string* out) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof(digits), value);
  out->append(digits, result.ptr);
}

// Nanoseconds as microseconds with three decimals: Chrome's unit, without losing sub-µs phases.
void AppendMicros(int64_t ns, std::string* out) {
  AppendInt(ns / 1000, out);
  const int64_t fraction = ns % 1000;
  const char decimals[4] = {'.', static_cast<char>('0' + fraction / 100),
                            static_cast<char>('0' + fraction / 10 % 10),
                            static_cast<char>('0' + fraction % 10)};
  out->append(decimals, sizeof(decimals));
}

// Length of the valid UTF-8 sequence starting at text[i], or 0 if it is not one.
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  size_t length = 0;
  unsigned char second_min = 0x80, second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;  // overlong
    if (lead == 0xED) second_max = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;  // overlong
    if (lead == 0xF4) second_max = 0x8F;  // beyond U+10FFFF
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < second_min || byte(i + 1) > second_max) return 0;
  for (size_t k = 2; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return length;
}

}  // namespace

void AppendJsonEscaped(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const size_t length = Utf8SequenceLength(text, i);
      if (length == 0) {
        out->append("\\ufffd");
        ++i;
      } else {
        out->append(text.substr(i, length));
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          const char escape[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          out->append(escape, sizeof(escape));
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
}

Status Timeline::Open(std::string_view prefix, int rank, std::unique_ptr<Timeline>* out) {
  return Open(prefix, rank, Options{}, out);
}

Status Timeline::Open(std::string_view prefix, int rank, const Options& options,
                      std::unique_ptr<Timeline>* out) {
  std::string path(prefix);
  path += std::to_string(rank);
  path += ".json";
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    return Error(BF_ERR_INVALID_ARGUMENT, "timeline: cannot create '", path, "' on rank ", rank,
                 ": ", std::strerror(errno),
                 " (the file is <prefix><rank>.json; check BLUEFOG_TIMELINE / timeline_prefix)");
  }
  if (std::fputs("[", file) == EOF) {
    const int error = errno;
    std::fclose(file);
    return Error(BF_ERR_INVALID_ARGUMENT, "timeline: cannot write '", path, "': ",
                 std::strerror(error));
  }
  out->reset(new Timeline(std::move(path), file, options));
  return Status::Ok();
}

Timeline::Timeline(std::string path, std::FILE* file, const Options& options)
    : path_(std::move(path)),
      options_(options),
      open_time_(Clock::now()),
      serial_(next_timeline_serial.fetch_add(1)),
      file_(file) {
  writer_ = std::thread([this] { WriterLoop(); });
}

Timeline::~Timeline() {
  const Status status = Close();
  if (!status.ok()) std::cerr << "bluefog: " << status.message() << "\n";
}

void Timeline::Start(std::string_view name, std::string_view activity) noexcept {
  Append(Phase::kBegin, name, activity, SinceOpenNs(Clock::now()), 0);
}

void Timeline::End(std::string_view name) noexcept {
  Append(Phase::kEnd, name, {}, SinceOpenNs(Clock::now()), 0);
}

void Timeline::Span(std::string_view name, std::string_view activity, Clock::time_point start,
                    Clock::time_point end) noexcept {
  const int64_t start_ns = SinceOpenNs(start);
  Append(Phase::kComplete, name, activity, start_ns,
         std::max<int64_t>(0, SinceOpenNs(end) - start_ns));
}

int64_t Timeline::SinceOpenNs(Clock::time_point when) const {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when - open_time_).count();
  return std::max<int64_t>(0, ns);
}

int Timeline::ThreadId() {
  // A one-entry cache per thread in front of the map: the engine thread and a user thread each
  // find their id without a lock on every event after the first.
  thread_local uint64_t cached_serial = 0;
  thread_local int cached_tid = 0;
  if (cached_serial == serial_) return cached_tid;
  std::lock_guard<std::mutex> lock(thread_ids_mutex_);
  auto [it, inserted] = thread_ids_.try_emplace(std::this_thread::get_id(), 0);
  if (inserted) it->second = static_cast<int>(thread_ids_.size());
  cached_serial = serial_;
  cached_tid = it->second;
  return cached_tid;
}

void Timeline::Append(Phase phase, std::string_view name, std::string_view activity,
                      int64_t ts_ns, int64_t dur_ns) noexcept {
  constexpr size_t kMaxText = std::numeric_limits<uint32_t>::max();
  name = name.substr(0, kMaxText);
  activity = activity.substr(0, kMaxText);
  bool wake = false;
  try {
    const int tid = ThreadId();
    std::lock_guard<std::mutex> lock(mutex_);
    if (closing_) return;
    const size_t pending = pending_.events.size();
    if (pending >= options_.max_pending_events) {
      ++dropped_;
      return;
    }
    pending_.text.append(name);
    pending_.text.append(activity);
    pending_.events.push_back(Event{phase, tid, ts_ns, dur_ns, static_cast<uint32_t>(name.size()),
                                    static_cast<uint32_t>(activity.size())});
    // The writer sleeps until the first event of a batch, then until the batch is full or the
    // flush interval passed; wake it on exactly those two transitions.
    wake = pending == 0 || pending + 1 == options_.flush_events;
  } catch (...) {  // out of memory: lose the event, never the caller
    std::lock_guard<std::mutex> lock(mutex_);
    ++dropped_;
    return;
  }
  if (wake) wake_writer_.notify_one();
}

uint64_t Timeline::dropped_events() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return dropped_;
}

Status Timeline::Close() {
  std::lock_guard<std::mutex> close_lock(close_mutex_);
  if (closed_) return close_status_;
  closed_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
  }
  wake_writer_.notify_one();
  writer_.join();
  // The writer has written the last batch and "]"; the file is ours again.
  close_status_ = write_status_;
  if (std::fclose(file_) != 0 && close_status_.ok()) {
    close_status_ = Error(BF_ERR_INVALID_ARGUMENT, "timeline: cannot close '", path_,
                          "': ", std::strerror(errno));
  }
  file_ = nullptr;
  const uint64_t dropped = dropped_events();
  if (dropped > 0) {
    std::cerr << "bluefog: timeline '" << path_ << "' dropped " << dropped
              << " events (buffer full or out of memory)\n";
  }
  return close_status_;
}

void Timeline::WriterLoop() {
  Batch batch;
  std::string json;
  for (bool closing = false; !closing;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_writer_.wait(lock, [&] { return closing_ || !pending_.events.empty(); });
      if (!closing_) {
        wake_writer_.wait_for(lock, options_.flush_interval, [&] {
          return closing_ || pending_.events.size() >= options_.flush_events;
        });
      }
      // Swapping keeps both buffers' capacity: steady state allocates nothing.
      std::swap(batch, pending_);
      closing = closing_;  // once set, no event is accepted: this batch is the last
    }
    Format(batch, &json);
    WriteOut(json);
    if (closing) WriteOut("\n]\n");
    json.clear();
    batch.clear();
  }
}

void Timeline::WriteOut(std::string_view text) {
  if (!write_status_.ok() || text.empty()) return;
  // fflush per batch: a crashed run still leaves a trace Chrome can load (it accepts a missing "]").
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0) {
    write_status_ = Error(BF_ERR_INVALID_ARGUMENT, "timeline: cannot write '", path_,
                          "': ", std::strerror(errno));
  }
}

int Timeline::ProcessId(std::string_view name, int tid, std::string* out) {
  if (auto it = process_ids_.find(name); it != process_ids_.end()) return it->second;
  const int pid = static_cast<int>(process_ids_.size()) + 1;
  process_ids_.emplace(std::string(name), pid);
  // As BlueFog: the name labels the process, and processes sort in order of first use.
  out->append(wrote_event_ ? ",\n" : "\n");
  wrote_event_ = true;
  out->append(R"({"name": "process_name", "ph": "M", "pid": )");
  AppendInt(pid, out);
  out->append(R"(, "tid": )");
  AppendInt(tid, out);
  out->append(R"(, "args": {"name": ")");
  AppendJsonEscaped(name, out);
  out->append("\"}},\n");
  out->append(R"({"name": "process_sort_index", "ph": "M", "pid": )");
  AppendInt(pid, out);
  out->append(R"(, "tid": )");
  AppendInt(tid, out);
  out->append(R"(, "args": {"sort_index": )");
  AppendInt(pid, out);
  out->append("}}");
  return pid;
}

void Timeline::Format(const Batch& batch, std::string* out) {
  size_t offset = 0;
  for (size_t i = 0; i < batch.events.size(); ++i) {
    const Event& event = batch.events[i];
    const std::string_view name(batch.text.data() + offset, event.name_size);
    const std::string_view activity(batch.text.data() + offset + event.name_size,
                                    event.activity_size);
    offset += event.name_size + event.activity_size;
    const size_t committed = out->size();
    const bool wrote_event = wrote_event_;
    const size_t processes = process_ids_.size();
    try {
      FormatEvent(event, name, activity, out);
    } catch (...) {  // out of memory: keep the JSON whole, lose this batch's remaining events
      out->resize(committed);
      wrote_event_ = wrote_event;
      if (process_ids_.size() > processes) process_ids_.erase(process_ids_.find(name));
      std::lock_guard<std::mutex> lock(mutex_);
      dropped_ += batch.events.size() - i;
      return;
    }
  }
}

void Timeline::FormatEvent(const Event& event, std::string_view name, std::string_view activity,
                           std::string* out) {
  const int pid = ProcessId(name, event.tid, out);
  out->append(wrote_event_ ? ",\n" : "\n");
  wrote_event_ = true;
  out->append(R"({"ph": ")");
  out->push_back(static_cast<char>(event.phase));
  out->push_back('"');
  if (event.phase != Phase::kEnd) {
    out->append(R"(, "name": ")");
    AppendJsonEscaped(activity, out);
    out->push_back('"');
  }
  out->append(R"(, "ts": )");
  AppendMicros(event.ts_ns, out);
  if (event.phase == Phase::kComplete) {
    out->append(R"(, "dur": )");
    AppendMicros(event.dur_ns, out);
  }
  out->append(R"(, "pid": )");
  AppendInt(pid, out);
  out->append(R"(, "tid": )");
  AppendInt(event.tid, out);
  out->push_back('}');
}

}  // namespace bluefog

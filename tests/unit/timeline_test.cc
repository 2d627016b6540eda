// SPDX-License-Identifier: Apache-2.0
// Unit tests of the timeline: the file is valid JSON (Python's parser and an independent one
// here), B/E events pair per thread, each name is announced once as a process, names are escaped,
// and a null timeline does nothing.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "bluefog.h"
#include "core/timeline.h"

namespace bluefog {
namespace {

namespace fs = std::filesystem;

#define ASSERT_OK(expr)                                              \
  do {                                                               \
    const ::bluefog::Status status_ = (expr);                        \
    ASSERT_TRUE(status_.ok()) << #expr << ": " << status_.message(); \
  } while (0)

// ---- A strict, minimal JSON reader (RFC 8259), independent of the writer under test. ----------

struct Json {
  using Object = std::map<std::string, Json>;
  using Array = std::vector<Json>;
  std::variant<std::nullptr_t, bool, double, std::string, Array, Object> value;

  bool has(const std::string& key) const {
    const auto* object = std::get_if<Object>(&value);
    return object != nullptr && object->count(key) != 0;
  }
  const Json& operator[](const std::string& key) const { return std::get<Object>(value).at(key); }
  const std::string& str() const { return std::get<std::string>(value); }
  double num() const { return std::get<double>(value); }
  int integer() const { return static_cast<int>(num()); }
  const Array& array() const { return std::get<Array>(value); }
};

class JsonReader {
 public:
  explicit JsonReader(std::string text) : text_(std::move(text)) {}

  // The whole text as one value; throws std::runtime_error naming the offset otherwise.
  Json ReadDocument() {
    Json value = ReadValue();
    SkipSpace();
    if (pos_ != text_.size()) Fail("trailing characters");
    return value;
  }

 private:
  [[noreturn]] void Fail(const std::string& what) const {
    throw std::runtime_error("JSON error at offset " + std::to_string(pos_) + ": " + what);
  }
  void SkipSpace() {
    while (pos_ < text_.size() && std::string_view(" \t\r\n").find(text_[pos_]) != std::string::npos) {
      ++pos_;
    }
  }
  char Peek() {
    SkipSpace();
    if (pos_ >= text_.size()) Fail("unexpected end");
    return text_[pos_];
  }
  void Expect(char c) {
    if (Peek() != c) Fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  void ExpectWord(std::string_view word) {
    if (text_.compare(pos_, word.size(), word) != 0) Fail("bad literal");
    pos_ += word.size();
  }

  Json ReadValue() {
    const char c = Peek();
    if (c == '{') return ReadObject();
    if (c == '[') return ReadArray();
    if (c == '"') return Json{ReadString()};
    if (c == 't') return ExpectWord("true"), Json{true};
    if (c == 'f') return ExpectWord("false"), Json{false};
    if (c == 'n') return ExpectWord("null"), Json{nullptr};
    return ReadNumber();
  }
  Json ReadObject() {
    Expect('{');
    Json::Object object;
    if (Peek() == '}') return ++pos_, Json{object};
    for (;;) {
      if (Peek() != '"') Fail("expected a key");
      std::string key = ReadString();
      Expect(':');
      if (!object.emplace(key, ReadValue()).second) Fail("duplicate key " + key);
      if (Peek() == '}') return ++pos_, Json{object};
      Expect(',');
    }
  }
  Json ReadArray() {
    Expect('[');
    Json::Array array;
    if (Peek() == ']') return ++pos_, Json{array};
    for (;;) {
      array.push_back(ReadValue());
      if (Peek() == ']') return ++pos_, Json{array};
      Expect(',');
    }
  }
  Json ReadNumber() {
    const size_t start = pos_;
    if (text_[pos_] == '-') ++pos_;
    auto digits = [&] {
      const size_t from = pos_;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      if (pos_ == from) Fail("expected digits");
    };
    if (pos_ < text_.size() && text_[pos_] == '0') {
      ++pos_;
    } else {
      digits();
    }
    if (pos_ < text_.size() && text_[pos_] == '.') ++pos_, digits();
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      digits();
    }
    return Json{std::stod(text_.substr(start, pos_ - start))};
  }
  unsigned ReadHex4() {
    if (pos_ + 4 > text_.size()) Fail("short \\u escape");
    unsigned value = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text_[pos_++];
      value <<= 4;
      if (c >= '0' && c <= '9') value |= c - '0';
      else if (c >= 'a' && c <= 'f') value |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') value |= c - 'A' + 10;
      else Fail("bad hex digit");
    }
    return value;
  }
  static void AppendUtf8(unsigned code, std::string* out) {
    if (code < 0x80) {
      out->push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (code >> 6)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (code >> 12)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (code >> 18)));
      out->push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }
  std::string ReadString() {
    Expect('"');
    std::string out;
    for (;;) {
      if (pos_ >= text_.size()) Fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(text_[pos_++]);
      if (c == '"') return out;
      if (c < 0x20) Fail("raw control character in a string");
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        continue;
      }
      if (pos_ >= text_.size()) Fail("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          unsigned code = ReadHex4();
          if (code >= 0xD800 && code <= 0xDBFF) {
            ExpectWord("\\u");
            const unsigned low = ReadHex4();
            if (low < 0xDC00 || low > 0xDFFF) Fail("bad surrogate pair");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(code, &out);
          break;
        }
        default: Fail("bad escape");
      }
    }
  }

  std::string text_;
  size_t pos_ = 0;
};

// ---- Helpers ----------------------------------------------------------------------------------

class TimelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "bf_timeline_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string Prefix() const { return (dir_ / "trace_").string(); }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  static Json::Array ParseTrace(const std::string& path) {
    return JsonReader(ReadFile(path)).ReadDocument().array();
  }
  // Python's json module is the independent strict check (it rejects raw control characters,
  // trailing commas and an unclosed array). Skipped where there is no python3.
  static void ExpectPythonParses(const std::string& path) {
    if (access("/usr/bin/python3", X_OK) != 0) return;
    const std::string command =
        "/usr/bin/python3 -c 'import json, sys; json.load(open(sys.argv[1], encoding=\"utf-8\"))' '" +
        path + "'";
    EXPECT_EQ(std::system(command.c_str()), 0) << "python3 json.load failed on " << path;
  }

  fs::path dir_;
};

// Per pid: the name announced by process_name; checks that sort_index is announced alongside it.
std::map<int, std::string> ProcessNames(const Json::Array& events) {
  std::map<int, std::string> names;
  std::map<int, int> sort_index;
  for (const Json& event : events) {
    if (event["ph"].str() != "M") continue;
    const int pid = event["pid"].integer();
    if (event["name"].str() == "process_name") {
      EXPECT_TRUE(names.emplace(pid, event["args"]["name"].str()).second)
          << "process " << pid << " announced twice";
    } else if (event["name"].str() == "process_sort_index") {
      EXPECT_TRUE(sort_index.emplace(pid, event["args"]["sort_index"].integer()).second);
    }
  }
  EXPECT_EQ(names.size(), sort_index.size());
  for (const auto& [pid, index] : sort_index) EXPECT_EQ(index, pid);
  return names;
}

// ---- Tests ------------------------------------------------------------------------------------

TEST_F(TimelineTest, ThreadsWriteValidPairedEvents) {
  constexpr int kThreads = 4;
  constexpr int kIterations = 300;
  constexpr int kNames = 5;
  std::unique_ptr<Timeline> timeline;
  ASSERT_OK(Timeline::Open(Prefix(), 3, &timeline));
  EXPECT_EQ(timeline->path(), Prefix() + "3.json");

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        const std::string name = "tensor." + std::to_string((t + i) % kNames);
        Timeline::Scope outer(timeline.get(), name, "COMMUNICATE");
        timeline->Start(name, "REDUCE");
        timeline->End(name);
        if (i % 7 == 0) {
          const auto start = Timeline::Clock::now();
          timeline->Span("queue." + std::to_string(t), "QUEUE", start,
                         start + std::chrono::microseconds(5));
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_OK(timeline->Close());
  EXPECT_EQ(timeline->dropped_events(), 0u);

  ExpectPythonParses(timeline->path());
  const Json::Array events = ParseTrace(timeline->path());
  const std::map<int, std::string> names = ProcessNames(events);

  std::set<std::string> expected_names;
  for (int n = 0; n < kNames; ++n) expected_names.insert("tensor." + std::to_string(n));
  for (int t = 0; t < kThreads; ++t) expected_names.insert("queue." + std::to_string(t));
  std::set<std::string> announced;
  for (const auto& [pid, name] : names) announced.insert(name);
  EXPECT_EQ(announced, expected_names);
  // pids are 1..n in order of first use.
  EXPECT_EQ(names.begin()->first, 1);
  EXPECT_EQ(names.rbegin()->first, static_cast<int>(names.size()));

  // B/E pair per (pid, tid) last in first out; timestamps never go back on one thread.
  std::map<std::pair<int, int>, std::vector<std::string>> open;
  std::map<int, double> last_ts;
  std::map<std::string, int> begins;
  int spans = 0;
  std::set<int> tids;
  for (const Json& event : events) {
    const std::string& phase = event["ph"].str();
    if (phase == "M") continue;
    const int pid = event["pid"].integer();
    const int tid = event["tid"].integer();
    ASSERT_TRUE(names.count(pid)) << "event in unannounced process " << pid;
    tids.insert(tid);
    const double ts = event["ts"].num();
    EXPECT_GE(ts, 0.0);
    if (phase == "B") {
      open[std::make_pair(pid, tid)].push_back(event["name"].str());
      ++begins[event["name"].str()];
    } else if (phase == "E") {
      EXPECT_FALSE(event.has("name"));
      std::vector<std::string>& stack = open[std::make_pair(pid, tid)];
      ASSERT_FALSE(stack.empty()) << "E without B in pid " << pid << " tid " << tid;
      stack.pop_back();
    } else {
      ASSERT_EQ(phase, "X");
      EXPECT_EQ(event["name"].str(), "QUEUE");
      EXPECT_NEAR(event["dur"].num(), 5.0, 1e-9);
      ++spans;
      continue;  // a span's ts is its start, which may precede earlier-written events
    }
    EXPECT_GE(ts, last_ts[tid]) << "time went back on tid " << tid;
    last_ts[tid] = ts;
  }
  for (const auto& [key, stack] : open) EXPECT_TRUE(stack.empty()) << "unclosed B in pid " << key.first;
  EXPECT_EQ(begins["COMMUNICATE"], kThreads * kIterations);
  EXPECT_EQ(begins["REDUCE"], kThreads * kIterations);
  EXPECT_EQ(spans, kThreads * ((kIterations + 6) / 7));
  EXPECT_EQ(tids, (std::set<int>{1, 2, 3, 4}));
}

TEST_F(TimelineTest, EscapesNamesAndActivities) {
  const std::string tricky = "quote\" back\\slash\nline\ttab\x01" "ctl é ok";
  std::unique_ptr<Timeline> timeline;
  ASSERT_OK(Timeline::Open(Prefix(), 0, &timeline));
  timeline->Start(tricky, "act \"quoted\" \\ ");
  timeline->End(tricky);
  timeline->Start(std::string("bad\xff utf8\xc3"), "x");
  timeline->End(std::string("bad\xff utf8\xc3"));
  timeline->Start(std::string("nul\0inside", 10), "y");
  timeline->End(std::string("nul\0inside", 10));
  ASSERT_OK(timeline->Close());

  ExpectPythonParses(timeline->path());
  const Json::Array events = ParseTrace(timeline->path());
  const std::map<int, std::string> names = ProcessNames(events);
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(names.at(1), tricky);
  EXPECT_EQ(names.at(2), "bad\xef\xbf\xbd utf8\xef\xbf\xbd");  // U+FFFD for each invalid byte
  EXPECT_EQ(names.at(3), std::string("nul\0inside", 10));
  bool found = false;
  for (const Json& event : events) {
    if (event["ph"].str() == "B" && event["pid"].integer() == 1) {
      EXPECT_EQ(event["name"].str(), "act \"quoted\" \\ ");
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(TimelineEscape, ControlCharactersAndUtf8) {
  std::string out;
  AppendJsonEscaped(std::string("a\"\\\b\f\n\r\t\x1f\x7f\0", 11), &out);
  EXPECT_EQ(out, "a\\\"\\\\\\b\\f\\n\\r\\t\\u001f\x7f\\u0000");
  out.clear();
  // Valid 2/3/4-byte sequences pass; overlong, surrogate and truncated ones do not.
  AppendJsonEscaped("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", &out);
  EXPECT_EQ(out, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  out.clear();
  AppendJsonEscaped("\xc0\xaf|\xed\xa0\x80|\xe2\x82", &out);
  EXPECT_EQ(out, "\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd");
}

TEST_F(TimelineTest, EmptyTimelineAndDestructorCloseTheArray) {
  std::string path;
  {
    std::unique_ptr<Timeline> timeline;
    ASSERT_OK(Timeline::Open(Prefix(), 1, &timeline));
    path = timeline->path();
  }
  ExpectPythonParses(path);
  EXPECT_TRUE(ParseTrace(path).empty());

  {
    std::unique_ptr<Timeline> timeline;
    ASSERT_OK(Timeline::Open(Prefix(), 2, &timeline));
    path = timeline->path();
    timeline->Start("op", "QUEUE");
    timeline->End("op");
  }  // no Close: the destructor closes
  ExpectPythonParses(path);
  EXPECT_EQ(ParseTrace(path).size(), 4u);  // process_name, process_sort_index, B, E
}

TEST_F(TimelineTest, CloseIsIdempotentAndLaterEventsAreIgnored) {
  std::unique_ptr<Timeline> timeline;
  ASSERT_OK(Timeline::Open(Prefix(), 0, &timeline));
  timeline->Start("op", "A");
  timeline->End("op");
  ASSERT_OK(timeline->Close());
  timeline->Start("late", "B");
  timeline->End("late");
  ASSERT_OK(timeline->Close());
  timeline.reset();
  const Json::Array events = ParseTrace(Prefix() + "0.json");
  EXPECT_EQ(events.size(), 4u);
}

TEST_F(TimelineTest, WriterFlushesWhileOpen) {
  Timeline::Options options;
  options.flush_interval = std::chrono::milliseconds(10);
  std::unique_ptr<Timeline> timeline;
  ASSERT_OK(Timeline::Open(Prefix(), 0, options, &timeline));
  timeline->Start("flushed.op", "COMMUNICATE");
  timeline->End("flushed.op");
  // The events reach the file without Close, within a few flush intervals.
  bool seen = false;
  for (int i = 0; i < 500 && !seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    seen = ReadFile(timeline->path()).find("flushed.op") != std::string::npos;
  }
  EXPECT_TRUE(seen);
  // An open file is the array without its "]": what Chrome loads after a crash.
  const Json::Array events = JsonReader(ReadFile(timeline->path()) + "]").ReadDocument().array();
  EXPECT_EQ(events.size(), 4u);
  ASSERT_OK(timeline->Close());
}

TEST_F(TimelineTest, FullBufferDropsEventsInsteadOfBlocking) {
  Timeline::Options options;
  options.flush_interval = std::chrono::seconds(60);  // the writer holds off until Close
  options.flush_events = 1000;
  options.max_pending_events = 10;
  std::unique_ptr<Timeline> timeline;
  ASSERT_OK(Timeline::Open(Prefix(), 0, options, &timeline));
  for (int i = 0; i < 8; ++i) {
    timeline->Start("op", "A");
    timeline->End("op");
  }
  EXPECT_EQ(timeline->dropped_events(), 6u);
  ASSERT_OK(timeline->Close());
  ExpectPythonParses(timeline->path());
  EXPECT_EQ(ParseTrace(timeline->path()).size(), 2u + 10u);
}

TEST_F(TimelineTest, UncreatableFileIsAClearError) {
  std::unique_ptr<Timeline> timeline;
  const Status status = Timeline::Open((dir_ / "missing" / "x_").string(), 5, &timeline);
  EXPECT_EQ(status.code(), BF_ERR_INVALID_ARGUMENT);
  EXPECT_NE(status.message().find((dir_ / "missing" / "x_5.json").string()), std::string::npos)
      << status.message();
  EXPECT_EQ(timeline, nullptr);
}

TEST_F(TimelineTest, NullTimelineDoesNothing) {
  Timeline* off = nullptr;
  {
    Timeline::Scope scope(off, "op", "COMMUNICATE");
    Timeline::Scope nested(off, std::string_view(), std::string_view());
  }
  EXPECT_TRUE(fs::is_empty(dir_));
  // The off path is one branch: a million scopes take well under a millisecond each... in total.
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000000; ++i) {
    Timeline* volatile maybe = off;  // keep the compiler from proving it null
    Timeline::Scope scope(maybe, "op", "COMMUNICATE");
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::milliseconds(200));  // generous: ~1 ns each when optimized
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST(TimelineApi, RequiresInitialization) {
  EXPECT_EQ(bf_timeline_start_activity("op", "A"), BF_ERR_NOT_INITIALIZED);
  EXPECT_EQ(bf_timeline_end_activity("op"), BF_ERR_NOT_INITIALIZED);
  EXPECT_EQ(bf_timeline_start_activity(nullptr, nullptr), BF_ERR_NOT_INITIALIZED);
}

}  // namespace
}  // namespace bluefog

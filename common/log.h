// Owns: structured JSON logging to stdout, one object per line:
//   {"ts":"2026-11-22T10:00:00.123456Z","level":"info","service":"ingestion",
//    "msg":"connected","session":"S1"}
// Thread-safe; a line is written with one write() so lines never interleave.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/json_string.h"

namespace iss::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// A field value, stored as text; numbers and booleans are written unquoted.
class Value {
 public:
  Value(std::string_view s) : text_(s), quoted_(true) {}
  Value(const std::string& s) : text_(s), quoted_(true) {}
  Value(const char* s) : text_(s), quoted_(true) {}
  Value(bool b) : text_(b ? "true" : "false"), quoted_(false) {}
  template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
  Value(T n) : text_(absl::StrCat(n)), quoted_(false) {}
  Value(absl::Duration d) : text_(absl::StrCat(absl::ToDoubleSeconds(d))), quoted_(false) {}
  const std::string& text() const { return text_; }
  bool quoted() const { return quoted_; }

 private:
  std::string text_;
  bool quoted_;
};

using Fields = std::initializer_list<std::pair<std::string_view, Value>>;

// Set once at start-up by each main().
void Init(std::string service, Level min_level);
absl::Status SetLevel(std::string_view name);  // "debug", "info", "warn", "error"
Level MinLevel();
const char* LevelName(Level level);  // the name SetLevel takes

void Write(Level level, std::string_view msg, Fields fields = {});
inline void Debug(std::string_view msg, Fields f = {}) { Write(Level::kDebug, msg, f); }
inline void Info(std::string_view msg, Fields f = {}) { Write(Level::kInfo, msg, f); }
inline void Warn(std::string_view msg, Fields f = {}) { Write(Level::kWarn, msg, f); }
inline void Error(std::string_view msg, Fields f = {}) { Write(Level::kError, msg, f); }

// Builds the JSON line without writing it (for tests).
std::string Format(Level level, absl::Time ts, std::string_view msg, Fields fields);

// Appends `s` to `out` as a JSON string literal, quotes included.
using ::iss::AppendJsonString;  // common/json_string.h

// Logs at most once per `interval` per key (e.g. per invalid-input reason), so a
// flood of bad input cannot flood the log. Thread-safe.
class RateLimiter {
 public:
  explicit RateLimiter(absl::Duration interval) : interval_(interval) {}
  // True if the caller should log now; `suppressed` receives how many calls
  // with this key were skipped since the last one that logged.
  bool Allow(std::string_view key, int64_t* suppressed, absl::Time now = absl::Now());

 private:
  struct Entry {
    absl::Time last = absl::InfinitePast();
    int64_t suppressed = 0;
  };
  const absl::Duration interval_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iss::log

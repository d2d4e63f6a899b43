#include "common/log.h"

#include <unistd.h>

#include <atomic>

#include "common/grpc_util.h"
#include "common/strings.h"

namespace iss::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
// Written once at start-up before threads exist, read afterwards.
std::string* g_service = new std::string("iss");

}  // namespace

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

void Init(std::string service, Level min_level) {
  *g_service = std::move(service);
  g_min_level = static_cast<int>(min_level);
}

absl::Status SetLevel(std::string_view name) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (name == LevelName(l)) {
      g_min_level = static_cast<int>(l);
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log level \"", AsAbsl(name), "\" (debug, info, warn, error)"));
}

Level MinLevel() { return static_cast<Level>(g_min_level.load()); }

std::string Format(Level level, absl::Time ts, std::string_view msg, Fields fields) {
  std::string out = "{\"ts\":\"";
  AppendRfc3339Micros(ts, &out);  // common/grpc_util.h
  out += "\",\"level\":\"";
  out += LevelName(level);
  out += "\",\"service\":";
  AppendJsonString(out, *g_service);
  out += ",\"msg\":";
  AppendJsonString(out, msg);
  for (const auto& [key, value] : fields) {
    out.push_back(',');
    AppendJsonString(out, key);
    out.push_back(':');
    if (value.quoted()) {
      AppendJsonString(out, value.text());
    } else {
      out += value.text();
    }
  }
  out += "}\n";
  return out;
}

void Write(Level level, std::string_view msg, Fields fields) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  const std::string line = Format(level, absl::Now(), msg, fields);
  // One write() per line: POSIX keeps lines from interleaving between threads.
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(STDOUT_FILENO, line.data() + off, line.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

bool RateLimiter::Allow(std::string_view key, int64_t* suppressed, absl::Time now) {
  absl::MutexLock lock(&mu_);
  Entry& e = entries_[AsAbsl(key)];
  if (now - e.last < interval_) {
    ++e.suppressed;
    return false;
  }
  if (suppressed != nullptr) *suppressed = e.suppressed;
  e.suppressed = 0;
  e.last = now;
  return true;
}

}  // namespace iss::log

#include "services/ingestion/replay.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"
#include "common/log.h"

namespace iss::ingest {
namespace {

using json = nlohmann::json;

absl::Status Field(const json& obj, const char* name, std::optional<std::string>* out) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) {
    out->reset();
    return absl::OkStatus();
  }
  if (!it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("field ", name, ": expected a string or null"));
  }
  *out = it->get<std::string>();
  return absl::OkStatus();
}

void PutField(json& obj, const char* name, const std::optional<std::string>& v) {
  if (v) {
    obj[name] = *v;
  } else {
    obj[name] = nullptr;
  }
}

}  // namespace

absl::StatusOr<RawUpdate> ParseReplayLine(std::string_view line, std::string_view source) {
  json obj = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (obj.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  if (!obj.is_object()) return absl::InvalidArgumentError("not a JSON object");
  RawUpdate u;
  u.source = std::string(source);
  u.raw = std::string(line);
  auto id = obj.find("item_id");
  if (id == obj.end() || !id->is_string()) {
    return absl::InvalidArgumentError("field item_id: missing or not a string");
  }
  u.item_id = id->get<std::string>();
  for (auto [name, out] : {std::pair{"value", &u.value}, std::pair{"timestamp", &u.timestamp},
                           std::pair{"status_class", &u.status_class},
                           std::pair{"status_indicator", &u.status_indicator},
                           std::pair{"status_color", &u.status_color},
                           std::pair{"calibrated_data", &u.calibrated_data}}) {
    if (auto s = Field(obj, name, out); !s.ok()) return s;
  }
  auto rx = obj.find("received_at");
  if (rx == obj.end() || rx->is_null()) {
    u.received_at = absl::Now();
  } else {
    std::string err;
    if (!rx->is_string() ||
        !absl::ParseTime(absl::RFC3339_full, rx->get<std::string>(), &u.received_at, &err)) {
      return absl::InvalidArgumentError("field received_at: expected an RFC 3339 time");
    }
  }
  if (auto snap = obj.find("snapshot"); snap != obj.end() && snap->is_boolean()) {
    u.snapshot = snap->get<bool>();
  }
  return u;
}

std::string FormatReplayLine(const RawUpdate& u) {
  json obj = json::object();
  obj["item_id"] = u.item_id;
  PutField(obj, "value", u.value);
  PutField(obj, "timestamp", u.timestamp);
  PutField(obj, "status_class", u.status_class);
  PutField(obj, "status_indicator", u.status_indicator);
  PutField(obj, "status_color", u.status_color);
  PutField(obj, "calibrated_data", u.calibrated_data);
  obj["received_at"] = FormatRfc3339Micros(u.received_at);
  if (u.snapshot) obj["snapshot"] = true;
  // Replace invalid UTF-8 rather than throw: this text may come off the wire.
  return obj.dump(-1, ' ', false, json::error_handler_t::replace);
}

ReplaySource::ReplaySource(ReplayOptions options, UpdateSink* sink, BadLineFn on_bad_line)
    : options_(std::move(options)), sink_(sink), on_bad_line_(std::move(on_bad_line)) {}

ReplaySource::~ReplaySource() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

void ReplaySource::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
}

absl::Status ReplaySource::Start() {
  std::FILE* f = std::fopen(options_.path.c_str(), "rb");
  if (f == nullptr) {
    const int err = errno;
    const std::string msg =
        absl::StrCat("cannot open replay file ", options_.path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(msg)
                         : err == EACCES ? absl::PermissionDeniedError(msg)
                                         : absl::FailedPreconditionError(msg);
  }
  if (std::fseek(f, 0, SEEK_END) == 0) {
    total_bytes_ = std::ftell(f);
    std::rewind(f);
  }
  draw_progress_ = options_.progress && ::isatty(STDERR_FILENO) == 1;
  started_ = absl::Now();
  thread_ = std::thread([this, f] { Run(f); });
  return absl::OkStatus();
}

void ReplaySource::Run(std::FILE* file) {
  char* buf = nullptr;
  size_t cap = 0;
  bool have_base = false;
  absl::Time base_recorded, base_wall;
  ssize_t n;
  while (!stop_.HasBeenNotified() && (n = ::getline(&buf, &cap, file)) != -1) {
    bytes_ += n;
    std::string_view line(buf, static_cast<size_t>(n));
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' ')) {
      line.remove_suffix(1);
    }
    if (line.empty() || line.front() == '#') continue;
    ++lines_;
    absl::StatusOr<RawUpdate> u = ParseReplayLine(line, options_.source);
    bool go_on;
    if (!u.ok()) {
      ++bad_lines_;
      go_on = on_bad_line_(std::string(u.status().message()), line);
    } else {
      if (options_.speed > 0) {
        // Keep the recorded spacing between updates, scaled by speed.
        if (!have_base) {
          have_base = true;
          base_recorded = u->received_at;
          base_wall = absl::Now();
        }
        const absl::Time due = base_wall + (u->received_at - base_recorded) / options_.speed;
        const absl::Duration wait = due - absl::Now();
        if (wait > absl::ZeroDuration() && stop_.WaitForNotificationWithTimeout(wait)) break;
      }
      go_on = sink_->Deliver(*std::move(u));
    }
    if (!go_on) break;
    if (draw_progress_) DrawProgress(false);
  }
  std::free(buf);
  std::fclose(file);
  if (draw_progress_) DrawProgress(true);
  iss::log::Info("replay finished", {{"file", options_.path},
                                     {"lines", lines_.load()},
                                     {"bad_lines", bad_lines_.load()},
                                     {"stopped", stop_.HasBeenNotified()}});
  done_.Notify();
}

void ReplaySource::DrawProgress(bool final) {
  const absl::Time now = absl::Now();
  if (!final && now - last_draw_ < absl::Milliseconds(100)) return;
  last_draw_ = now;
  const double total = std::max<double>(1.0, static_cast<double>(total_bytes_.load()));
  const double frac = std::min(1.0, static_cast<double>(bytes_.load()) / total);
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(kWidth - filled), '.');
  const double secs = std::max(1e-3, absl::ToDoubleSeconds(now - started_));
  const std::string text =
      absl::StrCat("\rreplay [", bar, "] ", static_cast<int>(frac * 100), "% ", lines_.load(),
                   " lines, ", bad_lines_.load(), " bad, ",
                   static_cast<int64_t>(static_cast<double>(lines_.load()) / secs), "/s",
                   final ? "\n" : "");
  // Progress goes to the terminal on stderr; logs stay JSON on stdout.
  [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, text.data(), text.size());
}

ReplaySource::Progress ReplaySource::progress() const {
  return Progress{lines_.load(), bad_lines_.load(), bytes_.load(), total_bytes_.load(),
                  done_.HasBeenNotified()};
}

}  // namespace iss::ingest

#include "services/peebot/settings.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"
#include "nlohmann/json.hpp"

namespace iss::peebot {

absl::Status Validate(const PeeBotSettings& s) {
  if (!std::isfinite(s.min_rise_percent) || s.min_rise_percent <= 0 || s.min_rise_percent > 100) {
    return absl::InvalidArgumentError(absl::StrCat(
        "settings.min_rise_percent: must be > 0 and <= 100, got ", s.min_rise_percent));
  }
  if (s.max_step_gap < absl::Seconds(1) || s.max_step_gap > absl::Minutes(10)) {
    return absl::InvalidArgumentError(
        absl::StrCat("settings.max_step_gap: must be between 1s and 10m, got ",
                     absl::FormatDuration(s.max_step_gap)));
  }
  if (s.cooldown < absl::ZeroDuration() || s.cooldown > absl::Hours(24)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "settings.cooldown: must be between 0 and 24h, got ", absl::FormatDuration(s.cooldown)));
  }
  if (s.daily_post_cap > 10000) {
    return absl::InvalidArgumentError(
        absl::StrCat("settings.daily_post_cap: must be <= 10000, got ", s.daily_post_cap));
  }
  if (!std::isfinite(s.ml_per_percent) || s.ml_per_percent <= 0 || s.ml_per_percent > 10000) {
    return absl::InvalidArgumentError(
        absl::StrCat("settings.ml_per_percent: must be > 0 and <= 10000, got ", s.ml_per_percent));
  }
  return absl::OkStatus();
}

iss::peebot::v1::Settings ToProto(const PeeBotSettings& s) {
  iss::peebot::v1::Settings p;
  p.set_min_rise_percent(s.min_rise_percent);
  *p.mutable_max_step_gap() = iss::ToProtoDuration(s.max_step_gap);
  *p.mutable_cooldown() = iss::ToProtoDuration(s.cooldown);
  p.set_daily_post_cap(s.daily_post_cap);
  p.set_dry_run(s.dry_run);
  p.set_ml_per_percent(s.ml_per_percent);
  return p;
}

absl::StatusOr<PeeBotSettings> ApplyUpdate(const PeeBotSettings& current,
                                           const iss::peebot::v1::Settings& update,
                                           const google::protobuf::FieldMask& mask) {
  PeeBotSettings next = current;
  std::vector<std::string> paths(mask.paths().begin(), mask.paths().end());
  if (paths.empty()) {
    // No mask: every field that is set (non-default in proto3) is an update.
    if (update.min_rise_percent() != 0) paths.push_back("min_rise_percent");
    if (update.has_max_step_gap()) paths.push_back("max_step_gap");
    if (update.has_cooldown()) paths.push_back("cooldown");
    if (update.daily_post_cap() != 0) paths.push_back("daily_post_cap");
    if (update.dry_run()) paths.push_back("dry_run");
    if (update.ml_per_percent() != 0) paths.push_back("ml_per_percent");
  }
  for (const std::string& path : paths) {
    if (path == "min_rise_percent") {
      next.min_rise_percent = update.min_rise_percent();
    } else if (path == "max_step_gap") {
      next.max_step_gap = iss::FromProto(update.max_step_gap());
    } else if (path == "cooldown") {
      next.cooldown = iss::FromProto(update.cooldown());
    } else if (path == "daily_post_cap") {
      next.daily_post_cap = update.daily_post_cap();
    } else if (path == "dry_run") {
      next.dry_run = update.dry_run();
    } else if (path == "ml_per_percent") {
      next.ml_per_percent = update.ml_per_percent();
    } else {
      return absl::InvalidArgumentError(absl::StrCat("update_mask: unknown field '", path, "'"));
    }
  }
  if (absl::Status s = Validate(next); !s.ok()) return s;
  return next;
}

std::string ToJson(const PeeBotSettings& s) {
  return nlohmann::json{{"min_rise_percent", s.min_rise_percent},
                        {"max_step_gap_us", absl::ToInt64Microseconds(s.max_step_gap)},
                        {"cooldown_us", absl::ToInt64Microseconds(s.cooldown)},
                        {"daily_post_cap", s.daily_post_cap},
                        {"dry_run", s.dry_run},
                        {"ml_per_percent", s.ml_per_percent},
                        {"paused", s.paused},
                        {"pause_reason", s.pause_reason}}
      .dump();
}

absl::StatusOr<PeeBotSettings> FromJson(const std::string& text, const PeeBotSettings& defaults) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return absl::InvalidArgumentError("stored settings are not a JSON object");
  PeeBotSettings s = defaults;
  auto num = [&](const char* key, auto* out) {
    if (j.contains(key) && j[key].is_number()) *out = j[key].get<std::decay_t<decltype(*out)>>();
  };
  num("min_rise_percent", &s.min_rise_percent);
  num("daily_post_cap", &s.daily_post_cap);
  num("ml_per_percent", &s.ml_per_percent);
  if (j.contains("max_step_gap_us") && j["max_step_gap_us"].is_number_integer()) {
    s.max_step_gap = absl::Microseconds(j["max_step_gap_us"].get<int64_t>());
  }
  if (j.contains("cooldown_us") && j["cooldown_us"].is_number_integer()) {
    s.cooldown = absl::Microseconds(j["cooldown_us"].get<int64_t>());
  }
  if (j.contains("dry_run") && j["dry_run"].is_boolean()) s.dry_run = j["dry_run"].get<bool>();
  if (j.contains("paused") && j["paused"].is_boolean()) s.paused = j["paused"].get<bool>();
  if (j.contains("pause_reason") && j["pause_reason"].is_string()) {
    s.pause_reason = j["pause_reason"].get<std::string>();
  }
  if (absl::Status v = Validate(s); !v.ok()) return v;
  return s;
}

}  // namespace iss::peebot

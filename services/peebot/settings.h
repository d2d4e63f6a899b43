// Owns: Pee-Bot's run-time settings (detector rule, posting guardrails, pause
// and dry-run switches): validation with errors naming the field, field-mask
// updates from the admin API, JSON for persistence, and the thread-safe
// holder every component reads from.
#pragma once

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/field_mask.pb.h"
#include "iss/peebot/v1/peebot.pb.h"
#include "services/peebot/detector.h"

namespace iss::peebot {

struct PeeBotSettings {
  // The detector rule, by default the detector's own defaults (detector.h).
  double min_rise_percent = DetectorConfig().min_rise_percent;
  absl::Duration max_step_gap = DetectorConfig().max_step_gap;
  absl::Duration cooldown = absl::Minutes(15);
  uint32_t daily_post_cap = 17;  // the strictest X tier: 17 posts / 24 h
  bool dry_run = false;
  double ml_per_percent = DetectorConfig().ml_per_percent;
  bool paused = false;
  std::string pause_reason;
};

// INVALID_ARGUMENT naming the first bad field ("settings.cooldown: ...").
absl::Status Validate(const PeeBotSettings& s);

iss::peebot::v1::Settings ToProto(const PeeBotSettings& s);

// Applies the fields named in `mask` (every field of the message when the
// mask is empty) to a copy of `current`, validates and returns it.
absl::StatusOr<PeeBotSettings> ApplyUpdate(const PeeBotSettings& current,
                                           const iss::peebot::v1::Settings& update,
                                           const google::protobuf::FieldMask& mask);

std::string ToJson(const PeeBotSettings& s);
// Missing keys keep the values of `defaults`.
absl::StatusOr<PeeBotSettings> FromJson(const std::string& json, const PeeBotSettings& defaults);

// The settings every component reads. Dry-run is forced when no X
// credentials are configured.
class RuntimeSettings {
 public:
  RuntimeSettings(PeeBotSettings initial, bool credentials_configured)
      : settings_(std::move(initial)), credentials_(credentials_configured) {}
  PeeBotSettings Get() const {
    absl::MutexLock lock(&mu_);
    return settings_;
  }
  void Set(PeeBotSettings s) {
    absl::MutexLock lock(&mu_);
    settings_ = std::move(s);
  }
  bool credentials_configured() const { return credentials_; }
  // Dry-run in effect: asked for, or nothing to post with.
  bool EffectiveDryRun() const { return !credentials_ || Get().dry_run; }

 private:
  mutable absl::Mutex mu_;
  PeeBotSettings settings_ ABSL_GUARDED_BY(mu_);
  const bool credentials_;
};

}  // namespace iss::peebot

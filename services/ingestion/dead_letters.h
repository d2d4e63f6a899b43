// Owns: what happens to input the pipeline cannot accept. Each rejection is
// counted by reason (iss_ingest_invalid_total{reason}), logged at most once per
// reason per interval (with how many were suppressed), and turned into an
// iss.telemetry.v1.DeadLetter for `telemetry.dlq.v1` carrying the reason, a
// detail naming the field, the raw input and the time, plus the Kafka headers
// iss.dlq.reason / iss.dlq.component (as Kafka Connect does).
#pragma once

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "common/log.h"
#include "services/ingestion/bounded_queue.h"

namespace iss::ingest {

inline constexpr std::string_view kComponent = "ingestion";
inline constexpr std::string_view kDlqReasonHeader = "iss.dlq.reason";
inline constexpr std::string_view kDlqComponentHeader = "iss.dlq.component";
inline constexpr std::string_view kDlqSourceHeader = "iss.dlq.source";
// Raw input kept in a dead letter at most (a huge line must not become a
// message the broker refuses); the detail says when it was cut.
inline constexpr size_t kMaxDeadLetterRawBytes = 64 * 1024;

class DeadLetters {
 public:
  explicit DeadLetters(absl::Duration log_interval = absl::Seconds(10))
      : log_limiter_(log_interval) {}

  // Counts and logs one rejection and returns the envelope to enqueue.
  // `reason` must be one of the stable codes (validator.h): it is a label.
  Envelope Reject(std::string_view reason, std::string_view detail, std::string_view raw,
                  std::string_view item_id, std::string_view source, absl::Time now);

  // Counts and logs without producing a dead letter (for input whose sender
  // was told about the error synchronously, e.g. the test RPC).
  void CountOnly(std::string_view reason, std::string_view detail, std::string_view source,
                 absl::Time now);

 private:
  void CountAndLog(std::string_view reason, std::string_view detail, std::string_view source,
                   absl::Time now);
  iss::log::RateLimiter log_limiter_;
};

}  // namespace iss::ingest

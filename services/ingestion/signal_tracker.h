// Owns: the station's signal state (AOS / LOS / STALE) derived from TIME_000001,
// the way public ISSLIVE clients compute it:
//   - Status.Class "24"                                  -> AOS
//   - AOS, but the TimeStamp lags the time we look by
//     more than kStaleAfter (~5.5 s, 0.0015368 h)        -> STALE
//   - any other Status.Class                             -> LOS
// Before the first TIME_000001 update the state is UNSPECIFIED.
//
// STALE is evaluated at the instant asked about (State(now)), so a feed that
// simply stops sending TIME_000001 turns stale without any further update.
// Events are tagged with State(update.received_at), which keeps replays of
// recorded files deterministic. Thread-safe.
#pragma once

#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "iss/telemetry/v1/telemetry.pb.h"

namespace iss::ingest {

using iss::telemetry::v1::SignalState;

inline constexpr absl::Duration kStaleAfter = absl::Milliseconds(5500);
// Status.Class of TIME_000001 while the station has signal.
inline constexpr std::string_view kAosStatusClass = "24";

class SignalTracker {
 public:
  struct Snapshot {
    SignalState state = iss::telemetry::v1::SIGNAL_STATE_UNSPECIFIED;
    absl::Time since = absl::InfinitePast();  // when `state` was first seen
  };

  // Feeds one accepted TIME_000001 update (source_ts = its decoded TimeStamp).
  void Observe(const std::optional<std::string>& status_class, absl::Time source_ts,
               absl::Time received_at);

  // The state at `now`; also updates the iss_ingest_signal_state gauge and the
  // `since` bookkeeping when it changed.
  Snapshot State(absl::Time now);

  // The state last computed, without re-evaluating staleness (for status
  // reports, which must not flip the state of a replay running in the past).
  Snapshot Peek() const;

 private:
  SignalState Compute(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  bool seen_ ABSL_GUARDED_BY(mu_) = false;
  bool aos_class_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_source_ts_ ABSL_GUARDED_BY(mu_);
  Snapshot current_ ABSL_GUARDED_BY(mu_);
};

// Lower-case name for logs: "aos", "los", "stale", "unknown".
std::string_view SignalName(SignalState state);

}  // namespace iss::ingest

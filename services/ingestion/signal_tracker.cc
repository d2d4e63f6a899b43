#include "services/ingestion/signal_tracker.h"

#include "common/log.h"
#include "common/metrics.h"

namespace iss::ingest {
namespace {

using iss::telemetry::v1::SIGNAL_STATE_AOS;
using iss::telemetry::v1::SIGNAL_STATE_LOS;
using iss::telemetry::v1::SIGNAL_STATE_STALE;
using iss::telemetry::v1::SIGNAL_STATE_UNSPECIFIED;

prometheus::Gauge& SignalGauge() {
  static prometheus::Gauge& g = iss::metrics::Gauge(
      "iss_ingest_signal_state",
      "Station signal from TIME_000001, as the SignalState enum: 0 unknown, 1 LOS, 2 AOS, "
      "3 stale");
  return g;
}

}  // namespace

std::string_view SignalName(SignalState state) {
  switch (state) {
    case SIGNAL_STATE_AOS:
      return "aos";
    case SIGNAL_STATE_LOS:
      return "los";
    case SIGNAL_STATE_STALE:
      return "stale";
    default:
      return "unknown";
  }
}

void SignalTracker::Observe(const std::optional<std::string>& status_class, absl::Time source_ts,
                            absl::Time received_at) {
  {
    absl::MutexLock lock(&mu_);
    seen_ = true;
    aos_class_ = status_class.has_value() && *status_class == kAosStatusClass;
    last_source_ts_ = source_ts;
  }
  State(received_at);
}

SignalState SignalTracker::Compute(absl::Time now) const {
  if (!seen_) return SIGNAL_STATE_UNSPECIFIED;
  if (!aos_class_) return SIGNAL_STATE_LOS;
  return now - last_source_ts_ > kStaleAfter ? SIGNAL_STATE_STALE : SIGNAL_STATE_AOS;
}

SignalTracker::Snapshot SignalTracker::Peek() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

SignalTracker::Snapshot SignalTracker::State(absl::Time now) {
  SignalState previous;
  Snapshot snap;
  {
    absl::MutexLock lock(&mu_);
    previous = current_.state;
    const SignalState state = Compute(now);
    if (state != current_.state) current_ = Snapshot{state, now};
    snap = current_;
  }
  if (snap.state != previous) {
    SignalGauge().Set(static_cast<double>(snap.state));
    iss::log::Info("signal state changed",
                   {{"from", SignalName(previous)}, {"to", SignalName(snap.state)}});
  }
  return snap;
}

}  // namespace iss::ingest

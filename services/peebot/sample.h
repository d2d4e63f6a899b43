// Owns: the reduced view of a TelemetryEvent that Pee-Bot works on (one
// sample of the urine tank, the urine processor or the station clock), and
// the conversion from the bus message. Everything downstream of the consumer
// (detector, history table, re-evaluation) speaks Sample, never protobuf.
#pragma once

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "iss/telemetry/v1/telemetry.pb.h"

namespace iss::peebot {

using iss::telemetry::v1::SignalState;

struct Sample {
  std::string item_id;
  absl::Time source_ts;  // event time: the only clock the detector knows
  // When ingestion accepted it; InfinitePast when unknown. Kept for the
  // record only: in a replay it is the replay's "now".
  absl::Time ingest_ts = absl::InfinitePast();
  // When the update was received from its source (the event's received_ts;
  // its ingest_ts for an event from before received_ts existed);
  // InfinitePast when unknown. A sample received long after it was taken is
  // a snapshot (e.g. after a reconnect), live or replayed alike.
  absl::Time received_ts = absl::InfinitePast();
  std::optional<std::string> value;
  std::optional<std::string> status_class;
  SignalState signal = iss::telemetry::v1::SIGNAL_STATE_UNSPECIFIED;
};

inline Sample SampleFromEvent(const iss::telemetry::v1::TelemetryEvent& e) {
  Sample s;
  s.item_id = e.item_id();
  s.source_ts =
      absl::FromUnixSeconds(e.source_ts().seconds()) + absl::Nanoseconds(e.source_ts().nanos());
  if (e.has_ingest_ts()) {
    s.ingest_ts =
        absl::FromUnixSeconds(e.ingest_ts().seconds()) + absl::Nanoseconds(e.ingest_ts().nanos());
  }
  // An absent received_ts (an event from before it existed) means ingest_ts.
  s.received_ts = e.has_received_ts() ? absl::FromUnixSeconds(e.received_ts().seconds()) +
                                            absl::Nanoseconds(e.received_ts().nanos())
                                      : s.ingest_ts;
  if (e.has_value()) s.value = e.value();
  if (e.status().has_class_()) s.status_class = e.status().class_();
  s.signal = e.signal();
  return s;
}

}  // namespace iss::peebot

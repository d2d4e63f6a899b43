// Owns: the replay format, one recorded update (RawUpdate) per JSON line:
// what the replay source reads, the recorder writes, and `issctl export`
// writes from stored history. A library of its own (iss_replay_format) so
// issctl uses the one implementation without the ingestion service.
//
// Line format (one RawUpdate; absent or null fields are nulls):
//   {"item_id":"NODE3000005","value":"42","timestamp":"4224.014583888915",
//    "status_class":"24","status_indicator":"0","status_color":"green",
//    "calibrated_data":null,"received_at":"2026-06-25T00:00:52.502000Z"}
// Field values must be JSON strings (the feed's text, kept verbatim).
// received_at is RFC 3339: when the update was received from its source. It
// drives the replay's pacing, picks the year of TimeStamp, and becomes the
// event's received_ts, so a replay carries the recorded session's times.
// Optional "snapshot":true marks part of a subscription's initial snapshot.
// Blank lines and lines starting with '#' are comments.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "iss/telemetry/v1/telemetry.pb.h"
#include "services/ingestion/update.h"

namespace iss::ingest {

// Parses one line. INVALID_ARGUMENT naming the problem. A line without
// received_at is taken as received now.
absl::StatusOr<RawUpdate> ParseReplayLine(std::string_view line, std::string_view source);
// The inverse (also used to show a RawUpdate as "raw" in a dead letter).
// Its `raw` and `source` are not written. Invalid UTF-8 is replaced by U+FFFD.
std::string FormatReplayLine(const RawUpdate& update);
// The same, appended to `out` (no newline).
void AppendReplayLine(std::string& out, const RawUpdate& update);

// A stored event as the update that produced it: TimeStamp written back from
// source_ts (iss::FormatIssTimestamp, exact to the microsecond, so replaying it
// gives the same event_id), received_at = received_ts (ingest_ts for an event
// from before received_ts existed).
RawUpdate UpdateFromEvent(const iss::telemetry::v1::TelemetryEvent& event);

}  // namespace iss::ingest

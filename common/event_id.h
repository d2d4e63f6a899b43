// Owns: the canonical, deterministic event id: anyone holding an event (storage,
// a consumer, an auditor) can recompute it.
//
// event_id = lower-case hex SHA-256 of the canonical serialisation
//   item_id|source_ts|value|status_class|status_indicator|status_color|calibrated_data|schema_version
// where
//   - source_ts is RFC 3339 UTC with exactly six fraction digits
//     ("2025-01-01T12:00:00.000000Z"): the event's microsecond timestamp;
//   - a null (unset) field is written as \N; in every other field the
//     characters '\' and '|' are escaped as "\\" and "\|", so no two different
//     events can serialise to the same bytes;
//   - schema_version is decimal.
// The golden vectors in event_id_test.cc pin these bytes: changing them is a
// schema_version bump, never a silent edit.
#pragma once

#include <string>
#include <string_view>

#include "iss/telemetry/v1/telemetry.pb.h"

namespace iss {

// The exact bytes hashed. Exposed so tests and docs can show them.
std::string CanonicalEventString(const iss::telemetry::v1::TelemetryEvent& event);

// Hex SHA-256 of CanonicalEventString(event). Ignores event.event_id,
// ingest_ts, received_ts, source and signal (they do not identify the update).
std::string ComputeEventId(const iss::telemetry::v1::TelemetryEvent& event);
// The same, written into `out` (replacing it; reuses its capacity). `out` may
// be the event's own event_id field, which the id does not cover.
void ComputeEventId(const iss::telemetry::v1::TelemetryEvent& event, std::string* out);
// True when `s` is what ComputeEventId and Sha256Hex write: exactly 64
// lower-case hex digits (event ids, Pee-Bot's detection ids).
bool IsSha256Hex(std::string_view s);

// Hex SHA-256 of arbitrary bytes (OpenSSL).
std::string Sha256Hex(std::string_view data);

// A short public name for a secret (a session id): the first 12 hex digits
// (48 bits) of its SHA-256. Tells secrets apart; does not reveal them.
std::string Fingerprint(std::string_view secret);

}  // namespace iss

// Owns: how issctl prints responses. Two forms:
//   - JSON: protobuf's proto3 JSON printer (camelCase names, RFC 3339 times),
//     one object per line; streams and pages print one element per line;
//   - text (default): aligned tables and "key: value" blocks for people.
// Pure functions from messages to strings: no I/O, testable without a server.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "iss/ingest/v1/ingest.pb.h"
#include "iss/peebot/v1/peebot.pb.h"
#include "iss/storage/v1/storage.pb.h"
#include "iss/telemetry/v1/telemetry.pb.h"

namespace iss::issctl {

// One line of proto3 JSON, "\n"-terminated.
std::string JsonLine(const google::protobuf::Message& msg);

// Event streams (query, tail): a header once, then one fixed-width row per event.
std::string EventHeader();
std::string EventRow(const iss::telemetry::v1::TelemetryEvent& e);

std::string FormatLatest(const iss::storage::v1::GetLatestResponse& r);
std::string FormatSeries(const iss::storage::v1::GetSeriesResponse& r);
std::string FormatItems(const std::vector<iss::storage::v1::Item>& items);
std::string FormatItem(const iss::storage::v1::Item& item);
std::string FormatSinkStatus(const iss::storage::v1::SinkStatus& s);

std::string FormatPeebotStatus(const iss::peebot::v1::Status& s);
std::string FormatDetections(const std::vector<iss::peebot::v1::Detection>& detections);
std::string FormatDestinations(const iss::peebot::v1::ListDestinationsResponse& r);
std::string FormatTestPost(const iss::peebot::v1::PostTestMessageResponse& r);
std::string FormatCooldown(const iss::peebot::v1::Settings& settings,
                           const iss::peebot::v1::Status* status);
// `peebot cooldown --json`: the Settings object with the Status's
// cooldown_remaining added as "cooldownRemaining" (both as the server sent
// them), so the JSON carries what the text output shows.
std::string CooldownJson(const iss::peebot::v1::Settings& settings,
                         const iss::peebot::v1::Status& status);

std::string FormatIngestStatus(const iss::ingest::v1::IngestStatus& s);
std::string FormatIngestSent(const iss::ingest::v1::IngestTestEventResponse& r);

// The tail status line (no newline): "tail: 1234 events, 41.2/s, last NODE3000005 (12s)".
std::string FormatProgress(uint64_t events, absl::Duration elapsed, const std::string& last_item);

// The export progress bar (no newline), `fraction` of the window done:
// "export [#######.............]  35% 12345 events, at 2026-12-01T10:00:00Z".
std::string FormatExportProgress(uint64_t events, double fraction, absl::Time at);

// A protobuf Timestamp as RFC 3339 (microseconds), "-" when unset.
std::string FormatTs(const google::protobuf::Timestamp& ts);

}  // namespace iss::issctl

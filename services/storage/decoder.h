// Owns: turning one Kafka value from telemetry.raw.v1 into a TelemetryEvent the
// sink may store, or a rejection naming why not (what goes to the DLQ).
//
// The checks protect the table, not the feed's semantics (ingestion validated
// those): the dedupe key must be trustworthy (event_id recomputed and compared),
// and nothing PostgreSQL would refuse mid-batch (NUL bytes, absurd timestamps)
// may reach a COPY, because one bad row would fail the whole transaction.
// Item ids, text fields and times are judged by common/event_rules.h, the same
// code ingestion's validator runs before it publishes: an event ingestion
// accepted passes here, and these checks are the second line for anything
// else that reaches the topic. (Text that is not UTF-8 never gets this far:
// protobuf refuses to parse a proto3 string that is not, -> "undecodable".)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "common/bus_consumer.h"
#include "iss/telemetry/v1/telemetry.pb.h"

namespace iss::storage {

// What goes to the DLQ (the shared consumer's type).
using Rejection = bus::Rejection;

struct DecodeLimits {
  bool verify_event_id = true;
};

// Parses and validates. On success fills `out` and returns nullopt.
std::optional<Rejection> DecodeEvent(std::string_view key, std::string_view value, absl::Time now,
                                     const DecodeLimits& limits,
                                     iss::telemetry::v1::TelemetryEvent* out);

// The value as a finite double when the whole text is a number ("12.5",
// "-3", "1e3"); nullopt otherwise (text, "nan", "inf", empty).
std::optional<double> NumericValue(std::string_view text);

// Microseconds since the Unix epoch of a protobuf Timestamp (nanos truncated).
int64_t TimestampMicros(const google::protobuf::Timestamp& ts);
void SetTimestampMicros(int64_t micros, google::protobuf::Timestamp* ts);

// Appends "YYYY-MM-DD HH:MM:SS.ffffff+00", the text PostgreSQL reads as a
// timestamptz, without going through a general formatter (hot path of COPY).
void AppendPgTimestamp(std::string& out, int64_t micros_since_epoch);

}  // namespace iss::storage

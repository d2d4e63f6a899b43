// Owns: deciding whether one raw update is acceptable telemetry, and turning it
// into typed fields (the source timestamp as an instant) for the enricher.
//
// The limits are storage's (common/event_rules.h): whatever passes here,
// storage stores; whatever storage would refuse is refused here, where the
// caller can still be told.
//
// Every rejection is an INVALID_ARGUMENT status whose message names the field
// and which carries a stable, machine-readable reason code (RejectReason()):
//   bad_item_id        item id does not match ^[A-Z0-9_]{1,64}$
//   missing_timestamp  no TimeStamp / source_ts (null or empty)
//   bad_timestamp      TimeStamp is not ISSLIVE decimal hours (iss::ParseIssTimestamp),
//                      or the source time or the receive time (received_at,
//                      the event's received_ts) is before 1998-11-20 or more
//                      than 24 h ahead of `now`, or `now` itself (ingest_ts)
//                      is before 1998-11-20
//   missing_value      Value is null (see below)
//   field_too_long     value > 1024, TimeStamp or any status field > 64,
//                      calibrated data > 1024 bytes
//   nul_character      a text field holds a NUL byte (PostgreSQL text cannot
//                      store it; storage would reject the event later)
//   bad_utf8           a text field is not UTF-8 (a proto3 string must be)
// Reason codes are metric label values and DLQ headers: never rename them.
//
// Null values. The feed sends '#' (null) for an item that has no value yet,
// typically in the snapshot of an item that is not downlinked. Such an update
// carries no telemetry, so it is rejected as missing_value, with one exception:
// TIME_000001, whose meaning is in its TimeStamp and Status.Class (the signal
// state, see signal_tracker.h); a null Value there is legitimate and the event
// is accepted with `value` unset. Empty strings ('$') are values, not nulls.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/event_rules.h"
#include "services/ingestion/update.h"

namespace iss::ingest {

// Reason codes (stable).
inline constexpr std::string_view kBadItemId = "bad_item_id";
inline constexpr std::string_view kMissingTimestamp = "missing_timestamp";
inline constexpr std::string_view kBadTimestamp = "bad_timestamp";
inline constexpr std::string_view kMissingValue = "missing_value";
inline constexpr std::string_view kFieldTooLong = "field_too_long";
inline constexpr std::string_view kNulCharacter = "nul_character";
inline constexpr std::string_view kBadUtf8 = "bad_utf8";
// Used by sources for input that could not even be decoded into a RawUpdate
// (a malformed replay line, a bad JSON body).
inline constexpr std::string_view kUndecodable = "undecodable";

using rules::IsValidItemId;
using rules::kMaxCalibratedBytes;
using rules::kMaxItemIdBytes;
using rules::kMaxStatusBytes;
using rules::kMaxValueBytes;
// The feed's TimeStamp text (ingestion's own input; storage never sees it).
inline constexpr size_t kMaxTimestampBytes = 64;

// An update that passed validation. Field names follow the TelemetryEvent proto.
struct ValidatedUpdate {
  std::string item_id;
  absl::Time source_ts;  // not yet truncated (the enricher does that)
  std::optional<std::string> value;
  std::optional<std::string> status_class;
  std::optional<std::string> status_indicator;
  std::optional<std::string> status_color;
  std::optional<std::string> calibrated_data;
  // When the source received it (the event's received_ts). ValidateTyped
  // reads InfinitePast as "unset": the time of the call (`now`).
  absl::Time received_at = absl::InfinitePast();
  std::string source;
};

// Validates a decoded feed update: parses TimeStamp relative to received_at.
// `now` is the clock the time range is judged by, and the event's ingest_ts.
absl::StatusOr<ValidatedUpdate> Validate(const RawUpdate& update, absl::Time now);
// The same, moving the fields out of `update` when it is valid; a rejected
// `update` is left as it was (its fields go to the dead letter).
absl::StatusOr<ValidatedUpdate> Validate(RawUpdate&& update, absl::Time now);

// Validates an update whose timestamp is already an instant (the test-ingest
// RPC). `source_ts` nullopt = missing_timestamp. `candidate.received_at`
// unset becomes `now`; set, it is checked as "received_ts". The other rules
// are the same.
absl::StatusOr<ValidatedUpdate> ValidateTyped(ValidatedUpdate candidate,
                                              std::optional<absl::Time> source_ts, absl::Time now);

// The reason code of a status returned by the validator (or built with
// Rejection()); "invalid" for any other non-OK status.
std::string RejectReason(const absl::Status& status);

// INVALID_ARGUMENT carrying `reason`; the message is `detail`.
absl::Status Rejection(std::string_view reason, std::string_view detail);

}  // namespace iss::ingest

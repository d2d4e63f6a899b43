// Owns: deciding whether one raw update is acceptable telemetry, and turning it
// into typed fields (the source timestamp as an instant) for the enricher.
//
// Every rejection is an INVALID_ARGUMENT status whose message names the field
// and which carries a stable, machine-readable reason code (RejectReason()):
//   bad_item_id        item id does not match ^[A-Z0-9_]{1,64}$
//   missing_timestamp  no TimeStamp / source_ts (null or empty)
//   bad_timestamp      TimeStamp is not ISSLIVE decimal hours (iss::ParseIssTimestamp)
//   missing_value      Value is null (see below)
//   field_too_long     value > 1024, TimeStamp or any status field > 64,
//                      calibrated data > 1024 bytes
//   nul_character      a text field holds a NUL byte (PostgreSQL text cannot
//                      store it; storage would reject the event later)
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
#include "services/ingestion/update.h"

namespace iss::ingest {

// Reason codes (stable).
inline constexpr std::string_view kBadItemId = "bad_item_id";
inline constexpr std::string_view kMissingTimestamp = "missing_timestamp";
inline constexpr std::string_view kBadTimestamp = "bad_timestamp";
inline constexpr std::string_view kMissingValue = "missing_value";
inline constexpr std::string_view kFieldTooLong = "field_too_long";
inline constexpr std::string_view kNulCharacter = "nul_character";
// Used by sources for input that could not even be decoded into a RawUpdate
// (a malformed replay line, a bad JSON body).
inline constexpr std::string_view kUndecodable = "undecodable";

inline constexpr size_t kMaxItemIdBytes = 64;
inline constexpr size_t kMaxValueBytes = 1024;
inline constexpr size_t kMaxStatusBytes = 64;
inline constexpr size_t kMaxTimestampBytes = 64;
inline constexpr size_t kMaxCalibratedBytes = 1024;

// An update that passed validation. Field names follow the TelemetryEvent proto.
struct ValidatedUpdate {
  std::string item_id;
  absl::Time source_ts;  // not yet truncated (the enricher does that)
  std::optional<std::string> value;
  std::optional<std::string> status_class;
  std::optional<std::string> status_indicator;
  std::optional<std::string> status_color;
  std::optional<std::string> calibrated_data;
  absl::Time received_at;
  std::string source;
};

// Validates a decoded feed update: parses TimeStamp relative to received_at.
absl::StatusOr<ValidatedUpdate> Validate(const RawUpdate& update);
// The same, moving the fields out of `update` when it is valid; a rejected
// `update` is left as it was (its fields go to the dead letter).
absl::StatusOr<ValidatedUpdate> Validate(RawUpdate&& update);

// Validates an update whose timestamp is already an instant (the test-ingest
// RPC). `source_ts` nullopt = missing_timestamp. The other rules are the same.
absl::StatusOr<ValidatedUpdate> ValidateTyped(ValidatedUpdate candidate,
                                              std::optional<absl::Time> source_ts);

// The reason code of a status returned by the validator (or built with
// Rejection()); "invalid" for any other non-OK status.
std::string RejectReason(const absl::Status& status);

// INVALID_ARGUMENT carrying `reason`; the message is `detail`.
absl::Status Rejection(std::string_view reason, std::string_view detail);

bool IsValidItemId(std::string_view item_id);

}  // namespace iss::ingest

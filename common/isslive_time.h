// Owns: converting ISSLIVE's TimeStamp field to UTC.
//
// The feed's TimeStamp is decimal hours counted from 00:00 UTC on Dec 31 of the
// previous year: 1-based day-of-year * 24 + hours, so Jan 1 00:00 UTC = 24.0.
// The year is not in the field; we pick the year that puts the instant nearest
// the receive time (this handles the new-year roll-over in both directions and
// leap years). Example: 4224.014583888915 -> 2026-06-25T00:00:52.502Z.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace iss {

// `hours` as defined above, counted from Dec 31 00:00 UTC of `year - 1`.
absl::Time IssHoursToTime(int year, double hours);

// The TimeStamp text as a number: exactly what absl::SimpleAtod accepts
// (surrounding whitespace, a '+', exponents, "inf", ...) and the same double.
// The feed's own form ("4224.014583888915") takes a faster path. No range check.
bool ParseIssHours(std::string_view text, double* hours);

// Parses the TimeStamp text and picks the year nearest `received_at`.
// INVALID_ARGUMENT for text that is not a finite number in [0, 9000) hours.
absl::StatusOr<absl::Time> ParseIssTimestamp(std::string_view text, absl::Time received_at);

// The inverse, for the simulator: hours since Dec 31 00:00 UTC of the previous year.
double TimeToIssHours(absl::Time t);

// `t` (to the microsecond) as TimeStamp text: the shortest decimal hours that
// ParseIssTimestamp(text, r) turns back into exactly TruncateToMicros(t) for
// any receive time r within a few months of t (the year is picked by r). For
// writing stored events as replay lines (issctl export): same source_ts, so
// the same event_id.
std::string FormatIssTimestamp(absl::Time t);

// Truncates to whole microseconds (the precision we carry everywhere).
absl::Time TruncateToMicros(absl::Time t);

}  // namespace iss

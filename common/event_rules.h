// Owns: the rules a telemetry event must satisfy to be stored, in one place.
//
// Ingestion's validator applies them to every update before it is published,
// so bad input is refused where it enters (the test-ingest RPC answers
// INVALID_ARGUMENT naming the field; a feed update goes to ingestion's dead
// letters) instead of being answered "enqueued" and dead-lettered by storage
// later. Storage's decoder applies the same functions again before a row can
// reach COPY (defence in depth: the topic may hold events that did not come
// through this validator).
//
// Each check returns a fault code and allocates nothing; the caller turns a
// fault into its own stable reason code and a message naming the field
// (Describe() words the fault).
//
// Times. source_ts must lie in [1998-11-20T00:00:00Z, now + 24 h], compared in
// whole seconds of the instant truncated to microseconds (how every event
// carries it): nothing older is ISS telemetry, and anything later is a broken
// clock or a forged event that would sit at the head of every "latest" query.
// `now` is the checking service's clock. Storage checks after ingestion, so its
// `now` is later and an event ingestion let through is never refused for its
// time by storage (given clocks in step). ingest_ts has the same lower bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace iss::rules {

inline constexpr size_t kMaxItemIdBytes = 64;
inline constexpr size_t kMaxValueBytes = 1024;
inline constexpr size_t kMaxStatusBytes = 64;  // Status.Class, .Indicator, .Color each
inline constexpr size_t kMaxCalibratedBytes = 1024;
inline constexpr size_t kMaxSourceBytes = 64;

// 1998-11-20T00:00:00Z, the launch of Zarya, the first ISS module.
inline constexpr int64_t kEarliestUnixSeconds = 911520000;
// How far ahead of the checker's clock a source time may be.
inline constexpr absl::Duration kMaxAhead = absl::Hours(24);

// ^[A-Z0-9_]{1,64}$: the ISSLIVE item ids (e.g. "NODE3000005").
bool IsValidItemId(std::string_view id);

// A text field (value, status fields, calibrated data, source). PostgreSQL
// text cannot hold NUL, and a proto3 string must be UTF-8 (protobuf refuses to
// parse the event otherwise). The first fault found in the text is reported.
enum class TextFault { kNone, kTooLong, kNul, kNotUtf8 };
TextFault CheckText(std::string_view text, size_t max_bytes);

enum class TimeFault { kNone, kBadNanos, kBeforeIss, kTooFarAhead };
// A protobuf Timestamp's (seconds, nanos).
TimeFault CheckSourceTime(int64_t unix_seconds, int32_t nanos, absl::Time now);
TimeFault CheckIngestTime(int64_t unix_seconds, int32_t nanos);
// An instant, checked as the event will carry it (truncated to microseconds).
TimeFault CheckSourceTime(absl::Time t, absl::Time now);
TimeFault CheckIngestTime(absl::Time t);

// The fault in words, for messages that name the field: "longer than 64
// bytes", "before 1998-11-20T00:00:00Z (the first ISS module's launch)", ...
std::string Describe(TextFault fault, size_t max_bytes);
std::string Describe(TimeFault fault);

}  // namespace iss::rules

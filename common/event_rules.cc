#include "common/event_rules.h"

#include "absl/strings/str_cat.h"
#include "common/utf8.h"

namespace iss::rules {

bool IsValidItemId(std::string_view id) {
  if (id.empty() || id.size() > kMaxItemIdBytes) return false;
  for (char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

TextFault CheckText(std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes) return TextFault::kTooLong;
  // One pass for both: feed values are short and almost always ASCII.
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == 0) return TextFault::kNul;
    if (c < 0x80) {
      ++i;
      continue;
    }
    const size_t n = Utf8SequenceLength(text, i);
    if (n == 0) return TextFault::kNotUtf8;
    i += n;
  }
  return TextFault::kNone;
}

TimeFault CheckSourceTime(int64_t unix_seconds, int32_t nanos, absl::Time now) {
  if (nanos < 0 || nanos >= 1'000'000'000) return TimeFault::kBadNanos;
  if (unix_seconds < kEarliestUnixSeconds) return TimeFault::kBeforeIss;
  if (unix_seconds > absl::ToUnixSeconds(now + kMaxAhead)) return TimeFault::kTooFarAhead;
  return TimeFault::kNone;
}

TimeFault CheckIngestTime(int64_t unix_seconds, int32_t nanos) {
  if (nanos < 0 || nanos >= 1'000'000'000) return TimeFault::kBadNanos;
  if (unix_seconds < kEarliestUnixSeconds) return TimeFault::kBeforeIss;
  return TimeFault::kNone;
}

// Truncating to microseconds never changes the (flooring) whole second, so the
// instant's own second is the one the event will carry.
TimeFault CheckSourceTime(absl::Time t, absl::Time now) {
  return CheckSourceTime(absl::ToUnixSeconds(t), 0, now);
}

TimeFault CheckIngestTime(absl::Time t) { return CheckIngestTime(absl::ToUnixSeconds(t), 0); }

std::string Describe(TextFault fault, size_t max_bytes) {
  switch (fault) {
    case TextFault::kNone:
      return "valid";
    case TextFault::kTooLong:
      return absl::StrCat("longer than ", max_bytes, " bytes");
    case TextFault::kNul:
      return "contains a NUL character";
    case TextFault::kNotUtf8:
      return "is not valid UTF-8";
  }
  return "invalid";
}

std::string Describe(TimeFault fault) {
  switch (fault) {
    case TimeFault::kNone:
      return "valid";
    case TimeFault::kBadNanos:
      return "nanos outside [0, 999999999]";
    case TimeFault::kBeforeIss:
      return "before 1998-11-20T00:00:00Z (the first ISS module's launch)";
    case TimeFault::kTooFarAhead:
      return absl::StrCat("more than ", absl::FormatDuration(kMaxAhead),
                          " ahead of the server's clock");
  }
  return "invalid";
}

}  // namespace iss::rules

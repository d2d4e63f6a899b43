#include "common/isslive_time.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/strings.h"

namespace iss {
namespace {

absl::Time Epoch(int year) {
  return absl::FromCivil(absl::CivilSecond(year - 1, 12, 31, 0, 0, 0), absl::UTCTimeZone());
}

}  // namespace

absl::Time IssHoursToTime(int year, double hours) {
  // Hours carry sub-microsecond noise from the feed's float formatting: round
  // to the nearest microsecond, not truncate, so 52.502 s stays 52.502 s.
  const int64_t micros = static_cast<int64_t>(std::llround(hours * 3600.0 * 1e6));
  return Epoch(year) + absl::Microseconds(micros);
}

absl::StatusOr<absl::Time> ParseIssTimestamp(std::string_view text, absl::Time received_at) {
  double hours;
  const absl::string_view trimmed = absl::StripAsciiWhitespace(AsAbsl(text));
  if (trimmed.empty() || !absl::SimpleAtod(trimmed, &hours) || !std::isfinite(hours) ||
      hours < 0 || hours >= 9000) {
    return absl::InvalidArgumentError(
        absl::StrCat("TimeStamp \"", AsAbsl(text), "\" is not decimal hours in [0, 9000)"));
  }
  const int year = absl::ToCivilYear(received_at, absl::UTCTimeZone()).year();
  absl::Time best = IssHoursToTime(year, hours);
  for (int y : {year - 1, year + 1}) {
    const absl::Time candidate = IssHoursToTime(y, hours);
    if (absl::AbsDuration(candidate - received_at) < absl::AbsDuration(best - received_at)) {
      best = candidate;
    }
  }
  return best;
}

double TimeToIssHours(absl::Time t) {
  const int year = absl::ToCivilYear(t, absl::UTCTimeZone()).year();
  return absl::ToDoubleHours(t - Epoch(year));
}

absl::Time TruncateToMicros(absl::Time t) {
  return absl::FromUnixMicros(absl::ToUnixMicros(t));
}

}  // namespace iss

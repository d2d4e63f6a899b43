#include "common/isslive_time.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/strings.h"
#include "common/utc_days.h"

namespace iss {
namespace {

// Years whose arithmetic we do ourselves (exactly absl's for UTC); outside
// them absl decides (it saturates near the ends of absl::Time).
constexpr int64_t kFastFirstYear = 1;
constexpr int64_t kFastLastYear = 1000000;

absl::Time Epoch(int64_t year) {
  if (year >= kFastFirstYear && year <= kFastLastYear) {
    return absl::FromUnixSeconds(DaysFromCivil(year - 1, 12, 31) * 86400);
  }
  return absl::FromCivil(absl::CivilSecond(year - 1, 12, 31, 0, 0, 0), absl::UTCTimeZone());
}

// The UTC year of `t` (cctz only outside the common range).
int64_t UtcYear(absl::Time t) {
  const int64_t secs = absl::ToUnixSeconds(t);
  constexpr int64_t kFirst = DaysFromCivil(kFastFirstYear, 1, 1) * 86400;
  constexpr int64_t kEnd = DaysFromCivil(kFastLastYear + 1, 1, 1) * 86400;
  if (secs >= kFirst && secs < kEnd) return CivilFromDays(DayOfUnixSeconds(secs)).year;
  return absl::ToCivilYear(t, absl::UTCTimeZone()).year();
}

absl::Time HoursToTime(int64_t year, double hours) {
  // Hours carry sub-microsecond noise from the feed's float formatting: round
  // to the nearest microsecond, not truncate, so 52.502 s stays 52.502 s.
  const int64_t micros = static_cast<int64_t>(std::llround(hours * 3600.0 * 1e6));
  return Epoch(year) + absl::Microseconds(micros);
}

}  // namespace

absl::Time IssHoursToTime(int year, double hours) { return HoursToTime(year, hours); }

absl::StatusOr<absl::Time> ParseIssTimestamp(std::string_view text, absl::Time received_at) {
  double hours;
  const absl::string_view trimmed = absl::StripAsciiWhitespace(AsAbsl(text));
  if (trimmed.empty() || !absl::SimpleAtod(trimmed, &hours) || !std::isfinite(hours) || hours < 0 ||
      hours >= 9000) {
    return absl::InvalidArgumentError(
        absl::StrCat("TimeStamp \"", AsAbsl(text), "\" is not decimal hours in [0, 9000)"));
  }
  const int64_t year = UtcYear(received_at);
  absl::Time best = HoursToTime(year, hours);
  for (int64_t y : {year - 1, year + 1}) {
    const absl::Time candidate = HoursToTime(y, hours);
    if (absl::AbsDuration(candidate - received_at) < absl::AbsDuration(best - received_at)) {
      best = candidate;
    }
  }
  return best;
}

double TimeToIssHours(absl::Time t) {
  const int64_t year = UtcYear(t);
  return absl::ToDoubleHours(t - Epoch(year));
}

absl::Time TruncateToMicros(absl::Time t) { return absl::FromUnixMicros(absl::ToUnixMicros(t)); }

std::string FormatIssTimestamp(absl::Time t) {
  const absl::Time want = TruncateToMicros(t);
  const int64_t year = UtcYear(want);
  const double hours = absl::ToDoubleHours(want - Epoch(year));
  // 17 significant digits always round-trip a double; fewer usually do and
  // read like the feed's own text ("4224.014583888915").
  std::string text;
  for (int digits = 12; digits <= 17; ++digits) {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%.*g", digits, hours);
    text = buf;
    if (HoursToTime(year, std::strtod(buf, nullptr)) == want) break;
  }
  return text;
}

}  // namespace iss

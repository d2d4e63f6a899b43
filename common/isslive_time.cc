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

// Hours carry sub-microsecond noise from the feed's float formatting: round
// to the nearest microsecond, not truncate, so 52.502 s stays 52.502 s.
absl::Duration HoursToOffset(double hours) {
  return absl::Microseconds(static_cast<int64_t>(std::llround(hours * 3600.0 * 1e6)));
}

absl::Time HoursToTime(int64_t year, double hours) { return Epoch(year) + HoursToOffset(hours); }

// The feed's own form, "4224.014583888915": digits, optionally '.' and more
// digits, at most 19 digits in all. Its value is exactly mantissa / 10^k (k
// fraction digits). With the mantissa at most 2^53 both are exact doubles
// (10^k is, up to k = 22), so one IEEE division rounds the quotient correctly:
// the double absl::SimpleAtod returns, since its from_chars rounds correctly
// too (this is Clinger's fast path). False for any other text, which then
// goes to SimpleAtod.
bool ParseFeedHours(std::string_view text, double* hours) {
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
                                      1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19};
  uint64_t mantissa = 0;
  int digits = 0;
  int fraction_digits = -1;  // -1: no '.' seen
  for (const char c : text) {
    if (c >= '0' && c <= '9') {
      if (++digits > 19) return false;
      mantissa = mantissa * 10 + static_cast<uint64_t>(c - '0');
      if (fraction_digits >= 0) ++fraction_digits;
    } else if (c == '.' && fraction_digits < 0 && digits > 0) {
      fraction_digits = 0;
    } else {
      return false;
    }
  }
  if (digits == 0 || fraction_digits == 0 || mantissa > (uint64_t{1} << 53)) return false;
  *hours = static_cast<double>(mantissa) / kPow10[fraction_digits < 0 ? 0 : fraction_digits];
  return true;
}

// Of the offset counted from the start of `year`, `year - 1` and `year + 1`,
// the instant nearest `received_at`; on a tie `year`, then `year - 1`.
absl::Time NearestCandidate(int64_t year, absl::Duration offset, absl::Time received_at) {
  if (year - 1 >= kFastFirstYear && year + 1 <= kFastLastYear) {
    // Exact year starts: with x = offset - (received_at - start) and the
    // previous/this year's lengths P and T, |x - P| < |x| iff x > P/2, and
    // |x + T| < |x| iff x < -T/2 (never both). One subtraction decides,
    // instead of three candidates and five distances; same ties.
    const int64_t previous = DaysFromCivil(year - 2, 12, 31) * 86400;
    const int64_t start = DaysFromCivil(year - 1, 12, 31) * 86400;
    const int64_t next = DaysFromCivil(year, 12, 31) * 86400;
    const absl::Duration x = offset - (received_at - absl::FromUnixSeconds(start));
    int64_t best = start;
    if (x > absl::Seconds((start - previous) / 2)) {
      best = previous;
    } else if (x < absl::Seconds(-(next - start) / 2)) {
      best = next;
    }
    return absl::FromUnixSeconds(best) + offset;
  }
  absl::Time best = Epoch(year) + offset;
  for (int64_t y : {year - 1, year + 1}) {
    const absl::Time candidate = Epoch(y) + offset;
    if (absl::AbsDuration(candidate - received_at) < absl::AbsDuration(best - received_at)) {
      best = candidate;
    }
  }
  return best;
}

}  // namespace

absl::Time IssHoursToTime(int year, double hours) { return HoursToTime(year, hours); }

bool ParseIssHours(std::string_view text, double* hours) {
  if (ParseFeedHours(text, hours)) return true;
  const absl::string_view trimmed = absl::StripAsciiWhitespace(AsAbsl(text));
  return !trimmed.empty() && absl::SimpleAtod(trimmed, hours);
}

absl::StatusOr<absl::Time> ParseIssTimestamp(std::string_view text, absl::Time received_at) {
  double hours;
  if (!ParseIssHours(text, &hours) || !std::isfinite(hours) || hours < 0 || hours >= 9000) {
    return absl::InvalidArgumentError(
        absl::StrCat("TimeStamp \"", AsAbsl(text), "\" is not decimal hours in [0, 9000)"));
  }
  return NearestCandidate(UtcYear(received_at), HoursToOffset(hours), received_at);
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

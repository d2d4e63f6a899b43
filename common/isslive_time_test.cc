#include "common/isslive_time.h"

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/utc_days.h"
#include "gtest/gtest.h"

namespace iss {
namespace {

absl::Time Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

TEST(IssliveTime, JanuaryFirstIsTwentyFourHours) {
  EXPECT_EQ(IssHoursToTime(2026, 24.0), Utc(2026, 1, 1));
}

TEST(IssliveTime, PublishedWorkedExample) {
  // Observed on the live feed: 4224.014583888915 -> 2026-06-25 00:00:52.502 UTC.
  auto t = ParseIssTimestamp("4224.014583888915", Utc(2026, 6, 25, 0, 1));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, Utc(2026, 6, 25, 0, 0, 52) + absl::Milliseconds(502));
}

TEST(IssliveTime, LeapYearShiftsDaysAfterFebruary) {
  // Day 60 is Mar 1 in a common year and Feb 29 in a leap year.
  EXPECT_EQ(IssHoursToTime(2026, 60 * 24.0), Utc(2026, 3, 1));
  EXPECT_EQ(IssHoursToTime(2028, 60 * 24.0), Utc(2028, 2, 29));
  EXPECT_EQ(IssHoursToTime(2028, 366 * 24.0 + 12), Utc(2028, 12, 31, 12));
}

TEST(IssliveTime, OldYearStampReceivedJustAfterMidnightNewYear) {
  // 23:59:59 on Dec 31 2025 (day 365) arrives at 00:00:02 on Jan 1 2026.
  const double hours = 365 * 24.0 + 23 + 59 / 60.0 + 59 / 3600.0;
  auto t = ParseIssTimestamp(std::to_string(hours), Utc(2026, 1, 1, 0, 0, 2));
  ASSERT_TRUE(t.ok());
  EXPECT_LT(absl::AbsDuration(*t - Utc(2025, 12, 31, 23, 59, 59)), absl::Milliseconds(1));
}

TEST(IssliveTime, NewYearStampReceivedJustBeforeMidnightByASkewedClock) {
  // Station says Jan 1 2027 00:00:01 (24.000277 h); our clock still says 2026.
  auto t = ParseIssTimestamp("24.000277777", Utc(2026, 12, 31, 23, 59, 59));
  ASSERT_TRUE(t.ok());
  EXPECT_LT(absl::AbsDuration(*t - Utc(2027, 1, 1, 0, 0, 1)), absl::Milliseconds(1));
}

TEST(IssliveTime, LeapDayRollOver) {
  // Day 366 of leap year 2028 is Dec 31; received on Jan 1 2029.
  auto t = ParseIssTimestamp(std::to_string(366 * 24.0 + 23.5), Utc(2029, 1, 1, 0, 10));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, Utc(2028, 12, 31, 23, 30));
}

TEST(IssliveTime, RejectsGarbage) {
  for (const char* bad : {"", "abc", "-1", "nan", "inf", "9000", "12.5x", "1e400"}) {
    EXPECT_FALSE(ParseIssTimestamp(bad, Utc(2026, 1, 1)).ok()) << bad;
  }
}

// Stored events written back as replay lines keep their source_ts to the
// microsecond (and so their event_id), across years and at the year's edges.
TEST(IssliveTime, FormatIssTimestampParsesBackToTheSameMicrosecond) {
  std::mt19937_64 rng(15);
  std::vector<absl::Time> times = {
      absl::FromUnixMicros(1782345652502000),  // the published example
      absl::FromCivil(absl::CivilSecond(2026, 1, 1, 0, 0, 0), absl::UTCTimeZone()),
      absl::FromCivil(absl::CivilSecond(2025, 12, 31, 23, 59, 59), absl::UTCTimeZone()) +
          absl::Microseconds(999999),
      absl::FromCivil(absl::CivilSecond(2028, 2, 29, 12, 0, 0), absl::UTCTimeZone()) +
          absl::Microseconds(1),
  };
  for (int i = 0; i < 2000; ++i) {
    times.push_back(
        absl::FromUnixMicros(946684800000000 + static_cast<int64_t>(rng() % 1600000000000000ULL)));
  }
  for (absl::Time t : times) {
    const std::string text = FormatIssTimestamp(t);
    // Received a few seconds later (an export writes received_ts there).
    auto back = ParseIssTimestamp(text, t + absl::Seconds(3));
    ASSERT_TRUE(back.ok()) << text;
    EXPECT_EQ(*back, TruncateToMicros(t)) << text << " for " << absl::FormatTime(t);
  }
  EXPECT_EQ(FormatIssTimestamp(absl::FromUnixMicros(1782345652502000)), "4224.014583889");
}

TEST(IssliveTime, RoundTrip) {
  const absl::Time t = Utc(2026, 11, 22, 10, 30, 15) + absl::Microseconds(123456);
  auto back = ParseIssTimestamp(std::to_string(TimeToIssHours(t)), t);
  ASSERT_TRUE(back.ok());
  // std::to_string keeps 6 decimals of hours (~3.6 ms).
  EXPECT_LT(absl::AbsDuration(*back - t), absl::Milliseconds(4));
  EXPECT_EQ(TruncateToMicros(t + absl::Nanoseconds(999)), t);
}

// The year arithmetic is our own (common/utc_days.h); absl's cctz is the
// reference it must equal.
absl::Time ReferenceParse(double hours, absl::Time received_at) {
  const int64_t year = absl::ToCivilYear(received_at, absl::UTCTimeZone()).year();
  auto at = [&](int64_t y) {
    return absl::FromCivil(absl::CivilSecond(y - 1, 12, 31, 0, 0, 0), absl::UTCTimeZone()) +
           absl::Microseconds(std::llround(hours * 3600.0 * 1e6));
  };
  absl::Time best = at(year);
  for (int64_t y : {year - 1, year + 1}) {
    if (absl::AbsDuration(at(y) - received_at) < absl::AbsDuration(best - received_at))
      best = at(y);
  }
  return best;
}

// Received exactly halfway between two years' candidates (and a nanosecond
// either side): the same year is picked as by comparing every distance.
TEST(IssliveTime, TiesBetweenYearsAreBrokenAsByTheReference) {
  for (int64_t year : {1999, 2000, 2024, 2026, 2027, 2028, 2100}) {
    for (const char* text : {"24", "4224.014583888915", "8783.5", "200.25", "0"}) {
      double hours = 0;
      ASSERT_TRUE(absl::SimpleAtod(text, &hours));
      const absl::Duration offset = absl::Microseconds(std::llround(hours * 3600.0 * 1e6));
      auto candidate = [&](int64_t y) { return Utc(static_cast<int>(y) - 1, 12, 31) + offset; };
      for (int64_t other : {year - 1, year + 1}) {
        const absl::Time halfway = candidate(year) + (candidate(other) - candidate(year)) / 2;
        for (absl::Duration d :
             {-absl::Nanoseconds(1), absl::ZeroDuration(), absl::Nanoseconds(1)}) {
          auto t = ParseIssTimestamp(text, halfway + d);
          ASSERT_TRUE(t.ok());
          EXPECT_EQ(*t, ReferenceParse(hours, halfway + d))
              << text << " received " << absl::FormatTime(halfway + d);
        }
      }
    }
  }
}

TEST(IssliveTime, MatchesAbslCivilArithmeticOnRandomTimes) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> secs(-62135596800LL, 253402300799LL);  // years 1-9999
  std::uniform_int_distribution<int64_t> recent(1577836800LL, 2524608000LL);    // 2020-2050
  std::uniform_real_distribution<double> hours(0, 8999.999);
  for (int i = 0; i < 100000; ++i) {
    const absl::Time received = absl::FromUnixSeconds(i % 2 ? secs(rng) : recent(rng)) +
                                absl::Nanoseconds(rng() % 1000000000);
    const double h = hours(rng);
    auto t = ParseIssTimestamp(absl::StrFormat("%.10f", h), received);
    ASSERT_TRUE(t.ok());
    double parsed = 0;
    ASSERT_TRUE(absl::SimpleAtod(absl::StrFormat("%.10f", h), &parsed));
    ASSERT_EQ(*t, ReferenceParse(parsed, received)) << absl::FormatTime(received);
    const absl::Time epoch = absl::FromCivil(
        absl::CivilSecond(absl::ToCivilYear(received, absl::UTCTimeZone()).year() - 1, 12, 31),
        absl::UTCTimeZone());
    ASSERT_EQ(TimeToIssHours(received), absl::ToDoubleHours(received - epoch));
  }
}

// What the parser did before its fast path for the feed's form: SimpleAtod
// after trimming. ParseIssHours must accept and reject the same texts and
// return the same double, bit for bit.
// absl::SimpleAtod's reading of `text` (surrounding whitespace trimmed), the
// reference ParseIssHours must match: accepts the same texts, gives the same
// double bit for bit. Returns whether it accepted; `reference` is its double.
bool ExpectSameAsSimpleAtod(const std::string& text, double* reference) {
  double ours = -1;
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  const bool want = !trimmed.empty() && absl::SimpleAtod(trimmed, reference);
  EXPECT_EQ(ParseIssHours(text, &ours), want) << '"' << text << '"';
  if (want && !std::isnan(*reference)) {
    EXPECT_EQ(std::memcmp(&ours, reference, sizeof(double)), 0) << '"' << text << '"';
  }
  return want;
}

TEST(IssliveTime, ParseIssHoursIsSimpleAtodOnEdgeCases) {
  const std::vector<std::string> texts = {
      "", " ", ".", "0", "00", "0.0", "-0", "-0.0", "+24", "+-24", "24.", ".5", "007.25", "24 .5",
      "2..4", "1.2.3", "24,5", "0x18", "24e0", "2.4E1", "2.4e+1", " 24", "24 ", "\t24\n", "24\v",
      "inf", "-inf", "nan", "infinity", "1e400", "1e-400", "9000", "9000.0", "8999.99999999999",
      "8999.9999999999999", "4224.014583888915", "4224.0145838889154",
      // Mantissas at 2^53 and just past it; 19 and 20 digits.
      "0.9007199254740992", "0.9007199254740993", "9007199254740992", "9007199254740993",
      "1234.567890123456789", "0.0000000000000000001", "0000000000000000024.5",
      "0000000000000000000024", std::string("24\0", 3), "\xef\xbc\x92\xef\xbc\x94"};
  for (const std::string& text : texts) {
    double reference = -1;
    const bool want = ExpectSameAsSimpleAtod(text, &reference);
    const absl::Time received = Utc(2026, 6, 25);
    const bool in_range = want && std::isfinite(reference) && reference >= 0 && reference < 9000;
    auto t = ParseIssTimestamp(text, received);
    ASSERT_EQ(t.ok(), in_range) << '"' << text << '"';
    if (in_range) {
      EXPECT_EQ(*t, ReferenceParse(reference, received)) << '"' << text << '"';
    }
  }
}

TEST(IssliveTime, ParseIssHoursIsSimpleAtodOnRandomTexts) {
  std::mt19937_64 rng(19);
  const std::string alphabet = "0123456789012345678901234567890123456789..+-eE x";
  for (int i = 0; i < 300000; ++i) {
    std::string text;
    if (i % 2) {
      // The feed's form: up to 4 integer digits, up to 18 fraction digits,
      // so mantissas fall on both sides of 2^53.
      text = absl::StrCat(rng() % 9001);
      const int fraction = static_cast<int>(rng() % 19);
      if (fraction > 0 || rng() % 8 == 0) text += '.';
      for (int k = 0; k < fraction; ++k) text += static_cast<char>('0' + rng() % 10);
    } else {
      text.resize(rng() % 24);
      for (char& c : text) c = alphabet[rng() % alphabet.size()];
    }
    double reference = -1;
    ExpectSameAsSimpleAtod(text, &reference);
    if (::testing::Test::HasFailure()) return;  // one counterexample is enough
  }
}

TEST(IssliveTime, DayNumbersMatchAbsl) {
  for (int64_t day = DaysFromCivil(1, 1, 1); day < DaysFromCivil(10000, 1, 1); day += 7) {
    const absl::CivilDay c = absl::CivilDay(1970, 1, 1) + day;
    const CivilDate ours = CivilFromDays(day);
    ASSERT_EQ(ours.year, c.year());
    ASSERT_EQ(ours.month, c.month());
    ASSERT_EQ(ours.day, c.day());
    ASSERT_EQ(DaysFromCivil(c.year(), c.month(), c.day()), day);
  }
}

}  // namespace
}  // namespace iss

#include "common/isslive_time.h"

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
  // shared/notes/isslive.md: 4224.014583888915 -> 2026-06-25 00:00:52.502 UTC.
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

TEST(IssliveTime, RoundTrip) {
  const absl::Time t = Utc(2026, 11, 22, 10, 30, 15) + absl::Microseconds(123456);
  auto back = ParseIssTimestamp(std::to_string(TimeToIssHours(t)), t);
  ASSERT_TRUE(back.ok());
  // std::to_string keeps 6 decimals of hours (~3.6 ms).
  EXPECT_LT(absl::AbsDuration(*back - t), absl::Milliseconds(4));
  EXPECT_EQ(TruncateToMicros(t + absl::Nanoseconds(999)), t);
}

}  // namespace
}  // namespace iss

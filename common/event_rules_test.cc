#include "common/event_rules.h"

#include <string>

#include "gtest/gtest.h"

namespace iss::rules {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1795000000);  // 2026-11-18

TEST(EventRules, ItemIds) {
  EXPECT_TRUE(IsValidItemId("NODE3000005"));
  EXPECT_TRUE(IsValidItemId("TIME_000001"));
  EXPECT_TRUE(IsValidItemId(std::string(kMaxItemIdBytes, 'Z')));
  for (const std::string& bad :
       {std::string(), std::string(kMaxItemIdBytes + 1, 'Z'), std::string("node3000005"),
        std::string("NODE-1"), std::string("NODE.1"), std::string("NODE 1"), std::string("N\0D", 3),
        std::string("\xc3\x84"
                    "B")}) {
    EXPECT_FALSE(IsValidItemId(bad)) << bad;
  }
}

TEST(EventRules, TextFaults) {
  EXPECT_EQ(CheckText("", 4), TextFault::kNone);
  EXPECT_EQ(CheckText("12.5", 4), TextFault::kNone);
  EXPECT_EQ(CheckText("12.50", 4), TextFault::kTooLong);
  EXPECT_EQ(CheckText(std::string("4\0"
                                  "2",
                                  3),
                      64),
            TextFault::kNul);
  EXPECT_EQ(CheckText("\xc3\xa9t\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x9a\x80", 64), TextFault::kNone);
  for (const char* bad :
       {"\xff", "a\x80", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"}) {
    EXPECT_EQ(CheckText(bad, 64), TextFault::kNotUtf8) << bad;
  }
  // Length is judged first, in bytes.
  EXPECT_EQ(CheckText("\xc3\xa9\xc3\xa9\xc3\xa9", 5), TextFault::kTooLong);
  EXPECT_EQ(Describe(TextFault::kTooLong, 64), "longer than 64 bytes");
}

TEST(EventRules, SourceTimeRange) {
  EXPECT_EQ(CheckSourceTime(kEarliestUnixSeconds, 0, kNow), TimeFault::kNone);
  EXPECT_EQ(CheckSourceTime(kEarliestUnixSeconds - 1, 999999999, kNow), TimeFault::kBeforeIss);
  const int64_t latest = absl::ToUnixSeconds(kNow + kMaxAhead);
  EXPECT_EQ(CheckSourceTime(latest, 999999999, kNow), TimeFault::kNone);
  EXPECT_EQ(CheckSourceTime(latest + 1, 0, kNow), TimeFault::kTooFarAhead);
  EXPECT_EQ(CheckSourceTime(1794999000, -1, kNow), TimeFault::kBadNanos);
  EXPECT_EQ(CheckSourceTime(1794999000, 1000000000, kNow), TimeFault::kBadNanos);
  // An instant is judged by the second it will carry.
  EXPECT_EQ(
      CheckSourceTime(absl::FromUnixSeconds(kEarliestUnixSeconds) - absl::Nanoseconds(1), kNow),
      TimeFault::kBeforeIss);
  EXPECT_EQ(CheckSourceTime(absl::FromUnixSeconds(kEarliestUnixSeconds), kNow), TimeFault::kNone);
  EXPECT_EQ(CheckSourceTime(kNow + kMaxAhead + absl::Milliseconds(999), kNow), TimeFault::kNone);
  EXPECT_EQ(CheckSourceTime(kNow + kMaxAhead + absl::Seconds(1), kNow), TimeFault::kTooFarAhead);
  // Later checker, same verdict or better: what ingestion passed, storage passes.
  EXPECT_EQ(CheckSourceTime(kNow + kMaxAhead, kNow + absl::Seconds(5)), TimeFault::kNone);
}

TEST(EventRules, IngestTimeHasOnlyTheLowerBound) {
  EXPECT_EQ(CheckIngestTime(kNow + absl::Hours(24 * 365)), TimeFault::kNone);
  EXPECT_EQ(CheckIngestTime(absl::UnixEpoch()), TimeFault::kBeforeIss);
  EXPECT_EQ(CheckIngestTime(1794999000, -5), TimeFault::kBadNanos);
  EXPECT_NE(Describe(TimeFault::kBeforeIss).find("1998-11-20"), std::string::npos);
  EXPECT_NE(Describe(TimeFault::kTooFarAhead).find("24h"), std::string::npos);
}

}  // namespace
}  // namespace iss::rules

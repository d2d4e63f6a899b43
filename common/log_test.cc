#include "common/log.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace iss::log {
namespace {

TEST(Log, FormatIsOneJsonObjectPerLine) {
  Init("unit", Level::kInfo);
  const absl::Time ts = absl::FromUnixMicros(1767225600123456);
  const std::string line =
      Format(Level::kWarn, ts, "queue \"full\"\n",
             {{"depth", 10000}, {"item", "NODE3000005"}, {"ok", false}, {"ratio", 0.5}});
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // escaped newline inside
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["ts"], "2026-01-01T00:00:00.123456Z");
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["service"], "unit");
  EXPECT_EQ(j["msg"], "queue \"full\"\n");
  EXPECT_EQ(j["depth"], 10000);
  EXPECT_EQ(j["item"], "NODE3000005");
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["ratio"], 0.5);
}

TEST(Log, ControlCharactersAreEscaped) {
  std::string out;
  AppendJsonString(out, std::string("a\x01"
                                    "b\tc",
                                    5));
  EXPECT_EQ(out, "\"a\\u0001b\\tc\"");
}

TEST(Log, SetLevelRejectsUnknownNames) {
  EXPECT_TRUE(SetLevel("debug").ok());
  EXPECT_EQ(MinLevel(), Level::kDebug);
  EXPECT_FALSE(SetLevel("verbose").ok());
  EXPECT_TRUE(SetLevel("info").ok());
}

TEST(RateLimiter, OncePerIntervalPerKeyAndCountsSuppressed) {
  RateLimiter rl(absl::Seconds(10));
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  int64_t suppressed = -1;
  EXPECT_TRUE(rl.Allow("bad_ts", &suppressed, t0));
  EXPECT_EQ(suppressed, 0);
  EXPECT_FALSE(rl.Allow("bad_ts", &suppressed, t0 + absl::Seconds(1)));
  EXPECT_FALSE(rl.Allow("bad_ts", &suppressed, t0 + absl::Seconds(2)));
  EXPECT_TRUE(rl.Allow("bad_id", &suppressed, t0 + absl::Seconds(2)));  // other key
  EXPECT_TRUE(rl.Allow("bad_ts", &suppressed, t0 + absl::Seconds(11)));
  EXPECT_EQ(suppressed, 2);
}

}  // namespace
}  // namespace iss::log

#include "common/grpc_util.h"

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/log.h"
#include "gtest/gtest.h"

namespace iss {
namespace {

// The reference: what FormatRfc3339Micros always meant (and what every stored
// event id was computed with).
std::string Reference(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

absl::Time Utc(int64_t y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

TEST(Rfc3339Micros, Examples) {
  EXPECT_EQ(FormatRfc3339Micros(Utc(2025, 1, 1, 12)), "2025-01-01T12:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339Micros(Utc(2026, 6, 25, 0, 0, 52) + absl::Milliseconds(502)),
            "2026-06-25T00:00:52.502000Z");
  EXPECT_EQ(FormatRfc3339Micros(absl::FromUnixMicros(1767225600000001)),
            "2026-01-01T00:00:00.000001Z");
  EXPECT_EQ(FormatRfc3339Micros(absl::UnixEpoch()), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339Micros(Utc(2028, 2, 29, 23, 59, 59) + absl::Microseconds(999999)),
            "2028-02-29T23:59:59.999999Z");
}

TEST(Rfc3339Micros, FractionIsTruncatedTowardThePast) {
  EXPECT_EQ(FormatRfc3339Micros(absl::UnixEpoch() + absl::Nanoseconds(999)),
            "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339Micros(absl::UnixEpoch() - absl::Nanoseconds(1)),
            "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatRfc3339Micros(absl::UnixEpoch() - absl::Microseconds(1)),
            "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatRfc3339Micros(absl::UnixEpoch() - absl::Seconds(1)),
            "1969-12-31T23:59:59.000000Z");
  EXPECT_EQ(FormatRfc3339Micros(absl::UnixEpoch() + absl::Nanoseconds(1999)),
            "1970-01-01T00:00:00.000001Z");
}

TEST(Rfc3339Micros, MatchesAbslAtEdges) {
  const absl::Time edges[] = {
      absl::InfiniteFuture(),
      absl::InfinitePast(),
      absl::UnixEpoch(),
      Utc(1000, 1, 1),
      Utc(1000, 1, 1) - absl::Nanoseconds(1),  // year 999: absl's own path
      Utc(999, 12, 31, 23, 59, 59),
      Utc(9999, 12, 31, 23, 59, 59) + absl::Nanoseconds(999999999),
      Utc(10000, 1, 1),  // five-digit year: absl's own path
      Utc(1, 1, 1),
      Utc(0, 1, 1),
      Utc(-1, 12, 31, 23, 59, 59),
      Utc(1600, 2, 29),
      Utc(1900, 2, 28, 23, 59, 59),
      Utc(1900, 3, 1),
      Utc(2000, 2, 29, 12),
      Utc(2100, 3, 1),
      Utc(2400, 2, 29),
      Utc(1969, 12, 31, 23, 59, 59),
      Utc(2038, 1, 19, 3, 14, 8),
      absl::FromUnixSeconds(INT64_C(1) << 40),
      absl::FromUnixSeconds(-(INT64_C(1) << 40)),
      absl::FromUnixSeconds(INT64_MAX),
      absl::FromUnixSeconds(INT64_MIN),
  };
  for (absl::Time t : edges) {
    EXPECT_EQ(FormatRfc3339Micros(t), Reference(t)) << Reference(t);
  }
}

// Every day boundary and end of month from 1599 to 2401 (both sides of each
// midnight), so every leap-year rule is crossed.
TEST(Rfc3339Micros, MatchesAbslAroundEveryMidnight) {
  for (absl::Time t = Utc(1599, 1, 1); t < Utc(2401, 1, 1); t += absl::Hours(24)) {
    for (absl::Duration d : {absl::ZeroDuration(), -absl::Nanoseconds(1),
                             absl::Hours(23) + absl::Minutes(59) + absl::Seconds(59)}) {
      const absl::Time x = t + d;
      ASSERT_EQ(FormatRfc3339Micros(x), Reference(x));
    }
  }
}

TEST(Rfc3339Micros, MatchesAbslOnRandomTimes) {
  std::mt19937_64 rng(20261130);
  // Nanosecond times over years 1000-9999 (the fast path, plus a margin), the
  // recent past and future, and far beyond both ends.
  std::uniform_int_distribution<int64_t> fast(-30610224000LL - 1000000, 253402300800LL + 1000000);
  std::uniform_int_distribution<int64_t> nanos(0, 999999999);
  std::uniform_int_distribution<int64_t> any(-(INT64_C(1) << 50), INT64_C(1) << 50);
  std::uniform_int_distribution<int64_t> recent(0, 4102444800LL);  // 1970..2100
  for (int i = 0; i < 200000; ++i) {
    const int64_t s = i % 3 == 0 ? fast(rng) : i % 3 == 1 ? recent(rng) : any(rng);
    const absl::Time t = absl::FromUnixSeconds(s) + absl::Nanoseconds(nanos(rng));
    ASSERT_EQ(FormatRfc3339Micros(t), Reference(t)) << "unix seconds " << s;
  }
}

TEST(Rfc3339Micros, AppendsToWhatIsThere) {
  std::string out = "x|";
  AppendRfc3339Micros(absl::UnixEpoch(), &out);
  AppendRfc3339Micros(absl::InfiniteFuture(), &out);
  EXPECT_EQ(out, "x|1970-01-01T00:00:00.000000Z" + Reference(absl::InfiniteFuture()));
}

}  // namespace
}  // namespace iss

namespace iss {
namespace {

// ToProto as first written (floored seconds, then the rest divided by a
// nanosecond): the fast form must give the same fields, quarter nanoseconds
// (absl's resolution) and times before 1970 included.
TEST(TimestampProto, ToProtoMatchesDurationDivision) {
  std::mt19937_64 rng(19);
  std::uniform_int_distribution<int64_t> any(-(INT64_C(1) << 50), INT64_C(1) << 50);
  std::uniform_int_distribution<int64_t> recent(0, 4102444800LL);  // 1970..2100
  std::vector<absl::Time> times = {absl::UnixEpoch(), absl::UnixEpoch() - absl::Nanoseconds(1),
                                   absl::UnixEpoch() - absl::Nanoseconds(0.25),
                                   absl::UnixEpoch() + absl::Nanoseconds(0.75)};
  for (int i = 0; i < 100000; ++i) {
    times.push_back(absl::FromUnixSeconds(i % 2 ? any(rng) : recent(rng)) +
                    absl::Nanoseconds(static_cast<double>(rng() % 4000000000) / 4));
  }
  for (absl::Time t : times) {
    const int64_t s = absl::ToUnixSeconds(t);
    const google::protobuf::Timestamp ts = ToProto(t);
    ASSERT_EQ(ts.seconds(), s);
    ASSERT_EQ(ts.nanos(), (t - absl::FromUnixSeconds(s)) / absl::Nanoseconds(1))
        << absl::FormatTime(t);
  }
}

TEST(IsRfc3339Timestamp, YearsOneToNineThousandNineHundredNinetyNine) {
  auto ts = [](int64_t s, int32_t n) {
    google::protobuf::Timestamp t;
    t.set_seconds(s);
    t.set_nanos(n);
    return t;
  };
  EXPECT_TRUE(IsRfc3339Timestamp(ts(-62135596800, 0)));          // 0001-01-01T00:00:00Z
  EXPECT_TRUE(IsRfc3339Timestamp(ts(253402300799, 999999999)));  // 9999-12-31T23:59:59.999999999Z
  EXPECT_TRUE(IsRfc3339Timestamp(ts(0, 0)));
  EXPECT_FALSE(IsRfc3339Timestamp(ts(-62135596801, 0)));
  EXPECT_FALSE(IsRfc3339Timestamp(ts(253402300800, 0)));
  EXPECT_FALSE(IsRfc3339Timestamp(ts(std::numeric_limits<int64_t>::max(), 0)));
  EXPECT_FALSE(IsRfc3339Timestamp(ts(std::numeric_limits<int64_t>::min(), 0)));
  EXPECT_FALSE(IsRfc3339Timestamp(ts(0, -1)));
  EXPECT_FALSE(IsRfc3339Timestamp(ts(0, 1000000000)));
}

TEST(ToGrpc, InternalDetailGoesToTheLogNotTheCaller) {
  log::Init("unit", log::Level::kInfo);
  ::testing::internal::CaptureStdout();
  const grpc::Status s =
      ToGrpc(absl::InternalError("SQLSTATE 42P01: relation \"telemetry_staging\" does not exist"));
  const std::string logged = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(s.error_message().find("SQLSTATE"), std::string::npos) << s.error_message();
  const size_t at = s.error_message().find("error_id ");
  ASSERT_NE(at, std::string::npos) << s.error_message();
  const std::string id = s.error_message().substr(at + 9, 8);
  EXPECT_NE(logged.find("relation \\\"telemetry_staging\\\""), std::string::npos) << logged;
  EXPECT_NE(logged.find("\"error_id\":\"" + id + "\""), std::string::npos) << logged;
}

TEST(ToGrpc, CallerErrorsKeepTheirMessage) {
  const grpc::Status s = ToGrpc(absl::InvalidArgumentError("field item_id: required"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "field item_id: required");
  EXPECT_TRUE(ToGrpc(absl::OkStatus()).ok());
}

}  // namespace
}  // namespace iss

#include "services/storage/decoder.h"

#include "absl/time/time.h"
#include "common/event_id.h"
#include "common/event_rules.h"
#include "gtest/gtest.h"

namespace iss::storage {
namespace {

using iss::telemetry::v1::TelemetryEvent;

const absl::Time kNow = absl::FromUnixSeconds(1795000000);  // 2026-11-18

TelemetryEvent Valid() {
  TelemetryEvent e;
  e.set_schema_version(1);
  e.set_item_id("NODE3000005");
  e.mutable_source_ts()->set_seconds(1794999000);
  e.mutable_source_ts()->set_nanos(123456000);
  e.mutable_ingest_ts()->set_seconds(1794999001);
  e.set_value("42");
  e.mutable_status()->set_class_("24");
  e.set_source("test");
  e.set_event_id(ComputeEventId(e));
  return e;
}

std::optional<Rejection> Decode(const TelemetryEvent& e, const std::string& key = "NODE3000005") {
  TelemetryEvent out;
  return DecodeEvent(key, e.SerializeAsString(), kNow, DecodeLimits{}, &out);
}

TEST(DecodeEvent, AcceptsAValidEvent) {
  TelemetryEvent out;
  const TelemetryEvent in = Valid();
  EXPECT_FALSE(DecodeEvent("NODE3000005", in.SerializeAsString(), kNow, {}, &out).has_value());
  EXPECT_EQ(out.event_id(), in.event_id());
  EXPECT_EQ(out.value(), "42");
}

// received_ts is optional (events from before it existed lack it); a replay's
// is its recorded receive time, months before this ingest_ts.
TEST(DecodeEvent, AcceptsAnyReceiveTimeInRangeAndNone) {
  TelemetryEvent out;
  TelemetryEvent replayed = Valid();
  replayed.mutable_received_ts()->set_seconds(1794999000 - 90 * 86400);
  EXPECT_FALSE(
      DecodeEvent("NODE3000005", replayed.SerializeAsString(), kNow, {}, &out).has_value());
  EXPECT_EQ(out.received_ts().seconds(), 1794999000 - 90 * 86400);
  EXPECT_FALSE(Decode(Valid()).has_value());
}

TEST(DecodeEvent, RejectsGarbageAsUndecodable) {
  TelemetryEvent out;
  auto r = DecodeEvent("k", "\xff\xff\xff not a proto", kNow, {}, &out);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->reason, "undecodable");
}

TEST(DecodeEvent, RejectsEachBadField) {
  struct Case {
    std::string name;
    std::function<void(TelemetryEvent&)> mutate;
    std::string reason;
    bool recompute_id = true;
  };
  const std::vector<Case> cases = {
      {"schema", [](auto& e) { e.set_schema_version(2); }, "bad_schema_version"},
      {"empty id", [](auto& e) { e.set_item_id(""); }, "bad_item_id"},
      {"id chars", [](auto& e) { e.set_item_id("NODE 3"); }, "bad_item_id"},
      {"id long", [](auto& e) { e.set_item_id(std::string(65, 'A')); }, "bad_item_id"},
      {"no source_ts", [](auto& e) { e.clear_source_ts(); }, "bad_timestamp"},
      {"ancient", [](auto& e) { e.mutable_source_ts()->set_seconds(1000); }, "bad_timestamp"},
      {"future", [](auto& e) { e.mutable_source_ts()->set_seconds(1795000000 + 3 * 86400); },
       "bad_timestamp"},
      {"no ingest_ts", [](auto& e) { e.clear_ingest_ts(); }, "bad_timestamp"},
      {"nul",
       [](auto& e) {
         e.set_value(
             std::string("4\0"
                         "2",
                         3));
       },
       "bad_value"},
      {"long value", [](auto& e) { e.set_value(std::string(1025, '1')); }, "bad_value"},
      // The rules ingestion's validator applies (common/event_rules.h), again.
      {"lower-case id", [](auto& e) { e.set_item_id("node3000005"); }, "bad_item_id"},
      {"id dash", [](auto& e) { e.set_item_id("NODE-3"); }, "bad_item_id"},
      {"long status", [](auto& e) { e.mutable_status()->set_indicator(std::string(65, 'i')); },
       "bad_value"},
      {"long calibrated", [](auto& e) { e.set_calibrated_data(std::string(1025, 'c')); },
       "bad_value"},
      {"long source", [](auto& e) { e.set_source(std::string(65, 's')); }, "bad_value"},
      {"nul in status",
       [](auto& e) {
         e.mutable_status()->set_color(
             std::string("g\0"
                         "n",
                         3));
       },
       "bad_value"},
      {"source nanos", [](auto& e) { e.mutable_source_ts()->set_nanos(-1); }, "bad_timestamp"},
      {"day before launch",
       [](auto& e) { e.mutable_source_ts()->set_seconds(rules::kEarliestUnixSeconds - 1); },
       "bad_timestamp"},
      {"25 h ahead", [](auto& e) { e.mutable_source_ts()->set_seconds(1795000000 + 25 * 3600); },
       "bad_timestamp"},
      {"ingest nanos", [](auto& e) { e.mutable_ingest_ts()->set_nanos(1000000000); },
       "bad_timestamp"},
      {"ingest before launch", [](auto& e) { e.mutable_ingest_ts()->set_seconds(1000); },
       "bad_timestamp"},
      {"received nanos", [](auto& e) { e.mutable_received_ts()->set_nanos(-1); }, "bad_timestamp"},
      {"received before launch",
       [](auto& e) { e.mutable_received_ts()->set_seconds(rules::kEarliestUnixSeconds - 1); },
       "bad_timestamp"},
      {"received 25 h ahead",
       [](auto& e) { e.mutable_received_ts()->set_seconds(1795000000 + 25 * 3600); },
       "bad_timestamp"},
      {"bad event id", [](auto& e) { e.set_event_id("XYZ"); }, "bad_event_id", false},
      {"id mismatch", [](auto& e) { e.set_value("43"); }, "event_id_mismatch", false},
  };
  for (const auto& c : cases) {
    TelemetryEvent e = Valid();
    c.mutate(e);
    if (c.recompute_id && e.has_source_ts()) e.set_event_id(ComputeEventId(e));
    const std::string key = e.item_id();
    auto r = Decode(e, key.empty() ? "x" : key);
    ASSERT_TRUE(r.has_value()) << c.name;
    EXPECT_EQ(r->reason, c.reason) << c.name << ": " << r->detail;
  }
}

// The edges of what ingestion lets through are stored: the same rules, the
// same limits.
TEST(DecodeEvent, AcceptsWhatIngestionAcceptsAtEveryLimit) {
  TelemetryEvent e = Valid();
  e.set_item_id(std::string(rules::kMaxItemIdBytes, 'Z'));
  e.set_value(std::string(rules::kMaxValueBytes, '9'));
  e.set_calibrated_data(std::string(rules::kMaxCalibratedBytes, 'c'));
  e.mutable_status()->set_class_(std::string(rules::kMaxStatusBytes, 'k'));
  e.mutable_status()->set_indicator(std::string(rules::kMaxStatusBytes, 'i'));
  e.mutable_status()->set_color("gr\xc3\xbcn");  // UTF-8 is text like any other
  e.set_source(std::string(rules::kMaxSourceBytes, 's'));
  e.mutable_source_ts()->set_seconds(absl::ToUnixSeconds(kNow + rules::kMaxAhead));
  e.mutable_source_ts()->set_nanos(999999000);
  e.set_event_id(ComputeEventId(e));
  auto r = Decode(e, e.item_id());
  EXPECT_FALSE(r.has_value()) << r->reason << ": " << r->detail;
  e.mutable_source_ts()->set_seconds(rules::kEarliestUnixSeconds);
  e.mutable_source_ts()->set_nanos(0);
  e.set_event_id(ComputeEventId(e));
  r = Decode(e, e.item_id());
  EXPECT_FALSE(r.has_value()) << r->reason << ": " << r->detail;
}

// Protobuf itself refuses a proto3 string that is not UTF-8: such an event
// never parses (ingestion's validator refuses it as bad_utf8 before publishing).
TEST(DecodeEvent, TextThatIsNotUtf8IsUndecodable) {
  TelemetryEvent e = Valid();
  e.set_value("4\xff");
  e.set_event_id(ComputeEventId(e));
  std::string bytes;
  ASSERT_TRUE(e.SerializePartialToString(&bytes));
  TelemetryEvent out;
  auto r = DecodeEvent("NODE3000005", bytes, kNow, {}, &out);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->reason, "undecodable");
  EXPECT_EQ(r->item_id, "NODE3000005");
}

TEST(DecodeEvent, RejectsKeyThatDiffersFromItemId) {
  auto r = Decode(Valid(), "NODE3000004");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->reason, "key_mismatch");
  EXPECT_EQ(r->item_id, "NODE3000005");
}

TEST(NumericValue, ParsesNumbersOnly) {
  EXPECT_EQ(NumericValue("12.5"), 12.5);
  EXPECT_EQ(NumericValue("-3"), -3.0);
  EXPECT_EQ(NumericValue("1e3"), 1000.0);
  EXPECT_FALSE(NumericValue("").has_value());
  EXPECT_FALSE(NumericValue("OPEN").has_value());
  EXPECT_FALSE(NumericValue("nan").has_value());
  EXPECT_FALSE(NumericValue("inf").has_value());
  EXPECT_FALSE(NumericValue(" 1").has_value());
  EXPECT_FALSE(NumericValue("12abc").has_value());
}

TEST(AppendPgTimestamp, MatchesAbslFormattingAcrossDates) {
  // Leap days, year ends, the epoch, pre-epoch and micro-second edges.
  const int64_t samples[] = {0,
                             -1,
                             951782400LL * 1000000 + 1,        // 2000-02-29
                             1704067199LL * 1000000 + 999999,  // 2023-12-31T23:59:59.999999
                             1709164800LL * 1000000,           // 2024-02-29
                             1795000000LL * 1000000 + 123456,
                             253402300799LL * 1000000};  // 9999-12-31T23:59:59
  for (int64_t us : samples) {
    std::string got;
    AppendPgTimestamp(got, us);
    const std::string want =
        absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", absl::FromUnixMicros(us), absl::UTCTimeZone());
    EXPECT_EQ(got, want) << us;
  }
}

TEST(TimestampMicros, RoundTrips) {
  google::protobuf::Timestamp ts;
  SetTimestampMicros(-1, &ts);
  EXPECT_EQ(ts.seconds(), -1);
  EXPECT_EQ(ts.nanos(), 999999000);
  EXPECT_EQ(TimestampMicros(ts), -1);
  SetTimestampMicros(1795000000123456, &ts);
  EXPECT_EQ(TimestampMicros(ts), 1795000000123456);
}

}  // namespace
}  // namespace iss::storage

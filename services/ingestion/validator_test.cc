#include "services/ingestion/validator.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/isslive_time.h"
#include "gtest/gtest.h"

namespace iss::ingest {
namespace {

const absl::Time kReceived =
    absl::FromCivil(absl::CivilSecond(2026, 6, 25, 0, 0, 53), absl::UTCTimeZone());

RawUpdate Good() {
  RawUpdate u;
  u.item_id = "NODE3000005";
  u.value = "42";
  u.timestamp = "4224.014583888915";  // 2026-06-25T00:00:52.502Z (isslive.md)
  u.status_class = "24";
  u.status_indicator = "0";
  u.status_color = "green";
  u.calibrated_data = "";
  u.received_at = kReceived;
  return u;
}

void ExpectReason(const absl::StatusOr<ValidatedUpdate>& r, std::string_view reason,
                  std::string_view field) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RejectReason(r.status()), reason) << r.status();
  EXPECT_NE(std::string(r.status().message()).find(field), std::string::npos) << r.status();
}

TEST(Validator, AcceptsAGoodUpdateAndParsesTheTimestamp) {
  auto r = Validate(Good(), kReceived);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->item_id, "NODE3000005");
  EXPECT_EQ(r->value, "42");
  const absl::Time want =
      absl::FromCivil(absl::CivilSecond(2026, 6, 25, 0, 0, 52), absl::UTCTimeZone()) +
      absl::Milliseconds(502);
  EXPECT_LT(absl::AbsDuration(r->source_ts - want), absl::Milliseconds(1));
  EXPECT_EQ(r->calibrated_data, "");  // empty is a value, not a null
}

TEST(Validator, BadItemIds) {
  for (std::string id : {std::string(""), std::string("node3000005"), std::string("NODE-1"),
                         std::string("NODE 1"), std::string(65, 'A'), std::string("ÄB")}) {
    RawUpdate u = Good();
    u.item_id = id;
    ExpectReason(Validate(u, kReceived), kBadItemId, "item_id");
  }
  RawUpdate u = Good();
  u.item_id = std::string(64, 'Z');
  EXPECT_TRUE(Validate(u, kReceived).ok());
}

TEST(Validator, MissingTimestamp) {
  RawUpdate u = Good();
  u.timestamp.reset();
  ExpectReason(Validate(u, kReceived), kMissingTimestamp, "timestamp");
  u.timestamp = "";
  ExpectReason(Validate(u, kReceived), kMissingTimestamp, "timestamp");
}

TEST(Validator, BadTimestamp) {
  for (const char* ts : {"abc", "12.5.3", "-1", "nan", "inf", "99999"}) {
    RawUpdate u = Good();
    u.timestamp = ts;
    ExpectReason(Validate(u, kReceived), kBadTimestamp, "timestamp");
  }
  RawUpdate u = Good();
  u.timestamp = std::string(100, '1');
  ExpectReason(Validate(u, kReceived), kFieldTooLong, "timestamp");
}

TEST(Validator, NullValueIsMissingExceptForTheTimeItem) {
  RawUpdate u = Good();
  u.value.reset();
  ExpectReason(Validate(u, kReceived), kMissingValue, "value");
  u.item_id = "TIME_000001";
  auto r = Validate(u, kReceived);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->value.has_value());
}

TEST(Validator, FieldTooLongForEachCappedField) {
  struct Case {
    const char* field;
    std::optional<std::string> RawUpdate::*member;
    size_t cap;
  };
  for (const Case& c :
       {Case{"value", &RawUpdate::value, kMaxValueBytes},
        Case{"status_class", &RawUpdate::status_class, kMaxStatusBytes},
        Case{"status_indicator", &RawUpdate::status_indicator, kMaxStatusBytes},
        Case{"status_color", &RawUpdate::status_color, kMaxStatusBytes},
        Case{"calibrated_data", &RawUpdate::calibrated_data, kMaxCalibratedBytes}}) {
    RawUpdate u = Good();
    u.*c.member = std::string(c.cap, 'x');
    EXPECT_TRUE(Validate(u, kReceived).ok()) << c.field << " at the cap";
    u.*c.member = std::string(c.cap + 1, 'x');
    ExpectReason(Validate(u, kReceived), kFieldTooLong, c.field);
  }
}

TEST(Validator, NulCharacterInAnyTextFieldIsRejected) {
  // Storage cannot keep NUL in PostgreSQL text: refused here, not accepted and
  // lost later.
  for (std::optional<std::string> RawUpdate::*member :
       {&RawUpdate::value, &RawUpdate::status_class, &RawUpdate::status_indicator,
        &RawUpdate::status_color, &RawUpdate::calibrated_data}) {
    RawUpdate u = Good();
    u.*member = std::string(
        "4\0"
        "2",
        3);
    auto r = Validate(u, kReceived);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(RejectReason(r.status()), kNulCharacter) << r.status();
  }
  ValidatedUpdate c;
  c.item_id = "USLAB000061";
  c.value = std::string("1\0", 2);
  ExpectReason(ValidateTyped(c, kReceived, kReceived), kNulCharacter, "value");
}

TEST(Validator, TextThatIsNotUtf8IsRejected) {
  // A proto3 string must be UTF-8: storage could not even parse the event.
  for (std::optional<std::string> RawUpdate::*member :
       {&RawUpdate::value, &RawUpdate::status_class, &RawUpdate::status_indicator,
        &RawUpdate::status_color, &RawUpdate::calibrated_data}) {
    RawUpdate u = Good();
    u.*member =
        "4\xff"
        "2";
    auto r = Validate(u, kReceived);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(RejectReason(r.status()), kBadUtf8) << r.status();
  }
  RawUpdate u = Good();
  u.value = "\xc3\xa9t\xc3\xa9";  // "été": UTF-8 is fine
  EXPECT_TRUE(Validate(u, kReceived).ok());
  ValidatedUpdate c;
  c.item_id = "USLAB000061";
  c.value = "ok";
  c.calibrated_data = "\xc0\xaf";  // an overlong '/'
  ExpectReason(ValidateTyped(c, kReceived, kReceived), kBadUtf8, "calibrated_data");
}

// Storage refuses a source time before 1998-11-20 or more than 24 h ahead of
// its clock (common/event_rules.h): so does the validator, against `now`.
TEST(Validator, SourceTimeOutsideWhatStorageKeepsIsBadTimestamp) {
  const absl::Time launch = absl::FromUnixSeconds(rules::kEarliestUnixSeconds);
  // The feed: TimeStamp resolves to two days after `now`.
  RawUpdate ahead = Good();
  ahead.timestamp = absl::StrFormat("%.10f", TimeToIssHours(kReceived + absl::Hours(48)));
  ExpectReason(Validate(ahead, kReceived), kBadTimestamp, "timestamp (TimeStamp)");
  ExpectReason(Validate(ahead, kReceived), kBadTimestamp, "storage would refuse it");
  // ... which a clock two days later accepts.
  EXPECT_TRUE(Validate(ahead, kReceived + absl::Hours(48)).ok());
  // A replayed update received (and so dated) in 1995.
  RawUpdate ancient = Good();
  ancient.received_at =
      absl::FromCivil(absl::CivilSecond(1995, 3, 1, 0, 0, 0), absl::UTCTimeZone());
  ancient.timestamp = absl::StrFormat("%.10f", TimeToIssHours(ancient.received_at));
  ExpectReason(Validate(ancient, kReceived), kBadTimestamp, "1998-11-20");

  // The typed entry point, at the edges.
  ValidatedUpdate c;
  c.item_id = "USLAB000061";
  c.value = "1";
  EXPECT_TRUE(ValidateTyped(c, launch, kReceived).ok());
  ExpectReason(ValidateTyped(c, launch - absl::Seconds(1), kReceived), kBadTimestamp, "source_ts");
  EXPECT_TRUE(ValidateTyped(c, kReceived + absl::Hours(24), kReceived).ok());
  ExpectReason(ValidateTyped(c, kReceived + absl::Hours(24) + absl::Seconds(1), kReceived),
               kBadTimestamp, "source_ts");
}

// The receive time becomes the event's received_ts, which storage holds to
// source_ts's range: a replay line's received_at outside it is refused here.
TEST(Validator, ReceiveTimeOutsideWhatStorageKeepsIsBadTimestamp) {
  RawUpdate u = Good();
  u.received_at = kReceived + absl::Hours(25);
  u.timestamp = absl::StrFormat("%.10f", TimeToIssHours(kReceived));
  ExpectReason(Validate(u, kReceived), kBadTimestamp, "received_at");

  ValidatedUpdate c;
  c.item_id = "USLAB000061";
  c.value = "1";
  // Unset: the time of the call.
  auto now_received = ValidateTyped(c, kReceived, kReceived + absl::Seconds(3));
  ASSERT_TRUE(now_received.ok()) << now_received.status();
  EXPECT_EQ(now_received->received_at, kReceived + absl::Seconds(3));
  // Given: kept, months after the source time (a recorded session).
  c.received_at = kReceived + absl::Hours(1);
  auto given = ValidateTyped(c, kReceived, kReceived + absl::Hours(24 * 90));
  ASSERT_TRUE(given.ok()) << given.status();
  EXPECT_EQ(given->received_at, kReceived + absl::Hours(1));
  c.received_at = absl::FromUnixSeconds(rules::kEarliestUnixSeconds) - absl::Seconds(1);
  ExpectReason(ValidateTyped(c, kReceived, kReceived), kBadTimestamp, "received_ts");
  c.received_at = kReceived + absl::Hours(24) + absl::Seconds(1);
  ExpectReason(ValidateTyped(c, kReceived, kReceived), kBadTimestamp, "received_ts");
}

TEST(Validator, AClockBeforeTheIssIsAnIngestTimestampFault) {
  // An hour before the launch, an update stamped an hour after it: the source
  // time is fine, but ingest_ts (this clock) is one storage refuses.
  const absl::Time launch = absl::FromUnixSeconds(rules::kEarliestUnixSeconds);
  ValidatedUpdate c;
  c.item_id = "USLAB000061";
  c.value = "1";
  ExpectReason(ValidateTyped(c, launch + absl::Hours(1), launch - absl::Hours(1)), kBadTimestamp,
               "ingest_ts");
}

TEST(Validator, ItemIdIsReportedBeforeOtherFaults) {
  RawUpdate u = Good();
  u.item_id = "bad id";
  u.timestamp.reset();
  u.value.reset();
  ExpectReason(Validate(u, kReceived), kBadItemId, "item_id");
}

TEST(Validator, TypedEntryPoint) {
  ValidatedUpdate c;
  c.item_id = "USLAB000061";
  c.value = "12.34";
  c.source = "test-ingest";
  auto r = ValidateTyped(c, kReceived, kReceived);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->source_ts, kReceived);
  ExpectReason(ValidateTyped(c, std::nullopt, kReceived), kMissingTimestamp, "source_ts");
  c.value.reset();
  ExpectReason(ValidateTyped(c, kReceived, kReceived), kMissingValue, "value");
  c.value = std::string(2000, 'v');
  ExpectReason(ValidateTyped(c, kReceived, kReceived), kFieldTooLong, "value");
  c.item_id = "x";
  ExpectReason(ValidateTyped(c, kReceived, kReceived), kBadItemId, "item_id");
}

// The moving overload (what the pipeline calls) must answer exactly as the
// copying one, and leave a rejected update whole for its dead letter.
TEST(Validator, MovingOverloadMatchesAndKeepsRejectedUpdates) {
  std::vector<RawUpdate> cases(6, Good());
  cases[1].item_id = "bad id";
  cases[2].timestamp.reset();
  cases[3].timestamp = "garbage";
  cases[4].value.reset();
  cases[5].status_color = std::string(kMaxStatusBytes + 1, 'x');
  cases[0].raw = cases[1].raw = "the raw line, long enough to live on the heap";
  for (size_t i = 0; i < cases.size(); ++i) {
    const RawUpdate original = cases[i];
    const absl::StatusOr<ValidatedUpdate> copied = Validate(original, kReceived);
    RawUpdate moved_from = original;
    const absl::StatusOr<ValidatedUpdate> moved = Validate(std::move(moved_from), kReceived);
    ASSERT_EQ(copied.ok(), moved.ok()) << i;
    if (!copied.ok()) {
      EXPECT_EQ(copied.status(), moved.status()) << i;
      EXPECT_EQ(moved_from.item_id, original.item_id) << i;
      EXPECT_EQ(moved_from.value, original.value) << i;
      EXPECT_EQ(moved_from.timestamp, original.timestamp) << i;
      EXPECT_EQ(moved_from.status_color, original.status_color) << i;
      EXPECT_EQ(moved_from.raw, original.raw) << i;
      continue;
    }
    EXPECT_EQ(moved->item_id, copied->item_id);
    EXPECT_EQ(moved->source_ts, copied->source_ts);
    EXPECT_EQ(moved->value, copied->value);
    EXPECT_EQ(moved->status_class, copied->status_class);
    EXPECT_EQ(moved->status_indicator, copied->status_indicator);
    EXPECT_EQ(moved->status_color, copied->status_color);
    EXPECT_EQ(moved->calibrated_data, copied->calibrated_data);
    EXPECT_EQ(moved->received_at, copied->received_at);
    EXPECT_EQ(moved->source, copied->source);
  }
}

TEST(Validator, ReasonOfForeignStatus) {
  EXPECT_EQ(RejectReason(absl::InternalError("x")), "invalid");
  EXPECT_EQ(RejectReason(Rejection(kUndecodable, "x")), "undecodable");
}

}  // namespace
}  // namespace iss::ingest

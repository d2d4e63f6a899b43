#include "gateway/json_printer.h"

#include <limits>

#include "gateway/testdata/echo.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "iss/ingest/v1/ingest.pb.h"
#include "iss/peebot/v1/peebot.pb.h"
#include "iss/storage/v1/storage.pb.h"
#include "nlohmann/json.hpp"

namespace iss::gateway {
namespace {

namespace test = iss::gatewaytest::v1;

// Both printers must produce the same JSON value (formatting aside).
void ExpectSameAsProtobuf(const google::protobuf::Message& msg) {
  std::string fast;
  ASSERT_TRUE(FastMessageToJson(msg, &fast)) << msg.GetTypeName();
  std::string reference;
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(msg, &reference, opts).ok());
  auto a = nlohmann::json::parse(fast, nullptr, false);
  ASSERT_FALSE(a.is_discarded()) << fast;
  EXPECT_EQ(a, nlohmann::json::parse(reference)) << "fast: " << fast << "\nprotobuf: " << reference;
}

TEST(JsonPrinter, EmptyMessagesMatch) {
  ExpectSameAsProtobuf(test::EchoRequest());
  ExpectSameAsProtobuf(iss::storage::v1::GetLatestResponse());
  ExpectSameAsProtobuf(iss::peebot::v1::Status());
  ExpectSameAsProtobuf(iss::ingest::v1::IngestStatus());
  ExpectSameAsProtobuf(iss::storage::v1::Item());
}

TEST(JsonPrinter, EveryScalarAndWellKnownTypeMatches) {
  test::EchoRequest m;
  m.set_name("quote \" backslash \\ newline \n tab \t ctrl \x01 utf8 \xc3\xa9");
  m.set_id(-9007199254740993LL);
  m.set_count(-7);
  m.set_hold(true);
  m.add_tags("a");
  m.add_tags("");
  m.mutable_nested()->set_note("n");
  m.mutable_nested()->set_level(0.1);
  m.mutable_nested()->mutable_deeper()->set_level(1e300);
  m.mutable_at()->set_seconds(1735689600);
  m.mutable_at()->set_nanos(123000000);
  m.mutable_span()->set_seconds(1);
  m.mutable_span()->set_nanos(500000000);
  m.set_color(test::COLOR_GREEN);
  m.mutable_maybe()->set_value(2.5);
  m.set_blob(std::string("\x00\xff hi", 5));
  m.set_big(std::numeric_limits<uint64_t>::max());
  m.mutable_mask()->add_paths("nested.note");
  m.mutable_mask()->add_paths("seen_authorization");
  m.add_numbers(1);
  m.add_numbers(-2);
  m.set_seen_deadline_seconds(-0.000123456789);
  ExpectSameAsProtobuf(m);

  m.set_color(static_cast<test::Color>(42));  // unknown enum number
  m.mutable_at()->set_nanos(1);
  ExpectSameAsProtobuf(m);
  for (int64_t secs : {0LL, -1LL, -62135596800LL, 253402300799LL, 951782400LL /* 2000-02-29 */}) {
    for (int32_t nanos : {0, 5000000, 123456000, 999999999}) {
      m.mutable_at()->set_seconds(secs);
      m.mutable_at()->set_nanos(nanos);
      ExpectSameAsProtobuf(m);
    }
  }
  m.mutable_span()->set_seconds(-3);
  m.mutable_span()->set_nanos(0);
  m.mutable_maybe()->set_value(0);
  m.mutable_nested()->set_level(std::numeric_limits<double>::infinity());
  ExpectSameAsProtobuf(m);
}

TEST(JsonPrinter, PlatformResponsesMatch) {
  iss::storage::v1::GetLatestResponse latest;
  for (int i = 0; i < 3; ++i) {
    auto* v = latest.add_values();
    v->set_item_id("NODE300000" + std::to_string(i));
    if (i != 1) v->set_value(std::to_string(i * 1.5));  // proto3 optional left unset once
    v->mutable_source_ts()->set_seconds(1735689600 + i);
    v->mutable_status()->set_class_("24");
    v->set_event_id("ab");
  }
  latest.add_missing_item_ids("X");
  ExpectSameAsProtobuf(latest);

  iss::peebot::v1::ListDetectionsResponse dets;
  auto* d = dets.add_detections();
  d->set_rise_percent(7.25);
  d->set_post_status(iss::peebot::v1::POST_STATUS_POSTED);
  d->set_post_attempts(3);
  d->mutable_posted_at()->set_seconds(1);
  ExpectSameAsProtobuf(dets);

  iss::storage::v1::GetSeriesResponse series;
  auto* b = series.add_buckets();
  b->set_avg(1.0 / 3);
  b->set_count(12345678901ULL);
  series.add_buckets();
  series.mutable_bucket()->set_seconds(60);
  ExpectSameAsProtobuf(series);
}

TEST(JsonPrinter, DefersToProtobufForDynamicJsonTypes) {
  google::protobuf::Struct s;
  (*s.mutable_fields())["a"].set_number_value(1);
  std::string out = "unchanged";
  EXPECT_FALSE(FastMessageToJson(s, &out));
  EXPECT_EQ(out, "unchanged");
}

}  // namespace
}  // namespace iss::gateway

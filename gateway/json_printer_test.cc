#include "gateway/json_printer.h"

#include <limits>

#include "gateway/testdata/echo.pb.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "iss/ingest/v1/ingest.pb.h"
#include "iss/peebot/v1/peebot.pb.h"
#include "iss/storage/v1/storage.pb.h"
#include "nlohmann/json.hpp"

namespace iss::gateway {
namespace {

namespace test = iss::gatewaytest::v1;

// The wire printer on `bytes` (a serialized message of `prototype`'s type):
// when it prints, exactly what parsing + FastMessageToJson give; when it
// declines, `out` untouched. Returns whether it printed.
bool WireMatchesParsed(const google::protobuf::Message& prototype, const std::string& bytes) {
  std::unique_ptr<google::protobuf::Message> parsed(prototype.New());
  const bool parses = parsed->ParseFromString(bytes);
  std::string wire = "prefix";
  const bool printed = FastWireToJson(prototype.GetDescriptor(), bytes, &wire);
  if (!printed) {
    EXPECT_EQ(wire, "prefix");
    return false;
  }
  EXPECT_TRUE(parses) << "printed bytes that do not parse: " << wire;
  std::string reference = "prefix";
  EXPECT_TRUE(FastMessageToJson(*parsed, &reference));
  EXPECT_EQ(wire, reference);
  return true;
}

// Both printers must produce the same JSON value (formatting aside), and the
// wire printer exactly the fast printer's bytes.
void ExpectSameAsProtobuf(const google::protobuf::Message& msg) {
  EXPECT_TRUE(WireMatchesParsed(msg, msg.SerializeAsString())) << msg.GetTypeName();
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

// Many timestamps in one answer, on changing days (the date part is reused
// while the day stays the same).
TEST(WirePrinter, TimestampsAcrossDays) {
  iss::storage::v1::GetLatestResponse latest;
  const int64_t secs[] = {0,          86399,      86400,     -1,           -86400,       -86401,
                          951782400,  951868799,  951868800, 253402300799, -62135596800, 1735689599,
                          1735689600, 1735689600, 4102444800};
  for (int64_t s : secs) {
    auto* v = latest.add_values();
    v->mutable_source_ts()->set_seconds(s);
    v->mutable_source_ts()->set_nanos(static_cast<int32_t>(s & 1) * 5000);
    v->mutable_ingest_ts()->set_seconds(s == 253402300799 ? s : s + 1);
  }
  ExpectSameAsProtobuf(latest);
}

TEST(WirePrinter, DefersForDynamicJsonTypes) {
  google::protobuf::Struct s;
  (*s.mutable_fields())["a"].set_number_value(1);
  std::string out = "unchanged";
  EXPECT_FALSE(FastWireToJson(s.GetDescriptor(), s.SerializeAsString(), &out));
  EXPECT_EQ(out, "unchanged");
}

// Concatenated messages parse as a merge: the last singular value wins,
// repeated values add up, sub-messages merge (the wire printer declines those).
TEST(WirePrinter, FollowsParsingOfMergedAndReorderedBytes) {
  test::EchoRequest a;
  a.set_name("first");
  a.set_id(1);
  a.add_tags("x");
  a.add_numbers(1);
  a.set_color(test::COLOR_RED);
  test::EchoRequest b;
  b.set_name("second");
  b.set_count(-3);
  b.add_tags("y");
  b.add_numbers(-2);
  b.add_numbers(3);
  EXPECT_TRUE(WireMatchesParsed(a, a.SerializeAsString() + b.SerializeAsString()));
  EXPECT_TRUE(WireMatchesParsed(a, b.SerializeAsString() + a.SerializeAsString()));

  // Unpacked repeated numbers and packed ones in one message.
  std::string mixed = a.SerializeAsString();
  mixed += std::string("\x70\x05", 2);  // numbers = 5, unpacked (field 14, varint)
  mixed += std::string("\x70\x7f", 2);  // numbers = 127
  EXPECT_TRUE(WireMatchesParsed(a, mixed));

  // Unknown fields are skipped, as parsing keeps them aside and printing ignores them.
  std::string unknown = std::string("\xa8\x06\x07", 3);            // field 101 varint
  unknown += std::string("\xb2\x06\x02hi", 5);                     // field 102 bytes
  unknown += std::string("\xbd\x06\x01\x02\x03\x04", 6);           // field 103 fixed32
  unknown += std::string("\xc1\x06", 2) + std::string(8, '\x01');  // field 104 fixed64
  EXPECT_TRUE(WireMatchesParsed(a, unknown + a.SerializeAsString() + unknown));

  // Out of declaration order: fields are printed in declaration order anyway.
  test::EchoRequest late;
  late.set_seen_deadline_seconds(2.5);
  late.mutable_at()->set_seconds(7);
  EXPECT_TRUE(WireMatchesParsed(a, late.SerializeAsString() + a.SerializeAsString()));

  // A sub-message sent twice merges: declined (the caller parses).
  test::EchoRequest n1;
  n1.mutable_nested()->set_note("n");
  test::EchoRequest n2;
  n2.mutable_nested()->set_level(2);
  EXPECT_FALSE(WireMatchesParsed(a, n1.SerializeAsString() + n2.SerializeAsString()));
  // ... but repeated sub-messages just add up.
  iss::storage::v1::GetLatestResponse l1, l2;
  l1.add_values()->set_item_id("A");
  l2.add_values()->set_item_id("B");
  l2.add_missing_item_ids("C");
  EXPECT_TRUE(WireMatchesParsed(l1, l1.SerializeAsString() + l2.SerializeAsString()));
}

TEST(WirePrinter, DeclinesWhatParsingRefusesOrTreatsSpecially) {
  const test::EchoRequest proto;
  test::EchoRequest a;
  a.set_name("abc");
  a.mutable_nested()->set_note("deep");
  const std::string good = a.SerializeAsString();
  for (size_t cut = 1; cut < good.size(); ++cut) {  // every truncation
    WireMatchesParsed(proto, good.substr(0, cut));
  }
  EXPECT_FALSE(WireMatchesParsed(proto, std::string("\x0a\x02\xc3\x28", 4)));  // name not UTF-8
  // ... also when a later, valid name replaces it: parsing refuses the first.
  EXPECT_FALSE(WireMatchesParsed(proto, std::string("\x0a\x02\xc3\x28\x0a\x01z", 7)));
  EXPECT_FALSE(WireMatchesParsed(proto, std::string("\x08\x01", 2)));  // name (string) as varint
  EXPECT_FALSE(WireMatchesParsed(proto, std::string("\x10", 1)));      // id without a value
  EXPECT_FALSE(WireMatchesParsed(proto, std::string("\x00\x01", 2)));  // field number 0
  EXPECT_FALSE(WireMatchesParsed(proto, std::string("\x0b\x0c", 2)));  // a group
  EXPECT_FALSE(WireMatchesParsed(proto, std::string("\x10") + std::string(10, '\xff') + "\x01"));
  EXPECT_TRUE(WireMatchesParsed(proto, std::string("\x72\x00", 2)));       // empty packed run
  EXPECT_FALSE(WireMatchesParsed(proto, std::string("\x72\x01\xff", 3)));  // bad packed run
  EXPECT_FALSE(WireMatchesParsed(proto, std::string("\x6a\x03\x0a\x01\xff", 5)));  // mask path

  std::string deep;  // Nested inside Nested 100 times
  for (int i = 0; i < 100; ++i) deep = std::string("\x1a") + static_cast<char>(deep.size()) + deep;
  WireMatchesParsed(test::Nested(), deep.substr(0, 120));
  test::Nested deep_msg;
  test::Nested* cur = &deep_msg;
  for (int i = 0; i < 80; ++i) cur = cur->mutable_deeper();
  EXPECT_FALSE(WireMatchesParsed(deep_msg, deep_msg.SerializeAsString()));  // too deep: declined
}

// Every wire type and scalar kind, oneofs and maps, on a type built at run time.
TEST(WirePrinter, EveryScalarKindOneofsAndMaps) {
  google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        name: "wire_test.proto"
        package: "wt"
        syntax: "proto3"
        enum_type {
          name: "E"
          value { name: "E_ZERO" number: 0 }
          value { name: "E_ONE" number: 1 }
        }
        message_type {
          name: "M"
          field { name: "i32" number: 1 label: LABEL_OPTIONAL type: TYPE_INT32 }
          field { name: "i64" number: 2 label: LABEL_OPTIONAL type: TYPE_INT64 }
          field { name: "u32" number: 3 label: LABEL_OPTIONAL type: TYPE_UINT32 }
          field { name: "u64" number: 4 label: LABEL_OPTIONAL type: TYPE_UINT64 }
          field { name: "s32" number: 5 label: LABEL_OPTIONAL type: TYPE_SINT32 }
          field { name: "s64" number: 6 label: LABEL_OPTIONAL type: TYPE_SINT64 }
          field { name: "f32" number: 7 label: LABEL_OPTIONAL type: TYPE_FIXED32 }
          field { name: "f64" number: 8 label: LABEL_OPTIONAL type: TYPE_FIXED64 }
          field { name: "sf32" number: 9 label: LABEL_OPTIONAL type: TYPE_SFIXED32 }
          field { name: "sf64" number: 10 label: LABEL_OPTIONAL type: TYPE_SFIXED64 }
          field { name: "fl" number: 11 label: LABEL_OPTIONAL type: TYPE_FLOAT }
          field { name: "db" number: 12 label: LABEL_OPTIONAL type: TYPE_DOUBLE }
          field { name: "b" number: 13 label: LABEL_OPTIONAL type: TYPE_BOOL }
          field { name: "e" number: 14 label: LABEL_OPTIONAL type: TYPE_ENUM type_name: ".wt.E" }
          field { name: "rs32" number: 15 label: LABEL_REPEATED type: TYPE_SINT32 }
          field { name: "rf64" number: 16 label: LABEL_REPEATED type: TYPE_FIXED64 }
          field { name: "rfl" number: 17 label: LABEL_REPEATED type: TYPE_FLOAT }
          field { name: "re" number: 18 label: LABEL_REPEATED type: TYPE_ENUM type_name: ".wt.E" }
          field { name: "rb" number: 19 label: LABEL_REPEATED type: TYPE_BOOL }
          field {
            name: "rm"
            number: 20
            label: LABEL_REPEATED
            type: TYPE_MESSAGE
            type_name: ".wt.M"
          }
          field { name: "one_s" number: 21 label: LABEL_OPTIONAL type: TYPE_STRING oneof_index: 0 }
          field { name: "one_i" number: 22 label: LABEL_OPTIONAL type: TYPE_INT32 oneof_index: 0 }
          field {
            name: "opt"
            number: 23
            label: LABEL_OPTIONAL
            type: TYPE_INT32
            oneof_index: 1
            proto3_optional: true
          }
          field { name: "rby" number: 24 label: LABEL_REPEATED type: TYPE_BYTES }
          oneof_decl { name: "choice" }
          oneof_decl { name: "_opt" }
        }
        message_type {
          name: "WithMap"
          field {
            name: "m"
            number: 1
            label: LABEL_REPEATED
            type: TYPE_MESSAGE
            type_name: ".wt.WithMap.MEntry"
          }
          nested_type {
            name: "MEntry"
            options { map_entry: true }
            field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
            field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_INT32 }
          }
        }
      )pb",
      &file));
  // Never freed: the printers cache per-type plans keyed by descriptor
  // address, which is only sound for types that live as long as the process.
  auto& pool = *new google::protobuf::DescriptorPool();
  ASSERT_NE(pool.BuildFile(file), nullptr);
  auto& factory = *new google::protobuf::DynamicMessageFactory(&pool);
  const google::protobuf::Descriptor* d = pool.FindMessageTypeByName("wt.M");
  const google::protobuf::Message& proto = *factory.GetPrototype(d);
  EXPECT_TRUE(WireMatchesParsed(proto, ""));

  std::unique_ptr<google::protobuf::Message> m(proto.New());
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
                                                              i32: -5
                                                              i64: -9007199254740993
                                                              u32: 4294967295
                                                              u64: 18446744073709551615
                                                              s32: -2147483648
                                                              s64: -9223372036854775808
                                                              f32: 4000000000
                                                              f64: 1
                                                              sf32: -7
                                                              sf64: -8
                                                              fl: 0.1
                                                              db: -0.0
                                                              b: true
                                                              e: E_ONE
                                                              rs32: [ -1, 0, 1, 2147483647 ]
                                                              rf64: [ 0, 18446744073709551615 ]
                                                              rfl: [ 1.5, -3e38 ]
                                                              re: [ E_ZERO, E_ONE ]
                                                              rb: [ true, false, true ]
                                                              rm {
                                                                i32: 1
                                                                rm { one_s: "x" }
                                                              }
                                                              rm { opt: 0 }
                                                              one_i: 7
                                                              opt: 3
                                                              rby: [ "\x00\xff", "" ]
                                                            )pb",
                                                            m.get()));
  const google::protobuf::Reflection* r = m->GetReflection();
  r->AddEnumValue(m.get(), d->FindFieldByName("re"), 99);  // open enum: unknown number kept
  r->SetEnumValue(m.get(), d->FindFieldByName("e"), -4);
  EXPECT_TRUE(WireMatchesParsed(proto, m->SerializeAsString()));
  std::string fast, reference;
  ASSERT_TRUE(FastMessageToJson(*m, &fast));
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(*m, &reference, opts).ok());
  EXPECT_EQ(nlohmann::json::parse(fast), nlohmann::json::parse(reference));

  // Both members of one oneof on the wire: parsing keeps the last, the wire
  // printer declines. One member twice is just "the last wins".
  std::unique_ptr<google::protobuf::Message> s(proto.New()), i(proto.New());
  r->SetString(s.get(), d->FindFieldByName("one_s"), "s");
  r->SetInt32(i.get(), d->FindFieldByName("one_i"), 1);
  EXPECT_FALSE(WireMatchesParsed(proto, s->SerializeAsString() + i->SerializeAsString()));
  EXPECT_TRUE(WireMatchesParsed(proto, i->SerializeAsString() + i->SerializeAsString()));
  // Unpacked encodings of packed-by-default fields, and a varint with high
  // bits set for a 32-bit field (parsing truncates).
  EXPECT_TRUE(WireMatchesParsed(proto, std::string("\x78\x03\x78\x04", 4)));  // rs32 1, 2 unpacked
  EXPECT_TRUE(WireMatchesParsed(proto, std::string("\x08\xff\xff\xff\xff\x7f", 6)));
  EXPECT_FALSE(WireMatchesParsed(proto, std::string("\x3a\x00", 2)));  // f32 length-delimited

  const google::protobuf::Descriptor* wm = pool.FindMessageTypeByName("wt.WithMap");
  std::unique_ptr<google::protobuf::Message> map_msg(factory.GetPrototype(wm)->New());
  EXPECT_FALSE(WireMatchesParsed(*map_msg, ""));  // maps: declined
}

}  // namespace
}  // namespace iss::gateway

#include "gateway/transcoder.h"

#include "common/utf8.h"
#include "gateway/route_table.h"
#include "gateway/testdata/echo.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "iss/peebot/v1/peebot.pb.h"
#include "iss/storage/v1/storage.pb.h"
#include "nlohmann/json.hpp"

namespace iss::gateway {
namespace {

using google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;
namespace test = iss::gatewaytest::v1;

const RouteTable& Table() {
  static const RouteTable* table = [] {
    // Link the generated files in (their descriptors register at start-up).
    (void)test::EchoRequest::descriptor();
    (void)iss::storage::v1::QueryWindowRequest::descriptor();
    (void)iss::peebot::v1::Settings::descriptor();
    auto t = RouteTable::Build(*google::protobuf::DescriptorPool::generated_pool(),
                               {"iss.gatewaytest.v1.EchoService", "iss.storage.v1.StorageService",
                                "iss.peebot.v1.PeeBotService"});
    EXPECT_TRUE(t.ok()) << t.status();
    return new RouteTable(*std::move(t));
  }();
  return *table;
}

struct Built {
  absl::Status status;
  std::unique_ptr<google::protobuf::Message> msg;
};

Built Build(absl::string_view method, absl::string_view target, absl::string_view body = "") {
  const size_t q = target.find('?');
  auto m = Table().Match(method, target.substr(0, q));
  EXPECT_EQ(m.outcome, RouteTable::Outcome::kFound) << method << " " << target;
  if (m.route == nullptr) return {absl::NotFoundError("no route"), nullptr};
  auto r = BuildRequest(*m.route, m.bindings,
                        q == absl::string_view::npos ? "" : target.substr(q + 1), body);
  if (!r.ok()) return {r.status(), nullptr};
  return {absl::OkStatus(), *std::move(r)};
}

template <typename T>
T As(const Built& b) {
  EXPECT_TRUE(b.status.ok()) << b.status;
  T out;
  if (b.msg) out.ParseFromString(b.msg->SerializeAsString());
  return out;
}

TEST(RouteTable, EveryAnnotatedMethodAndBindingBecomesARoute) {
  int echo_routes = 0;
  for (const Route& r : Table().routes()) {
    if (r.grpc_path.rfind("/iss.gatewaytest.v1.EchoService/", 0) == 0) ++echo_routes;
  }
  // Echo: 5 bindings; Fail, EchoNested, Stream: one each.
  EXPECT_EQ(echo_routes, 8);
  auto m = Table().Match("LIST", "/test/v1/shelves");
  ASSERT_EQ(m.outcome, RouteTable::Outcome::kFound);
  EXPECT_EQ(m.route->grpc_path, "/iss.gatewaytest.v1.EchoService/Echo");
  m = Table().Match("GET", "/api/v1/telemetry:tail");
  ASSERT_EQ(m.outcome, RouteTable::Outcome::kFound);
  EXPECT_TRUE(m.route->server_streaming);
  m = Table().Match("POST", "/api/v1/peebot:pause");
  ASSERT_EQ(m.outcome, RouteTable::Outcome::kFound);
  EXPECT_TRUE(m.route->admin);
}

TEST(RouteTable, WrongMethodAndUnknownPathAreTold) {
  EXPECT_EQ(Table().Match("DELETE", "/api/v1/items").outcome,
            RouteTable::Outcome::kMethodNotAllowed);
  EXPECT_EQ(Table().Match("GET", "/api/v1/nope").outcome, RouteTable::Outcome::kNotFound);
}

TEST(RouteTable, UnknownServiceIsAnError) {
  auto t =
      RouteTable::Build(*google::protobuf::DescriptorPool::generated_pool(), {"no.such.Service"});
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
}

TEST(Transcoder, PathVariableAndQueryScalars) {
  auto r = As<test::EchoRequest>(
      Build("GET",
            "/test/v1/shelves/s%201/echo?id=-9007199254740993&count=3&hold=true&color=COLOR_GREEN"
            "&big=18446744073709551615&blob=aGk%3D"));
  EXPECT_EQ(r.name(), "shelves/s 1");
  EXPECT_EQ(r.id(), -9007199254740993LL);
  EXPECT_EQ(r.count(), 3);
  EXPECT_TRUE(r.hold());
  EXPECT_EQ(r.color(), test::COLOR_GREEN);
  EXPECT_EQ(r.big(), 18446744073709551615ULL);
  EXPECT_EQ(r.blob(), "hi");
}

TEST(Transcoder, RepeatedByRepetitionNestedByDotsCamelCaseNames) {
  auto r = As<test::EchoRequest>(
      Build("GET",
            "/test/v1/shelves/x/echo?tags=a&tags=b+c&nested.note=n&nested.deeper.level=2.5"
            "&numbers=1&numbers=2&color=2"));
  EXPECT_THAT(r.tags(), ::testing::ElementsAre("a", "b c"));
  EXPECT_EQ(r.nested().note(), "n");
  EXPECT_EQ(r.nested().deeper().level(), 2.5);
  EXPECT_THAT(r.numbers(), ::testing::ElementsAre(1, 2));
  EXPECT_EQ(r.color(), test::COLOR_GREEN);

  auto w = As<iss::storage::v1::QueryWindowRequest>(
      Build("GET",
            "/api/v1/telemetry:window?itemIds=NODE3000005&item_ids=NODE3000004"
            "&startTime=2026-01-01T00:00:00Z&end_time=2026-01-01T01:00:00.5%2B01:00"
            "&valueFilter.min=10&value_filter.max=90.5&order=ORDER_DESC&pageSize=7"));
  EXPECT_THAT(w.item_ids(), ::testing::ElementsAre("NODE3000005", "NODE3000004"));
  EXPECT_EQ(TimeUtil::ToString(w.start_time()), "2026-01-01T00:00:00Z");
  EXPECT_EQ(TimeUtil::ToString(w.end_time()), "2026-01-01T00:00:00.500Z");
  EXPECT_EQ(w.value_filter().min(), 10);
  EXPECT_EQ(w.value_filter().max(), 90.5);
  EXPECT_EQ(w.order(), iss::storage::v1::ORDER_DESC);
  EXPECT_EQ(w.page_size(), 7);
}

TEST(Transcoder, WellKnownTypesFromQueryText) {
  auto r = As<test::EchoRequest>(
      Build("GET",
            "/test/v1/shelves/x/echo?at=2025-01-01T12:00:00.123Z&span=1.5s&maybe=0.25"
            "&mask=nested.note,count"));
  EXPECT_EQ(TimeUtil::ToString(r.at()), "2025-01-01T12:00:00.123Z");
  EXPECT_EQ(TimeUtil::DurationToMilliseconds(r.span()), 1500);
  ASSERT_TRUE(r.has_maybe());
  EXPECT_EQ(r.maybe().value(), 0.25);
  EXPECT_THAT(r.mask().paths(), ::testing::ElementsAre("nested.note", "count"));

  auto s = As<iss::storage::v1::GetSeriesRequest>(
      Build("GET", "/api/v1/items/NODE3000005/series?bucket=60s&start_time=2026-01-01T00:00:00Z"));
  EXPECT_EQ(s.item_id(), "NODE3000005");
  EXPECT_EQ(s.bucket().seconds(), 60);
}

TEST(Transcoder, BadQueryValuesNameTheField) {
  struct Case {
    const char* target;
    const char* expect;
  } cases[] = {
      {"/test/v1/shelves/x/echo?count=abc", "\"count\""},
      {"/test/v1/shelves/x/echo?count=99999999999", "\"count\""},
      {"/test/v1/shelves/x/echo?hold=yes", "\"hold\""},
      {"/test/v1/shelves/x/echo?color=PURPLE", "\"color\""},
      {"/test/v1/shelves/x/echo?at=yesterday", "\"at\""},
      {"/test/v1/shelves/x/echo?span=5", "\"span\""},
      {"/test/v1/shelves/x/echo?blob=%%%", "blob"},
      {"/test/v1/shelves/x/echo?bogus=1", "unknown field \"bogus\""},
      {"/test/v1/shelves/x/echo?nested.bogus=1", "unknown field \"nested.bogus\""},
      {"/test/v1/shelves/x/echo?tags.x=1", "\"tags.x\""},
      {"/test/v1/shelves/x/echo?name=other", "already bound by the path"},
      // The JSON name of a path-bound field is the same field (found by a probe).
      {"/api/v1/items/NODE3000005?item_id=X", "already bound by the path"},
      {"/api/v1/items/NODE3000005?itemId=X", "already bound by the path"},
  };
  for (const Case& c : cases) {
    Built b = Build("GET", c.target);
    EXPECT_EQ(b.status.code(), absl::StatusCode::kInvalidArgument) << c.target;
    EXPECT_THAT(std::string(b.status.message()), HasSubstr(c.expect)) << c.target;
  }
}

// Found by gateway_fuzz: a path or query value that percent-decodes to bytes
// that are not UTF-8 went into a proto3 string field, which upstream cannot parse.
TEST(Transcoder, StringFieldsMustBeUtf8) {
  for (const char* target :
       {"/test/v1/shelves/x%FF/echo", "/test/v1/shelves/x/echo?tags=%C3%28",
        "/test/v1/shelves/x/echo?nested.note=%ED%A0%80", "/test/v1/files/a/%F4%90%80%80"}) {
    Built b = Build("GET", target);
    EXPECT_EQ(b.status.code(), absl::StatusCode::kInvalidArgument) << target;
    EXPECT_THAT(std::string(b.status.message()), HasSubstr("not valid UTF-8")) << target;
  }
  // Valid multi-byte text passes untouched; bytes fields still take base64.
  auto r = As<test::EchoRequest>(Build("GET", "/test/v1/shelves/x/echo?tags=%C3%A9t%C3%A9"));
  ASSERT_EQ(r.tags_size(), 1);
  EXPECT_EQ(r.tags(0), "\xc3\xa9t\xc3\xa9");
  // A JSON body is checked by protobuf's parser.
  Built body = Build("POST", "/test/v1/echo", "{\"name\":\"\xff\"}");
  EXPECT_EQ(body.status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(Transcoder, BodyStarIsTheWholeRequest) {
  auto r = As<test::EchoRequest>(
      Build("POST", "/test/v1/echo",
            R"({"name":"n","id":"12345678901234567","tags":["x"],"nested":{"note":"hi"},)"
            R"("at":"2025-01-01T00:00:00Z","span":"2s","color":"COLOR_RED"})"));
  EXPECT_EQ(r.name(), "n");
  EXPECT_EQ(r.id(), 12345678901234567LL);
  EXPECT_EQ(r.nested().note(), "hi");
  EXPECT_EQ(r.span().seconds(), 2);
  EXPECT_EQ(r.color(), test::COLOR_RED);
  // An empty body is an empty request.
  EXPECT_TRUE(Build("POST", "/test/v1/echo", "").status.ok());
}

TEST(Transcoder, BodyErrorsNameTheField) {
  Built b = Build("POST", "/test/v1/echo", R"({"name":"n","colour":"red"})");
  EXPECT_EQ(b.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(b.status.message()), HasSubstr("unknown field \"colour\""));
  b = Build("POST", "/test/v1/echo", R"({"name": )");
  EXPECT_EQ(b.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(b.status.message()), HasSubstr("invalid JSON body"));
  b = Build("POST", "/test/v1/echo", R"({"at":"noon"})");
  EXPECT_THAT(std::string(b.status.message()), HasSubstr("at"));
  b = Build("POST", "/test/v1/echo?count=1", R"({})");
  EXPECT_THAT(std::string(b.status.message()), HasSubstr("the body is the whole request"));
  b = Build("GET", "/test/v1/shelves/x/echo", R"({"count":1})");
  EXPECT_THAT(std::string(b.status.message()), HasSubstr("takes no request body"));
}

TEST(Transcoder, FieldBodyPlusPathPlusQuery) {
  auto r = As<test::EchoRequest>(
      Build("PUT", "/test/v1/shelves/s9/echo?count=4", R"({"note":"in body","level":1.5})"));
  EXPECT_EQ(r.name(), "shelves/s9");
  EXPECT_EQ(r.count(), 4);
  EXPECT_EQ(r.nested().note(), "in body");
  EXPECT_EQ(r.nested().level(), 1.5);
  Built b = Build("PUT", "/test/v1/shelves/s9/echo?nested.note=x", R"({})");
  EXPECT_THAT(std::string(b.status.message()), HasSubstr("already bound by the body"));
  b = Build("PUT", "/test/v1/shelves/s9/echo", R"({"nope":1})");
  EXPECT_THAT(std::string(b.status.message()), HasSubstr("nope"));

  auto u = As<iss::peebot::v1::UpdateSettingsRequest>(
      Build("PATCH", "/api/v1/peebot/settings?updateMask=cooldown,dry_run",
            R"({"cooldown":"1800s","dryRun":true})"));
  EXPECT_EQ(u.settings().cooldown().seconds(), 1800);
  EXPECT_TRUE(u.settings().dry_run());
  EXPECT_THAT(u.update_mask().paths(), ::testing::ElementsAre("cooldown", "dry_run"));
}

TEST(Transcoder, ResponsesPrintEveryFieldInProto3Json) {
  auto m = Table().Match("GET", "/test/v1/shelves/x/echo");
  test::EchoRequest resp;
  resp.set_id(1234567890123LL);
  resp.mutable_at()->set_seconds(1735689600);
  auto json = ResponseToJson(*m.route, resp);
  ASSERT_TRUE(json.ok());
  auto j = nlohmann::json::parse(*json);
  EXPECT_EQ(j["id"], "1234567890123");         // int64 as a string
  EXPECT_EQ(j["at"], "2025-01-01T00:00:00Z");  // RFC 3339
  EXPECT_EQ(j["count"], 0);                    // unpopulated, still printed
  EXPECT_EQ(j["seenAuthorization"], "");       // lowerCamelCase
  EXPECT_TRUE(j["tags"].is_array());

  auto nested = Table().Match("GET", "/test/v1/nested/5");
  resp.mutable_nested()->set_note("only me");
  json = ResponseToJson(*nested.route, resp);
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(nlohmann::json::parse(*json)["note"], "only me");
}

TEST(Transcoder, StatusJsonIsGoogleRpcStatus) {
  auto j = nlohmann::json::parse(StatusJson(5, "item \"X\" not found"));
  EXPECT_EQ(j["code"], 5);
  EXPECT_EQ(j["message"], "item \"X\" not found");
  EXPECT_TRUE(j["details"].is_array());
  // Garbage details are dropped, not fatal.
  j = nlohmann::json::parse(StatusJson(3, "m", "\xff\xff garbage"));
  EXPECT_EQ(j["code"], 3);
}

TEST(Transcoder, StatusJsonRepairsTextThatIsNotUtf8) {
  // Error messages quote request text, which may be any bytes.
  const auto j = nlohmann::json::parse(StatusJson(3, "unknown field \"a\xff\xc3\"", ""));
  EXPECT_EQ(j["message"], "unknown field \"a\xef\xbf\xbd\xef\xbf\xbd\"");
  EXPECT_EQ(iss::RepairUtf8("ok \xc3\xa9"), "ok \xc3\xa9");
}

TEST(Transcoder, HttpStatusTableIsGrpcGateways) {
  const int expected[17] = {200, 499, 500, 400, 504, 404, 409, 403, 429,
                            400, 409, 400, 501, 500, 503, 500, 401};
  for (int code = 0; code <= 16; ++code)
    EXPECT_EQ(HttpStatusFromGrpc(code), expected[code]) << code;
  EXPECT_EQ(HttpStatusFromGrpc(99), 500);
}

TEST(Transcoder, QueryParsing) {
  auto q = ParseQuery("a=1&b=x+y%21&&c&d=");
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 4u);
  EXPECT_EQ((*q)[1].second, "x y!");
  EXPECT_EQ((*q)[2].first, "c");
  EXPECT_EQ((*q)[2].second, "");
  EXPECT_FALSE(ParseQuery("a=%zz").ok());
}

}  // namespace
}  // namespace iss::gateway

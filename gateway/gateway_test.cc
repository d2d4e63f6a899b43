// Gateway integration tests: the real HTTP server in front of real gRPC
// upstreams on loopback (the platform's iss::GrpcServer hosting recording
// fakes of the iss.* services and of a test-only annotated EchoService).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gateway/route_table.h"
#include "gateway/server.h"
#include "gateway/testdata/echo.pb.h"
#include "gateway/testing/fake_upstream.h"
#include "gateway/testing/http_client.h"
#include "gateway/transcoder.h"
#include "gateway/upstreams.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "iss/ingest/v1/ingest.pb.h"
#include "iss/peebot/v1/peebot.pb.h"
#include "iss/storage/v1/storage.pb.h"
#include "nlohmann/json.hpp"
#include "tests/support/wait.h"

namespace iss::gateway {
namespace {

using testing::FakeUpstream;
using ::testing::HasSubstr;
using testing::HttpCall;
using testing::HttpResponse;
using Json = nlohmann::json;
namespace test = iss::gatewaytest::v1;

constexpr char kToken[] = "s3cret-token";
constexpr char kEcho[] = "/iss.gatewaytest.v1.EchoService/Echo";
const std::vector<std::pair<std::string, std::string>> kAuth = {
    {"Authorization", std::string("Bearer ") + kToken}};

struct Stack {
  std::unique_ptr<FakeUpstream> ingest, storage, peebot, echo;
  std::unique_ptr<Upstreams> upstreams;
  std::unique_ptr<RouteTable> routes;
  Health health;
  std::unique_ptr<Server> server;
  int port = 0;
};

Stack* g = nullptr;

ServerOptions TestOptions() {
  ServerOptions o;
  o.address = "127.0.0.1:0";
  o.max_body_bytes = 4096;
  o.max_header_bytes = 4096;
  o.max_url_bytes = 1024;
  o.cors_origins = {"https://dash.example"};
  o.sse_heartbeat = absl::Milliseconds(100);
  o.default_deadline = absl::Seconds(10);
  return o;
}

class GatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    (void)test::EchoRequest::descriptor();  // link the test proto in
    g = new Stack;
    g->ingest = std::make_unique<FakeUpstream>(
        std::vector<std::string>{"iss.ingest.v1.IngestService"}, kToken);
    g->storage = std::make_unique<FakeUpstream>(
        std::vector<std::string>{"iss.storage.v1.StorageService"}, kToken);
    g->peebot = std::make_unique<FakeUpstream>(
        std::vector<std::string>{"iss.peebot.v1.PeeBotService"}, kToken);
    g->echo = std::make_unique<FakeUpstream>(
        std::vector<std::string>{"iss.gatewaytest.v1.EchoService"}, kToken);
    for (FakeUpstream* f : {g->ingest.get(), g->storage.get(), g->peebot.get(), g->echo.get()}) {
      ASSERT_TRUE(f->Start().ok());
    }
    g->upstreams = std::make_unique<Upstreams>(std::vector<UpstreamSpec>{
        {"ingest", g->ingest->address(), {"iss.ingest.v1.IngestService"}},
        {"storage", g->storage->address(), {"iss.storage.v1.StorageService"}},
        {"peebot", g->peebot->address(), {"iss.peebot.v1.PeeBotService"}},
        {"echo", g->echo->address(), {"iss.gatewaytest.v1.EchoService"}}});
    auto routes = RouteTable::Build(*google::protobuf::DescriptorPool::generated_pool(),
                                    g->upstreams->ServiceNames());
    ASSERT_TRUE(routes.ok()) << routes.status();
    g->routes = std::make_unique<RouteTable>(*std::move(routes));
    g->upstreams->StartHealthProbe(&g->health, absl::Milliseconds(50));
    auto server = Server::Start(TestOptions(), g->routes.get(), g->upstreams.get(), &g->health);
    ASSERT_TRUE(server.ok()) << server.status();
    g->server = *std::move(server);
    g->port = g->server->port();

    // The echo fake answers with what it was sent, plus what it saw.
    g->echo->OnCall(kEcho, [](const FakeUpstream::Call& call, std::string* out) {
      test::EchoRequest req;
      req.ParseFromString(call.request);
      auto auth = call.metadata.find("authorization");
      if (auth != call.metadata.end()) req.set_seen_authorization(auth->second);
      req.set_seen_deadline_seconds(absl::ToDoubleSeconds(call.deadline_left));
      *out = req.SerializeAsString();
      return grpc::Status::OK;
    });
    g->echo->OnCall("/iss.gatewaytest.v1.EchoService/Fail",
                    [](const FakeUpstream::Call& call, std::string* out) {
                      test::FailRequest req;
                      req.ParseFromString(call.request);
                      return grpc::Status(static_cast<grpc::StatusCode>(req.code()), req.message());
                    });
  }
  static void TearDownTestSuite() {
    g->server.reset();
    // The probe thread writes to `health`, which is destroyed before
    // `upstreams` (declared after it): stop the probe first.
    g->upstreams.reset();
    delete g;
    g = nullptr;
  }
  int port() const { return g->port; }
};

Json ParseJson(const HttpResponse& r) {
  Json j = Json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << r.body;
  return j;
}

// A concrete URL for a template: variables and wildcards get sample values.
std::string SampleUrl(const std::string& tmpl) {
  std::string out = std::regex_replace(tmpl, std::regex(R"(\{[a-z_.]+=([^}]*)\})"), "$1");
  out = std::regex_replace(out, std::regex(R"(\{[a-z_.]+\})"), "7");
  out = std::regex_replace(out, std::regex(R"(\*\*)"), "a/b");
  out = std::regex_replace(out, std::regex(R"(\*)"), "w");
  return out;
}

TEST_F(GatewayTest, EveryAnnotatedRouteReachesItsRpc) {
  ASSERT_GE(g->routes->routes().size(), 18u + 8u);
  for (const Route& r : g->routes->routes()) {
    const std::string url = SampleUrl(r.path.text());
    const std::string body = r.body.empty() ? "" : "{}";
    HttpResponse res = HttpCall(port(), r.http_method, url, body, kAuth);
    EXPECT_EQ(res.status, r.success_status) << r.http_method << " " << url << ": " << res.body;
    if (r.server_streaming) {
      EXPECT_EQ(res.Header("content-type"), "text/event-stream") << url;
      EXPECT_THAT(res.body, HasSubstr("event: end")) << url;
    } else {
      EXPECT_EQ(res.Header("content-type"), "application/json") << url;
    }
    bool seen = false;
    for (FakeUpstream* f : {g->ingest.get(), g->storage.get(), g->peebot.get(), g->echo.get()}) {
      if (auto call = f->LastCall(r.grpc_path)) seen = true;
    }
    EXPECT_TRUE(seen) << r.grpc_path << " never reached its upstream via " << url;
  }
}

TEST_F(GatewayTest, NewAnnotatedRpcIsListedAndServedWithNoGatewayCode) {
  // EchoService exists only in gateway/testdata: the gateway knows nothing of it.
  HttpResponse routes = HttpCall(port(), "GET", "/api/v1/routes");
  ASSERT_EQ(routes.status, 200);
  EXPECT_THAT(routes.body, HasSubstr("/iss.gatewaytest.v1.EchoService/EchoNested"));
  HttpResponse res = HttpCall(port(), "GET", "/test/v1/shelves/s1/echo?count=2");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(ParseJson(res)["name"], "shelves/s1");
  EXPECT_EQ(ParseJson(res)["count"], 2);
}

TEST_F(GatewayTest, PathVariablesAndQueryParametersFillTheRequest) {
  HttpResponse res = HttpCall(port(), "GET",
                              "/api/v1/items/NODE3000005/series?startTime=2026-01-01T00:00:00Z"
                              "&end_time=2026-01-01T06:00:00Z&bucket=300s");
  ASSERT_EQ(res.status, 200) << res.body;
  auto call = g->storage->LastCall("/iss.storage.v1.StorageService/GetSeries");
  ASSERT_TRUE(call.has_value());
  iss::storage::v1::GetSeriesRequest req;
  ASSERT_TRUE(req.ParseFromString(call->request));
  EXPECT_EQ(req.item_id(), "NODE3000005");
  EXPECT_EQ(google::protobuf::util::TimeUtil::ToString(req.start_time()), "2026-01-01T00:00:00Z");
  EXPECT_EQ(google::protobuf::util::TimeUtil::ToString(req.end_time()), "2026-01-01T06:00:00Z");
  EXPECT_EQ(req.bucket().seconds(), 300);

  res = HttpCall(port(), "GET",
                 "/api/v1/telemetry:window?item_ids=A&item_ids=B&valueFilter.min=1.5"
                 "&order=ORDER_DESC&startTime=2026-01-01T00:00:00Z&endTime=2026-01-02T00:00:00Z");
  ASSERT_EQ(res.status, 200) << res.body;
  iss::storage::v1::QueryWindowRequest w;
  ASSERT_TRUE(w.ParseFromString(
      g->storage->LastCall("/iss.storage.v1.StorageService/QueryWindow")->request));
  EXPECT_THAT(w.item_ids(), ::testing::ElementsAre("A", "B"));
  EXPECT_EQ(w.value_filter().min(), 1.5);
  EXPECT_EQ(w.order(), iss::storage::v1::ORDER_DESC);

  // Multi-segment variable, percent-decoding, ** tails.
  res = HttpCall(port(), "GET", "/test/v1/files/a/b%20c/d.txt");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(ParseJson(res)["name"], "a/b c/d.txt");
}

// tests/ops/check_stack.py's flow ("the injected event is stored once (window
// query)") with the bytes its urllib/http.client requests put on the wire: a
// tail open, the event injected (401 without the token, 201 with it), seen on
// the tail, the tail closed, then the window query with percent-encoded
// microsecond times and page_size 10000 on a fresh `Connection: close`.
TEST_F(GatewayTest, ContainerCheckInjectTailAndWindowQueryAsPythonSendsThem) {
  constexpr char kTail[] = "/iss.storage.v1.StorageService/Tail";
  constexpr char kWindow[] = "/iss.storage.v1.StorageService/QueryWindow";
  iss::telemetry::v1::TelemetryEvent event;
  event.set_item_id("CONTAINER_CHECK");
  event.set_value("42");
  event.mutable_source_ts()->set_seconds(1796239944);  // 2026-12-02T19:32:24Z
  event.mutable_source_ts()->set_nanos(123456000);
  g->storage->Stream(kTail, {}, /*hold=*/true);
  iss::storage::v1::QueryWindowResponse stored;
  *stored.add_events() = event;
  g->storage->Reply(kWindow, stored);

  testing::SseClient tail(port(), "/api/v1/telemetry:tail?item_ids=CONTAINER_CHECK",
                          {{"Accept", "text/event-stream"}});
  ASSERT_TRUE(iss::testing::WaitFor([&] { return g->storage->OpenStreams() == 1; }));
  const std::string ingest_body =
      R"({"itemId": "CONTAINER_CHECK", "sourceTs": "2026-12-02T19:33:24.123456Z", "value": "42"})";
  auto post = [&](bool token) {
    return absl::StrCat("POST /api/v1/ingest/test HTTP/1.1\r\nAccept-Encoding: identity\r\n",
                        "Content-Type: application/json\r\nContent-Length: ", ingest_body.size(),
                        "\r\nHost: 127.0.0.1\r\nUser-Agent: Python-urllib/3.11\r\n",
                        token ? absl::StrCat("Authorization: Bearer ", kToken, "\r\n") : "",
                        "Connection: close\r\n\r\n", ingest_body);
  };
  auto refused = testing::RawExchange(port(), post(false), 1);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].status, 401) << refused[0].body;
  auto created = testing::RawExchange(port(), post(true), 1);
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].status, 201) << created[0].body;
  iss::ingest::v1::IngestTestEventRequest injected;
  ASSERT_TRUE(injected.ParseFromString(
      g->ingest->LastCall("/iss.ingest.v1.IngestService/IngestTestEvent")->request));
  EXPECT_EQ(injected.item_id(), "CONTAINER_CHECK");
  EXPECT_EQ(injected.value(), "42");
  EXPECT_EQ(google::protobuf::util::TimeUtil::ToString(injected.source_ts()),
            "2026-12-02T19:33:24.123456Z");

  ASSERT_EQ(g->storage->Push(kTail, event), 1);
  tail.ReadUntil([](const std::string& s) { return absl::StrContains(s, "\"42\""); });
  ASSERT_EQ(tail.DataLines().size(), 1u) << tail.received();
  EXPECT_EQ(Json::parse(tail.DataLines()[0])["value"], "42");
  iss::storage::v1::TailRequest tail_req;
  ASSERT_TRUE(tail_req.ParseFromString(g->storage->LastCall(kTail)->request));
  EXPECT_THAT(tail_req.item_ids(), ::testing::ElementsAre("CONTAINER_CHECK"));
  tail.Close();

  // urllib.parse.urlencode: ':' as %3A, keys in insertion order.
  auto window = testing::RawExchange(
      port(),
      "GET /api/v1/telemetry:window?item_ids=CONTAINER_CHECK"
      "&start_time=2026-12-02T19%3A32%3A24.123456Z&end_time=2026-12-02T19%3A38%3A24.654321Z"
      "&page_size=10000 HTTP/1.1\r\nAccept-Encoding: identity\r\nHost: 127.0.0.1\r\n"
      "User-Agent: Python-urllib/3.11\r\nConnection: close\r\n\r\n",
      1);
  ASSERT_EQ(window.size(), 1u);
  ASSERT_EQ(window[0].status, 200) << window[0].body;
  Json events = Json::parse(window[0].body)["events"];
  ASSERT_EQ(events.size(), 1u) << window[0].body;
  EXPECT_EQ(events[0]["itemId"], "CONTAINER_CHECK");
  EXPECT_EQ(events[0]["value"], "42");
  iss::storage::v1::QueryWindowRequest w;
  ASSERT_TRUE(w.ParseFromString(g->storage->LastCall(kWindow)->request));
  EXPECT_THAT(w.item_ids(), ::testing::ElementsAre("CONTAINER_CHECK"));
  EXPECT_EQ(google::protobuf::util::TimeUtil::ToString(w.start_time()),
            "2026-12-02T19:32:24.123456Z");
  EXPECT_EQ(google::protobuf::util::TimeUtil::ToString(w.end_time()),
            "2026-12-02T19:38:24.654321Z");
  EXPECT_EQ(w.page_size(), 10000);
  EXPECT_TRUE(w.page_token().empty());
  g->storage->Reply(kWindow, iss::storage::v1::QueryWindowResponse());
}

TEST_F(GatewayTest, BodyStarAndFieldBodies) {
  HttpResponse res = HttpCall(port(), "POST", "/api/v1/ingest/test",
                              R"({"itemId":"USLAB000061","sourceTs":"2025-01-01T12:00:00Z",)"
                              R"("value":"12.34","statusClass":"OK"})",
                              kAuth);
  ASSERT_EQ(res.status, 201) << res.body;  // (iss.options.v1.http_success_status)
  iss::ingest::v1::IngestTestEventRequest ingest;
  ASSERT_TRUE(ingest.ParseFromString(
      g->ingest->LastCall("/iss.ingest.v1.IngestService/IngestTestEvent")->request));
  EXPECT_EQ(ingest.item_id(), "USLAB000061");
  EXPECT_EQ(ingest.source_ts().seconds(), 1735732800);
  EXPECT_EQ(ingest.value(), "12.34");
  EXPECT_EQ(ingest.status_class(), "OK");

  res = HttpCall(port(), "PATCH", "/api/v1/peebot/settings?updateMask=cooldown,minRisePercent",
                 R"({"cooldown":"1800s","minRisePercent":2.5})", kAuth);
  ASSERT_EQ(res.status, 200) << res.body;
  iss::peebot::v1::UpdateSettingsRequest upd;
  ASSERT_TRUE(upd.ParseFromString(
      g->peebot->LastCall("/iss.peebot.v1.PeeBotService/UpdateSettings")->request));
  EXPECT_EQ(upd.settings().cooldown().seconds(), 1800);
  EXPECT_EQ(upd.settings().min_rise_percent(), 2.5);
  EXPECT_THAT(upd.update_mask().paths(), ::testing::ElementsAre("cooldown", "min_rise_percent"));

  res = HttpCall(port(), "PUT", "/test/v1/shelves/s2/echo?count=7", R"({"note":"n","level":3})");
  ASSERT_EQ(res.status, 200) << res.body;
  Json j = ParseJson(res);
  EXPECT_EQ(j["name"], "shelves/s2");
  EXPECT_EQ(j["count"], 7);
  EXPECT_EQ(j["nested"]["note"], "n");
}

TEST_F(GatewayTest, ResponsesAreProto3Json) {
  iss::storage::v1::Item item;
  item.set_item_id("NODE3000005");
  item.set_units("%");
  item.set_total_updates(12345678901234ULL);
  item.mutable_last_seen()->set_seconds(1735689600);
  g->storage->Reply("/iss.storage.v1.StorageService/GetItem", item);
  HttpResponse res = HttpCall(port(), "GET", "/api/v1/items/NODE3000005");
  ASSERT_EQ(res.status, 200) << res.body;
  Json j = ParseJson(res);
  EXPECT_EQ(j["itemId"], "NODE3000005");
  EXPECT_EQ(j["totalUpdates"], "12345678901234");
  EXPECT_EQ(j["lastSeen"], "2025-01-01T00:00:00Z");
  EXPECT_EQ(j["inCatalog"], false);  // unpopulated fields are printed
  EXPECT_EQ(j["description"], "");

  // response_body: only the named field is the HTTP body.
  test::EchoRequest nested;
  nested.mutable_nested()->set_note("just this");
  g->echo->Reply("/iss.gatewaytest.v1.EchoService/EchoNested", nested);
  res = HttpCall(port(), "GET", "/test/v1/nested/42");
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(ParseJson(res)["note"], "just this");
  EXPECT_FALSE(ParseJson(res).contains("nested"));
}

TEST_F(GatewayTest, GrpcStatusMapsToHttpExactlyAsGrpcGateway) {
  const int expected[17] = {200, 499, 500, 400, 504, 404, 409, 403, 429,
                            400, 409, 400, 501, 500, 503, 500, 401};
  for (int code = 1; code <= 16; ++code) {
    HttpResponse res =
        HttpCall(port(), "POST", "/test/v1/fail:now",
                 absl::StrCat(R"({"code":)", code, R"(,"message":"failure )", code, "\"}"));
    EXPECT_EQ(res.status, expected[code]) << "grpc code " << code;
    Json j = ParseJson(res);
    EXPECT_EQ(j["code"], code);
    EXPECT_EQ(j["message"], absl::StrCat("failure ", code));
    EXPECT_TRUE(j["details"].is_array());
    EXPECT_EQ(res.Header("www-authenticate").empty(), code != 16) << code;
  }
}

TEST_F(GatewayTest, AuthorizationIsPassedThroughToAdminRpcs) {
  HttpResponse res =
      HttpCall(port(), "POST", "/api/v1/peebot:pause", R"({"reason":"maintenance"})");
  EXPECT_EQ(res.status, 401) << res.body;
  EXPECT_THAT(res.Header("www-authenticate"), HasSubstr("Bearer"));
  EXPECT_EQ(ParseJson(res)["code"], 16);

  res = HttpCall(port(), "POST", "/api/v1/peebot:pause", "{}", {{"Authorization", "Bearer wrong"}});
  EXPECT_EQ(res.status, 403) << res.body;
  EXPECT_EQ(ParseJson(res)["code"], 7);

  res = HttpCall(port(), "POST", "/api/v1/peebot:pause", R"({"reason":"maintenance"})", kAuth);
  EXPECT_EQ(res.status, 200) << res.body;
  auto call = g->peebot->LastCall("/iss.peebot.v1.PeeBotService/PausePosting");
  ASSERT_TRUE(call.has_value());
  auto auth = call->metadata.find("authorization");
  ASSERT_NE(auth, call->metadata.end());
  EXPECT_EQ(auth->second, std::string("Bearer ") + kToken);

  // Non-admin RPCs see the header too, unchanged.
  res = HttpCall(port(), "GET", "/test/v1/shelves/a/echo", "", {{"Authorization", "Bearer abc"}});
  EXPECT_EQ(ParseJson(res)["seenAuthorization"], "Bearer abc");
}

// gRPC core aborts the process on an illegal metadata value (and logs it
// first): such an Authorization is answered 401 here, never forwarded, never
// echoed, and the gateway lives on.
// Pee-Bot's per-destination admin routes come from the proto alone: the
// destination in the path fills the request, and the token is needed.
TEST_F(GatewayTest, PeebotDestinationRoutesCarryTheDestination) {
  HttpResponse res = HttpCall(port(), "POST", "/api/v1/peebot/destinations/mastodon:pause",
                              R"({"reason":"instance migration"})");
  EXPECT_EQ(res.status, 401) << res.body;  // the upstream's admin check, passed through
  res = HttpCall(port(), "POST", "/api/v1/peebot/destinations/mastodon:pause",
                 R"({"reason":"instance migration"})", kAuth);
  ASSERT_EQ(res.status, 200) << res.body;
  auto call = g->peebot->LastCall("/iss.peebot.v1.PeeBotService/PauseDestination");
  ASSERT_TRUE(call.has_value());
  iss::peebot::v1::PauseDestinationRequest pause;
  ASSERT_TRUE(pause.ParseFromString(call->request));
  EXPECT_EQ(pause.destination(), "mastodon");
  EXPECT_EQ(pause.reason(), "instance migration");

  res = HttpCall(port(), "POST", "/api/v1/peebot/destinations/bluesky:resume", "{}", kAuth);
  ASSERT_EQ(res.status, 200) << res.body;
  iss::peebot::v1::ResumeDestinationRequest resume;
  ASSERT_TRUE(resume.ParseFromString(
      g->peebot->LastCall("/iss.peebot.v1.PeeBotService/ResumeDestination")->request));
  EXPECT_EQ(resume.destination(), "bluesky");

  res = HttpCall(port(), "GET", "/api/v1/peebot/destinations");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_TRUE(g->peebot->LastCall("/iss.peebot.v1.PeeBotService/ListDestinations").has_value());

  res = HttpCall(port(), "POST", "/api/v1/peebot:testPost",
                 R"({"destination":"webhook","force":true})", kAuth);
  ASSERT_EQ(res.status, 200) << res.body;
  iss::peebot::v1::PostTestMessageRequest test;
  ASSERT_TRUE(test.ParseFromString(
      g->peebot->LastCall("/iss.peebot.v1.PeeBotService/PostTestMessage")->request));
  EXPECT_EQ(test.destination(), "webhook");
  EXPECT_TRUE(test.force());
}

TEST_F(GatewayTest, AuthorizationOutsidePrintableAsciiIsRefusedNotForwarded) {
  const size_t calls_before = g->storage->Calls().size() + g->echo->Calls().size();
  const std::string secret = "tok3n-never-echoed";
  auto check = [&](int p, const std::string& value, const std::string& target,
                   int want_status = 401, int want_code = 16) {
    SCOPED_TRACE(target + " with byte " + std::to_string(static_cast<unsigned char>(value.back())) +
                 " in a " + std::to_string(value.size()) + "-byte value");
    auto raw =
        testing::RawExchange(p,
                             "GET " + target + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + value +
                                 "\r\nConnection: close\r\n\r\n",
                             1);
    ASSERT_EQ(raw.size(), 1u);
    EXPECT_EQ(raw[0].status, want_status) << raw[0].body;
    EXPECT_EQ(ParseJson(raw[0])["code"], want_code);
    if (want_code == 16) {
      EXPECT_THAT(raw[0].Header("www-authenticate"), HasSubstr("Bearer"));
    }
    EXPECT_THAT(raw[0].body, ::testing::Not(HasSubstr(secret)));
  };
  for (const char* target : {"/api/v1/items", "/test/v1/stream"}) {  // unary, SSE
    // Legal in HTTP (obs-text, HTAB), illegal in gRPC metadata: ours to refuse.
    check(port(), "Bearer " + secret + "\x80", target);
    check(port(), "x" + secret + "\xff", target);
    check(port(), "Bearer " + secret + "\t!", target);
    // Other control bytes: the HTTP parser refuses the request before us.
    check(port(), "Bearer " + secret + "\x01", target, 400, 3);
    check(port(), "Bearer " + secret + "\x7f", target, 400, 3);
  }
  // Longer than the metadata cap, on a server whose header cap lets it in.
  ServerOptions o = TestOptions();
  o.max_header_bytes = 16 << 10;
  Health health;
  auto big = Server::Start(o, g->routes.get(), g->upstreams.get(), &health);
  ASSERT_TRUE(big.ok());
  check((*big)->port(), "Bearer " + secret + std::string(4096, 'a'), "/api/v1/items");

  // Nothing reached an upstream, and the gateway is still alive.
  EXPECT_EQ(g->storage->Calls().size() + g->echo->Calls().size(), calls_before);
  EXPECT_EQ(HttpCall(port(), "GET", "/healthz").status, 200);
  // Up to the cap is forwarded.
  EXPECT_EQ(HttpCall((*big)->port(), "GET", "/test/v1/shelves/a/echo", "",
                     {{"Authorization", "Bearer " + std::string(4000, 'a')}})
                .status,
            200);
  // Every printable ASCII byte still goes through unchanged.
  std::string printable = "Bearer ";
  for (char c = 0x21; c <= 0x7E; ++c) printable += c;
  HttpResponse res =
      HttpCall(port(), "GET", "/test/v1/shelves/a/echo", "", {{"Authorization", printable}});
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(ParseJson(res)["seenAuthorization"], printable);
}

TEST_F(GatewayTest, DeadlinesComeFromHeadersOrTheDefault) {
  HttpResponse res = HttpCall(port(), "GET", "/test/v1/shelves/a/echo");
  double left = ParseJson(res)["seenDeadlineSeconds"];
  EXPECT_GT(left, 8.0);
  EXPECT_LE(left, 10.5);  // the wire timeout is rounded up
  res = HttpCall(port(), "GET", "/test/v1/shelves/a/echo", "", {{"Grpc-Timeout", "30S"}});
  left = ParseJson(res)["seenDeadlineSeconds"];
  EXPECT_GT(left, 28.0);
  EXPECT_LE(left, 30.5);
  res = HttpCall(port(), "GET", "/test/v1/shelves/a/echo", "", {{"X-Request-Timeout", "2.5s"}});
  left = ParseJson(res)["seenDeadlineSeconds"];
  EXPECT_GT(left, 1.5);
  EXPECT_LE(left, 3.0);

  res = HttpCall(port(), "GET", "/test/v1/shelves/a/echo", "", {{"Grpc-Timeout", "soon"}});
  EXPECT_EQ(res.status, 400);
  EXPECT_THAT(ParseJson(res)["message"].get<std::string>(), HasSubstr("Grpc-Timeout"));

  // An upstream that never answers: the deadline turns into 504.
  g->echo->OnCall("/iss.gatewaytest.v1.EchoService/EchoNested",
                  [](const FakeUpstream::Call&, std::string*) { return std::nullopt; });
  res = HttpCall(port(), "GET", "/test/v1/nested/1", "", {{"Grpc-Timeout", "200m"}});
  EXPECT_EQ(res.status, 504) << res.body;
  EXPECT_EQ(ParseJson(res)["code"], 4);
}

TEST_F(GatewayTest, BadInputIsRejectedWithTheFieldNamed) {
  const size_t storage_calls_before = g->storage->Calls().size();
  HttpResponse res =
      HttpCall(port(), "POST", "/api/v1/ingest/test",
               R"({"itemId":"X","sourceTs":"2025-01-01T00:00:00Z","colour":"red"})", kAuth);
  EXPECT_EQ(res.status, 400);
  EXPECT_EQ(ParseJson(res)["code"], 3);
  EXPECT_THAT(ParseJson(res)["message"].get<std::string>(), HasSubstr("colour"));

  res = HttpCall(port(), "POST", "/api/v1/ingest/test", R"({"itemId":)", kAuth);
  EXPECT_EQ(res.status, 400);
  EXPECT_THAT(ParseJson(res)["message"].get<std::string>(), HasSubstr("invalid JSON"));

  res = HttpCall(port(), "GET", "/api/v1/items?pageSize=many");
  EXPECT_EQ(res.status, 400);
  EXPECT_THAT(ParseJson(res)["message"].get<std::string>(), HasSubstr("pageSize"));

  res = HttpCall(port(), "GET", "/api/v1/items?bogus=1");
  EXPECT_EQ(res.status, 400);
  EXPECT_THAT(ParseJson(res)["message"].get<std::string>(), HasSubstr("bogus"));

  res = HttpCall(port(), "GET", "/api/v1/no/such/route");
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(ParseJson(res)["code"], 5);

  res = HttpCall(port(), "DELETE", "/api/v1/items");
  EXPECT_EQ(res.status, 405);
  EXPECT_EQ(ParseJson(res)["code"], 12);

  // Nothing bad reached an upstream.
  EXPECT_EQ(g->storage->Calls().size(), storage_calls_before);
}

TEST_F(GatewayTest, SizeLimits) {
  // Body over the cap: 413 before the body is read.
  HttpResponse res =
      HttpCall(port(), "POST", "/test/v1/echo", R"({"name":")" + std::string(8000, 'x') + "\"}");
  EXPECT_EQ(res.status, 413);
  EXPECT_EQ(ParseJson(res)["code"], 3);
  // Header block over the cap: 431.
  res = HttpCall(port(), "GET", "/healthz", "", {{"X-Big", std::string(6000, 'h')}});
  EXPECT_EQ(res.status, 431);
  // Target over the URL cap (but inside the header cap): 414.
  res = HttpCall(port(), "GET", "/test/v1/shelves/a/echo?tags=" + std::string(2000, 't'));
  EXPECT_EQ(res.status, 414);
  // Not HTTP at all: 400, connection closed.
  auto raw = testing::RawExchange(port(), "HELLO THERE\r\n\r\n", 1);
  ASSERT_EQ(raw.size(), 1u);
  EXPECT_EQ(raw[0].status, 400);
  // And the server still serves.
  EXPECT_EQ(HttpCall(port(), "GET", "/healthz").status, 200);
}

// Whether the echo upstream was ever called for the shelf `name`.
bool EchoSawShelf(const std::string& name) {
  for (const FakeUpstream::Call& c : g->echo->Calls()) {
    test::EchoRequest req;
    if (c.method == kEcho && req.ParseFromString(c.request) && req.name() == "shelves/" + name) {
      return true;
    }
  }
  return false;
}

// Request smuggling (found by a probe): a transfer coding Beast does not
// implement left the body undelimited, and it was served as the next request.
// Any framing other than one final `chunked` or one Content-Length is refused
// and the connection closed, so nothing after the head is ever a request.
TEST_F(GatewayTest, TransferCodingsOtherThanChunkedAreRefusedAndNothingIsSmuggled) {
  struct Case {
    std::string framing;
    int status;
  };
  const std::vector<Case> cases = {
      {"Transfer-Encoding: xchunked\r\n", 400},
      {"Transfer-Encoding: gzip\r\n", 400},
      {"Transfer-Encoding: chunked, identity\r\n", 400},
      {"Transfer-Encoding: identity\r\n", 400},
      {"Transfer-Encoding: gzip, chunked\r\n", 501},
      {"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", 501},
      {"Transfer-Encoding: xchunked\r\nContent-Length: 0\r\n", 400},
      {"Content-Length: 0\r\nTransfer-Encoding: xchunked\r\n", 400},
      {"Content-Length: 0\r\nContent-Length: 5\r\n", 400},
      {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string shelf = absl::StrCat("SMUGGLED", n++);
    auto responses = testing::RawExchange(
        port(),
        absl::StrCat("POST /api/v1/peebot:testPost HTTP/1.1\r\nHost: x\r\n", c.framing, "\r\n",
                     "GET /test/v1/shelves/", shelf, "/echo HTTP/1.1\r\nHost: x\r\n",
                     "Connection: close\r\n\r\n"),
        2);
    ASSERT_EQ(responses.size(), 1u) << c.framing;  // closed after the refusal
    EXPECT_EQ(responses[0].status, c.status) << c.framing;
    EXPECT_EQ(responses[0].Header("connection"), "close") << c.framing;
    EXPECT_FALSE(EchoSawShelf(shelf)) << c.framing;
  }
  // HTTP/1.0 has no transfer codings: its framing is faulty whatever it says.
  auto old = testing::RawExchange(
      port(), "POST /test/v1/echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 2);
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].status, 400);
  // A real chunked body is still read, and the next request on the
  // connection is served after it.
  auto ok = testing::RawExchange(
      port(),
      "POST /test/v1/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "6\r\n{\"name\r\n9\r\n\":\"chunk\"\r\n1\r\n}\r\n0\r\n\r\n"
      "GET /test/v1/shelves/after/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      3);
  ASSERT_EQ(ok.size(), 2u);
  EXPECT_EQ(ParseJson(ok[0])["name"], "chunk");
  EXPECT_EQ(ParseJson(ok[1])["name"], "shelves/after");
}

// Trailer fields (found by a probe): Beast merges them into the header
// fields, so a trailer supplied the admin token a proxy never saw in the head.
TEST_F(GatewayTest, TrailerFieldsNeverAuthorizeOrSetDeadlines) {
  auto res = testing::RawExchange(
      port(),
      absl::StrCat("POST /api/v1/peebot:pause HTTP/1.1\r\nHost: x\r\n"
                   "Transfer-Encoding: chunked\r\nTrailer: Authorization\r\n\r\n"
                   "2\r\n{}\r\n0\r\nAuthorization: Bearer ",
                   kToken, "\r\n\r\n"),
      1);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].status, 401) << res[0].body;
  // A trailer repeating a head field's name lands beside it in Beast's field
  // list: the head's value still decides.
  res = testing::RawExchange(
      port(),
      absl::StrCat(
          "POST /api/v1/peebot:pause HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n"
          "Transfer-Encoding: chunked\r\n\r\n"
          "2\r\n{}\r\n0\r\nHost: y\r\nAuthorization: Bearer ",
          kToken, "\r\n\r\n"),
      1);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].status, 403) << res[0].body;

  res = testing::RawExchange(port(),
                             "POST /test/v1/echo HTTP/1.1\r\nHost: x\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n"
                             "2\r\n{}\r\n0\r\nGrpc-Timeout: 1S\r\nX-Request-Timeout: 2\r\n"
                             "Authorization: Bearer trailer\r\n\r\n",
                             1);
  ASSERT_EQ(res.size(), 1u);
  ASSERT_EQ(res[0].status, 200) << res[0].body;
  Json echoed = ParseJson(res[0]);
  EXPECT_GT(echoed["seenDeadlineSeconds"].get<double>(), 5.0);  // the 10 s default
  EXPECT_EQ(echoed["seenAuthorization"], "") << res[0].body;
}

TEST_F(GatewayTest, ExpectContinueIsAnsweredBeforeTheBodyIsSent) {
  testing::RawConnection conn(port());
  conn.Send(
      "POST /test/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n"
      "Expect: 100-continue\r\nConnection: close\r\n\r\n");
  const auto has = [](const char* text) {
    return [text](const std::string& got) { return absl::StrContains(got, text); };
  };
  EXPECT_THAT(conn.ReadUntil(has("\r\n\r\n")),
              ::testing::StartsWith("HTTP/1.1 100 Continue\r\n\r\n"));
  conn.Send(R"({"name":"later"})");
  EXPECT_THAT(conn.ReadUntil(has("later")), HasSubstr("HTTP/1.1 200 OK"));

  // An expectation we cannot meet: 417, and the body is never read.
  auto res = testing::RawExchange(port(),
                                  "POST /test/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                                  "Expect: teapot\r\n\r\n{}",
                                  2);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].status, 417);
}

TEST_F(GatewayTest, Http11RequestsNeedExactlyOneHost) {
  auto res = testing::RawExchange(port(), "GET /healthz HTTP/1.1\r\n\r\n", 2);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].status, 400);
  EXPECT_THAT(res[0].body, HasSubstr("Host"));
  res = testing::RawExchange(port(), "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 2);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].status, 400);
  // HTTP/1.0 may leave it out.
  res = testing::RawExchange(port(), "GET /healthz HTTP/1.0\r\n\r\n", 1);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].status, 200);
}

TEST_F(GatewayTest, IdleAndSlowConnectionsAreClosed) {
  ServerOptions o = TestOptions();
  o.idle_timeout = absl::Milliseconds(200);
  o.read_timeout = absl::Milliseconds(200);
  Health health;
  auto s = Server::Start(o, g->routes.get(), g->upstreams.get(), &health);
  ASSERT_TRUE(s.ok());
  const int p = (*s)->port();
  // Connects and says nothing: closed after the idle timeout, long before ours.
  absl::Time t0 = absl::Now();
  EXPECT_TRUE(testing::RawExchange(p, "", 1, absl::Seconds(10)).empty());
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  // Promises a 10-byte body and sends 2: closed after the read timeout.
  t0 = absl::Now();
  EXPECT_TRUE(testing::RawExchange(
                  p, "POST /test/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{}", 1,
                  absl::Seconds(10))
                  .empty());
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  // A keep-alive connection still serves several requests within the limits.
  auto ok = testing::RawExchange(p,
                                 "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                 "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                 2);
  EXPECT_EQ(ok.size(), 2u);
}

TEST_F(GatewayTest, PipelinedRequestsAreAnsweredInOrderOnOneConnection) {
  const std::string reqs =
      "GET /test/v1/shelves/one/echo HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /test/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\n{\"name\":\"two\"}"
      "GET /test/v1/shelves/three/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  auto responses = testing::RawExchange(port(), reqs, 5);
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(ParseJson(responses[0])["name"], "shelves/one");
  EXPECT_EQ(ParseJson(responses[1])["name"], "two");
  EXPECT_EQ(ParseJson(responses[2])["name"], "shelves/three");
  EXPECT_EQ(responses[0].Header("connection"), "");  // kept alive (HTTP/1.1 default)
  EXPECT_EQ(responses[2].Header("connection"), "close");
}

TEST_F(GatewayTest, Cors) {
  HttpResponse res =
      HttpCall(port(), "OPTIONS", "/api/v1/items", "",
               {{"Origin", "https://dash.example"}, {"Access-Control-Request-Method", "GET"}});
  EXPECT_EQ(res.status, 204);
  EXPECT_EQ(res.Header("access-control-allow-origin"), "https://dash.example");
  EXPECT_THAT(res.Header("access-control-allow-headers"), HasSubstr("Authorization"));
  res =
      HttpCall(port(), "GET", "/test/v1/shelves/a/echo", "", {{"Origin", "https://dash.example"}});
  EXPECT_EQ(res.Header("access-control-allow-origin"), "https://dash.example");
  res =
      HttpCall(port(), "GET", "/test/v1/shelves/a/echo", "", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.Header("access-control-allow-origin"), "");
}

TEST_F(GatewayTest, RateLimitAnswers429PerClient) {
  ServerOptions o = TestOptions();
  o.rate_limit_rps = 0.5;
  o.rate_limit_burst = 3;
  Health health;  // its own: shutting this server down must not touch the suite's
  auto limited = Server::Start(o, g->routes.get(), g->upstreams.get(), &health);
  ASSERT_TRUE(limited.ok());
  const int p = (*limited)->port();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(HttpCall(p, "GET", "/test/v1/shelves/a/echo").status, 200);
  HttpResponse res = HttpCall(p, "GET", "/test/v1/shelves/a/echo");
  EXPECT_EQ(res.status, 429);
  EXPECT_EQ(ParseJson(res)["code"], 8);
  EXPECT_EQ(res.Header("retry-after"), "1");
  // Probes are never limited.
  EXPECT_EQ(HttpCall(p, "GET", "/healthz").status, 200);
}

TEST_F(GatewayTest, ServerStreamingBecomesServerSentEvents) {
  const std::string method = "/iss.gatewaytest.v1.EchoService/Stream";
  test::EchoRequest a, b, c;
  a.set_name("first");
  b.set_name("second");
  c.set_name("pushed live");
  g->echo->Stream(method, {a.SerializeAsString(), b.SerializeAsString()}, /*hold=*/true);
  const int cancelled_before = g->echo->CancelledCalls();
  {
    testing::SseClient sse(port(), "/test/v1/stream?count=2");
    sse.ReadUntil([](const std::string& s) { return absl::StrContains(s, "second"); });
    EXPECT_THAT(sse.ReadUntil([](const std::string&) { return true; }),
                HasSubstr("Content-Type: text/event-stream"));
    ASSERT_GE(sse.DataLines().size(), 2u);
    EXPECT_EQ(Json::parse(sse.DataLines()[0])["name"], "first");
    EXPECT_EQ(Json::parse(sse.DataLines()[1])["name"], "second");
    // The request reached the upstream with its query mapped.
    test::EchoRequest sent;
    sent.ParseFromString(g->echo->LastCall(method)->request);
    EXPECT_EQ(sent.count(), 2);

    // A live message arrives as soon as the upstream sends it.
    ASSERT_TRUE(iss::testing::WaitFor([&] { return g->echo->OpenStreams() == 1; }));
    EXPECT_EQ(g->echo->Push(method, c), 1);
    sse.ReadUntil([](const std::string& s) { return absl::StrContains(s, "pushed live"); });
    ASSERT_GE(sse.DataLines().size(), 3u);
    EXPECT_EQ(Json::parse(sse.DataLines()[2])["name"], "pushed live");
    // Idle streams carry heartbeats (comment lines).
    EXPECT_THAT(
        sse.ReadUntil([](const std::string& s) { return absl::StrContains(s, ": keep-alive"); }),
        HasSubstr(": keep-alive"));
    sse.Close();  // the client goes away ...
  }
  // ... and the upstream call is cancelled.
  EXPECT_TRUE(iss::testing::WaitFor([&] { return g->echo->OpenStreams() == 0; }));
  EXPECT_TRUE(iss::testing::WaitFor([&] { return g->echo->CancelledCalls() > cancelled_before; }));
}

// An unlabelled metric as the server's /metrics shows it (-1 if absent).
double MetricValue(int port, const std::string& name) {
  const std::string body = HttpCall(port, "GET", "/metrics").body;
  const std::string key = "\n" + name + " ";
  const size_t at = body.find(key);
  if (at == std::string::npos) return -1;
  return std::strtod(body.c_str() + at + key.size(), nullptr);
}

double OpenStreamsGauge(int port) { return MetricValue(port, "iss_gateway_sse_streams"); }

TEST_F(GatewayTest, ConcurrentStreamsAreCappedPerClientAndInTotal) {
  g->echo->Stream("/iss.gatewaytest.v1.EchoService/Stream", {}, /*hold=*/true);
  auto headers = [](const std::string& s) { return absl::StrContains(s, "\r\n\r\n"); };
  struct Case {
    int per_client, total, want_status, want_code;
  };
  // Every test client is 127.0.0.1: one cap at a time is the one reached.
  for (const Case c : {Case{2, 10, 429, 8}, Case{10, 2, 503, 14}}) {
    SCOPED_TRACE(absl::StrCat("per client ", c.per_client, ", total ", c.total));
    ServerOptions o = TestOptions();
    o.max_streams_per_client = c.per_client;
    o.max_streams = c.total;
    Health health;
    auto s = Server::Start(o, g->routes.get(), g->upstreams.get(), &health);
    ASSERT_TRUE(s.ok());
    const int p = (*s)->port();
    const double open_before = OpenStreamsGauge(p);
    std::vector<std::unique_ptr<testing::SseClient>> streams;
    for (int i = 0; i < 2; ++i) {
      streams.push_back(std::make_unique<testing::SseClient>(p, "/test/v1/stream"));
      EXPECT_THAT(streams.back()->ReadUntil(headers), HasSubstr("HTTP/1.1 200 OK"));
    }
    EXPECT_EQ(OpenStreamsGauge(p), open_before + 2);
    // Read as a stream: were the cap missing, this would be one that never ends.
    testing::SseClient refused(p, "/test/v1/stream");
    const std::string& got = refused.ReadUntil(
        [](const std::string& x) {
          return absl::StrContains(x, "\r\n\r\n{") && absl::EndsWith(x, "}");
        },
        absl::Seconds(5));
    EXPECT_TRUE(absl::StartsWith(got, absl::StrCat("HTTP/1.1 ", c.want_status, " "))) << got;
    const Json body = Json::parse(got.substr(std::min(got.size(), got.find("\r\n\r\n") + 4)),
                                  nullptr, /*allow_exceptions=*/false);
    EXPECT_EQ(body.is_object() ? body.value("code", -1) : -1, c.want_code) << got;
    refused.Close();
    EXPECT_EQ(OpenStreamsGauge(p), open_before + 2);  // a refused stream is not counted
    // Unary calls take no stream slot.
    EXPECT_EQ(HttpCall(p, "GET", "/test/v1/shelves/a/echo").status, 200);
    // A stream whose client went away gives its slot back.
    streams[0]->Close();
    EXPECT_TRUE(iss::testing::WaitFor([&] {
      testing::SseClient again(p, "/test/v1/stream");
      return absl::StartsWith(again.ReadUntil(headers), "HTTP/1.1 200 OK");
    }));
  }
}

TEST_F(GatewayTest, StalledStreamReaderIsCutOffAndUpstreamCancelled) {
  const std::string method = "/iss.gatewaytest.v1.EchoService/Stream";
  g->echo->Stream(method, {}, /*hold=*/true);
  ServerOptions o = TestOptions();
  o.stream_write_timeout = absl::Milliseconds(300);
  Health health;
  auto s = Server::Start(o, g->routes.get(), g->upstreams.get(), &health);
  ASSERT_TRUE(s.ok());
  // Streams of earlier tests end asynchronously after their servers stop:
  // start from none, or the counts below race with them.
  ASSERT_TRUE(iss::testing::WaitFor([&] { return g->echo->OpenStreams() == 0; }));
  const int open_before = 0;
  const int cancelled_before = g->echo->CancelledCalls();
  testing::SseClient sse((*s)->port(), "/test/v1/stream");
  EXPECT_THAT(sse.ReadUntil([](const std::string& x) { return absl::StrContains(x, "\r\n\r\n"); }),
              HasSubstr("HTTP/1.1 200 OK"));
  ASSERT_TRUE(iss::testing::WaitFor([&] { return g->echo->OpenStreams() == open_before + 1; }));
  // From here the client reads nothing while the upstream keeps sending: once
  // the socket buffers are full a write stalls, times out, and the gateway
  // closes the stream and cancels the upstream call.
  test::EchoRequest big;
  big.set_name(std::string(1 << 20, 'x'));
  EXPECT_TRUE(iss::testing::WaitFor(
      [&] {
        if (g->echo->OpenStreams() == open_before) return true;
        g->echo->Push(method, big);
        return false;
      },
      absl::Seconds(20), absl::Milliseconds(50)));
  EXPECT_TRUE(iss::testing::WaitFor([&] { return g->echo->CancelledCalls() > cancelled_before; }));
  // The client gets what was already buffered, then the close.
  sse.ReadUntil([](const std::string&) { return false; }, absl::Seconds(20));
  EXPECT_TRUE(sse.closed());
}

TEST_F(GatewayTest, FiniteStreamsEndWithAStatusEvent) {
  test::EchoRequest a;
  a.set_name("only");
  g->echo->Stream("/iss.gatewaytest.v1.EchoService/Stream", {a.SerializeAsString()}, false);
  HttpResponse res = HttpCall(port(), "GET", "/test/v1/stream");
  EXPECT_EQ(res.status, 200);
  EXPECT_THAT(res.body, HasSubstr(R"(data: {"name":"only")"));
  EXPECT_THAT(res.body, HasSubstr("event: end\ndata: {\"code\":0"));
  // Bad query on a streaming route: a plain 400, no stream.
  res = HttpCall(port(), "GET", "/test/v1/stream?count=x");
  EXPECT_EQ(res.status, 400);
}

// The gateway reads the next upstream event while earlier ones are being
// written, and writes what queued meanwhile together: a burst arrives whole,
// in order, once each, and the events counter says how many went out.
TEST_F(GatewayTest, ABurstOfEventsArrivesWholeAndInOrder) {
  constexpr int kEvents = 5000;
  std::vector<std::string> burst;
  for (int i = 0; i < kEvents; ++i) {
    test::EchoRequest m;
    m.set_name(absl::StrCat("event-", i));
    burst.push_back(m.SerializeAsString());
  }
  g->echo->Stream("/iss.gatewaytest.v1.EchoService/Stream", std::move(burst), false);
  const double events_before = MetricValue(port(), "iss_gateway_sse_events_total");
  const double writes_before = MetricValue(port(), "iss_gateway_sse_writes_total");
  HttpResponse res = HttpCall(port(), "GET", "/test/v1/stream");
  ASSERT_EQ(res.status, 200);
  size_t at = 0;
  for (int i = 0; i < kEvents; ++i) {
    const std::string line = absl::StrCat("data: {\"name\":\"event-", i, "\"");
    const size_t found = res.body.find(line, at);
    ASSERT_NE(found, std::string::npos) << "event " << i << " missing or out of order";
    at = found + line.size();
  }
  EXPECT_EQ(res.body.find("data: {\"name\":\"event-", at), std::string::npos) << "extra events";
  EXPECT_THAT(res.body.substr(at), HasSubstr("event: end\ndata: {\"code\":0"));
  EXPECT_EQ(MetricValue(port(), "iss_gateway_sse_events_total") - events_before, kEvents);
  const double writes = MetricValue(port(), "iss_gateway_sse_writes_total") - writes_before;
  EXPECT_GE(writes, 1);
  EXPECT_LE(writes, kEvents + 2);  // the head and the end event at most on their own
}

TEST_F(GatewayTest, OpsEndpointsAndMetrics) {
  EXPECT_EQ(HttpCall(port(), "GET", "/healthz").status, 200);
  ASSERT_TRUE(
      iss::testing::WaitFor([&] { return HttpCall(port(), "GET", "/readyz").status == 200; }));
  EXPECT_THAT(HttpCall(port(), "GET", "/readyz").body, HasSubstr("upstream:storage"));
  HttpCall(port(), "GET", "/test/v1/shelves/metric-probe/echo");
  HttpResponse m = HttpCall(port(), "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  // The route label is the template, never the raw path.
  EXPECT_THAT(
      m.body,
      HasSubstr(
          R"(http_requests_total{code="200",method="GET",route="/test/v1/{name=shelves/*}/echo"})"));
  EXPECT_THAT(m.body, HasSubstr("http_request_duration_seconds_bucket"));
  EXPECT_THAT(m.body, ::testing::Not(HasSubstr("metric-probe")));
}

TEST_F(GatewayTest, ReadinessFollowsTheUpstreams) {
  FakeUpstream lonely({"iss.gatewaytest.v1.EchoService"}, kToken);
  ASSERT_TRUE(lonely.Start().ok());
  Health health;  // before `ups`: outlives the probe thread that writes to it
  Upstreams ups({{"echo", lonely.address(), {"iss.gatewaytest.v1.EchoService"}}});
  ups.StartHealthProbe(&health, absl::Milliseconds(20));
  auto s = Server::Start(TestOptions(), g->routes.get(), &ups, &health);
  ASSERT_TRUE(s.ok());
  const int p = (*s)->port();
  ASSERT_TRUE(iss::testing::WaitFor([&] { return HttpCall(p, "GET", "/readyz").status == 200; }));
  lonely.health().Set("fake", false, "going down");
  ASSERT_TRUE(iss::testing::WaitFor([&] { return HttpCall(p, "GET", "/readyz").status == 503; }));
  EXPECT_THAT(HttpCall(p, "GET", "/readyz").body, HasSubstr("not serving"));
}

// IngestTestEvent has (iss.options.v1.http_success_status) = 201: the gateway
// answers 201 Created with the response body, says so in /openapi.json and
// /api/v1/routes, and errors keep their own codes.
TEST_F(GatewayTest, TestIngestAnswers201CreatedAndOpenApiSaysSo) {
  iss::ingest::v1::IngestTestEventResponse created;
  created.set_event_id("e-201");
  created.set_status("enqueued");
  g->ingest->Reply("/iss.ingest.v1.IngestService/IngestTestEvent", created);
  const std::string body =
      R"({"itemId":"ISSCTL_TEST","sourceTs":"2025-01-01T12:00:00Z","value":"42"})";
  HttpResponse res = HttpCall(port(), "POST", "/api/v1/ingest/test", body, kAuth);
  EXPECT_EQ(res.status, 201) << res.body;
  EXPECT_EQ(res.Header("content-type"), "application/json");
  EXPECT_EQ(ParseJson(res)["eventId"], "e-201");
  EXPECT_EQ(ParseJson(res)["status"], "enqueued");
  // Other RPCs of the same service still answer 200; failures keep their codes.
  EXPECT_EQ(HttpCall(port(), "GET", "/api/v1/ingest/status").status, 200);
  EXPECT_EQ(HttpCall(port(), "POST", "/api/v1/ingest/test", body).status, 401);
  EXPECT_EQ(HttpCall(port(), "POST", "/api/v1/ingest/test", R"({"nope":1})", kAuth).status, 400);
  // Keep-alive framing is intact after a 201 (the next request on the
  // connection is answered too).
  auto raw = testing::RawExchange(
      port(),
      absl::StrCat("POST /api/v1/ingest/test HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ", kToken,
                   "\r\nContent-Type: application/json\r\nContent-Length: ", body.size(),
                   "\r\n\r\n", body,
                   "GET /api/v1/ingest/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
      2);
  ASSERT_EQ(raw.size(), 2u);
  EXPECT_EQ(raw[0].status, 201);
  EXPECT_EQ(raw[1].status, 200);

  const Json doc = ParseJson(HttpCall(port(), "GET", "/openapi.json"));
  const Json& responses = doc["paths"]["/api/v1/ingest/test"]["post"]["responses"];
  EXPECT_TRUE(responses.contains("201")) << responses;
  EXPECT_FALSE(responses.contains("200")) << responses;
  EXPECT_TRUE(responses.contains("default")) << responses;
  EXPECT_TRUE(doc["paths"]["/api/v1/ingest/status"]["get"]["responses"].contains("200"));
  bool listed = false;
  const Json routes = ParseJson(HttpCall(port(), "GET", "/api/v1/routes"));
  for (const Json& r : routes["routes"]) {
    if (r["rpc"] != "/iss.ingest.v1.IngestService/IngestTestEvent") continue;
    listed = true;
    EXPECT_EQ(r["successStatus"], 201);
  }
  EXPECT_TRUE(listed);
}

TEST_F(GatewayTest, RouteListingAndOpenApi) {
  HttpResponse res = HttpCall(port(), "GET", "/openapi.json");
  ASSERT_EQ(res.status, 200);
  Json doc = ParseJson(res);
  EXPECT_EQ(doc["openapi"], "3.0.3");
  const Json& series = doc["paths"]["/api/v1/items/{item_id}/series"]["get"];
  EXPECT_EQ(series["operationId"], "StorageService_GetSeries");
  bool has_path_param = false, has_bucket = false;
  for (const Json& p : series["parameters"]) {
    has_path_param |= p["name"] == "item_id" && p["in"] == "path";
    has_bucket |= p["name"] == "bucket" && p["in"] == "query";
  }
  EXPECT_TRUE(has_path_param);
  EXPECT_TRUE(has_bucket);
  EXPECT_TRUE(doc["paths"]["/api/v1/peebot:pause"]["post"].contains("security"));
  EXPECT_EQ(
      doc["paths"]["/api/v1/telemetry:tail"]["get"]["responses"]["200"]["content"].begin().key(),
      "text/event-stream");
}

TEST_F(GatewayTest, DashboardIsServedAndPathsStayInside) {
  HttpResponse res = HttpCall(port(), "GET", "/");
  ASSERT_EQ(res.status, 200);
  EXPECT_THAT(res.Header("content-type"), HasSubstr("text/html"));
  EXPECT_THAT(res.body, HasSubstr("<html"));
  EXPECT_EQ(HttpCall(port(), "GET", "/index.html").body, res.body);
  for (const char* evil :
       {"/../CMakeLists.txt", "/%2e%2e/CMakeLists.txt", "/..%2fCMakeLists.txt", "/nope.js"}) {
    EXPECT_EQ(HttpCall(port(), "GET", evil).status, 404) << evil;
  }
  // From a folder (ISS_GATEWAY_WEB_ROOT) with the same confinement.
  ServerOptions o = TestOptions();
  o.web_root = std::string(ISS_GATEWAY_SOURCE_DIR) + "/web";
  Health health;
  auto s = Server::Start(o, g->routes.get(), g->upstreams.get(), &health);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(HttpCall((*s)->port(), "GET", "/").body, res.body);
  EXPECT_EQ(HttpCall((*s)->port(), "GET", "/../CMakeLists.txt").status, 404);
  EXPECT_EQ(HttpCall((*s)->port(), "GET", "/%2e%2e/CMakeLists.txt").status, 404);
}

TEST_F(GatewayTest, DotfilesInTheWebRootAreNotServed) {
  // A web root as deployments have it: the page next to secrets and VCS data.
  const std::filesystem::path root =
      std::filesystem::path(::testing::TempDir()) / absl::StrCat("webroot-", getpid());
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root / ".git");
  std::filesystem::create_directories(root / "sub");
  auto write = [&](const std::filesystem::path& rel, const std::string& text) {
    std::ofstream(root / rel) << text;
  };
  write("index.html", "<html>page</html>");
  write("sub/ok.js", "ok()");
  write(".env", "ISS_ADMIN_TOKEN=leaked");
  write(".git/config", "[core]");
  write("sub/.hidden", "hidden");
  ServerOptions o = TestOptions();
  o.web_root = root.string();
  Health health;
  auto s = Server::Start(o, g->routes.get(), g->upstreams.get(), &health);
  ASSERT_TRUE(s.ok());
  const int p = (*s)->port();
  EXPECT_EQ(HttpCall(p, "GET", "/").status, 200);
  EXPECT_EQ(HttpCall(p, "GET", "/sub/ok.js").status, 200);
  for (const char* dot : {"/.env", "/%2eenv", "/%2Eenv", "/.git/config", "/sub/.hidden",
                          "/sub/%2ehidden", "/.git/"}) {
    HttpResponse res = HttpCall(p, "GET", dot);
    EXPECT_EQ(res.status, 404) << dot;
    EXPECT_THAT(res.body, ::testing::Not(HasSubstr("leaked"))) << dot;
  }
  std::filesystem::remove_all(root);
}

TEST_F(GatewayTest, GracefulShutdownDrainsInFlightAndEndsStreams) {
  FakeUpstream slow({"iss.gatewaytest.v1.EchoService"}, kToken);
  absl::Notification release;
  slow.OnCall(kEcho, [&](const FakeUpstream::Call& call, std::string* out) {
    release.WaitForNotification();  // holds the call until the test lets go
    *out = call.request;
    return grpc::Status::OK;
  });
  slow.Stream("/iss.gatewaytest.v1.EchoService/Stream", {}, /*hold=*/true);
  ASSERT_TRUE(slow.Start().ok());
  Upstreams ups({{"echo", slow.address(), {"iss.gatewaytest.v1.EchoService"}}});
  Health health;
  auto s = Server::Start(TestOptions(), g->routes.get(), &ups, &health);
  ASSERT_TRUE(s.ok());
  const int p = (*s)->port();

  testing::SseClient sse(p, "/test/v1/stream");
  ASSERT_TRUE(iss::testing::WaitFor([&] { return slow.OpenStreams() == 1; }));
  HttpResponse in_flight;
  std::thread client([&] { in_flight = HttpCall(p, "GET", "/test/v1/shelves/drain/echo"); });
  ASSERT_TRUE(iss::testing::WaitFor([&] { return slow.LastCall(kEcho).has_value(); }));

  std::thread stopper([&] { (*s)->Shutdown(absl::Seconds(20)); });
  // The stream is ended with a final status event ...
  const std::string& got =
      sse.ReadUntil([](const std::string& x) { return absl::StrContains(x, "event: end"); });
  EXPECT_THAT(got, HasSubstr("event: end"));
  // ... while the unary call in flight is still allowed to finish.
  release.Notify();
  client.join();
  stopper.join();
  EXPECT_EQ(in_flight.status, 200);
  EXPECT_EQ(ParseJson(in_flight)["name"], "shelves/drain");
  // After shutdown nothing listens.
  EXPECT_EQ(HttpCall(p, "GET", "/healthz").status, 0);
}

}  // namespace
}  // namespace iss::gateway

// Integration: the IngestService over a real gRPC socket, started with
// iss::GrpcServer (auth, health, reflection) in front of the real pipeline.
#include "services/ingestion/service.h"

#include "common/event_id.h"
#include "common/grpc_server.h"
#include "common/grpc_util.h"
#include "common/health.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "iss/telemetry/v1/telemetry.pb.h"
#include "services/ingestion/publisher.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/wait.h"

namespace iss::ingest {
namespace {

using iss::ingest::v1::GetIngestStatusRequest;
using iss::ingest::v1::IngestService;
using iss::ingest::v1::IngestStatus;
using iss::ingest::v1::IngestTestEventRequest;
using iss::ingest::v1::IngestTestEventResponse;

constexpr char kToken[] = "s3cret-token";
constexpr char kSessionId[] = "S5c4e2d1b0a987f63";

// The server half: pipeline + service + GrpcServer, with a queue of
// `capacity` that nobody drains unless a publisher is attached.
struct Server {
  explicit Server(size_t capacity) : queue(capacity), pipeline(&queue, &signal) {
    health.Declare("source", false);
    service = std::make_unique<IngestServiceImpl>(
        &pipeline,
        [] {
          SourceStatus s;
          s.state = iss::ingest::v1::CONNECTION_STATE_CONNECTED;
          s.session_id = kSessionId;
          s.server = "127.0.0.1:8088";
          s.subscribed_items = 274;
          s.reconnects = 2;
          return s;
        },
        [this] { return published; });
    GrpcServerOptions o;
    o.address = "127.0.0.1:0";
    o.admin_token = kToken;
    o.services = {service.get()};
    o.health = &health;
    auto s = GrpcServer::Start(o);
    EXPECT_TRUE(s.ok()) << s.status();
    if (s.ok()) grpc = std::move(*s);
  }
  ~Server() {
    if (grpc) grpc->Shutdown(absl::Seconds(1));
  }
  std::unique_ptr<IngestService::Stub> Stub() {
    return IngestService::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc->port()),
                                                      grpc::InsecureChannelCredentials()));
  }

  BoundedQueue queue;
  SignalTracker signal;
  Pipeline pipeline;
  Health health;
  uint64_t published = 0;
  std::unique_ptr<IngestServiceImpl> service;
  std::unique_ptr<GrpcServer> grpc;
};

IngestTestEventRequest GoodRequest(const std::string& value = "12.34") {
  IngestTestEventRequest r;
  r.set_item_id("USLAB000061");
  *r.mutable_source_ts() = ToProto(absl::FromUnixSeconds(1735732800));  // 2025-01-01T12:00Z
  r.set_value(value);
  r.set_status_class("OK");
  r.set_status_indicator("NOMINAL");
  r.set_status_color("GREEN");
  r.set_calibrated_data("12.34 C");
  return r;
}

grpc::Status Call(IngestService::Stub& stub, const IngestTestEventRequest& req,
                  IngestTestEventResponse* resp, const char* token = kToken) {
  grpc::ClientContext ctx;
  if (token != nullptr) AddBearer(&ctx, token);
  return stub.IngestTestEvent(&ctx, req, resp);
}

TEST(IngestService, AcceptedEventReachesTheBrokerWithTheReturnedId) {
  auto cluster = iss::testing::KafkaCluster::Start(1);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE((*cluster)->CreateTopic("telemetry.raw.v1", 12).ok());
  ASSERT_TRUE((*cluster)->CreateTopic("telemetry.dlq.v1", 3).ok());
  Server server(100);
  kafka::ProducerOptions po;
  po.brokers = (*cluster)->bootstrap();
  auto publisher = Publisher::Start(PublisherOptions{}, po, &server.queue);
  ASSERT_TRUE(publisher.ok()) << publisher.status();

  auto stub = server.Stub();
  IngestTestEventResponse resp;
  grpc::Status s = Call(*stub, GoodRequest(), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.status(), "enqueued");
  EXPECT_EQ(resp.event_id().size(), 64u);

  auto records = (*cluster)->ReadAll("telemetry.raw.v1", 1, absl::Seconds(20));
  ASSERT_EQ(records.size(), 1u);
  iss::telemetry::v1::TelemetryEvent e;
  ASSERT_TRUE(e.ParseFromString(records[0].value));
  EXPECT_EQ(records[0].key, "USLAB000061");
  EXPECT_EQ(e.event_id(), resp.event_id());
  EXPECT_EQ(e.source(), "test-ingest");
  EXPECT_EQ(e.status().indicator(), "NOMINAL");
  EXPECT_EQ(FromProto(e.source_ts()), absl::FromUnixSeconds(1735732800));
  // No received_ts given: received at the call, the clock ingest_ts reads.
  EXPECT_EQ(FromProto(e.received_ts()), FromProto(e.ingest_ts()));

  // The same payload again has the same id (deterministic, idempotent
  // downstream), also when the caller gives the receive time of a recording.
  IngestTestEventRequest recorded = GoodRequest();
  *recorded.mutable_received_ts() = ToProto(absl::FromUnixSeconds(1735732801));
  IngestTestEventResponse again;
  ASSERT_TRUE(Call(*stub, recorded, &again).ok());
  EXPECT_EQ(again.event_id(), resp.event_id());
  auto both = (*cluster)->ReadAll("telemetry.raw.v1", 2, absl::Seconds(20));
  ASSERT_EQ(both.size(), 2u);
  iss::telemetry::v1::TelemetryEvent second;
  for (const auto& r : both) {
    iss::telemetry::v1::TelemetryEvent x;
    ASSERT_TRUE(x.ParseFromString(r.value));
    if (FromProto(x.received_ts()) != FromProto(e.received_ts())) second = x;
  }
  EXPECT_EQ(FromProto(second.received_ts()), absl::FromUnixSeconds(1735732801));
  EXPECT_GT(FromProto(second.ingest_ts()), absl::FromUnixSeconds(1735732801));
}

TEST(IngestService, BadPayloadsAreInvalidArgumentNamingTheField) {
  Server server(100);
  auto stub = server.Stub();
  struct Case {
    const char* field;
    std::function<void(IngestTestEventRequest&)> spoil;
  };
  const std::vector<Case> cases = {
      {"item_id", [](auto& r) { r.clear_item_id(); }},
      {"item_id", [](auto& r) { r.set_item_id("usLab-1"); }},
      {"source_ts", [](auto& r) { r.clear_source_ts(); }},
      {"source_ts", [](auto& r) { r.mutable_source_ts()->set_nanos(-5); }},
      {"value", [](auto& r) { r.clear_value(); }},
      {"value", [](auto& r) { r.set_value(std::string(1025, '9')); }},
      {"status_class", [](auto& r) { r.set_status_class(std::string(65, 'c')); }},
      {"status_indicator", [](auto& r) { r.set_status_indicator(std::string(65, 'i')); }},
      {"status_color", [](auto& r) { r.set_status_color(std::string(65, 'g')); }},
      {"calibrated_data", [](auto& r) { r.set_calibrated_data(std::string(1025, 'd')); }},
      // What storage would dead-letter (common/event_rules.h) is refused here,
      // never answered "enqueued".
      {"source_ts", [](auto& r) { r.mutable_source_ts()->set_seconds(911519999); }},  // 1998-11-19
      {"source_ts",
       [](auto& r) {
         *r.mutable_source_ts() = ToProto(absl::Now() + absl::Hours(24) + absl::Minutes(1));
       }},
      {"source_ts", [](auto& r) { r.mutable_source_ts()->set_seconds(0); }},
      {"item_id", [](auto& r) { r.set_item_id(std::string(65, 'A')); }},
      {"value", [](auto& r) { r.set_value(std::string("4\0", 2)); }},
      {"status_class", [](auto& r) { r.set_status_class(std::string("O\0K", 3)); }},
      {"status_indicator", [](auto& r) { r.set_status_indicator(std::string(1, '\0')); }},
      {"status_color", [](auto& r) { r.set_status_color(std::string("\0", 1)); }},
      {"calibrated_data", [](auto& r) { r.set_calibrated_data(std::string("1\0", 2)); }},
      {"received_ts", [](auto& r) { r.mutable_received_ts()->set_nanos(1000000000); }},
      {"received_ts", [](auto& r) { r.mutable_received_ts()->set_seconds(911519999); }},
      {"received_ts",
       [](auto& r) {
         *r.mutable_received_ts() = ToProto(absl::Now() + absl::Hours(24) + absl::Minutes(1));
       }},
  };
  for (const Case& c : cases) {
    IngestTestEventRequest req = GoodRequest();
    c.spoil(req);
    IngestTestEventResponse resp;
    grpc::Status s = Call(*stub, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_NE(s.error_message().find(c.field), std::string::npos)
        << c.field << ": " << s.error_message();
  }
  EXPECT_EQ(server.queue.depth(), 0u);
  EXPECT_EQ(server.pipeline.counters().events_invalid, cases.size());
}

// Text that is not UTF-8 cannot even be parsed as the request (a proto3
// string must be UTF-8): gRPC refuses the call before the handler, so nothing
// is enqueued. (Over REST the gateway answers 400 naming the field first.)
TEST(IngestService, TextThatIsNotUtf8NeverReachesTheQueue) {
  Server server(100);
  auto stub = server.Stub();
  IngestTestEventRequest req = GoodRequest();
  req.set_status_color("gr\xfcn");  // Latin-1, not UTF-8
  IngestTestEventResponse resp;
  EXPECT_FALSE(Call(*stub, req, &resp).ok());
  EXPECT_EQ(server.queue.depth(), 0u);
}

TEST(IngestService, MissingTokenIsUnauthenticatedAndWrongTokenPermissionDenied) {
  Server server(100);
  auto stub = server.Stub();
  IngestTestEventResponse resp;
  EXPECT_EQ(Call(*stub, GoodRequest(), &resp, nullptr).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Call(*stub, GoodRequest(), &resp, "wrong-token").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(server.queue.depth(), 0u);  // nothing was enqueued by either
  EXPECT_EQ(server.pipeline.counters().updates_received, 0u);
}

TEST(IngestService, FullQueueIsResourceExhaustedAndKeepsWhatItHas) {
  Server server(2);  // no publisher: nothing drains it
  auto stub = server.Stub();
  IngestTestEventResponse resp;
  ASSERT_TRUE(Call(*stub, GoodRequest("1"), &resp).ok());
  ASSERT_TRUE(Call(*stub, GoodRequest("2"), &resp).ok());
  grpc::Status s = Call(*stub, GoodRequest("3"), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(server.queue.depth(), 2u);
  // Room again: accepted again.
  std::vector<Envelope> drained;
  server.queue.PopBatch(&drained, 1, absl::ZeroDuration());
  EXPECT_TRUE(Call(*stub, GoodRequest("3"), &resp).ok());
}

TEST(IngestService, StatusReportsSourceQueueCountersAndItems) {
  Server server(10);
  server.published = 7;
  auto stub = server.Stub();
  IngestTestEventResponse resp;
  ASSERT_TRUE(Call(*stub, GoodRequest("1"), &resp).ok());
  IngestTestEventRequest bad = GoodRequest();
  bad.clear_value();
  ASSERT_FALSE(Call(*stub, bad, &resp).ok());

  GetIngestStatusRequest req;
  req.add_item_ids("USLAB000061");
  req.add_item_ids("NOT_SEEN");
  IngestStatus st;
  grpc::ClientContext ctx;  // no token: the status RPC is not admin
  grpc::Status s = stub->GetIngestStatus(&ctx, req, &st);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(st.connection_state(), iss::ingest::v1::CONNECTION_STATE_CONNECTED);
  // The session id is a bearer secret and this answer is public: only its
  // fingerprint is in it, in no field and nowhere in the bytes.
  EXPECT_EQ(st.session_id(), "");
  EXPECT_EQ(st.session_fingerprint(), Fingerprint(kSessionId));
  EXPECT_EQ(st.session_fingerprint().size(), 12u);
  EXPECT_EQ(st.SerializeAsString().find(kSessionId), std::string::npos);
  EXPECT_EQ(st.server(), "127.0.0.1:8088");
  EXPECT_EQ(st.subscribed_items(), 274u);
  EXPECT_EQ(st.reconnects(), 2u);
  EXPECT_EQ(st.queue_depth(), 1u);
  EXPECT_EQ(st.queue_capacity(), 10u);
  EXPECT_EQ(st.updates_received(), 2u);
  EXPECT_EQ(st.events_invalid(), 1u);
  EXPECT_EQ(st.events_published(), 7u);
  EXPECT_EQ(st.signal(), iss::telemetry::v1::SIGNAL_STATE_UNSPECIFIED);
  ASSERT_EQ(st.items_size(), 1);
  EXPECT_EQ(st.items(0).item_id(), "USLAB000061");
  EXPECT_EQ(st.items(0).last_value(), "1");
  EXPECT_EQ(st.items(0).updates(), 1u);

  GetIngestStatusRequest none;
  IngestStatus st2;
  grpc::ClientContext ctx2;
  ASSERT_TRUE(stub->GetIngestStatus(&ctx2, none, &st2).ok());
  EXPECT_EQ(st2.items_size(), 0);  // items only when asked for

  GetIngestStatusRequest too_many;
  for (int i = 0; i <= kMaxStatusItems; ++i) too_many.add_item_ids("X");
  grpc::ClientContext ctx3;
  grpc::Status big = stub->GetIngestStatus(&ctx3, too_many, &st2);
  EXPECT_EQ(big.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(big.error_message().find("item_ids"), std::string::npos);
}

}  // namespace
}  // namespace iss::ingest

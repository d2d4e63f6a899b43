// The gRPC bootstrap over a real loopback socket: auth on admin methods,
// health mirroring, reflection, metrics.
#include "common/grpc_server.h"

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/grpc_util.h"
#include "common/metrics.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "iss/ingest/v1/ingest.grpc.pb.h"
#include "iss/peebot/v1/peebot.pb.h"

namespace iss {
namespace {

using iss::ingest::v1::IngestService;

// A minimal ingest service: IngestTestEvent is admin in the proto.
class CheckingService final : public IngestService::Service {
 public:
  grpc::Status IngestTestEvent(grpc::ServerContext* ctx,
                               const iss::ingest::v1::IngestTestEventRequest* req,
                               iss::ingest::v1::IngestTestEventResponse* resp) override {
    if (auto s = AuthorizeAdmin(*ctx); !s.ok()) return ToGrpc(s);
    ++calls;
    resp->set_status("enqueued");
    return grpc::Status::OK;
  }
  grpc::Status GetIngestStatus(grpc::ServerContext*, const iss::ingest::v1::GetIngestStatusRequest*,
                               iss::ingest::v1::IngestStatus* resp) override {
    ++status_calls;
    resp->set_queue_capacity(7);
    return grpc::Status::OK;
  }
  std::atomic<int> calls{0};
  std::atomic<int> status_calls{0};
};

// Forgets the token check: the interceptor must still refuse the caller.
class ForgetfulService final : public IngestService::Service {
 public:
  grpc::Status IngestTestEvent(grpc::ServerContext*, const iss::ingest::v1::IngestTestEventRequest*,
                               iss::ingest::v1::IngestTestEventResponse* resp) override {
    resp->set_status("enqueued");
    return grpc::Status::OK;
  }
};

class GrpcServerTest : public ::testing::Test {
 protected:
  void StartWith(grpc::Service* service, const std::string& token = "s3cret",
                 std::optional<int> max_receive_bytes = std::nullopt) {
    GrpcServerOptions o;
    if (max_receive_bytes) o.max_receive_bytes = *max_receive_bytes;
    o.address = "127.0.0.1:0";
    o.admin_token = token;
    o.services = {service};
    o.health = &health_;
    o.service_names = {"iss.ingest.v1.IngestService"};
    auto s = GrpcServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
  }
  grpc::Status Ingest(const std::string* token) {
    auto stub = IngestService::NewStub(channel_);
    grpc::ClientContext ctx;
    if (token) AddBearer(&ctx, *token);
    iss::ingest::v1::IngestTestEventRequest req;
    iss::ingest::v1::IngestTestEventResponse resp;
    return stub->IngestTestEvent(&ctx, req, &resp);
  }
  grpc::health::v1::HealthCheckResponse::ServingStatus HealthOf(const std::string& name,
                                                                grpc::StatusCode* code = nullptr) {
    auto stub = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(name);
    grpc::health::v1::HealthCheckResponse resp;
    grpc::Status s = stub->Check(&ctx, req, &resp);
    if (code) *code = s.error_code();
    return resp.status();
  }

  Health health_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

// A request of exactly `bytes` on the wire: one id, `bytes` less its tag and
// length prefix.
grpc::Status StatusCall(const std::shared_ptr<grpc::Channel>& channel, size_t bytes) {
  size_t id = bytes - 2;
  while (1 + google::protobuf::io::CodedOutputStream::VarintSize64(id) + id > bytes) --id;
  iss::ingest::v1::GetIngestStatusRequest req;
  req.add_item_ids(std::string(id, 'A'));
  EXPECT_EQ(req.ByteSizeLong(), bytes);
  grpc::ClientContext ctx;
  iss::ingest::v1::IngestStatus resp;
  return IngestService::NewStub(channel)->GetIngestStatus(&ctx, req, &resp);
}

TEST_F(GrpcServerTest, RequestsOverTheReceiveCapAreRefusedBeforeTheHandler) {
  CheckingService svc;
  StartWith(&svc, "s3cret", 64 << 10);
  EXPECT_TRUE(StatusCall(channel_, 64 << 10).ok());
  EXPECT_EQ(svc.status_calls, 1);
  for (size_t bytes : {(size_t{64} << 10) + 1, size_t{15} << 20}) {
    const grpc::Status s = StatusCall(channel_, bytes);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  }
  EXPECT_EQ(svc.status_calls, 1);
  // The same connection goes on serving.
  EXPECT_TRUE(StatusCall(channel_, 100).ok());
  EXPECT_EQ(svc.status_calls, 2);
}

TEST_F(GrpcServerTest, DefaultReceiveCapIsGrpcsFourMiB) {
  CheckingService svc;
  StartWith(&svc);
  EXPECT_TRUE(StatusCall(channel_, 4 << 20).ok());
  EXPECT_EQ(StatusCall(channel_, (4 << 20) + 1).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(svc.status_calls, 1);
}

TEST_F(GrpcServerTest, AdminMethodsAreKnownFromTheProto) {
  // Descriptors enter the generated pool when their .pb.cc is linked in.
  ASSERT_NE(iss::peebot::v1::PausePostingRequest::descriptor(), nullptr);
  EXPECT_TRUE(IsAdminMethod("/iss.ingest.v1.IngestService/IngestTestEvent"));
  EXPECT_FALSE(IsAdminMethod("/iss.ingest.v1.IngestService/GetIngestStatus"));
  EXPECT_TRUE(IsAdminMethod("/iss.peebot.v1.PeeBotService/PausePosting"));
  EXPECT_FALSE(IsAdminMethod("/no.such.Service/Method"));
}

TEST_F(GrpcServerTest, BearerTokenGuardsAdminMethods) {
  CheckingService svc;
  StartWith(&svc);
  const std::string good = "s3cret", bad = "guess";
  EXPECT_EQ(Ingest(nullptr).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Ingest(&bad).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(svc.calls.load(), 0);
  EXPECT_TRUE(Ingest(&good).ok());
  EXPECT_EQ(svc.calls.load(), 1);
  // Non-admin methods need no token.
  auto stub = IngestService::NewStub(channel_);
  grpc::ClientContext ctx;
  iss::ingest::v1::IngestStatus st;
  ASSERT_TRUE(stub->GetIngestStatus(&ctx, {}, &st).ok());
  EXPECT_EQ(st.queue_capacity(), 7u);
}

TEST_F(GrpcServerTest, NoConfiguredTokenMeansAdminIsClosed) {
  CheckingService svc;
  StartWith(&svc, "");
  const std::string empty = "";
  EXPECT_EQ(Ingest(&empty).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(svc.calls.load(), 0);
}

TEST_F(GrpcServerTest, InterceptorRefusesWhenAHandlerForgetsTheCheck) {
  ForgetfulService svc;
  StartWith(&svc);
  const std::string good = "s3cret";
  EXPECT_EQ(Ingest(nullptr).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Ingest(&good).ok());
  EXPECT_THAT(metrics::Serialize(), ::testing::HasSubstr("iss_grpc_admin_unchecked_total 1"));
}

TEST_F(GrpcServerTest, HealthMirrorsDependencies) {
  CheckingService svc;
  health_.Declare("broker");
  StartWith(&svc);
  using HS = grpc::health::v1::HealthCheckResponse;
  EXPECT_EQ(HealthOf(""), HS::NOT_SERVING);
  health_.Set("broker", true);
  EXPECT_EQ(HealthOf(""), HS::SERVING);
  EXPECT_EQ(HealthOf("iss.ingest.v1.IngestService"), HS::SERVING);
  grpc::StatusCode code;
  HealthOf("no.such.Service", &code);
  EXPECT_EQ(code, grpc::StatusCode::NOT_FOUND);
  health_.Set("broker", false, "down");
  EXPECT_EQ(HealthOf(""), HS::NOT_SERVING);
}

TEST_F(GrpcServerTest, MetricsCountHandledCallsByCode) {
  CheckingService svc;
  StartWith(&svc);
  Ingest(nullptr);
  const std::string text = metrics::Serialize();
  EXPECT_THAT(text, ::testing::HasSubstr(
                        "grpc_server_handled_total{grpc_code=\"Unauthenticated\",grpc_method="
                        "\"IngestTestEvent\",grpc_service=\"iss.ingest.v1.IngestService\"}"));
  EXPECT_THAT(text, ::testing::HasSubstr("grpc_server_handling_seconds_bucket"));
}

// A sample's value in the process registry ("name{labels}" exactly); 0 if absent.
double MetricValue(const std::string& key) {
  for (absl::string_view line : absl::StrSplit(metrics::Serialize(), '\n')) {
    if (absl::StartsWith(line, key) && line.size() > key.size() && line[key.size()] == ' ') {
      double v = 0;
      if (absl::SimpleAtod(line.substr(key.size() + 1), &v)) return v;
    }
  }
  return 0;
}

// A unary call with an empty request to any method name, served or not.
grpc::Status RawUnaryCall(const std::shared_ptr<grpc::Channel>& channel,
                          const std::string& method) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1), response;
  auto call = stub.PrepareUnaryCall(&ctx, method, request, &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  EXPECT_TRUE(cq.Next(&tag, &ok));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

// Method names come from clients: made-up ones must not become label values,
// or each would add series without bound.
TEST_F(GrpcServerTest, UnknownMethodsShareOneMetricLabel) {
  CheckingService svc;
  StartWith(&svc);
  const std::string unknown_handled =
      "grpc_server_handled_total{grpc_code=\"Unimplemented\",grpc_method=\"unknown\","
      "grpc_service=\"unknown\"}";
  const std::string unknown_started =
      "grpc_server_started_total{grpc_method=\"unknown\",grpc_service=\"unknown\"}";
  const double handled_before = MetricValue(unknown_handled);
  const double started_before = MetricValue(unknown_started);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(RawUnaryCall(channel_, absl::StrCat("/attacker.Svc/Evil", i)).error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }
  // A real service with a made-up method is just as unknown.
  EXPECT_EQ(RawUnaryCall(channel_, "/iss.ingest.v1.IngestService/Evil").error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  const std::string text = metrics::Serialize();
  EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr("attacker")));
  EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr("Evil")));
  EXPECT_EQ(MetricValue(unknown_handled), handled_before + 4);
  EXPECT_EQ(MetricValue(unknown_started), started_before + 4);
  // Served methods keep their names.
  EXPECT_TRUE(RawUnaryCall(channel_, "/iss.ingest.v1.IngestService/GetIngestStatus").ok());
  EXPECT_GE(MetricValue("grpc_server_handled_total{grpc_code=\"OK\",grpc_method="
                        "\"GetIngestStatus\",grpc_service=\"iss.ingest.v1.IngestService\"}"),
            1);
}

// Reflection: a raw ServerReflectionInfo call asking list_services, decoded
// with protobuf's wire-format reader (grpc ships no C++ reflection client).
TEST_F(GrpcServerTest, ReflectionListsOurServices) {
  CheckingService svc;
  StartWith(&svc);
  grpc::GenericStub stub(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  auto step = [&](intptr_t want) {
    ASSERT_TRUE(cq.Next(&tag, &ok));
    ASSERT_EQ(reinterpret_cast<intptr_t>(tag), want);
    ASSERT_TRUE(ok);
  };
  call->StartCall(reinterpret_cast<void*>(1));
  step(1);
  const std::string request("\x3a\x00", 2);  // field 7 list_services = ""
  grpc::Slice slice(request);
  grpc::ByteBuffer out(&slice, 1);
  call->Write(out, reinterpret_cast<void*>(2));
  step(2);
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(3));
  step(3);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(in.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  google::protobuf::UnknownFieldSet response;
  ASSERT_TRUE(response.ParseFromString(bytes));
  std::vector<std::string> names;
  for (int i = 0; i < response.field_count(); ++i) {
    if (response.field(i).number() != 6) continue;  // list_services_response
    google::protobuf::UnknownFieldSet list;
    ASSERT_TRUE(list.ParseFromString(response.field(i).length_delimited()));
    for (int j = 0; j < list.field_count(); ++j) {
      google::protobuf::UnknownFieldSet service;
      ASSERT_TRUE(service.ParseFromString(list.field(j).length_delimited()));
      names.push_back(service.field(0).length_delimited());
    }
  }
  EXPECT_THAT(names, ::testing::Contains("iss.ingest.v1.IngestService"));
  EXPECT_THAT(names, ::testing::Contains("grpc.health.v1.Health"));
  ctx.TryCancel();
  grpc::Status st;
  call->Finish(&st, reinterpret_cast<void*>(4));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

}  // namespace
}  // namespace iss

// The iss-ingestion binary as it is deployed: a child process configured by
// environment variables, talking to the mock cluster over loopback. Checks
// the wiring main() owns: config errors, replay source, readiness following
// the broker, the admin RPC on the configured port, graceful drain on SIGTERM.
#include <dirent.h>
#include <zlib.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/grpc_server.h"
#include "common/grpc_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "iss/ingest/v1/ingest.grpc.pb.h"
#include "iss/telemetry/v1/telemetry.pb.h"
#include "services/ingestion/service.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace iss::ingest {
namespace {

using iss::testing::ChildProcess;
using iss::testing::HttpGet;
using iss::testing::KafkaCluster;
using iss::testing::WaitFor;

class IngestionBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = KafkaCluster::Start(1);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    ASSERT_TRUE(cluster_->CreateTopic("telemetry.raw.v1", 12).ok());
    ASSERT_TRUE(cluster_->CreateTopic("telemetry.dlq.v1", 1).ok());
  }

  std::map<std::string, std::string> Env() {
    return {{"ISS_KAFKA_BROKERS", cluster_->bootstrap()},
            {"ISS_ADMIN_TOKEN", "bin-token"},
            {"ISS_INGEST_SOURCE", "none"}};
  }

  std::unique_ptr<ChildProcess> Spawn(std::map<std::string, std::string> env) {
    ChildProcess::Options o;
    o.binary = ISS_INGESTION_BINARY;
    o.env = std::move(env);
    o.listeners = {{"grpc", "ISS_INGEST_GRPC_ADDR"}, {"ops", "ISS_INGEST_OPS_ADDR"}};
    o.log_path =
        absl::StrCat(::testing::TempDir(), "/iss-ingestion-", ::getpid(), "-", ++spawned_, ".log");
    auto p = ChildProcess::Spawn(o);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }

  // Waits for the ports the child bound (its address file).
  ::testing::AssertionResult Bound(ChildProcess& p) {
    if (absl::Status s = p.WaitForAddresses(); !s.ok()) {
      return ::testing::AssertionFailure() << s << "\n" << p.ReadLog();
    }
    grpc_port_ = p.port("grpc");
    ops_port_ = p.port("ops");
    return ::testing::AssertionSuccess();
  }

  int ReadyCode() {
    auto r = HttpGet(ops_port_, "/readyz");
    return r.ok() ? r->first : -1;
  }

  std::unique_ptr<KafkaCluster> cluster_;
  int grpc_port_ = 0, ops_port_ = 0;
  int spawned_ = 0;
};

TEST_F(IngestionBinaryTest, BadConfigurationExitsTwoNamingEachVariable) {
  auto env = Env();
  env["ISS_INGEST_QUEUE_CAPACITY"] = "0";
  env["ISS_INGEST_SOURCE"] = "carrier-pigeon";
  auto p = Spawn(env);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->WaitExit(absl::Seconds(10)), 2);
  const std::string log = p->ReadLog();
  EXPECT_TRUE(absl::StrContains(log, "ISS_INGEST_QUEUE_CAPACITY")) << log;
  EXPECT_TRUE(absl::StrContains(log, "ISS_INGEST_SOURCE")) << log;

  auto replay_without_file = Env();
  replay_without_file["ISS_INGEST_SOURCE"] = "replay";
  auto q = Spawn(replay_without_file);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->WaitExit(absl::Seconds(10)), 2);
  EXPECT_TRUE(absl::StrContains(q->ReadLog(), "ISS_INGEST_REPLAY_FILE"));

  // A label storage would refuse as `source` (common/event_rules.h).
  auto long_label = Env();
  long_label["ISS_INGEST_SOURCE_LABEL"] = std::string(65, 'x');
  auto r = Spawn(long_label);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->WaitExit(absl::Seconds(10)), 2);
  EXPECT_TRUE(absl::StrContains(r->ReadLog(), "ISS_INGEST_SOURCE_LABEL: longer than 64 bytes"))
      << r->ReadLog();

  // A recording directory that cannot be one: the binary stops, naming it.
  const std::string not_a_dir = absl::StrCat(::testing::TempDir(), "/not-a-dir-", ::getpid());
  std::ofstream(not_a_dir) << "x";
  auto bad_dir = Env();
  bad_dir["ISS_INGEST_RECORD_DIR"] = not_a_dir;
  auto d = Spawn(bad_dir);
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->WaitExit(absl::Seconds(10)), 0);
  EXPECT_TRUE(absl::StrContains(d->ReadLog(), not_a_dir)) << d->ReadLog();
  std::remove(not_a_dir.c_str());
}

TEST_F(IngestionBinaryTest, ReplaysAFileServesTheRpcAndDrainsOnSigterm) {
  const std::string file = absl::StrCat(::testing::TempDir(), "/replay-", ::getpid(), ".jsonl");
  {
    std::ofstream out(file);
    out << "# recorded\n";
    for (int i = 0; i < 50; ++i) {
      out << R"({"item_id":"NODE3000005","value":")" << i << R"(","timestamp":"4224.)" << 100 + i
          << R"(","status_class":"24","received_at":"2026-06-25T00:00:52Z"})"
          << "\n";
    }
    out << "{broken line\n";
  }
  // Recording what it replays (gzip): the recording is the file again.
  const std::string record_dir =
      absl::StrCat(::testing::TempDir(), "/recording-", ::getpid(), "-", spawned_);
  auto env = Env();
  env["ISS_INGEST_SOURCE"] = "replay";
  env["ISS_INGEST_REPLAY_FILE"] = file;
  env["ISS_INGEST_REPLAY_SPEED"] = "0";
  env["ISS_INGEST_RECORD_DIR"] = record_dir;
  env["ISS_INGEST_RECORD_GZIP"] = "true";
  auto p = Spawn(env);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(Bound(*p));
  ASSERT_TRUE(iss::testing::WaitHttpOk(ops_port_, "/readyz", absl::Seconds(20)).ok())
      << p->ReadLog();

  // The replayed events, in order, and the bad line as a dead letter.
  auto records = cluster_->ReadAll("telemetry.raw.v1", 50, absl::Seconds(20));
  ASSERT_EQ(records.size(), 50u);
  for (size_t i = 0; i < records.size(); ++i) {
    iss::telemetry::v1::TelemetryEvent e;
    ASSERT_TRUE(e.ParseFromString(records[i].value));
    EXPECT_EQ(e.value(), std::to_string(i));
    EXPECT_EQ(e.source(), "replay");
    // The recorded receive time travels with the event; ingest_ts is now.
    EXPECT_EQ(FromProto(e.received_ts()), absl::FromUnixSeconds(1782345652));
    EXPECT_GT(FromProto(e.ingest_ts()), absl::FromUnixSeconds(1782345652));
  }
  auto dead = cluster_->ReadAll("telemetry.dlq.v1", 1, absl::Seconds(10));
  ASSERT_EQ(dead.size(), 1u);
  iss::telemetry::v1::DeadLetter dl;
  ASSERT_TRUE(dl.ParseFromString(dead[0].value));
  EXPECT_EQ(dl.reason(), "undecodable");
  EXPECT_EQ(dl.raw(), "{broken line");

  // Metrics on the ops port.
  auto metrics = HttpGet(ops_port_, "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_TRUE(
      absl::StrContains(metrics->second, "iss_ingest_invalid_total{reason=\"undecodable\"} 1"));

  // The admin RPC on the configured port, with the configured token.
  auto stub = iss::ingest::v1::IngestService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", grpc_port_), grpc::InsecureChannelCredentials()));
  iss::ingest::v1::IngestTestEventRequest req;
  req.set_item_id("USLAB000061");
  *req.mutable_source_ts() = ToProto(absl::FromUnixSeconds(1735732800));
  req.set_value("12.34");
  iss::ingest::v1::IngestTestEventResponse resp;
  grpc::ClientContext ctx;
  AddBearer(&ctx, "bin-token");
  grpc::Status s = stub->IngestTestEvent(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.status(), "enqueued");

  // SIGTERM: drains and exits 0; the test event is on the bus.
  EXPECT_EQ(p->Stop(absl::Seconds(30)), 0) << p->ReadLog();
  EXPECT_TRUE(absl::StrContains(p->ReadLog(), "\"drain\":\"complete\""));
  // The recording holds the 50 updates (not the undecodable line, not the
  // test event: only what a source delivered), counted in the metrics.
  EXPECT_TRUE(absl::StrContains(metrics->second, "iss_ingest_record_")) << "metrics declared";
  std::vector<std::string> recorded;
  if (DIR* dir = ::opendir(record_dir.c_str())) {
    while (const dirent* e = ::readdir(dir)) {
      if (absl::EndsWith(e->d_name, ".jsonl.gz")) recorded.push_back(e->d_name);
    }
    ::closedir(dir);
  }
  ASSERT_EQ(recorded.size(), 1u);
  gzFile gz = gzopen((record_dir + "/" + recorded[0]).c_str(), "rb");
  ASSERT_NE(gz, nullptr);
  char line[4096];
  int lines = 0;
  while (gzgets(gz, line, sizeof(line)) != nullptr) lines += line[0] == '{';
  gzclose(gz);
  EXPECT_EQ(lines, 50);
  std::remove((record_dir + "/" + recorded[0]).c_str());
  ::rmdir(record_dir.c_str());
  auto all = cluster_->ReadAll("telemetry.raw.v1", 51, absl::Seconds(10));
  ASSERT_EQ(all.size(), 51u);
  EXPECT_TRUE(std::any_of(all.begin(), all.end(), [&](const auto& r) {
    iss::telemetry::v1::TelemetryEvent e;
    return e.ParseFromString(r.value) && e.event_id() == resp.event_id();
  }));
}

TEST_F(IngestionBinaryTest, ReadinessFollowsTheBroker) {
  auto p = Spawn(Env());
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(Bound(*p));
  ASSERT_TRUE(iss::testing::WaitHttpOk(ops_port_, "/readyz", absl::Seconds(20)).ok())
      << p->ReadLog();
  ASSERT_TRUE(cluster_->SetBrokerDown(1).ok());
  EXPECT_TRUE(WaitFor([&] { return ReadyCode() == 503; }, absl::Seconds(20)));
  auto body = HttpGet(ops_port_, "/readyz");
  ASSERT_TRUE(body.ok());
  EXPECT_TRUE(absl::StrContains(body->second, "kafka")) << body->second;
  ASSERT_TRUE(cluster_->SetBrokerUp(1).ok());
  EXPECT_TRUE(WaitFor([&] { return ReadyCode() == 200; }, absl::Seconds(30)));
  EXPECT_EQ(p->Stop(absl::Seconds(30)), 0) << p->ReadLog();
}

// The served port takes requests up to kMaxRequestBytes: the longest
// legitimate one (GetIngestStatus naming kMaxStatusItems ids of 64 bytes)
// fits, a longer list is refused by its length, a bigger message before it is
// parsed (a 15 MiB id list took the process from 26 to 168 MB), and the
// server serves on.
TEST_F(IngestionBinaryTest, RequestsOverTheSizeCapOrIdLimitAreRefused) {
  auto p = Spawn(Env());
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(Bound(*p));
  ASSERT_TRUE(iss::testing::WaitHttpOk(ops_port_, "/readyz", absl::Seconds(20)).ok())
      << p->ReadLog();
  auto stub = iss::ingest::v1::IngestService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", grpc_port_), grpc::InsecureChannelCredentials()));
  auto call = [&](const iss::ingest::v1::GetIngestStatusRequest& req) {
    grpc::ClientContext ctx;
    iss::ingest::v1::IngestStatus resp;
    return stub->GetIngestStatus(&ctx, req, &resp);
  };
  iss::ingest::v1::GetIngestStatusRequest largest;
  for (int i = 0; i < kMaxStatusItems; ++i) largest.add_item_ids(absl::StrFormat("%064d", i));
  ASSERT_LE(largest.ByteSizeLong(), static_cast<size_t>(kMaxRequestBytes));
  const grpc::Status ok = call(largest);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  largest.add_item_ids("ONE_TOO_MANY");
  EXPECT_EQ(call(largest).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  for (const size_t size : {static_cast<size_t>(kMaxRequestBytes), size_t{15} << 20}) {
    iss::ingest::v1::GetIngestStatusRequest big;
    big.add_item_ids(std::string(size, 'A'));
    const grpc::Status s = call(big);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  }
  EXPECT_TRUE(call({}).ok());
}

}  // namespace
}  // namespace iss::ingest

// The real iss-peebot binary as a child process: configuration errors, the
// wiring of main() (migrations, ops endpoints, gRPC with reflection-backed
// auth, pipeline, poster), and a graceful SIGTERM. Real PostgreSQL, the mock
// Kafka cluster and the fake X server around it.
#include <signal.h>

#include <map>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/event_id.h"
#include "common/grpc_server.h"
#include "common/grpc_util.h"
#include "common/kafka.h"
#include "gtest/gtest.h"
#include "iss/peebot/v1/peebot.grpc.pb.h"
#include "services/peebot/scenario.h"
#include "services/peebot/testing/fake_x_server.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/pg_server.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace iss::peebot {
namespace {

using iss::testing::ChildProcess;
using iss::testing::WaitFor;

const OAuthCredentials kCreds{"main-ck", "main-cs", "main-tk", "main-ts"};

TEST(PeebotMainTest, BadConfigurationExitsWithOneLinePerVariable) {
  auto child = ChildProcess::Spawn({PEEBOT_BINARY,
                                    {},
                                    {{"ISS_PG_DSN", "host=/nowhere"},
                                     {"ISS_PEEBOT_COOLDOWN", "soon"},
                                     {"ISS_PEEBOT_DAILY_CAP", "-3"},
                                     {"ISS_PEEBOT_MIN_RISE_PERCENT", "lots"}},
                                    "",
                                    {}});
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ((*child)->WaitExit(absl::Seconds(10)), 2);
  const std::string log = (*child)->ReadLog();
  EXPECT_TRUE(absl::StrContains(log, "ISS_PEEBOT_COOLDOWN")) << log;
  EXPECT_TRUE(absl::StrContains(log, "ISS_PEEBOT_DAILY_CAP")) << log;
  EXPECT_TRUE(absl::StrContains(log, "ISS_PEEBOT_MIN_RISE_PERCENT")) << log;
}

TEST(PeebotMainTest, PartialCredentialsAreRefused) {
  auto child = ChildProcess::Spawn(
      {PEEBOT_BINARY, {}, {{"ISS_PG_DSN", "host=/nowhere"}, {"ISS_X_CONSUMER_KEY", "k"}}, "", {}});
  ASSERT_TRUE(child.ok());
  EXPECT_EQ((*child)->WaitExit(absl::Seconds(10)), 1);
  EXPECT_TRUE(absl::StrContains((*child)->ReadLog(), "set all four or none"));
}

TEST(PeebotMainTest, BadDestinationsAreRefusedNamingTheVariable) {
  struct Case {
    std::map<std::string, std::string> env;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{{"ISS_PEEBOT_DESTINATIONS", "x,threads"}}, "ISS_PEEBOT_DESTINATIONS: unknown destination"},
      {{{"ISS_PEEBOT_DESTINATIONS", "bluesky,bluesky"}}, "listed twice"},
      // Listed without its credentials, and not in dry-run.
      {{{"ISS_PEEBOT_DESTINATIONS", "x,bluesky"}, {"ISS_BLUESKY_IDENTIFIER", "peebot.test"}},
       "ISS_BLUESKY_APP_PASSWORD"},
      {{{"ISS_PEEBOT_DESTINATIONS", "mastodon"}}, "ISS_MASTODON_ACCESS_TOKEN"},
      {{{"ISS_PEEBOT_DESTINATIONS", "webhook"}}, "ISS_PEEBOT_WEBHOOK_URL"},
      {{{"ISS_PEEBOT_DESTINATIONS", "webhook"},
        {"ISS_PEEBOT_WEBHOOK_URL", "http://hooks.example.com/h"}},
       "webhook"},  // http:// to a host that is not loopback
      {{{"ISS_PEEBOT_DESTINATIONS", "webhook"},
        {"ISS_PEEBOT_WEBHOOK_URL", "https://hooks.example.com/h"},
        {"ISS_PEEBOT_WEBHOOK_SECRET", "whsec_not*base64"}},
       "bad webhook configuration"},
  };
  for (const Case& c : cases) {
    std::map<std::string, std::string> env = c.env;
    env["ISS_PG_DSN"] = "host=/nowhere";
    auto child = ChildProcess::Spawn({PEEBOT_BINARY, {}, env, "", {}});
    ASSERT_TRUE(child.ok());
    EXPECT_EQ((*child)->WaitExit(absl::Seconds(10)), 1) << c.expected;
    const std::string log = (*child)->ReadLog();
    EXPECT_TRUE(absl::StrContains(log, c.expected)) << c.expected << "\n" << log;
    // Secrets never reach the log.
    EXPECT_FALSE(absl::StrContains(log, "not*base64")) << log;
  }
}

TEST(PeebotMainTest, ServesDetectsPostsAndStopsCleanly) {
  auto cluster = iss::testing::KafkaCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::string topic = "telemetry.raw.v1";
  ASSERT_TRUE((*cluster)->CreateTopic(topic, 12).ok());
  const std::string dsn = iss::testing::FreshDatabaseDsn();
  ASSERT_FALSE(dsn.empty());
  auto fake = testing::FakeXServer::Start(kCreds);
  ASSERT_TRUE(fake.ok());
  auto child =
      ChildProcess::Spawn({PEEBOT_BINARY,
                           {},
                           {{"ISS_PG_DSN", dsn},
                            {"ISS_KAFKA_BROKERS", (*cluster)->bootstrap()},
                            {"ISS_PEEBOT_MIGRATE", "true"},
                            {"ISS_PEEBOT_COOLDOWN", "0s"},
                            // The scenario happened in January 2026.
                            {"ISS_PEEBOT_MAX_POST_AGE", "0s"},
                            {"ISS_PEEBOT_X_BASE_URL", (*fake)->base_url()},
                            {"ISS_X_CONSUMER_KEY", kCreds.consumer_key},
                            {"ISS_X_CONSUMER_SECRET", kCreds.consumer_secret},
                            {"ISS_X_ACCESS_TOKEN", kCreds.token},
                            {"ISS_X_ACCESS_TOKEN_SECRET", kCreds.token_secret},
                            {"ISS_ADMIN_TOKEN", "tok"}},
                           "",
                           {{"grpc", "ISS_PEEBOT_GRPC_ADDR"}, {"ops", "ISS_PEEBOT_OPS_ADDR"}}});
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE((*child)->WaitForAddresses().ok()) << (*child)->ReadLog();
  const int grpc_port = (*child)->port("grpc");
  const int ops_port = (*child)->port("ops");
  ASSERT_TRUE(iss::testing::WaitHttpOk(ops_port, "/readyz", absl::Seconds(30)).ok())
      << (*child)->ReadLog();

  // Telemetry on the bus -> posts on (fake) X.
  auto sc = LoadScenario(std::string(PEEBOT_TESTDATA_DIR) + "/clean_rises.scenario");
  ASSERT_TRUE(sc.ok());
  kafka::ProducerOptions po;
  po.brokers = (*cluster)->bootstrap();
  auto producer = kafka::Producer::Create(po, [](const kafka::DeliveryReport&) {});
  ASSERT_TRUE(producer.ok());
  for (const Sample& s : sc->delivery) {
    iss::telemetry::v1::TelemetryEvent e;
    e.set_schema_version(1);
    e.set_item_id(s.item_id);
    iss::ToProto(s.source_ts, e.mutable_source_ts());
    iss::ToProto(s.ingest_ts, e.mutable_ingest_ts());
    if (s.value) e.set_value(*s.value);
    if (s.status_class) e.mutable_status()->set_class_(*s.status_class);
    e.set_event_id(iss::ComputeEventId(e));
    ASSERT_TRUE((*producer)->Produce(topic, s.item_id, e.SerializeAsString()).ok());
  }
  ASSERT_TRUE((*producer)->Flush(absl::Seconds(10)).ok());
  ASSERT_TRUE(WaitFor([&] { return (*fake)->posts().size() >= 2; }, absl::Seconds(40)))
      << (*child)->ReadLog();

  // The admin API: status without a token, admin calls with it.
  auto stub = v1::PeeBotService::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port),
                                                             grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(WaitFor([&] {
    grpc::ClientContext ctx;
    v1::Status st;
    return stub->GetStatus(&ctx, {}, &st).ok() && st.detections_total() == 2 &&
           st.posts_today() == 2;
  }));
  {
    grpc::ClientContext ctx;
    v1::Status st;
    ASSERT_TRUE(stub->GetStatus(&ctx, {}, &st).ok());
    EXPECT_EQ(st.mode(), "live");
    EXPECT_EQ(st.last_level_percent(), 49);
    EXPECT_EQ(st.x_api_health(), "ok");
  }
  {
    grpc::ClientContext ctx;
    v1::Status st;
    EXPECT_EQ(stub->PausePosting(&ctx, {}, &st).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    AddBearer(&ctx, "tok");
    v1::Status st;
    ASSERT_TRUE(stub->PausePosting(&ctx, {}, &st).ok());
    EXPECT_EQ(st.mode(), "paused");
  }
  auto metrics = iss::testing::HttpGet(ops_port, "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_TRUE(absl::StrContains(metrics->second,
                                "iss_peebot_posts_total{destination=\"x\",outcome=\"posted\"} 2"))
      << metrics->second.substr(0, 2000);

  // Readiness follows the broker (a consumer's poll answers OK without one).
  ASSERT_TRUE((*cluster)->SetBrokerDown(1).ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = iss::testing::HttpGet(ops_port, "/readyz");
        return r.ok() && r->first == 503 && absl::StrContains(r->second, "kafka");
      },
      absl::Seconds(15)))
      << (*child)->ReadLog();
  ASSERT_TRUE((*cluster)->SetBrokerUp(1).ok());
  EXPECT_TRUE(iss::testing::WaitHttpOk(ops_port, "/readyz", absl::Seconds(30)).ok())
      << (*child)->ReadLog();

  EXPECT_EQ((*child)->Stop(absl::Seconds(15)), 0) << (*child)->ReadLog();
  EXPECT_EQ((*fake)->posts().size(), 2u);
}

}  // namespace
}  // namespace iss::peebot

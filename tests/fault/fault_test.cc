// Fault tests of the whole pipeline: the real binaries on loopback under load
// from the simulator (harness: tests/e2e/platform.h), one fault each. After
// every fault the load stops and the test waits until PostgreSQL holds exactly
// one row per distinct update the simulator sent: zero loss (row count) and
// zero duplicates (count(DISTINCT event_id) = count(*)).
//
// ISS_FAULT_OUTAGE (default 5s) sets how long the broker stays down; the
// issue's 60 s outage is `ISS_FAULT_OUTAGE=60s ctest -R fault_test`.
#include <librdkafka/rdkafka.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/catalog.h"
#include "gtest/gtest.h"
#include "services/peebot/testing/fake_x_server.h"
#include "tests/e2e/platform.h"
#include "tests/support/pg_server.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace iss::e2e {
namespace {

using iss::testing::WaitFor;

absl::Duration Outage() {
  absl::Duration d = absl::Seconds(5);
  if (const char* v = std::getenv("ISS_FAULT_OUTAGE")) {
    if (!absl::ParseDuration(v, &d)) d = absl::Seconds(5);
  }
  return d;
}

PlatformOptions LoadOptions(const std::string& tag, double rate) {
  PlatformOptions po;
  po.items = {std::string(kUrineTankItem), std::string(kUrineProcessorItem),
              std::string(kTimeItem)};
  for (const CatalogItem& c : Catalog::Embedded().items()) {
    if (po.items.size() >= 23) break;
    if (c.item_id != kUrineTankItem && c.item_id != kUrineProcessorItem)
      po.items.push_back(c.item_id);
  }
  po.scenario.seed = 5;
  po.scenario.updates_per_second = rate;
  po.scenario.time_period = absl::Milliseconds(250);
  po.scenario.urinations_per_hour = 0;
  po.scenario.flicker_per_hour = 0;
  po.start_peebot = false;
  po.start_gateway = false;
  po.tag = tag;
  return po;
}

// Distinct updates the simulator sent (identical updates are one event by design).
size_t DistinctSent(sim::Simulator& sim) {
  std::set<std::pair<std::string, std::vector<std::optional<std::string>>>> seen;
  for (const sim::SentUpdate& u : sim.Sent()) {
    seen.insert({u.item_id, {u.values.begin(), u.values.end()}});
  }
  return seen.size();
}

// Stops the load and asserts PostgreSQL ends with exactly one row per update.
void ExpectExactlyOnce(Platform& p, const std::string& what) {
  p.StopSimulator();
  const size_t expected = DistinctSent(p.simulator());
  ASSERT_GT(expected, 100u);
  Platform::Counts c;
  const bool done = WaitFor(
      [&] {
        auto r = p.CountInDb();
        if (r.ok()) c = *r;
        return r.ok() && c.rows >= static_cast<int64_t>(expected);
      },
      absl::Seconds(60), absl::Milliseconds(100));
  std::cout << what << ": sent " << expected << " distinct updates; rows " << c.rows
            << ", distinct " << c.distinct_ids << std::endl;
  ASSERT_TRUE(done) << what << ": lost " << expected - c.rows << "\n" << p.Logs();
  EXPECT_EQ(c.rows, static_cast<int64_t>(expected)) << what;
  EXPECT_EQ(c.distinct_ids, c.rows) << what << ": duplicates";
}

// Waits until rows keep arriving (the pipeline is flowing again).
bool Flowing(Platform& p) {
  auto before = p.CountInDb();
  if (!before.ok()) return false;
  return WaitFor(
      [&] {
        auto now = p.CountInDb();
        return now.ok() && now->rows > before->rows + 50;
      },
      absl::Seconds(40), absl::Milliseconds(100));
}

// HTTP status of GET /readyz on `port` (0 when it does not answer).
int Readyz(int port) {
  auto r = iss::testing::HttpGet(port, "/readyz");
  return r.ok() ? r->first : 0;
}

TEST(FaultTest, StorageKilledMidBatchRepeatedly) {
  auto platform = Platform::Start(LoadOptions("fault-storage-kill", 1000));
  ASSERT_TRUE(platform.ok()) << platform.status();
  Platform& p = **platform;
  ASSERT_TRUE(p.StartFeed().ok());
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(Flowing(p)) << "round " << round << "\n" << p.Logs();
    ASSERT_TRUE(p.storage().Signal(SIGKILL).ok());
    ASSERT_TRUE(p.storage().WaitExit(absl::Seconds(10)).has_value());
    ASSERT_TRUE(p.storage().Restart().ok());
  }
  ASSERT_TRUE(Flowing(p)) << p.Logs();
  ExpectExactlyOnce(p, "storage SIGKILL x3");
}

// The only broker (partition leader and group coordinator) goes down under
// load and comes back. Used to fail: the mock broker's connection sockets
// leaked into every child process spawned after them (the mock accepts without
// O_CLOEXEC), so when the mock closed iss-storage's connections they stayed
// open in the other children and its consumer waited on half-open connections
// until its session expired. ChildProcess now closes inherited descriptors; the
// consumer is also supervised (short request timeout, stall watchdog) for the
// real-world kind of half-open connection (see common/kafka_supervisor.h).
TEST(FaultTest, BrokerDownUnderLoad) {
  PlatformOptions po = LoadOptions("fault-broker-down", 500);
  // Longer than the outage, so the consumer keeps its partitions through it.
  po.storage_env["ISS_STORAGE_SESSION_TIMEOUT"] = "45s";
  auto platform = Platform::Start(po);
  ASSERT_TRUE(platform.ok()) << platform.status();
  Platform& p = **platform;
  ASSERT_TRUE(p.StartFeed().ok());
  ASSERT_TRUE(Flowing(p)) << p.Logs();
  ASSERT_TRUE(p.cluster().SetBrokerDown(1).ok());
  const absl::Time up_at = absl::Now() + Outage();
  WaitFor([&] { return absl::Now() >= up_at; }, Outage() + absl::Seconds(1),
          absl::Milliseconds(100));
  ASSERT_TRUE(p.cluster().SetBrokerUp(1).ok());
  // Then three Produce (api 0) requests cut off: the mock closes the
  // connection on each, so everything in flight is retried. (Pushed broker
  // errors such as NOT_LEADER_FOR_PARTITION lost a message now and then: the
  // mock's implicit-ack hole described at KafkaCluster::PushRequestErrors.)
  p.cluster().PushRequestErrors(0, RD_KAFKA_RESP_ERR__TRANSPORT, 3);
  ASSERT_TRUE(Flowing(p)) << p.Logs();
  EXPECT_TRUE(WaitFor([&] { return Readyz(p.storage_ops_port()) == 200; }, absl::Seconds(30),
                      absl::Milliseconds(100)))
      << "storage ready again once its broker answers";
  ExpectExactlyOnce(p, absl::StrCat("broker down ", absl::FormatDuration(Outage())));
}

// The partition leader goes down; the group coordinator may live on another
// broker of the 3, so the consumers' sessions can survive the outage. (Its
// failures had the same cause as BrokerDownUnderLoad's: leaked descriptors.)
TEST(FaultTest, LeaderBrokerDownUnderLoad) {
  PlatformOptions po = LoadOptions("fault-leader-down", 500);
  po.brokers = 3;
  po.storage_env["ISS_STORAGE_SESSION_TIMEOUT"] = "45s";
  auto platform = Platform::Start(po);
  ASSERT_TRUE(platform.ok()) << platform.status();
  Platform& p = **platform;
  ASSERT_TRUE(p.StartFeed().ok());
  ASSERT_TRUE(Flowing(p)) << p.Logs();
  ASSERT_TRUE(p.cluster().SetBrokerDown(1).ok());
  const absl::Time up_at = absl::Now() + Outage();
  WaitFor([&] { return absl::Now() >= up_at; }, Outage() + absl::Seconds(1),
          absl::Milliseconds(100));
  ASSERT_TRUE(p.cluster().SetBrokerUp(1).ok());
  ASSERT_TRUE(Flowing(p)) << p.Logs();
  ExpectExactlyOnce(p, absl::StrCat("leader broker down ", absl::FormatDuration(Outage())));
}

// The broker goes away first and stays away: both services see it in their
// readiness, and SIGTERM still ends them within a bound (nothing waits for
// a broker that will not answer: ingestion gives up after
// ISS_INGEST_SHUTDOWN_TIMEOUT, storage does not wait to leave its group).
TEST(FaultTest, ShutdownWithTheBrokerGone) {
  PlatformOptions po = LoadOptions("fault-shutdown-no-broker", 300);
  po.ingestion_env["ISS_INGEST_SHUTDOWN_TIMEOUT"] = "3s";
  auto platform = Platform::Start(po);
  ASSERT_TRUE(platform.ok()) << platform.status();
  Platform& p = **platform;
  ASSERT_TRUE(p.StartFeed().ok());
  ASSERT_TRUE(Flowing(p)) << p.Logs();
  EXPECT_EQ(Readyz(p.storage_ops_port()), 200);
  ASSERT_TRUE(p.cluster().SetBrokerDown(1).ok());
  const absl::Time down_at = absl::Now();
  EXPECT_TRUE(WaitFor([&] { return Readyz(p.storage_ops_port()) == 503; }, absl::Seconds(15),
                      absl::Milliseconds(100)))
      << "storage must stop being ready without its broker\n"
      << p.Logs();
  const absl::Duration storage_unready = absl::Now() - down_at;
  EXPECT_TRUE(WaitFor([&] { return Readyz(p.ingestion_ops_port()) == 503; }, absl::Seconds(15),
                      absl::Milliseconds(100)));
  std::cout << "broker down: storage not ready after " << storage_unready << std::endl;
  const absl::Time start = absl::Now();
  ASSERT_TRUE(p.storage().Signal(SIGTERM).ok());
  ASSERT_TRUE(p.ingestion()->Signal(SIGTERM).ok());
  const std::optional<int> storage_exit = p.storage().WaitExit(absl::Seconds(30));
  const absl::Duration storage_took = absl::Now() - start;
  const std::optional<int> ingestion_exit = p.ingestion()->WaitExit(absl::Seconds(30));
  const absl::Duration ingestion_took = absl::Now() - start;
  std::cout << "shutdown without a broker: storage exit "
            << (storage_exit ? absl::StrCat(*storage_exit) : "none") << " after " << storage_took
            << ", ingestion exit " << (ingestion_exit ? absl::StrCat(*ingestion_exit) : "none")
            << " after " << ingestion_took << std::endl;
  ASSERT_TRUE(storage_exit.has_value()) << p.Logs();
  ASSERT_TRUE(ingestion_exit.has_value()) << p.Logs();
  EXPECT_EQ(*storage_exit, 0) << "storage lost nothing: its offsets are in PostgreSQL";
  EXPECT_EQ(*ingestion_exit, 1) << "ingestion reports what the broker did not take";
  EXPECT_LT(storage_took, absl::Seconds(15));
  EXPECT_LT(ingestion_took, absl::Seconds(15));
}

TEST(FaultTest, PostgresRestartedUnderLoad) {
  auto platform = Platform::Start(LoadOptions("fault-pg-restart", 1000));
  ASSERT_TRUE(platform.ok()) << platform.status();
  Platform& p = **platform;
  ASSERT_TRUE(p.StartFeed().ok());
  ASSERT_TRUE(Flowing(p)) << p.Logs();
  ASSERT_TRUE(iss::testing::SharedPgServer()->Restart().ok());
  ASSERT_TRUE(Flowing(p)) << p.Logs();
  ExpectExactlyOnce(p, "PostgreSQL restart");
}

TEST(FaultTest, TlcpDropEndGarbageAndStallMidStream) {
  auto platform = Platform::Start(LoadOptions("fault-tlcp", 300));
  ASSERT_TRUE(platform.ok()) << platform.status();
  Platform& p = **platform;
  ASSERT_TRUE(p.StartFeed().ok());
  ASSERT_TRUE(Flowing(p)) << p.Logs();
  uint64_t sessions = p.simulator().stats().sessions_created;
  for (sim::FaultKind kind : {sim::FaultKind::kGarbage, sim::FaultKind::kDrop, sim::FaultKind::kEnd,
                              sim::FaultKind::kStall}) {
    sim::Fault f;
    f.kind = kind;
    f.lines = 5;
    f.duration = absl::Seconds(4);
    p.simulator().Inject(f);
    if (kind == sim::FaultKind::kDrop || kind == sim::FaultKind::kEnd) {
      // The client gives up on the connection and opens a new session. (A 4 s
      // stall is shorter than the client's stall timeout, keepalive + margin:
      // the same session resumes.)
      ASSERT_TRUE(WaitFor([&] { return p.simulator().stats().sessions_created > sessions; },
                          absl::Seconds(40)))
          << sim::FaultName(kind) << "\n"
          << p.Logs();
      sessions = p.simulator().stats().sessions_created;
    }
    if (kind == sim::FaultKind::kStall) {
      // Let the stall run out (rows from before it can satisfy Flowing at once),
      // then the held-back updates and new ones flow on the same session.
      const absl::Time over = absl::Now() + f.duration;
      WaitFor([&] { return absl::Now() >= over; }, f.duration + absl::Seconds(1),
              absl::Milliseconds(100));
    }
    ASSERT_TRUE(Flowing(p)) << sim::FaultName(kind) << "\n" << p.Logs();
    if (kind == sim::FaultKind::kStall) {
      EXPECT_EQ(p.simulator().stats().sessions_created, sessions) << "a short stall resumes";
    }
  }
  ExpectExactlyOnce(p, "TLCP garbage, drop, END, stall");
}

// Pee-Bot faults: the e2e scenario's two scripted urinations with Pee-Bot on.
PlatformOptions PeebotOptions(const std::string& tag) {
  PlatformOptions po = LoadOptions(tag, 40);
  po.items.resize(8);
  po.start_peebot = true;
  po.scenario.urine_start_percent = 40;
  po.scenario.urinations = {{absl::Seconds(2), 3, absl::Milliseconds(400)},
                            {absl::Seconds(7), 4, absl::Milliseconds(400)}};
  return po;
}

TEST(FaultTest, XApiServerErrorAndRateLimitStorm) {
  auto platform = Platform::Start(PeebotOptions("fault-x-storm"));
  ASSERT_TRUE(platform.ok()) << platform.status();
  Platform& p = **platform;
  // X's first answers are errors: 503, 500, a 429 with a reset 2 s ahead,
  // 502. Pee-Bot tries a post 5 times before it marks it failed (seen in an
  // earlier run with 7 errors in a row: the first detection ended "failed",
  // never posted twice), so this storm fits inside one post's retry budget.
  p.fake_x().Push(peebot::testing::FakeXReply::ServerError(503));
  p.fake_x().Push(peebot::testing::FakeXReply::ServerError(500));
  p.fake_x().Push(peebot::testing::FakeXReply::RateLimited(absl::Now() + absl::Seconds(2)));
  p.fake_x().Push(peebot::testing::FakeXReply::ServerError(502));
  ASSERT_TRUE(p.StartFeed().ok());
  ASSERT_TRUE(WaitFor([&] { return p.fake_x().posts().size() >= 2; }, absl::Seconds(60)))
      << "posts " << p.fake_x().posts().size() << " statuses " << p.fake_x().statuses().size()
      << "\n"
      << p.Logs();
  ASSERT_TRUE(WaitFor([&] { return p.simulator().scenario_time() >= absl::Seconds(14); },
                      absl::Seconds(30)));
  const auto statuses = p.fake_x().statuses();
  std::cout << "X storm: " << statuses.size() << " requests, statuses:";
  for (int s : statuses) std::cout << " " << s;
  std::cout << std::endl;
  EXPECT_EQ(p.fake_x().posts().size(), 2u) << "each urination posted exactly once";
  EXPECT_GE(statuses.size(), 6u) << "every scripted error was met and retried";
  ExpectExactlyOnce(p, "X storm (telemetry)");
  EXPECT_EQ(p.fake_x().posts().size(), 2u);
}

TEST(FaultTest, PeebotKilledMidPost) {
  auto platform = Platform::Start(PeebotOptions("fault-peebot-kill"));
  ASSERT_TRUE(platform.ok()) << platform.status();
  Platform& p = **platform;
  // The first post goes through at X but its answer comes 5 s late: Pee-Bot is
  // killed while waiting for it, so it cannot know the post happened.
  peebot::testing::FakeXReply slow;
  slow.delay = absl::Seconds(5);
  slow.accept_anyway = true;
  p.fake_x().Push(slow);
  ASSERT_TRUE(p.StartFeed().ok());
  ASSERT_TRUE(WaitFor([&] { return p.fake_x().requests() >= 1; }, absl::Seconds(30))) << p.Logs();
  ASSERT_TRUE(p.peebot()->Signal(SIGKILL).ok());
  ASSERT_TRUE(p.peebot()->WaitExit(absl::Seconds(10)).has_value());
  ASSERT_TRUE(p.peebot()->Restart().ok());
  ASSERT_TRUE(WaitFor([&] { return p.fake_x().posts().size() >= 2; }, absl::Seconds(60)))
      << "posts " << p.fake_x().posts().size() << "\n"
      << p.Logs();
  ASSERT_TRUE(WaitFor([&] { return p.simulator().scenario_time() >= absl::Seconds(14); },
                      absl::Seconds(30)));
  ExpectExactlyOnce(p, "Pee-Bot SIGKILL mid-post (telemetry)");
  const auto posts = p.fake_x().posts();
  const auto statuses = p.fake_x().statuses();
  std::cout << "Pee-Bot kill: " << posts.size() << " posts, statuses:";
  for (int s : statuses) std::cout << " " << s;
  std::cout << std::endl;
  EXPECT_EQ(posts.size(), 2u) << "the in-flight post must not be posted twice";
}

}  // namespace
}  // namespace iss::e2e

// The sink end to end: the broker fixture (librdkafka mock cluster, real
// sockets) -> Sink -> the PostgreSQL fixture. Exactly-once under redelivery,
// poison messages, a database restart, two replicas with a rebalance, and the
// real iss-storage binary killed mid-stream and restarted.
#include "services/storage/sink.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/kafka.h"
#include "services/storage/test_util.h"
#include "tests/support/dead_letters.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace iss::storage {
namespace {

using iss::telemetry::v1::TelemetryEvent;
using testutil::Count;
using testutil::MakeEvent;

iss::testing::KafkaCluster* cluster = nullptr;
kafka::Producer* producer = nullptr;

class SinkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = iss::testing::KafkaCluster::Start(1);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster = c->release();
    kafka::ProducerOptions opts;
    opts.brokers = cluster->bootstrap();
    auto p = kafka::Producer::Create(
        opts, [](const kafka::DeliveryReport& r) { EXPECT_TRUE(r.status.ok()) << r.status; });
    ASSERT_TRUE(p.ok()) << p.status();
    producer = p->release();
  }
  static void TearDownTestSuite() {
    delete producer;
    delete cluster;
  }

  void SetUp() override {
    ASSERT_NE(cluster, nullptr);
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    topic_ = "raw-" + name;
    dlq_ = "dlq-" + name;
    group_ = "g-" + name;
    ASSERT_TRUE(cluster->CreateTopic(topic_, 12).ok());
    ASSERT_TRUE(cluster->CreateTopic(dlq_, 1).ok());
    dsn_ = testutil::MigratedDsn();
    ASSERT_FALSE(dsn_.empty());
  }

  SinkOptions Options() const {
    SinkOptions o;
    o.dsn = dsn_;
    o.brokers = cluster->bootstrap();
    o.group_id = group_;
    o.topic = topic_;
    o.dlq_topic = dlq_;
    o.batch_max = 500;
    o.batch_wait = absl::Milliseconds(20);
    o.retry_min = absl::Milliseconds(50);
    o.retry_max = absl::Milliseconds(500);
    // The mock coordinator waits session.timeout.ms - 1 s for members on a
    // rebalance: keep it short.
    o.consumer_extra = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
    return o;
  }

  // `n` valid events over 40 items (so all 12 partitions get some), numbered
  // from `first` so that separate calls never repeat an event.
  void Produce(int first, int n) {
    for (int i = first; i < first + n; ++i) {
      const TelemetryEvent e =
          MakeEvent(absl::StrCat("ITEM_", i % 40), base_ + absl::Milliseconds(i), absl::StrCat(i));
      ASSERT_TRUE(producer->Produce(topic_, e.item_id(), e.SerializeAsString()).ok());
    }
    ASSERT_TRUE(producer->Flush(absl::Seconds(30)).ok());
  }

  int64_t Rows() const { return Count(dsn_, "SELECT count(*) FROM telemetry"); }
  int64_t DistinctRows() const {
    return Count(dsn_, "SELECT count(DISTINCT event_id) FROM telemetry");
  }
  int64_t StoredOffsetSum() const {
    return Count(dsn_,
                 "SELECT COALESCE(sum(next_offset), 0) FROM consumer_offsets WHERE group_id = '" +
                     group_ + "'");
  }

  std::string topic_, dlq_, group_, dsn_;
  const absl::Time base_ = absl::Now() - absl::Hours(1);
};

TEST_F(SinkTest, ExactlyOnceWhenTheSameOffsetsAreDeliveredAgain) {
  Produce(0, 2000);
  {
    Sink sink(Options(), nullptr, nullptr);
    ASSERT_TRUE(sink.Start().ok());
    ASSERT_TRUE(iss::testing::WaitFor([&] { return Rows() == 2000; }, absl::Seconds(30))) << Rows();
    EXPECT_TRUE(iss::testing::WaitFor([&] { return StoredOffsetSum() == 2000; }));
  }
  // Redelivery: rewind the stored offsets, as after a lost commit acknowledgement.
  Count(
      dsn_,
      "WITH u AS (UPDATE consumer_offsets SET next_offset = 0 RETURNING 1) SELECT count(*) FROM u");
  ASSERT_EQ(StoredOffsetSum(), 0);
  Sink again(Options(), nullptr, nullptr);
  ASSERT_TRUE(again.Start().ok());
  ASSERT_TRUE(iss::testing::WaitFor([&] { return StoredOffsetSum() == 2000; }, absl::Seconds(30)));
  EXPECT_TRUE(iss::testing::WaitFor([&] { return again.Stats().duplicates_skipped == 2000; }));
  EXPECT_EQ(again.Stats().rows_written, 0u);
  EXPECT_EQ(Rows(), 2000);
  EXPECT_EQ(DistinctRows(), 2000);
}

// A trickle is committed as soon as the consumer has nothing more to read, not
// when the batch wait runs out (here a minute, far beyond the test's waits).
TEST_F(SinkTest, ATrickleCommitsAtOnceNotAfterTheBatchWait) {
  SinkOptions o = Options();
  o.batch_wait = absl::Seconds(60);
  Sink sink(o, nullptr, nullptr);
  ASSERT_TRUE(sink.Start().ok());
  ASSERT_TRUE(iss::testing::WaitFor([&] { return sink.Stats().assignment.size() == 12; },
                                    absl::Seconds(30)));
  for (int i = 0; i < 3; ++i) {
    Produce(i, 1);
    ASSERT_TRUE(iss::testing::WaitFor([&] { return Rows() == i + 1; }, absl::Seconds(10)))
        << "event " << i << " not committed; rows " << Rows();
    EXPECT_TRUE(iss::testing::WaitFor([&] { return StoredOffsetSum() == i + 1; }));
  }
  EXPECT_EQ(sink.Stats().batches_committed, 3u);
}

TEST_F(SinkTest, PoisonMessagesGoToTheDlqAndAreSkippedWithTheirOffsets) {
  Sink sink(Options(), nullptr, nullptr);
  ASSERT_TRUE(sink.Start().ok());
  // All on one key, so one partition holds them in order: good, bad, bad, good.
  TelemetryEvent good = MakeEvent("NODE3000005", base_, "1");
  TelemetryEvent forged = MakeEvent("NODE3000005", base_ + absl::Seconds(1), "2");
  forged.set_value("3");  // event_id no longer matches the content
  ASSERT_TRUE(producer->Produce(topic_, "NODE3000005", good.SerializeAsString()).ok());
  ASSERT_TRUE(producer->Produce(topic_, "NODE3000005", "\x0a\xff garbage").ok());
  ASSERT_TRUE(producer->Produce(topic_, "NODE3000005", forged.SerializeAsString()).ok());
  TelemetryEvent after = MakeEvent("NODE3000005", base_ + absl::Seconds(2), "4");
  ASSERT_TRUE(producer->Produce(topic_, "NODE3000005", after.SerializeAsString()).ok());
  ASSERT_TRUE(producer->Flush(absl::Seconds(10)).ok());

  ASSERT_TRUE(iss::testing::WaitFor([&] { return StoredOffsetSum() == 4; }, absl::Seconds(30)));
  EXPECT_EQ(Rows(), 2);
  EXPECT_EQ(sink.Stats().dead_lettered, 2u);
  const auto records = cluster->ReadAll(dlq_, 2, absl::Seconds(10));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(iss::testing::DeadLetterReasons(records, "storage", topic_),
            (std::set<std::string>{"undecodable", "event_id_mismatch"}));
  for (const auto& r : records) {
    iss::telemetry::v1::DeadLetter dl;
    ASSERT_TRUE(dl.ParseFromString(r.value));
    EXPECT_TRUE(dl.source_offset() == 1 || dl.source_offset() == 2) << dl.source_offset();
  }
}

TEST_F(SinkTest, DatabaseRestartPausesTheSinkThenResumesLosingNothing) {
  Health health;
  Sink sink(Options(), &health, nullptr);
  ASSERT_TRUE(sink.Start().ok());
  Produce(0, 500);
  ASSERT_TRUE(iss::testing::WaitFor([&] { return Rows() == 500; }, absl::Seconds(30)));
  EXPECT_TRUE(health.Serving());

  iss::testing::PgServer* pg = iss::testing::SharedPgServer();
  ASSERT_TRUE(pg->Stop().ok());
  Produce(500, 500);
  EXPECT_TRUE(iss::testing::WaitFor([&] { return !health.Serving(); }, absl::Seconds(20)));
  EXPECT_FALSE(sink.Stats().database_reachable);
  ASSERT_TRUE(pg->Restart().ok());

  ASSERT_TRUE(iss::testing::WaitFor([&] { return Rows() == 1000; }, absl::Seconds(30))) << Rows();
  EXPECT_EQ(DistinctRows(), 1000);
  EXPECT_TRUE(iss::testing::WaitFor([&] { return health.Serving(); }));
  EXPECT_GT(sink.Stats().db_errors, 0u);
}

TEST_F(SinkTest, TwoReplicasShareThePartitionsAndRebalanceWithoutLossOrDuplication) {
  auto a = std::make_unique<Sink>(Options(), nullptr, nullptr);
  Sink b(Options(), nullptr, nullptr);
  ASSERT_TRUE(a->Start().ok());
  ASSERT_TRUE(b.Start().ok());
  // Both members own partitions before data flows.
  ASSERT_TRUE(iss::testing::WaitFor(
      [&] {
        return !a->Stats().assignment.empty() && !b.Stats().assignment.empty() &&
               a->Stats().assignment.size() + b.Stats().assignment.size() == 12;
      },
      absl::Seconds(30)));
  Produce(0, 4000);
  ASSERT_TRUE(iss::testing::WaitFor([&] { return Rows() == 4000; }, absl::Seconds(30))) << Rows();
  EXPECT_GT(a->Stats().rows_written, 0u);
  EXPECT_GT(b.Stats().rows_written, 0u);

  // One replica leaves (rebalance); the other takes every partition over.
  a->Stop();
  a.reset();
  Produce(4000, 4000);
  ASSERT_TRUE(iss::testing::WaitFor([&] { return Rows() == 8000; }, absl::Seconds(40))) << Rows();
  EXPECT_EQ(DistinctRows(), 8000);
  EXPECT_TRUE(iss::testing::WaitFor([&] { return StoredOffsetSum() == 8000; }));
  EXPECT_EQ(b.Stats().assignment.size(), 12u);
}

// Options for a member whose first batch is exactly the first 1000 events and
// whose later batches seal only when full or at Stop(): nothing else is sealed
// while a test holds that first batch in flight, so the loop keeps polling and
// serves the rebalance.
SinkOptions HoldingOptions(SinkOptions o) {
  o.batch_max = 1000;
  o.batch_wait = absl::Seconds(60);
  return o;
}

// A revoke arriving while a batch is being committed waits for that commit:
// the next owner's stored offsets include the batch, so it is neither lost nor
// read again.
TEST_F(SinkTest, RevokeWhileABatchIsInFlightHandsOverOnlyAfterItsCommit) {
  absl::Notification write_held, revoke_began;
  std::atomic<bool> first_write{true};
  std::atomic<Sink*> joiner{nullptr};
  SinkOptions oa = HoldingOptions(Options());
  oa.test_before_write = [&]() -> absl::Status {
    if (!first_write.exchange(false)) return absl::OkStatus();
    write_held.Notify();
    EXPECT_TRUE(revoke_began.WaitForNotificationWithTimeout(absl::Seconds(60)));
    // Hold on: were the revoke not waiting for this batch, the new owner would
    // load its start offsets meanwhile, without this batch, and read it again.
    // (Correctly, the group cannot complete the rebalance while we hold: the
    // wait runs out. The mock coordinator takes a few seconds to re-form it.)
    iss::testing::WaitFor(
        [&] {
          Sink* b = joiner.load();
          return b != nullptr && !b->Stats().assignment.empty();
        },
        absl::Seconds(8));
    return absl::OkStatus();
  };
  oa.test_on_revoke = [&] {
    if (!revoke_began.HasBeenNotified()) revoke_began.Notify();
  };
  Sink a(oa, nullptr, nullptr);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(
      iss::testing::WaitFor([&] { return a.Stats().assignment.size() == 12; }, absl::Seconds(30)));
  Produce(0, 1000);
  ASSERT_TRUE(write_held.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(Rows(), 0);

  Sink b(Options(), nullptr, nullptr);
  joiner = &b;
  ASSERT_TRUE(b.Start().ok());
  ASSERT_TRUE(iss::testing::WaitFor(
      [&] {
        return !a.Stats().assignment.empty() && !b.Stats().assignment.empty() &&
               a.Stats().assignment.size() + b.Stats().assignment.size() == 12;
      },
      absl::Seconds(40)));
  // The held batch (the first poll's events: all 1000 or fewer, as the fetches
  // came) committed before the partitions changed hands, offsets with it.
  EXPECT_GT(Rows(), 0);
  EXPECT_EQ(StoredOffsetSum(), Rows());
  // b starts where a's commit left its partitions: it finds nothing to re-read
  // (a member that re-read the batch commits its duplicates within ~100 ms).
  EXPECT_FALSE(
      iss::testing::WaitFor([&] { return b.Stats().duplicates_skipped > 0; }, absl::Seconds(2)))
      << b.Stats().duplicates_skipped << " events read twice";

  a.Stop();  // b takes every partition over and goes on from the stored offsets
  Produce(1000, 1000);
  ASSERT_TRUE(iss::testing::WaitFor([&] { return Rows() == 2000; }, absl::Seconds(40))) << Rows();
  EXPECT_EQ(DistinctRows(), 2000);
  EXPECT_TRUE(iss::testing::WaitFor([&] { return StoredOffsetSum() == 2000; }));
  EXPECT_EQ(a.Stats().rows_written + b.Stats().rows_written, 2000u);
  EXPECT_EQ(a.Stats().duplicates_skipped + b.Stats().duplicates_skipped, 0u);
}

// The batch in flight fails while its partitions are being revoked, and the
// database refuses the revoke's own commit attempt too: the decoded batch is
// dropped, and the partitions' next owners read it again from the stored
// offsets. Nothing lost, nothing twice.
TEST_F(SinkTest, FailedBatchInFlightAtRevokeIsDroppedAndReadAgainByTheNewOwners) {
  absl::Notification write_held, revoke_began;
  std::atomic<int> writes{0};
  SinkOptions oa = HoldingOptions(Options());
  oa.test_before_write = [&]() -> absl::Status {
    const int n = writes.fetch_add(1);
    if (n == 0) {
      write_held.Notify();
      EXPECT_TRUE(revoke_began.WaitForNotificationWithTimeout(absl::Seconds(60)));
      return absl::UnavailableError("injected: connection lost mid-commit");
    }
    if (n == 1) return absl::UnavailableError("injected: still down at the revoke");
    return absl::OkStatus();
  };
  oa.test_on_revoke = [&] {
    if (!revoke_began.HasBeenNotified()) revoke_began.Notify();
  };
  Sink a(oa, nullptr, nullptr);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(
      iss::testing::WaitFor([&] { return a.Stats().assignment.size() == 12; }, absl::Seconds(30)));
  Produce(0, 1000);
  ASSERT_TRUE(write_held.WaitForNotificationWithTimeout(absl::Seconds(30)));

  Sink b(Options(), nullptr, nullptr);
  ASSERT_TRUE(b.Start().ok());
  ASSERT_TRUE(iss::testing::WaitFor(
      [&] {
        return !a.Stats().assignment.empty() && !b.Stats().assignment.empty() &&
               a.Stats().assignment.size() + b.Stats().assignment.size() == 12;
      },
      absl::Seconds(40)));
  EXPECT_GE(writes.load(), 2);
  // b re-reads its partitions from the stored offsets (none) and commits them.
  ASSERT_TRUE(iss::testing::WaitFor([&] { return b.Stats().rows_written > 0; }, absl::Seconds(30)));
  a.Stop();  // commits what a re-read; b takes the rest over
  ASSERT_TRUE(iss::testing::WaitFor([&] { return Rows() == 1000; }, absl::Seconds(40))) << Rows();
  EXPECT_EQ(DistinctRows(), 1000);
  EXPECT_TRUE(iss::testing::WaitFor([&] { return StoredOffsetSum() == 1000; }));
  EXPECT_EQ(a.Stats().rows_written + b.Stats().rows_written, 1000u);
  EXPECT_EQ(a.Stats().duplicates_skipped + b.Stats().duplicates_skipped, 0u);
}

TEST_F(SinkTest, KilledMidStreamTheRealBinaryRestartsWithNoneLostNoneDoubled) {
  // An unmigrated database: the binary migrates it itself (ISS_STORAGE_MIGRATE).
  const std::string dsn = iss::testing::FreshDatabaseDsn();
  ASSERT_FALSE(dsn.empty());
  dsn_ = dsn;
  constexpr int kEvents = 10000;
  Produce(0, kEvents);
  iss::testing::ChildProcess::Options opts;
  opts.binary = ISS_STORAGE_BINARY;
  opts.env = {{"ISS_PG_DSN", dsn},
              {"ISS_KAFKA_BROKERS", cluster->bootstrap()},
              {"ISS_STORAGE_TOPIC", topic_},
              {"ISS_STORAGE_DLQ_TOPIC", dlq_},
              {"ISS_STORAGE_GROUP", group_},
              {"ISS_STORAGE_BATCH_MAX", "300"},
              {"ISS_STORAGE_BATCH_WAIT", "5ms"},
              {"ISS_STORAGE_MIGRATE", "true"},
              {"ISS_STORAGE_SESSION_TIMEOUT", "6s"},
              {"ISS_LOG_LEVEL", "warn"}};
  opts.listeners = {{"grpc", "ISS_STORAGE_GRPC_ADDR"}, {"ops", "ISS_STORAGE_OPS_ADDR"}};
  auto child = iss::testing::ChildProcess::Spawn(opts);
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE((*child)->WaitForAddresses().ok()) << (*child)->ReadLog();
  const int ops_port = (*child)->port("ops");  // the restart below binds it again
  auto rows = [&] {
    try {
      return Rows();
    } catch (const std::exception&) {
      return int64_t{-1};  // schema not migrated yet
    }
  };
  ASSERT_TRUE(iss::testing::WaitFor([&] { return rows() >= 1000; }, absl::Seconds(40)))
      << (*child)->ReadLog();
  ASSERT_TRUE((*child)->Signal(SIGKILL).ok());
  ASSERT_TRUE((*child)->WaitExit(absl::Seconds(10)).has_value());
  const int64_t at_kill = rows();
  EXPECT_LT(at_kill, kEvents) << "the kill came too late to be mid-stream";

  ASSERT_TRUE((*child)->Restart().ok());
  ASSERT_TRUE(iss::testing::WaitFor([&] { return rows() == kEvents; }, absl::Seconds(40)))
      << rows() << "\n"
      << (*child)->ReadLog();
  EXPECT_EQ(DistinctRows(), kEvents);
  EXPECT_TRUE(iss::testing::WaitFor([&] { return StoredOffsetSum() == kEvents; }));
  // The restarted process is ready and counts what it wrote.
  EXPECT_TRUE(iss::testing::WaitHttpOk(ops_port, "/readyz", absl::Seconds(10)).ok());
  auto metrics = iss::testing::HttpGet(ops_port, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_NE(metrics->second.find("iss_storage_rows_written_total"), std::string::npos);
  EXPECT_EQ((*child)->Stop(), 0);
}

}  // namespace
}  // namespace iss::storage

// Integration: pipeline -> bounded queue -> publisher -> librdkafka mock
// cluster over real loopback sockets (tests/support/kafka_cluster.h).
#include "services/ingestion/publisher.h"

#include <map>
#include <thread>

#include "absl/strings/str_format.h"
#include "common/event_id.h"
#include "common/isslive_time.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "iss/telemetry/v1/telemetry.pb.h"
#include "services/ingestion/pipeline.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/wait.h"

namespace iss::ingest {
namespace {

using iss::telemetry::v1::DeadLetter;
using iss::telemetry::v1::TelemetryEvent;
using iss::testing::KafkaCluster;
using iss::testing::WaitFor;

const absl::Time kStart = absl::FromUnixSeconds(1782345600);

// Update number `seq` of item `item`: its value is the sequence number, so a
// consumer can check per-item order.
RawUpdate Numbered(int item, int seq) {
  RawUpdate u;
  u.item_id = absl::StrFormat("ITEM%04d", item);
  u.value = std::to_string(seq);
  const absl::Time ts = kStart + absl::Milliseconds(100 * seq);
  u.timestamp = absl::StrFormat("%.10f", TimeToIssHours(ts));
  u.status_class = "24";
  u.received_at = ts;
  return u;
}

// This process's total of counter `name`, or the observation count of
// histogram `name` (no labels on either), straight from the registry.
double Total(const std::string& name) {
  for (const prometheus::MetricFamily& f : metrics::Registry().Collect()) {
    if (f.name != name || f.metric.empty()) continue;
    const prometheus::ClientMetric& m = f.metric.front();
    return f.type == prometheus::MetricType::Histogram
               ? static_cast<double>(m.histogram.sample_count)
               : m.counter.value;
  }
  return 0;
}

class PublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = KafkaCluster::Start(1);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    // The mock cluster has no CreateTopics API: the topics exist beforehand,
    // as on a provisioned broker (EnsureTopic then only checks them).
    ASSERT_TRUE(cluster_->CreateTopic("telemetry.raw.v1", 12).ok());
    ASSERT_TRUE(cluster_->CreateTopic("telemetry.dlq.v1", 3).ok());
  }

  void StartPipeline(size_t queue_capacity, int producer_queue_max = 100000) {
    queue_ = std::make_unique<BoundedQueue>(queue_capacity);
    pipeline_ = std::make_unique<Pipeline>(queue_.get(), &signal_);
    kafka::ProducerOptions po;
    po.brokers = cluster_->bootstrap();
    po.client_id = "ingestion-test";
    po.queue_max_messages = producer_queue_max;
    auto p = Publisher::Start(PublisherOptions{}, po, queue_.get());
    ASSERT_TRUE(p.ok()) << p.status();
    publisher_ = std::move(*p);
  }

  // Reads `topic` and checks that every event of `items` x [0, per_item) is
  // there exactly once, decodable, keyed by item and in per-item order.
  void ExpectAllExactlyOnceInOrder(int items, int per_item) {
    const size_t total = static_cast<size_t>(items) * per_item;
    // Every event is acknowledged already, so reading them all is quick; asking
    // for one more than expected (for a short while) catches any duplicate.
    auto records = cluster_->ReadAll("telemetry.raw.v1", total + 1, absl::Seconds(4));
    ASSERT_EQ(records.size(), total);
    // (partition, offset) order is the order a consumer sees.
    std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
      return std::tie(a.partition, a.offset) < std::tie(b.partition, b.offset);
    });
    std::map<std::string, int> next;  // item -> next expected sequence number
    std::map<std::string, int32_t> partition_of;
    std::set<std::string> ids;
    for (const auto& r : records) {
      TelemetryEvent e;
      ASSERT_TRUE(e.ParseFromString(r.value)) << "undecodable value at offset " << r.offset;
      EXPECT_EQ(r.key, e.item_id());
      EXPECT_EQ(e.event_id(), ComputeEventId(e));
      EXPECT_TRUE(ids.insert(e.event_id()).second)
          << "duplicate " << e.item_id() << " " << e.value();
      EXPECT_EQ(e.value(), std::to_string(next[e.item_id()]++)) << "order of " << e.item_id();
      auto [it, fresh] = partition_of.emplace(r.key, r.partition);
      EXPECT_EQ(it->second, r.partition) << "one key, one partition";
      EXPECT_LT(r.partition, 12);
    }
    EXPECT_EQ(next.size(), static_cast<size_t>(items));
    std::set<int32_t> used;
    for (const auto& [k, p] : partition_of) used.insert(p);
    EXPECT_GT(used.size(), 1u) << "keys spread over the 12 partitions";
  }

  std::unique_ptr<KafkaCluster> cluster_;
  SignalTracker signal_;
  std::unique_ptr<BoundedQueue> queue_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<Publisher> publisher_;
};

TEST_F(PublisherTest, EventsArePublishedKeyedDecodableAndInPerItemOrder) {
  StartPipeline(10000);
  constexpr int kItems = 40, kPerItem = 100;
  for (int seq = 0; seq < kPerItem; ++seq) {
    for (int item = 0; item < kItems; ++item) ASSERT_TRUE(pipeline_->Deliver(Numbered(item, seq)));
  }
  ASSERT_TRUE(WaitFor([&] { return publisher_->stats().events_acked == kItems * kPerItem; },
                      absl::Seconds(30)));
  EXPECT_EQ(publisher_->stats().failures, 0);
  ExpectAllExactlyOnceInOrder(kItems, kPerItem);
}

// The delivery metrics are tallied per report and published per round of
// reports: every acknowledged message is in them, none twice.
TEST_F(PublisherTest, DeliveryMetricsCountEveryAcknowledgedMessageOnce) {
  const double events0 = Total("iss_ingest_events_published_total");
  const double dead0 = Total("iss_ingest_dead_letters_published_total");
  const double to_ack0 = Total("iss_ingest_ingest_to_ack_seconds");
  const double publish0 = Total("iss_ingest_publish_latency_seconds");
  StartPipeline(10000);
  constexpr int kItems = 20, kPerItem = 50, kEvents = kItems * kPerItem;
  for (int seq = 0; seq < kPerItem; ++seq) {
    for (int item = 0; item < kItems; ++item) ASSERT_TRUE(pipeline_->Deliver(Numbered(item, seq)));
  }
  RawUpdate bad = Numbered(0, 0);
  bad.timestamp = "not-hours";
  ASSERT_TRUE(pipeline_->Deliver(bad));
  ASSERT_TRUE(WaitFor(
      [&] {
        return Total("iss_ingest_events_published_total") - events0 == kEvents &&
               Total("iss_ingest_dead_letters_published_total") - dead0 == 1;
      },
      absl::Seconds(30)));
  EXPECT_EQ(Total("iss_ingest_ingest_to_ack_seconds") - to_ack0, kEvents);
  EXPECT_EQ(Total("iss_ingest_publish_latency_seconds") - publish0, kEvents + 1);
  EXPECT_EQ(publisher_->stats().events_acked, kEvents);
}

TEST_F(PublisherTest, BrokerOutagePausesTheSourceThenEverythingArrivesOnceInOrder) {
  // Small bounds so the outage reaches the source quickly.
  StartPipeline(/*queue_capacity=*/50, /*producer_queue_max=*/100);
  constexpr int kItems = 10, kPerItem = 100;
  for (int item = 0; item < kItems; ++item) ASSERT_TRUE(pipeline_->Deliver(Numbered(item, 0)));
  ASSERT_TRUE(
      WaitFor([&] { return publisher_->stats().events_acked == kItems; }, absl::Seconds(30)));

  ASSERT_TRUE(cluster_->SetBrokerDown(1).ok());
  std::atomic<int> delivered{kItems};
  std::thread source([&] {
    for (int seq = 1; seq < kPerItem; ++seq) {
      for (int item = 0; item < kItems; ++item) {
        ASSERT_TRUE(pipeline_->Deliver(Numbered(item, seq)));
        ++delivered;
      }
    }
  });
  // The source is paused by backpressure: the producer's queue is full, the
  // publisher waits for room, our queue fills up and Deliver() blocks.
  ASSERT_TRUE(WaitFor([&] { return queue_->depth() == 50 && publisher_->waiting_for_broker(); },
                      absl::Seconds(30)));
  const int paused_at = delivered.load();
  EXPECT_LT(paused_at, kItems * kPerItem);
  // Still paused a little later (each check is a fresh look, not a sleep).
  EXPECT_FALSE(WaitFor([&] { return delivered.load() != paused_at; }, absl::Milliseconds(300)));
  EXPECT_EQ(publisher_->stats().events_acked, kItems);

  ASSERT_TRUE(cluster_->SetBrokerUp(1).ok());
  source.join();
  ASSERT_TRUE(WaitFor([&] { return publisher_->stats().events_acked == kItems * kPerItem; },
                      absl::Seconds(60)));
  EXPECT_EQ(publisher_->stats().failures, 0);
  ExpectAllExactlyOnceInOrder(kItems, kPerItem);
}

TEST_F(PublisherTest, InvalidUpdatesReachTheDeadLetterTopicWithTheirReason) {
  StartPipeline(100);
  RawUpdate bad_ts = Numbered(1, 0);
  bad_ts.timestamp = "not-hours";
  bad_ts.raw = "U,1,1,1|not-hours|24";
  RawUpdate bad_id = Numbered(1, 0);
  bad_id.item_id = "no spaces";
  RawUpdate no_value = Numbered(2, 0);
  no_value.value.reset();
  ASSERT_TRUE(pipeline_->Deliver(bad_ts));
  ASSERT_TRUE(pipeline_->Deliver(bad_id));
  ASSERT_TRUE(pipeline_->Deliver(no_value));
  ASSERT_TRUE(pipeline_->Deliver(Numbered(3, 0)));
  ASSERT_TRUE(pipeline_->RejectUndecodable("not valid JSON", "{oops", "replay"));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = publisher_->stats();
        return s.dead_letters_acked == 4 && s.events_acked == 1;
      },
      absl::Seconds(30)));

  auto records = cluster_->ReadAll("telemetry.dlq.v1", 5, absl::Seconds(2));
  ASSERT_EQ(records.size(), 4u);
  std::map<std::string, DeadLetter> by_reason;
  for (const auto& r : records) {
    DeadLetter dl;
    ASSERT_TRUE(dl.ParseFromString(r.value));
    EXPECT_EQ(dl.component(), "ingestion");
    EXPECT_EQ(r.key, dl.item_id());
    by_reason[dl.reason()] = dl;
  }
  ASSERT_EQ(by_reason.size(), 4u);
  EXPECT_EQ(by_reason["bad_timestamp"].raw(), "U,1,1,1|not-hours|24");
  EXPECT_EQ(by_reason["bad_timestamp"].item_id(), "ITEM0001");
  EXPECT_NE(by_reason["bad_item_id"].raw().find("no spaces"), std::string::npos);
  EXPECT_EQ(by_reason["bad_item_id"].item_id(), "");
  EXPECT_EQ(by_reason["missing_value"].item_id(), "ITEM0002");
  EXPECT_EQ(by_reason["undecodable"].raw(), "{oops");
  // The valid one went to the raw topic, not to the DLQ.
  auto raw = cluster_->ReadAll("telemetry.raw.v1", 2, absl::Seconds(2));
  ASSERT_EQ(raw.size(), 1u);
  EXPECT_EQ(raw[0].key, "ITEM0003");
}

TEST_F(PublisherTest, DrainPublishesWhatIsQueuedAndFlushes) {
  StartPipeline(10000);
  constexpr int kItems = 5, kPerItem = 200;
  for (int seq = 0; seq < kPerItem; ++seq) {
    for (int item = 0; item < kItems; ++item) ASSERT_TRUE(pipeline_->Deliver(Numbered(item, seq)));
  }
  queue_->Close();
  ASSERT_TRUE(publisher_->Drain(absl::Seconds(30)).ok());
  // Drain returns only after every delivery report.
  EXPECT_EQ(publisher_->stats().events_acked, kItems * kPerItem);
  EXPECT_EQ(publisher_->stats().in_flight, 0);
  ExpectAllExactlyOnceInOrder(kItems, kPerItem);
}

TEST_F(PublisherTest, DrainGivesUpAtTheDeadlineWhileTheBrokerIsDown) {
  StartPipeline(100, 10);
  ASSERT_TRUE(pipeline_->Deliver(Numbered(0, 0)));
  ASSERT_TRUE(WaitFor([&] { return publisher_->stats().events_acked == 1; }, absl::Seconds(30)));
  ASSERT_TRUE(cluster_->SetBrokerDown(1).ok());
  for (int seq = 1; seq < 40; ++seq) ASSERT_TRUE(pipeline_->Deliver(Numbered(0, seq)));
  queue_->Close();
  absl::Status s = publisher_->Drain(absl::Milliseconds(500));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  // Bring it back so the producer's own shutdown flush is quick.
  ASSERT_TRUE(cluster_->SetBrokerUp(1).ok());
}

}  // namespace
}  // namespace iss::ingest

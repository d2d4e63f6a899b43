// End to end inside the service: ISSLIVE simulator --TLCP over a real
// WebSocket--> Lightstreamer client -> pipeline -> publisher -> librdkafka mock
// cluster. Coordinated only through public headers (tlcp/client.h,
// simulator/server.h, tests/support/kafka_cluster.h).
#include <map>

#include "common/catalog.h"
#include "common/event_id.h"
#include "gtest/gtest.h"
#include "iss/telemetry/v1/telemetry.pb.h"
#include "services/ingestion/pipeline.h"
#include "services/ingestion/publisher.h"
#include "services/ingestion/tlcp/client.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/wait.h"
#include "tools/simulator/server.h"

namespace iss::ingest {
namespace {

using iss::telemetry::v1::TelemetryEvent;
using iss::testing::WaitFor;

// (Value, TimeStamp) of one update: what identifies it in an item's sequence.
using Sample = std::pair<std::optional<std::string>, std::optional<std::string>>;

// Simulator -> TLCP client -> pipeline -> publisher -> mock broker, each the
// real one, wired as main() wires them.
struct Feed {
  void Start(const sim::Scenario& scenario, sim::SimulatorOptions so) {
    auto c = iss::testing::KafkaCluster::Start(1);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster = *std::move(c);
    ASSERT_TRUE(cluster->CreateTopic("telemetry.raw.v1", 12).ok());
    ASSERT_TRUE(cluster->CreateTopic("telemetry.dlq.v1", 3).ok());
    so.address = "127.0.0.1:0";
    auto sim = sim::Simulator::Start(scenario, so);
    ASSERT_TRUE(sim.ok()) << sim.status();
    simulator = *std::move(sim);
    kafka::ProducerOptions po;
    po.brokers = cluster->bootstrap();
    auto p = Publisher::Start(PublisherOptions{}, po, &queue);
    ASSERT_TRUE(p.ok()) << p.status();
    publisher = *std::move(p);
    tlcp::ClientOptions co;
    co.host = "127.0.0.1";
    co.port = simulator->port();
    co.tls = false;
    co.items = so.items;
    client = std::make_unique<tlcp::Client>(co, &pipeline);
    ASSERT_TRUE(client->Start().ok());
  }
  // Stops the client and waits until the broker has everything enqueued.
  void Stop() {
    client->Stop();
    queue.Close();
    ASSERT_TRUE(publisher->Drain(absl::Seconds(20)).ok());
  }

  std::unique_ptr<iss::testing::KafkaCluster> cluster;
  std::unique_ptr<sim::Simulator> simulator;
  BoundedQueue queue{10000};
  SignalTracker signal;
  Pipeline pipeline{&queue, &signal};
  std::unique_ptr<Publisher> publisher;
  std::unique_ptr<tlcp::Client> client;
};

TEST(IngestionEndToEnd, SimulatorToBrokerLosesNothingAndKeepsPerItemOrder) {
  std::vector<std::string> items;
  for (const CatalogItem& c : Catalog::Embedded().items()) items.push_back(c.item_id);
  items.emplace_back(kTimeItem);

  sim::Scenario scenario;
  scenario.seed = 7;
  scenario.updates_per_second = 20;  // x speed 20 = 400 updates/s
  scenario.urinations = {{absl::Seconds(2), 6, absl::Seconds(5)}};
  scenario.urinations_per_hour = 0;
  sim::SimulatorOptions so;
  so.speed = 20;
  so.record = true;
  so.items = items;
  Feed feed;
  ASSERT_NO_FATAL_FAILURE(feed.Start(scenario, so));
  auto& cluster = feed.cluster;
  auto& simulator = feed.simulator;
  auto& publisher = feed.publisher;
  Pipeline& pipeline = feed.pipeline;
  tlcp::Client& client = *feed.client;

  // The snapshot (one update per item) plus a good stretch of live updates.
  ASSERT_TRUE(WaitFor([&] { return publisher->stats().events_acked >= 2000; }, absl::Seconds(30)));
  ASSERT_NO_FATAL_FAILURE(feed.Stop());

  const tlcp::ClientStatus cs = client.Status();
  const Pipeline::Counters pc = pipeline.counters();
  const Publisher::Stats ps = publisher->stats();
  EXPECT_EQ(simulator->stats().sessions_created, 1u);
  EXPECT_EQ(pc.updates_received, cs.updates);  // every decoded update reached the pipeline
  EXPECT_EQ(pc.events_enqueued + pc.events_invalid, pc.updates_received);
  EXPECT_EQ(static_cast<uint64_t>(ps.events_acked), pc.events_enqueued);
  EXPECT_EQ(static_cast<uint64_t>(ps.dead_letters_acked), pc.events_invalid);
  EXPECT_EQ(ps.failures, 0);

  // What the simulator sent, per item, in order.
  std::map<std::string, std::vector<Sample>> sent;
  for (const sim::SentUpdate& s : simulator->Sent())
    sent[s.item_id].push_back({s.values[0], s.values[1]});

  auto records = cluster->ReadAll("telemetry.raw.v1", ps.events_acked + 1, absl::Seconds(4));
  ASSERT_EQ(records.size(), static_cast<size_t>(ps.events_acked));
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return std::tie(a.partition, a.offset) < std::tie(b.partition, b.offset);
  });
  std::map<std::string, std::vector<Sample>> published;
  bool saw_aos = false;
  for (const auto& r : records) {
    TelemetryEvent e;
    ASSERT_TRUE(e.ParseFromString(r.value));
    EXPECT_EQ(r.key, e.item_id());
    EXPECT_EQ(e.event_id(), ComputeEventId(e));
    EXPECT_EQ(e.source(), "isslive");
    saw_aos |= e.signal() == iss::telemetry::v1::SIGNAL_STATE_AOS;
    published[e.item_id()].push_back(
        {e.has_value() ? std::optional<std::string>(e.value()) : std::nullopt, std::nullopt});
  }
  EXPECT_TRUE(saw_aos) << "TIME_000001 from the simulator should put the station in AOS";
  EXPECT_GE(published.size(), items.size() - 1) << "the snapshot covers the catalog";
  // Per item, what reached the broker is what the simulator sent, in order (a
  // prefix: the simulator went on sending after the client stopped).
  for (const auto& [item, values] : published) {
    const auto& s = sent[item];
    ASSERT_LE(values.size(), s.size()) << item;
    for (size_t i = 0; i < values.size(); ++i) {
      ASSERT_EQ(values[i].first, s[i].first) << item << " #" << i;
    }
  }
}

// A feed whose TimeStamps run three days ahead of this clock: storage would
// refuse every event (common/event_rules.h), so ingestion publishes none of
// them and dead-letters each one itself, counted, reason bad_timestamp.
TEST(IngestionEndToEnd, FeedStampedBeyondWhatStorageKeepsIsDeadLetteredAtIngestion) {
  sim::Scenario scenario;
  scenario.seed = 11;
  scenario.updates_per_second = 50;
  scenario.urinations_per_hour = 0;
  sim::SimulatorOptions so;
  so.items = {"TIME_000001", "NODE3000005", "NODE3000004", "S0000001"};
  so.epoch = absl::Now() + absl::Hours(72);  // the station's clock, three days fast
  Feed feed;
  ASSERT_NO_FATAL_FAILURE(feed.Start(scenario, so));
  ASSERT_TRUE(
      WaitFor([&] { return feed.publisher->stats().dead_letters_acked >= 40; }, absl::Seconds(30)));
  ASSERT_NO_FATAL_FAILURE(feed.Stop());

  const Pipeline::Counters pc = feed.pipeline.counters();
  const Publisher::Stats ps = feed.publisher->stats();
  EXPECT_EQ(pc.events_enqueued, 0u);
  EXPECT_EQ(pc.events_invalid, pc.updates_received);
  EXPECT_EQ(static_cast<uint64_t>(ps.dead_letters_acked), pc.events_invalid);
  EXPECT_EQ(ps.events_acked, 0);
  auto letters =
      feed.cluster->ReadAll("telemetry.dlq.v1", ps.dead_letters_acked, absl::Seconds(10));
  ASSERT_EQ(letters.size(), static_cast<size_t>(ps.dead_letters_acked));
  for (const auto& r : letters) {
    iss::telemetry::v1::DeadLetter dl;
    ASSERT_TRUE(dl.ParseFromString(r.value));
    EXPECT_EQ(dl.reason(), "bad_timestamp") << dl.detail();
    EXPECT_EQ(dl.component(), "ingestion");
    EXPECT_NE(dl.detail().find("ahead"), std::string::npos) << dl.detail();
  }
  EXPECT_TRUE(feed.cluster->ReadAll("telemetry.raw.v1", 1, absl::Seconds(1)).empty());
}

}  // namespace
}  // namespace iss::ingest

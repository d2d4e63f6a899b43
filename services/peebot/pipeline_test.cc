// End to end inside the service: the mock Kafka cluster (real protocol, real
// sockets) -> Pipeline (consumer, detector) -> PostgreSQL -> PosterLoop ->
// XClient -> fake X server (checks OAuth signatures). The telemetry is a
// detector scenario file, produced as TelemetryEvents keyed by item id.
#include "services/peebot/pipeline.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/event_id.h"
#include "common/grpc_util.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "services/peebot/poster.h"
#include "services/peebot/scenario.h"
#include "services/peebot/testing/fake_x_server.h"
#include "tests/support/dead_letters.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/pg_server.h"
#include "tests/support/wait.h"

namespace iss::peebot {
namespace {

using iss::testing::WaitFor;

constexpr char kTopic[] = "telemetry.raw.v1";
const OAuthCredentials kCreds{"ck", "cs", "tk", "ts"};

double Metric(const std::string& series) {
  const std::string text = iss::metrics::Serialize();
  const size_t at = text.find("\n" + series + " ");
  return at == std::string::npos ? 0 : std::stod(text.substr(at + series.size() + 2));
}

iss::telemetry::v1::TelemetryEvent ToEvent(const Sample& s) {
  iss::telemetry::v1::TelemetryEvent e;
  e.set_schema_version(1);
  e.set_item_id(s.item_id);
  iss::ToProto(s.source_ts, e.mutable_source_ts());
  iss::ToProto(s.ingest_ts, e.mutable_ingest_ts());
  iss::ToProto(s.received_ts, e.mutable_received_ts());
  if (s.value) e.set_value(*s.value);
  if (s.status_class) e.mutable_status()->set_class_(*s.status_class);
  e.set_source("test-ingest");
  e.set_signal(iss::telemetry::v1::SIGNAL_STATE_AOS);
  e.set_event_id(iss::ComputeEventId(e));
  return e;
}

class PipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = iss::testing::KafkaCluster::Start();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = c->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    // A topic per test: each test starts from an empty log.
    topic_ =
        absl::StrCat(kTopic, ".", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(cluster_->CreateTopic(topic_, 12).ok());
    dlq_ = absl::StrCat("dlq.", topic_);
    ASSERT_TRUE(cluster_->CreateTopic(dlq_, 1).ok());
    dsn_ = iss::testing::FreshDatabaseDsn();
    ASSERT_FALSE(dsn_.empty());
    admin_store_ = std::make_unique<Store>(dsn_);
    ASSERT_TRUE(admin_store_->Migrate().ok());
    auto fake = testing::FakeXServer::Start(kCreds);
    ASSERT_TRUE(fake.ok());
    fake_ = std::move(*fake);
    auto client = XClient::Create({fake_->base_url(), kCreds, absl::Seconds(5), ""});
    ASSERT_TRUE(client.ok());
    client_ = std::move(*client);
    PeeBotSettings s;
    s.cooldown = absl::ZeroDuration();
    settings_ = std::make_unique<RuntimeSettings>(s, true);
    poster_store_ = std::make_unique<Store>(dsn_);
    // The scenarios happened in January 2026: no freshness limit here, except
    // where a test is about it.
    PosterOptions poster_options;
    poster_options.max_post_age = absl::ZeroDuration();
    poster_ = std::make_unique<Poster>(poster_store_.get(), client_.get(), settings_.get(), &clock_,
                                       poster_options);
    loop_ = std::make_unique<PosterLoop>(poster_.get(), &clock_, absl::Milliseconds(200));
    loop_->Start();
    kafka::ProducerOptions po;
    po.brokers = cluster_->bootstrap();
    auto producer = kafka::Producer::Create(po, [](const kafka::DeliveryReport&) {});
    ASSERT_TRUE(producer.ok()) << producer.status();
    producer_ = std::move(*producer);
  }

  void TearDown() override {
    pipeline_.reset();
    if (loop_) loop_->Stop();
  }

  void StartPipeline(const std::function<void(PipelineOptions&)>& tune = {}) {
    pipeline_.reset();
    pipeline_store_ = std::make_unique<Store>(dsn_);
    PipelineOptions o;
    o.brokers = cluster_->bootstrap();
    o.group_id = absl::StrCat("iss-peebot-", topic_);  // a group per test: no stale members
    pipeline_options_group_ = o.group_id;
    o.kafka_extra = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
    o.topic = topic_;
    o.dlq_topic = dlq_;
    o.max_post_age = absl::ZeroDuration();  // as for the poster above
    if (tune) tune(o);
    pipeline_ = std::make_unique<Pipeline>(o, pipeline_store_.get(), settings_.get(), &health_,
                                           [this] { loop_->Notify(); });
    ASSERT_TRUE(pipeline_->Start().ok());
  }

  void Produce(const std::vector<Sample>& samples, size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      ASSERT_TRUE(
          producer_->Produce(topic_, samples[i].item_id, ToEvent(samples[i]).SerializeAsString())
              .ok());
    }
    ASSERT_TRUE(producer_->Flush(absl::Seconds(10)).ok());
  }

  // Detections whose post is recorded as made.
  int Posted() {
    auto page = admin_store_->List(std::nullopt, std::nullopt, 50, "");
    int n = 0;
    if (page.ok()) {
      for (const auto& d : page->first) n += d.post_status() == v1::POST_STATUS_POSTED;
    }
    return n;
  }

  int64_t Consumed() { return pipeline_ ? pipeline_->view().events_consumed : 0; }

  static iss::testing::KafkaCluster* cluster_;
  std::string topic_;
  std::string dlq_;
  std::string pipeline_options_group_;
  std::string dsn_;
  std::unique_ptr<Store> admin_store_, poster_store_, pipeline_store_;
  std::unique_ptr<testing::FakeXServer> fake_;
  std::unique_ptr<XClient> client_;
  std::unique_ptr<RuntimeSettings> settings_;
  RealClock clock_;
  std::unique_ptr<Poster> poster_;
  std::unique_ptr<PosterLoop> loop_;
  std::unique_ptr<kafka::Producer> producer_;
  Health health_;
  std::unique_ptr<Pipeline> pipeline_;
};

iss::testing::KafkaCluster* PipelineTest::cluster_ = nullptr;

TEST_F(PipelineTest, TelemetryOnTheBusBecomesExactlyTheExpectedPosts) {
  auto sc = LoadScenario(std::string(PEEBOT_TESTDATA_DIR) + "/clean_rises.scenario");
  ASSERT_TRUE(sc.ok());
  const double detections_before = Metric("iss_peebot_detections_total");
  StartPipeline();
  const size_t half = sc->delivery.size() / 2;
  Produce(sc->delivery, 0, half);
  // Something that is not a TelemetryEvent: dead-lettered, nothing else lost.
  ASSERT_TRUE(producer_->Produce(topic_, "NODE3000005", "\xff\xfe not protobuf").ok());
  Produce(sc->delivery, half, sc->delivery.size());

  ASSERT_TRUE(WaitFor([&] { return Posted() >= 2; }, absl::Seconds(40)))
      << "posts: " << fake_->posts().size() << " consumed: " << Consumed();
  ASSERT_TRUE(WaitFor([&] { return Consumed() >= static_cast<int64_t>(sc->delivery.size()) + 1; },
                      absl::Seconds(20)));
  EXPECT_EQ(pipeline_->view().bad_messages, 1);
  EXPECT_EQ(Metric("iss_peebot_detections_total"), detections_before + 2);
  auto page = admin_store_->List(std::nullopt, std::nullopt, 50, "");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->first.size(), 2u);
  // Newest first; ids, levels and post status as the scenario says.
  for (size_t i = 0; i < 2; ++i) {
    const auto& row = page->first[1 - i];
    EXPECT_EQ(row.detection_id(), sc->expected[i].detection_id);
    EXPECT_EQ(row.start_level_percent(), sc->expected[i].start_level);
    EXPECT_EQ(row.end_level_percent(), sc->expected[i].end_level);
    EXPECT_EQ(row.post_status(), v1::POST_STATUS_POSTED);
  }
  EXPECT_EQ(fake_->posts().size(), 2u);
  EXPECT_EQ(fake_->rejected_auth(), 0);
  EXPECT_TRUE(pipeline_->view().last_level.has_value());
  EXPECT_EQ(pipeline_->view().last_level->percent, 49);
  // Reevaluate's source: what the detector consumed is stored.
  auto stored = admin_store_->Samples(ScenarioEpoch(), ScenarioEpoch() + absl::Hours(1));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->size(), sc->delivery.size());
}

// The bad inputs storage dead-letters, Pee-Bot dead-letters the same way
// (shared bus::Consumer): the DLQ gets each with its reason, and what follows
// them is consumed as usual.
TEST_F(PipelineTest, MessagesThatAreNotTelemetryEventsGoToTheDlqAndThePipelineGoesOn) {
  auto sc = LoadScenario(std::string(PEEBOT_TESTDATA_DIR) + "/clean_rises.scenario");
  ASSERT_TRUE(sc.ok());
  StartPipeline();
  iss::telemetry::v1::TelemetryEvent nameless = ToEvent(sc->delivery.front());
  nameless.clear_item_id();
  // One key, so both land on one partition, in order, before the scenario's samples.
  ASSERT_TRUE(producer_->Produce(topic_, "NODE3000005", "\xff\xfe not protobuf").ok());
  ASSERT_TRUE(producer_->Produce(topic_, "NODE3000005", nameless.SerializeAsString()).ok());
  Produce(sc->delivery, 0, sc->delivery.size());

  const auto records = cluster_->ReadAll(dlq_, 2, absl::Seconds(20));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(iss::testing::DeadLetterReasons(records, "peebot", topic_),
            (std::set<std::string>{"undecodable", "bad_item_id"}));
  // And on: every sample after them is consumed and stored, the detections posted.
  ASSERT_TRUE(WaitFor([&] { return Consumed() >= static_cast<int64_t>(sc->delivery.size()) + 2; },
                      absl::Seconds(40)));
  EXPECT_EQ(pipeline_->view().bad_messages, 2);
  ASSERT_TRUE(WaitFor([&] { return Posted() >= 2; }, absl::Seconds(40)));
  auto stored = admin_store_->Samples(ScenarioEpoch(), ScenarioEpoch() + absl::Hours(1));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->size(), sc->delivery.size());
}

// A scenario moved in time by `delta` (its expected detections too).
Scenario Shifted(Scenario sc, absl::Duration delta) {
  for (Sample& s : sc.delivery) {
    s.source_ts += delta;
    s.received_ts += delta;
    s.ingest_ts += delta;
  }
  for (Detection& d : sc.expected) {
    d.start_time += delta;
    d.end_time += delta;
    d.detection_id = DetectionId(d.item_id, d.start_time);
  }
  return sc;
}

// The freshness limit, both sides of it: the scenario is moved so that it
// ends now; its first fill ended ~13 min ago (older than the default 10 min:
// stored as stale, never posted), its second ~6.5 min ago (posted).
TEST_F(PipelineTest, DetectionsOlderThanTheFreshnessLimitAreStoredStaleAndNeverPosted) {
  auto loaded = LoadScenario(std::string(PEEBOT_TESTDATA_DIR) + "/clean_rises.scenario");
  ASSERT_TRUE(loaded.ok());
  const Scenario sc = Shifted(*loaded, absl::Now() - (ScenarioEpoch() + absl::Seconds(900)));
  ASSERT_EQ(sc.expected.size(), 2u);
  ASSERT_GT(absl::Now() - sc.expected[0].end_time, absl::Minutes(12));
  ASSERT_LT(absl::Now() - sc.expected[1].end_time, absl::Minutes(7));
  const double stale_before = Metric("iss_peebot_detections_stale_total");
  StartPipeline([](PipelineOptions& o) { o.max_post_age = absl::Minutes(10); });
  Produce(sc.delivery, 0, sc.delivery.size());
  ASSERT_TRUE(WaitFor([&] { return Posted() >= 1; }, absl::Seconds(40)))
      << "consumed: " << Consumed();
  auto old = admin_store_->Get(sc.expected[0].detection_id);
  ASSERT_TRUE(old.ok() && old->has_value());
  EXPECT_EQ((*old)->post_status(), v1::POST_STATUS_STALE);
  EXPECT_TRUE(absl::StrContains((*old)->last_error(), "ISS_PEEBOT_MAX_POST_AGE"))
      << (*old)->last_error();
  auto fresh = admin_store_->Get(sc.expected[1].detection_id);
  ASSERT_TRUE(fresh.ok() && fresh->has_value());
  EXPECT_EQ((*fresh)->post_status(), v1::POST_STATUS_POSTED);
  ASSERT_EQ(fake_->posts().size(), 1u);
  EXPECT_EQ(Metric("iss_peebot_detections_stale_total"), stale_before + 1);
  EXPECT_EQ(*admin_store_->CountDetections(), 2);
  // The poster never picks a stale row up (it is not pending).
  auto pending = admin_store_->Pending(10);
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending->empty());
}

// Stored samples are kept for a window of event time behind the newest one;
// pruning them touches neither the detections nor the posts.
TEST_F(PipelineTest, StoredSamplesOlderThanTheRetentionArePruned) {
  auto sc = LoadScenario(std::string(PEEBOT_TESTDATA_DIR) + "/clean_rises.scenario");
  ASSERT_TRUE(sc.ok());
  absl::Time newest = absl::InfinitePast();
  for (const Sample& smp : sc->delivery) newest = std::max(newest, smp.source_ts);
  const absl::Duration retention = absl::Seconds(60);
  size_t kept = 0;
  for (const Sample& smp : sc->delivery) kept += smp.source_ts >= newest - retention;
  ASSERT_LT(kept, sc->delivery.size()) << "the scenario must span more than the retention";
  StartPipeline([&](PipelineOptions& o) {
    o.sample_retention = retention;
    o.prune_interval = absl::ZeroDuration();
  });
  Produce(sc->delivery, 0, sc->delivery.size());
  ASSERT_TRUE(WaitFor([&] { return Posted() >= 2; }, absl::Seconds(40)));
  // The last batch's prune runs after its commit: wait until it shows.
  auto stored = [&] {
    return admin_store_->Samples(ScenarioEpoch() - absl::Hours(1), newest + absl::Hours(1));
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = stored();
        return s.ok() && s->size() == kept;
      },
      absl::Seconds(20)))
      << "stored " << (stored().ok() ? stored()->size() : 0) << ", want " << kept;
  auto rows = stored();
  ASSERT_TRUE(rows.ok()) << rows.status();
  for (const Sample& smp : *rows) EXPECT_GE(smp.source_ts, newest - retention);
  EXPECT_EQ(*admin_store_->CountDetections(), 2);
}

// Restart requirement: the service stops in the middle of a fill and starts again. The
// detector state and the offsets were committed together, so the fill is
// detected once, with the same id, and posted once.
TEST_F(PipelineTest, AnEventStraddlingARestartIsDetectedAndPostedOnce) {
  auto sc = LoadScenario(std::string(PEEBOT_TESTDATA_DIR) + "/clean_rises.scenario");
  ASSERT_TRUE(sc.ok());
  // Cut right after the sample at t=110 s: the first fill (100..125) is half done.
  size_t cut = 0;
  while (cut < sc->delivery.size() &&
         sc->delivery[cut].source_ts <= ScenarioEpoch() + absl::Seconds(111)) {
    ++cut;
  }
  StartPipeline();
  Produce(sc->delivery, 0, cut);
  ASSERT_TRUE(WaitFor([&] { return Consumed() >= static_cast<int64_t>(cut); }, absl::Seconds(30)));
  EXPECT_EQ(*admin_store_->CountDetections(), 0);
  pipeline_.reset();  // stop: nothing of the fill was detected yet

  StartPipeline();
  Produce(sc->delivery, cut, sc->delivery.size());
  ASSERT_TRUE(WaitFor([&] { return Posted() >= 2; }, absl::Seconds(40)))
      << "posts: " << fake_->posts().size();
  ASSERT_TRUE(WaitFor([&] { return Consumed() >= static_cast<int64_t>(sc->delivery.size() - cut); },
                      absl::Seconds(20)));
  EXPECT_EQ(*admin_store_->CountDetections(), 2);
  auto first = admin_store_->Get(sc->expected[0].detection_id);
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->start_level_percent(), 40);
  EXPECT_EQ((*first)->end_level_percent(), 46);
  EXPECT_EQ(fake_->posts().size(), 2u);
}

// PostgreSQL goes away while telemetry keeps coming: commits fail, the
// pipeline rewinds to the stored state and offsets, and once the database is
// back every event is detected exactly once.
TEST_F(PipelineTest, DatabaseOutageLosesNothingAndDuplicatesNothing) {
  auto sc = LoadScenario(std::string(PEEBOT_TESTDATA_DIR) + "/clean_rises.scenario");
  ASSERT_TRUE(sc.ok());
  const size_t third = sc->delivery.size() / 3;
  StartPipeline();
  Produce(sc->delivery, 0, third);
  ASSERT_TRUE(
      WaitFor([&] { return Consumed() >= static_cast<int64_t>(third); }, absl::Seconds(30)));

  auto count = [&] {
    auto st = admin_store_->Samples(ScenarioEpoch(), ScenarioEpoch() + absl::Hours(1));
    return st.ok() ? static_cast<int64_t>(st->size()) : int64_t{-1};
  };
  EXPECT_EQ(count(), static_cast<int64_t>(third));
  iss::testing::PgServer* pg = iss::testing::SharedPgServer();
  ASSERT_NE(pg, nullptr);
  ASSERT_TRUE(pg->Stop().ok());
  Produce(sc->delivery, third, 2 * third);
  auto postgres_up = [&] {
    for (const auto& d : health_.Snapshot()) {
      if (d.name == "postgres") return d.up;
    }
    return false;
  };
  ASSERT_TRUE(WaitFor([&] { return !postgres_up(); }, absl::Seconds(30)));
  ASSERT_TRUE(pg->Restart().ok());
  EXPECT_EQ(count(), -1);  // the admin store's connection broke
  EXPECT_EQ(count(), static_cast<int64_t>(third));
  Produce(sc->delivery, 2 * third, sc->delivery.size());

  ASSERT_TRUE(WaitFor([&] { return Posted() >= 2; }, absl::Seconds(60)))
      << "posted: " << Posted() << " consumed: " << Consumed() << " state: "
      << admin_store_->LoadDetectorState(pipeline_options_group_)
             .value_or("?")
             .value_or("-")
             .substr(0, 3000);
  // Every message committed exactly once (a failed batch is re-read, and
  // counted only when its transaction commits).
  ASSERT_TRUE(WaitFor([&] { return Consumed() >= static_cast<int64_t>(sc->delivery.size()); },
                      absl::Seconds(20)));
  EXPECT_EQ(Consumed(), static_cast<int64_t>(sc->delivery.size()));
  EXPECT_TRUE(postgres_up());
  EXPECT_EQ(*admin_store_->CountDetections(), 2);
  for (const Detection& want : sc->expected) {
    auto row = admin_store_->Get(want.detection_id);
    ASSERT_TRUE(row.ok() && row->has_value()) << "missing " << want.detection_id;
  }
  EXPECT_EQ(fake_->posts().size(), 2u);
  auto stored = admin_store_->Samples(ScenarioEpoch(), ScenarioEpoch() + absl::Hours(1));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->size(), sc->delivery.size());
}

// Thresholds changed at run time (the admin API writes RuntimeSettings) reach
// the live detector: with a 4 % minimum only the +6 % fill is an event.
TEST_F(PipelineTest, RunTimeThresholdsApplyToTheLiveDetector) {
  auto sc = LoadScenario(std::string(PEEBOT_TESTDATA_DIR) + "/clean_rises.scenario");
  ASSERT_TRUE(sc.ok());
  PeeBotSettings s = settings_->Get();
  s.min_rise_percent = 4;
  settings_->Set(s);
  StartPipeline();
  Produce(sc->delivery, 0, sc->delivery.size());
  ASSERT_TRUE(WaitFor([&] { return Consumed() >= static_cast<int64_t>(sc->delivery.size()); },
                      absl::Seconds(30)));
  ASSERT_TRUE(WaitFor([&] { return Posted() >= 1; }, absl::Seconds(20)));
  EXPECT_EQ(*admin_store_->CountDetections(), 1);
  auto row = admin_store_->Get(sc->expected[0].detection_id);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->rise_percent(), 6);
}

}  // namespace
}  // namespace iss::peebot

// Integration tests of the Kafka driver against the in-process mock cluster
// (real sockets, real Kafka protocol). Group joins cost ~3 s each, so each
// consumer test exercises several behaviours on one consumer.
#include "common/kafka.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/kafka_supervisor.h"
#include "common/metrics.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/wait.h"

namespace iss::kafka {
namespace {

using ::iss::testing::KafkaCluster;
using ::iss::testing::WaitFor;

std::unique_ptr<KafkaCluster> StartCluster(int brokers = 1) {
  auto cluster = KafkaCluster::Start(brokers);
  EXPECT_TRUE(cluster.ok()) << cluster.status();
  return cluster.ok() ? std::move(*cluster) : nullptr;
}

// Collects delivery reports (they arrive on the producer's thread).
struct Reports {
  absl::Mutex mu;
  std::vector<DeliveryReport> all ABSL_GUARDED_BY(mu);
  std::thread::id thread ABSL_GUARDED_BY(mu);
  bool one_thread ABSL_GUARDED_BY(mu) = true;

  Producer::OnDelivery Callback() {
    return [this](const DeliveryReport& r) {
      absl::MutexLock lock(&mu);
      if (all.empty()) thread = std::this_thread::get_id();
      one_thread = one_thread && thread == std::this_thread::get_id();
      all.push_back(r);
    };
  }
  size_t size() {
    absl::MutexLock lock(&mu);
    return all.size();
  }
  std::vector<DeliveryReport> Snapshot() {
    absl::MutexLock lock(&mu);
    return all;
  }
};

std::unique_ptr<Producer> MakeProducer(const KafkaCluster& cluster, Reports& reports,
                                       ProducerOptions options = {}) {
  options.brokers = cluster.bootstrap();
  auto producer = Producer::Create(options, reports.Callback());
  EXPECT_TRUE(producer.ok()) << producer.status();
  return producer.ok() ? std::move(*producer) : nullptr;
}

// Polls until `n` messages arrived or `timeout` passed.
std::vector<Message> PollN(Consumer& consumer, size_t n, absl::Duration timeout) {
  std::vector<Message> out;
  WaitFor(
      [&] {
        auto batch = consumer.Poll(n - out.size(), absl::Milliseconds(100));
        EXPECT_TRUE(batch.ok()) << batch.status();
        if (batch.ok()) out.insert(out.end(), batch->begin(), batch->end());
        return out.size() >= n;
      },
      timeout, absl::ZeroDuration());
  return out;
}

TEST(KafkaProducerTest, RejectsBadOptions) {
  Reports reports;
  EXPECT_EQ(Producer::Create({}, reports.Callback()).status().code(),
            absl::StatusCode::kInvalidArgument);
  ProducerOptions bad;
  bad.brokers = "127.0.0.1:1";
  bad.extra = {{"no.such.property", "1"}};
  auto p = Producer::Create(bad, reports.Callback());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), ::testing::HasSubstr("no.such.property"));
  bad.extra = {};
  bad.compression = "zip";
  EXPECT_EQ(Producer::Create(bad, reports.Callback()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KafkaConsumerTest, RejectsBadOptions) {
  ConsumerOptions o;
  EXPECT_EQ(Consumer::Create(o, nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.brokers = "127.0.0.1:1";
  o.group_id = "g";
  EXPECT_EQ(Consumer::Create(o, nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument)
      << "no topics";
  o.topics = {"t"};
  o.extra = {{"session.timeout.ms", "not-a-number"}};
  EXPECT_EQ(Consumer::Create(o, nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Round trip: keys, values, headers and opaques survive; delivery reports
// come on one thread with real offsets; each key's messages stay in order.
TEST(KafkaRoundTripTest, KeysHeadersReportsAndPerKeyOrder) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->CreateTopic("rt", 6).ok());
  Reports reports;
  auto producer = MakeProducer(*cluster, reports);
  ASSERT_NE(producer, nullptr);
  constexpr int kKeys = 20, kPerKey = 50;
  std::vector<int> opaques(kKeys * kPerKey);
  for (int seq = 0; seq < kPerKey; ++seq) {
    for (int k = 0; k < kKeys; ++k) {
      const int i = seq * kKeys + k;
      ASSERT_TRUE(producer
                      ->Produce("rt", absl::StrCat("key", k), absl::StrCat(seq),
                                {{"source", "test"}, {"n", absl::StrCat(i)}}, &opaques[i])
                      .ok());
    }
  }
  ASSERT_TRUE(producer->Flush(absl::Seconds(30)).ok());
  EXPECT_EQ(producer->InFlight(), 0);
  const auto delivered = reports.Snapshot();
  ASSERT_EQ(delivered.size(), opaques.size());
  std::set<void*> seen_opaques;
  for (const auto& r : delivered) {
    EXPECT_TRUE(r.status.ok()) << r.status;
    EXPECT_EQ(r.topic, "rt");
    EXPECT_GE(r.partition, 0);
    EXPECT_GE(r.offset, 0);
    seen_opaques.insert(r.opaque);
  }
  EXPECT_EQ(seen_opaques.size(), opaques.size());
  {
    absl::MutexLock lock(&reports.mu);
    EXPECT_TRUE(reports.one_thread);
    EXPECT_NE(reports.thread, std::this_thread::get_id());
  }

  ConsumerOptions co;
  co.brokers = cluster->bootstrap();
  co.group_id = "rt-group";
  co.topics = {"rt"};
  std::atomic<int> assigned{0};
  auto consumer = Consumer::Create(
      co,
      [&](const std::vector<TopicPartition>& tps) {
        assigned += tps.size();
        return std::map<TopicPartition, int64_t>{};
      },
      nullptr);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  const auto messages = PollN(**consumer, opaques.size(), absl::Seconds(30));
  ASSERT_EQ(messages.size(), opaques.size());
  EXPECT_EQ(assigned.load(), 6);
  std::map<std::string, int> next_seq;
  std::map<std::string, int32_t> partition_of;
  for (const auto& m : messages) {
    EXPECT_EQ(m.value, absl::StrCat(next_seq[m.key]++)) << "key " << m.key << " out of order";
    auto [it, inserted] = partition_of.emplace(m.key, m.partition);
    EXPECT_EQ(it->second, m.partition) << "a key must stay on one partition";
    ASSERT_EQ(m.headers.size(), 2u);
    EXPECT_EQ(m.headers[0], std::make_pair(std::string("source"), std::string("test")));
    EXPECT_EQ(m.headers[1].first, "n");
    EXPECT_LT(absl::AbsDuration(absl::Now() - m.timestamp), absl::Minutes(1));
  }
  EXPECT_EQ(next_seq.size(), static_cast<size_t>(kKeys));
  for (const auto& [key, n] : next_seq) EXPECT_EQ(n, kPerKey) << key;
}

// The exactly-once contract: the owner's offsets decide where reading starts;
// a failing OnAssign is retried; pause, lag, resume and seek work.
// The end-of-round hook runs on the delivery thread, after reports, never
// without one; by the last round it has followed every report.
TEST(KafkaProducerTest, ReportsServedHookFollowsEachRoundOfReports) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->CreateTopic("rounds", 3).ok());
  Reports reports;
  absl::Mutex mu;
  int rounds = 0;
  size_t reports_at_last_round = 0;
  bool same_thread = true, empty_round = false;
  size_t reports_before = 0;
  ProducerOptions options;
  options.brokers = cluster->bootstrap();
  auto producer = Producer::Create(options, reports.Callback(), [&] {
    const size_t n = reports.size();
    absl::MutexLock lock(&mu);
    ++rounds;
    empty_round = empty_round || n == reports_before;
    reports_before = reports_at_last_round = n;
    absl::MutexLock rl(&reports.mu);
    same_thread = same_thread && reports.thread == std::this_thread::get_id();
  });
  ASSERT_TRUE(producer.ok()) << producer.status();
  constexpr int kMessages = 500;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kMessages / 2; ++i) {
      ASSERT_TRUE((*producer)->Produce("rounds", absl::StrCat("k", i % 7), "v").ok());
    }
    ASSERT_TRUE((*producer)->Flush(absl::Seconds(30)).ok());
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return reports_at_last_round == static_cast<size_t>(kMessages);
      },
      absl::Seconds(10)));
  absl::MutexLock lock(&mu);
  EXPECT_GE(rounds, 2);
  EXPECT_TRUE(same_thread);
  EXPECT_FALSE(empty_round) << "a round without any report";
}

TEST(KafkaConsumerTest, AssignOffsetsRetryPauseLagResumeSeek) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->CreateTopic("mid", 1).ok());
  Reports reports;
  auto producer = MakeProducer(*cluster, reports);
  ASSERT_NE(producer, nullptr);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(producer->Produce("mid", "k", absl::StrCat(i)).ok());
  ASSERT_TRUE(producer->Flush(absl::Seconds(30)).ok());

  ConsumerOptions co;
  co.brokers = cluster->bootstrap();
  co.group_id = "mid-group";
  co.topics = {"mid"};
  co.statistics_interval = absl::Milliseconds(100);
  const TopicPartition tp{"mid", 0};
  std::atomic<int> assign_calls{0};
  std::vector<TopicPartition> revoked;
  auto consumer = Consumer::Create(
      co,
      [&](const std::vector<TopicPartition>& tps)
          -> absl::StatusOr<std::map<TopicPartition, int64_t>> {
        if (assign_calls.fetch_add(1) == 0) return absl::UnavailableError("database down");
        return std::map<TopicPartition, int64_t>{{tp, 60}};
      },
      [&](const std::vector<TopicPartition>& tps) { revoked = tps; });
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  Consumer& c = **consumer;

  auto first = PollN(c, 10, absl::Seconds(30));
  ASSERT_EQ(first.size(), 10u);
  EXPECT_GE(assign_calls.load(), 2) << "the failed assignment must be retried";
  EXPECT_EQ(first.front().offset, 60);
  EXPECT_EQ(first.front().value, "60");
  EXPECT_EQ(first.back().offset, 69);
  EXPECT_THAT(c.Assignment(), ::testing::ElementsAre(tp));

  // Paused: nothing more is returned, and the lag (high watermark 100 minus
  // our position 70) shows in the statistics.
  ASSERT_TRUE(c.PauseAll().ok());
  size_t while_paused = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto batch = c.Poll(100, absl::Milliseconds(50));
        if (batch.ok()) while_paused += batch->size();
        auto lag = c.Lag();
        return lag.count(tp) && lag[tp] == 30;
      },
      absl::Seconds(10)))
      << "lag while paused should be 30";
  EXPECT_EQ(while_paused, 0u);
  for (int i = 100; i < 125; ++i) {
    ASSERT_TRUE(producer->Produce("mid", "k", absl::StrCat(i)).ok());
  }
  ASSERT_TRUE(producer->Flush(absl::Seconds(30)).ok());

  ASSERT_TRUE(c.ResumeAll().ok());
  auto rest = PollN(c, 55, absl::Seconds(10));
  ASSERT_EQ(rest.size(), 55u);
  EXPECT_EQ(rest.front().offset, 70);
  EXPECT_EQ(rest.back().offset, 124);
  EXPECT_TRUE(WaitFor(
      [&] {
        (void)c.Poll(10, absl::Milliseconds(50));
        auto lag = c.Lag();
        return lag.count(tp) && lag[tp] == 0;
      },
      absl::Seconds(10)));

  ASSERT_TRUE(c.Seek(tp, 90).ok());
  auto again = PollN(c, 5, absl::Seconds(10));
  ASSERT_EQ(again.size(), 5u);
  EXPECT_EQ(again.front().offset, 90);
  c.CommitAdvisory({{tp, 95}});

  consumer->reset();  // leaving the group revokes
  EXPECT_THAT(revoked, ::testing::ElementsAre(tp));
}

TEST(KafkaConsumerTest, TwoMembersOfAGroupSplitThePartitions) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->CreateTopic("split", 4).ok());
  ConsumerOptions co;
  co.brokers = cluster->bootstrap();
  co.group_id = "split-group";
  co.topics = {"split"};
  // The mock coordinator waits session.timeout.ms - 1 s for existing members
  // when a new one joins: keep it short.
  co.extra = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
  auto no_offsets = [](const std::vector<TopicPartition>&) {
    return std::map<TopicPartition, int64_t>{};
  };
  std::atomic<int> revokes{0};
  auto a = Consumer::Create(co, no_offsets, [&](const auto&) { ++revokes; });
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(WaitFor(
      [&] {
        (void)(*a)->Poll(10, absl::Milliseconds(50));
        return (*a)->Assignment().size() == 4;
      },
      absl::Seconds(30)));
  auto b = Consumer::Create(co, no_offsets, nullptr);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(WaitFor(
      [&] {
        (void)(*a)->Poll(10, absl::Milliseconds(25));
        (void)(*b)->Poll(10, absl::Milliseconds(25));
        return (*a)->Assignment().size() == 2 && (*b)->Assignment().size() == 2;
      },
      absl::Seconds(30)));
  std::set<TopicPartition> all;
  for (const auto& tp : (*a)->Assignment()) all.insert(tp);
  for (const auto& tp : (*b)->Assignment()) all.insert(tp);
  EXPECT_EQ(all.size(), 4u) << "the halves must be disjoint and cover the topic";
  EXPECT_GE(revokes.load(), 1) << "the first member gave partitions back";
}

// An outage holds messages (infinite message timeout); nothing is lost or
// duplicated once the broker returns, and Ping reflects the outage.
TEST(KafkaProducerTest, BrokerDownThenUpLosesNothing) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->CreateTopic("outage", 3).ok());
  Reports reports;
  auto producer = MakeProducer(*cluster, reports);
  ASSERT_NE(producer, nullptr);
  ASSERT_TRUE(producer->Ping(absl::Seconds(5)).ok());
  ASSERT_TRUE(producer->Produce("outage", "warmup", "w").ok());
  ASSERT_TRUE(producer->Flush(absl::Seconds(30)).ok());

  ASSERT_TRUE(cluster->SetBrokerDown(1).ok());
  constexpr int kN = 500;
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(producer->Produce("outage", absl::StrCat("k", i), absl::StrCat("v", i)).ok());
  }
  EXPECT_FALSE(producer->Ping(absl::Milliseconds(500)).ok());
  EXPECT_EQ(producer->Flush(absl::Milliseconds(500)).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(reports.size(), 1u) << "nothing may be acknowledged during the outage";
  EXPECT_EQ(producer->InFlight(), kN);

  ASSERT_TRUE(cluster->SetBrokerUp(1).ok());
  ASSERT_TRUE(producer->Flush(absl::Seconds(60)).ok());
  for (const auto& r : reports.Snapshot()) EXPECT_TRUE(r.status.ok()) << r.status;
  auto records = cluster->ReadAll("outage", kN + 1, absl::Seconds(30));
  std::map<std::string, int> count;
  for (const auto& r : records) ++count[r.key];
  EXPECT_EQ(count.size(), static_cast<size_t>(kN + 1));
  for (const auto& [key, n] : count) EXPECT_EQ(n, 1) << key;
}

TEST(KafkaProducerTest, FullQueueIsResourceExhausted) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->CreateTopic("full", 1).ok());
  Reports reports;
  ProducerOptions po;
  po.queue_max_messages = 10;
  auto producer = MakeProducer(*cluster, reports, po);
  ASSERT_NE(producer, nullptr);
  ASSERT_TRUE(cluster->SetBrokerDown(1).ok());  // nothing drains
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(producer->Produce("full", "k", "v").ok());
  absl::Status s = producer->Produce("full", "k", "v", {{"h", "x"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(producer->InFlight(), 10);
  ASSERT_TRUE(cluster->SetBrokerUp(1).ok());
  ASSERT_TRUE(producer->Flush(absl::Seconds(60)).ok());
  EXPECT_EQ(reports.size(), 10u);
  EXPECT_TRUE(producer->Produce("full", "k", "v").ok()) << "room again after the flush";
}

TEST(KafkaProducerTest, EnsureTopicAcceptsAnExistingTopic) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  // librdkafka 2.0.2's mock does not answer CreateTopics, so the topic is
  // made by the cluster and EnsureTopic must find it.
  ASSERT_TRUE(cluster->CreateTopic("made", 3).ok());
  Reports reports;
  auto producer = MakeProducer(*cluster, reports);
  ASSERT_NE(producer, nullptr);
  absl::Status ensured = producer->EnsureTopic("made", 3, 1, absl::Seconds(10));
  ASSERT_TRUE(ensured.ok()) << ensured;
  EXPECT_TRUE(producer->EnsureTopic("made", 3, 1, absl::Seconds(10)).ok()) << "exists = OK";
  EXPECT_EQ(producer->EnsureTopic("bad", 0, 1, absl::Seconds(1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(producer->EnsureTopic("", 1, 1, absl::Seconds(1)).code(),
            absl::StatusCode::kInvalidArgument);
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(producer->Produce("made", absl::StrCat("k", i), "v").ok());
  }
  ASSERT_TRUE(producer->Flush(absl::Seconds(30)).ok());
  std::set<int32_t> partitions;
  for (const auto& r : reports.Snapshot()) partitions.insert(r.partition);
  EXPECT_EQ(partitions, (std::set<int32_t>{0, 1, 2}));
}

}  // namespace
}  // namespace iss::kafka

namespace iss::kafka {
namespace {

// Services must be able to stop during a broker outage: leaving the group
// cannot wait for a broker that is gone.
TEST(KafkaConsumerTest, ClosesPromptlyWhileTheBrokerIsDown) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->CreateTopic("gone", 2).ok());
  ConsumerOptions co;
  co.brokers = cluster->bootstrap();
  co.group_id = "gone-group";
  co.topics = {"gone"};
  std::atomic<int> revoked{0};
  auto consumer = Consumer::Create(
      co, [](const auto&) { return std::map<TopicPartition, int64_t>{}; },
      [&](const auto& tps) { revoked += tps.size(); });
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE(WaitFor(
      [&] {
        (void)(*consumer)->Poll(10, absl::Milliseconds(50));
        return (*consumer)->Assignment().size() == 2;
      },
      absl::Seconds(30)));
  ASSERT_TRUE(cluster->SetBrokerDown(1).ok());
  const absl::Time start = absl::Now();
  consumer->reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  EXPECT_EQ(revoked.load(), 2) << "OnRevoke still runs";
}

// Shutting down during an outage: the destructor gives up after its flush
// window and every message still gets a (failed) delivery report.
TEST(KafkaProducerTest, DestructorDuringAnOutageReportsEveryMessage) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->CreateTopic("late", 1).ok());
  Reports reports;
  auto producer = MakeProducer(*cluster, reports);
  ASSERT_NE(producer, nullptr);
  ASSERT_TRUE(cluster->SetBrokerDown(1).ok());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(producer->Produce("late", "k", "v").ok());
  const absl::Time start = absl::Now();
  producer.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "no broker answers: nothing to wait for";
  const auto all = reports.Snapshot();
  ASSERT_EQ(all.size(), 50u);
  for (const auto& r : all) EXPECT_EQ(r.status.code(), absl::StatusCode::kCancelled) << r.status;
}

}  // namespace
}  // namespace iss::kafka

namespace iss::kafka {
namespace {

// The only broker (partition leader and group coordinator) goes down under
// load and comes back: the consumer must fetch again, from where it was.
TEST(KafkaConsumerTest, ResumesAfterTheOnlyBrokerWasDown) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->CreateTopic("down", 12).ok());
  Reports reports;
  auto producer = MakeProducer(*cluster, reports);
  ASSERT_NE(producer, nullptr);
  ConsumerOptions co;
  co.brokers = cluster->bootstrap();
  co.group_id = "down-group";
  co.topics = {"down"};
  co.statistics_interval = absl::Milliseconds(500);
  co.extra = {{"session.timeout.ms", "45000"},
              {"heartbeat.interval.ms", "4500"},
              {"fetch.wait.max.ms", "100"}};
  auto consumer = Consumer::Create(
      co, [](const auto&) { return std::map<TopicPartition, int64_t>{}; }, nullptr);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  Consumer& c = **consumer;

  std::atomic<bool> stop{false};
  std::atomic<int> produced{0};
  std::thread load([&] {
    while (!stop.load()) {
      const int i = produced.load();
      if (producer->Produce("down", absl::StrCat("k", i % 50), absl::StrCat(i)).ok()) {
        produced.fetch_add(1);
      }
      absl::SleepFor(absl::Milliseconds(2));
    }
  });
  std::set<std::string> seen;
  auto poll_until = [&](size_t n, absl::Duration timeout) {
    return WaitFor(
        [&] {
          auto batch = c.Poll(500, absl::Milliseconds(100));
          if (batch.ok()) {
            for (const auto& m : *batch) seen.insert(m.value);
          }
          return seen.size() >= n;
        },
        timeout, absl::ZeroDuration());
  };
  ASSERT_TRUE(poll_until(200, absl::Seconds(30)));
  ASSERT_TRUE(cluster->SetBrokerDown(1).ok());
  const absl::Time up_at = absl::Now() + absl::Seconds(5);
  WaitFor(
      [&] {
        (void)c.Poll(500, absl::Milliseconds(100));
        return absl::Now() >= up_at;
      },
      absl::Seconds(6), absl::ZeroDuration());
  ASSERT_TRUE(cluster->SetBrokerUp(1).ok());
  const size_t before = seen.size();
  const absl::Time t0 = absl::Now();
  const bool resumed = poll_until(before + 500, absl::Seconds(60));
  std::cout << "resumed=" << resumed << " after " << absl::Now() - t0 << " seen " << seen.size()
            << " produced " << produced.load() << std::endl;
  stop = true;
  load.join();
  EXPECT_TRUE(resumed);
}

}  // namespace
}  // namespace iss::kafka

namespace iss::kafka {
namespace {

// Holds a copy of every descriptor of this process, the mock broker's
// sockets included, until destroyed: a connection the mock then closes stays
// open on the client's side without an answer ever coming (half-open, like a
// broker host that vanished without a FIN reaching us).
class HalfOpenMaker {
 public:
  HalfOpenMaker() {
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      // Listening sockets go, so the mock can re-open its port when a broker
      // comes back; connections stay.
      for (int fd = 3; fd < 4096; ++fd) {
        int listening = 0;
        socklen_t len = sizeof(listening);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening) {
          close(fd);
        }
      }
      for (;;) pause();
    }
  }
  ~HalfOpenMaker() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool ok() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

void ProduceRange(Producer& producer, const std::string& topic, int from, int to) {
  for (int i = from; i < to; ++i) {
    ASSERT_TRUE(producer.Produce(topic, absl::StrCat("k", i % 7), absl::StrCat(i)).ok());
  }
  ASSERT_TRUE(producer.Flush(absl::Seconds(30)).ok());
}

// The supervisor: pausing is the owner's choice and never a stall; a client
// stuck on half-open connections (librdkafka alone would wait its 60 s request
// timeout per request) is replaced and resumes at the owner's offsets with
// nothing lost or repeated; closing such a client is bounded.
TEST(SupervisedConsumerTest, PauseIsNoStallHalfOpenClientIsReplacedCloseIsBounded) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->CreateTopic("stuck", 3).ok());
  Reports reports;
  auto producer = MakeProducer(*cluster, reports);
  ASSERT_NE(producer, nullptr);
  ProduceRange(*producer, "stuck", 0, 100);

  ConsumerOptions co;
  co.brokers = cluster->bootstrap();
  co.group_id = "stuck-group";
  co.topics = {"stuck"};
  co.extra = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
  SupervisorOptions so;
  so.stall_timeout = absl::Seconds(2);
  so.close_timeout = absl::Seconds(2);
  so.request_timeout = absl::Seconds(60);    // librdkafka's default
  std::map<TopicPartition, int64_t> stored;  // the owner's "database"
  int assigns = 0, revokes = 0;
  auto created = SupervisedConsumer::Create(
      co, so,
      [&](const std::vector<TopicPartition>& parts)
          -> absl::StatusOr<std::map<TopicPartition, int64_t>> {
        ++assigns;
        std::map<TopicPartition, int64_t> out;
        for (const auto& tp : parts) {
          if (stored.contains(tp)) out[tp] = stored[tp];
        }
        return out;
      },
      [&](const std::vector<TopicPartition>&) { ++revokes; });
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<SupervisedConsumer> consumer = *std::move(created);
  std::set<std::string> seen;
  size_t received = 0;
  auto consume = [&](size_t n, absl::Duration timeout) {
    return WaitFor(
        [&] {
          auto batch = consumer->Poll(500, absl::Milliseconds(100));
          EXPECT_TRUE(batch.ok()) << batch.status();
          if (batch.ok()) {
            for (const auto& m : *batch) {
              ++received;
              seen.insert(m.value);
              stored[{m.topic, m.partition}] = m.offset + 1;
            }
          }
          return seen.size() >= n;
        },
        timeout, absl::ZeroDuration());
  };
  ASSERT_TRUE(consume(100, absl::Seconds(30)));

  // Paused with messages waiting for three stall timeouts: no replacement.
  ASSERT_TRUE(consumer->PauseAll().ok());
  ProduceRange(*producer, "stuck", 100, 150);
  const absl::Time until = absl::Now() + 3 * so.stall_timeout;
  WaitFor(
      [&] {
        (void)consumer->Poll(500, absl::Milliseconds(100));
        return absl::Now() >= until;
      },
      absl::Seconds(10), absl::ZeroDuration());
  EXPECT_EQ(consumer->recoveries(), 0);
  ASSERT_TRUE(consumer->ResumeAll().ok());
  ASSERT_TRUE(consume(150, absl::Seconds(30)));
  EXPECT_EQ(consumer->recoveries(), 0);

  {
    HalfOpenMaker half_open;
    ASSERT_TRUE(half_open.ok());
    ASSERT_TRUE(cluster->SetBrokerDown(1).ok());
    ASSERT_TRUE(cluster->SetBrokerUp(1).ok());
    // The old producer is stuck on its half-open connection too.
    Reports fresh_reports;
    auto fresh = MakeProducer(*cluster, fresh_reports);
    ASSERT_NE(fresh, nullptr);
    ProduceRange(*fresh, "stuck", 150, 200);
    const absl::Time start = absl::Now();
    ASSERT_TRUE(consume(200, absl::Seconds(45))) << "seen " << seen.size();
    std::cout << "half-open client replaced; all read after " << absl::Now() - start << std::endl;
    EXPECT_EQ(consumer->recoveries(), 1);
    EXPECT_GE(revokes, 1);
    EXPECT_GE(assigns, 2);
    EXPECT_EQ(received, 200u) << "resumed at the owner's offsets: nothing twice";
    EXPECT_THAT(
        metrics::Serialize(),
        ::testing::HasSubstr("iss_kafka_consumer_recoveries_total{group=\"stuck-group\"} 1"));
  }

  // Closing a client whose connections went half-open waits at most
  // close_timeout (the client finishes leaving on its own thread).
  {
    HalfOpenMaker half_open;
    ASSERT_TRUE(half_open.ok());
    ASSERT_TRUE(cluster->SetBrokerDown(1).ok());
    ASSERT_TRUE(cluster->SetBrokerUp(1).ok());
    const int revokes_before = revokes;
    const absl::Time start = absl::Now();
    consumer.reset();
    const absl::Duration took = absl::Now() - start;
    std::cout << "close with half-open connections took " << took << std::endl;
    EXPECT_LT(took, so.close_timeout + absl::Seconds(1));
    EXPECT_EQ(revokes, revokes_before + 1) << "OnRevoke still runs, on this thread";
  }
}

}  // namespace
}  // namespace iss::kafka

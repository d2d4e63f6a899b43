// The dev broker end to end: our own Kafka driver talks to it through the
// fixed bootstrap address, and the binary starts, announces itself and stops
// cleanly on SIGTERM.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/kafka.h"
#include "services/devbroker/dev_broker.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace iss::devbroker {
namespace {

using ::iss::testing::WaitFor;
using ::testing::HasSubstr;

DevBrokerOptions AnyPort() {
  DevBrokerOptions o;
  o.address = "127.0.0.1:0";
  return o;
}

TEST(DevBrokerTest, ServesThePlatformTopicsThroughTheFixedAddress) {
  auto broker = DevBroker::Start(AnyPort());
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string bootstrap = (*broker)->bootstrap();
  EXPECT_NE(bootstrap, (*broker)->mock_bootstrap());

  std::mutex mu;
  std::set<int32_t> partitions;
  int failed = 0;
  kafka::ProducerOptions po;
  po.brokers = bootstrap;
  auto producer = kafka::Producer::Create(po, [&](const kafka::DeliveryReport& r) {
    std::lock_guard lock(mu);
    if (r.status.ok())
      partitions.insert(r.partition);
    else
      ++failed;
  });
  ASSERT_TRUE(producer.ok()) << producer.status();
  ASSERT_TRUE((*producer)->Ping(absl::Seconds(10)).ok());
  EXPECT_TRUE((*producer)->EnsureTopic("telemetry.raw.v1", 12, 1, absl::Seconds(5)).ok());
  EXPECT_TRUE((*producer)->EnsureTopic("telemetry.dlq.v1", 1, 1, absl::Seconds(5)).ok());
  constexpr int kN = 240;
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE((*producer)->Produce("telemetry.raw.v1", absl::StrCat("item", i), "v").ok());
  }
  ASSERT_TRUE((*producer)->Flush(absl::Seconds(30)).ok());
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(partitions.size(), 12u) << "telemetry.raw.v1 has 12 partitions";
    EXPECT_EQ(*partitions.rbegin(), 11);
  }
  EXPECT_GE((*broker)->connections(), 1);

  kafka::ConsumerOptions co;
  co.brokers = bootstrap;
  co.group_id = "devbroker-test";
  co.topics = {"telemetry.raw.v1"};
  auto consumer = kafka::Consumer::Create(
      co, [](const auto&) { return std::map<kafka::TopicPartition, int64_t>{}; }, nullptr);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  std::set<std::string> keys;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto batch = (*consumer)->Poll(500, absl::Milliseconds(100));
        if (batch.ok()) {
          for (const auto& m : *batch) keys.insert(m.key);
        }
        return keys.size() == kN;
      },
      absl::Seconds(30)));
  EXPECT_EQ(keys.size(), static_cast<size_t>(kN));
}

TEST(DevBrokerTest, BadOrBusyAddressesFailToStart) {
  DevBrokerOptions bad;
  bad.address = "no-port-here";
  EXPECT_EQ(DevBroker::Start(bad).status().code(), absl::StatusCode::kInvalidArgument);

  auto first = DevBroker::Start(AnyPort());
  ASSERT_TRUE(first.ok()) << first.status();
  DevBrokerOptions busy;
  busy.address = (*first)->bootstrap();
  auto second = DevBroker::Start(busy);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("bind"));
}

TEST(DevBrokerBinaryTest, AnnouncesWritesItsAddressAndStopsOnSigterm) {
  const std::string addr_file = absl::StrCat(::testing::TempDir(), "/devbroker-addr-", getpid());
  std::remove(addr_file.c_str());
  testing::ChildProcess::Options options;
  options.binary = ISS_DEVBROKER_BINARY;
  options.env = {{"ISS_DEVBROKER_ADDR", "127.0.0.1:0"}, {"ISS_DEVBROKER_ADDR_FILE", addr_file}};
  auto child = testing::ChildProcess::Spawn(options);
  ASSERT_TRUE(child.ok()) << child.status();
  std::string address;
  ASSERT_TRUE(WaitFor(
      [&] {
        std::ifstream in(addr_file);
        return static_cast<bool>(std::getline(in, address)) && !address.empty();
      },
      absl::Seconds(20)))
      << (*child)->ReadLog();
  EXPECT_THAT(address, ::testing::StartsWith("127.0.0.1:"));

  kafka::ProducerOptions po;
  po.brokers = address;
  auto producer = kafka::Producer::Create(po, nullptr);
  ASSERT_TRUE(producer.ok());
  EXPECT_TRUE((*producer)->Ping(absl::Seconds(10)).ok());
  EXPECT_TRUE((*producer)->EnsureTopic("telemetry.raw.v1", 12, 1, absl::Seconds(5)).ok());
  producer->reset();

  EXPECT_EQ((*child)->Stop(absl::Seconds(10)), 0);
  const std::string log = (*child)->ReadLog();
  EXPECT_THAT(log, HasSubstr("DEVELOPMENT ONLY"));
  EXPECT_THAT(log, HasSubstr("\"msg\":\"devbroker ready\""));
  std::remove(addr_file.c_str());
}

TEST(DevBrokerBinaryTest, RejectsBadConfiguration) {
  testing::ChildProcess::Options options;
  options.binary = ISS_DEVBROKER_BINARY;
  options.env = {{"ISS_DEVBROKER_BROKERS", "zero"}};
  auto child = testing::ChildProcess::Spawn(options);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ((*child)->WaitExit(absl::Seconds(10)), 2);
  EXPECT_THAT((*child)->ReadLog(), HasSubstr("ISS_DEVBROKER_BROKERS"));
}

}  // namespace
}  // namespace iss::devbroker

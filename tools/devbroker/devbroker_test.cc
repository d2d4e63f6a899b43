// The dev broker end to end: our own Kafka driver talks to it through the
// fixed bootstrap address, and the binary starts, announces itself and stops
// cleanly on SIGTERM.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/address_file.h"
#include "common/kafka.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"
#include "tools/devbroker/dev_broker.h"

namespace iss::devbroker {
namespace {

using ::iss::testing::WaitFor;
using ::testing::HasSubstr;

DevBrokerOptions AnyPort() {
  DevBrokerOptions o;
  o.address = "127.0.0.1:0";
  return o;
}

// Produces to every partition of telemetry.raw.v1 and reads it all back
// through a consumer group (group coordinator included).
void ProduceAndConsume(const std::string& bootstrap, const std::string& group) {
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
  kafka::ConsumerOptions co;
  co.brokers = bootstrap;
  co.group_id = group;
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

TEST(DevBrokerTest, ServesThePlatformTopicsThroughTheFixedAddress) {
  auto broker = DevBroker::Start(AnyPort());
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string bootstrap = (*broker)->bootstrap();
  EXPECT_NE(bootstrap, (*broker)->mock_bootstrap());
  ProduceAndConsume(bootstrap, "devbroker-test");
  EXPECT_GE((*broker)->connections(), 1);
}

// Clients on other hosts (containers) only ever learn the advertised names:
// every broker in the metadata is "<advertise_host>:<relay port>", and a
// group's whole life (coordinator included) runs through the relays.
TEST(DevBrokerTest, AdvertisedAddressesAreAllClientsSee) {
  DevBrokerOptions o = AnyPort();
  o.brokers = 2;
  o.advertise_host = "localhost";
  auto broker = DevBroker::Start(o);
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string bootstrap = (*broker)->bootstrap();
  ASSERT_THAT(bootstrap, ::testing::StartsWith("localhost:"));

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof(err)),
            RD_KAFKA_CONF_OK);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  ASSERT_NE(rk, nullptr) << err;
  const rd_kafka_metadata_t* md = nullptr;
  ASSERT_EQ(rd_kafka_metadata(rk, 1, nullptr, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  std::set<std::string> seen;
  for (int i = 0; i < md->broker_cnt; ++i) {
    seen.insert(absl::StrCat(md->brokers[i].host, ":", md->brokers[i].port));
  }
  rd_kafka_metadata_destroy(md);
  rd_kafka_destroy(rk);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen.count(bootstrap)) << "broker 1 is the bootstrap relay";
  std::set<std::string> mock_ports;
  for (absl::string_view m : absl::StrSplit((*broker)->mock_bootstrap(), ',')) {
    mock_ports.insert(std::string(m.substr(m.rfind(':'))));
  }
  for (const std::string& b : seen) {
    EXPECT_THAT(b, ::testing::StartsWith("localhost:"));
    EXPECT_FALSE(mock_ports.count(b.substr(b.find(':')))) << b << " is a mock broker's own port";
  }

  ProduceAndConsume(bootstrap, "devbroker-advertised-test");
  EXPECT_GE((*broker)->connections(), 2) << "clients talk to both brokers through their relays";
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
  options.env = {{"ISS_DEVBROKER_ADDR", "127.0.0.1:0"}, {"ISS_ADDRESS_FILE", addr_file}};
  auto child = testing::ChildProcess::Spawn(options);
  ASSERT_TRUE(child.ok()) << child.status();
  std::string address;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto read = ReadAddressFile(addr_file);
        if (read.ok()) address = (*read)["kafka"];
        return !address.empty();
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

// As the container stand-in for Redpanda runs it: relays on fixed ports named
// by the advertised host, and /readyz for the compose health check.
TEST(DevBrokerBinaryTest, AdvertisesItsHostAndServesReadyz) {
  testing::ChildProcess::Options options;
  options.binary = ISS_DEVBROKER_BINARY;
  options.env = {{"ISS_DEVBROKER_ADVERTISE_HOST", "localhost"}};
  options.listeners = {{"kafka", "ISS_DEVBROKER_ADDR"}, {"ops", "ISS_DEVBROKER_OPS_ADDR"}};
  auto child = testing::ChildProcess::Spawn(options);
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE((*child)->WaitForAddresses(absl::Seconds(20)).ok()) << (*child)->ReadLog();
  const int kafka_port = (*child)->port("kafka"), ops_port = (*child)->port("ops");
  ASSERT_TRUE(testing::WaitHttpOk(ops_port, "/readyz", absl::Seconds(20)).ok())
      << (*child)->ReadLog();
  auto ready = testing::HttpGet(ops_port, "/readyz");
  ASSERT_TRUE(ready.ok());
  EXPECT_THAT(ready->second, HasSubstr(absl::StrCat("localhost:", kafka_port)));
  ProduceAndConsume(absl::StrCat("localhost:", kafka_port), "devbroker-binary-test");
  EXPECT_EQ((*child)->Stop(absl::Seconds(10)), 0);
  EXPECT_THAT((*child)->ReadLog(),
              HasSubstr(absl::StrCat("ISS_KAFKA_BROKERS=localhost:", kafka_port)));
}

TEST(DevBrokerBinaryTest, RejectsABadOpsAddress) {
  testing::ChildProcess::Options options;
  options.binary = ISS_DEVBROKER_BINARY;
  options.env = {{"ISS_DEVBROKER_ADDR", "127.0.0.1:0"}, {"ISS_DEVBROKER_OPS_ADDR", "no-port"}};
  auto child = testing::ChildProcess::Spawn(options);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ((*child)->WaitExit(absl::Seconds(10)), 2);
  EXPECT_THAT((*child)->ReadLog(), HasSubstr("ISS_DEVBROKER_OPS_ADDR=\"no-port\""));
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

// Proves the fixtures every integration suite builds on: a real PostgreSQL
// server and a Kafka-protocol mock cluster. Talks to them with the plain
// client libraries (libpqxx, librdkafka), not our drivers, so a driver bug
// cannot hide a fixture bug.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/pg_server.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace iss::testing {
namespace {

// ---------------------------------------------------------------- PostgreSQL

TEST(PgServerTest, StartsAndAnswersQueries) {
  PgServer* pg = SharedPgServer();
  ASSERT_NE(pg, nullptr);
  pqxx::connection conn(pg->Dsn());
  pqxx::work txn(conn);
  EXPECT_EQ(txn.exec1("SELECT 40 + 2")[0].as<int>(), 42);
  EXPECT_EQ(txn.exec1("SHOW fsync")[0].as<std::string>(), "off");
  EXPECT_EQ(txn.exec1("SHOW server_encoding")[0].as<std::string>(), "UTF8");
}

TEST(PgServerTest, FreshDatabasesAreSeparate) {
  const std::string a = FreshDatabaseDsn();
  const std::string b = FreshDatabaseDsn();
  ASSERT_FALSE(a.empty());
  ASSERT_NE(a, b);
  {
    pqxx::connection conn(a);
    pqxx::work txn(conn);
    txn.exec0("CREATE TABLE t (id int)");
    txn.commit();
  }
  pqxx::connection conn(b);
  pqxx::work txn(conn);
  EXPECT_EQ(txn.exec1("SELECT count(*) FROM pg_tables WHERE tablename = 't'")[0].as<int>(), 0);
}

TEST(PgServerTest, RejectsBadDatabaseNames) {
  PgServer* pg = SharedPgServer();
  ASSERT_NE(pg, nullptr);
  EXPECT_EQ(pg->CreateDatabase("x; DROP DATABASE postgres").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pg->CreateDatabase("").status().code(), absl::StatusCode::kInvalidArgument);
}

// Its own server: stopping the shared one would disturb the other tests.
TEST(PgServerTest, StopRefusesConnectionsAndRestartKeepsData) {
  auto pg = PgServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto dsn = (*pg)->CreateDatabase("keep");
  ASSERT_TRUE(dsn.ok()) << dsn.status();
  {
    pqxx::connection conn(*dsn);
    pqxx::work txn(conn);
    txn.exec0("CREATE TABLE kept (id int primary key, v text)");
    txn.exec0("INSERT INTO kept VALUES (1, 'one'), (2, 'two')");
    txn.commit();
  }
  ASSERT_TRUE((*pg)->Stop().ok());
  EXPECT_THROW(pqxx::connection{*dsn}, pqxx::broken_connection);
  ASSERT_TRUE((*pg)->Restart().ok());
  pqxx::connection conn(*dsn);
  pqxx::work txn(conn);
  EXPECT_EQ(txn.exec1("SELECT string_agg(v, ',' ORDER BY id) FROM kept")[0].as<std::string>(),
            "one,two");
}

// The parent-death signal is per forking thread: a server started from a
// thread that ends must keep running.
TEST(PgServerTest, OutlivesTheThreadThatStartedIt) {
  absl::StatusOr<std::unique_ptr<PgServer>> pg;
  std::thread([&] { pg = PgServer::Start(); }).join();
  ASSERT_TRUE(pg.ok()) << pg.status();
  pqxx::connection conn((*pg)->Dsn());
  pqxx::work txn(conn);
  EXPECT_EQ(txn.exec1("SELECT 1")[0].as<int>(), 1);
}

TEST(PgServerTest, DestructorRemovesTheDataDirectory) {
  std::string dir;
  {
    auto pg = PgServer::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    dir = (*pg)->dir();
    ASSERT_EQ(access(dir.c_str(), F_OK), 0);
  }
  EXPECT_NE(access(dir.c_str(), F_OK), 0);
}

// ---------------------------------------------------------------------- Kafka

// A bare librdkafka producer (lz4, idempotent, infinite message timeout)
// counting its delivery reports.
class RawProducer {
 public:
  explicit RawProducer(const std::string& bootstrap) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    for (auto [k, v] : std::map<std::string, std::string>{{"bootstrap.servers", bootstrap},
                                                          {"compression.type", "lz4"},
                                                          {"enable.idempotence", "true"},
                                                          {"message.timeout.ms", "0"},
                                                          {"linger.ms", "5"},
                                                          {"log_level", "3"}}) {
      EXPECT_EQ(rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)), RD_KAFKA_CONF_OK)
          << k << ": " << err;
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* self) {
      auto* p = static_cast<RawProducer*>(self);
      (m->err ? p->failed : p->delivered).fetch_add(1);
    });
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    EXPECT_NE(rk_, nullptr) << err;
  }
  ~RawProducer() { rd_kafka_destroy(rk_); }

  void Produce(const std::string& topic, const std::string& key, const std::string& value) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
  }
  void Poll() { rd_kafka_poll(rk_, 10); }
  bool Flush(int ms) { return rd_kafka_flush(rk_, ms) == RD_KAFKA_RESP_ERR_NO_ERROR; }

  std::atomic<int> delivered{0};
  std::atomic<int> failed{0};

 private:
  rd_kafka_t* rk_ = nullptr;
};

// Each key must appear exactly once, with its own value.
void ExpectEachKeyOnce(const std::vector<KafkaCluster::Record>& records, int n) {
  std::map<std::string, int> seen;
  for (const auto& r : records) {
    ++seen[r.key];
    EXPECT_EQ(r.value, "value-" + r.key);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(seen[absl::StrCat("k", i)], 1) << "key k" << i;
  }
}

TEST(KafkaClusterTest, ProducedKeyedMessagesAreAllReadBack) {
  auto cluster = KafkaCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE((*cluster)->CreateTopic("fixture.topic", 4).ok());
  constexpr int kN = 2000;
  RawProducer producer((*cluster)->bootstrap());
  for (int i = 0; i < kN; ++i) {
    const std::string key = absl::StrCat("k", i);
    producer.Produce("fixture.topic", key, "value-" + key);
  }
  ASSERT_TRUE(producer.Flush(30000));
  EXPECT_EQ(producer.delivered.load(), kN);
  const auto records = (*cluster)->ReadAll("fixture.topic", kN, absl::Seconds(30));
  ExpectEachKeyOnce(records, kN);
  std::set<int32_t> partitions;
  for (const auto& r : records) partitions.insert(r.partition);
  EXPECT_EQ(partitions.size(), 4u) << "keys should spread over all partitions";
}

TEST(KafkaClusterTest, ReadAllStopsAtTimeoutWhenFewerArrive) {
  auto cluster = KafkaCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE((*cluster)->CreateTopic("fixture.few", 2).ok());
  RawProducer producer((*cluster)->bootstrap());
  producer.Produce("fixture.few", "k0", "value-k0");
  ASSERT_TRUE(producer.Flush(30000));
  const auto records = (*cluster)->ReadAll("fixture.few", 5, absl::Seconds(2));
  EXPECT_EQ(records.size(), 1u);
}

TEST(KafkaClusterTest, BrokerDownHoldsMessagesAndUpDeliversThemOnce) {
  auto cluster = KafkaCluster::Start(3);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE((*cluster)->CreateTopic("fixture.outage", 6, 3).ok());
  RawProducer producer((*cluster)->bootstrap());
  producer.Produce("fixture.outage", "warmup", "value-warmup");
  ASSERT_TRUE(producer.Flush(30000));

  ASSERT_TRUE((*cluster)->SetBrokerDown(2).ok());
  constexpr int kN = 300;
  for (int i = 0; i < kN; ++i) {
    const std::string key = absl::StrCat("k", i);
    producer.Produce("fixture.outage", key, "value-" + key);
  }
  // Nothing may be acknowledged while the only leader is down.
  EXPECT_FALSE(WaitFor(
      [&] {
        producer.Poll();
        return producer.delivered.load() > 1 || producer.failed.load() > 0;
      },
      absl::Seconds(2)));
  ASSERT_TRUE((*cluster)->SetBrokerUp(2).ok());
  ASSERT_TRUE(producer.Flush(60000));
  EXPECT_EQ(producer.delivered.load(), kN + 1);
  EXPECT_EQ(producer.failed.load(), 0);

  auto records = (*cluster)->ReadAll("fixture.outage", kN + 1, absl::Seconds(30));
  std::erase_if(records, [](const auto& r) { return r.key == "warmup"; });
  ExpectEachKeyOnce(records, kN);
}

TEST(KafkaClusterTest, InjectedProduceErrorsAreRetriedWithoutDuplicates) {
  auto cluster = KafkaCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE((*cluster)->CreateTopic("fixture.errors", 2).ok());
  RawProducer producer((*cluster)->bootstrap());
  producer.Produce("fixture.errors", "warmup", "value-warmup");
  ASSERT_TRUE(producer.Flush(30000));
  constexpr int16_t kProduceApi = 0;
  (*cluster)->PushRequestErrors(kProduceApi, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, 3);
  constexpr int kN = 100;
  for (int i = 0; i < kN; ++i) {
    const std::string key = absl::StrCat("k", i);
    producer.Produce("fixture.errors", key, "value-" + key);
  }
  ASSERT_TRUE(producer.Flush(60000));
  EXPECT_EQ(producer.failed.load(), 0);
  auto records = (*cluster)->ReadAll("fixture.errors", kN + 1, absl::Seconds(30));
  std::erase_if(records, [](const auto& r) { return r.key == "warmup"; });
  ExpectEachKeyOnce(records, kN);
}

TEST(KafkaClusterTest, ReadAllOfUnknownTopicIsEmpty) {
  auto cluster = KafkaCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EXPECT_TRUE((*cluster)->ReadAll("no.such.topic", 1, absl::Seconds(1)).empty());
}

// A TCP socket on 127.0.0.1:`port`, SO_REUSEPORT if `reuse_port`; -1 if bind fails.
int BindLoopback(int port, bool reuse_port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (reuse_port) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool Connects(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

TEST(ReservedPortTest, OnlyAReusePortListenerBindsItAndAloneAcceptsOnIt) {
  auto reserved = ReservedPort::Bind();
  ASSERT_TRUE(reserved.ok()) << reserved.status();
  const int port = reserved->port();
  ASSERT_GT(port, 0);
  EXPECT_FALSE(Connects(port)) << "nothing listens on a reserved port";
  EXPECT_EQ(BindLoopback(port, /*reuse_port=*/false), -1) << "anyone else's bind fails";

  const int listener = BindLoopback(port, /*reuse_port=*/true);
  ASSERT_GE(listener, 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  EXPECT_TRUE(Connects(port));
  ::close(listener);  // a restart: the port is still held
  EXPECT_EQ(BindLoopback(port, /*reuse_port=*/false), -1);
  const int again = BindLoopback(port, /*reuse_port=*/true);
  EXPECT_GE(again, 0);
  ::close(again);
}

}  // namespace
}  // namespace iss::testing

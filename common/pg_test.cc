// Integration tests of the PostgreSQL driver pieces against a real,
// throwaway PostgreSQL server (tests/support/pg_server.h).
#include "common/pg.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"

#include "tests/support/pg_server.h"

namespace iss::pg {
namespace {

using ::iss::testing::FreshDatabaseDsn;
using ::testing::HasSubstr;

std::unique_ptr<pqxx::connection> Open(const std::string& dsn) {
  auto conn = Connect(dsn);
  EXPECT_TRUE(conn.ok()) << conn.status();
  return conn.ok() ? std::move(*conn) : nullptr;
}

int QueryInt(pqxx::connection& conn, const std::string& sql) {
  pqxx::read_transaction txn(conn);
  return txn.exec1(sql)[0].as<int>();
}

TEST(EmbeddedMigrationsTest, AreNumberedFromTheirFileNamesInOrder) {
  const auto& migrations = EmbeddedMigrations();
  ASSERT_FALSE(migrations.empty());
  EXPECT_EQ(migrations.front().version, 1);
  EXPECT_EQ(migrations.front().name, "0001_core.sql");
  EXPECT_THAT(migrations.front().sql, HasSubstr("CREATE TABLE consumer_offsets"));
  for (size_t i = 1; i < migrations.size(); ++i) {
    EXPECT_LT(migrations[i - 1].version, migrations[i].version);
  }
}

// libpq's parse error quotes the bad token, here the password: it must not be
// passed on, and a malformed string is not worth retrying.
TEST(ConnectTest, MalformedDsnIsInvalidArgumentWithoutItsSecret) {
  for (const std::string dsn : {"postgresql://iss:hunter2%zzSECRET@127.0.0.1:1/db",
                                "host=127.0.0.1 password='hunter2SECRET"}) {
    auto conn = Connect(dsn);
    EXPECT_EQ(conn.status().code(), absl::StatusCode::kInvalidArgument) << dsn;
    EXPECT_THAT(std::string(conn.status().message()), HasSubstr("ISS_PG_DSN: malformed"));
    EXPECT_THAT(std::string(conn.status().message()), ::testing::Not(HasSubstr("SECRET")));
    EXPECT_EQ(ValidateDsn(dsn).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(ValidateDsn(dsn).message()), ::testing::Not(HasSubstr("SECRET")));
  }
  EXPECT_TRUE(ValidateDsn("postgresql://iss:hunter2%41@db.example/iss").ok());
  EXPECT_TRUE(ValidateDsn("host=db user=iss password=hunter2 dbname=iss").ok());
}

TEST(ConnectTest, AddsAConnectTimeoutWhereTheStringSetsNone) {
  const std::string t = absl::StrCat("connect_timeout=", kConnectTimeoutSeconds);
  EXPECT_EQ(WithConnectTimeout("postgresql://iss:pw@db:5432/iss"),
            "postgresql://iss:pw@db:5432/iss?" + t);
  EXPECT_EQ(WithConnectTimeout("postgres://db/iss?sslmode=disable"),
            "postgres://db/iss?sslmode=disable&" + t);
  EXPECT_EQ(WithConnectTimeout("host=db dbname=iss"), "host=db dbname=iss " + t);
  // The string's own setting wins, in either form.
  EXPECT_EQ(WithConnectTimeout("postgresql://db/iss?connect_timeout=3"),
            "postgresql://db/iss?connect_timeout=3");
  EXPECT_EQ(WithConnectTimeout("host=db connect_timeout=3"), "host=db connect_timeout=3");
  // What it hands libpq still parses.
  EXPECT_TRUE(ValidateDsn(WithConnectTimeout("postgres://db/iss?sslmode=disable")).ok());
}

// A server that accepts the TCP connection and then says nothing (a wedged
// host, a black-holing proxy) must not hold the caller forever.
TEST(ConnectTest, ASilentServerIsUnavailableWithinTheTimeout) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(listen(fd, 8), 0);  // the kernel completes handshakes; nobody reads
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const absl::Time started = absl::Now();
  auto conn = Connect(absl::StrCat("postgresql://iss@127.0.0.1:", ntohs(addr.sin_port),
                                   "/iss?connect_timeout=2&sslmode=disable&gssencmode=disable"));
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable) << conn.status();
  EXPECT_LT(absl::Now() - started, absl::Seconds(8));
  close(fd);
}

// Connection failures (nothing listening; a wrong password on a real server)
// name the server but never the password.
TEST(ConnectTest, ConnectionErrorsDoNotShowThePassword) {
  auto conn = Connect("postgresql://iss:hunter2SECRET@127.0.0.1:1/db?connect_timeout=2");
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(conn.status().message()), ::testing::Not(HasSubstr("SECRET")));
  const std::string dsn = FreshDatabaseDsn();
  // Whatever the server's auth method, a user that does not exist is refused.
  conn = Connect(absl::StrCat(dsn, " user=nosuchuser password=hunter2SECRET"));
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(conn.status().message()), ::testing::Not(HasSubstr("SECRET")));
}

TEST(ConnectTest, UnreachableServerIsUnavailable) {
  auto conn = Connect("host=127.0.0.1 port=1 user=postgres dbname=x connect_timeout=2");
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(conn.status().message()), HasSubstr("connecting to PostgreSQL"));
}

TEST(MigrateTest, FreshDatabaseGetsEveryMigrationAndRerunIsANoOp) {
  auto conn = Open(FreshDatabaseDsn());
  ASSERT_NE(conn, nullptr);
  EXPECT_EQ(SchemaVersion(*conn).value_or(-1), 0);
  const int newest = EmbeddedMigrations().back().version;
  auto version = Migrate(*conn);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, newest);
  EXPECT_EQ(SchemaVersion(*conn).value_or(-1), newest);
  EXPECT_EQ(QueryInt(*conn, "SELECT count(*) FROM schema_migrations"),
            static_cast<int>(EmbeddedMigrations().size()));
  EXPECT_EQ(QueryInt(*conn, "SELECT count(*) FROM consumer_offsets"), 0);

  auto again = Migrate(*conn);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, newest);
  EXPECT_EQ(QueryInt(*conn, "SELECT count(*) FROM schema_migrations"),
            static_cast<int>(EmbeddedMigrations().size()));
}

TEST(MigrateTest, RefusesADatabaseNewerThanTheCode) {
  auto conn = Open(FreshDatabaseDsn());
  ASSERT_NE(conn, nullptr);
  const std::vector<Migration> v1 = {{1, "0001_a.sql", "CREATE TABLE a (x int);"}};
  ASSERT_TRUE(Migrate(*conn, v1).ok());
  const std::vector<Migration> v2 = {v1[0], {2, "0002_b.sql", "CREATE TABLE b (x int);"}};
  ASSERT_EQ(Migrate(*conn, v2).value_or(-1), 2);
  auto old_binary = Migrate(*conn, v1);
  EXPECT_EQ(old_binary.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(old_binary.status().message()), HasSubstr("version 2 is newer"));
  EXPECT_EQ(SchemaVersion(*conn).value_or(-1), 2);
}

TEST(MigrateTest, FailingMigrationRollsBackAndNamesItsFile) {
  auto conn = Open(FreshDatabaseDsn());
  ASSERT_NE(conn, nullptr);
  const std::vector<Migration> migrations = {
      {1, "0001_a.sql", "CREATE TABLE a (x int);"},
      {2, "0002_broken.sql", "CREATE TABLE b (x int); SELECT * FROM no_such_table;"},
      {3, "0003_c.sql", "CREATE TABLE c (x int);"},
  };
  auto result = Migrate(*conn, migrations);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("0002_broken.sql"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("42P01"));  // undefined_table
  EXPECT_EQ(SchemaVersion(*conn).value_or(-1), 1);
  EXPECT_EQ(QueryInt(*conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'b'"), 0)
      << "the failed migration's first statement must be rolled back";
  EXPECT_EQ(QueryInt(*conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'c'"), 0);
  EXPECT_EQ(QueryInt(*conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'a'"), 1);
  // The lock was released: a fixed set applies.
  auto fixed = migrations;
  fixed[1].sql = "CREATE TABLE b (x int);";
  EXPECT_EQ(Migrate(*conn, fixed).value_or(-1), 3);
}

TEST(MigrateTest, RejectsBadMigrationLists) {
  auto conn = Open(FreshDatabaseDsn());
  ASSERT_NE(conn, nullptr);
  EXPECT_EQ(Migrate(*conn, {{0, "add_things.sql", "SELECT 1"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Migrate(*conn, {{1, "0001_a.sql", "SELECT 1"}, {1, "0001_b.sql", "SELECT 1"}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SchemaVersion(*conn).value_or(-1), 0) << "nothing applied";
}

// Two processes starting at once must not both apply a migration: the
// second waits on the advisory lock, then finds nothing to do.
TEST(MigrateTest, ConcurrentMigratorsApplyEachMigrationOnce) {
  const std::string dsn = FreshDatabaseDsn();
  // Not idempotent on purpose: applying it twice fails.
  const std::vector<Migration> migrations = {
      {1, "0001_slow.sql", "CREATE TABLE once (x int); SELECT pg_sleep(0.3);"},
      {2, "0002_more.sql", "CREATE TABLE twice_would_fail (x int);"}};
  absl::StatusOr<int> results[2] = {0, 0};
  std::thread threads[2];
  for (int i = 0; i < 2; ++i) {
    threads[i] = std::thread([&, i] {
      auto conn = Connect(dsn);
      results[i] = conn.ok() ? Migrate(**conn, migrations) : conn.status();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, 2);
  }
}

TEST(GuardTest, MapsRealServerErrors) {
  const std::string dsn = FreshDatabaseDsn();
  auto conn = Open(dsn);
  ASSERT_NE(conn, nullptr);

  absl::Status syntax = Guard([&] {
    pqxx::work txn(*conn);
    txn.exec("SELEC 1");
  });
  EXPECT_EQ(syntax.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(syntax.message()), HasSubstr("42601"));

  EXPECT_EQ(Guard([] { throw std::runtime_error("boom"); }).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Guard([] { throw 42; }).code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(Guard([] {}).ok());

  // Serialization failure: two SERIALIZABLE transactions each read what the
  // other writes.
  {
    pqxx::work setup(*conn);
    setup.exec0("CREATE TABLE s (k int)");
    setup.commit();
  }
  auto other = Open(dsn);
  ASSERT_NE(other, nullptr);
  pqxx::work t1(*conn), t2(*other);
  t1.exec0("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE");
  t2.exec0("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE");
  t1.exec("SELECT count(*) FROM s WHERE k = 2");
  t2.exec("SELECT count(*) FROM s WHERE k = 1");
  t1.exec0("INSERT INTO s VALUES (1)");
  t2.exec0("INSERT INTO s VALUES (2)");
  t1.commit();
  absl::Status serial = Guard([&] { t2.commit(); });
  EXPECT_EQ(serial.code(), absl::StatusCode::kAborted) << serial;
}

TEST(GuardTest, LostConnectionIsUnavailable) {
  const std::string dsn = FreshDatabaseDsn();
  auto victim = Open(dsn);
  auto killer = Open(dsn);
  ASSERT_TRUE(victim && killer);
  {
    pqxx::nontransaction txn(*killer);
    txn.exec_params("SELECT pg_terminate_backend($1)", victim->backendpid());
  }
  absl::Status s = Guard([&] {
    pqxx::work txn(*victim);
    txn.exec("SELECT 1");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(SchemaVersion(*victim).status().code(), absl::StatusCode::kUnavailable);
}

TEST(OffsetStoreTest, RoundTripInATransactionAndRollbackKeepsTheOldValue) {
  auto conn = Open(FreshDatabaseDsn());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(Migrate(*conn).ok());
  const OffsetStore store("sink"), other_group("other");
  const kafka::TopicPartition p0{"telemetry.raw.v1", 0}, p7{"telemetry.raw.v1", 7},
      never{"telemetry.raw.v1", 3};

  auto empty = store.Load(*conn, {p0, p7});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());

  ASSERT_TRUE(Guard([&] {
                pqxx::work txn(*conn);
                store.Save(txn, {{p0, 10}, {p7, 700}});
                other_group.Save(txn, {{p0, 99}});
                txn.commit();
              }).ok());
  auto loaded = store.Load(*conn, {p0, p7, never});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, (std::map<kafka::TopicPartition, int64_t>{{p0, 10}, {p7, 700}}));
  EXPECT_EQ(store.Load(*conn, {p7}).value(), (std::map<kafka::TopicPartition, int64_t>{{p7, 700}}))
      << "only the partitions asked for";
  EXPECT_EQ(other_group.Load(*conn, {p0, p7}).value(),
            (std::map<kafka::TopicPartition, int64_t>{{p0, 99}}));

  // Update then abort: the stored offsets are the committed ones.
  ASSERT_TRUE(Guard([&] {
                pqxx::work txn(*conn);
                store.Save(txn, {{p0, 20}});
                txn.abort();
              }).ok());
  EXPECT_EQ(store.Load(*conn, {p0}).value().at(p0), 10);
  // A failing statement later in the same transaction takes the offsets down too.
  absl::Status failed = Guard([&] {
    pqxx::work txn(*conn);
    store.Save(txn, {{p0, 30}});
    txn.exec("INSERT INTO no_such_table VALUES (1)");
    txn.commit();
  });
  EXPECT_EQ(failed.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(store.Load(*conn, {p0}).value().at(p0), 10);

  ASSERT_TRUE(Guard([&] {
                pqxx::work txn(*conn);
                store.Save(txn, {{p0, 11}});
                txn.commit();
              }).ok());
  EXPECT_EQ(store.Load(*conn, {p0}).value().at(p0), 11);
  // Bad input is refused by the table, not stored.
  EXPECT_FALSE(Guard([&] {
                 pqxx::work txn(*conn);
                 store.Save(txn, {{p0, -5}});
                 txn.commit();
               }).ok());
}

}  // namespace
}  // namespace iss::pg

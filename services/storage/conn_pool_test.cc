// The query connection pool against a real PostgreSQL server: warming opens
// connections before any query, bounded by the pool's size, and a server that
// cannot be reached leaves the pool usable.
#include "services/storage/conn_pool.h"

#include <gtest/gtest.h>

#include "services/storage/test_util.h"

namespace iss::storage {
namespace {

// Sessions of this database other than the one asking.
int OtherSessions(const std::string& dsn) {
  auto conn = pg::Connect(dsn);
  EXPECT_TRUE(conn.ok()) << conn.status();
  if (!conn.ok()) return -1;
  pqxx::read_transaction txn(**conn);
  return txn
      .exec1(
          "SELECT count(*) FROM pg_stat_activity"
          " WHERE datname = current_database() AND pid <> pg_backend_pid()")[0]
      .as<int>();
}

TEST(ConnectionPoolTest, WarmOpensConnectionsUpToItsSizeAndQueriesReuseThem) {
  const std::string dsn = testutil::MigratedDsn();
  ASSERT_FALSE(dsn.empty());
  ConnectionPool pool(dsn, 2);
  ASSERT_EQ(OtherSessions(dsn), 0);
  ASSERT_TRUE(pool.Warm(1).ok());
  EXPECT_EQ(OtherSessions(dsn), 1);
  ASSERT_TRUE(pool.Warm(5).ok());  // capped at the size
  EXPECT_EQ(OtherSessions(dsn), 2);
  int backend = 0;
  ASSERT_TRUE(pool.Run([&](pqxx::connection& c) { backend = c.backendpid(); }).ok());
  EXPECT_NE(backend, 0);
  EXPECT_EQ(OtherSessions(dsn), 2);  // served by a warm connection, none opened
}

TEST(ConnectionPoolTest, AFailedWarmLeavesThePoolUsable) {
  const std::string dsn = testutil::MigratedDsn();
  ASSERT_FALSE(dsn.empty());
  ConnectionPool unreachable("postgresql://iss@127.0.0.1:1/iss?connect_timeout=2", 1);
  EXPECT_EQ(unreachable.Warm(1).code(), absl::StatusCode::kUnavailable);
  // The slot it reserved was given back: a later Run gets to try (and fail) at
  // once instead of waiting for a slot that never frees.
  const absl::Time started = absl::Now();
  EXPECT_EQ(unreachable.Run([](pqxx::connection&) {}, absl::Seconds(30)).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - started, absl::Seconds(10));
}

}  // namespace
}  // namespace iss::storage

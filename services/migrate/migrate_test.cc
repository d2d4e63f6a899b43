// iss-migrate as a program: exit codes and output against a real PostgreSQL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/pg.h"
#include "tests/support/pg_server.h"
#include "tests/support/process.h"

namespace iss {
namespace {

using ::testing::HasSubstr;

struct Outcome {
  std::optional<int> exit;
  std::string output;
};

Outcome RunMigrate(const std::map<std::string, std::string>& env,
                   std::vector<std::string> args = {}) {
  testing::ChildProcess::Options options;
  options.binary = ISS_MIGRATE_BINARY;
  options.args = std::move(args);
  options.env = env;
  auto child = testing::ChildProcess::Spawn(options);
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return {};
  Outcome run;
  run.exit = (*child)->WaitExit(absl::Seconds(30));
  run.output = (*child)->ReadLog();
  return run;
}

int Newest() { return pg::EmbeddedMigrations().back().version; }

TEST(MigrateBinaryTest, ChecksMigratesAndChecksAgain) {
  const std::string dsn = testing::FreshDatabaseDsn();
  ASSERT_FALSE(dsn.empty());
  Outcome before = RunMigrate({{"ISS_PG_DSN", dsn}}, {"--check"});
  EXPECT_EQ(before.exit, 3) << before.output;
  EXPECT_THAT(before.output,
              HasSubstr("database version 0, code version " + std::to_string(Newest())));
  EXPECT_THAT(before.output, HasSubstr("0001_core.sql"));

  Outcome migrate = RunMigrate({{"ISS_PG_DSN", dsn}});
  EXPECT_EQ(migrate.exit, 0) << migrate.output;
  auto conn = pg::Connect(dsn);
  ASSERT_TRUE(conn.ok());
  EXPECT_EQ(pg::SchemaVersion(**conn).value_or(-1), Newest());

  Outcome after = RunMigrate({{"ISS_PG_DSN", dsn}}, {"--check"});
  EXPECT_EQ(after.exit, 0) << after.output;
  EXPECT_THAT(after.output, HasSubstr("up to date"));
  EXPECT_EQ(RunMigrate({{"ISS_PG_DSN", dsn}}).exit, 0) << "re-running is a no-op";
}

TEST(MigrateBinaryTest, RefusesADatabaseNewerThanTheCode) {
  const std::string dsn = testing::FreshDatabaseDsn();
  ASSERT_EQ(RunMigrate({{"ISS_PG_DSN", dsn}}).exit, 0);
  {
    pqxx::connection conn(dsn);
    pqxx::work txn(conn);
    txn.exec0("INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')");
    txn.commit();
  }
  Outcome check = RunMigrate({{"ISS_PG_DSN", dsn}}, {"--check"});
  EXPECT_EQ(check.exit, 4) << check.output;
  EXPECT_THAT(check.output, HasSubstr("database is newer"));
  Outcome migrate = RunMigrate({{"ISS_PG_DSN", dsn}});
  EXPECT_EQ(migrate.exit, 1) << migrate.output;
  EXPECT_THAT(migrate.output, HasSubstr("9999 is newer"));
}

TEST(MigrateBinaryTest, BadConfigurationAndUnreachableDatabase) {
  Outcome missing = RunMigrate({{"ISS_PG_DSN", ""}});
  EXPECT_EQ(missing.exit, 2) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr("ISS_PG_DSN"));

  Outcome unknown = RunMigrate({{"ISS_PG_DSN", "host=127.0.0.1"}}, {"--frobnicate"});
  EXPECT_EQ(unknown.exit, 2) << unknown.output;

  Outcome unreachable =
      RunMigrate({{"ISS_PG_DSN", "host=127.0.0.1 port=1 dbname=x connect_timeout=1"},
                  {"ISS_MIGRATE_CONNECT_TIMEOUT", "0"}});
  EXPECT_EQ(unreachable.exit, 1) << unreachable.output;
  EXPECT_THAT(unreachable.output, HasSubstr("cannot connect to PostgreSQL"));
}

}  // namespace
}  // namespace iss

// iss-migrate: applies the schema migrations compiled into the binary
// (migrations/NNNN_name.sql) to the database at ISS_PG_DSN, or, with --check,
// only reports whether the database matches the code.
//
//   args -> config -> connect (retrying until the deadline) -> check | migrate
//
// Exit codes: 0 up to date / migrated; 1 failure (connection, a migration, or
// a database newer than the code); 2 bad configuration or arguments;
// --check: 3 migrations pending, 4 database newer than the code.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/shutdown.h"

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitPending = 3;
constexpr int kExitDatabaseNewer = 4;

int Check(pqxx::connection& conn) {
  auto db = iss::pg::SchemaVersion(conn);
  if (!db.ok()) {
    iss::log::Error("cannot read the schema version",
                    {{"error", std::string(db.status().message())}});
    return kExitFailure;
  }
  const auto& migrations = iss::pg::EmbeddedMigrations();
  const int code = migrations.empty() ? 0 : migrations.back().version;
  std::vector<std::string> pending;
  for (const auto& m : migrations) {
    if (m.version > *db) pending.push_back(m.name);
  }
  std::string verdict = "up to date";
  int rc = 0;
  if (*db > code) {
    verdict = "database is newer than this binary";
    rc = kExitDatabaseNewer;
  } else if (!pending.empty()) {
    verdict = absl::StrCat(pending.size(), " pending (", absl::StrJoin(pending, ", "), ")");
    rc = kExitPending;
  }
  std::cout << "database version " << *db << ", code version " << code << ": " << verdict
            << std::endl;
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace iss;
  InstallShutdownSignals();

  // Our one flag; everything else goes to EnvConfig (--help, unknown -> exit 2).
  bool check = false;
  std::vector<char*> args = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--check") {
      check = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      std::cout << "usage: iss-migrate [--check]\n"
                   "  (no flag)  apply pending migrations\n"
                   "  --check    print database and code versions; exit 0 if equal, 3 if "
                   "migrations are pending, 4 if the database is newer\n\n";
    }
    args.push_back(argv[i]);
  }

  std::string dsn, log_level = "info";
  absl::Duration connect_timeout = absl::Seconds(30);
  EnvConfig cfg("migrate");
  cfg.BindRequired(&dsn, "ISS_PG_DSN", "PostgreSQL connection string", /*secret=*/true);
  cfg.Bind(&connect_timeout, "ISS_MIGRATE_CONNECT_TIMEOUT", absl::ZeroDuration(), absl::Hours(1),
           "How long to keep retrying the first connection");
  cfg.BindEnum(&log_level, "ISS_LOG_LEVEL", {"debug", "info", "warn", "error"},
               "Minimum log level");
  // An empty DSN would make libpq fall back to its defaults silently, and a
  // malformed one never gets better: refuse both now rather than retry.
  cfg.Check([&dsn]() -> std::string {
    if (dsn.empty()) return "ISS_PG_DSN=\"\": expected a PostgreSQL connection string";
    const absl::Status s = pg::ValidateDsn(dsn);
    return s.ok() ? "" : std::string(s.message());
  });
  cfg.LoadOrExit(static_cast<int>(args.size()), args.data());
  log::Init("migrate", log::Level::kInfo);
  (void)log::SetLevel(log_level);

  // PostgreSQL may still be starting (compose, CI).
  auto conn = pg::ConnectWithRetry(dsn, connect_timeout);
  if (!conn.ok()) {
    log::Error("cannot connect to PostgreSQL", {{"error", std::string(conn.status().message())}});
    return kExitFailure;
  }
  if (check) return Check(**conn);

  auto version = pg::Migrate(**conn);
  if (!version.ok()) {
    log::Error("migration failed", {{"error", std::string(version.status().message())}});
    return kExitFailure;
  }
  log::Info("database schema up to date", {{"version", *version}});
  return 0;
}

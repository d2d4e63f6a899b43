// The PostgreSQL driver pieces: connections, schema migrations and the
// consumer-offsets store. Every libpqxx call below runs inside Guard(), so no
// pqxx exception leaves this file except from OffsetStore::Save, which runs
// inside the caller's transaction (and so inside the caller's Guard).
#include "common/pg.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/log.h"
#include "common/shutdown.h"
#include "common/strings.h"

namespace iss::pg {

// Generated from migrations/*.sql by cmake/EmbedMigrations.cmake.
struct EmbeddedFile {
  const char* name;
  std::string_view data;
};
extern const EmbeddedFile kEmbeddedMigrationFiles[];
extern const size_t kEmbeddedMigrationCount;

namespace {

// Held (session level) while migrating, so concurrent migrators queue up.
constexpr int64_t kMigrationLockKey = 0x1551'0000'0001;

constexpr char kCreateMigrationsTable[] = R"sql(
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  ))sql";

constexpr char kRecordMigration[] = "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)";

constexpr char kLoadOffsets[] =
    "SELECT topic, partition, next_offset FROM consumer_offsets WHERE group_id = $1";

// One round trip for any number of partitions.
constexpr char kSaveOffsets[] = R"sql(
  INSERT INTO consumer_offsets (group_id, topic, partition, next_offset, updated_at)
  SELECT $1, o.topic, o.partition, o.next_offset, now()
  FROM json_to_recordset($2::json) AS o(topic text, partition integer, next_offset bigint)
  ON CONFLICT (group_id, topic, partition)
  DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = EXCLUDED.updated_at)sql";

// "0007_add_things.sql" -> 7; 0 when the name is not NNNN_name.sql.
int VersionFromName(std::string_view name) {
  const size_t digits = name.find_first_not_of("0123456789");
  if (digits == 0 || digits == std::string_view::npos || name[digits] != '_' || name.size() < 4 ||
      name.substr(name.size() - 4) != ".sql") {
    return 0;
  }
  return std::atoi(std::string(name.substr(0, digits)).c_str());
}

absl::Status ValidateMigrations(const std::vector<Migration>& migrations) {
  std::set<int> versions;
  for (const auto& m : migrations) {
    if (m.version <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("migration file \"", m.name, "\": name must be NNNN_name.sql, NNNN > 0"));
    }
    if (!versions.insert(m.version).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("two migrations have version ", m.version, " (", m.name, ")"));
    }
  }
  return absl::OkStatus();
}

int CurrentVersion(pqxx::transaction_base& txn) {
  const pqxx::row exists = txn.exec1("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists[0].as<bool>()) return 0;
  return txn.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0].as<int>();
}

// Applies the pending migrations; the caller holds the advisory lock.
absl::StatusOr<int> MigrateLocked(pqxx::connection& conn, std::vector<Migration> migrations) {
  std::sort(migrations.begin(), migrations.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  const int newest = migrations.empty() ? 0 : migrations.back().version;
  int current = 0;
  absl::Status s = Guard([&] {
    pqxx::work txn(conn);
    txn.exec0(kCreateMigrationsTable);
    current = CurrentVersion(txn);
    txn.commit();
  });
  if (!s.ok()) return s;
  if (current > newest) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database schema version ", current, " is newer than this binary's newest migration (",
        newest, "): run a newer binary, or migrate down by hand"));
  }
  for (const Migration& m : migrations) {
    if (m.version <= current) continue;
    s = Guard([&] {
      pqxx::work txn(conn);
      txn.exec(m.sql);
      txn.exec_params0(kRecordMigration, m.version, m.name);
      txn.commit();
    });
    if (!s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("migration ", m.name, " failed (rolled back; ",
                                       "database stays at version ", current, "): ", s.message()));
    }
    log::Info("migration applied", {{"version", m.version}, {"name", m.name}});
    current = m.version;
  }
  return current;
}

}  // namespace

const std::vector<Migration>& EmbeddedMigrations() {
  static const std::vector<Migration>* migrations = [] {
    auto* out = new std::vector<Migration>();
    for (size_t i = 0; i < kEmbeddedMigrationCount; ++i) {
      const EmbeddedFile& f = kEmbeddedMigrationFiles[i];
      if (f.name == nullptr || f.name[0] == '\0') continue;  // "no migrations" marker
      out->push_back({VersionFromName(f.name), f.name, std::string(f.data)});
    }
    std::sort(out->begin(), out->end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
    return out;
  }();
  return *migrations;
}

namespace {

// What Connect needs to know of a connection string. libpq's parse error quotes
// the offending part of the string, which may be the password (a stray '%' in
// it, say), so it is dropped unread and never reaches a log or a Status.
struct DsnFacts {
  std::string password;  // "" if none
  bool has_connect_timeout = false;
};

absl::StatusOr<DsnFacts> ParseDsn(const std::string& dsn) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (options == nullptr) {
    return absl::InvalidArgumentError(
        "ISS_PG_DSN: malformed connection string (details withheld: it may contain the "
        "password)");
  }
  DsnFacts facts;
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string_view key(o->keyword);
    if (key == "password") facts.password = o->val;
    if (key == "connect_timeout") facts.has_connect_timeout = true;
  }
  PQconninfoFree(options);
  return facts;
}

std::string AddConnectTimeout(const std::string& dsn, const DsnFacts& facts) {
  if (facts.has_connect_timeout || std::getenv("PGCONNECT_TIMEOUT") != nullptr) return dsn;
  const bool uri = dsn.starts_with("postgresql://") || dsn.starts_with("postgres://");
  if (!uri) return absl::StrCat(dsn, " connect_timeout=", kConnectTimeoutSeconds);
  const char sep = dsn.find('?') == std::string::npos ? '?' : '&';
  return absl::StrCat(dsn, std::string(1, sep), "connect_timeout=", kConnectTimeoutSeconds);
}

}  // namespace

absl::Status ValidateDsn(const std::string& dsn) { return ParseDsn(dsn).status(); }

std::string WithConnectTimeout(const std::string& dsn) {
  absl::StatusOr<DsnFacts> facts = ParseDsn(dsn);
  return facts.ok() ? AddConnectTimeout(dsn, *facts) : dsn;
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect(const std::string& dsn) {
  // A malformed string will not get better by retrying: INVALID_ARGUMENT, not
  // UNAVAILABLE, so retry loops stop and start-up fails.
  absl::StatusOr<DsnFacts> facts = ParseDsn(dsn);
  if (!facts.ok()) return facts.status();
  const std::string conninfo = AddConnectTimeout(dsn, *facts);
  const absl::Time started = absl::Now();
  std::unique_ptr<pqxx::connection> conn;
  absl::Status s = Guard([&] { conn = std::make_unique<pqxx::connection>(conninfo); });
  const absl::Duration took = absl::Now() - started;
  if (!s.ok()) {
    // libpq's connection errors name host, port and user but not the password;
    // redact it anyway should some version or message ever echo it.
    std::string message(s.message());
    if (!facts->password.empty()) absl::StrReplaceAll({{facts->password, "<redacted>"}}, &message);
    // Whatever libpq said, not being able to connect means "try again later".
    return absl::UnavailableError(absl::StrCat("connecting to PostgreSQL (after ",
                                               absl::FormatDuration(took), "): ", message));
  }
  // A local server answers in milliseconds; seconds mean name resolution or the
  // network is struggling, which callers only see as slow queries.
  if (took > absl::Seconds(1)) {
    log::Warn("connecting to PostgreSQL was slow", {{"seconds", absl::ToDoubleSeconds(took)}});
  }
  return conn;
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> ConnectWithRetry(const std::string& dsn,
                                                                   absl::Duration give_up_after) {
  const absl::Time deadline = absl::Now() + give_up_after;
  absl::Duration backoff = absl::Milliseconds(200);
  for (;;) {
    auto conn = Connect(dsn);
    if (conn.ok() || absl::Now() >= deadline) return conn;
    log::Warn("database not reachable yet", {{"error", conn.status().ToString()}});
    if (WaitForShutdownFor(std::min(backoff, deadline - absl::Now()))) {
      return absl::CancelledError("shutdown requested while connecting to PostgreSQL");
    }
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

absl::Status EnsureSchema(pqxx::connection& conn, bool migrate, int need,
                          std::string_view migrate_setting) {
  if (migrate) {
    auto version = Migrate(conn);
    if (!version.ok()) return version.status();
    log::Info("schema migrated", {{"version", *version}});
    return absl::OkStatus();
  }
  auto version = SchemaVersion(conn);
  if (!version.ok()) return version.status();
  if (*version < need) {
    return absl::FailedPreconditionError(absl::StrCat("database at version ", *version, ", need ",
                                                      need, ": run iss-migrate or set ",
                                                      AsAbsl(migrate_setting), "=true"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> SchemaVersion(pqxx::connection& conn) {
  int version = 0;
  absl::Status s = Guard([&] {
    pqxx::read_transaction txn(conn);
    version = CurrentVersion(txn);
  });
  if (!s.ok()) return s;
  return version;
}

absl::StatusOr<int> Migrate(pqxx::connection& conn, const std::vector<Migration>& migrations) {
  if (absl::Status s = ValidateMigrations(migrations); !s.ok()) return s;
  absl::Status s = Guard([&] {
    pqxx::nontransaction txn(conn);
    txn.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
  });
  if (!s.ok()) return s;
  absl::StatusOr<int> result = MigrateLocked(conn, migrations);
  // Session locks die with the session; if unlocking fails the connection is
  // gone and so is the lock.
  (void)Guard([&] {
    pqxx::nontransaction txn(conn);
    txn.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
  });
  return result;
}

absl::Status Guard(const std::function<void()>& fn) {
  try {
    fn();
    return absl::OkStatus();
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(absl::StrCat("PostgreSQL connection lost: ", e.what()));
  } catch (const pqxx::serialization_failure& e) {
    return absl::AbortedError(absl::StrCat("serialization failure (retry): ", e.what()));
  } catch (const pqxx::deadlock_detected& e) {
    return absl::AbortedError(absl::StrCat("deadlock (retry): ", e.what()));
  } catch (const pqxx::statement_completion_unknown& e) {
    return absl::UnknownError(absl::StrCat("statement outcome unknown: ", e.what()));
  } catch (const pqxx::in_doubt_error& e) {
    return absl::UnknownError(absl::StrCat("commit outcome unknown: ", e.what()));
  } catch (const pqxx::sql_error& e) {
    return absl::InternalError(absl::StrCat("SQLSTATE ", e.sqlstate(), ": ", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(e.what());
  } catch (...) {
    return absl::InternalError("unknown exception from the PostgreSQL driver");
  }
}

absl::StatusOr<std::map<kafka::TopicPartition, int64_t>> OffsetStore::Load(
    pqxx::connection& conn, const std::vector<kafka::TopicPartition>& partitions) const {
  const std::set<kafka::TopicPartition> wanted(partitions.begin(), partitions.end());
  std::map<kafka::TopicPartition, int64_t> out;
  absl::Status s = Guard([&] {
    pqxx::read_transaction txn(conn);
    for (const pqxx::row& row : txn.exec_params(kLoadOffsets, group_)) {
      kafka::TopicPartition tp{row[0].as<std::string>(), row[1].as<int32_t>()};
      if (wanted.count(tp)) out[tp] = row[2].as<int64_t>();
    }
  });
  if (!s.ok()) return s;
  return out;
}

void OffsetStore::Save(pqxx::work& txn,
                       const std::map<kafka::TopicPartition, int64_t>& next_offsets) const {
  if (next_offsets.empty()) return;
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& [tp, offset] : next_offsets) {
    rows.push_back({{"topic", tp.topic}, {"partition", tp.partition}, {"next_offset", offset}});
  }
  txn.exec_params0(kSaveOffsets, group_, rows.dump());
}

}  // namespace iss::pg

// Owns: the PostgreSQL pieces shared by the services that store data
// (storage, Pee-Bot): connecting, schema migrations, and the consumer-offsets
// table that makes Kafka -> PostgreSQL exactly-once.
//
// Migrations are the files migrations/NNNN_name.sql, compiled into the binary.
// Each is applied in its own transaction and recorded in schema_migrations;
// Migrate() refuses to touch a database whose version is newer than the code.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/kafka.h"

// Timestamps cross the SQL border as Unix microseconds in a bigint, spelled
// once here for every service's statements (string literals, so statements
// stay named constants: "SELECT " ISS_PG_MICROS("source_ts") " FROM ...").
// Out: date_part (float8 seconds, far cheaper than numeric extract), scaled
// and rounded to the microsecond: exact for any |t| < 2^52 us (years 1827 to
// 2112). In: a bigint parameter, exact (no text, no float).
#define ISS_PG_MICROS(col) "(date_part('epoch', " col ") * 1e6)::bigint"
#define ISS_PG_TIMESTAMP(param) \
  "('epoch'::timestamptz + " param "::bigint * interval '1 microsecond')"

namespace iss::pg {

struct Migration {
  int version = 0;
  std::string name;  // file name
  std::string sql;
};

// The migrations compiled in from migrations/*.sql, by version.
const std::vector<Migration>& EmbeddedMigrations();

// INVALID_ARGUMENT when libpq cannot parse the connection string. The message
// never includes libpq's explanation, which may quote the password. Services
// call it at start-up so a bad ISS_PG_DSN fails fast instead of being retried.
absl::Status ValidateDsn(const std::string& dsn);

// libpq waits for a server forever unless told otherwise: one unanswered
// connection attempt would hold a pool slot, and every query queued behind it,
// past any caller's deadline. Connect() therefore adds connect_timeout=10 to a
// string that sets none (and when PGCONNECT_TIMEOUT is unset); this returns the
// string it hands libpq (`dsn` unchanged if malformed).
inline constexpr int kConnectTimeoutSeconds = 10;
std::string WithConnectTimeout(const std::string& dsn);

// Opens a connection; INVALID_ARGUMENT (see ValidateDsn) for a malformed
// string, UNAVAILABLE with the server's message (password redacted) on failure.
absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect(const std::string& dsn);

// Connect() until it works, backing off up to 5 s, for a program whose
// database may come up after it (compose, CI). Gives up with the last error
// once `give_up_after` has passed, or CANCELLED when shutdown is requested
// (common/shutdown.h).
absl::StatusOr<std::unique_ptr<pqxx::connection>> ConnectWithRetry(
    const std::string& dsn, absl::Duration give_up_after = absl::InfiniteDuration());

// A service's schema at start-up: migrated when `migrate` (the service's
// ISS_*_MIGRATE), else at `need` or newer; FAILED_PRECONDITION otherwise,
// naming `migrate_setting` and iss-migrate.
absl::Status EnsureSchema(pqxx::connection& conn, bool migrate, int need,
                          std::string_view migrate_setting);

// 0 when schema_migrations does not exist yet.
absl::StatusOr<int> SchemaVersion(pqxx::connection& conn);

// Applies every migration newer than the database's version, in order.
// FAILED_PRECONDITION when the database is newer than the newest migration.
// Safe to run concurrently from several processes (advisory lock).
absl::StatusOr<int> Migrate(pqxx::connection& conn,
                            const std::vector<Migration>& migrations = EmbeddedMigrations());

// Runs `fn` and converts libpqxx exceptions to a Status: broken connections
// become UNAVAILABLE, serialization failures ABORTED, the rest INTERNAL.
// This is the border: no pqxx exception leaves a component.
absl::Status Guard(const std::function<void()>& fn);

// The consumer_offsets table (group_id, topic, partition, next_offset).
class OffsetStore {
 public:
  explicit OffsetStore(std::string group_id) : group_(std::move(group_id)) {}
  // Next offsets stored for these partitions (absent = never stored).
  absl::StatusOr<std::map<kafka::TopicPartition, int64_t>> Load(
      pqxx::connection& conn, const std::vector<kafka::TopicPartition>& partitions) const;
  // Upserts inside the caller's transaction, so rows and offsets commit together.
  void Save(pqxx::work& txn, const std::map<kafka::TopicPartition, int64_t>& next_offsets) const;

 private:
  std::string group_;
};

}  // namespace iss::pg

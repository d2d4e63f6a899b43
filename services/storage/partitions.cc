#include "services/storage/partitions.h"

#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"
#include "common/pg.h"
#include "services/storage/decoder.h"

namespace iss::storage {
namespace {

constexpr int64_t kDayMicros = 86'400'000'000;
// Serialises partition DDL across replicas (any constant unique to this use).
constexpr const char* kLockSql = "SELECT pg_advisory_xact_lock(4242000002)";

std::string DayStart(int64_t day) {
  std::string out;
  AppendPgTimestamp(out, day * kDayMicros);
  return out;
}

}  // namespace

int64_t UtcDay(int64_t micros) {
  int64_t d = micros / kDayMicros;
  if (micros % kDayMicros < 0) --d;
  return d;
}

std::string PartitionName(int64_t day) {
  // "YYYY-MM-DD ..." -> "telemetry_pYYYYMMDD".
  const std::string start = DayStart(day);
  return absl::StrCat("telemetry_p", start.substr(0, 4), start.substr(5, 2), start.substr(8, 2));
}

absl::Status PartitionManager::Ensure(pqxx::connection& conn, const std::vector<int64_t>& days,
                                      absl::Time now) {
  // Days already past retention get no partition: their rows wait in the
  // default partition until upkeep deletes them. This also bounds how many
  // partitions odd timestamps can make us create.
  const int64_t oldest_kept = retention_ == absl::InfiniteDuration()
                                  ? std::numeric_limits<int64_t>::min()
                                  : UtcDay(absl::ToUnixMicros(now - retention_));
  for (int64_t day : days) {
    if (known_.contains(day) || day < oldest_kept) continue;
    if (absl::Status s = CreateDay(conn, day); !s.ok()) return s;
    known_.insert(day);
  }
  return absl::OkStatus();
}

absl::Status PartitionManager::CreateDay(pqxx::connection& conn, int64_t day) {
  const std::string name = PartitionName(day);
  // Names and bounds come from an integer day, never from input; DDL cannot
  // take parameters, so they are spliced in (quoted all the same).
  return pg::Guard([&] {
    pqxx::work txn(conn);
    txn.exec(kLockSql);
    if (!txn.exec_params1("SELECT to_regclass($1) IS NOT NULL", name)[0].as<bool>()) {
      const std::string lo = txn.quote(DayStart(day));
      const std::string hi = txn.quote(DayStart(day + 1));
      // Rows parked in the default partition for this day would make CREATE
      // fail; move them into the new partition in the same transaction.
      txn.exec("CREATE TEMP TABLE parked (LIKE telemetry) ON COMMIT DROP");
      const auto moved = txn.exec(absl::StrCat(
          "WITH d AS (DELETE FROM telemetry_default WHERE source_ts >= ", lo, " AND source_ts < ",
          hi, " RETURNING *) INSERT INTO parked SELECT * FROM d"));
      txn.exec(absl::StrCat("CREATE TABLE ", txn.quote_name(name),
                            " PARTITION OF telemetry FOR VALUES FROM (", lo, ") TO (", hi, ")"));
      if (moved.affected_rows() > 0) {
        txn.exec("INSERT INTO telemetry SELECT * FROM parked");
        log::Info("moved rows out of the default partition",
                  {{"partition", name}, {"rows", static_cast<int64_t>(moved.affected_rows())}});
      }
      log::Info("created partition", {{"partition", name}});
    }
    txn.commit();
  });
}

absl::StatusOr<std::vector<int64_t>> PartitionManager::ListDays(pqxx::connection& conn) {
  std::vector<int64_t> days;
  absl::Status s = pg::Guard([&] {
    pqxx::read_transaction txn(conn);
    const auto rows = txn.exec(
        "SELECT to_date(substr(c.relname, 12), 'YYYYMMDD') - date '1970-01-01'"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'telemetry'::regclass AND c.relname ~ '^telemetry_p[0-9]{8}$'"
        " ORDER BY 1");
    for (const auto& row : rows) days.push_back(row[0].as<int64_t>());
  });
  if (!s.ok()) return s;
  return days;
}

absl::StatusOr<int> PartitionManager::Maintain(pqxx::connection& conn, absl::Time now) {
  const int64_t today = UtcDay(absl::ToUnixMicros(now));
  for (int64_t d = today - 2; d <= today + 2; ++d) {
    if (absl::Status s = CreateDay(conn, d); !s.ok()) return s;
    known_.insert(d);
  }
  const int64_t cutoff_us = absl::ToUnixMicros(now - retention_);
  auto days = ListDays(conn);
  if (!days.ok()) return days.status();
  int dropped = 0;
  for (int64_t day : *days) {
    if ((day + 1) * kDayMicros > cutoff_us) break;
    const std::string name = PartitionName(day);
    absl::Status s = pg::Guard([&] {
      pqxx::work txn(conn);
      // Never queue for long behind a reader (a Replay cursor): retry next round.
      txn.exec("SET LOCAL lock_timeout = '5s'");
      txn.exec(kLockSql);
      txn.exec(absl::StrCat("DROP TABLE IF EXISTS ", txn.quote_name(name)));
      txn.commit();
    });
    if (!s.ok()) return s;
    known_.erase(day);
    ++dropped;
    log::Info("dropped partition past retention", {{"partition", name}});
  }
  absl::Status s = pg::Guard([&] {
    pqxx::work txn(conn);
    std::string cutoff;
    AppendPgTimestamp(cutoff, cutoff_us);
    txn.exec_params("DELETE FROM telemetry_default WHERE source_ts < $1::timestamptz", cutoff);
    txn.exec("DELETE FROM item_minute_counts WHERE minute < now() - interval '2 hours'");
    txn.commit();
  });
  if (!s.ok()) return s;
  return dropped;
}

}  // namespace iss::storage

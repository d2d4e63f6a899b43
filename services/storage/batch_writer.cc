#include "services/storage/batch_writer.h"

#include <libpq-fe.h>

#include <algorithm>
#include <bit>
#include <map>
#include <optional>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/storage/decoder.h"

namespace iss::storage {
namespace {

using iss::telemetry::v1::TelemetryEvent;

constexpr const char* kCreateStaging =
    "CREATE TEMP TABLE IF NOT EXISTS telemetry_staging ("
    " item_id text, source_ts timestamptz, event_id text, ingest_ts timestamptz,"
    " value text, value_num double precision, status_class text, status_indicator text,"
    " status_color text, calibrated_data text, source text, signal smallint,"
    " schema_version integer, received_ts timestamptz) ON COMMIT DELETE ROWS";

const std::vector<std::string>& StagingColumns() {
  static const auto* cols = new std::vector<std::string>{
      "item_id",   "source_ts",    "event_id",         "ingest_ts",    "value",
      "value_num", "status_class", "status_indicator", "status_color", "calibrated_data",
      "source",    "signal",       "schema_version",   "received_ts"};
  return *cols;
}

// The item's last_* columns move only when the new row is at least as recent.
// `latest_cte` defines `latest` (one row per item: its newest new event and
// `n`, the number of new events); the statement upserts items and minute counts.
std::string ItemsSql(const std::string& prefix_ctes, const std::string& latest_cte,
                     const std::string& count_expr) {
  const std::vector<std::pair<std::string, std::string>> last = {
      {"last_value", "value"},
      {"last_source_ts", "source_ts"},
      {"last_ingest_ts", "ingest_ts"},
      {"last_event_id", "event_id"},
      {"last_status_class", "status_class"},
      {"last_status_indicator", "status_indicator"},
      {"last_status_color", "status_color"},
      {"last_calibrated_data", "calibrated_data"},
  };
  const std::string newer =
      "(i.last_source_ts IS NULL OR (EXCLUDED.last_source_ts, EXCLUDED.last_event_id) >= "
      "(i.last_source_ts, i.last_event_id))";
  std::vector<std::string> set_last, last_cols, latest_cols;
  for (const auto& [col, src] : last) {
    set_last.push_back(
        absl::StrCat(col, " = CASE WHEN ", newer, " THEN EXCLUDED.", col, " ELSE i.", col, " END"));
    last_cols.push_back(col);
    latest_cols.push_back(src);
  }
  return absl::StrCat(
      "WITH ", prefix_ctes, latest_cte, ",", " up AS (INSERT INTO items AS i (item_id, ",
      absl::StrJoin(last_cols, ", "), ", last_seen, total_updates) SELECT item_id, ",
      absl::StrJoin(latest_cols, ", "),
      ", now(), n FROM latest ORDER BY item_id ON CONFLICT (item_id) DO UPDATE SET",
      " total_updates = i.total_updates + EXCLUDED.total_updates,",
      " last_seen = EXCLUDED.last_seen, ", absl::StrJoin(set_last, ", "), " RETURNING 1),",
      " rate AS (INSERT INTO item_minute_counts AS c (item_id, minute, updates)",
      " SELECT item_id, date_trunc('minute', now()), n FROM latest ORDER BY item_id",
      " ON CONFLICT (item_id, minute) DO UPDATE SET updates = c.updates + EXCLUDED.updates",
      " RETURNING 1)", " SELECT ", count_expr,
      ", (SELECT count(*) FROM up), (SELECT count(*) FROM rate)");
}

// Slow path: staging -> INSERT ... ON CONFLICT DO NOTHING, items from what was inserted.
std::string BuildInsertSql() {
  const std::string cols = absl::StrJoin(StagingColumns(), ", ");
  return ItemsSql(
      absl::StrCat("ins AS (INSERT INTO telemetry (", cols, ") SELECT ", cols,
                   " FROM telemetry_staging ON CONFLICT DO NOTHING",
                   " RETURNING item_id, source_ts, event_id, ingest_ts, value, status_class,",
                   " status_indicator, status_color, calibrated_data), "),
      "latest AS (SELECT DISTINCT ON (item_id) *, count(*) OVER (PARTITION BY item_id) AS n"
      " FROM ins ORDER BY item_id, source_ts DESC, event_id DESC)",
      "(SELECT count(*) FROM ins)");
}

// Fast path: every row went in by COPY, so `latest` comes from the batch itself.
const std::string& ItemsFromArraysSql() {
  static const auto* sql = new std::string(
      ItemsSql("",
               "latest AS (SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[],"
               " $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],"
               " $10::bigint[]) AS l(item_id, source_ts, event_id, ingest_ts, value, status_class,"
               " status_indicator, status_color, calibrated_data, n))",
               "0"));
  return *sql;
}

// `{"a",NULL,"b"}`: a text[] literal with NULL elements.
std::string ArrayLiteral(const std::vector<std::optional<std::string>>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    if (!values[i]) {
      out.append("NULL");
      continue;
    }
    out.push_back('"');
    for (char c : *values[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

const std::string& InsertSql() {
  static const auto* sql = new std::string(BuildInsertSql());
  return *sql;
}

std::optional<std::string> Opt(bool has, const std::string& v) {
  if (!has) return std::nullopt;
  return v;
}

}  // namespace

bool BatchWriter::EnsureStaging(pqxx::work& txn, int backend_pid) {
  if (staging_backend_pid_ == backend_pid) return false;
  // Created inside the batch transaction: it exists for the session only once
  // that transaction commits (Write() records it then).
  txn.exec(kCreateStaging);
  return true;
}

namespace {

// COPY binary format (PostgreSQL's documented COPY file format): no text
// escaping here and no text parsing of timestamps and numbers in the server.
constexpr char kCopyBinaryHeader[] = "PGCOPY\n\377\r\n\0";   // + flags + extension length
constexpr int64_t kPgEpochMicros = 946684800LL * 1'000'000;  // 2000-01-01T00:00:00Z

template <typename T>
void AppendBigEndian(std::string& out, T v) {
  using U = std::make_unsigned_t<T>;
  const U u = static_cast<U>(v);
  char buf[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) buf[i] = static_cast<char>(u >> (8 * (sizeof(T) - 1 - i)));
  out.append(buf, sizeof(T));
}

void AppendBinaryText(std::string& out, std::string_view s) {
  AppendBigEndian<int32_t>(out, static_cast<int32_t>(s.size()));
  out.append(s.data(), s.size());
}

void AppendBinaryOptText(std::string& out, bool present, const std::string& value) {
  if (present) {
    AppendBinaryText(out, value);
  } else {
    AppendBigEndian<int32_t>(out, -1);  // NULL
  }
}

// timestamptz: microseconds since the PostgreSQL epoch.
void AppendBinaryTimestamp(std::string& out, int64_t unix_micros) {
  AppendBigEndian<int32_t>(out, 8);
  AppendBigEndian<int64_t>(out, unix_micros - kPgEpochMicros);
}

// One row of StagingColumns() in COPY binary format.
void AppendCopyRow(std::string& out, const TelemetryEvent& e) {
  AppendBigEndian<int16_t>(out, 14);  // fields
  AppendBinaryText(out, e.item_id());
  AppendBinaryTimestamp(out, TimestampMicros(e.source_ts()));
  AppendBinaryText(out, e.event_id());
  AppendBinaryTimestamp(out, TimestampMicros(e.ingest_ts()));
  AppendBinaryOptText(out, e.has_value(), e.value());
  const std::optional<double> num =
      e.has_value() ? NumericValue(e.value()) : std::optional<double>();
  if (num) {
    AppendBigEndian<int32_t>(out, 8);
    AppendBigEndian<uint64_t>(out, std::bit_cast<uint64_t>(*num));
  } else {
    AppendBigEndian<int32_t>(out, -1);
  }
  AppendBinaryOptText(out, e.status().has_class_(), e.status().class_());
  AppendBinaryOptText(out, e.status().has_indicator(), e.status().indicator());
  AppendBinaryOptText(out, e.status().has_color(), e.status().color());
  AppendBinaryOptText(out, e.has_calibrated_data(), e.calibrated_data());
  AppendBinaryText(out, e.source());
  AppendBigEndian<int32_t>(out, 2);
  AppendBigEndian<int16_t>(out, static_cast<int16_t>(e.signal()));
  AppendBigEndian<int32_t>(out, 4);
  AppendBigEndian<int32_t>(out, static_cast<int32_t>(e.schema_version()));
  if (e.has_received_ts()) {
    AppendBinaryTimestamp(out, TimestampMicros(e.received_ts()));
  } else {
    AppendBigEndian<int32_t>(out, -1);  // an event from before received_ts existed
  }
}

// libpqxx 6.4 streams COPY data only row by row through its tuple formatting
// (several allocations per field) and keeps its raw COPY calls private;
// largeobject hands the libpq connection of a transaction to derived classes.
struct Libpq : pqxx::largeobject {
  static PGconn* Of(const pqxx::dbtransaction& txn) { return raw_connection(txn); }
};

// Turns a failed libpq call into the exception libpqxx would have thrown, so
// pg::Guard and the duplicate-key fallback see the usual types and SQLSTATE.
[[noreturn]] void ThrowLibpq(PGconn* conn, PGresult* result, const std::string& what) {
  std::string message = PQerrorMessage(conn);
  std::string sqlstate;
  if (result != nullptr) {
    if (const char* m = PQresultErrorMessage(result); m != nullptr && *m != '\0') message = m;
    if (const char* st = PQresultErrorField(result, PG_DIAG_SQLSTATE); st != nullptr) sqlstate = st;
    PQclear(result);
  }
  if (PQstatus(conn) == CONNECTION_BAD) throw pqxx::broken_connection(message);
  throw pqxx::sql_error(message, what, sqlstate.empty() ? nullptr : sqlstate.c_str());
}

// COPY `table` FROM STDIN in binary format, the rows encoded by hand into
// ~64 KiB chunks, each handed to libpq in one call. Runs inside `txn`.
void CopyRows(pqxx::dbtransaction& txn, const std::string& table,
              const std::vector<TelemetryEvent>& events) {
  constexpr size_t kChunk = 64 * 1024;
  PGconn* conn = Libpq::Of(txn);
  const std::string sql = absl::StrCat("COPY ", table, " (", absl::StrJoin(StagingColumns(), ", "),
                                       ") FROM STDIN (FORMAT binary)");
  // Through libpqxx, which also opens the transaction or savepoint if it has
  // not yet; the connection is then in COPY IN state.
  txn.exec0(sql);
  std::string chunk;
  chunk.reserve(kChunk + 1024);
  chunk.append(kCopyBinaryHeader, sizeof(kCopyBinaryHeader) - 1);  // 11 bytes, the last NUL
  AppendBigEndian<int32_t>(chunk, 0);                              // flags
  AppendBigEndian<int32_t>(chunk, 0);                              // header extension length
  auto send = [&] {
    if (PQputCopyData(conn, chunk.data(), static_cast<int>(chunk.size())) != 1) {
      ThrowLibpq(conn, nullptr, sql);
    }
    chunk.clear();
  };
  for (const auto& e : events) {
    AppendCopyRow(chunk, e);
    if (chunk.size() >= kChunk) send();
  }
  AppendBigEndian<int16_t>(chunk, -1);  // trailer
  send();
  if (PQputCopyEnd(conn, nullptr) != 1) ThrowLibpq(conn, nullptr, sql);
  // The COPY's result, then nothing: the connection is back in the transaction.
  PGresult* failed = nullptr;
  while (PGresult* r = PQgetResult(conn)) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK && failed == nullptr) {
      failed = r;
    } else {
      PQclear(r);
    }
  }
  if (failed != nullptr) ThrowLibpq(conn, failed, sql);
  if (PQstatus(conn) == CONNECTION_BAD) ThrowLibpq(conn, nullptr, sql);
}

// Fast path: COPY straight into the partitioned table inside a savepoint.
// False (savepoint rolled back, nothing written) when some row already exists.
bool TryDirectCopy(pqxx::work& txn, const std::vector<TelemetryEvent>& events) {
  try {
    pqxx::subtransaction sub(txn, "direct_copy");
    CopyRows(sub, "telemetry", events);
    sub.commit();
    return true;
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() != "23505") throw;  // only a duplicate key sends us to the slow path
    return false;
  }
}

// Per item: how many events, and the newest one (by source_ts, then event_id).
void UpsertItemsFromBatch(pqxx::work& txn, const std::vector<TelemetryEvent>& events) {
  std::map<std::string, std::pair<const TelemetryEvent*, int64_t>> per_item;
  for (const auto& e : events) {
    auto& [newest, n] = per_item[e.item_id()];
    ++n;
    if (newest == nullptr ||
        std::make_pair(TimestampMicros(e.source_ts()), e.event_id()) >=
            std::make_pair(TimestampMicros(newest->source_ts()), newest->event_id())) {
      newest = &e;
    }
  }
  std::vector<std::optional<std::string>> cols[10];
  auto ts = [](const google::protobuf::Timestamp& t) {
    std::string out;
    AppendPgTimestamp(out, TimestampMicros(t));
    return std::optional<std::string>(out);
  };
  for (const auto& [id, entry] : per_item) {  // one row per item; the SQL orders the locks
    const TelemetryEvent& e = *entry.first;
    cols[0].push_back(id);
    cols[1].push_back(ts(e.source_ts()));
    cols[2].push_back(e.event_id());
    cols[3].push_back(ts(e.ingest_ts()));
    cols[4].push_back(Opt(e.has_value(), e.value()));
    cols[5].push_back(Opt(e.status().has_class_(), e.status().class_()));
    cols[6].push_back(Opt(e.status().has_indicator(), e.status().indicator()));
    cols[7].push_back(Opt(e.status().has_color(), e.status().color()));
    cols[8].push_back(Opt(e.has_calibrated_data(), e.calibrated_data()));
    cols[9].push_back(absl::StrCat(entry.second));
  }
  txn.exec_params(ItemsFromArraysSql(), ArrayLiteral(cols[0]), ArrayLiteral(cols[1]),
                  ArrayLiteral(cols[2]), ArrayLiteral(cols[3]), ArrayLiteral(cols[4]),
                  ArrayLiteral(cols[5]), ArrayLiteral(cols[6]), ArrayLiteral(cols[7]),
                  ArrayLiteral(cols[8]), ArrayLiteral(cols[9]));
}

}  // namespace

absl::StatusOr<int64_t> BatchWriter::Write(
    pqxx::connection& conn, const std::vector<TelemetryEvent>& events,
    const std::map<kafka::TopicPartition, int64_t>& next_offsets) {
  if (!events.empty()) {
    std::vector<int64_t> days;
    for (const auto& e : events) {
      const int64_t day = UtcDay(TimestampMicros(e.source_ts()));
      if (days.empty() || days.back() != day) days.push_back(day);
    }
    std::sort(days.begin(), days.end());
    days.erase(std::unique(days.begin(), days.end()), days.end());
    if (absl::Status s = partitions_->Ensure(conn, days); !s.ok()) return s;
  }
  int64_t inserted = 0;
  bool created_staging = false;
  absl::Status s = pg::Guard([&] {
    pqxx::work txn(conn);
    if (!events.empty()) {
      // The common case has no duplicates: plain COPY into the table is the
      // fastest correct write. A duplicate key (redelivery, a rebalance race)
      // rolls the savepoint back and takes the staging + ON CONFLICT path.
      if (direct_copy_ && TryDirectCopy(txn, events)) {
        UpsertItemsFromBatch(txn, events);
        inserted = static_cast<int64_t>(events.size());
      } else {
        created_staging = EnsureStaging(txn, conn.backendpid());
        CopyRows(txn, "telemetry_staging", events);
        inserted = txn.exec1(InsertSql())[0].as<int64_t>();
      }
    }
    offsets_.Save(txn, next_offsets);
    txn.commit();
  });
  if (!s.ok()) {
    // Whatever failed, ask again next time: a PID is only a hint (a restarted
    // server can hand the same one to a session without the table).
    staging_backend_pid_ = 0;
    return s;
  }
  if (created_staging) staging_backend_pid_ = conn.backendpid();
  return inserted;
}

}  // namespace iss::storage

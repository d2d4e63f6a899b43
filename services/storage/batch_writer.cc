#include "services/storage/batch_writer.h"

#include <algorithm>
#include <optional>
#include <tuple>

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
    " schema_version integer) ON COMMIT DELETE ROWS";

const std::vector<std::string>& StagingColumns() {
  static const auto* cols = new std::vector<std::string>{
      "item_id",      "source_ts",       "event_id", "ingest_ts", "value",
      "value_num",    "status_class",    "status_indicator",      "status_color",
      "calibrated_data", "source",       "signal",   "schema_version"};
  return *cols;
}

// The item's last_* columns move only when the new row is at least as recent.
std::string BuildInsertSql() {
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
  std::vector<std::string> set_last, last_cols, latest_cols;
  for (const auto& [col, src] : last) {
    set_last.push_back(absl::StrCat(col, " = CASE WHEN newer THEN EXCLUDED.", col, " ELSE i.",
                                    col, " END"));
    last_cols.push_back(col);
    latest_cols.push_back(src);
  }
  const std::string cols = absl::StrJoin(StagingColumns(), ", ");
  // `newer` is spelled out per column (EXCLUDED cannot be aliased).
  std::string sql = absl::StrCat(
      "WITH ins AS (",
      " INSERT INTO telemetry (", cols, ") SELECT ", cols, " FROM telemetry_staging",
      " ON CONFLICT DO NOTHING",
      " RETURNING item_id, source_ts, event_id, ingest_ts, value, status_class,",
      " status_indicator, status_color, calibrated_data),",
      " latest AS (SELECT DISTINCT ON (item_id) *, count(*) OVER (PARTITION BY item_id) AS n",
      " FROM ins ORDER BY item_id, source_ts DESC, event_id DESC),",
      " up AS (INSERT INTO items AS i (item_id, ", absl::StrJoin(last_cols, ", "),
      ", last_seen, total_updates) SELECT item_id, ", absl::StrJoin(latest_cols, ", "),
      ", now(), n FROM latest ON CONFLICT (item_id) DO UPDATE SET",
      " total_updates = i.total_updates + EXCLUDED.total_updates,",
      " last_seen = EXCLUDED.last_seen, ", absl::StrJoin(set_last, ", "), " RETURNING 1),",
      " rate AS (INSERT INTO item_minute_counts AS c (item_id, minute, updates)",
      " SELECT item_id, date_trunc('minute', now()), n FROM latest",
      " ON CONFLICT (item_id, minute) DO UPDATE SET updates = c.updates + EXCLUDED.updates",
      " RETURNING 1)",
      " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM up), (SELECT count(*) FROM rate)");
  const std::string newer =
      "(i.last_source_ts IS NULL OR (EXCLUDED.last_source_ts, EXCLUDED.last_event_id) >= "
      "(i.last_source_ts, i.last_event_id))";
  std::string out;
  for (size_t pos = 0;;) {
    size_t hit = sql.find("WHEN newer", pos);
    if (hit == std::string::npos) {
      out.append(sql, pos);
      break;
    }
    out.append(sql, pos, hit - pos);
    absl::StrAppend(&out, "WHEN ", newer);
    pos = hit + 10;
  }
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

void BatchWriter::EnsureStaging(pqxx::connection& conn) {
  if (staging_backend_pid_ == conn.backendpid()) return;
  pqxx::nontransaction tx(conn);
  tx.exec(kCreateStaging);
  staging_backend_pid_ = conn.backendpid();
}

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
  absl::Status s = pg::Guard([&] {
    if (!events.empty()) EnsureStaging(conn);
    pqxx::work txn(conn);
    if (!events.empty()) {
      pqxx::stream_to copy(txn, "telemetry_staging", StagingColumns());
      std::string source_ts, ingest_ts;
      for (const auto& e : events) {
        source_ts.clear();
        ingest_ts.clear();
        AppendPgTimestamp(source_ts, TimestampMicros(e.source_ts()));
        AppendPgTimestamp(ingest_ts, TimestampMicros(e.ingest_ts()));
        const std::optional<double> num =
            e.has_value() ? NumericValue(e.value()) : std::optional<double>();
        copy << std::make_tuple(
            e.item_id(), source_ts, e.event_id(), ingest_ts, Opt(e.has_value(), e.value()), num,
            Opt(e.status().has_class_(), e.status().class_()),
            Opt(e.status().has_indicator(), e.status().indicator()),
            Opt(e.status().has_color(), e.status().color()),
            Opt(e.has_calibrated_data(), e.calibrated_data()), e.source(),
            static_cast<int>(e.signal()), static_cast<int>(e.schema_version()));
      }
      copy.complete();
      inserted = txn.exec1(InsertSql())[0].as<int64_t>();
    }
    offsets_.Save(txn, next_offsets);
    txn.commit();
  });
  if (!s.ok()) return s;
  return inserted;
}

}  // namespace iss::storage

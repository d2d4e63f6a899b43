#include "services/storage/query_store.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/catalog.h"
#include "common/pg.h"
#include "services/storage/decoder.h"

namespace iss::storage {
namespace {

namespace v1 = iss::storage::v1;
using iss::telemetry::v1::TelemetryEvent;

// Timestamps leave PostgreSQL as Unix microseconds (ISS_PG_MICROS, common/pg.h),
// read by Micros() below.
#define ISS_US(col) ISS_PG_MICROS(col)

constexpr const char* kEventCols =
    "item_id, " ISS_US("source_ts") ", event_id, " ISS_US("ingest_ts") ", value, status_class,"
    " status_indicator, status_color, calibrated_data, source, signal, schema_version,"
    " " ISS_US("received_ts");

// Window pages: the cursor narrows the time bound (so the index range shrinks
// page after page) and the row comparison breaks ties inside one microsecond.
// With a single item the filter is an equality, so the primary key index
// (item_id, source_ts, event_id) yields rows already in order: no sort.
std::string BuildWindowSql(bool desc, bool single) {
  const char* cmp = desc ? "<" : ">";
  const char* dir = desc ? " DESC" : "";
  return absl::StrCat("SELECT ", kEventCols, " FROM telemetry WHERE ",
                      single ? "item_id = $1::text" : "item_id = ANY($1::text[])",
                      " AND source_ts >= $2::timestamptz AND source_ts < $3::timestamptz"
                      " AND ($4::float8 IS NULL OR value_num >= $4::float8)"
                      " AND ($5::float8 IS NULL OR value_num <= $5::float8)"
                      " AND ($6::text IS NULL OR (source_ts, item_id, event_id) ",
                      cmp,
                      " ($9::timestamptz, $6::text, $7::text))"
                      " ORDER BY source_ts",
                      dir, ", item_id", dir, ", event_id", dir, " LIMIT $8");
}

const std::string& WindowSql(bool desc, bool single) {
  static const auto* sql =
      new std::string[4]{BuildWindowSql(false, false), BuildWindowSql(false, true),
                         BuildWindowSql(true, false), BuildWindowSql(true, true)};
  return sql[(desc ? 2 : 0) + (single ? 1 : 0)];
}

// One Replay page: rows of [$2, $3) after the key ($2, $4, $5) when given.
const std::string& ReplaySql() {
  static const auto* sql = new std::string(absl::StrCat(
      "SELECT ", kEventCols,
      " FROM telemetry WHERE item_id = ANY(COALESCE($1::text[], ARRAY(SELECT item_id FROM items)))"
      " AND source_ts >= $2::timestamptz AND source_ts < $3::timestamptz"
      " AND ($4::text IS NULL OR (source_ts, item_id, event_id) > ($2::timestamptz, $4::text,"
      " $5::text))"
      " ORDER BY source_ts, item_id, event_id LIMIT $6"));
  return *sql;
}

constexpr const char* kLatestSql =
    "SELECT item_id, last_value, " ISS_US("last_source_ts") ", " ISS_US("last_ingest_ts") ","
    " last_status_class, last_status_indicator, last_status_color, last_calibrated_data,"
    " last_event_id FROM items"
    " WHERE last_source_ts IS NOT NULL AND ($1::text[] IS NULL OR item_id = ANY($1::text[]))"
    " ORDER BY item_id";

constexpr const char* kSeriesSql =
    "SELECT " ISS_US("b") ", min(value_num), max(value_num), avg(value_num),"
    " (array_agg(value ORDER BY source_ts DESC, event_id DESC))[1], count(*) FROM ("
    "  SELECT date_bin($4::bigint * interval '1 microsecond', source_ts, $2::timestamptz) AS b,"
    "    value_num, value, source_ts, event_id FROM telemetry"
    "  WHERE item_id = $1 AND source_ts >= $2::timestamptz AND source_ts < $3::timestamptz) r"
    " GROUP BY b ORDER BY b";

constexpr const char* kItemCols =
    "i.item_id, i.discipline, i.ops_name, i.units, i.name, i.description, i.in_catalog,"
    " i.last_value, " ISS_US("i.last_source_ts") ", " ISS_US("i.last_seen") ", i.total_updates,"
    " COALESCE((SELECT sum(c.updates) FROM item_minute_counts c WHERE c.item_id = i.item_id"
    "   AND c.minute >= now() - interval '1 hour'), 0)::float8 / 60.0";

std::string Ts(int64_t us) {
  std::string out;
  AppendPgTimestamp(out, us);
  return out;
}

int64_t Micros(const pqxx::field& f) { return std::strtoll(f.c_str(), nullptr, 10); }

// Reads straight from the result buffer (no std::string per field, no
// stream-based number parsing): this runs once per row of every query.
void ReadEvent(const pqxx::row& r, TelemetryEvent* e) {
  auto set = [&r](int col, auto setter) {
    const pqxx::field f = r[col];
    if (!f.is_null()) setter(f.c_str(), f.size());
  };
  set(0, [e](const char* p, size_t n) { e->set_item_id(p, n); });
  SetTimestampMicros(Micros(r[1]), e->mutable_source_ts());
  set(2, [e](const char* p, size_t n) { e->set_event_id(p, n); });
  SetTimestampMicros(Micros(r[3]), e->mutable_ingest_ts());
  set(4, [e](const char* p, size_t n) { e->set_value(p, n); });
  set(5, [e](const char* p, size_t n) { e->mutable_status()->set_class_(p, n); });
  set(6, [e](const char* p, size_t n) { e->mutable_status()->set_indicator(p, n); });
  set(7, [e](const char* p, size_t n) { e->mutable_status()->set_color(p, n); });
  set(8, [e](const char* p, size_t n) { e->set_calibrated_data(p, n); });
  set(9, [e](const char* p, size_t n) { e->set_source(p, n); });
  e->set_signal(static_cast<iss::telemetry::v1::SignalState>(std::atoi(r[10].c_str())));
  e->set_schema_version(static_cast<uint32_t>(std::strtoul(r[11].c_str(), nullptr, 10)));
  // NULL in rows stored before received_ts existed: left unset.
  if (!r[12].is_null()) SetTimestampMicros(Micros(r[12]), e->mutable_received_ts());
}

void ReadItem(const pqxx::row& r, v1::Item* it) {
  it->set_item_id(r[0].as<std::string>());
  it->set_discipline(r[1].as<std::string>());
  it->set_ops_name(r[2].as<std::string>());
  it->set_units(r[3].as<std::string>());
  it->set_name(r[4].as<std::string>());
  it->set_description(r[5].as<std::string>());
  it->set_in_catalog(r[6].as<bool>());
  if (!r[7].is_null()) it->set_last_value(r[7].as<std::string>());
  if (!r[8].is_null()) SetTimestampMicros(Micros(r[8]), it->mutable_last_source_ts());
  if (!r[9].is_null()) SetTimestampMicros(Micros(r[9]), it->mutable_last_seen());
  it->set_total_updates(r[10].as<uint64_t>());
  it->set_updates_per_minute(r[11].as<double>());
  // Labels come from the catalog compiled into this binary, the same one
  // SeedCatalog wrote: no column to migrate when the catalog grows.
  if (const CatalogItem* c = Catalog::Embedded().Find(it->item_id())) {
    for (const ValueLabel& l : c->value_labels) {
      v1::ValueLabel* out = it->add_value_labels();
      out->set_value(l.value);
      out->set_label(l.label);
    }
    if (it->has_last_value()) {
      if (const std::string* label = Catalog::Embedded().LabelOf(it->item_id(), it->last_value())) {
        it->set_last_value_label(*label);
      }
    }
  }
}

// LIKE pattern matching `text` literally anywhere.
std::string ContainsPattern(const std::string& text) {
  std::string out = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('%');
  return out;
}

}  // namespace

std::string TextArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

absl::StatusOr<v1::QueryWindowResponse> QueryStore::QueryWindow(const v1::QueryWindowRequest& req) {
  auto q = ParseWindowQuery(req, limits_);
  if (!q.ok()) return q.status();
  int64_t start = q->start_us, end = q->end_us;
  std::optional<std::string> after_item, after_event;
  if (q->after) {
    // Ascending pages resume at the cursor's microsecond, descending ones end
    // just after it. The decoder keeps the cursor inside [start, end), so the
    // + 1 cannot overflow and the bound stays a time PostgreSQL holds.
    if (q->descending) {
      end = std::min(end, q->after->source_us + 1);
    } else {
      start = std::max(start, q->after->source_us);
    }
    after_item = q->after->item_id;
    after_event = q->after->event_id;
  }
  v1::QueryWindowResponse resp;
  absl::Status s = pool_->Run([&](pqxx::connection& conn) {
    pqxx::read_transaction txn(conn);
    const bool single = q->item_ids.size() == 1;
    const std::string cursor_ts = q->after ? Ts(q->after->source_us) : Ts(start);
    const auto rows = txn.exec_params(WindowSql(q->descending, single),
                                      single ? q->item_ids[0] : TextArrayLiteral(q->item_ids),
                                      Ts(start), Ts(end), q->min_value, q->max_value, after_item,
                                      after_event, q->page_size + 1, cursor_ts);
    const size_t n = std::min<size_t>(rows.size(), q->page_size);
    for (size_t i = 0; i < n; ++i) ReadEvent(rows[i], resp.add_events());
    if (rows.size() > n && n > 0) {
      const auto& last = resp.events(static_cast<int>(n) - 1);
      resp.set_next_page_token(EncodeWindowToken(
          WindowCursor{TimestampMicros(last.source_ts()), last.item_id(), last.event_id()},
          q->query_hash));
    }
  });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::GetLatestResponse> QueryStore::GetLatest(const v1::GetLatestRequest& req) {
  QueryLimits latest_limits = limits_;
  latest_limits.max_items = 1000;  // a dashboard asks for every item at once
  auto ids = ParseItemIds(req.item_ids(), "item_ids", latest_limits, /*allow_empty=*/true);
  if (!ids.ok()) return ids.status();
  v1::GetLatestResponse resp;
  absl::Status s = pool_->Run([&](pqxx::connection& conn) {
    pqxx::read_transaction txn(conn);
    const std::optional<std::string> filter =
        ids->empty() ? std::nullopt : std::optional<std::string>(TextArrayLiteral(*ids));
    const auto rows = txn.exec_params(kLatestSql, filter);
    for (const auto& r : rows) {
      v1::LatestValue* v = resp.add_values();
      v->set_item_id(r[0].as<std::string>());
      if (!r[1].is_null()) v->set_value(r[1].as<std::string>());
      SetTimestampMicros(Micros(r[2]), v->mutable_source_ts());
      if (!r[3].is_null()) SetTimestampMicros(Micros(r[3]), v->mutable_ingest_ts());
      if (!r[4].is_null()) v->mutable_status()->set_class_(r[4].as<std::string>());
      if (!r[5].is_null()) v->mutable_status()->set_indicator(r[5].as<std::string>());
      if (!r[6].is_null()) v->mutable_status()->set_color(r[6].as<std::string>());
      if (!r[7].is_null()) v->set_calibrated_data(r[7].as<std::string>());
      if (!r[8].is_null()) v->set_event_id(r[8].as<std::string>());
      if (v->has_value()) {
        if (const std::string* label = Catalog::Embedded().LabelOf(v->item_id(), v->value())) {
          v->set_value_label(*label);
        }
      }
    }
  });
  if (!s.ok()) return s;
  // Both lists are sorted by item_id: one merge finds the missing ids.
  size_t j = 0;
  for (const std::string& id : *ids) {
    while (j < static_cast<size_t>(resp.values_size()) && resp.values(j).item_id() < id) ++j;
    if (j >= static_cast<size_t>(resp.values_size()) || resp.values(j).item_id() != id) {
      resp.add_missing_item_ids(id);
    }
  }
  return resp;
}

absl::StatusOr<v1::GetSeriesResponse> QueryStore::GetSeries(const v1::GetSeriesRequest& req) {
  auto q = ParseSeriesQuery(req, limits_);
  if (!q.ok()) return q.status();
  v1::GetSeriesResponse resp;
  resp.set_item_id(q->item_id);
  *resp.mutable_bucket() = req.bucket();
  absl::Status s = pool_->Run([&](pqxx::connection& conn) {
    pqxx::read_transaction txn(conn);
    const auto rows =
        txn.exec_params(kSeriesSql, q->item_id, Ts(q->start_us), Ts(q->end_us), q->bucket_us);
    for (const auto& r : rows) {
      v1::SeriesBucket* b = resp.add_buckets();
      SetTimestampMicros(Micros(r[0]), b->mutable_start_time());
      if (!r[1].is_null()) b->set_min(r[1].as<double>());
      if (!r[2].is_null()) b->set_max(r[2].as<double>());
      if (!r[3].is_null()) b->set_avg(r[3].as<double>());
      if (!r[4].is_null()) b->set_last(r[4].as<std::string>());
      b->set_count(r[5].as<uint64_t>());
    }
  });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::ListItemsResponse> QueryStore::ListItems(const v1::ListItemsRequest& req) {
  auto q = ParseItemsQuery(req, limits_);
  if (!q.ok()) return q.status();
  v1::ListItemsResponse resp;
  absl::Status s = pool_->Run([&](pqxx::connection& conn) {
    pqxx::read_transaction txn(conn);
    const auto rows = txn.exec_params(
        absl::StrCat("SELECT ", kItemCols,
                     " FROM items i"
                     " WHERE ($1 = '' OR i.item_id ILIKE $2 OR i.name ILIKE $2"
                     "        OR i.ops_name ILIKE $2 OR i.description ILIKE $2)"
                     "   AND ($3 = '' OR i.discipline = $3)"
                     "   AND ($4::text IS NULL OR i.item_id > $4::text)"
                     " ORDER BY i.item_id LIMIT $5"),
        q->search, ContainsPattern(q->search), q->discipline, q->after_item_id, q->page_size + 1);
    const size_t n = std::min<size_t>(rows.size(), q->page_size);
    for (size_t i = 0; i < n; ++i) ReadItem(rows[i], resp.add_items());
    if (rows.size() > n && n > 0) {
      resp.set_next_page_token(
          EncodeItemsToken(resp.items(static_cast<int>(n) - 1).item_id(), q->query_hash));
    }
  });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::Item> QueryStore::GetItem(const v1::GetItemRequest& req) {
  if (req.item_id().empty() || req.item_id().size() > limits_.max_item_id ||
      req.item_id().find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("item_id: required, at most 64 bytes");
  }
  v1::Item item;
  bool found = false;
  absl::Status s = pool_->Run([&](pqxx::connection& conn) {
    pqxx::read_transaction txn(conn);
    const auto rows = txn.exec_params(
        absl::StrCat("SELECT ", kItemCols, " FROM items i WHERE i.item_id = $1"), req.item_id());
    if (!rows.empty()) {
      ReadItem(rows[0], &item);
      found = true;
    }
  });
  if (!s.ok()) return s;
  if (!found) return absl::NotFoundError(absl::StrCat("item_id: unknown item ", req.item_id()));
  return item;
}

absl::Status QueryStore::RunReplayPage(const std::function<void(pqxx::connection&)>& fn) {
  {
    absl::MutexLock lock(&replay_mu_);
    auto free_slot = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(replay_mu_) {
      return replay_busy_ < replay_slots_;
    };
    if (!replay_mu_.AwaitWithTimeout(absl::Condition(&free_slot), limits_.replay_slot_wait)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("replay: ", replay_slots_,
                       " replay queries already running (the limit keeps a database connection"
                       " free for other queries); retry later"));
    }
    ++replay_busy_;
  }
  absl::Status s = pool_->Run(fn);
  absl::MutexLock lock(&replay_mu_);
  --replay_busy_;
  return s;
}

absl::Status QueryStore::Replay(const v1::ReplayRequest& req,
                                const std::function<bool(const TelemetryEvent&)>& emit) {
  auto q = ParseReplayQuery(req, limits_);
  if (!q.ok()) return q.status();
  const int chunk = std::max(1, limits_.replay_page_rows);
  const std::optional<std::string> filter =
      q->item_ids.empty() ? std::nullopt
                          : std::optional<std::string>(TextArrayLiteral(q->item_ids));

  // Pages resume after the last key sent. Each one also stays inside a time
  // slice [lo, hi): telemetry has no index leading with source_ts, so a page
  // bounded only by LIMIT would read and sort the whole rest of the window,
  // page after page. The slice grows over sparse stretches and shrinks to
  // what one page covered in dense ones. The item ids go to the primary key
  // (item_id, source_ts, ...) as an array, one index range per item; without
  // a filter every item in `items` (the sink upserts it in the statement
  // that inserts the rows, so it names every item telemetry holds).
  int64_t lo = q->start_us;
  int64_t span = absl::ToInt64Microseconds(absl::Minutes(1));
  std::optional<std::string> after_item, after_event;
  std::vector<TelemetryEvent> page(static_cast<size_t>(chunk));
  for (;;) {
    const int64_t hi = q->end_us - lo <= span ? q->end_us : lo + span;
    size_t n = 0;
    absl::Status s = RunReplayPage([&](pqxx::connection& conn) {
      pqxx::read_transaction txn(conn);
      const auto rows =
          txn.exec_params(ReplaySql(), filter, Ts(lo), Ts(hi), after_item, after_event, chunk);
      n = rows.size();
      for (size_t i = 0; i < n; ++i) {
        page[i].Clear();
        ReadEvent(rows[i], &page[i]);
      }
    });
    if (!s.ok()) return s;
    // The connection is back in the pool: a slow client now only delays itself.
    for (size_t i = 0; i < n; ++i) {
      if (!emit(page[i])) return absl::OkStatus();
    }
    if (n == static_cast<size_t>(chunk)) {
      const TelemetryEvent& last = page[n - 1];
      const int64_t last_us = TimestampMicros(last.source_ts());
      span = std::max<int64_t>(last_us - lo, 1000);
      lo = last_us;
      after_item = last.item_id();
      after_event = last.event_id();
      continue;
    }
    // Short page: nothing is left before hi.
    if (hi >= q->end_us) return absl::OkStatus();
    span = span > std::numeric_limits<int64_t>::max() / 8 ? span : span * (n == 0 ? 8 : 2);
    lo = hi;
    after_item.reset();
    after_event.reset();
  }
}

absl::StatusOr<std::vector<v1::PartitionProgress>> QueryStore::StoredOffsets(
    const std::string& group) {
  std::vector<v1::PartitionProgress> out;
  absl::Status s = pool_->Run([&](pqxx::connection& conn) {
    pqxx::read_transaction txn(conn);
    const auto rows = txn.exec_params(
        "SELECT topic, partition, next_offset FROM consumer_offsets WHERE group_id = $1"
        " ORDER BY topic, partition",
        group);
    for (const auto& r : rows) {
      v1::PartitionProgress p;
      p.set_topic(r[0].as<std::string>());
      p.set_partition(r[1].as<int32_t>());
      p.set_next_offset(r[2].as<int64_t>());
      out.push_back(std::move(p));
    }
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace iss::storage

#include "services/peebot/store.h"

#include <pqxx/pqxx>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/event_id.h"
#include "common/grpc_util.h"
#include "common/pg.h"

namespace iss::peebot {
namespace {

// Timestamps cross the wire as Unix microseconds, exactly (no text, no float).
std::string Ts(int n) {
  return absl::StrCat("('epoch'::timestamptz + $", n, "::bigint * interval '1 microsecond')");
}
constexpr int64_t kFarPastUs = -2208988800000000;    // 1900-01-01
constexpr int64_t kFarFutureUs = 32503680000000000;  // 3000-01-01

int64_t Us(absl::Time t) { return absl::ToUnixMicros(t); }

constexpr char kDetectionColumns[] =
    "detection_id, item_id, (extract(epoch from start_time) * 1e6)::bigint, "
    "(extract(epoch from end_time) * 1e6)::bigint, start_level, end_level, rise, volume_ml, "
    "post_status, coalesce(post_id, ''), coalesce(post_text, ''), "
    "(extract(epoch from posted_at) * 1e6)::bigint, post_attempts, coalesce(last_error, ''), "
    "(extract(epoch from detected_at) * 1e6)::bigint, "
    "(extract(epoch from in_flight_since) * 1e6)::bigint";

void SetTime(const pqxx::field& f, google::protobuf::Timestamp* out) {
  if (!f.is_null()) iss::ToProto(absl::FromUnixMicros(f.as<int64_t>()), out);
}

v1::Detection RowToDetection(const pqxx::row& r) {
  v1::Detection d;
  d.set_detection_id(r[0].as<std::string>());
  d.set_item_id(r[1].as<std::string>());
  SetTime(r[2], d.mutable_start_time());
  SetTime(r[3], d.mutable_end_time());
  d.set_start_level_percent(r[4].as<double>());
  d.set_end_level_percent(r[5].as<double>());
  d.set_rise_percent(r[6].as<double>());
  d.set_estimated_volume_ml(r[7].as<double>());
  d.set_post_status(ParsePostStatus(r[8].as<std::string>()));
  d.set_post_id(r[9].as<std::string>());
  d.set_post_text(r[10].as<std::string>());
  SetTime(r[11], d.mutable_posted_at());
  d.set_post_attempts(r[12].as<uint32_t>());
  d.set_last_error(r[13].as<std::string>());
  SetTime(r[14], d.mutable_detected_at());
  return d;
}

}  // namespace

Detection DetectionFromProto(const v1::Detection& d) {
  Detection det;
  det.detection_id = d.detection_id();
  det.item_id = d.item_id();
  det.start_time = iss::FromProto(d.start_time());
  det.end_time = iss::FromProto(d.end_time());
  det.start_level = d.start_level_percent();
  det.end_level = d.end_level_percent();
  det.rise = d.rise_percent();
  det.volume_ml = d.estimated_volume_ml();
  return det;
}

std::string EncodeDetectionsToken(const DetectionCursor& c) {
  return absl::WebSafeBase64Escape(absl::StrCat(c.start_us, ":", c.detection_id));
}

absl::StatusOr<DetectionCursor> DecodeDetectionsToken(const std::string& token, int64_t start_us,
                                                      int64_t end_us) {
  auto invalid = [] {
    return absl::InvalidArgumentError("page_token: not a token this service issued");
  };
  // 20 digits, ':' and a 64-hex id, in base64: under 120 characters.
  std::string raw;
  if (token.size() > 128 || !absl::WebSafeBase64Unescape(token, &raw)) return invalid();
  std::vector<std::string> parts = absl::StrSplit(raw, absl::MaxSplits(':', 1));
  DetectionCursor c;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &c.start_us)) return invalid();
  c.detection_id = std::move(parts[1]);
  // A row this listing served: inside its window, with an id DetectionId wrote.
  if (c.start_us < start_us || c.start_us >= end_us) {
    return absl::InvalidArgumentError("page_token: position outside the listed window");
  }
  if (!IsSha256Hex(c.detection_id)) return invalid();
  // Only the encoder's own spelling (no padding, leading zeros, '+').
  if (EncodeDetectionsToken(c) != token) return invalid();
  return c;
}

std::string StaleReason(absl::Time end_time, absl::Time limit) {
  return absl::StrCat("stale: it ended at ", iss::FormatRfc3339Micros(end_time),
                      ", before the freshness limit ", iss::FormatRfc3339Micros(limit),
                      " (ISS_PEEBOT_MAX_POST_AGE): not posted");
}

std::string PostStatusName(PostStatus s) {
  switch (s) {
    case v1::POST_STATUS_POSTED:
      return "posted";
    case v1::POST_STATUS_DRY_RUN:
      return "dry_run";
    case v1::POST_STATUS_COOLDOWN:
      return "cooldown";
    case v1::POST_STATUS_PAUSED:
      return "paused";
    case v1::POST_STATUS_DAILY_CAP:
      return "daily_cap";
    case v1::POST_STATUS_FAILED:
      return "failed";
    case v1::POST_STATUS_DUPLICATE:
      return "duplicate";
    case v1::POST_STATUS_STALE:
      return "stale";
    default:
      return "pending";
  }
}

PostStatus ParsePostStatus(const std::string& s) {
  for (PostStatus p : {v1::POST_STATUS_POSTED, v1::POST_STATUS_DRY_RUN, v1::POST_STATUS_COOLDOWN,
                       v1::POST_STATUS_PAUSED, v1::POST_STATUS_DAILY_CAP, v1::POST_STATUS_FAILED,
                       v1::POST_STATUS_DUPLICATE, v1::POST_STATUS_STALE, v1::POST_STATUS_PENDING}) {
    if (PostStatusName(p) == s) return p;
  }
  return v1::POST_STATUS_UNSPECIFIED;
}

Store::Store(std::string dsn) : dsn_(std::move(dsn)) {}
Store::~Store() = default;

absl::Status Store::Run(const std::function<void(pqxx::connection&)>& fn) {
  absl::MutexLock lock(&mu_);
  if (!conn_) {
    auto conn = iss::pg::Connect(dsn_);
    if (!conn.ok()) return conn.status();
    conn_ = std::move(*conn);
  }
  pqxx::connection& conn = *conn_;  // the lambda runs under this lock
  absl::Status s = iss::pg::Guard([&] { fn(conn); });
  if (absl::IsUnavailable(s)) conn_.reset();  // reconnect next time
  return s;
}

absl::Status Store::Migrate() {
  absl::Status result = absl::OkStatus();
  absl::Status s = Run([&](pqxx::connection& c) {
    auto v = iss::pg::Migrate(c);
    if (!v.ok()) result = v.status();
  });
  return s.ok() ? result : s;
}

absl::Status Store::Ping() {
  return Run([](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec("SELECT 1");
  });
}

absl::StatusOr<std::optional<std::string>> Store::LoadDetectorState(const std::string& group) {
  std::optional<std::string> out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r =
        tx.exec_params("SELECT state::text FROM peebot_detector_state WHERE group_id = $1", group);
    if (!r.empty()) out = r[0][0].as<std::string>();
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::map<kafka::TopicPartition, int64_t>> Store::LoadOffsets(
    const std::string& group, const std::vector<kafka::TopicPartition>& partitions) {
  absl::StatusOr<std::map<kafka::TopicPartition, int64_t>> out;
  absl::Status s =
      Run([&](pqxx::connection& c) { out = iss::pg::OffsetStore(group).Load(c, partitions); });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<int> Store::CommitBatch(const std::string& group, const std::vector<Sample>& samples,
                                       const std::vector<Detection>& detections,
                                       const std::string& detector_state,
                                       const std::map<kafka::TopicPartition, int64_t>& next_offsets,
                                       absl::Time stale_before) {
  int inserted = 0;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    const std::string insert_sample = absl::StrCat(
        "INSERT INTO peebot_samples (item_id, source_ts, ingest_ts, value, status_class, signal, "
        "received_ts) VALUES ($1, ",
        Ts(2), ", CASE WHEN $3 THEN ", Ts(4),
        " END, CASE WHEN $5 THEN $6 END, CASE WHEN $7 THEN $8 END, $9, CASE WHEN $10 THEN ", Ts(11),
        " END) ON CONFLICT DO NOTHING");
    for (const Sample& smp : samples) {
      const bool has_ingest = smp.ingest_ts != absl::InfinitePast();
      const bool has_received = smp.received_ts != absl::InfinitePast();
      tx.exec_params(insert_sample, smp.item_id, Us(smp.source_ts), has_ingest,
                     has_ingest ? Us(smp.ingest_ts) : 0, smp.value.has_value(),
                     smp.value.value_or(""), smp.status_class.has_value(),
                     smp.status_class.value_or(""), static_cast<int>(smp.signal), has_received,
                     has_received ? Us(smp.received_ts) : 0);
    }
    // A detection that ended before `stale_before` is stored as stale (never
    // posted), with its age in last_error.
    const std::string insert_detection = absl::StrCat(
        "INSERT INTO peebot_detections (detection_id, item_id, start_time, end_time, start_level, "
        "end_level, rise, volume_ml, post_status, last_error) VALUES ($1, $2, ",
        Ts(3), ", ", Ts(4),
        ", $5, $6, $7, $8, CASE WHEN $9 THEN 'stale' ELSE 'pending' END, NULLIF($10, '')) "
        "ON CONFLICT (detection_id) DO NOTHING");
    for (const Detection& d : detections) {
      const bool stale = d.end_time < stale_before;
      inserted += tx.exec_params(insert_detection, d.detection_id, d.item_id, Us(d.start_time),
                                 Us(d.end_time), d.start_level, d.end_level, d.rise, d.volume_ml,
                                 stale, stale ? StaleReason(d.end_time, stale_before) : "")
                      .affected_rows();
    }
    tx.exec_params(
        "INSERT INTO peebot_detector_state (group_id, state, updated_at) VALUES ($1, $2::jsonb, "
        "now()) ON CONFLICT (group_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
        group, detector_state);
    iss::pg::OffsetStore(group).Save(tx, next_offsets);
    tx.commit();
  });
  if (!s.ok()) return s;
  return inserted;
}

absl::StatusOr<std::vector<Store::PendingRow>> Store::Pending(int limit) {
  std::vector<PendingRow> out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params(absl::StrCat("SELECT ", kDetectionColumns,
                                         " FROM peebot_detections WHERE post_status = 'pending' "
                                         "ORDER BY start_time, detection_id LIMIT $1"),
                            limit);
    for (const auto& row : r) {
      out.push_back({RowToDetection(row), !row[15].is_null()});
    }
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Store::MarkInFlight(const std::string& id, const std::string& text, absl::Time now) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        absl::StrCat("UPDATE peebot_detections SET post_text = $2, in_flight_since = ", Ts(3),
                     ", post_attempts = post_attempts + 1 "
                     "WHERE detection_id = $1"),
        id, text, Us(now));
    tx.commit();
  });
}

absl::Status Store::RecordAttempt(const std::string& id, const std::string& error) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE peebot_detections SET post_attempts = post_attempts + 1, "
        "last_error = $2 WHERE detection_id = $1",
        id, error);
    tx.commit();
  });
}

namespace {
void InsertPost(pqxx::work& tx, const std::optional<std::string>& detection_id,
                const Store::Outcome& o, const std::string& destination) {
  tx.exec_params(
      absl::StrCat("INSERT INTO peebot_posts (detection_id, posted_at, event_time, text, "
                   "post_id, dry_run, joke_index, destination) VALUES (CASE WHEN $1 THEN $2 END, ",
                   Ts(3), ", CASE WHEN $4 THEN ", Ts(5), " END, $6, NULLIF($7, ''), $8, $9, $10)"),
      detection_id.has_value(), detection_id.value_or(""), Us(o.at), o.event_time.has_value(),
      o.event_time ? Us(*o.event_time) : 0, o.text, o.post_id, o.dry_run, o.joke_index,
      destination);
}
}  // namespace

absl::Status Store::Resolve(const std::string& id, const Outcome& o) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        absl::StrCat("UPDATE peebot_detections SET post_status = $2, post_id = NULLIF($3, ''), "
                     "last_error = NULLIF($4, ''), in_flight_since = NULL, "
                     "post_text = CASE WHEN $5 <> '' THEN $5 ELSE post_text END, "
                     "posted_at = CASE WHEN $6 THEN ",
                     Ts(7),
                     " ELSE posted_at END "
                     "WHERE detection_id = $1"),
        id, PostStatusName(o.status), o.post_id, o.error, o.text, o.record_post, Us(o.at));
    if (o.record_post) InsertPost(tx, id, o, "x");
    tx.commit();
  });
}

absl::Status Store::RecordPost(const Outcome& o) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    InsertPost(tx, std::nullopt, o, "x");
    tx.commit();
  });
}

absl::StatusOr<Store::PostStats> Store::Stats(absl::Time now, bool dry_run) {
  auto st = DestinationStats("x", now, dry_run);
  if (!st.ok()) return st;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto folded = tx.exec_params(
        absl::StrCat("SELECT count(*) FROM peebot_detections WHERE post_status = 'cooldown' "
                     "AND start_time > ",
                     Ts(1)),
        st->last_event_time ? Us(*st->last_event_time) : kFarPastUs);
    st->folded_since_last = folded[0][0].as<int>();
    tx.commit();
  });
  if (!s.ok()) return s;
  return st;
}

absl::StatusOr<Store::PostStats> Store::DestinationStats(const std::string& destination,
                                                         absl::Time now, bool dry_run) {
  PostStats st;
  const absl::Time day_start = absl::FromUnixSeconds(absl::ToUnixSeconds(now) / 86400 * 86400);
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params(absl::StrCat("SELECT count(*) FILTER (WHERE posted_at >= ", Ts(1),
                                         "), "
                                         "(extract(epoch from max(posted_at)) * 1e6)::bigint, "
                                         "(extract(epoch from max(event_time)) * 1e6)::bigint "
                                         "FROM peebot_posts WHERE dry_run = $2 "
                                         "AND destination = $3"),
                            Us(day_start), dry_run, destination);
    st.posts_today = r[0][0].as<int>();
    if (!r[0][1].is_null()) st.last_post_at = absl::FromUnixMicros(r[0][1].as<int64_t>());
    if (!r[0][2].is_null()) st.last_event_time = absl::FromUnixMicros(r[0][2].as<int64_t>());
    auto last = tx.exec_params(
        "SELECT text, coalesce(joke_index, -1) FROM peebot_posts WHERE destination = $1 "
        "ORDER BY posted_at DESC, id DESC LIMIT 1",
        destination);
    if (!last.empty()) {
      st.last_text = last[0][0].as<std::string>();
      st.last_joke_index = last[0][1].as<int>();
    }
    tx.commit();
  });
  if (!s.ok()) return s;
  return st;
}

absl::StatusOr<std::pair<std::vector<v1::Detection>, std::string>> Store::List(
    std::optional<absl::Time> start, std::optional<absl::Time> end, int page_size,
    const std::string& page_token) {
  const int64_t start_us = start ? Us(*start) : kFarPastUs;
  const int64_t end_us = end ? Us(*end) : kFarFutureUs;
  DetectionCursor cursor{end_us, "\x7f"};  // before the first row: sorts after every hex id
  if (!page_token.empty()) {
    auto decoded = DecodeDetectionsToken(page_token, start_us, end_us);
    if (!decoded.ok()) return decoded.status();
    cursor = *std::move(decoded);
  }
  std::vector<v1::Detection> out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params(
        absl::StrCat("SELECT ", kDetectionColumns, " FROM peebot_detections WHERE start_time >= ",
                     Ts(1), " AND start_time < ", Ts(2), " AND (start_time, detection_id) < (",
                     Ts(3), ", $4) ORDER BY start_time DESC, detection_id DESC LIMIT $5"),
        start_us, end_us, cursor.start_us, cursor.detection_id, page_size + 1);
    for (const auto& row : r) out.push_back(RowToDetection(row));
    std::vector<v1::Detection*> ptrs;
    for (auto& d : out) ptrs.push_back(&d);
    FillDeliveries(tx, ptrs);
    tx.commit();
  });
  if (!s.ok()) return s;
  std::string next;
  if (static_cast<int>(out.size()) > page_size) {
    out.resize(page_size);
    const v1::Detection& last = out.back();
    next = EncodeDetectionsToken(DetectionCursor{
        absl::ToUnixMicros(iss::FromProto(last.start_time())), last.detection_id()});
  }
  return std::make_pair(std::move(out), next);
}

absl::StatusOr<std::optional<v1::Detection>> Store::Latest() {
  std::optional<v1::Detection> out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec(absl::StrCat("SELECT ", kDetectionColumns,
                                  " FROM peebot_detections ORDER BY start_time DESC LIMIT 1"));
    if (!r.empty()) {
      out = RowToDetection(r[0]);
      std::vector<v1::Detection*> ptrs = {&*out};
      FillDeliveries(tx, ptrs);
    }
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<v1::Detection>> Store::Get(const std::string& id) {
  std::optional<v1::Detection> out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params(absl::StrCat("SELECT ", kDetectionColumns,
                                         " FROM peebot_detections WHERE detection_id = $1"),
                            id);
    if (!r.empty()) {
      out = RowToDetection(r[0]);
      std::vector<v1::Detection*> ptrs = {&*out};
      FillDeliveries(tx, ptrs);
    }
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<int64_t> Store::CountDetections() {
  int64_t n = 0;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    n = tx.exec("SELECT count(*) FROM peebot_detections")[0][0].as<int64_t>();
    tx.commit();
  });
  if (!s.ok()) return s;
  return n;
}

absl::StatusOr<int64_t> Store::PruneSamples(absl::Time before) {
  int64_t n = 0;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    n = tx.exec_params(absl::StrCat("DELETE FROM peebot_samples WHERE source_ts < ", Ts(1)),
                       Us(before))
            .affected_rows();
    tx.commit();
  });
  if (!s.ok()) return s;
  return n;
}

absl::StatusOr<std::vector<Sample>> Store::Samples(absl::Time start, absl::Time end) {
  std::vector<Sample> out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params(
        absl::StrCat("SELECT item_id, (extract(epoch from source_ts) * 1e6)::bigint, "
                     "(extract(epoch from ingest_ts) * 1e6)::bigint, value, status_class, signal, "
                     "(extract(epoch from received_ts) * 1e6)::bigint "
                     "FROM peebot_samples WHERE source_ts >= ",
                     Ts(1), " AND source_ts < ", Ts(2), " ORDER BY source_ts, item_id"),
        Us(start), Us(end));
    for (const auto& row : r) {
      Sample smp;
      smp.item_id = row[0].as<std::string>();
      smp.source_ts = absl::FromUnixMicros(row[1].as<int64_t>());
      if (!row[2].is_null()) smp.ingest_ts = absl::FromUnixMicros(row[2].as<int64_t>());
      if (!row[3].is_null()) smp.value = row[3].as<std::string>();
      if (!row[4].is_null()) smp.status_class = row[4].as<std::string>();
      smp.signal = static_cast<SignalState>(row[5].as<int>());
      // Stored before received_ts existed: the ingest time stood for it.
      smp.received_ts =
          row[6].is_null() ? smp.ingest_ts : absl::FromUnixMicros(row[6].as<int64_t>());
      out.push_back(std::move(smp));
    }
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<std::string>> Store::LoadSettings() {
  std::optional<std::string> out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec("SELECT settings::text FROM peebot_settings");
    if (!r.empty()) out = r[0][0].as<std::string>();
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Store::SaveSettings(const std::string& json) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO peebot_settings (id, settings, updated_at) VALUES (true, $1::jsonb, "
        "now()) ON CONFLICT (id) DO UPDATE SET settings = EXCLUDED.settings, "
        "updated_at = now()",
        json);
    tx.commit();
  });
}

// --- Destinations -------------------------------------------------------------

namespace {

// One lock for every poster's admission round (any value unique in this
// database; "peebot" in ASCII).
constexpr int64_t kAdmissionLock = 0x7065656230740001;

constexpr char kDeliveryColumns[] =
    "v.destination, coalesce(v.text, ''), coalesce(v.joke_index, -1), "
    "coalesce(v.idempotency_key, ''), coalesce(v.request, ''), "
    "(extract(epoch from v.first_sent_at) * 1e6)::bigint, v.v_in_flight IS NOT NULL, "
    "v.attempts, coalesce(a.folded, 0)";

}  // namespace

absl::StatusOr<int> Store::Admit(const AdmissionRules& rules) {
  int decided = 0;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    // Decisions depend on the previous ones (the cooldown): one round at a time.
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kAdmissionLock);
    auto todo = tx.exec_params(
        "SELECT d.detection_id, (extract(epoch from d.start_time) * 1e6)::bigint, "
        "(extract(epoch from d.end_time) * 1e6)::bigint, d.post_status "
        "FROM peebot_detections d LEFT JOIN peebot_admissions a USING (detection_id) "
        "WHERE a.detection_id IS NULL ORDER BY d.start_time, d.detection_id LIMIT $1",
        rules.limit);
    if (todo.empty()) return;
    auto last = tx.exec(
        "SELECT (extract(epoch from max(d.start_time)) * 1e6)::bigint FROM peebot_admissions a "
        "JOIN peebot_detections d USING (detection_id) WHERE a.decision = 'admitted'");
    std::optional<absl::Time> last_admitted;
    if (!last[0][0].is_null()) last_admitted = absl::FromUnixMicros(last[0][0].as<int64_t>());
    auto folded_r = tx.exec_params(
        absl::StrCat("SELECT count(*) FROM peebot_admissions a JOIN peebot_detections d "
                     "USING (detection_id) WHERE a.decision = 'cooldown' AND d.start_time > ",
                     Ts(1)),
        last_admitted ? Us(*last_admitted) : kFarPastUs);
    int folded = folded_r[0][0].as<int>();
    const absl::Time stale_before = rules.max_post_age > absl::ZeroDuration()
                                        ? rules.now - rules.max_post_age
                                        : absl::InfinitePast();
    const std::string insert_admission = absl::StrCat(
        "INSERT INTO peebot_admissions (detection_id, decision, folded, reason, decided_at) "
        "VALUES ($1, $2, $3, NULLIF($4, ''), ",
        Ts(5), ") ON CONFLICT (detection_id) DO NOTHING");
    const std::string insert_delivery =
        "INSERT INTO peebot_deliveries (detection_id, destination) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING";
    for (const auto& row : todo) {
      const std::string id = row[0].as<std::string>();
      const absl::Time start = absl::FromUnixMicros(row[1].as<int64_t>());
      const absl::Time end = absl::FromUnixMicros(row[2].as<int64_t>());
      std::string decision = "admitted", reason;
      int admitted_folded = 0;
      if (row[3].as<std::string>() == "stale" || end < stale_before) {
        decision = "stale";
        reason = StaleReason(end, stale_before);
      } else if (rules.paused) {
        decision = "paused";
        reason = "posting paused";
      } else if (last_admitted && start - *last_admitted < rules.cooldown) {
        decision = "cooldown";
        reason = "inside the cooldown after the last posted detection";
        ++folded;
      } else {
        admitted_folded = folded;
        folded = 0;
        last_admitted = start;
      }
      tx.exec_params(insert_admission, id, decision, admitted_folded, reason, Us(rules.now));
      if (decision == "admitted") {
        for (const std::string& dest : rules.destinations) {
          if (dest != "x") tx.exec_params(insert_delivery, id, dest);
        }
      }
      ++decided;
    }
    tx.commit();
  });
  if (!s.ok()) return s;
  return decided;
}

absl::StatusOr<std::optional<Store::Admission>> Store::AdmissionOf(const std::string& id) {
  std::optional<Admission> out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params(
        "SELECT decision, folded, coalesce(reason, '') FROM peebot_admissions "
        "WHERE detection_id = $1",
        id);
    if (!r.empty()) {
      out = Admission{r[0][0].as<std::string>(), r[0][1].as<int>(), r[0][2].as<std::string>()};
    }
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<Store::DeliveryRow>> Store::DueDeliveries(const std::string& destination,
                                                                     absl::Time now, int limit) {
  std::vector<DeliveryRow> out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params(
        absl::StrCat("SELECT ", kDetectionColumns, ", ", kDeliveryColumns,
                     // Renamed: both tables have post_id, last_error, ...
                     " FROM peebot_detections JOIN (SELECT detection_id AS v_id, destination, "
                     "status, text, joke_index, idempotency_key, request, first_sent_at, "
                     "in_flight_since AS v_in_flight, next_attempt_at, attempts "
                     "FROM peebot_deliveries) v ON v.v_id = peebot_detections.detection_id "
                     "LEFT JOIN (SELECT detection_id AS a_id, folded FROM peebot_admissions) a "
                     "ON a.a_id = peebot_detections.detection_id "
                     "WHERE v.destination = $1 AND v.status = 'pending' "
                     "AND (v.next_attempt_at IS NULL OR v.next_attempt_at <= ",
                     Ts(2), ") ORDER BY start_time, detection_id LIMIT $3"),
        destination, Us(now), limit);
    for (const auto& row : r) {
      DeliveryRow d;
      d.detection = RowToDetection(row);
      d.destination = row[16].as<std::string>();
      d.text = row[17].as<std::string>();
      d.joke_index = row[18].as<int>();
      d.idempotency_key = row[19].as<std::string>();
      d.request = row[20].as<std::string>();
      if (!row[21].is_null()) d.first_sent_at = absl::FromUnixMicros(row[21].as<int64_t>());
      d.in_flight = row[22].as<bool>();
      d.attempts = row[23].as<int>();
      d.folded = row[24].as<int>();
      out.push_back(std::move(d));
    }
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Store::MarkDeliveryInFlight(const DeliveryRow& row, absl::Time now) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(absl::StrCat("UPDATE peebot_deliveries SET text = $3, joke_index = $4, "
                                "idempotency_key = $5, request = $6, "
                                "first_sent_at = coalesce(first_sent_at, ",
                                Ts(7), "), in_flight_since = ", Ts(7),
                                ", attempts = attempts + 1, updated_at = now() "
                                "WHERE detection_id = $1 AND destination = $2"),
                   row.detection.detection_id(), row.destination, row.text, row.joke_index,
                   row.idempotency_key, row.request, Us(now));
    tx.commit();
  });
}

absl::Status Store::DeferDelivery(const std::string& id, const std::string& destination,
                                  absl::Time next, const std::string& error,
                                  bool may_have_arrived) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(absl::StrCat("UPDATE peebot_deliveries SET next_attempt_at = ", Ts(3),
                                ", last_error = $4, updated_at = now(), "
                                "in_flight_since = CASE WHEN $5 THEN in_flight_since END "
                                "WHERE detection_id = $1 AND destination = $2"),
                   id, destination, Us(next), error, may_have_arrived);
    tx.commit();
  });
}

absl::Status Store::ResolveDelivery(const std::string& id, const std::string& destination,
                                    const Outcome& o) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        absl::StrCat("UPDATE peebot_deliveries SET status = $3, post_id = NULLIF($4, ''), "
                     "last_error = NULLIF($5, ''), in_flight_since = NULL, "
                     "next_attempt_at = NULL, "
                     "text = CASE WHEN $6 <> '' THEN $6 ELSE text END, "
                     "joke_index = CASE WHEN $7 >= 0 THEN $7 ELSE joke_index END, "
                     "posted_at = CASE WHEN $8 THEN ",
                     Ts(9),
                     " ELSE posted_at END, updated_at = now() "
                     "WHERE detection_id = $1 AND destination = $2"),
        id, destination, PostStatusName(o.status), o.post_id, o.error, o.text, o.joke_index,
        o.record_post, Us(o.at));
    if (o.record_post) InsertPost(tx, id, o, destination);
    tx.commit();
  });
}

absl::Status Store::RecordDestinationPost(const std::string& destination, const Outcome& o) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    InsertPost(tx, std::nullopt, o, destination);
    tx.commit();
  });
}

absl::StatusOr<bool> Store::TextPosted(const std::string& destination, const std::string& text,
                                       bool dry_run) {
  bool found = false;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    found = tx.exec_params(
                  "SELECT EXISTS (SELECT 1 FROM peebot_posts WHERE destination = $1 AND "
                  "text = $2 AND (NOT dry_run OR $3))",
                  destination, text, dry_run)[0][0]
                .as<bool>();
    tx.commit();
  });
  if (!s.ok()) return s;
  return found;
}

absl::StatusOr<std::map<std::string, std::string>> Store::DestinationPauses() {
  std::map<std::string, std::string> out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    for (const auto& row : tx.exec("SELECT destination, reason FROM peebot_destination_pauses")) {
      out[row[0].as<std::string>()] = row[1].as<std::string>();
    }
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Store::SetDestinationPaused(const std::string& destination, bool paused,
                                         const std::string& reason) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    if (paused) {
      tx.exec_params(
          "INSERT INTO peebot_destination_pauses (destination, reason) VALUES ($1, $2) "
          "ON CONFLICT (destination) DO UPDATE SET reason = EXCLUDED.reason, paused_at = now()",
          destination, reason);
    } else {
      tx.exec_params("DELETE FROM peebot_destination_pauses WHERE destination = $1", destination);
    }
    tx.commit();
  });
}

absl::StatusOr<Store::DeliverySummary> Store::SummariseDeliveries(const std::string& destination) {
  DeliverySummary out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    out.pending = tx.exec_params(
                        "SELECT count(*) FROM peebot_deliveries WHERE destination = $1 "
                        "AND status = 'pending'",
                        destination)[0][0]
                      .as<int>();
    auto r = tx.exec_params(
        "SELECT last_error FROM peebot_deliveries WHERE destination = $1 "
        "AND last_error IS NOT NULL ORDER BY updated_at DESC LIMIT 1",
        destination);
    if (!r.empty()) out.last_error = r[0][0].as<std::string>();
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

void Store::FillDeliveries(pqxx::work& tx, std::vector<v1::Detection*>& detections) {
  if (detections.empty()) return;
  std::map<std::string, v1::Detection*> by_id;
  std::string ids = "{";
  for (v1::Detection* d : detections) {
    by_id[d->detection_id()] = d;
    if (ids.size() > 1) ids += ",";
    ids += d->detection_id();  // hex: no quoting needed in an array literal
  }
  ids += "}";
  auto r = tx.exec_params(
      "SELECT detection_id, destination, status, coalesce(text, ''), coalesce(post_id, ''), "
      "(extract(epoch from posted_at) * 1e6)::bigint, attempts, coalesce(last_error, '') "
      "FROM peebot_deliveries WHERE detection_id = ANY($1::text[]) "
      "ORDER BY detection_id, destination",
      ids);
  for (const auto& row : r) {
    auto it = by_id.find(row[0].as<std::string>());
    if (it == by_id.end()) continue;
    v1::Delivery* out = it->second->add_deliveries();
    out->set_destination(row[1].as<std::string>());
    out->set_status(ParsePostStatus(row[2].as<std::string>()));
    out->set_text(row[3].as<std::string>());
    out->set_post_id(row[4].as<std::string>());
    SetTime(row[5], out->mutable_posted_at());
    out->set_attempts(row[6].as<uint32_t>());
    out->set_last_error(row[7].as<std::string>());
  }
}

}  // namespace iss::peebot

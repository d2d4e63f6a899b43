#include "services/peebot/store.h"

#include <pqxx/pqxx>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/event_id.h"
#include "common/grpc_util.h"
#include "common/pg.h"
#include "services/peebot/store_sql.h"

namespace iss::peebot {

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

void InsertPost(pqxx::work& tx, const std::optional<std::string>& detection_id,
                const Store::Outcome& o, const std::string& destination) {
  tx.exec_params(kInsertPost, detection_id.has_value(), detection_id.value_or(""), Us(o.at),
                 o.event_time.has_value(), o.event_time ? Us(*o.event_time) : 0, o.text, o.post_id,
                 o.dry_run, o.joke_index, destination);
}

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
    auto r = tx.exec_params(kSelectDetectorState, group);
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
    for (const Sample& smp : samples) {
      const bool has_ingest = smp.ingest_ts != absl::InfinitePast();
      const bool has_received = smp.received_ts != absl::InfinitePast();
      tx.exec_params(kInsertSample, smp.item_id, Us(smp.source_ts), has_ingest,
                     has_ingest ? Us(smp.ingest_ts) : 0, smp.value.has_value(),
                     smp.value.value_or(""), smp.status_class.has_value(),
                     smp.status_class.value_or(""), static_cast<int>(smp.signal), has_received,
                     has_received ? Us(smp.received_ts) : 0);
    }
    for (const Detection& d : detections) {
      const bool stale = d.end_time < stale_before;
      inserted += tx.exec_params(kInsertDetection, d.detection_id, d.item_id, Us(d.start_time),
                                 Us(d.end_time), d.start_level, d.end_level, d.rise, d.volume_ml,
                                 stale, stale ? StaleReason(d.end_time, stale_before) : "")
                      .affected_rows();
    }
    tx.exec_params(kUpsertDetectorState, group, detector_state);
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
    auto r = tx.exec_params(kSelectPending, limit);
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
    tx.exec_params(kMarkInFlight, id, text, Us(now));
    tx.commit();
  });
}

absl::Status Store::RecordAttempt(const std::string& id, const std::string& error) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(kRecordAttempt, id, error);
    tx.commit();
  });
}

absl::Status Store::Resolve(const std::string& id, const Outcome& o) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(kResolveDetection, id, PostStatusName(o.status), o.post_id, o.error, o.text,
                   o.record_post, Us(o.at));
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
    auto folded = tx.exec_params(kCountFoldedSince,
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
    auto r = tx.exec_params(kPostStats, Us(day_start), dry_run, destination);
    st.posts_today = r[0][0].as<int>();
    if (!r[0][1].is_null()) st.last_post_at = absl::FromUnixMicros(r[0][1].as<int64_t>());
    if (!r[0][2].is_null()) st.last_event_time = absl::FromUnixMicros(r[0][2].as<int64_t>());
    auto last = tx.exec_params(kLastPost, destination);
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
    auto r = tx.exec_params(kListDetections, start_us, end_us, cursor.start_us, cursor.detection_id,
                            page_size + 1);
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

std::optional<v1::Detection> Store::FirstWithDeliveries(pqxx::work& tx, const pqxx::result& r) {
  if (r.empty()) return std::nullopt;
  std::optional<v1::Detection> out = RowToDetection(r[0]);
  std::vector<v1::Detection*> ptrs = {&*out};
  FillDeliveries(tx, ptrs);
  return out;
}

absl::StatusOr<std::optional<v1::Detection>> Store::Latest() {
  std::optional<v1::Detection> out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    out = FirstWithDeliveries(tx, tx.exec(kLatestDetection));
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<v1::Detection>> Store::Get(const std::string& id) {
  std::optional<v1::Detection> out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    out = FirstWithDeliveries(tx, tx.exec_params(kGetDetection, id));
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<int64_t> Store::CountDetections() {
  int64_t n = 0;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    n = tx.exec(kCountDetections)[0][0].as<int64_t>();
    tx.commit();
  });
  if (!s.ok()) return s;
  return n;
}

absl::StatusOr<int64_t> Store::PruneSamples(absl::Time before) {
  int64_t n = 0;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    n = tx.exec_params(kPruneSamples, Us(before)).affected_rows();
    tx.commit();
  });
  if (!s.ok()) return s;
  return n;
}

absl::StatusOr<std::vector<Sample>> Store::Samples(absl::Time start, absl::Time end) {
  std::vector<Sample> out;
  absl::Status s = Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params(kSelectSamples, Us(start), Us(end));
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
    auto r = tx.exec(kSelectSettings);
    if (!r.empty()) out = r[0][0].as<std::string>();
    tx.commit();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Store::SaveSettings(const std::string& json) {
  return Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(kUpsertSettings, json);
    tx.commit();
  });
}

}  // namespace iss::peebot

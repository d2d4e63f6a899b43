// Owns: every SQL statement of the Pee-Bot Store, as named constants, and the
// row helpers both halves of the Store use (store.cc: pipeline, poster, admin;
// store_destinations.cc: admissions, deliveries, pauses). Timestamps cross as
// Unix microseconds (ISS_PG_MICROS / ISS_PG_TIMESTAMP, common/pg.h).
// Private to the Store's .cc files.
#pragma once

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "absl/time/time.h"
#include "common/pg.h"
#include "iss/peebot/v1/peebot.pb.h"
#include "services/peebot/store.h"

namespace iss::peebot {

constexpr int64_t kFarPastUs = -2208988800000000;    // 1900-01-01
constexpr int64_t kFarFutureUs = 32503680000000000;  // 3000-01-01

inline int64_t Us(absl::Time t) { return absl::ToUnixMicros(t); }

// SQL is laid out by hand here (clang-format would break it around the
// timestamp macros mid-clause).
// clang-format off

// Columns 0..15 of a detection row (RowToDetection); 15 is in_flight_since.
#define ISS_PEEBOT_DETECTION_COLUMNS                                              \
  "detection_id, item_id, " ISS_PG_MICROS("start_time") ", "                      \
  ISS_PG_MICROS("end_time") ", start_level, end_level, rise, volume_ml, "         \
  "post_status, coalesce(post_id, ''), coalesce(post_text, ''), "                 \
  ISS_PG_MICROS("posted_at") ", post_attempts, coalesce(last_error, ''), "        \
  ISS_PG_MICROS("detected_at") ", " ISS_PG_MICROS("in_flight_since")

// --- Pipeline -----------------------------------------------------------------
constexpr char kSelectDetectorState[] =
    "SELECT state::text FROM peebot_detector_state WHERE group_id = $1";
constexpr char kInsertSample[] =
    "INSERT INTO peebot_samples (item_id, source_ts, ingest_ts, value, status_class, signal,"
    " received_ts) VALUES ($1, " ISS_PG_TIMESTAMP("$2") ","
    " CASE WHEN $3 THEN " ISS_PG_TIMESTAMP("$4") " END,"
    " CASE WHEN $5 THEN $6 END, CASE WHEN $7 THEN $8 END, $9,"
    " CASE WHEN $10 THEN " ISS_PG_TIMESTAMP("$11") " END)"
    " ON CONFLICT DO NOTHING";
// A detection that ended before the freshness limit is stored as stale (never
// posted), with its age in last_error.
constexpr char kInsertDetection[] =
    "INSERT INTO peebot_detections (detection_id, item_id, start_time, end_time, start_level,"
    " end_level, rise, volume_ml, post_status, last_error) VALUES ($1, $2,"
    " " ISS_PG_TIMESTAMP("$3") ", " ISS_PG_TIMESTAMP("$4") ", $5, $6, $7, $8,"
    " CASE WHEN $9 THEN 'stale' ELSE 'pending' END, NULLIF($10, ''))"
    " ON CONFLICT (detection_id) DO NOTHING";
constexpr char kUpsertDetectorState[] =
    "INSERT INTO peebot_detector_state (group_id, state, updated_at) VALUES ($1, $2::jsonb, now())"
    " ON CONFLICT (group_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()";
constexpr char kSelectSamples[] =
    "SELECT item_id, " ISS_PG_MICROS("source_ts") ", " ISS_PG_MICROS("ingest_ts") ","
    " value, status_class, signal, " ISS_PG_MICROS("received_ts") " FROM peebot_samples"
    " WHERE source_ts >= " ISS_PG_TIMESTAMP("$1") " AND source_ts < " ISS_PG_TIMESTAMP("$2")
    " ORDER BY source_ts, item_id";
constexpr char kPruneSamples[] =
    "DELETE FROM peebot_samples WHERE source_ts < " ISS_PG_TIMESTAMP("$1");

// --- Poster (X keeps its state on peebot_detections) ---------------------------
constexpr char kSelectPending[] =
    "SELECT " ISS_PEEBOT_DETECTION_COLUMNS " FROM peebot_detections"
    " WHERE post_status = 'pending' ORDER BY start_time, detection_id LIMIT $1";
constexpr char kMarkInFlight[] =
    "UPDATE peebot_detections SET post_text = $2,"
    " in_flight_since = " ISS_PG_TIMESTAMP("$3") ", post_attempts = post_attempts + 1"
    " WHERE detection_id = $1";
constexpr char kRecordAttempt[] =
    "UPDATE peebot_detections SET post_attempts = post_attempts + 1, last_error = $2"
    " WHERE detection_id = $1";
constexpr char kResolveDetection[] =
    "UPDATE peebot_detections SET post_status = $2, post_id = NULLIF($3, ''),"
    " last_error = NULLIF($4, ''), in_flight_since = NULL,"
    " post_text = CASE WHEN $5 <> '' THEN $5 ELSE post_text END,"
    " posted_at = CASE WHEN $6 THEN " ISS_PG_TIMESTAMP("$7") " ELSE posted_at END"
    " WHERE detection_id = $1";
constexpr char kInsertPost[] =
    "INSERT INTO peebot_posts (detection_id, posted_at, event_time, text, post_id, dry_run,"
    " joke_index, destination) VALUES (CASE WHEN $1 THEN $2 END, " ISS_PG_TIMESTAMP("$3") ","
    " CASE WHEN $4 THEN " ISS_PG_TIMESTAMP("$5") " END, $6, NULLIF($7, ''), $8, $9, $10)";
constexpr char kCountFoldedSince[] =
    "SELECT count(*) FROM peebot_detections WHERE post_status = 'cooldown'"
    " AND start_time > " ISS_PG_TIMESTAMP("$1");
constexpr char kPostStats[] =
    "SELECT count(*) FILTER (WHERE posted_at >= " ISS_PG_TIMESTAMP("$1") "),"
    " " ISS_PG_MICROS("max(posted_at)") ", " ISS_PG_MICROS("max(event_time)")
    " FROM peebot_posts WHERE dry_run = $2 AND destination = $3";
constexpr char kLastPost[] =
    "SELECT text, coalesce(joke_index, -1) FROM peebot_posts WHERE destination = $1"
    " ORDER BY posted_at DESC, id DESC LIMIT 1";

// --- Admin --------------------------------------------------------------------
constexpr char kListDetections[] =
    "SELECT " ISS_PEEBOT_DETECTION_COLUMNS " FROM peebot_detections"
    " WHERE start_time >= " ISS_PG_TIMESTAMP("$1") " AND start_time < " ISS_PG_TIMESTAMP("$2")
    " AND (start_time, detection_id) < (" ISS_PG_TIMESTAMP("$3") ", $4)"
    " ORDER BY start_time DESC, detection_id DESC LIMIT $5";
constexpr char kLatestDetection[] =
    "SELECT " ISS_PEEBOT_DETECTION_COLUMNS " FROM peebot_detections"
    " ORDER BY start_time DESC LIMIT 1";
constexpr char kGetDetection[] =
    "SELECT " ISS_PEEBOT_DETECTION_COLUMNS " FROM peebot_detections WHERE detection_id = $1";
constexpr char kCountDetections[] = "SELECT count(*) FROM peebot_detections";
constexpr char kSelectSettings[] = "SELECT settings::text FROM peebot_settings";
constexpr char kUpsertSettings[] =
    "INSERT INTO peebot_settings (id, settings, updated_at) VALUES (true, $1::jsonb, now())"
    " ON CONFLICT (id) DO UPDATE SET settings = EXCLUDED.settings, updated_at = now()";

// --- Destinations (admissions, deliveries, pauses) ----------------------------
// One lock for every poster's admission round (any value unique in this
// database; "peebot" in ASCII).
constexpr int64_t kAdmissionLock = 0x7065656230740001;
constexpr char kAdmissionRoundLock[] = "SELECT pg_advisory_xact_lock($1)";
constexpr char kUndecided[] =
    "SELECT d.detection_id, " ISS_PG_MICROS("d.start_time") ", " ISS_PG_MICROS("d.end_time") ","
    " d.post_status FROM peebot_detections d LEFT JOIN peebot_admissions a USING (detection_id)"
    " WHERE a.detection_id IS NULL ORDER BY d.start_time, d.detection_id LIMIT $1";
constexpr char kLastAdmitted[] =
    "SELECT " ISS_PG_MICROS("max(d.start_time)") " FROM peebot_admissions a"
    " JOIN peebot_detections d USING (detection_id) WHERE a.decision = 'admitted'";
constexpr char kCountCooldownSince[] =
    "SELECT count(*) FROM peebot_admissions a JOIN peebot_detections d USING (detection_id)"
    " WHERE a.decision = 'cooldown' AND d.start_time > " ISS_PG_TIMESTAMP("$1");
constexpr char kInsertAdmission[] =
    "INSERT INTO peebot_admissions (detection_id, decision, folded, reason, decided_at)"
    " VALUES ($1, $2, $3, NULLIF($4, ''), " ISS_PG_TIMESTAMP("$5") ")"
    " ON CONFLICT (detection_id) DO NOTHING";
constexpr char kInsertDelivery[] =
    "INSERT INTO peebot_deliveries (detection_id, destination) VALUES ($1, $2)"
    " ON CONFLICT DO NOTHING";
constexpr char kSelectAdmission[] =
    "SELECT decision, folded, coalesce(reason, '') FROM peebot_admissions"
    " WHERE detection_id = $1";
// Detection columns 0..15, then the delivery's from 16 on. The delivery's
// columns are renamed: both tables have post_id, last_error, ...
constexpr char kDueDeliveries[] =
    "SELECT " ISS_PEEBOT_DETECTION_COLUMNS ","
    " v.destination, coalesce(v.text, ''), coalesce(v.joke_index, -1),"
    " coalesce(v.idempotency_key, ''), coalesce(v.request, ''),"
    " " ISS_PG_MICROS("v.first_sent_at") ", v.v_in_flight IS NOT NULL, v.attempts,"
    " coalesce(a.folded, 0)"
    " FROM peebot_detections JOIN (SELECT detection_id AS v_id, destination, status, text,"
    "   joke_index, idempotency_key, request, first_sent_at, in_flight_since AS v_in_flight,"
    "   next_attempt_at, attempts FROM peebot_deliveries) v"
    " ON v.v_id = peebot_detections.detection_id"
    " LEFT JOIN (SELECT detection_id AS a_id, folded FROM peebot_admissions) a"
    " ON a.a_id = peebot_detections.detection_id"
    " WHERE v.destination = $1 AND v.status = 'pending'"
    " AND (v.next_attempt_at IS NULL OR v.next_attempt_at <= " ISS_PG_TIMESTAMP("$2") ")"
    " ORDER BY start_time, detection_id LIMIT $3";
constexpr char kMarkDeliveryInFlight[] =
    "UPDATE peebot_deliveries SET text = $3, joke_index = $4, idempotency_key = $5, request = $6,"
    " first_sent_at = coalesce(first_sent_at, " ISS_PG_TIMESTAMP("$7") "),"
    " in_flight_since = " ISS_PG_TIMESTAMP("$7") ", attempts = attempts + 1, updated_at = now()"
    " WHERE detection_id = $1 AND destination = $2";
constexpr char kDeferDelivery[] =
    "UPDATE peebot_deliveries SET next_attempt_at = " ISS_PG_TIMESTAMP("$3") ","
    " last_error = $4, updated_at = now(),"
    " in_flight_since = CASE WHEN $5 THEN in_flight_since END"
    " WHERE detection_id = $1 AND destination = $2";
constexpr char kResolveDelivery[] =
    "UPDATE peebot_deliveries SET status = $3, post_id = NULLIF($4, ''),"
    " last_error = NULLIF($5, ''), in_flight_since = NULL, next_attempt_at = NULL,"
    " text = CASE WHEN $6 <> '' THEN $6 ELSE text END,"
    " joke_index = CASE WHEN $7 >= 0 THEN $7 ELSE joke_index END,"
    " posted_at = CASE WHEN $8 THEN " ISS_PG_TIMESTAMP("$9") " ELSE posted_at END,"
    " updated_at = now() WHERE detection_id = $1 AND destination = $2";
constexpr char kTextPosted[] =
    "SELECT EXISTS (SELECT 1 FROM peebot_posts WHERE destination = $1 AND text = $2"
    " AND (NOT dry_run OR $3))";
constexpr char kSelectPauses[] = "SELECT destination, reason FROM peebot_destination_pauses";
constexpr char kUpsertPause[] =
    "INSERT INTO peebot_destination_pauses (destination, reason) VALUES ($1, $2)"
    " ON CONFLICT (destination) DO UPDATE SET reason = EXCLUDED.reason, paused_at = now()";
constexpr char kDeletePause[] = "DELETE FROM peebot_destination_pauses WHERE destination = $1";
constexpr char kCountPendingDeliveries[] =
    "SELECT count(*) FROM peebot_deliveries WHERE destination = $1 AND status = 'pending'";
constexpr char kLastDeliveryError[] =
    "SELECT last_error FROM peebot_deliveries WHERE destination = $1"
    " AND last_error IS NOT NULL ORDER BY updated_at DESC LIMIT 1";
constexpr char kSelectDeliveries[] =
    "SELECT detection_id, destination, status, coalesce(text, ''), coalesce(post_id, ''),"
    " " ISS_PG_MICROS("posted_at") ", attempts, coalesce(last_error, '')"
    " FROM peebot_deliveries WHERE detection_id = ANY($1::text[])"
    " ORDER BY detection_id, destination";

// clang-format on

// A nullable bigint-microseconds column into a Timestamp (unset when NULL).
void SetTime(const pqxx::field& f, google::protobuf::Timestamp* out);
// A row of ISS_PEEBOT_DETECTION_COLUMNS (columns 0..14).
v1::Detection RowToDetection(const pqxx::row& r);
// A row of peebot_posts for `o`, on `destination`.
void InsertPost(pqxx::work& tx, const std::optional<std::string>& detection_id,
                const Store::Outcome& o, const std::string& destination);

}  // namespace iss::peebot

// Owns: every Pee-Bot read and write in PostgreSQL (tables of
// migrations/0003_peebot.sql and 0006_peebot_destinations.sql, plus
// consumer_offsets via pg::OffsetStore). store.cc holds the pipeline's,
// poster's and admin's half, store_destinations.cc the destinations' half
// (admissions, deliveries, pauses); every statement is a named constant in
// store_sql.h.
//
// One connection per Store, used under a mutex and reopened after a broken
// connection; each component (pipeline, poster, admin API) has its own Store.
// libpqxx exceptions stop at pg::Guard: every method returns a Status.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/kafka.h"
#include "iss/peebot/v1/peebot.pb.h"
#include "services/peebot/detector.h"
#include "services/peebot/sample.h"

namespace iss::peebot {

using iss::peebot::v1::PostStatus;

std::string PostStatusName(PostStatus s);  // the post_status column's words
PostStatus ParsePostStatus(const std::string& s);
// ListDetections page tokens: web-safe base64 of "<start_time us>:<detection_id>"
// of the last row served. Not signed (no key every replica and restart would
// share); decoding is strict instead: only exactly what the encoder writes for
// a row inside the listed window [start_us, end_us) with a 64-hex detection id
// is accepted, anything else is INVALID_ARGUMENT naming page_token, before SQL.
struct DetectionCursor {
  int64_t start_us = 0;
  std::string detection_id;
};
std::string EncodeDetectionsToken(const DetectionCursor& cursor);
absl::StatusOr<DetectionCursor> DecodeDetectionsToken(const std::string& token, int64_t start_us,
                                                      int64_t end_us);
// last_error of a detection that ended at `end_time`, before `limit` (now -
// ISS_PEEBOT_MAX_POST_AGE): why it is stale.
std::string StaleReason(absl::Time end_time, absl::Time limit);

// The detector's view of a stored detection (figures and times).
Detection DetectionFromProto(const v1::Detection& d);

class Store {
 public:
  explicit Store(std::string dsn);
  ~Store();

  absl::Status Migrate();
  absl::Status Ping();

  // --- Pipeline: one transaction per consumed batch -------------------------
  absl::StatusOr<std::optional<std::string>> LoadDetectorState(const std::string& group);
  absl::StatusOr<std::map<kafka::TopicPartition, int64_t>> LoadOffsets(
      const std::string& group, const std::vector<kafka::TopicPartition>& partitions);
  // Samples, new detections (existing ids untouched), detector state and the
  // next offsets, all or nothing. Returns how many detections were new.
  // A new detection that ended before `stale_before` is stored as stale (it is
  // never posted); the others as pending.
  absl::StatusOr<int> CommitBatch(const std::string& group, const std::vector<Sample>& samples,
                                  const std::vector<Detection>& detections,
                                  const std::string& detector_state,
                                  const std::map<kafka::TopicPartition, int64_t>& next_offsets,
                                  absl::Time stale_before = absl::InfinitePast());

  // --- Poster ---------------------------------------------------------------
  // Pending detections, oldest start first. `in_flight`: a post attempt was
  // under way when the process stopped (its text is fixed in post_text).
  struct PendingRow {
    v1::Detection detection;
    bool in_flight = false;
  };
  absl::StatusOr<std::vector<PendingRow>> Pending(int limit);
  // Before the HTTP call: the text is fixed and the row marked in flight.
  absl::Status MarkInFlight(const std::string& detection_id, const std::string& text,
                            absl::Time now);
  absl::Status RecordAttempt(const std::string& detection_id, const std::string& error);

  struct Outcome {
    PostStatus status = v1::POST_STATUS_PENDING;
    std::string post_id;
    std::string error;
    absl::Time at;
    // Also record a row in peebot_posts (a post was made, live or dry-run).
    bool record_post = false;
    bool dry_run = false;
    std::string text;
    int joke_index = -1;
    std::optional<absl::Time> event_time;
  };
  // Final state of a detection (and its post), in one transaction.
  absl::Status Resolve(const std::string& detection_id, const Outcome& outcome);
  // A post that belongs to no detection (admin test post).
  absl::Status RecordPost(const Outcome& outcome);

  struct PostStats {
    int posts_today = 0;  // since 00:00 UTC of `now`, of the given kind
    std::optional<absl::Time> last_post_at;
    std::optional<absl::Time> last_event_time;  // event time of the last post
    std::string last_text;                      // of any kind
    int last_joke_index = -1;
    int folded_since_last = 0;  // 'cooldown' detections after the last post
  };
  // X's posts (destination 'x'); the folded count from X's cooldown rows.
  absl::StatusOr<PostStats> Stats(absl::Time now, bool dry_run);

  // --- Destinations (bluesky, mastodon, webhook beside X) --------------------
  // The per-detection decision every destination shares (peebot_admissions).
  struct AdmissionRules {
    absl::Time now;
    absl::Duration max_post_age = absl::ZeroDuration();  // 0 = no limit
    absl::Duration cooldown = absl::ZeroDuration();      // event time since the last admitted
    bool paused = false;                                 // global pause
    // An admitted detection gets a pending delivery for each of these ("x"
    // excluded: X keeps its state on peebot_detections).
    std::vector<std::string> destinations;
    int limit = 500;
  };
  struct Admission {
    std::string decision;  // "admitted", "cooldown", "paused", "stale"
    int folded = 0;        // cooldown detections since the previous admitted one
    std::string reason;
  };
  // Decides every detection that has no decision yet, oldest first, under an
  // advisory lock (the posters of all destinations call this). Returns how
  // many were decided.
  absl::StatusOr<int> Admit(const AdmissionRules& rules);
  absl::StatusOr<std::optional<Admission>> AdmissionOf(const std::string& detection_id);

  // A delivery due now: pending, and its next attempt (after a failure or a
  // rate limit) not in the future. Oldest detection first.
  struct DeliveryRow {
    v1::Detection detection;  // the figures and times
    std::string destination;
    // Fixed before the first send (empty until then).
    std::string text;
    int joke_index = -1;
    std::string idempotency_key;
    std::string request;
    std::optional<absl::Time> first_sent_at;
    // A request may have reached the network and its outcome is unknown
    // (crash, timeout, 5xx): the next attempt must not create a second post.
    bool in_flight = false;
    int attempts = 0;
    int folded = 0;  // from the admission
  };
  absl::StatusOr<std::vector<DeliveryRow>> DueDeliveries(const std::string& destination,
                                                         absl::Time now, int limit);
  // Before the network call: the request is fixed and the row in flight.
  absl::Status MarkDeliveryInFlight(const DeliveryRow& row, absl::Time now);
  // After an attempt that did not finish the delivery: try again at `next`.
  // `may_have_arrived` keeps the row in flight (outcome unknown).
  absl::Status DeferDelivery(const std::string& detection_id, const std::string& destination,
                             absl::Time next, const std::string& error, bool may_have_arrived);
  // Final state of one delivery (and its post, with `destination`), in one
  // transaction.
  absl::Status ResolveDelivery(const std::string& detection_id, const std::string& destination,
                               const Outcome& outcome);
  // A post that belongs to no detection (admin test post) on `destination`.
  absl::Status RecordDestinationPost(const std::string& destination, const Outcome& outcome);
  // Posts of one destination (folded_since_last is not filled).
  absl::StatusOr<PostStats> DestinationStats(const std::string& destination, absl::Time now,
                                             bool dry_run);
  // Whether `text` was ever posted (live, or dry-run when `dry_run`) there.
  absl::StatusOr<bool> TextPosted(const std::string& destination, const std::string& text,
                                  bool dry_run);
  // Paused destinations and the reasons given.
  absl::StatusOr<std::map<std::string, std::string>> DestinationPauses();
  absl::Status SetDestinationPaused(const std::string& destination, bool paused,
                                    const std::string& reason);
  struct DeliverySummary {
    int pending = 0;
    std::string last_error;  // of the most recently updated delivery with one
  };
  absl::StatusOr<DeliverySummary> SummariseDeliveries(const std::string& destination);

  // --- Admin ----------------------------------------------------------------
  // Newest first within [start, end) (times the caller checked with
  // IsRfc3339Timestamp); page_token is an opaque cursor (DecodeDetectionsToken).
  absl::StatusOr<std::pair<std::vector<v1::Detection>, std::string>> List(
      std::optional<absl::Time> start, std::optional<absl::Time> end, int page_size,
      const std::string& page_token);
  absl::StatusOr<std::optional<v1::Detection>> Latest();
  absl::StatusOr<std::optional<v1::Detection>> Get(const std::string& detection_id);
  absl::StatusOr<int64_t> CountDetections();
  // Samples with start <= source_ts < end, in source_ts order.
  absl::StatusOr<std::vector<Sample>> Samples(absl::Time start, absl::Time end);
  // Deletes the samples with source_ts < before; returns how many went.
  absl::StatusOr<int64_t> PruneSamples(absl::Time before);
  absl::StatusOr<std::optional<std::string>> LoadSettings();
  absl::Status SaveSettings(const std::string& json);

 private:
  absl::Status Run(const std::function<void(pqxx::connection&)>& fn);
  // Adds each detection's deliveries (Detection.deliveries).
  void FillDeliveries(pqxx::work& tx, std::vector<v1::Detection*>& detections);
  // The detection in the first row of `r` (none if empty), with its deliveries.
  std::optional<v1::Detection> FirstWithDeliveries(pqxx::work& tx, const pqxx::result& r);
  const std::string dsn_;
  absl::Mutex mu_;
  std::unique_ptr<pqxx::connection> conn_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iss::peebot

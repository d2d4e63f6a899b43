// Owns: posting detections to the destinations beside X (Bluesky, Mastodon,
// webhooks), one DestinationPoster per destination, each on its own rows of
// peebot_deliveries: its own retries, backoff, rate-limit waits, daily cap,
// pause and health, so one destination failing never holds up another.
//
// Shared per detection (Store::Admit, peebot_admissions): the cooldown and
// the global pause, decided once by whichever poster (X's included) reaches
// the detection first. Per destination: the freshness limit (a delivery not
// yet sent when the detection is older than ISS_PEEBOT_MAX_POST_AGE is
// resolved stale there, so a destination catching up after an outage posts
// only what is still fresh), the daily cap, the text (each network's length
// rule, the joke rotation of that network's own posts, never a text that
// network already carried) and dry-run.
//
// Exactly once, per network, as the X poster does: the text and the request
// (record key and record bytes; Idempotency-Key and body; webhook-id and
// body) are fixed and the row marked in flight BEFORE the call, the outcome
// recorded after. A row in flight after a restart (or after a timeout, a
// dropped connection or a 500) has an unknown outcome:
//   Bluesky   asks getRecord for the deterministic TID record key first: the
//             post exists (same text) -> posted; RecordNotFound -> create it
//             (only while fresh);
//   Mastodon  re-sends the same body with the same Idempotency-Key (the
//             instance answers the first status) while the key is kept (its
//             hour, less a margin); later the outcome stays unknown -> failed;
//   webhook   re-sends the same body with the same webhook-id (receivers
//             dedupe on it).
// Such a re-send is made even past the freshness limit (except Bluesky's,
// which can look instead): the first attempt was fresh, and the record must
// say what happened.
//
// Waiting never blocks: a failed attempt sets next_attempt_at (exponential
// backoff with jitter; the network's reset time on 429) and the poster moves
// on; PosterLoop comes back.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "iss/peebot/v1/peebot.pb.h"
#include "services/peebot/composer.h"
#include "services/peebot/destination_networks.h"
#include "services/peebot/poster.h"
#include "services/peebot/settings.h"
#include "services/peebot/store.h"
#include "services/peebot/text_limits.h"

namespace iss::peebot {

inline constexpr char kDestinationX[] = "x";
inline constexpr char kDestinationBluesky[] = "bluesky";
inline constexpr char kDestinationMastodon[] = "mastodon";
inline constexpr char kDestinationWebhook[] = "webhook";

// ISS_PEEBOT_DESTINATIONS: comma-separated names among x, bluesky, mastodon,
// webhook, each at most once; empty = "x" (as before destinations existed).
// INVALID_ARGUMENT naming the variable and the bad entry.
absl::StatusOr<std::vector<std::string>> ParseDestinations(const std::string& list);

struct DestinationOptions {
  std::string name;      // "bluesky", "mastodon", "webhook"
  bool dry_run = false;  // asked for this destination (the global switch applies too)
  int daily_cap = -1;    // posts per UTC day here; -1 = the settings' daily_post_cap
  absl::Duration max_post_age = absl::Minutes(10);  // 0 = no limit
  absl::Duration base_backoff = absl::Seconds(2);
  absl::Duration max_backoff = absl::Minutes(2);
  // Give up after this many failed attempts; only without a freshness limit
  // (with one, the limit ends the retries of a delivery not yet sent).
  int max_attempts = 8;
  // A delivery whose outcome is unknown (in flight) is retried this long after
  // its first attempt, then recorded failed ("outcome unknown").
  absl::Duration max_unknown_outcome = absl::Hours(1);
  int batch = 50;
  // Every configured destination (the admission creates their deliveries).
  std::vector<std::string> destinations;
};

class DestinationPoster {
 public:
  // `network` null: no credentials, dry-run only. Nothing is owned.
  DestinationPoster(Store* store, Network* network, RuntimeSettings* settings, Clock* clock,
                    DestinationOptions options, PostComposer composer = PostComposer());

  // Admits new detections, then handles this destination's due deliveries,
  // oldest first; returns how many were resolved.
  absl::StatusOr<int> RunOnce();

  // An admin test post: dry-run unless `force` (and credentials exist).
  absl::StatusOr<Poster::TestResult> PostTest(const std::string& text, bool force);

  const std::string& name() const { return options_.name; }
  bool EffectiveDryRun() const;
  int DailyCap() const;
  // "ok", "rate-limited", "failing", "unconfigured".
  std::string Health() const;
  void OnHealthChange(std::function<void(const std::string&)> listener);
  absl::StatusOr<v1::DestinationStatus> Status();

 private:
  enum class Step { kResolved, kDeferred, kStop };  // kStop: database trouble
  Step Handle(Store::DeliveryRow row);
  Step Send(Store::DeliveryRow& row, bool resumed, bool fresh, Store::Outcome& out);
  Step Resolve(const Store::DeliveryRow& row, Store::Outcome& out, PostStatus status,
               const std::string& why);
  absl::StatusOr<std::string> ComposeText(const Store::DeliveryRow& row, bool dry_run,
                                          int* joke_index);
  absl::Duration Backoff(int attempt);
  void SetHealth(const std::string& h, const std::string& error);

  Store* store_;
  Network* network_;
  RuntimeSettings* settings_;
  Clock* clock_;
  const DestinationOptions options_;
  const PostComposer composer_;
  mutable absl::Mutex mu_;
  std::string health_ ABSL_GUARDED_BY(mu_);
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  std::function<void(const std::string&)> listener_ ABSL_GUARDED_BY(mu_);
  uint64_t jitter_state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iss::peebot

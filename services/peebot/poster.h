// Owns: turning pending detections into posts on X, with the guardrails:
// pause, cooldown, daily cap, dry-run, retries with exponential backoff and
// jitter on 5xx/timeouts, waiting out 429 until x-rate-limit-reset, 403
// duplicate as terminal, and never two posts for one detection.
//
// The work list is the database (detections with post_status 'pending'), so
// a restart simply continues. Idempotency, step by step:
//   1. the detection id is the primary key: a replay inserts no new row;
//   2. the text is chosen and stored, and the row marked in flight, BEFORE the
//      HTTP call;
//   3. the outcome is recorded after it.
// A row found in flight after a restart was interrupted between 2 and 3: it is
// re-sent with the SAME stored text. If the first attempt reached X, X refuses
// the copy with 403 "duplicate content", which we record as posted (X does not
// return the earlier post's id). The same reading applies to a 403 duplicate
// on a retry after a timeout. So a detection is posted at most once, and a
// post lost to a crash is still made.
//
// Freshness: a detection that ended longer than max_post_age before the
// poster gets to it (posting was down, a long rate limit) is resolved as
// stale and never posted; the pipeline already stores detections that were
// stale when found (a backlog, a replay of an old recording) that way.
//
// Dry-run (asked for, or no credentials) follows the same guardrails and
// records posts as dry-run, so it shows exactly what live mode would do.
// Cooldown and daily cap count posts of the mode in effect.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/peebot/composer.h"
#include "services/peebot/settings.h"
#include "services/peebot/store.h"
#include "services/peebot/x_client.h"

namespace iss::peebot {

// Wall time for the guardrails; tests substitute a manual clock.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  // Returns false when woken by Cancel() (shutdown) before `d` passed.
  virtual bool SleepFor(absl::Duration d) = 0;
  virtual void Cancel() = 0;
};

class RealClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  bool SleepFor(absl::Duration d) override;
  void Cancel() override;

 private:
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// Exponential backoff for the `attempt`-th failure (1-based): base * 2^(n-1),
// capped at `max`, with "equal jitter" (half fixed, half drawn from `state`,
// a linear congruential sequence the caller keeps).
absl::Duration JitteredBackoff(int attempt, absl::Duration base, absl::Duration max,
                               uint64_t* state);

// Store::Admit with the rules in effect (the settings' cooldown and pause).
absl::Status AdmitNewDetections(Store* store, const RuntimeSettings& settings, absl::Time now,
                                absl::Duration max_post_age,
                                const std::vector<std::string>& destinations);

struct PosterOptions {
  int max_attempts = 5;  // per detection, for 5xx/timeouts
  absl::Duration base_backoff = absl::Seconds(2);
  absl::Duration max_backoff = absl::Minutes(2);
  // Longer rate-limit waits leave the detection pending for a later round.
  absl::Duration max_rate_limit_wait = absl::Minutes(16);
  int batch = 50;
  // A detection that ended longer ago than this is stale: never posted.
  // Zero = no limit.
  absl::Duration max_post_age = absl::Minutes(10);
  // Take the per-detection decision (cooldown, global pause, freshness) from
  // the admission every destination shares (Store::Admit, destinations.h),
  // which also creates the other destinations' deliveries; X's daily cap and
  // a pause of the destination "x" alone apply after it. Off: X decides alone
  // (its cooldown by wall time since its last post and by event time), as
  // before destinations.
  bool shared_admission = false;
  std::vector<std::string> destinations;  // every configured one, for the admission
  // Dry-run for X alone (ISS_PEEBOT_X_DRY_RUN), beside the global switch.
  bool dry_run = false;
};

class Poster {
 public:
  // `x` may be null: no credentials, dry-run only. Nothing is owned.
  Poster(Store* store, XApi* x, RuntimeSettings* settings, Clock* clock, PosterOptions options = {},
         PostComposer composer = PostComposer());

  // Handles the pending detections, oldest first; returns how many were
  // resolved. Stops early (leaving rows pending) when rate limited for long
  // or when the clock is cancelled.
  absl::StatusOr<int> RunOnce();

  // An admin test post: dry-run unless `force` (and credentials exist).
  struct TestResult {
    std::string outcome;  // "dry-run", "posted", "failed"
    std::string text;
    std::string post_id;
    std::string error;
  };
  absl::StatusOr<TestResult> PostTest(const std::string& text, bool force);

  // "ok", "rate-limited", "failing", "unconfigured".
  std::string XHealth() const;
  // X posts are dry-run: the global switch, ISS_PEEBOT_X_DRY_RUN or no credentials.
  bool EffectiveDryRun() const { return settings_->EffectiveDryRun() || options_.dry_run; }
  // Called on every change of XHealth() (e.g. to feed iss::Health).
  void OnHealthChange(std::function<void(const std::string&)> listener);
  // When the next post is allowed by the cooldown (InfinitePast = now).
  absl::StatusOr<absl::Duration> CooldownRemaining();
  absl::StatusOr<Store::PostStats> Stats();

 private:
  enum class Send { kDone, kStop };
  Send Handle(const Store::PendingRow& row, const PeeBotSettings& s, bool dry_run);
  // Sends with retries; fills `outcome` when the detection reached a final state.
  Send Deliver(const v1::Detection& d, const std::string& text, bool resumed,
               Store::Outcome* outcome);
  absl::Duration Backoff(int attempt);
  void SetHealth(const std::string& h);

  Store* store_;
  XApi* x_;
  RuntimeSettings* settings_;
  Clock* clock_;
  PosterOptions options_;
  PostComposer composer_;
  mutable absl::Mutex mu_;
  std::string health_ ABSL_GUARDED_BY(mu_);
  std::function<void(const std::string&)> listener_ ABSL_GUARDED_BY(mu_);
  uint64_t jitter_state_ ABSL_GUARDED_BY(mu_);
};

// Runs Poster::RunOnce on its own thread whenever notified (new detections,
// settings changed) and at least every `interval` (retries left pending).
class PosterLoop {
 public:
  PosterLoop(Poster* poster, Clock* clock, absl::Duration interval)
      : round_([poster] { return poster->RunOnce(); }), clock_(clock), interval_(interval) {}
  // Any round (a DestinationPoster's RunOnce).
  PosterLoop(std::function<absl::StatusOr<int>()> round, Clock* clock, absl::Duration interval)
      : round_(std::move(round)), clock_(clock), interval_(interval) {}
  ~PosterLoop() { Stop(); }
  void Start();
  void Notify();
  void Stop();  // cancels the clock: a post waiting on backoff stays pending

 private:
  void Run();
  std::function<absl::StatusOr<int>()> round_;
  Clock* clock_;
  const absl::Duration interval_;
  absl::Mutex mu_;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace iss::peebot

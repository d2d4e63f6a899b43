#include "services/peebot/poster.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"
#include "common/log.h"
#include "common/metrics.h"

namespace iss::peebot {
namespace {

struct Metrics {
  prometheus::Family<prometheus::Counter>& posts = iss::metrics::CounterFamily(
      "iss_peebot_posts_total", "Detections resolved by the posters, by destination and outcome");
  prometheus::Counter& retries =
      iss::metrics::Counter("iss_peebot_post_retries_total", "X API calls retried (5xx, timeouts)");
  prometheus::Counter& cooldown_skips = iss::metrics::Counter(
      "iss_peebot_cooldown_skips_total", "Detections recorded but not posted: inside the cooldown");
  prometheus::Counter& rate_limited =
      iss::metrics::Counter("iss_peebot_rate_limited_total", "X API answers 429");
  prometheus::Histogram& latency =
      iss::metrics::Histogram("iss_peebot_x_api_request_seconds", "X API POST /2/tweets latency",
                              {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  prometheus::Counter& Outcome(PostStatus s) {
    return posts.Add({{"destination", "x"}, {"outcome", PostStatusName(s)}});
  }
};

Metrics& M() {
  static auto* m = new Metrics();
  return *m;
}

}  // namespace

bool RealClock::SleepFor(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  auto cancelled = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return cancelled_; };
  mu_.AwaitWithTimeout(absl::Condition(&cancelled), d);
  return !cancelled_;
}

void RealClock::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
}

Poster::Poster(Store* store, XApi* x, RuntimeSettings* settings, Clock* clock,
               PosterOptions options, PostComposer composer)
    : store_(store),
      x_(x),
      settings_(settings),
      clock_(clock),
      options_(options),
      composer_(std::move(composer)),
      health_(x ? "ok" : "unconfigured"),
      jitter_state_(static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()))) {}

void Poster::SetHealth(const std::string& h) {
  std::function<void(const std::string&)> listener;
  {
    absl::MutexLock lock(&mu_);
    if (!x_ || health_ == h) return;
    health_ = h;
    listener = listener_;
  }
  if (listener) listener(h);  // outside the lock: it may take its own
}

void Poster::OnHealthChange(std::function<void(const std::string&)> listener) {
  absl::MutexLock lock(&mu_);
  listener_ = std::move(listener);
}

std::string Poster::XHealth() const {
  absl::MutexLock lock(&mu_);
  return health_;
}

absl::Duration JitteredBackoff(int attempt, absl::Duration base, absl::Duration max,
                               uint64_t* state) {
  // Exponential, capped, with "equal jitter": half fixed, half random, so
  // retries from several instances do not synchronise.
  absl::Duration d = base * std::pow(2.0, std::max(0, attempt - 1));
  d = std::min(d, max);
  *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
  const double frac = static_cast<double>((*state >> 33) % 1000000) / 1e6;
  return d / 2 + (d / 2) * frac;
}

absl::Duration Poster::Backoff(int attempt) {
  absl::MutexLock lock(&mu_);
  return JitteredBackoff(attempt, options_.base_backoff, options_.max_backoff, &jitter_state_);
}

absl::StatusOr<Store::PostStats> Poster::Stats() {
  return store_->Stats(clock_->Now(), settings_->EffectiveDryRun() || options_.dry_run);
}

absl::StatusOr<absl::Duration> Poster::CooldownRemaining() {
  auto st = Stats();
  if (!st.ok()) return st.status();
  if (!st->last_post_at) return absl::ZeroDuration();
  return std::max(absl::ZeroDuration(),
                  *st->last_post_at + settings_->Get().cooldown - clock_->Now());
}

absl::Status AdmitNewDetections(Store* store, const RuntimeSettings& settings, absl::Time now,
                                absl::Duration max_post_age,
                                const std::vector<std::string>& destinations) {
  const PeeBotSettings s = settings.Get();
  Store::AdmissionRules rules;
  rules.now = now;
  rules.max_post_age = max_post_age;
  rules.cooldown = s.cooldown;
  rules.paused = s.paused;
  rules.destinations = destinations;
  return store->Admit(rules).status();
}

absl::StatusOr<int> Poster::RunOnce() {
  if (options_.shared_admission) {
    if (absl::Status s = AdmitNewDetections(store_, *settings_, clock_->Now(),
                                            options_.max_post_age, options_.destinations);
        !s.ok()) {
      return s;
    }
  }
  auto rows = store_->Pending(options_.batch);
  if (!rows.ok()) return rows.status();
  int resolved = 0;
  for (const Store::PendingRow& row : *rows) {
    const PeeBotSettings s = settings_->Get();
    if (Handle(row, s, settings_->EffectiveDryRun() || options_.dry_run) == Send::kStop) break;
    ++resolved;
  }
  return resolved;
}

Poster::Send Poster::Handle(const Store::PendingRow& row, const PeeBotSettings& s, bool dry_run) {
  const v1::Detection& d = row.detection;
  const absl::Time now = clock_->Now();
  const absl::Time start = iss::FromProto(d.start_time());
  Store::Outcome out;
  out.at = now;
  out.dry_run = dry_run;
  out.event_time = start;

  auto resolve = [&](PostStatus status, std::string why) {
    out.status = status;
    if (out.error.empty()) out.error = std::move(why);
    if (absl::Status st = store_->Resolve(d.detection_id(), out); !st.ok()) {
      iss::log::Warn("cannot record post outcome",
                     {{"detection_id", d.detection_id()}, {"error", st.ToString()}});
      return Send::kStop;
    }
    M().Outcome(status).Increment();
    iss::log::Info("detection resolved", {{"detection_id", d.detection_id()},
                                          {"status", PostStatusName(status)},
                                          {"text", out.text},
                                          {"post_id", out.post_id},
                                          {"detail", out.error}});
    return Send::kDone;
  };

  if (row.in_flight && !dry_run) {
    // Interrupted mid-post: the decision was taken, the text is fixed.
    out.text = d.post_text();
    if (Deliver(d, out.text, /*resumed=*/true, &out) == Send::kStop) return Send::kStop;
    return resolve(out.status, "");
  }
  int folded = -1;  // from the shared admission, when there is one
  if (options_.shared_admission) {
    auto adm = store_->AdmissionOf(d.detection_id());
    if (!adm.ok() || !adm->has_value()) return Send::kStop;  // decided next round
    const Store::Admission& a = **adm;
    if (a.decision == "cooldown") M().cooldown_skips.Increment();
    if (a.decision != "admitted") {
      return resolve(a.decision == "cooldown" ? v1::POST_STATUS_COOLDOWN
                     : a.decision == "paused" ? v1::POST_STATUS_PAUSED
                                              : v1::POST_STATUS_STALE,
                     a.reason);
    }
    folded = a.folded;
    auto pauses = store_->DestinationPauses();
    if (!pauses.ok()) return Send::kStop;
    if (auto it = pauses->find("x"); it != pauses->end()) {
      return resolve(v1::POST_STATUS_PAUSED, absl::StrCat("destination x paused: ", it->second));
    }
  }
  // "Just rose" about the past is wrong whatever the other guardrails say.
  if (const absl::Time end = iss::FromProto(d.end_time());
      options_.max_post_age > absl::ZeroDuration() && end < now - options_.max_post_age) {
    return resolve(v1::POST_STATUS_STALE, StaleReason(end, now - options_.max_post_age));
  }
  if (s.paused) return resolve(v1::POST_STATUS_PAUSED, "posting paused");

  auto stats = store_->Stats(now, dry_run);
  if (!stats.ok()) return Send::kStop;
  const bool wall_cooldown = stats->last_post_at && now - *stats->last_post_at < s.cooldown;
  const bool event_cooldown =
      stats->last_event_time && start - *stats->last_event_time < s.cooldown;
  // With the shared admission the cooldown was decided there, once for every
  // destination (an admitted detection is posted on X too).
  if (!options_.shared_admission && (wall_cooldown || event_cooldown)) {
    M().cooldown_skips.Increment();
    return resolve(v1::POST_STATUS_COOLDOWN,
                   wall_cooldown ? "inside the cooldown since the last post"
                                 : "inside the cooldown after the last posted detection");
  }
  if (s.daily_post_cap == 0 || stats->posts_today >= static_cast<int>(s.daily_post_cap)) {
    return resolve(v1::POST_STATUS_DAILY_CAP,
                   absl::StrCat("daily post cap ", s.daily_post_cap, " reached"));
  }

  const Detection det = DetectionFromProto(d);
  const PostComposer::Composed text =
      composer_.Compose(det, folded >= 0 ? folded : stats->folded_since_last,
                        stats->last_joke_index + 1, stats->last_text);
  out.text = text.text;
  out.joke_index = text.joke_index;

  if (dry_run) {
    out.record_post = true;
    return resolve(v1::POST_STATUS_DRY_RUN, "");
  }
  if (absl::Status st = store_->MarkInFlight(d.detection_id(), out.text, now); !st.ok()) {
    return Send::kStop;
  }
  if (Deliver(d, out.text, /*resumed=*/false, &out) == Send::kStop) return Send::kStop;
  return resolve(out.status, "");
}

Poster::Send Poster::Deliver(const v1::Detection& d, const std::string& text, bool resumed,
                             Store::Outcome* out) {
  int failures = 0;
  for (;;) {
    const absl::Time t0 = absl::Now();
    absl::StatusOr<XPostResult> r = x_->CreatePost(text);
    M().latency.Observe(absl::ToDoubleSeconds(absl::Now() - t0));
    out->at = clock_->Now();
    std::string error;
    if (r.ok() && r->http_status == 201) {
      SetHealth("ok");
      out->status = v1::POST_STATUS_POSTED;
      out->post_id = r->post_id;
      out->record_post = true;
      return Send::kDone;
    }
    if (r.ok() && r->duplicate) {
      SetHealth("ok");
      if (resumed || failures > 0) {
        // An earlier attempt of ours reached X (see the header comment).
        out->status = v1::POST_STATUS_POSTED;
        out->error = "X refused a re-send as duplicate: the earlier attempt was posted";
        out->record_post = true;
      } else {
        out->status = v1::POST_STATUS_DUPLICATE;
        out->error = r->detail;
      }
      return Send::kDone;
    }
    if (r.ok() && r->http_status == 429) {
      M().rate_limited.Increment();
      SetHealth("rate-limited");
      const absl::Time now = clock_->Now();
      const absl::Time reset = r->rate_limit_reset.value_or(now + options_.base_backoff);
      const absl::Duration wait = std::max(absl::ZeroDuration(), reset - now) + absl::Seconds(1);
      (void)store_->RecordAttempt(d.detection_id(), absl::StrCat("429 rate limited until ",
                                                                 iss::FormatRfc3339Micros(reset)));
      if (wait > options_.max_rate_limit_wait) return Send::kStop;  // stays pending
      if (!clock_->SleepFor(wait)) return Send::kStop;
      continue;  // a rate limit is not a failure of this post
    }
    if (r.ok() && r->http_status < 500 && r->http_status != 408) {
      // 400/401/403 (not duplicate)/404: retrying cannot help.
      SetHealth("failing");
      out->status = v1::POST_STATUS_FAILED;
      out->error = absl::StrCat("X answered ", r->http_status, ": ", r->detail);
      return Send::kDone;
    }
    error = r.ok() ? absl::StrCat("X answered ", r->http_status, ": ", r->detail)
                   : r.status().ToString();
    ++failures;
    SetHealth("failing");
    if (failures >= options_.max_attempts) {
      out->status = v1::POST_STATUS_FAILED;
      out->error = absl::StrCat("gave up after ", failures, " attempts: ", error);
      return Send::kDone;
    }
    M().retries.Increment();
    (void)store_->RecordAttempt(d.detection_id(), error);
    iss::log::Warn("X post failed, retrying",
                   {{"detection_id", d.detection_id()}, {"attempt", failures}, {"error", error}});
    if (!clock_->SleepFor(Backoff(failures))) return Send::kStop;
  }
}

absl::StatusOr<Poster::TestResult> Poster::PostTest(const std::string& requested, bool force) {
  auto stats = store_->Stats(clock_->Now(), true);
  if (!stats.ok()) return stats.status();
  TestResult res;
  res.text = requested.empty() ? composer_.TestText(clock_->Now(), stats->last_text) : requested;
  if (CodePoints(res.text) > kMaxPostChars) {
    return absl::InvalidArgumentError(
        absl::StrCat("text: at most ", kMaxPostChars, " characters, got ", CodePoints(res.text)));
  }
  Store::Outcome out;
  out.at = clock_->Now();
  out.text = res.text;
  out.record_post = true;
  if (!force || x_ == nullptr || options_.dry_run) {
    res.outcome = "dry-run";
    if (force) res.error = "no X credentials configured: dry-run";
    out.dry_run = true;
    iss::log::Info("test post (dry-run)", {{"text", res.text}});
    if (absl::Status s = store_->RecordPost(out); !s.ok()) return s;
    return res;
  }
  const absl::Time t0 = absl::Now();
  auto r = x_->CreatePost(res.text);
  M().latency.Observe(absl::ToDoubleSeconds(absl::Now() - t0));
  if (r.ok() && r->http_status == 201) {
    SetHealth("ok");
    res.outcome = "posted";
    res.post_id = r->post_id;
    out.post_id = r->post_id;
    if (absl::Status s = store_->RecordPost(out); !s.ok()) return s;
    return res;
  }
  res.outcome = "failed";
  res.error =
      r.ok() ? absl::StrCat("X answered ", r->http_status, ": ", r->detail) : r.status().ToString();
  return res;
}

void PosterLoop::Start() {
  thread_ = std::thread([this] { Run(); });
}

void PosterLoop::Notify() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

void PosterLoop::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  clock_->Cancel();
  if (thread_.joinable()) thread_.join();
}

void PosterLoop::Run() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return wake_ || stop_; };
      mu_.AwaitWithTimeout(absl::Condition(&ready), interval_);
      if (stop_) return;
      wake_ = false;
    }
    auto n = round_();
    if (!n.ok()) {
      iss::log::Warn("poster round failed", {{"error", n.status().ToString()}});
    }
  }
}

}  // namespace iss::peebot

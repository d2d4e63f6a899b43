#include "services/peebot/destinations.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/grpc_util.h"
#include "common/log.h"
#include "common/metrics.h"

namespace iss::peebot {
namespace {

struct Metrics {
  prometheus::Family<prometheus::Counter>& posts = iss::metrics::CounterFamily(
      "iss_peebot_posts_total", "Detections resolved by the posters, by destination and outcome");
  prometheus::Family<prometheus::Counter>& retries = iss::metrics::CounterFamily(
      "iss_peebot_delivery_retries_total",
      "Delivery attempts to a destination other than X that failed and will be retried");
  prometheus::Family<prometheus::Counter>& rate_limited = iss::metrics::CounterFamily(
      "iss_peebot_delivery_rate_limited_total", "429 answers from a destination other than X");
  prometheus::Family<prometheus::Histogram>& latency = iss::metrics::HistogramFamily(
      "iss_peebot_delivery_request_seconds",
      "Duration of one delivery attempt to a destination other than X (all its calls)");
};

Metrics& M() {
  static auto* m = new Metrics();
  return *m;
}

prometheus::Histogram& Latency(const std::string& dest) {
  return M().latency.Add({{"destination", dest}}, prometheus::Histogram::BucketBoundaries{
                                                      0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseDestinations(const std::string& list) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    std::string name(absl::StripAsciiWhitespace(part));
    if (name != kDestinationX && name != kDestinationBluesky && name != kDestinationMastodon &&
        name != kDestinationWebhook) {
      return absl::InvalidArgumentError(
          absl::StrCat("ISS_PEEBOT_DESTINATIONS: unknown destination \"", name,
                       "\" (expected x, bluesky, mastodon, webhook)"));
    }
    if (std::find(out.begin(), out.end(), name) != out.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("ISS_PEEBOT_DESTINATIONS: \"", name, "\" listed twice"));
    }
    out.push_back(std::move(name));
  }
  if (out.empty()) out.push_back(kDestinationX);
  return out;
}

// --- DestinationPoster -------------------------------------------------------

DestinationPoster::DestinationPoster(Store* store, Network* network, RuntimeSettings* settings,
                                     Clock* clock, DestinationOptions options,
                                     PostComposer composer)
    : store_(store),
      network_(network),
      settings_(settings),
      clock_(clock),
      options_(std::move(options)),
      composer_(std::move(composer)),
      health_(network ? "ok" : "unconfigured"),
      jitter_state_(static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()))) {}

bool DestinationPoster::EffectiveDryRun() const {
  return network_ == nullptr || options_.dry_run || settings_->Get().dry_run;
}

int DestinationPoster::DailyCap() const {
  return options_.daily_cap >= 0 ? options_.daily_cap
                                 : static_cast<int>(settings_->Get().daily_post_cap);
}

std::string DestinationPoster::Health() const {
  absl::MutexLock lock(&mu_);
  return health_;
}

void DestinationPoster::OnHealthChange(std::function<void(const std::string&)> listener) {
  absl::MutexLock lock(&mu_);
  listener_ = std::move(listener);
}

void DestinationPoster::SetHealth(const std::string& h, const std::string& error) {
  std::function<void(const std::string&)> listener;
  {
    absl::MutexLock lock(&mu_);
    if (!error.empty()) last_error_ = error;
    if (!network_ || health_ == h) return;
    health_ = h;
    listener = listener_;
  }
  if (listener) listener(h);  // outside the lock: it may take its own
}

absl::Duration DestinationPoster::Backoff(int attempt) {
  absl::MutexLock lock(&mu_);
  return JitteredBackoff(attempt, options_.base_backoff, options_.max_backoff, &jitter_state_);
}

absl::StatusOr<int> DestinationPoster::RunOnce() {
  if (absl::Status s = AdmitNewDetections(store_, *settings_, clock_->Now(), options_.max_post_age,
                                          options_.destinations);
      !s.ok()) {
    return s;
  }
  auto rows = store_->DueDeliveries(options_.name, clock_->Now(), options_.batch);
  if (!rows.ok()) return rows.status();
  int resolved = 0;
  for (Store::DeliveryRow& row : *rows) {
    const Step step = Handle(std::move(row));
    if (step == Step::kStop) break;
    if (step == Step::kResolved) ++resolved;
  }
  return resolved;
}

DestinationPoster::Step DestinationPoster::Resolve(const Store::DeliveryRow& row,
                                                   Store::Outcome& out, PostStatus status,
                                                   const std::string& why) {
  const std::string& id = row.detection.detection_id();
  out.status = status;
  if (out.error.empty()) out.error = why;
  if (absl::Status st = store_->ResolveDelivery(id, options_.name, out); !st.ok()) {
    iss::log::Warn(
        "cannot record delivery outcome",
        {{"detection_id", id}, {"destination", options_.name}, {"error", st.ToString()}});
    return Step::kStop;
  }
  M().posts.Add({{"destination", options_.name}, {"outcome", PostStatusName(status)}}).Increment();
  iss::log::Info("delivery resolved", {{"detection_id", id},
                                       {"destination", options_.name},
                                       {"status", PostStatusName(status)},
                                       {"text", out.text},
                                       {"post_id", out.post_id},
                                       {"detail", out.error}});
  return Step::kResolved;
}

absl::StatusOr<std::string> DestinationPoster::ComposeText(const Store::DeliveryRow& row,
                                                           bool dry_run, int* joke_index) {
  auto stats = store_->DestinationStats(options_.name, clock_->Now(), dry_run);
  if (!stats.ok()) return stats.status();
  const Detection det = DetectionFromProto(row.detection);
  const TextLimit limit = network_ ? network_->text_limit() : XTextLimit();
  // The rotation of this network's own posts; never a text it carried before.
  const int tries = static_cast<int>(composer_.joke_count()) + 1;
  std::string text;
  for (int k = 0; k < tries; ++k) {
    PostComposer::Composed c =
        composer_.Compose(det, row.folded, stats->last_joke_index + 1 + k, stats->last_text);
    text = FitText(c.text, limit);
    *joke_index = c.joke_index;
    auto seen = store_->TextPosted(options_.name, text, dry_run);
    if (!seen.ok()) return seen.status();
    if (!*seen) return text;
  }
  return FitText(absl::StrCat(text, " #", det.detection_id.substr(0, 6)), limit);
}

DestinationPoster::Step DestinationPoster::Handle(Store::DeliveryRow row) {
  const v1::Detection& d = row.detection;
  const absl::Time now = clock_->Now();
  const bool dry_run = EffectiveDryRun();
  Store::Outcome out;
  out.at = now;
  out.dry_run = dry_run;
  out.event_time = iss::FromProto(d.start_time());
  out.text = row.text;

  const absl::Time end = iss::FromProto(d.end_time());
  const bool fresh =
      options_.max_post_age <= absl::ZeroDuration() || end >= now - options_.max_post_age;
  if (row.in_flight && !dry_run) return Send(row, /*resumed=*/true, fresh, out);
  if (row.in_flight) {
    out.record_post = true;
    return Resolve(row, out, v1::POST_STATUS_DRY_RUN,
                   "dry-run switched on while a send was in flight: its outcome is unknown");
  }
  // Not sent yet, or every earlier attempt was refused before it could act.
  if (!fresh) {
    return Resolve(row, out, v1::POST_STATUS_STALE, StaleReason(end, now - options_.max_post_age));
  }
  if (settings_->Get().paused) return Resolve(row, out, v1::POST_STATUS_PAUSED, "posting paused");
  auto pauses = store_->DestinationPauses();
  if (!pauses.ok()) return Step::kStop;
  if (auto it = pauses->find(options_.name); it != pauses->end()) {
    return Resolve(row, out, v1::POST_STATUS_PAUSED,
                   absl::StrCat("destination ", options_.name, " paused: ", it->second));
  }
  if (row.text.empty()) {
    auto stats = store_->DestinationStats(options_.name, now, dry_run);
    if (!stats.ok()) return Step::kStop;
    const int cap = DailyCap();
    if (cap == 0 || stats->posts_today >= cap) {
      return Resolve(row, out, v1::POST_STATUS_DAILY_CAP,
                     absl::StrCat("daily post cap ", cap, " of ", options_.name, " reached"));
    }
    int joke = -1;
    auto text = ComposeText(row, dry_run, &joke);
    if (!text.ok()) return Step::kStop;
    out.text = *text;
    out.joke_index = joke;
    if (dry_run) {
      out.record_post = true;
      return Resolve(row, out, v1::POST_STATUS_DRY_RUN, "");
    }
    auto prepared = network_->Prepare(DetectionFromProto(d), *text, now);
    if (!prepared.ok())
      return Resolve(row, out, v1::POST_STATUS_FAILED, prepared.status().ToString());
    row.text = *text;
    row.joke_index = joke;
    row.idempotency_key = prepared->idempotency_key;
    row.request = prepared->request;
  } else if (dry_run) {
    out.record_post = true;
    return Resolve(row, out, v1::POST_STATUS_DRY_RUN, "");
  }
  return Send(row, /*resumed=*/false, fresh, out);
}

DestinationPoster::Step DestinationPoster::Send(Store::DeliveryRow& row, bool resumed, bool fresh,
                                                Store::Outcome& out) {
  const std::string& id = row.detection.detection_id();
  const absl::Time now = clock_->Now();
  // Fixed and marked before the call: a crash from here on leaves the row in
  // flight, and the next attempt finds out instead of creating a second post.
  if (absl::Status st = store_->MarkDeliveryInFlight(row, now); !st.ok()) return Step::kStop;
  const absl::Time first_sent = row.first_sent_at.value_or(now);
  const absl::Time t0 = absl::Now();
  AttemptResult r = network_->Attempt(row.text, {row.idempotency_key, row.request}, resumed,
                                      first_sent, now, fresh);
  Latency(options_.name).Observe(absl::ToDoubleSeconds(absl::Now() - t0));
  out.at = clock_->Now();
  out.text = row.text;
  out.joke_index = row.joke_index;
  const int attempts = row.attempts + 1;
  switch (r.kind) {
    case AttemptResult::Kind::kPosted:
      SetHealth("ok", "");
      out.post_id = r.post_id;
      out.record_post = true;
      return Resolve(row, out, v1::POST_STATUS_POSTED,
                     resumed && attempts > 1 ? "posted after an unknown outcome" : "");
    case AttemptResult::Kind::kFailed:
      SetHealth("failing", r.error);
      return Resolve(row, out, v1::POST_STATUS_FAILED, r.error);
    case AttemptResult::Kind::kStale: {
      const absl::Time end = iss::FromProto(row.detection.end_time());
      return Resolve(row, out, v1::POST_STATUS_STALE,
                     absl::StrCat(StaleReason(end, out.at - options_.max_post_age), "; ", r.error));
    }
    case AttemptResult::Kind::kRateLimited: {
      M().rate_limited.Add({{"destination", options_.name}}).Increment();
      SetHealth("rate-limited", r.error);
      const absl::Time at =
          std::max(r.retry_at.value_or(out.at + options_.base_backoff), out.at + absl::Seconds(1));
      // A 429 created nothing; an earlier unknown outcome stays unknown.
      (void)store_->DeferDelivery(
          id, options_.name, at,
          absl::StrCat(r.error, " (until ", iss::FormatRfc3339Micros(at), ")"), row.in_flight);
      return Step::kDeferred;
    }
    case AttemptResult::Kind::kRetry:
      break;
  }
  const bool unknown = r.may_have_arrived || (resumed && row.in_flight);
  if (unknown && out.at - first_sent > options_.max_unknown_outcome) {
    SetHealth("failing", r.error);
    return Resolve(row, out, v1::POST_STATUS_FAILED,
                   absl::StrCat("outcome unknown since ", iss::FormatRfc3339Micros(first_sent),
                                " (the post may exist; check the account): ", r.error));
  }
  if (r.retry_at) {  // a deliberate wait (Mastodon's re-send delay), not a failure
    (void)store_->DeferDelivery(id, options_.name, *r.retry_at, r.error, unknown);
    return Step::kDeferred;
  }
  SetHealth("failing", r.error);
  if (options_.max_post_age == absl::ZeroDuration() && attempts >= options_.max_attempts) {
    return Resolve(row, out, v1::POST_STATUS_FAILED,
                   absl::StrCat("gave up after ", attempts, " attempts: ", r.error));
  }
  M().retries.Add({{"destination", options_.name}}).Increment();
  const absl::Time next = out.at + Backoff(attempts);
  iss::log::Warn("delivery failed, retrying", {{"detection_id", id},
                                               {"destination", options_.name},
                                               {"attempt", attempts},
                                               {"error", r.error}});
  (void)store_->DeferDelivery(id, options_.name, next, r.error, unknown);
  return Step::kDeferred;
}

absl::StatusOr<Poster::TestResult> DestinationPoster::PostTest(const std::string& requested,
                                                               bool force) {
  auto stats = store_->DestinationStats(options_.name, clock_->Now(), true);
  if (!stats.ok()) return stats.status();
  Poster::TestResult res;
  res.text = requested.empty() ? composer_.TestText(clock_->Now(), stats->last_text) : requested;
  const TextLimit limit = network_ ? network_->text_limit() : XTextLimit();
  if (!FitsLimit(res.text, limit)) {
    return absl::InvalidArgumentError(
        absl::StrCat("text: longer than ", options_.name, " takes (", limit.max_units, ")"));
  }
  Store::Outcome out;
  out.at = clock_->Now();
  out.text = res.text;
  out.record_post = true;
  if (!force || network_ == nullptr) {
    res.outcome = "dry-run";
    if (force) res.error = absl::StrCat("no ", options_.name, " credentials configured: dry-run");
    out.dry_run = true;
    if (absl::Status s = store_->RecordDestinationPost(options_.name, out); !s.ok()) return s;
    return res;
  }
  AttemptResult r = network_->TestPost(res.text, clock_->Now());
  if (r.kind == AttemptResult::Kind::kPosted) {
    SetHealth("ok", "");
    res.outcome = "posted";
    res.post_id = r.post_id;
    out.post_id = r.post_id;
    if (absl::Status s = store_->RecordDestinationPost(options_.name, out); !s.ok()) return s;
    return res;
  }
  res.outcome = "failed";
  res.error = r.error;
  return res;
}

absl::StatusOr<v1::DestinationStatus> DestinationPoster::Status() {
  v1::DestinationStatus st;
  st.set_destination(options_.name);
  const bool dry_run = EffectiveDryRun();
  st.set_dry_run(dry_run);
  st.set_health(Health());
  st.set_daily_post_cap(static_cast<uint32_t>(std::max(0, DailyCap())));
  auto pauses = store_->DestinationPauses();
  if (!pauses.ok()) return pauses.status();
  if (auto it = pauses->find(options_.name); it != pauses->end()) {
    st.set_paused(true);
    st.set_pause_reason(it->second);
  }
  auto stats = store_->DestinationStats(options_.name, clock_->Now(), dry_run);
  if (!stats.ok()) return stats.status();
  st.set_posts_today(static_cast<uint32_t>(stats->posts_today));
  if (stats->last_post_at) iss::ToProto(*stats->last_post_at, st.mutable_last_post_at());
  auto sum = store_->SummariseDeliveries(options_.name);
  if (!sum.ok()) return sum.status();
  st.set_pending(static_cast<uint32_t>(sum->pending));
  {
    absl::MutexLock lock(&mu_);
    st.set_last_error(last_error_.empty() ? sum->last_error : last_error_);
  }
  return st;
}

}  // namespace iss::peebot

#include "services/peebot/pipeline.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "iss/telemetry/v1/telemetry.pb.h"

namespace iss::peebot {
namespace {

struct Metrics {
  prometheus::Counter& consumed = iss::metrics::Counter("iss_peebot_events_consumed_total",
                                                        "Messages read from telemetry.raw.v1");
  prometheus::Counter& kept =
      iss::metrics::Counter("iss_peebot_samples_total",
                            "Samples of the tank, processor and clock items fed to the detector");
  prometheus::Counter& bad =
      iss::metrics::Counter("iss_peebot_bad_messages_total",
                            "Messages that are not a TelemetryEvent (sent to the DLQ and skipped)");
  prometheus::Counter& detections =
      iss::metrics::Counter("iss_peebot_detections_total", "Urination events detected (new ids)");
  prometheus::Counter& stale = iss::metrics::Counter(
      "iss_peebot_detections_stale_total",
      "Detections that had ended longer than ISS_PEEBOT_MAX_POST_AGE ago when found: stored as "
      "stale, never posted");
  prometheus::Counter& commit_failures =
      iss::metrics::Counter("iss_peebot_commit_failures_total",
                            "Batches whose transaction failed (re-read after resync)");
  prometheus::Counter& pruned = iss::metrics::Counter(
      "iss_peebot_samples_pruned_total", "Stored samples deleted by the retention policy");
  prometheus::Gauge& level =
      iss::metrics::Gauge("iss_peebot_tank_level_percent", "Last urine tank level seen");
};

Metrics& M() {
  static auto* m = new Metrics();
  return *m;
}

// What the detector can use: a TelemetryEvent with an item id. Anything else
// gets the reason storage's decoder gives it.
std::optional<bus::Rejection> Decode(const kafka::Message& m,
                                     iss::telemetry::v1::TelemetryEvent* event) {
  if (!event->ParseFromString(m.value)) {
    return bus::Rejection{"undecodable", "value: not a serialized iss.telemetry.v1.TelemetryEvent",
                          ""};
  }
  if (event->item_id().empty()) return bus::Rejection{"bad_item_id", "item_id: empty", ""};
  return std::nullopt;
}

}  // namespace

Pipeline::Pipeline(PipelineOptions options, Store* store, RuntimeSettings* settings, Health* health,
                   std::function<void()> on_detections)
    : options_(std::move(options)),
      store_(store),
      settings_(settings),
      health_(health),
      on_detections_(std::move(on_detections)) {
  health_->Declare("postgres");
}

Pipeline::~Pipeline() { Stop(); }

DetectorConfig Pipeline::ConfigFromSettings() const {
  const PeeBotSettings s = settings_->Get();
  DetectorConfig c;
  c.min_rise_percent = s.min_rise_percent;
  c.max_step_gap = s.max_step_gap;
  c.ml_per_percent = s.ml_per_percent;
  c.tank_items = options_.tank_items;
  c.max_sample_lag = options_.max_sample_lag;
  return c;
}

absl::Status Pipeline::Start() {
  detector_ = std::make_unique<Detector>(ConfigFromSettings());
  auto state = store_->LoadDetectorState(options_.group_id);
  if (!state.ok()) return state.status();
  if (*state) {
    if (absl::Status s = detector_->LoadState(**state); !s.ok()) {
      // A state we cannot read is not worth refusing to start over: the
      // offsets are still there, only the detector starts fresh.
      iss::log::Warn("stored detector state unreadable, starting fresh", {{"error", s.ToString()}});
    }
  }
  health_->Set("postgres", true);

  bus::ConsumerOptions co;
  co.brokers = options_.brokers;
  co.group_id = options_.group_id;
  co.client_id = "iss-peebot";
  co.topic = options_.topic;
  co.dlq_topic = options_.dlq_topic;
  co.component = "peebot";
  co.metrics_prefix = "iss_peebot";
  co.extra = options_.kafka_extra;
  co.statistics_interval = options_.statistics_interval;
  co.supervisor = options_.supervisor;
  auto consumer = bus::Consumer::Create(
      co,
      [this](const std::vector<kafka::TopicPartition>& parts) {
        return store_->LoadOffsets(options_.group_id, parts);
      },
      [](const std::vector<kafka::TopicPartition>&) {});
  if (!consumer.ok()) return consumer.status();
  bus_ = std::move(*consumer);
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void Pipeline::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  bus_.reset();
}

Pipeline::View Pipeline::view() const {
  absl::MutexLock lock(&mu_);
  return view_;
}

absl::Status Pipeline::Resync() {
  auto state = store_->LoadDetectorState(options_.group_id);
  if (!state.ok()) return state.status();
  auto fresh = std::make_unique<Detector>(ConfigFromSettings());
  if (*state) (void)fresh->LoadState(**state);
  auto offsets = store_->LoadOffsets(options_.group_id, bus_->Assignment());
  if (!offsets.ok()) return offsets.status();
  if (absl::Status s = bus_->Rewind(*offsets); !s.ok()) return s;
  detector_ = std::move(fresh);
  empty_polls_ = 0;
  return absl::OkStatus();
}

void Pipeline::Loop() {
  while (!stop_.load()) {
    if (needs_resync_) {
      if (absl::Status s = Resync(); !s.ok()) {
        health_->Set("postgres", false, s.ToString());
        (void)bus_->PauseAll();
        (void)bus_->Poll(options_.batch, options_.poll_timeout);  // serve rebalances
        absl::SleepFor(absl::Milliseconds(500));
        continue;
      }
      (void)bus_->ResumeAll();
      needs_resync_ = false;
    }
    auto batch = bus_->Poll(options_.batch, options_.poll_timeout);
    if (!batch.ok()) {
      iss::log::Warn("poll failed", {{"error", batch.status().ToString()}});
      absl::SleepFor(absl::Milliseconds(500));
      continue;
    }
    if (absl::Status s = ProcessBatch(*batch); !s.ok()) {
      M().commit_failures.Increment();
      health_->Set("postgres", false, s.ToString());
      iss::log::Warn("batch commit failed, resyncing", {{"error", s.ToString()}});
      needs_resync_ = true;
    }
  }
}

// Retention counts in event time (like the detector), so a replay of old
// telemetry keeps the window it is replaying.
void Pipeline::MaybePruneSamples() {
  if (options_.sample_retention <= absl::ZeroDuration()) return;
  if (newest_sample_ == absl::InfinitePast()) return;
  const absl::Time now = absl::Now();
  if (now - last_prune_ < options_.prune_interval) return;
  last_prune_ = now;
  auto pruned = store_->PruneSamples(newest_sample_ - options_.sample_retention);
  if (!pruned.ok()) {
    // Not worth a resync: the next interval tries again.
    iss::log::Warn("pruning stored samples failed", {{"error", pruned.status().ToString()}});
    return;
  }
  M().pruned.Increment(static_cast<double>(*pruned));
}

absl::Status Pipeline::ProcessBatch(const std::vector<kafka::Message>& batch) {
  // Rule changes from the admin API apply from the next sample on.
  const PeeBotSettings s = settings_->Get();
  const DetectorConfig& dc = detector_->config();
  if (dc.min_rise_percent != s.min_rise_percent || dc.max_step_gap != s.max_step_gap ||
      dc.ml_per_percent != s.ml_per_percent) {
    detector_->SetRule(s.min_rise_percent, s.max_step_gap, s.ml_per_percent);
  }
  std::vector<Sample> samples;
  std::vector<Detection> detections;
  std::map<kafka::TopicPartition, int64_t> next_offsets;
  int64_t bad = 0;
  for (const kafka::Message& m : batch) {
    next_offsets[{m.topic, m.partition}] = m.offset + 1;
    iss::telemetry::v1::TelemetryEvent event;
    if (std::optional<bus::Rejection> rejection = Decode(m, &event)) {
      // Not ours to repair: dead-lettered, and its offset still advances so
      // it cannot block us.
      ++bad;
      bus_->DeadLetter(m, *rejection);
      continue;
    }
    if (!detector_->Wants(event.item_id())) continue;
    samples.push_back(SampleFromEvent(event));
    detector_->Add(samples.back(), &detections);
  }
  // Caught up with every partition (the lag from librdkafka's statistics,
  // not a short batch alone: when everything is already on the broker, one
  // partition's fetch can arrive well before another's): an idle stream (the tank item can be
  // silent for hours while the clock ticks) must not hold the others back, so
  // release up to the newest sample less the allowed lateness. Not further:
  // the lag statistics are up to a statistics interval old, and a sample
  // still on its way from another partition must find its place (a replay
  // at 10x speed moves event time 10 s per second).
  // Nothing at all for a few polls in a row: nothing is on its way, release
  // everything (also when the statistics lag is not available, yet or after
  // a rewind).
  empty_polls_ = batch.empty() ? empty_polls_ + 1 : 0;
  const size_t buffered_before = detector_->buffered();
  if (batch.size() < options_.batch) {
    if (empty_polls_ >= 5) {
      detector_->Drain(&detections);
    } else if (bus_->CaughtUp()) {
      detector_->ReleaseIdleStreams(&detections);
    }
  }
  if (batch.empty() && buffered_before == 0 && detections.empty()) return absl::OkStatus();

  // Wall clock against event time, on purpose: the freshness of a post.
  const absl::Time stale_before = options_.max_post_age > absl::ZeroDuration()
                                      ? absl::Now() - options_.max_post_age
                                      : absl::InfinitePast();
  // The offsets below skip the dead-lettered messages: the DLQ holds them first.
  if (absl::Status s = bus_->FlushDeadLetters(); !s.ok()) return s;
  auto inserted = store_->CommitBatch(options_.group_id, samples, detections,
                                      detector_->SaveState(), next_offsets, stale_before);
  if (!inserted.ok()) return inserted.status();
  health_->Set("postgres", true);
  if (!next_offsets.empty()) bus_->CommitAdvisory(next_offsets);
  for (const Sample& smp : samples) newest_sample_ = std::max(newest_sample_, smp.source_ts);
  MaybePruneSamples();

  M().consumed.Increment(static_cast<double>(batch.size()));
  M().kept.Increment(static_cast<double>(samples.size()));
  M().bad.Increment(static_cast<double>(bad));
  M().detections.Increment(*inserted);
  for (const Detection& d : detections) {
    const bool stale = d.end_time < stale_before;
    if (stale) M().stale.Increment();
    iss::log::Info("urination detected",
                   {{"detection_id", d.detection_id},
                    {"item_id", d.item_id},
                    {"rise_percent", d.rise},
                    {"volume_ml", d.volume_ml},
                    {"start", iss::log::Value(absl::FormatTime(d.start_time))},
                    {"stale", stale}});
  }
  const auto level = detector_->LastLevel(options_.tank_items.front());
  if (level) M().level.Set(level->percent);
  {
    absl::MutexLock lock(&mu_);
    view_.last_level = level;
    view_.signal = detector_->signal();
    view_.processor_state = detector_->processor_state();
    view_.events_consumed += static_cast<int64_t>(batch.size());
    view_.bad_messages += bad;
    view_.detections += *inserted;
  }
  if (*inserted > 0 && on_detections_) on_detections_();
  return absl::OkStatus();
}

}  // namespace iss::peebot

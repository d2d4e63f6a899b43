// Owns: the consuming side of Pee-Bot: telemetry.raw.v1 (group iss-peebot) ->
// keep the tank items, the urine processor and the station clock -> Detector
// -> one PostgreSQL transaction per batch holding the samples, the new
// detections, the detector's state and the next offsets (a requirement: a restart
// resumes exactly after the last committed batch; an event straddling the
// restart is detected once, with the same id).
//
// On a failed commit the in-memory detector is ahead of the database: it is
// reloaded from the stored state and the partitions are rewound to the stored
// offsets before anything else is read.
// A message that is not a usable TelemetryEvent goes to the DLQ topic (as in
// storage) and its offset advances with the batch, after the DLQ holds it.
// The Kafka side is the shared bus::Consumer (common/bus_consumer.h), a
// kafka::SupervisedConsumer underneath: a client that stops fetching
// while the broker holds unread messages is replaced (revoke + a fresh
// assignment at the stored offsets), and Stop() leaves the group in bounded time.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/bus_consumer.h"
#include "common/health.h"
#include "common/kafka.h"
#include "common/kafka_supervisor.h"
#include "services/peebot/detector.h"
#include "services/peebot/settings.h"
#include "services/peebot/store.h"

namespace iss::peebot {

struct PipelineOptions {
  std::string brokers;
  std::string group_id = "iss-peebot";
  std::string topic = "telemetry.raw.v1";
  std::string dlq_topic = "telemetry.dlq.v1";
  std::vector<std::string> tank_items = {"NODE3000005"};
  // A sample received this long after it was taken is a snapshot (DetectorConfig).
  absl::Duration max_sample_lag = DetectorConfig().max_sample_lag;
  // A detection that ended longer ago than this (wall clock) when found is
  // stored as stale and never posted. Zero = no limit.
  absl::Duration max_post_age = absl::Minutes(10);
  size_t batch = 500;
  absl::Duration poll_timeout = absl::Milliseconds(200);
  // Feeds the lag that tells us we are caught up (bus::Consumer::CaughtUp()).
  absl::Duration statistics_interval = absl::Seconds(1);
  std::map<std::string, std::string> kafka_extra;
  // Stall watchdog, request timeout and close bound of the consumer.
  kafka::SupervisorOptions supervisor;
  // Stored samples (Reevaluate's source) older than this much event time
  // before the newest one are deleted, at most once per prune_interval.
  // Zero keeps them forever.
  absl::Duration sample_retention = absl::Hours(24 * 30);
  absl::Duration prune_interval = absl::Hours(1);
};

class Pipeline {
 public:
  // Not owned: store (its own connection), settings, health.
  // `on_detections` runs on the pipeline thread after a commit that added rows.
  Pipeline(PipelineOptions options, Store* store, RuntimeSettings* settings, Health* health,
           std::function<void()> on_detections);
  ~Pipeline();  // Stop()

  // Loads the detector state, joins the group and starts the thread.
  absl::Status Start();
  void Stop();

  struct View {
    std::optional<Detector::Level> last_level;
    SignalState signal = iss::telemetry::v1::SIGNAL_STATE_UNSPECIFIED;
    std::optional<int64_t> processor_state;
    int64_t events_consumed = 0;
    int64_t bad_messages = 0;  // dead-lettered, in committed batches
    int64_t detections = 0;
  };
  View view() const;

 private:
  void Loop();
  absl::Status ProcessBatch(const std::vector<kafka::Message>& batch);
  absl::Status Resync();
  void MaybePruneSamples();
  DetectorConfig ConfigFromSettings() const;

  const PipelineOptions options_;
  Store* store_;
  RuntimeSettings* settings_;
  Health* health_;
  std::function<void()> on_detections_;
  std::unique_ptr<Detector> detector_;  // pipeline thread only (after Start)
  std::unique_ptr<bus::Consumer> bus_;  // the consumer and the DLQ producer
  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool needs_resync_ = false;
  int empty_polls_ = 0;
  absl::Time newest_sample_ = absl::InfinitePast();  // event time, pipeline thread only
  absl::Time last_prune_ = absl::InfinitePast();

  mutable absl::Mutex mu_;
  View view_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iss::peebot

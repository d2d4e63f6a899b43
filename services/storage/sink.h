// Owns: the consume -> decode -> validate -> batch -> commit loop of the
// storage service and the consumer/DLQ producer it drives. Two stages: the loop
// thread polls, decodes and verifies batch N+1 while a CommitStage thread
// writes and commits batch N (at most one batch in flight; commits stay in
// order). The database connection belongs to the commit thread while a batch is
// in flight; the loop thread takes the batch back (waiting for it) before it
// touches the connection itself: on assignment, revoke, retry and shutdown.
//
// Exactly once: broker auto-commit is off; rows and next offsets commit in one
// PostgreSQL transaction (BatchWriter); on every assignment the consumer seeks
// to the offsets stored in PostgreSQL. Redelivered events are absorbed by the
// table's unique key, so a crash or rebalance at any point neither loses nor
// doubles a row.
// Poison messages go to the DLQ topic (waited for before the offset that skips
// them commits) and never stall the loop.
// PostgreSQL down: the batch is held, partitions are paused, the commit is
// retried with exponential backoff (Poll keeps serving rebalances), health goes
// NOT_SERVING until a commit succeeds, then consumption resumes.
// On revoke, the batch in flight is finished first (a failed one rejoins the
// pending batch), then the pending batch is committed when the database allows;
// otherwise the revoked partitions' pending messages are dropped (the new owner
// re-reads them from the stored offsets).
// The Kafka side (supervised group consumer, DLQ producer) is the shared
// bus::Consumer (common/bus_consumer.h); this class keeps storage's batching.
// Broker trouble: the consumer is a kafka::SupervisedConsumer. A client that
// stops fetching while the broker holds unread messages (a half-open
// connection) is replaced; that is a revoke plus a fresh assignment, so the
// same rules hold. Stop() waits a bounded time to leave the group.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/bus_consumer.h"
#include "common/health.h"
#include "common/kafka.h"
#include "common/kafka_supervisor.h"
#include "iss/telemetry/v1/telemetry.pb.h"
#include "services/storage/batch_writer.h"
#include "services/storage/commit_stage.h"
#include "services/storage/decoder.h"
#include "services/storage/partitions.h"
#include "services/storage/tail_hub.h"

namespace iss::storage {

struct SinkOptions {
  std::string dsn;
  std::string brokers;
  std::string group_id = "iss-storage";
  std::string topic = "telemetry.raw.v1";
  std::string dlq_topic = "telemetry.dlq.v1";
  std::string client_id = "iss-storage";
  size_t batch_max = 5000;
  absl::Duration batch_wait = absl::Milliseconds(100);
  // Longest a consumer fetch waits at the broker for data (fetch.wait.max.ms).
  // Where the broker answers a waiting fetch only at its end (librdkafka's mock
  // cluster), it adds up to this much to every event's latency at low rates;
  // brokers that answer as data arrives are not slowed by a longer one.
  absl::Duration fetch_wait = absl::Milliseconds(10);
  absl::Duration retry_min = absl::Milliseconds(100);
  absl::Duration retry_max = absl::Seconds(5);
  absl::Duration lag_interval = absl::Seconds(1);
  // Days older than this get no partition on demand (see PartitionManager).
  absl::Duration retention = absl::InfiniteDuration();
  DecodeLimits decode;
  std::map<std::string, std::string> consumer_extra;  // raw librdkafka properties
  // Stall watchdog, request timeout and close bound of the consumer.
  kafka::SupervisorOptions supervisor;
  // Tests only (unset in the service). test_before_write runs before every
  // batch write, on the thread doing it; an error fails that write as a
  // database error would. test_on_revoke runs when a revoke begins.
  std::function<absl::Status()> test_before_write;
  std::function<void()> test_on_revoke;
};

struct SinkStats {
  bool database_reachable = false;
  uint64_t rows_written = 0;
  uint64_t duplicates_skipped = 0;
  uint64_t batches_committed = 0;
  uint64_t dead_lettered = 0;
  uint64_t db_errors = 0;
  std::map<kafka::TopicPartition, int64_t> lag;
  std::vector<kafka::TopicPartition> assignment;
};

class Sink {
 public:
  // `health` and `tail` are not owned and may be null (tests, benchmarks).
  Sink(SinkOptions options, Health* health, TailHub* tail);
  ~Sink();

  // Joins the group and starts the loop on its own thread.
  absl::Status Start();
  // Stops the loop, commits what is pending (one attempt), leaves the group.
  void Stop();

  SinkStats Stats() const;
  const SinkOptions& options() const { return options_; }

 private:
  void Run();
  void Accept(kafka::Message& message);
  // One attempt to commit the pending batch.
  absl::Status CommitPending();
  // Writes and commits `events` with `offsets` on conn_ and accounts for it
  // (metrics, stats, Tail). On success the events may have been moved out.
  // Runs on whichever thread owns conn_ at the time; the advisory broker
  // commit is left to the loop thread (CommitAdvisory).
  absl::Status WriteBatch(std::vector<iss::telemetry::v1::TelemetryEvent>& events,
                          const std::map<kafka::TopicPartition, int64_t>& offsets);
  // Tells the broker what is committed in PostgreSQL (advisory). Loop thread.
  void CommitAdvisory(const std::map<kafka::TopicPartition, int64_t>& offsets);
  // Empties the pending batch (after it was committed or handed on).
  void ResetPending();
  // The batch is full or due: hands it to the commit stage (after taking the
  // previous one back), or commits it here when it needs the slow path.
  void Seal();
  // Takes the in-flight batch back once written (`wait`: wait for it). A failed
  // one is put back in front of the pending batch; with `retry` it is then
  // committed with CommitWithRetry (never inside a rebalance callback).
  void TakeInFlight(bool wait, bool retry);
  // Commits, pausing the consumer and backing off while the database refuses.
  void CommitWithRetry();
  absl::Status Connect();
  absl::StatusOr<std::map<kafka::TopicPartition, int64_t>> OnAssign(
      const std::vector<kafka::TopicPartition>& partitions);
  void OnRevoke(const std::vector<kafka::TopicPartition>& partitions);
  void DropPending(const std::vector<kafka::TopicPartition>& partitions);
  void SetDatabaseUp(bool up, const std::string& detail);
  void RefreshLag();

  const SinkOptions options_;
  Health* health_;
  TailHub* tail_;
  PartitionManager partitions_;
  BatchWriter writer_;

  // Owned by the loop thread (and by Stop() after the thread joined).
  std::unique_ptr<bus::Consumer> bus_;  // the consumer and the DLQ producer
  std::unique_ptr<pqxx::connection> conn_;
  std::vector<iss::telemetry::v1::TelemetryEvent> pending_;
  std::vector<int32_t> pending_partition_;  // partition of each pending event
  std::map<kafka::TopicPartition, int64_t> pending_offsets_;
  // Events of the last committed batch, parsed into again (no allocations).
  std::vector<iss::telemetry::v1::TelemetryEvent> spare_;
  absl::Time first_pending_at_ = absl::InfiniteFuture();
  absl::Time next_lag_at_ = absl::InfinitePast();
  std::unique_ptr<CommitStage> stage_;  // created by Start()

  std::thread thread_;
  std::atomic<bool> stop_{false};

  mutable absl::Mutex mu_;
  SinkStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iss::storage

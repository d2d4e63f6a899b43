// Owns: moving messages from the bounded queue into Kafka, and knowing what
// happened to each of them.
//
// One thread drains the queue in order and hands each message to
// iss::kafka::Producer (idempotent, acks=all, lz4, key = item id): events to
// the raw topic, dead letters to the DLQ topic. Delivery reports feed the
// counters and two histograms (produce -> ack, and accept -> ack).
//
// Broker outages: librdkafka keeps retrying (no message timeout); once its own
// queue bound is reached Produce() refuses, this thread waits for deliveries
// to make room and retries the *same* message, so our bounded queue fills and
// the source is paused. Nothing is skipped, so per-item order (one key, one
// partition, one producer, idempotence on) holds end to end.
//
// Topics are created (EnsureTopic) by the publishing thread before the first
// message, retried until the broker answers, so the service can start while
// the broker is still down.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/kafka.h"
#include "services/ingestion/bounded_queue.h"

namespace iss::ingest {

struct PublisherOptions {
  std::string topic = "telemetry.raw.v1";
  std::string dlq_topic = "telemetry.dlq.v1";
  int partitions = 12;
  int dlq_partitions = 1;  // low volume; the dev broker makes it with 1
  int replication_factor = 1;
  // Messages taken from the queue per wake-up.
  size_t max_batch = 1024;
  // After the first message, wait up to batch_fill_wait for batch_fill of them.
  size_t batch_fill = 256;
  absl::Duration batch_fill_wait = absl::Milliseconds(1);
  absl::Duration topic_timeout = absl::Seconds(10);
  // Optional: called on the delivery thread with each acknowledged event's
  // accept -> ack latency (the benchmark takes exact percentiles from it).
  std::function<void(absl::Duration)> on_event_acked;
};

class Publisher {
 public:
  struct Stats {
    int64_t events_acked = 0;        // events acknowledged by the broker
    int64_t dead_letters_acked = 0;  // dead letters acknowledged
    int64_t failures = 0;            // deliveries that failed for good
    int64_t produced = 0;            // handed to the producer
    int64_t in_flight = 0;           // handed over, no report yet
  };

  // Creates the producer and starts the publishing thread on `queue` (not owned).
  static absl::StatusOr<std::unique_ptr<Publisher>> Start(const PublisherOptions& options,
                                                          const kafka::ProducerOptions& producer,
                                                          BoundedQueue* queue);
  // Stops at once (use Drain() first for an orderly shutdown).
  ~Publisher();

  // Orderly shutdown: the caller has stopped the sources and closed the queue.
  // Publishes what is left, then waits for every delivery report, all within
  // `timeout`. DEADLINE_EXCEEDED (with the count left behind) if the broker did
  // not take everything in time.
  absl::Status Drain(absl::Duration timeout);

  // Whether the broker answers (for health).
  absl::Status Ping(absl::Duration timeout);
  Stats stats() const;
  // True while the thread is waiting for the broker (topic creation or a full
  // producer queue).
  bool waiting_for_broker() const { return waiting_.load(); }

 private:
  struct Pending;
  struct PendingBlock;
  struct DeliveryTally;
  Publisher(PublisherOptions options, BoundedQueue* queue);
  void Run();
  bool EnsureTopics();
  // `pending` is a slot of `block`, released on the delivery report (or here
  // if the producer refuses the message for good).
  void PublishOne(Envelope& envelope, Pending* pending, PendingBlock* block);
  static void Release(PendingBlock* block, size_t n);
  // Per report: the counters above at once, the metrics into tally_.
  void OnDelivery(const kafka::DeliveryReport& report);
  // After each round of reports (and once the producer is gone): tally_ into
  // the prometheus metrics, so they lag the reports by one round at most.
  void FlushDeliveryMetrics();
  bool Stopping() const { return abort_.load(); }
  void Abort();

  const PublisherOptions options_;
  BoundedQueue* const queue_;
  std::unique_ptr<kafka::Producer> producer_;
  std::thread thread_;
  std::atomic<bool> abort_{false};
  std::atomic<bool> waiting_{false};
  absl::Notification done_;  // the thread has finished

  // Counters are atomics: the hot path takes no lock. mu_ only lets the
  // publishing thread sleep until a delivery report makes room (or Abort()).
  std::atomic<int64_t> events_acked_{0}, dead_letters_acked_{0}, failures_{0}, produced_{0},
      in_flight_{0};
  std::atomic<int64_t> abandoned_{0};  // taken from the queue, never produced (Abort)
  // Delivery thread only (and the destructor, after that thread is gone).
  std::unique_ptr<DeliveryTally> tally_;
  mutable absl::Mutex mu_;
};

}  // namespace iss::ingest

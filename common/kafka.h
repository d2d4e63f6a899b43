// Owns: the narrow Kafka driver every service uses (librdkafka underneath).
// Nothing outside this file and the driver (kafka*.cc, kafka_internal.h) includes
// librdkafka headers, except the test fixture that drives the mock cluster.
//
// Producer: idempotent (enable.idempotence, acks=all), lz4, keyed; one internal
// thread serves delivery reports and calls OnDelivery for each message.
// Consumer: consumer group member with auto-commit OFF; on every assignment it
// asks the caller where to start (offsets kept in PostgreSQL next to the data,
// which is what makes the sinks exactly-once) and seeks there. Services wrap
// it in kafka::SupervisedConsumer (kafka_supervisor.h): stall watchdog, short
// request timeout, bounded close.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace iss::kafka {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

struct ProducerOptions {
  std::string brokers;  // "host:port,host:port"
  std::string client_id = "iss";
  absl::Duration linger = absl::Milliseconds(5);
  int batch_num_messages = 10000;
  std::string compression = "lz4";  // the mock cluster loses uncompressed batches
  // How long librdkafka keeps retrying a message before failing it. Infinite by
  // default: during a broker outage messages wait, they are not dropped.
  absl::Duration message_timeout = absl::InfiniteDuration();
  // librdkafka's own queue bound (messages); Produce() answers
  // RESOURCE_EXHAUSTED beyond it.
  int queue_max_messages = 100000;
  // How long the destructor waits for the broker to take what is still
  // queued; not at all when no broker answers within a second. The rest is
  // failed (CANCELLED delivery reports).
  absl::Duration close_timeout = absl::Seconds(10);
  // Raw librdkafka properties, applied last (e.g. {"statistics.interval.ms","1000"}).
  std::map<std::string, std::string> extra;
};

struct DeliveryReport {
  absl::Status status;  // OK = acknowledged by all in-sync replicas
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  void* opaque = nullptr;  // what was passed to Produce()
};

class Producer {
 public:
  using OnDelivery = std::function<void(const DeliveryReport&)>;
  // Called on the same thread after each round of delivery reports (one
  // librdkafka poll that served at least one), so a caller can publish what
  // it tallied per report in bulk (e.g. one histogram update per round
  // rather than per message).
  using OnReportsServed = std::function<void()>;

  // Runs OnDelivery on the producer's own thread, in per-partition order.
  static absl::StatusOr<std::unique_ptr<Producer>> Create(const ProducerOptions& options,
                                                          OnDelivery on_delivery,
                                                          OnReportsServed on_reports_served = {});
  virtual ~Producer() = default;  // flushes for up to close_timeout, then stops

  // Copies key/value/headers and enqueues. Non-blocking.
  // RESOURCE_EXHAUSTED when librdkafka's queue is full (caller backs off).
  virtual absl::Status Produce(std::string_view topic, std::string_view key, std::string_view value,
                               const Headers& headers = {}, void* opaque = nullptr) = 0;
  // Waits until every enqueued message has a delivery report.
  virtual absl::Status Flush(absl::Duration timeout) = 0;
  // Messages enqueued and not yet reported.
  virtual int64_t InFlight() const = 0;
  // Creates the topic if it does not exist (admin API). OK if it exists.
  virtual absl::Status EnsureTopic(const std::string& topic, int partitions, int replication_factor,
                                   absl::Duration timeout) = 0;
  // Whether a broker answered recently (metadata request within `timeout`).
  virtual absl::Status Ping(absl::Duration timeout) = 0;
};

// librdkafka properties for a consumer group's liveness: how long a dead
// member keeps its partitions, and heartbeats at a tenth of that (Kafka's own
// rule of thumb, at least every 100 ms).
std::map<std::string, std::string> GroupSessionProperties(absl::Duration session_timeout);

struct ConsumerOptions {
  std::string brokers;
  std::string group_id;
  std::string client_id = "iss";
  std::vector<std::string> topics;
  // Where to start on a partition the caller has no stored offset for.
  bool start_from_earliest = true;
  // librdkafka statistics period; feeds Lag(). 0 = off.
  absl::Duration statistics_interval = absl::Seconds(5);
  std::map<std::string, std::string> extra;
};

struct Message {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  Headers headers;
  absl::Time timestamp;  // broker/producer timestamp
};

class Consumer {
 public:
  // Called on every assignment, on the polling thread, before any message of
  // those partitions is returned. Return the next offset to read for each
  // partition you have one for; the others start per start_from_earliest.
  // An error fails the assignment: the consumer retries it on the next poll.
  using OnAssign = std::function<absl::StatusOr<std::map<TopicPartition, int64_t>>(
      const std::vector<TopicPartition>& partitions)>;
  // Called when partitions are taken away (rebalance, close), before they go.
  using OnRevoke = std::function<void(const std::vector<TopicPartition>& partitions)>;

  static absl::StatusOr<std::unique_ptr<Consumer>> Create(const ConsumerOptions& options,
                                                          OnAssign on_assign, OnRevoke on_revoke);
  virtual ~Consumer() = default;  // leaves the group

  // Returns up to `max_messages`, waiting at most `timeout` for the first one.
  // Transient broker errors are logged and yield an empty batch; fatal ones
  // return an error.
  virtual absl::StatusOr<std::vector<Message>> Poll(size_t max_messages,
                                                    absl::Duration timeout) = 0;
  // Pause/resume fetching on every assigned partition (e.g. while the
  // database is down). Poll() must still be called to serve rebalances.
  virtual absl::Status PauseAll() = 0;
  virtual absl::Status ResumeAll() = 0;
  // Rewinds a partition (e.g. after a failed transaction, to re-read the batch).
  virtual absl::Status Seek(const TopicPartition& tp, int64_t offset) = 0;
  virtual std::vector<TopicPartition> Assignment() = 0;
  // High watermark - position per partition, from the latest statistics.
  virtual std::map<TopicPartition, int64_t> Lag() = 0;
  // Also commit offsets to the broker (advisory only, so standard tools show
  // progress; the source of truth stays in PostgreSQL). Async, best effort.
  virtual void CommitAdvisory(const std::map<TopicPartition, int64_t>& next_offsets) = 0;
};

}  // namespace iss::kafka

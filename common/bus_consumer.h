// Owns: the Kafka side every Kafka -> PostgreSQL exactly-once loop shares
// (storage's sink, Pee-Bot's pipeline): the supervised group consumer, the
// dead-letter producer, lag and "caught up". The loop itself (what to decode,
// how to batch, the one transaction that stores rows and next offsets) stays
// with each service; this class is the skeleton it polls through.
//
// The exactly-once contract both loops keep with it:
//  - broker auto-commit is off; on every assignment OnAssign returns the next
//    offsets stored in PostgreSQL and the consumer seeks there;
//  - a message the service cannot use is DeadLetter()ed (topic
//    telemetry.dlq.v1, value iss.telemetry.v1.DeadLetter, headers
//    iss.dlq.reason and iss.dlq.component, key = item id when known) and its
//    offset still advances, so poison never stalls the loop;
//  - before a transaction commits offsets that skip dead-lettered messages,
//    FlushDeadLetters() must have returned OK: the DLQ holds them first;
//  - after the commit, CommitAdvisory() tells the broker (for tools only).
// Every method runs on the loop's thread (OnAssign/OnRevoke are called from
// Poll and from the destructor, on that thread too), except dead_lettered().
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/kafka.h"
#include "common/kafka_supervisor.h"
#include "common/metrics.h"

namespace iss::bus {

// Why a message was not used: what goes to the DLQ.
struct Rejection {
  std::string reason;   // stable: "undecodable", "bad_item_id", ...
  std::string detail;   // names the field
  std::string item_id;  // when it could be read
};

struct ConsumerOptions {
  std::string brokers;
  std::string group_id;
  std::string client_id;
  std::string topic = "telemetry.raw.v1";
  std::string dlq_topic = "telemetry.dlq.v1";
  // DeadLetter.component and the iss.dlq.component header: "storage", "peebot".
  std::string component;
  // Prefix of the service's metrics: <prefix>_dead_letters_total{reason}.
  std::string metrics_prefix;
  // librdkafka statistics period; feeds Lag() and CaughtUp().
  absl::Duration statistics_interval = absl::Seconds(1);
  std::map<std::string, std::string> extra;  // raw librdkafka consumer properties
  // Stall watchdog, request timeout and close bound of the consumer.
  kafka::SupervisorOptions supervisor;
};

class Consumer {
 public:
  // Joins the group (OnAssign/OnRevoke as in kafka::Consumer) and makes the
  // dead-letter producer.
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(const ConsumerOptions& options,
                                                          kafka::Consumer::OnAssign on_assign,
                                                          kafka::Consumer::OnRevoke on_revoke);
  // Leaves the group (bounded, OnRevoke runs here), then waits up to 5 s for
  // dead letters in flight, if a broker answers.
  ~Consumer();

  // Leaves the group now (bounded; OnRevoke runs here, and may still flush
  // dead letters and commit). Afterwards only the dead-letter calls are valid.
  void Close();

  absl::StatusOr<std::vector<kafka::Message>> Poll(size_t max_messages, absl::Duration timeout) {
    return consumer_->Poll(max_messages, timeout);
  }
  absl::Status PauseAll() { return consumer_->PauseAll(); }
  absl::Status ResumeAll() { return consumer_->ResumeAll(); }
  std::vector<kafka::TopicPartition> Assignment() { return consumer_->Assignment(); }
  std::map<kafka::TopicPartition, int64_t> Lag() { return consumer_->Lag(); }
  // Null-safe while Close() runs: its revoke may commit.
  void CommitAdvisory(const std::map<kafka::TopicPartition, int64_t>& next_offsets) {
    if (consumer_ != nullptr) consumer_->CommitAdvisory(next_offsets);
  }

  // Sends `message` to the DLQ with the reason, counts and logs it (rate
  // limited). Waits for room when the local queue is full rather than lose it.
  void DeadLetter(const kafka::Message& message, const Rejection& rejection);
  // Dead letters sent since the last successful flush.
  bool has_unflushed_dead_letters() const { return unflushed_; }
  // Waits until every dead letter is acknowledged; call before committing
  // offsets that skip them. OK at once when there are none.
  absl::Status FlushDeadLetters(absl::Duration timeout = absl::Seconds(10));
  // Messages dead-lettered so far (any thread).
  uint64_t dead_lettered() const { return dead_lettered_.load(); }

  // Moves every assigned partition back to the next offset stored for it
  // (`stored`; a partition without one is read from the beginning), e.g.
  // after a failed transaction. The lag statistics are not trusted again until
  // fresh ones can have arrived.
  absl::Status Rewind(const std::map<kafka::TopicPartition, int64_t>& stored);
  // Every assigned partition is at its high watermark, by statistics newer
  // than the last Rewind(). False with no assignment.
  bool CaughtUp();

 private:
  Consumer(const ConsumerOptions& options, std::unique_ptr<kafka::Producer> dlq);

  const ConsumerOptions options_;
  std::unique_ptr<kafka::Producer> dlq_;
  std::unique_ptr<kafka::Consumer> consumer_;
  prometheus::Family<prometheus::Counter>* dead_letters_;  // by reason
  bool unflushed_ = false;
  std::atomic<uint64_t> dead_lettered_{0};
  absl::Time lag_trusted_after_ = absl::InfinitePast();
};

}  // namespace iss::bus

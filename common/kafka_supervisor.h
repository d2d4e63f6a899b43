// Owns: keeping a group consumer consuming, and bounding how long closing it
// may take. Part of the Kafka driver (librdkafka stays behind the .cc).
//
// SupervisedConsumer wraps the plain driver consumer (common/kafka.h) with:
//  - a short request timeout (socket.timeout.ms), so a half-open broker
//    connection (the peer gone without a FIN reaching us: a crashed host, a
//    dropped NAT entry) is torn down and re-made in seconds, not librdkafka's
//    default 60 s;
//  - a stall watchdog: when no message arrived for `stall_timeout` while the
//    owner has not paused, and a separate client (BrokerProbe) sees the
//    broker holding messages past our position on an assigned partition, at
//    two checks in a row with no progress between them, the client is
//    replaced: OnRevoke for what it held, a bounded close, a new client that
//    rejoins the group (OnAssign then seeks to the owner's stored offsets, so
//    the owner loses and repeats nothing). Counted in
//    iss_kafka_consumer_recoveries_total{group} and logged;
//  - a bounded close: leaving the group waits at most `close_timeout`; past
//    it the client is left to finish on its own thread (its callbacks no
//    longer reach the owner) and the caller goes on, e.g. to exit.
// OnAssign/OnRevoke keep the plain consumer's contract; OnRevoke runs on the
// caller's thread (Poll or the destructor), never from inside a close.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/health.h"
#include "common/kafka.h"

namespace iss::kafka {

// A client that only asks the cluster questions: no producing, no group.
// Thread-safe.
class BrokerProbe {
 public:
  static absl::StatusOr<std::unique_ptr<BrokerProbe>> Create(const std::string& brokers,
                                                             const std::string& client_id);
  virtual ~BrokerProbe() = default;

  // OK when a broker answered a metadata request within `timeout`.
  virtual absl::Status Ping(absl::Duration timeout) = 0;

  struct Watermarks {
    int64_t low = -1;   // first offset still on the broker
    int64_t high = -1;  // offset the next message will get
  };
  // Asks each partition's leader; any unanswered partition fails the call.
  virtual absl::StatusOr<std::map<TopicPartition, Watermarks>> QueryWatermarks(
      const std::vector<TopicPartition>& partitions, absl::Duration timeout) = 0;
};

// Sets the "kafka" check of `health` from one ping's result (every service
// reports its broker the same way).
void ReportBrokerHealth(const absl::Status& ping, Health* health);

// Until shutdown is requested (common/shutdown.h), pings the brokers every
// `interval` and keeps `health`'s required dependency "kafka" in step: a
// consumer's Poll() answers OK with no broker at all, so readiness asks the
// cluster itself. Services run this on their main thread once they are up.
void WatchBrokersUntilShutdown(BrokerProbe& probe, Health* health,
                               absl::Duration interval = absl::Seconds(1),
                               absl::Duration timeout = absl::Seconds(2));

struct SupervisorOptions {
  // No message for this long (while not paused and the broker holds unread
  // messages, seen at two checks in a row) and the client is replaced.
  // Zero turns the watchdog off.
  absl::Duration stall_timeout = absl::Seconds(30);
  // Longest wait for a client to leave its group and close.
  absl::Duration close_timeout = absl::Seconds(10);
  // librdkafka socket.timeout.ms (unless ConsumerOptions::extra sets it).
  absl::Duration request_timeout = absl::Seconds(10);
};

class SupervisedConsumer final : public Consumer {
 public:
  static absl::StatusOr<std::unique_ptr<SupervisedConsumer>> Create(
      const ConsumerOptions& options, const SupervisorOptions& supervisor, OnAssign on_assign,
      OnRevoke on_revoke);
  ~SupervisedConsumer() override;  // OnRevoke, then a bounded close

  absl::StatusOr<std::vector<Message>> Poll(size_t max_messages, absl::Duration timeout) override;
  absl::Status PauseAll() override;
  absl::Status ResumeAll() override;
  absl::Status Seek(const TopicPartition& tp, int64_t offset) override;
  std::vector<TopicPartition> Assignment() override;
  std::map<TopicPartition, int64_t> Lag() override;
  void CommitAdvisory(const std::map<TopicPartition, int64_t>& next_offsets) override;

  // Clients replaced by the watchdog so far.
  int64_t recoveries() const { return recoveries_; }

 private:
  struct Gate;
  SupervisedConsumer(const ConsumerOptions& options, const SupervisorOptions& supervisor,
                     OnAssign on_assign, OnRevoke on_revoke);
  absl::Status Open();
  void CloseClient(absl::Duration timeout, const char* why);
  absl::StatusOr<std::map<TopicPartition, int64_t>> Assigned(
      const std::vector<TopicPartition>& partitions);
  void Revoked(const std::vector<TopicPartition>& partitions);
  void Watch();
  void Recover(const std::map<TopicPartition, int64_t>& behind, int64_t messages_behind);

  // Everything below is touched on the owner's (polling) thread only.
  ConsumerOptions options_;
  const SupervisorOptions supervisor_;
  OnAssign on_assign_;
  OnRevoke on_revoke_;
  std::shared_ptr<Gate> gate_;
  std::unique_ptr<Consumer> client_;
  std::unique_ptr<BrokerProbe> probe_;  // made at the first check
  bool paused_ = false;
  // Next offset the owner gets per assigned partition, where known.
  std::map<TopicPartition, int64_t> position_;
  // Partitions behind at the last check, with the position they had then.
  std::map<TopicPartition, int64_t> suspects_;
  absl::Time last_progress_;
  absl::Time next_check_ = absl::InfinitePast();
  absl::Time next_open_ = absl::InfinitePast();
  int64_t recoveries_ = 0;
};

}  // namespace iss::kafka

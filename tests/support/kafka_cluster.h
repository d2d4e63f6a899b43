// Test fixture: a Kafka-protocol broker on loopback, built on librdkafka's mock
// cluster (rdkafka_mock.h). Real sockets, real protocol, in-process.
// Remember: producers must use lz4 (uncompressed batches were seen lost), the
// mock keeps a bounded number of batches per partition, and a group join costs
// ~3 s.
// Also seen with librdkafka 2.0.2's mock:
//  - when a second member joins a group, the coordinator waits up to
//    session.timeout.ms - 1 s (default 45 s) for the others: give consumers of
//    multi-member tests {"session.timeout.ms","6000"},{"heartbeat.interval.ms","500"};
//  - it does not answer CreateTopics: create topics here (CreateTopic), and
//    kafka::Producer::EnsureTopic then finds them;
//  - a paused partition is not fetched, so its high watermark (and the lag
//    derived from it) stays as it was when fetching stopped.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace iss::testing {

class KafkaCluster {
 public:
  static absl::StatusOr<std::unique_ptr<KafkaCluster>> Start(int brokers = 1);
  ~KafkaCluster();

  const std::string& bootstrap() const { return bootstrap_; }
  absl::Status CreateTopic(const std::string& topic, int partitions, int replication = 1);

  // Takes a broker down (leadership of every partition is moved onto it first,
  // so producers really see the outage) / brings it back.
  absl::Status SetBrokerDown(int32_t broker_id);
  absl::Status SetBrokerUp(int32_t broker_id);
  // Makes the next `count` requests of Kafka API `api_key` fail with `error`
  // (librdkafka rd_kafka_resp_err_t as int).
  // Careful with Produce errors against an idempotent producer: the mock (up
  // to librdkafka 2.x) checks sequence numbers only for transactional
  // producers, so when a later request of the same partition succeeds while
  // a rejected one waits for its retry, librdkafka acks the rejected messages
  // implicitly and they are never stored (a real broker would answer
  // OUT_OF_ORDER_SEQUENCE_NUMBER). RD_KAFKA_RESP_ERR__TRANSPORT closes the
  // connection instead, failing everything in flight together.
  void PushRequestErrors(int16_t api_key, int error, int count);

  // Reads every message of `topic` from the beginning until `expected` have
  // been seen or `timeout` passed (a plain assign-all consumer, no group).
  struct Record {
    int32_t partition;
    int64_t offset;
    std::string key;
    std::string value;
    std::vector<std::pair<std::string, std::string>> headers;  // in order
  };
  std::vector<Record> ReadAll(const std::string& topic, size_t expected, absl::Duration timeout);

 private:
  KafkaCluster() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string bootstrap_;
};

}  // namespace iss::testing

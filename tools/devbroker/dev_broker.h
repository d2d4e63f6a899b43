// Owns: an in-memory Kafka-protocol cluster for development (librdkafka's mock
// cluster), its topics, and the fixed bootstrap address in front of it.
//
// In-memory only: everything is lost on exit, and the mock keeps a bounded
// number of batches per partition (older ones are silently dropped). Never a
// substitute for a real broker outside development and tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace iss::devbroker {

struct TopicSpec {
  std::string name;
  int partitions = 1;
};

struct DevBrokerOptions {
  std::string address = "127.0.0.1:19092";  // fixed bootstrap address (port 0 = any)
  int brokers = 1;
  // Empty: clients bootstrap through `address`, then talk to the mock brokers'
  // own loopback ports (same host only). Set: broker i (1-based) is relayed on
  // `address`'s port + i - 1 (any free ports with port 0), and clients are told
  // "<advertise_host>:<that port>" (clients on other hosts, e.g. containers).
  std::string advertise_host;
  std::vector<TopicSpec> topics = {{"telemetry.raw.v1", 12}, {"telemetry.dlq.v1", 1}};
};

class DevBroker {
 public:
  static absl::StatusOr<std::unique_ptr<DevBroker>> Start(const DevBrokerOptions& options);
  ~DevBroker();

  // What clients use: the fixed address ("127.0.0.1:19092"), or the first
  // broker's advertised address.
  const std::string& bootstrap() const { return bootstrap_; }
  // The mock brokers' own addresses (ephemeral loopback ports).
  const std::string& mock_bootstrap() const { return mock_bootstrap_; }
  int64_t connections() const;

 private:
  DevBroker() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string bootstrap_, mock_bootstrap_;
};

}  // namespace iss::devbroker

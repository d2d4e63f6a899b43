// Owns: what the Kafka producer (kafka_producer.cc) and consumer
// (kafka_consumer.cc) share on top of librdkafka's C API: error mapping,
// configuration with our logging hooks, handle creation. Internal to the
// driver: only the driver's files include librdkafka.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace iss::kafka::internal {

// librdkafka error -> canonical code (which maps 1:1 onto gRPC codes).
absl::StatusCode CodeFor(rd_kafka_resp_err_t err);
absl::Status ErrStatus(rd_kafka_resp_err_t err, std::string_view what);
int64_t ToMillis(absl::Duration d);
// A librdkafka timeout argument (ms, -1 = forever).
int TimeoutMs(absl::Duration d);
// Builds a conf from `props` (applied in order), installing the logging hooks.
absl::StatusOr<rd_kafka_conf_t*> MakeConf(
    const std::vector<std::pair<std::string, std::string>>& props);
// Takes `conf` in every case.
absl::StatusOr<rd_kafka_t*> NewHandle(rd_kafka_type_t type, rd_kafka_conf_t* conf);
// A payload or key (null pointer = empty).
std::string_view AsView(const void* p, size_t n);

}  // namespace iss::kafka::internal

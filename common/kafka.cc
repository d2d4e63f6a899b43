// The Kafka driver's shared part: see kafka_internal.h. The producer is in
// kafka_producer.cc, the consumer in kafka_consumer.cc; common/kafka.h is the
// interface the platform uses.
#include "common/kafka_internal.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace iss::kafka {
namespace {

void LogCallback(const rd_kafka_t* rk, int level, const char* facility, const char* buf) {
  const log::Level lvl = level <= 3   ? log::Level::kError
                         : level == 4 ? log::Level::kWarn
                         : level <= 6 ? log::Level::kInfo
                                      : log::Level::kDebug;
  log::Write(lvl, "librdkafka",
             {{"client", rd_kafka_name(rk)}, {"facility", facility}, {"detail", buf}});
}

void ErrorCallback(rd_kafka_t* rk, int err, const char* reason, void*) {
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal[512];
    const rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
    log::Error(
        "kafka fatal error",
        {{"client", rd_kafka_name(rk)}, {"error", rd_kafka_err2name(orig)}, {"detail", fatal}});
    return;
  }
  // Broker outages arrive here; librdkafka retries by itself.
  log::Warn(
      "kafka error",
      {{"client", rd_kafka_name(rk)}, {"error", rd_kafka_err2name(code)}, {"detail", reason}});
}

}  // namespace

namespace internal {

absl::StatusCode CodeFor(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return absl::StatusCode::kOk;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      return absl::StatusCode::kDeadlineExceeded;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
      return absl::StatusCode::kInvalidArgument;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      return absl::StatusCode::kNotFound;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
      return absl::StatusCode::kAlreadyExists;
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__DESTROY:
      return absl::StatusCode::kCancelled;
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__STATE:
    case RD_KAFKA_RESP_ERR__CONFLICT:
      return absl::StatusCode::kInternal;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
      return absl::StatusCode::kPermissionDenied;
    default:
      // Transport, leadership and broker-side transient errors.
      return absl::StatusCode::kUnavailable;
  }
}

absl::Status ErrStatus(rd_kafka_resp_err_t err, std::string_view what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  return absl::Status(CodeFor(err), absl::StrCat(std::string(what), ": ", rd_kafka_err2str(err)));
}

int64_t ToMillis(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

int TimeoutMs(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return -1;
  if (d <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(ToMillis(d), INT32_MAX));
}

absl::StatusOr<rd_kafka_conf_t*> MakeConf(
    const std::vector<std::pair<std::string, std::string>>& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  // TCP_NODELAY on every broker connection, as the Java client does: our
  // requests are small and latency-bound, and with Nagle a second small
  // request waits for the broker's delayed ACK. `props` may still override it.
  rd_kafka_conf_set(conf, "socket.nagle.disable", "true", err, sizeof(err));
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return absl::InvalidArgumentError(absl::StrCat("kafka property ", k, "=", v, ": ", err));
    }
  }
  rd_kafka_conf_set_log_cb(conf, LogCallback);
  rd_kafka_conf_set_error_cb(conf, ErrorCallback);
  return conf;
}

absl::StatusOr<rd_kafka_t*> NewHandle(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new only takes it on success
    return absl::InvalidArgumentError(absl::StrCat("kafka client: ", err));
  }
  return rk;
}

std::string_view AsView(const void* p, size_t n) {
  return p ? std::string_view(static_cast<const char*>(p), n) : std::string_view();
}

}  // namespace internal

std::map<std::string, std::string> GroupSessionProperties(absl::Duration session_timeout) {
  const int64_t ms = absl::ToInt64Milliseconds(session_timeout);
  return {{"session.timeout.ms", absl::StrCat(ms)},
          {"heartbeat.interval.ms", absl::StrCat(std::max<int64_t>(100, ms / 10))}};
}

}  // namespace iss::kafka

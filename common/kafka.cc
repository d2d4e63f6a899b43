// The Kafka driver: librdkafka's C API behind common/kafka.h. This is the
// only file of the platform that includes librdkafka (besides the test
// fixture driving the mock cluster).
#include "common/kafka.h"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/strings.h"

namespace iss::kafka {
namespace {

// librdkafka error -> canonical code (which maps 1:1 onto gRPC codes).
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

// Builds a conf from `props` (applied in order), installing the logging hooks.
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

// ------------------------------------------------------------------ Producer

uint64_t NextProducerId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1);
}

class KafkaProducer final : public Producer {
 public:
  explicit KafkaProducer(OnDelivery on_delivery) : on_delivery_(std::move(on_delivery)) {}

  absl::Status Init(const ProducerOptions& o) {
    if (o.brokers.empty()) return absl::InvalidArgumentError("kafka producer: no brokers");
    close_timeout_ = std::max(o.close_timeout, absl::ZeroDuration());
    std::vector<std::pair<std::string, std::string>> props = {
        {"bootstrap.servers", o.brokers},
        {"client.id", o.client_id},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"compression.type", o.compression},
        {"linger.ms", absl::StrCat(std::max<int64_t>(0, ToMillis(o.linger)))},
        {"batch.num.messages", absl::StrCat(o.batch_num_messages)},
        {"queue.buffering.max.messages", absl::StrCat(o.queue_max_messages)},
        {"message.timeout.ms", o.message_timeout == absl::InfiniteDuration()
                                   ? std::string("0")
                                   : absl::StrCat(ToMillis(o.message_timeout))},
        {"log.connection.close", "false"},
    };
    for (const auto& kv : o.extra) props.push_back(kv);
    auto conf = MakeConf(props);
    if (!conf.ok()) return conf.status();
    rd_kafka_conf_set_opaque(*conf, this);
    rd_kafka_conf_set_dr_msg_cb(*conf, &KafkaProducer::DeliveryCallback);
    auto rk = NewHandle(RD_KAFKA_PRODUCER, *conf);
    if (!rk.ok()) return rk.status();
    rk_ = *rk;
    poller_ = std::thread([this] { PollLoop(); });
    return absl::OkStatus();
  }

  ~KafkaProducer() override {
    if (rk_ == nullptr) return;
    // Waiting only makes sense for a broker that answers: with none, what is
    // left is failed at once, so a shutdown during an outage stays short.
    absl::Status s = absl::OkStatus();
    if (InFlight() > 0) {
      s = Ping(std::min(close_timeout_, absl::Seconds(1)));
      if (s.ok()) s = Flush(close_timeout_);
    }
    if (!s.ok()) {
      log::Warn("kafka producer closing with undelivered messages",
                {{"in_flight", InFlight()}, {"error", s.ToString()}});
      // Fail what is left so every caller hears about its message.
      rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      (void)Flush(absl::Seconds(2));
    }
    stop_.store(true);
    poller_.join();
    {
      absl::MutexLock lock(&topics_mu_);
      for (auto& [name, rkt] : topics_) rd_kafka_topic_destroy(rkt);
      topics_.clear();
    }
    rd_kafka_destroy(rk_);
  }

  absl::Status Produce(std::string_view topic, std::string_view key, std::string_view value,
                       const Headers& headers, void* opaque) override {
    rd_kafka_headers_t* hdrs = nullptr;
    if (!headers.empty()) {
      hdrs = rd_kafka_headers_new(headers.size());
      for (const auto& [name, val] : headers) {
        rd_kafka_header_add(hdrs, name.data(), name.size(), val.data(), val.size());
      }
    }
    rd_kafka_topic_t* rkt = Topic(topic);
    if (rkt == nullptr) {
      if (hdrs) rd_kafka_headers_destroy(hdrs);
      return absl::InvalidArgumentError(
          absl::StrCat("produce to ", AsAbsl(topic), ": cannot make a topic handle"));
    }
    in_flight_.fetch_add(1);
    rd_kafka_resp_err_t err =
        rd_kafka_producev(rk_, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(key.data(), key.size()),
                          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                          RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err) {
      in_flight_.fetch_sub(1);
      if (hdrs) rd_kafka_headers_destroy(hdrs);  // only owned by librdkafka on success
      return ErrStatus(err, absl::StrCat("produce to ", AsAbsl(topic)));
    }
    return absl::OkStatus();
  }

  absl::Status Flush(absl::Duration timeout) override {
    // The poll thread serves the reports; wait for it rather than calling
    // rd_kafka_flush, so OnDelivery always runs on that one thread.
    // Announced before the first look at in_flight_ (see DeliveryCallback).
    flushers_.fetch_add(1);
    struct Done {
      std::atomic<int>& n;
      ~Done() { n.fetch_sub(1); }
    } done{flushers_};
    absl::MutexLock lock(&mu_);
    auto drained = [this] { return in_flight_.load() == 0; };
    if (timeout == absl::InfiniteDuration()) {
      mu_.Await(absl::Condition(&drained));
      return absl::OkStatus();
    }
    if (!mu_.AwaitWithTimeout(absl::Condition(&drained), timeout)) {
      return absl::DeadlineExceededError(
          absl::StrCat("kafka flush: ", in_flight_.load(), " messages still in flight"));
    }
    return absl::OkStatus();
  }

  int64_t InFlight() const override { return in_flight_.load(); }

  absl::Status EnsureTopic(const std::string& topic, int partitions, int replication_factor,
                           absl::Duration timeout) override {
    if (topic.empty() || partitions < 1 || replication_factor < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "topic \"", topic, "\": ", partitions, " partitions, replication ", replication_factor));
    }
    // Existing topics need no admin call (and brokers without CreateTopics,
    // like librdkafka's mock, still work).
    if (absl::StatusOr<int> existing = PartitionCount(topic, timeout); existing.ok()) {
      if (*existing < partitions) {
        log::Warn("kafka topic has fewer partitions than wanted",
                  {{"topic", topic}, {"partitions", *existing}, {"wanted", partitions}});
      }
      return absl::OkStatus();
    }
    char err[512];
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(topic.c_str(), partitions, replication_factor, err, sizeof(err));
    if (nt == nullptr) return absl::InvalidArgumentError(absl::StrCat("topic ", topic, ": ", err));
    rd_kafka_queue_t* queue = rd_kafka_queue_new(rk_);
    rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk_, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opts, TimeoutMs(timeout), err, sizeof(err));
    rd_kafka_CreateTopics(rk_, &nt, 1, opts, queue);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, TimeoutMs(timeout) + 1000);
    absl::Status status;
    if (ev == nullptr) {
      status = absl::DeadlineExceededError(absl::StrCat("create topic ", topic, ": timed out"));
    } else if (rd_kafka_event_error(ev)) {
      status = ErrStatus(rd_kafka_event_error(ev), absl::StrCat("create topic ", topic));
    } else {
      size_t n = 0;
      const rd_kafka_topic_result_t** results =
          rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
      for (size_t i = 0; i < n; ++i) {
        const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
          const char* msg = rd_kafka_topic_result_error_string(results[i]);
          status = absl::Status(CodeFor(e), absl::StrCat("create topic ", topic, ": ",
                                                         msg ? msg : rd_kafka_err2str(e)));
        }
      }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(queue);
    rd_kafka_NewTopic_destroy(nt);
    return status;
  }

  absl::Status Ping(absl::Duration timeout) override {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, nullptr, &md, TimeoutMs(timeout));
    if (err) return absl::UnavailableError(absl::StrCat("kafka ping: ", rd_kafka_err2str(err)));
    const int brokers = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    if (brokers == 0) return absl::UnavailableError("kafka ping: no brokers in metadata");
    return absl::OkStatus();
  }

 private:
  // Partition count of `topic` from a full metadata request (which, unlike a
  // per-topic one, never auto-creates it). NOT_FOUND if absent.
  absl::StatusOr<int> PartitionCount(const std::string& topic, absl::Duration timeout) {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 1, nullptr, &md, TimeoutMs(timeout));
    if (err) return ErrStatus(err, "kafka metadata");
    absl::StatusOr<int> count = absl::NotFoundError(absl::StrCat("topic ", topic));
    for (int i = 0; i < md->topic_cnt; ++i) {
      if (topic == md->topics[i].topic && !md->topics[i].err) count = md->topics[i].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    return count;
  }

  static void DeliveryCallback(rd_kafka_t*, const rd_kafka_message_t* m, void* self_ptr) {
    auto* self = static_cast<KafkaProducer*>(self_ptr);
    // Only the poll thread runs this: one report object, its topic string's
    // capacity reused (no allocation per message on the hot path).
    DeliveryReport& report = self->report_;
    report.status = ErrStatus(m->err, "delivery");
    if (m->rkt) {
      report.topic.assign(rd_kafka_topic_name(m->rkt));
    } else {
      report.topic.clear();
    }
    report.partition = m->partition;
    report.offset = m->offset;
    report.opaque = m->_private;
    if (self->on_delivery_) self->on_delivery_(report);
    // seq_cst: a Flush() that announced itself after this load sees the new
    // count when it first evaluates its condition; one that announced itself
    // before is woken by taking the mutex (absl re-evaluates on unlock).
    self->in_flight_.fetch_sub(1);
    if (self->flushers_.load() > 0) absl::MutexLock lock(&self->mu_);
  }

  // A librdkafka handle per topic, made once: producev by name would look the
  // topic up (and take the client's lock) for every message. Each thread
  // remembers the last one it used, so the common case takes no lock at all.
  rd_kafka_topic_t* Topic(std::string_view name) {
    struct Last {
      uint64_t producer = 0;
      std::string name;
      rd_kafka_topic_t* rkt = nullptr;
    };
    thread_local Last last;
    if (last.producer == id_ && last.name == name) return last.rkt;
    rd_kafka_topic_t* rkt = nullptr;
    {
      absl::MutexLock lock(&topics_mu_);
      auto it = topics_.find(name);
      if (it != topics_.end()) {
        rkt = it->second;
      } else {
        std::string key(name);
        rkt = rd_kafka_topic_new(rk_, key.c_str(), nullptr);
        if (rkt == nullptr) return nullptr;
        topics_.emplace(std::move(key), rkt);
      }
    }
    last.producer = id_;
    last.name.assign(name);
    last.rkt = rkt;
    return rkt;
  }

  void PollLoop() {
    while (!stop_.load()) rd_kafka_poll(rk_, 100);
    rd_kafka_poll(rk_, 0);
  }

  OnDelivery on_delivery_;
  absl::Duration close_timeout_ = absl::Seconds(10);
  rd_kafka_t* rk_ = nullptr;
  std::thread poller_;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int> flushers_{0};  // Flush() calls waiting on mu_
  DeliveryReport report_;         // poll thread only
  // Never reused, unlike addresses: keys the per-thread topic cache.
  const uint64_t id_ = NextProducerId();
  absl::Mutex topics_mu_;
  std::map<std::string, rd_kafka_topic_t*, std::less<>> topics_ ABSL_GUARDED_BY(topics_mu_);
};

// ------------------------------------------------------------------ Consumer

std::vector<TopicPartition> ToVector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (list == nullptr) return out;
  out.reserve(list->cnt);
  for (int i = 0; i < list->cnt; ++i) {
    out.push_back({list->elems[i].topic, list->elems[i].partition});
  }
  return out;
}

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

class KafkaConsumer final : public Consumer {
 public:
  KafkaConsumer(ConsumerOptions options, OnAssign on_assign, OnRevoke on_revoke)
      : options_(std::move(options)),
        on_assign_(std::move(on_assign)),
        on_revoke_(std::move(on_revoke)) {}

  absl::Status Init() {
    const ConsumerOptions& o = options_;
    if (o.brokers.empty()) return absl::InvalidArgumentError("kafka consumer: no brokers");
    if (o.group_id.empty()) return absl::InvalidArgumentError("kafka consumer: no group id");
    if (o.topics.empty()) return absl::InvalidArgumentError("kafka consumer: no topics");
    std::vector<std::pair<std::string, std::string>> props = {
        {"bootstrap.servers", o.brokers},
        {"group.id", o.group_id},
        {"client.id", o.client_id},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", o.start_from_earliest ? "earliest" : "latest"},
        {"statistics.interval.ms",
         absl::StrCat(std::max<int64_t>(0, ToMillis(o.statistics_interval)))},
        {"log.connection.close", "false"},
    };
    for (const auto& kv : o.extra) props.push_back(kv);
    auto conf = MakeConf(props);
    if (!conf.ok()) return conf.status();
    rd_kafka_conf_set_opaque(*conf, this);
    rd_kafka_conf_set_rebalance_cb(*conf, &KafkaConsumer::RebalanceCallback);
    rd_kafka_conf_set_stats_cb(*conf, &KafkaConsumer::StatsCallback);
    rd_kafka_conf_set_offset_commit_cb(*conf, &KafkaConsumer::CommitCallback);
    auto rk = NewHandle(RD_KAFKA_CONSUMER, *conf);
    if (!rk.ok()) return rk.status();
    rk_ = *rk;
    rd_kafka_poll_set_consumer(rk_);
    ListPtr topics(rd_kafka_topic_partition_list_new(o.topics.size()));
    for (const auto& t : o.topics) {
      rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    }
    return ErrStatus(rd_kafka_subscribe(rk_, topics.get()), "kafka subscribe");
  }

  ~KafkaConsumer() override {
    if (rk_ == nullptr) return;
    // Leaves the group; the rebalance callback runs OnRevoke first.
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
  }

  absl::StatusOr<std::vector<Message>> Poll(size_t max_messages, absl::Duration timeout) override {
    std::vector<Message> out;
    if (pending_assign_) RetryPendingAssign();
    int wait_ms = TimeoutMs(timeout);
    while (out.size() < max_messages) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, wait_ms);
      wait_ms = 0;  // only wait for the first one
      if (m == nullptr) break;
      if (m->err) {
        absl::Status s = HandleError(m);
        rd_kafka_message_destroy(m);
        if (!s.ok()) return s;
        break;
      }
      out.push_back(Convert(m));
      rd_kafka_message_destroy(m);
    }
    return out;
  }

  absl::Status PauseAll() override {
    paused_.store(true);
    return ForAssignment(rd_kafka_pause_partitions, "kafka pause");
  }

  absl::Status ResumeAll() override {
    paused_.store(false);
    return ForAssignment(rd_kafka_resume_partitions, "kafka resume");
  }

  absl::Status Seek(const TopicPartition& tp, int64_t offset) override {
    ListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
    rd_kafka_error_t* error = rd_kafka_seek_partitions(rk_, list.get(), 10000);
    if (error) {
      absl::Status s(CodeFor(rd_kafka_error_code(error)),
                     absl::StrCat("kafka seek: ", rd_kafka_error_string(error)));
      rd_kafka_error_destroy(error);
      return s;
    }
    return ErrStatus(list->elems[0].err, absl::StrCat("kafka seek ", tp.topic, "/", tp.partition));
  }

  std::vector<TopicPartition> Assignment() override {
    rd_kafka_topic_partition_list_t* list = nullptr;
    if (rd_kafka_assignment(rk_, &list) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
    ListPtr owned(list);
    return ToVector(list);
  }

  std::map<TopicPartition, int64_t> Lag() override {
    absl::MutexLock lock(&stats_mu_);
    return lag_;
  }

  void CommitAdvisory(const std::map<TopicPartition, int64_t>& next_offsets) override {
    if (next_offsets.empty()) return;
    ListPtr list(rd_kafka_topic_partition_list_new(next_offsets.size()));
    for (const auto& [tp, offset] : next_offsets) {
      rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset =
          offset;
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list.get(), /*async=*/1);
    if (err) log::Debug("kafka advisory commit not sent", {{"error", rd_kafka_err2name(err)}});
  }

 private:
  static void RebalanceCallback(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t* partitions, void* self_ptr) {
    auto* self = static_cast<KafkaConsumer*>(self_ptr);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->pending_assign_.reset(rd_kafka_topic_partition_list_copy(partitions));
      self->RetryPendingAssign();
      return;
    }
    // Revoke (or a rebalance error): hand the partitions back.
    const bool had_pending = self->pending_assign_ != nullptr;
    self->pending_assign_.reset();
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      log::Warn("kafka rebalance error", {{"error", rd_kafka_err2name(err)}});
    }
    if (!had_pending && self->on_revoke_) self->on_revoke_(ToVector(partitions));
    rd_kafka_assign(rk, nullptr);
    self->ClearLag();
  }

  // Asks the owner where to start, then assigns. On failure the partitions
  // stay pending and the next Poll() asks again.
  void RetryPendingAssign() {
    rd_kafka_topic_partition_list_t* list = pending_assign_.get();
    const std::vector<TopicPartition> partitions = ToVector(list);
    absl::StatusOr<std::map<TopicPartition, int64_t>> offsets =
        on_assign_ ? on_assign_(partitions) : std::map<TopicPartition, int64_t>{};
    if (!offsets.ok()) {
      log::Warn("kafka assignment deferred: start offsets unavailable",
                {{"partitions", static_cast<int64_t>(partitions.size())},
                 {"error", offsets.status().ToString()}});
      return;
    }
    const int64_t fallback =
        options_.start_from_earliest ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
    for (int i = 0; i < list->cnt; ++i) {
      auto it = offsets->find({list->elems[i].topic, list->elems[i].partition});
      // Explicit, never the broker's committed offset: those are advisory only.
      list->elems[i].offset = it != offsets->end() ? it->second : fallback;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(rk_, list);
    if (err) {
      log::Warn("kafka assign failed", {{"error", rd_kafka_err2name(err)}});
      return;
    }
    if (paused_.load()) rd_kafka_pause_partitions(rk_, list);
    log::Info("kafka partitions assigned",
              {{"group", options_.group_id}, {"partitions", static_cast<int64_t>(list->cnt)}});
    pending_assign_.reset();
  }

  static int StatsCallback(rd_kafka_t*, char* json, size_t json_len, void* self_ptr) {
    static_cast<KafkaConsumer*>(self_ptr)->ParseStats(std::string_view(json, json_len));
    return 0;  // librdkafka frees `json`
  }

  void ParseStats(std::string_view json) {
    auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.contains("topics")) return;
    std::map<TopicPartition, int64_t> lag;
    for (const auto& [topic, t] : doc["topics"].items()) {
      if (!t.contains("partitions")) continue;
      for (const auto& [partition, p] : t["partitions"].items()) {
        const int32_t id = std::atoi(partition.c_str());
        if (id < 0 || p.value("fetch_state", std::string()) == "none") continue;
        // Our position is app_offset (next offset handed to the application),
        // or the fetch position before anything was consumed. librdkafka's own
        // consumer_lag counts from the broker-committed offset, which is only
        // advisory here, so it is the fallback.
        const int64_t hi = p.value("hi_offset", int64_t{-1});
        int64_t position = p.value("app_offset", int64_t{-1});
        if (position < 0) position = p.value("next_offset", int64_t{-1});
        if (hi >= 0 && position >= 0) {
          lag[{topic, id}] = std::max<int64_t>(0, hi - position);
        } else if (const int64_t l = p.value("consumer_lag", int64_t{-1}); l >= 0) {
          lag[{topic, id}] = l;
        }
      }
    }
    absl::MutexLock lock(&stats_mu_);
    lag_ = std::move(lag);
  }

  void ClearLag() {
    absl::MutexLock lock(&stats_mu_);
    lag_.clear();
  }

  static void CommitCallback(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t*,
                             void*) {
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      log::Debug("kafka advisory commit failed", {{"error", rd_kafka_err2name(err)}});
    }
  }

  absl::Status HandleError(const rd_kafka_message_t* m) {
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return absl::OkStatus();
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
      char fatal[512];
      rd_kafka_fatal_error(rk_, fatal, sizeof(fatal));
      return absl::InternalError(absl::StrCat("kafka consumer fatal error: ", fatal));
    }
    const std::string key = rd_kafka_err2name(m->err);
    int64_t suppressed = 0;
    if (error_log_.Allow(key, &suppressed)) {
      log::Warn(
          "kafka consumer error",
          {{"error", key}, {"detail", rd_kafka_message_errstr(m)}, {"suppressed", suppressed}});
    }
    return absl::OkStatus();
  }

  static Message Convert(const rd_kafka_message_t* m) {
    Message msg;
    msg.topic = rd_kafka_topic_name(m->rkt);
    msg.partition = m->partition;
    msg.offset = m->offset;
    msg.key = std::string(AsView(m->key, m->key_len));
    msg.value = std::string(AsView(m->payload, m->len));
    rd_kafka_timestamp_type_t type;
    const int64_t ts = rd_kafka_message_timestamp(m, &type);
    msg.timestamp = ts >= 0 ? absl::FromUnixMillis(ts) : absl::InfinitePast();
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name;
      const void* value;
      size_t size;
      for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &value, &size); ++i) {
        msg.headers.emplace_back(name, std::string(AsView(value, size)));
      }
    }
    return msg;
  }

  using PartitionsFn = rd_kafka_resp_err_t (*)(rd_kafka_t*, rd_kafka_topic_partition_list_t*);
  absl::Status ForAssignment(PartitionsFn fn, std::string_view what) {
    rd_kafka_topic_partition_list_t* list = nullptr;
    if (rd_kafka_resp_err_t err = rd_kafka_assignment(rk_, &list)) return ErrStatus(err, what);
    ListPtr owned(list);
    if (list->cnt == 0) return absl::OkStatus();
    return ErrStatus(fn(rk_, list), what);
  }

  const ConsumerOptions options_;
  OnAssign on_assign_;
  OnRevoke on_revoke_;
  rd_kafka_t* rk_ = nullptr;
  // Only touched on the polling thread (rebalances are served inside Poll()).
  ListPtr pending_assign_;
  std::atomic<bool> paused_{false};
  log::RateLimiter error_log_{absl::Seconds(10)};
  absl::Mutex stats_mu_;
  std::map<TopicPartition, int64_t> lag_ ABSL_GUARDED_BY(stats_mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(const ProducerOptions& options,
                                                           OnDelivery on_delivery) {
  auto producer = std::make_unique<KafkaProducer>(std::move(on_delivery));
  if (absl::Status s = producer->Init(options); !s.ok()) return s;
  return producer;
}

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(const ConsumerOptions& options,
                                                           OnAssign on_assign, OnRevoke on_revoke) {
  auto consumer =
      std::make_unique<KafkaConsumer>(options, std::move(on_assign), std::move(on_revoke));
  if (absl::Status s = consumer->Init(); !s.ok()) return s;
  return consumer;
}

std::map<std::string, std::string> GroupSessionProperties(absl::Duration session_timeout) {
  const int64_t ms = absl::ToInt64Milliseconds(session_timeout);
  return {{"session.timeout.ms", absl::StrCat(ms)},
          {"heartbeat.interval.ms", absl::StrCat(std::max<int64_t>(100, ms / 10))}};
}

}  // namespace iss::kafka

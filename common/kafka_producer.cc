// The Kafka producer behind kafka::Producer (common/kafka.h): idempotent,
// per-message delivery reports, its own poll thread.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/kafka.h"
#include "common/kafka_internal.h"
#include "common/log.h"
#include "common/strings.h"

// Defined in internal, beside the helpers kafka_internal.h declares.
namespace iss::kafka::internal {
namespace {

uint64_t NextProducerId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1);
}

class KafkaProducer final : public Producer {
 public:
  KafkaProducer(OnDelivery on_delivery, OnReportsServed on_reports_served)
      : on_delivery_(std::move(on_delivery)), on_reports_served_(std::move(on_reports_served)) {}

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
    self->served_ = true;
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
    while (!stop_.load()) Poll(100);
    Poll(0);
  }

  // One round: every report librdkafka has ready, then on_reports_served_.
  void Poll(int timeout_ms) {
    rd_kafka_poll(rk_, timeout_ms);
    if (served_) {
      served_ = false;
      if (on_reports_served_) on_reports_served_();
    }
  }

  OnDelivery on_delivery_;
  OnReportsServed on_reports_served_;
  bool served_ = false;  // poll thread only: a report ran since the last round
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

}  // namespace
}  // namespace iss::kafka::internal

namespace iss::kafka {

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(const ProducerOptions& options,
                                                           OnDelivery on_delivery,
                                                           OnReportsServed on_reports_served) {
  auto producer = std::make_unique<internal::KafkaProducer>(std::move(on_delivery),
                                                            std::move(on_reports_served));
  if (absl::Status s = producer->Init(options); !s.ok()) return s;
  return producer;
}

}  // namespace iss::kafka

// The Kafka consumer behind kafka::Consumer (common/kafka.h): group
// membership with cooperative assignment callbacks, manual offset commits.
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

// How long one assignment may spend looking up where partitions without a
// stored offset start (StartOffset); past it they start at a logical offset.
constexpr absl::Duration kStartLookupBudget = absl::Seconds(2);

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
    const absl::Time lookup_deadline = absl::Now() + kStartLookupBudget;
    int looked_up = 0;
    for (int i = 0; i < list->cnt; ++i) {
      rd_kafka_topic_partition_t& p = list->elems[i];
      auto it = offsets->find({p.topic, p.partition});
      // Explicit, never the broker's committed offset: those are advisory only.
      if (it != offsets->end()) {
        p.offset = it->second;
        continue;
      }
      p.offset = StartOffset(p.topic, p.partition, lookup_deadline);
      looked_up += p.offset >= 0 ? 1 : 0;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(rk_, list);
    if (err) {
      log::Warn("kafka assign failed", {{"error", rd_kafka_err2name(err)}});
      return;
    }
    if (paused_.load()) rd_kafka_pause_partitions(rk_, list);
    log::Info("kafka partitions assigned", {{"group", options_.group_id},
                                            {"partitions", static_cast<int64_t>(list->cnt)},
                                            {"start_offsets_looked_up", looked_up}});
    pending_assign_.reset();
  }

  // Where a partition without a stored offset starts (start_from_earliest),
  // as an absolute offset looked up here, before the assignment, rather than
  // the logical BEGINNING/END. librdkafka (2.0) resolves a logical offset only
  // once the partition has a leader broker, and a partition first seen in this
  // assignment often does not yet have one when its fetch starts: it then
  // waits a fixed 500 ms before asking again. Measured with iss-loadgen, that
  // held the first events of 3-7 of 12 partitions back 450-510 ms. An absolute
  // offset is fetched as soon as the leader is known. The semantics are those
  // of the logical offset: if retention has trimmed the log past it by the
  // time of the fetch, auto.offset.reset (the same policy) moves it on. If the
  // lookup fails or the budget is spent, the logical offset is used.
  int64_t StartOffset(const char* topic, int32_t partition, absl::Time deadline) {
    const int64_t logical =
        options_.start_from_earliest ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
    const int timeout_ms = TimeoutMs(deadline - absl::Now());
    if (timeout_ms <= 0) return logical;
    int64_t low = -1, high = -1;
    if (rd_kafka_query_watermark_offsets(rk_, topic, partition, &low, &high, timeout_ms) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      return logical;
    }
    const int64_t start = options_.start_from_earliest ? low : high;
    return start >= 0 ? start : logical;
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
}  // namespace iss::kafka::internal

namespace iss::kafka {

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(const ConsumerOptions& options,
                                                           OnAssign on_assign, OnRevoke on_revoke) {
  auto consumer = std::make_unique<internal::KafkaConsumer>(options, std::move(on_assign),
                                                            std::move(on_revoke));
  if (absl::Status s = consumer->Init(); !s.ok()) return s;
  return consumer;
}

}  // namespace iss::kafka

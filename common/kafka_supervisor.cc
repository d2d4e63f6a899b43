// The consumer supervisor and the broker probe (common/kafka_supervisor.h).
// Part of the Kafka driver: besides kafka.cc, the only file that includes
// librdkafka.
#include "common/kafka_supervisor.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/shutdown.h"

namespace iss::kafka {
namespace {

int TimeoutMs(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d), INT32_MAX));
}

// The probe asks questions only; a broker outage is reported by the clients
// that do the work, so its own librdkafka chatter stays at debug level.
void ProbeLog(const rd_kafka_t* rk, int, const char* facility, const char* buf) {
  log::Debug("librdkafka",
             {{"client", rd_kafka_name(rk)}, {"facility", facility}, {"detail", buf}});
}

void ProbeError(rd_kafka_t* rk, int err, const char* reason, void*) {
  log::Debug("kafka probe error",
             {{"client", rd_kafka_name(rk)},
              {"error", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))},
              {"detail", reason}});
}

class KafkaProbe final : public BrokerProbe {
 public:
  ~KafkaProbe() override {
    if (rk_ != nullptr) rd_kafka_destroy(rk_);
  }

  absl::Status Init(const std::string& brokers, const std::string& client_id) {
    if (brokers.empty()) return absl::InvalidArgumentError("kafka probe: no brokers");
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    const std::pair<const char*, std::string> props[] = {
        {"bootstrap.servers", brokers},
        {"client.id", client_id},
        {"socket.timeout.ms", "10000"},
        {"log.connection.close", "false"},
    };
    for (const auto& [k, v] : props) {
      if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return absl::InvalidArgumentError(absl::StrCat("kafka probe property ", k, ": ", err));
      }
    }
    rd_kafka_conf_set_log_cb(conf, ProbeLog);
    rd_kafka_conf_set_error_cb(conf, ProbeError);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (rk_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      return absl::InvalidArgumentError(absl::StrCat("kafka probe: ", err));
    }
    return absl::OkStatus();
  }

  absl::Status Ping(absl::Duration timeout) override {
    rd_kafka_poll(rk_, 0);  // serves queued error events (nothing else comes)
    const rd_kafka_metadata_t* md = nullptr;
    const rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, nullptr, &md, TimeoutMs(timeout));
    if (err) return absl::UnavailableError(absl::StrCat("kafka ping: ", rd_kafka_err2str(err)));
    const int brokers = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    if (brokers == 0) return absl::UnavailableError("kafka ping: no brokers in metadata");
    return absl::OkStatus();
  }

  absl::StatusOr<std::map<TopicPartition, Watermarks>> QueryWatermarks(
      const std::vector<TopicPartition>& partitions, absl::Duration timeout) override {
    rd_kafka_poll(rk_, 0);
    std::map<TopicPartition, Watermarks> out;
    const absl::Time deadline = absl::Now() + timeout;
    for (const TopicPartition& tp : partitions) {
      Watermarks w;
      const rd_kafka_resp_err_t err =
          rd_kafka_query_watermark_offsets(rk_, tp.topic.c_str(), tp.partition, &w.low, &w.high,
                                           std::max(1, TimeoutMs(deadline - absl::Now())));
      if (err) {
        return absl::UnavailableError(absl::StrCat("watermarks of ", tp.topic, "/", tp.partition,
                                                   ": ", rd_kafka_err2str(err)));
      }
      out[tp] = w;
    }
    return out;
  }

 private:
  rd_kafka_t* rk_ = nullptr;
};

prometheus::Counter& Recoveries(const std::string& group) {
  return metrics::CounterFamily(
             "iss_kafka_consumer_recoveries_total",
             "Kafka consumer clients replaced by the stall watchdog (no progress while the "
             "broker held unread messages)")
      .Add({{"group", group}});
}

}  // namespace

absl::StatusOr<std::unique_ptr<BrokerProbe>> BrokerProbe::Create(const std::string& brokers,
                                                                 const std::string& client_id) {
  auto probe = std::make_unique<KafkaProbe>();
  if (absl::Status s = probe->Init(brokers, client_id); !s.ok()) return s;
  return probe;
}

// ------------------------------------------------------------ SupervisedConsumer

// Connects one client's callbacks to the supervisor. Closing a client closes
// its gate first: whatever the client still calls back (its close may outlive
// the supervisor) no longer reaches the owner.
struct SupervisedConsumer::Gate {
  explicit Gate(SupervisedConsumer* o) : owner(o) {}
  absl::Mutex mu;
  SupervisedConsumer* owner ABSL_GUARDED_BY(mu);
};

SupervisedConsumer::SupervisedConsumer(const ConsumerOptions& options,
                                       const SupervisorOptions& supervisor, OnAssign on_assign,
                                       OnRevoke on_revoke)
    : options_(options),
      supervisor_(supervisor),
      on_assign_(std::move(on_assign)),
      on_revoke_(std::move(on_revoke)),
      last_progress_(absl::Now()) {
  if (!options_.extra.contains("socket.timeout.ms") &&
      supervisor_.request_timeout > absl::ZeroDuration()) {
    options_.extra["socket.timeout.ms"] =
        absl::StrCat(absl::ToInt64Milliseconds(supervisor_.request_timeout));
  }
}

absl::StatusOr<std::unique_ptr<SupervisedConsumer>> SupervisedConsumer::Create(
    const ConsumerOptions& options, const SupervisorOptions& supervisor, OnAssign on_assign,
    OnRevoke on_revoke) {
  std::unique_ptr<SupervisedConsumer> c(
      new SupervisedConsumer(options, supervisor, std::move(on_assign), std::move(on_revoke)));
  if (absl::Status s = c->Open(); !s.ok()) return s;
  Recoveries(options.group_id);  // shown on /metrics from the start
  return c;
}

SupervisedConsumer::~SupervisedConsumer() {
  if (client_ == nullptr) return;
  const std::vector<TopicPartition> held = client_->Assignment();
  if (!held.empty() && on_revoke_) on_revoke_(held);
  CloseClient(supervisor_.close_timeout, "shutdown");
}

absl::Status SupervisedConsumer::Open() {
  auto gate = std::make_shared<Gate>(this);
  auto client = Consumer::Create(
      options_,
      [gate](const std::vector<TopicPartition>& partitions)
          -> absl::StatusOr<std::map<TopicPartition, int64_t>> {
        absl::MutexLock lock(&gate->mu);
        if (gate->owner == nullptr) return absl::CancelledError("kafka consumer closing");
        return gate->owner->Assigned(partitions);
      },
      [gate](const std::vector<TopicPartition>& partitions) {
        absl::MutexLock lock(&gate->mu);
        if (gate->owner != nullptr) gate->owner->Revoked(partitions);
      });
  if (!client.ok()) return client.status();
  gate_ = std::move(gate);
  client_ = *std::move(client);
  if (paused_) (void)client_->PauseAll();  // nothing assigned yet; keeps the flag
  last_progress_ = absl::Now();
  return absl::OkStatus();
}

void SupervisedConsumer::CloseClient(absl::Duration timeout, const char* why) {
  if (client_ == nullptr) return;
  {
    absl::MutexLock lock(&gate_->mu);
    gate_->owner = nullptr;
  }
  gate_.reset();
  auto closed = std::make_shared<absl::Notification>();
  const absl::Time start = absl::Now();
  // The client's destructor leaves the group; a broker that is gone (or a
  // connection that went half-open) can hold that up for its request timeout.
  std::thread([client = std::move(client_), closed]() mutable {
    client.reset();
    closed->Notify();
  }).detach();
  if (closed->WaitForNotificationWithTimeout(timeout)) {
    log::Debug("kafka consumer closed",
               {{"group", options_.group_id}, {"why", why}, {"took", absl::Now() - start}});
  } else {
    log::Warn("kafka consumer did not close in time; left to finish on its own",
              {{"group", options_.group_id}, {"why", why}, {"waited", timeout}});
  }
  position_.clear();
  suspects_.clear();
}

absl::StatusOr<std::map<TopicPartition, int64_t>> SupervisedConsumer::Assigned(
    const std::vector<TopicPartition>& partitions) {
  auto offsets = on_assign_ ? on_assign_(partitions) : std::map<TopicPartition, int64_t>{};
  if (!offsets.ok()) return offsets;
  for (const TopicPartition& tp : partitions) {
    auto it = offsets->find(tp);
    if (it != offsets->end() && it->second >= 0) {
      position_[tp] = it->second;
    } else {
      position_.erase(tp);  // the driver's fallback: earliest or latest
    }
  }
  suspects_.clear();
  last_progress_ = absl::Now();
  return offsets;
}

void SupervisedConsumer::Revoked(const std::vector<TopicPartition>& partitions) {
  for (const TopicPartition& tp : partitions) {
    position_.erase(tp);
    suspects_.erase(tp);
  }
  if (on_revoke_) on_revoke_(partitions);
}

absl::StatusOr<std::vector<Message>> SupervisedConsumer::Poll(size_t max_messages,
                                                              absl::Duration timeout) {
  if (client_ == nullptr) {
    // The last replacement could not make a client: try again, unhurried.
    const absl::Time now = absl::Now();
    if (now >= next_open_) {
      if (absl::Status s = Open(); !s.ok()) {
        log::Error("kafka consumer could not be re-created", {{"error", s.ToString()}});
        next_open_ = now + absl::Seconds(1);
      }
    }
    if (client_ == nullptr) {
      absl::SleepFor(std::min(timeout, absl::Milliseconds(100)));
      return std::vector<Message>{};
    }
  }
  auto messages = client_->Poll(max_messages, timeout);
  if (messages.ok() && !messages->empty()) {
    last_progress_ = absl::Now();
    suspects_.clear();
    for (const Message& m : *messages) position_[{m.topic, m.partition}] = m.offset + 1;
  }
  Watch();
  return messages;
}

void SupervisedConsumer::Watch() {
  if (supervisor_.stall_timeout <= absl::ZeroDuration() || client_ == nullptr) return;
  const absl::Time now = absl::Now();
  if (paused_) {
    // Held by the owner (e.g. its database is down): not a stall.
    last_progress_ = now;
    suspects_.clear();
    return;
  }
  if (now - last_progress_ < supervisor_.stall_timeout || now < next_check_) return;
  next_check_ =
      now + std::clamp(supervisor_.stall_timeout / 3, absl::Seconds(1), absl::Seconds(10));
  const std::vector<TopicPartition> assigned = client_->Assignment();
  if (assigned.empty()) {
    suspects_.clear();
    return;
  }
  if (probe_ == nullptr) {
    auto probe = BrokerProbe::Create(options_.brokers, options_.client_id + "-probe");
    if (!probe.ok()) {
      log::Warn("kafka stall check: no probe", {{"error", probe.status().ToString()}});
      return;
    }
    probe_ = *std::move(probe);
  }
  auto marks = probe_->QueryWatermarks(assigned, absl::Seconds(5));
  if (!marks.ok()) {
    // The broker does not answer us either: an outage, not this client's fault.
    suspects_.clear();
    return;
  }
  std::map<TopicPartition, int64_t> behind;
  int64_t messages_behind = 0;
  for (const TopicPartition& tp : assigned) {
    const BrokerProbe::Watermarks& w = (*marks)[tp];
    auto it = position_.find(tp);
    const int64_t position =
        it != position_.end() ? it->second : (options_.start_from_earliest ? w.low : w.high);
    if (w.high > position) {
      behind[tp] = position;
      messages_behind += w.high - position;
    }
  }
  // Stalled: behind now, and at the previous check at the same position.
  bool stalled = false;
  for (const auto& [tp, position] : behind) {
    auto it = suspects_.find(tp);
    stalled |= it != suspects_.end() && it->second == position;
  }
  if (!stalled) {
    suspects_ = std::move(behind);
    return;
  }
  Recover(behind, messages_behind);
}

void SupervisedConsumer::Recover(const std::map<TopicPartition, int64_t>& behind,
                                 int64_t messages_behind) {
  const absl::Time now = absl::Now();
  ++recoveries_;
  Recoveries(options_.group_id).Increment();
  log::Warn("kafka consumer stalled: replacing the client",
            {{"group", options_.group_id},
             {"stalled_for", now - last_progress_},
             {"partitions_behind", static_cast<int64_t>(behind.size())},
             {"messages_behind", messages_behind},
             {"recoveries", recoveries_}});
  const std::vector<TopicPartition> held = client_->Assignment();
  if (!held.empty() && on_revoke_) on_revoke_(held);
  // Short: the client is stuck, its goodbye to the group is likely stuck too.
  CloseClient(std::min(supervisor_.close_timeout, absl::Seconds(3)), "stalled");
  if (absl::Status s = Open(); !s.ok()) {
    log::Error("kafka consumer could not be re-created", {{"error", s.ToString()}});
    next_open_ = now + absl::Seconds(1);
  }
}

absl::Status SupervisedConsumer::PauseAll() {
  paused_ = true;
  return client_ != nullptr ? client_->PauseAll() : absl::OkStatus();
}

absl::Status SupervisedConsumer::ResumeAll() {
  paused_ = false;
  last_progress_ = absl::Now();
  suspects_.clear();
  return client_ != nullptr ? client_->ResumeAll() : absl::OkStatus();
}

absl::Status SupervisedConsumer::Seek(const TopicPartition& tp, int64_t offset) {
  if (client_ == nullptr) return absl::UnavailableError("kafka consumer being re-created");
  absl::Status s = client_->Seek(tp, offset);
  if (s.ok()) {
    position_[tp] = offset;
    suspects_.erase(tp);
  }
  return s;
}

std::vector<TopicPartition> SupervisedConsumer::Assignment() {
  return client_ != nullptr ? client_->Assignment() : std::vector<TopicPartition>{};
}

std::map<TopicPartition, int64_t> SupervisedConsumer::Lag() {
  return client_ != nullptr ? client_->Lag() : std::map<TopicPartition, int64_t>{};
}

void SupervisedConsumer::CommitAdvisory(const std::map<TopicPartition, int64_t>& next_offsets) {
  if (client_ != nullptr) client_->CommitAdvisory(next_offsets);
}

void ReportBrokerHealth(const absl::Status& ping, Health* health) {
  health->Set("kafka", ping.ok(), ping.ok() ? "broker reachable" : std::string(ping.message()));
}

void WatchBrokersUntilShutdown(BrokerProbe& probe, Health* health, absl::Duration interval,
                               absl::Duration timeout) {
  do {
    ReportBrokerHealth(probe.Ping(timeout), health);
  } while (!WaitForShutdownFor(interval));
}

}  // namespace iss::kafka

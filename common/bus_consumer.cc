#include "common/bus_consumer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"
#include "common/log.h"
#include "common/metrics.h"
#include "iss/telemetry/v1/telemetry.pb.h"

namespace iss::bus {
namespace {

log::RateLimiter& LogLimiter() {
  static auto* l = new log::RateLimiter(absl::Seconds(10));
  return *l;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(const ConsumerOptions& options,
                                                           kafka::Consumer::OnAssign on_assign,
                                                           kafka::Consumer::OnRevoke on_revoke) {
  kafka::ProducerOptions popts;
  popts.brokers = options.brokers;
  popts.client_id = options.client_id + "-dlq";
  popts.close_timeout = absl::Seconds(5);
  auto producer = kafka::Producer::Create(popts, [](const kafka::DeliveryReport& r) {
    if (!r.status.ok()) {
      log::Error("dead letter not delivered", {{"error", r.status.ToString()}});
    }
  });
  if (!producer.ok()) return producer.status();
  std::unique_ptr<Consumer> out(new Consumer(options, *std::move(producer)));

  kafka::ConsumerOptions copts;
  copts.brokers = options.brokers;
  copts.group_id = options.group_id;
  copts.client_id = options.client_id;
  copts.topics = {options.topic};
  copts.start_from_earliest = true;
  copts.statistics_interval = options.statistics_interval;
  copts.extra = options.extra;
  // Supervised: replaced when it stalls (a half-open broker connection),
  // closed within supervisor.close_timeout at shutdown.
  auto consumer = kafka::SupervisedConsumer::Create(copts, options.supervisor, std::move(on_assign),
                                                    std::move(on_revoke));
  if (!consumer.ok()) return consumer.status();
  out->consumer_ = *std::move(consumer);
  return out;
}

Consumer::Consumer(const ConsumerOptions& options, std::unique_ptr<kafka::Producer> dlq)
    : options_(options),
      dlq_(std::move(dlq)),
      dead_letters_(&metrics::CounterFamily(options_.metrics_prefix + "_dead_letters_total",
                                            "Messages sent to the DLQ topic, by reason")) {}

Consumer::~Consumer() {
  Close();
  dlq_.reset();  // waits up to 5 s for dead letters in flight, if a broker answers
}

void Consumer::Close() {
  // reset() nulls consumer_ before the close runs the owner's OnRevoke, which
  // may call CommitAdvisory (a no-op then).
  consumer_.reset();
}

void Consumer::DeadLetter(const kafka::Message& m, const Rejection& rejection) {
  iss::telemetry::v1::DeadLetter dl;
  dl.set_reason(rejection.reason);
  dl.set_detail(rejection.detail);
  dl.set_raw(m.value);
  ToProto(absl::Now(), dl.mutable_failed_at());
  dl.set_component(options_.component);
  dl.set_source_topic(m.topic);
  dl.set_source_partition(m.partition);
  dl.set_source_offset(m.offset);
  dl.set_item_id(rejection.item_id);
  const kafka::Headers headers = {{"iss.dlq.reason", rejection.reason},
                                  {"iss.dlq.component", options_.component}};
  // librdkafka queues without bound in time; a full local queue is the only
  // refusal, and then we wait for room rather than lose the poison message.
  for (;;) {
    absl::Status s =
        dlq_->Produce(options_.dlq_topic, rejection.item_id, dl.SerializeAsString(), headers);
    if (s.ok()) break;
    (void)dlq_->Flush(absl::Milliseconds(100));
  }
  unflushed_ = true;
  dead_lettered_.fetch_add(1);
  dead_letters_->Add({{"reason", rejection.reason}}).Increment();
  int64_t suppressed = 0;
  if (LogLimiter().Allow(rejection.reason, &suppressed)) {
    log::Warn("message sent to the DLQ", {{"reason", rejection.reason},
                                          {"detail", rejection.detail},
                                          {"partition", m.partition},
                                          {"offset", m.offset},
                                          {"suppressed", suppressed}});
  }
}

absl::Status Consumer::FlushDeadLetters(absl::Duration timeout) {
  if (!unflushed_) return absl::OkStatus();
  if (absl::Status s = dlq_->Flush(timeout); !s.ok()) return s;
  unflushed_ = false;
  return absl::OkStatus();
}

absl::Status Consumer::Rewind(const std::map<kafka::TopicPartition, int64_t>& stored) {
  for (const auto& tp : consumer_->Assignment()) {
    auto it = stored.find(tp);
    if (absl::Status s = consumer_->Seek(tp, it == stored.end() ? 0 : it->second); !s.ok()) {
      return s;
    }
  }
  // Statistics from before the rewind still say "lag 0".
  lag_trusted_after_ = absl::Now() + 3 * options_.statistics_interval;
  return absl::OkStatus();
}

bool Consumer::CaughtUp() {
  // The lag from librdkafka's statistics is hi offset - our position.
  if (absl::Now() < lag_trusted_after_) return false;
  const std::vector<kafka::TopicPartition> assigned = consumer_->Assignment();
  if (assigned.empty()) return false;
  const std::map<kafka::TopicPartition, int64_t> lag = consumer_->Lag();
  for (const auto& tp : assigned) {
    auto it = lag.find(tp);
    if (it == lag.end() || it->second > 0) {
      log::Debug("not caught up", {{"partition", tp.partition},
                                   {"lag", it == lag.end() ? int64_t{-1} : it->second}});
      return false;
    }
  }
  return true;
}

}  // namespace iss::bus

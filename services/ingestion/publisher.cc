#include "services/ingestion/publisher.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/log.h"
#include "common/metrics.h"

namespace iss::ingest {
namespace {

struct Metrics {
  prometheus::Counter& events_published;
  prometheus::Counter& dead_letters_published;
  prometheus::Counter& failures;
  prometheus::Counter& producer_full;
  prometheus::Histogram& publish_latency;
  prometheus::Histogram& ingest_to_ack;
  prometheus::Gauge& in_flight;
};

Metrics& M() {
  static Metrics m{
      iss::metrics::Counter("iss_ingest_events_published_total",
                            "Telemetry events acknowledged by the broker"),
      iss::metrics::Counter("iss_ingest_dead_letters_published_total",
                            "Dead letters acknowledged by the broker"),
      iss::metrics::Counter("iss_ingest_delivery_failures_total",
                            "Messages the producer reported as failed for good"),
      iss::metrics::Counter("iss_ingest_producer_queue_full_total",
                            "Times the publisher waited because the producer queue was full"),
      iss::metrics::Histogram("iss_ingest_publish_latency_seconds",
                              "From handing a message to the producer to the broker's ack",
                              iss::metrics::LatencyBuckets()),
      iss::metrics::Histogram("iss_ingest_ingest_to_ack_seconds",
                              "From accepting an update (ingest_ts) to the broker's ack",
                              iss::metrics::LatencyBuckets()),
      iss::metrics::Gauge("iss_ingest_producer_in_flight",
                          "Messages handed to the producer without a delivery report yet"),
  };
  return m;
}

// One histogram's observations of a round of delivery reports, added up on
// the delivery thread and handed to prometheus in one locked update
// (ObserveMultiple) instead of a lock and three atomic updates per message.
// Buckets as prometheus::Histogram::Observe picks them: the first bound >= v.
class HistogramTally {
 public:
  explicit HistogramTally(const std::vector<double>& bounds)
      : bounds_(bounds), counts_(bounds.size() + 1, 0.0) {}
  void Add(double v) {
    counts_[static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                bounds_.begin())] += 1;
    sum_ += v;
    any_ = true;
  }
  void FlushTo(prometheus::Histogram& h) {
    if (!any_) return;
    h.ObserveMultiple(counts_, sum_);
    std::fill(counts_.begin(), counts_.end(), 0.0);
    sum_ = 0;
    any_ = false;
  }

 private:
  const std::vector<double> bounds_;
  std::vector<double> counts_;  // one per bound, then +Inf
  double sum_ = 0;
  bool any_ = false;
};

}  // namespace

// What the delivery thread tallies between two rounds of reports (it alone
// touches it), published to the metrics by FlushDeliveryMetrics().
struct Publisher::DeliveryTally {
  HistogramTally publish_latency{iss::metrics::LatencyBuckets()};
  HistogramTally ingest_to_ack{iss::metrics::LatencyBuckets()};
  int64_t events = 0;
  int64_t dead_letters = 0;
  int64_t failures = 0;
};

// Travels with each message through librdkafka as its opaque pointer. The
// slots of one batch from the queue share one allocation (a PendingBlock),
// freed when the last of its messages has been reported: no allocation per
// message, and none freed on the delivery thread per message.
struct Publisher::Pending {
  Envelope::Kind kind;
  absl::Time accepted_at;
  absl::Time produced_at;
  PendingBlock* block;
};

struct Publisher::PendingBlock {
  explicit PendingBlock(size_t n) : refs(n), slots(new Pending[n]) {}
  std::atomic<size_t> refs;  // slots not yet released
  std::unique_ptr<Pending[]> slots;
};

void Publisher::Release(PendingBlock* block, size_t n) {
  if (n > 0 && block->refs.fetch_sub(n, std::memory_order_acq_rel) == n) delete block;
}

Publisher::Publisher(PublisherOptions options, BoundedQueue* queue)
    : options_(std::move(options)), queue_(queue), tally_(std::make_unique<DeliveryTally>()) {}

absl::StatusOr<std::unique_ptr<Publisher>> Publisher::Start(
    const PublisherOptions& options, const kafka::ProducerOptions& producer_options,
    BoundedQueue* queue) {
  std::unique_ptr<Publisher> p(new Publisher(options, queue));
  M();  // register the metrics up front so /metrics shows them from the start
  Publisher* raw = p.get();
  auto producer = kafka::Producer::Create(
      producer_options, [raw](const kafka::DeliveryReport& r) { raw->OnDelivery(r); },
      [raw] { raw->FlushDeliveryMetrics(); });
  if (!producer.ok()) return producer.status();
  p->producer_ = std::move(*producer);
  p->thread_ = std::thread([raw] { raw->Run(); });
  return p;
}

void Publisher::Abort() {
  absl::MutexLock lock(&mu_);
  abort_ = true;
}

Publisher::~Publisher() {
  Abort();
  if (thread_.joinable()) thread_.join();
  // The producer's destructor flushes what it still holds (bounded wait).
  producer_.reset();
  FlushDeliveryMetrics();  // the delivery thread is gone: what it tallied last
}

bool Publisher::EnsureTopics() {
  absl::Duration backoff = absl::Milliseconds(100);
  while (!Stopping()) {
    absl::Status s = producer_->EnsureTopic(options_.topic, options_.partitions,
                                            options_.replication_factor, options_.topic_timeout);
    if (s.ok()) {
      s = producer_->EnsureTopic(options_.dlq_topic, options_.dlq_partitions,
                                 options_.replication_factor, options_.topic_timeout);
    }
    if (s.ok()) {
      waiting_ = false;
      return true;
    }
    waiting_ = true;
    iss::log::Warn("cannot create topics yet; retrying",
                   {{"topic", options_.topic}, {"error", s.ToString()}});
    // Back off between attempts; Abort() wakes us at once.
    absl::MutexLock lock(&mu_);
    auto stopping = [this] { return abort_.load(); };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
  return false;
}

void Publisher::Run() {
  if (EnsureTopics()) {
    // Kept across batches: TakeBatch swaps its spent envelopes back into the
    // queue for reuse.
    std::vector<Envelope> batch;
    while (!Stopping()) {
      // Waiting briefly for a fuller batch saves a thread wake-up per message
      // when the source trickles (librdkafka lingers for 5 ms anyway).
      if (!queue_->TakeBatch(&batch, options_.max_batch, absl::Milliseconds(100),
                             options_.batch_fill, options_.batch_fill_wait)) {
        break;
      }
      if (!batch.empty()) {
        auto* block = new PendingBlock(batch.size());
        size_t used = 0;
        for (Envelope& e : batch) {
          if (Stopping()) break;
          PublishOne(e, &block->slots[used++], block);
        }
        // Slots never handed out: only when stopping, and then reported lost.
        Release(block, batch.size() - used);
        abandoned_.fetch_add(static_cast<int64_t>(batch.size() - used));
      }
      M().in_flight.Set(static_cast<double>(in_flight_.load()));
    }
  }
  done_.Notify();
}

void Publisher::PublishOne(Envelope& envelope, Pending* pending, PendingBlock* block) {
  const bool event = envelope.kind == Envelope::Kind::kEvent;
  const std::string& topic = event ? options_.topic : options_.dlq_topic;
  *pending = Pending{envelope.kind, envelope.accepted_at, absl::Now(), block};
  bool waited = false;
  while (true) {
    in_flight_.fetch_add(1);  // counted before Produce: the report may come at once
    absl::Status s =
        producer_->Produce(topic, envelope.key, envelope.value, envelope.headers, pending);
    if (s.ok()) {
      produced_.fetch_add(1, std::memory_order_relaxed);
      break;
    }
    in_flight_.fetch_sub(1);
    if (s.code() == absl::StatusCode::kResourceExhausted && !Stopping()) {
      // librdkafka's queue is full (broker slow or down): wait for a delivery
      // report to make room, then retry this same message. Never skip it.
      if (!waited) {
        M().producer_full.Increment();
        waited = true;
        waiting_ = true;
      }
      absl::MutexLock lock(&mu_);
      const int64_t before = in_flight_.load();
      auto room = [this, before] { return in_flight_.load() < before || abort_.load(); };
      mu_.AwaitWithTimeout(absl::Condition(&room), absl::Milliseconds(100));
      continue;
    }
    // A permanent refusal (message too large, unknown topic, shutdown): loud.
    M().failures.Increment();
    failures_.fetch_add(1);
    iss::log::Error("producer refused a message",
                    {{"topic", topic}, {"key", envelope.key}, {"error", s.ToString()}});
    Release(block, 1);
    break;
  }
  if (waited) waiting_ = false;
}

void Publisher::OnDelivery(const kafka::DeliveryReport& report) {
  const auto* pending = static_cast<const Pending*>(report.opaque);
  const absl::Time now = absl::Now();
  DeliveryTally& tally = *tally_;
  if (!report.status.ok()) {
    failures_.fetch_add(1);
    ++tally.failures;
    iss::log::Error("delivery failed",
                    {{"topic", report.topic}, {"error", report.status.ToString()}});
  } else if (pending != nullptr) {
    tally.publish_latency.Add(absl::ToDoubleSeconds(now - pending->produced_at));
    if (pending->kind == Envelope::Kind::kEvent) {
      ++tally.events;
      tally.ingest_to_ack.Add(absl::ToDoubleSeconds(now - pending->accepted_at));
      if (options_.on_event_acked) options_.on_event_acked(now - pending->accepted_at);
      events_acked_.fetch_add(1);
    } else {
      ++tally.dead_letters;
      dead_letters_acked_.fetch_add(1);
    }
  }
  if (pending != nullptr) Release(pending->block, 1);  // pending is gone after this
  in_flight_.fetch_sub(1);
  // Wake the publishing thread if it waits for room (conditions are
  // re-evaluated when the mutex is released).
  if (waiting_.load()) {
    absl::MutexLock lock(&mu_);
  }
}

void Publisher::FlushDeliveryMetrics() {
  DeliveryTally& tally = *tally_;
  tally.publish_latency.FlushTo(M().publish_latency);
  tally.ingest_to_ack.FlushTo(M().ingest_to_ack);
  if (tally.events > 0) M().events_published.Increment(static_cast<double>(tally.events));
  if (tally.dead_letters > 0) {
    M().dead_letters_published.Increment(static_cast<double>(tally.dead_letters));
  }
  if (tally.failures > 0) M().failures.Increment(static_cast<double>(tally.failures));
  tally.events = tally.dead_letters = tally.failures = 0;
}

absl::Status Publisher::Drain(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  // The queue is closed: the thread ends once it has handed everything over.
  if (!done_.WaitForNotificationWithTimeout(timeout)) {
    Abort();
    if (thread_.joinable()) thread_.join();
    // Still queued, plus what the thread had taken but not handed over.
    const int64_t left = static_cast<int64_t>(queue_->depth()) + abandoned_.load();
    iss::log::Error("shutdown: broker did not take everything in time",
                    {{"left_unpublished", left}});
    return absl::DeadlineExceededError(
        absl::StrCat(left, " messages not handed to the producer by the shutdown deadline"));
  }
  if (thread_.joinable()) thread_.join();
  absl::Status s = producer_->Flush(std::max(deadline - absl::Now(), absl::Milliseconds(1)));
  if (!s.ok()) {
    return absl::DeadlineExceededError(absl::StrCat(producer_->InFlight(),
                                                    " messages unacknowledged at the shutdown "
                                                    "deadline: ",
                                                    s.message()));
  }
  return absl::OkStatus();
}

absl::Status Publisher::Ping(absl::Duration timeout) { return producer_->Ping(timeout); }

Publisher::Stats Publisher::stats() const {
  Stats s;
  s.events_acked = events_acked_.load();
  s.dead_letters_acked = dead_letters_acked_.load();
  s.failures = failures_.load();
  s.produced = produced_.load();
  s.in_flight = in_flight_.load();
  return s;
}

}  // namespace iss::ingest

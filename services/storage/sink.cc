#include "services/storage/sink.h"

#include <algorithm>
#include <iterator>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"
#include "common/kafka_supervisor.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pg.h"

namespace iss::storage {
namespace {

using iss::telemetry::v1::TelemetryEvent;

// While a commit is in flight and events wait behind it, the loop polls the
// consumer at most this long before it looks at the commit again.
constexpr absl::Duration kInFlightRecheck = absl::Milliseconds(1);

// End-to-end latencies can be long (replays, backlogs): seconds .. an hour.
const std::vector<double>& EndToEndBuckets() {
  static const std::vector<double> b = {0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1,
                                        0.15,   0.25,  0.5,  1,     2.5,  5,     10,
                                        30,     60,    300,  900,   3600};
  return b;
}

struct SinkMetrics {
  prometheus::Counter& rows =
      metrics::Counter("iss_storage_rows_written_total", "Telemetry rows inserted into PostgreSQL");
  prometheus::Counter& duplicates =
      metrics::Counter("iss_storage_duplicates_skipped_total",
                       "Events already stored (redelivery) skipped by the unique key");
  prometheus::Family<prometheus::Counter>& batches = metrics::CounterFamily(
      "iss_storage_batches_total", "Batch transactions by result (committed, failed)");
  prometheus::Counter& committed = batches.Add({{"result", "committed"}});
  prometheus::Counter& failed = batches.Add({{"result", "failed"}});
  prometheus::Histogram& batch_seconds = metrics::Histogram(
      "iss_storage_batch_seconds", "Time to write and commit one batch", metrics::LatencyBuckets());
  prometheus::Counter& db_errors =
      metrics::Counter("iss_storage_db_errors_total", "Failed database operations of the sink");
  prometheus::Family<prometheus::Gauge>& lag = metrics::GaugeFamily(
      "iss_storage_consumer_lag", "Messages behind the high watermark, per partition");
  prometheus::Histogram& source_latency =
      metrics::Histogram("iss_storage_source_to_commit_seconds",
                         "From the station's source_ts to the row's commit", EndToEndBuckets());
  prometheus::Histogram& ingest_latency = metrics::Histogram(
      "iss_storage_ingest_to_commit_seconds",
      "From the ingestion service's ingest_ts to the row's commit", EndToEndBuckets());
};

SinkMetrics& Metrics() {
  static auto* m = new SinkMetrics();
  return *m;
}

log::RateLimiter& LogLimiter() {
  static auto* l = new log::RateLimiter(absl::Seconds(10));
  return *l;
}

}  // namespace

Sink::Sink(SinkOptions options, Health* health, TailHub* tail)
    : options_(std::move(options)),
      health_(health),
      tail_(tail),
      partitions_(options_.retention),
      writer_(options_.group_id, &partitions_) {
  Metrics();
  if (health_ != nullptr) health_->Declare("postgres", /*required=*/true);
}

Sink::~Sink() { Stop(); }

absl::Status Sink::Start() {
  bus::ConsumerOptions copts;
  copts.brokers = options_.brokers;
  copts.group_id = options_.group_id;
  copts.client_id = options_.client_id;
  copts.topic = options_.topic;
  copts.dlq_topic = options_.dlq_topic;
  copts.component = "storage";
  copts.metrics_prefix = "iss_storage";
  copts.statistics_interval = options_.lag_interval;
  // A fetch waits at most this long for data. librdkafka's default (500 ms) sits
  // directly on the ingest -> committed latency wherever the broker does not
  // answer a waiting fetch as soon as data arrives (the mock cluster does not).
  // After a fetch error librdkafka leaves the partition alone for
  // fetch.error.backoff.ms (500 ms by default): measured with iss-loadgen, the
  // first events of a fresh topic waited ~500 ms for it (p99 of a 20 s run at
  // 70/s); 20 ms still keeps a failing broker from being asked in a hot loop.
  copts.extra = {{"fetch.wait.max.ms", absl::StrCat(std::max<int64_t>(
                                           1, absl::ToInt64Milliseconds(options_.fetch_wait)))},
                 {"fetch.error.backoff.ms", "20"}};
  for (const auto& kv : options_.consumer_extra) copts.extra[kv.first] = kv.second;
  copts.supervisor = options_.supervisor;
  auto consumer = bus::Consumer::Create(
      copts, [this](const auto& parts) { return OnAssign(parts); },
      [this](const auto& parts) { OnRevoke(parts); });
  if (!consumer.ok()) return consumer.status();
  bus_ = *std::move(consumer);
  (void)Connect();  // best effort: the loop reconnects as needed
  stage_ = std::make_unique<CommitStage>(
      [this](SinkBatch& batch) { return WriteBatch(batch.events, batch.offsets); });
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void Sink::Stop() {
  if (stop_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  TakeInFlight(/*wait=*/true, /*retry=*/false);
  if (!pending_.empty() || !pending_offsets_.empty()) {
    if (absl::Status s = CommitPending(); !s.ok()) {
      log::Warn("pending batch not committed at shutdown; it will be re-read",
                {{"error", s.ToString()}, {"events", static_cast<int64_t>(pending_.size())}});
    }
  }
  // Leaves the group (OnRevoke runs here, on this thread), waiting at most
  // supervisor.close_timeout for a broker that may be gone: the offsets are
  // in PostgreSQL, so nothing depends on the goodbye.
  if (bus_ != nullptr) bus_->Close();
  stage_.reset();
  bus_.reset();  // waits up to 5 s for dead letters in flight, if a broker answers
  conn_.reset();
}

SinkStats Sink::Stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

absl::Status Sink::Connect() {
  if (conn_ != nullptr && conn_->is_open()) return absl::OkStatus();
  conn_.reset();
  auto conn = pg::Connect(options_.dsn);
  if (!conn.ok()) {
    SetDatabaseUp(false, conn.status().message().data());
    return conn.status();
  }
  conn_ = *std::move(conn);
  partitions_.Forget();
  SetDatabaseUp(true, "");
  return absl::OkStatus();
}

void Sink::SetDatabaseUp(bool up, const std::string& detail) {
  {
    absl::MutexLock lock(&mu_);
    stats_.database_reachable = up;
  }
  if (health_ != nullptr) health_->Set("postgres", up, detail);
}

absl::StatusOr<std::map<kafka::TopicPartition, int64_t>> Sink::OnAssign(
    const std::vector<kafka::TopicPartition>& partitions) {
  TakeInFlight(/*wait=*/true, /*retry=*/false);  // the connection is ours again
  if (absl::Status s = Connect(); !s.ok()) return s;
  auto stored = writer_.offsets().Load(*conn_, partitions);
  if (!stored.ok()) {
    conn_.reset();
    SetDatabaseUp(false, std::string(stored.status().message()));
    return stored.status();
  }
  log::Info("partitions assigned", {{"count", static_cast<int64_t>(partitions.size())},
                                    {"with_stored_offsets", static_cast<int64_t>(stored->size())}});
  absl::MutexLock lock(&mu_);
  stats_.assignment = partitions;
  return stored;
}

void Sink::OnRevoke(const std::vector<kafka::TopicPartition>& partitions) {
  if (options_.test_on_revoke) options_.test_on_revoke();
  // The batch in flight commits (or fails and rejoins pending_) before the
  // partitions go, so the next owner's stored offsets already count it.
  TakeInFlight(/*wait=*/true, /*retry=*/false);
  bool touched = false;
  for (const auto& tp : partitions) touched |= pending_offsets_.contains(tp);
  if (touched) {
    // Hand over cleanly when we can: commit what we hold before the partitions go.
    if (absl::Status s = CommitPending(); !s.ok()) {
      log::Warn("could not commit before revoke; dropping the revoked partitions' batch",
                {{"error", s.ToString()}});
      DropPending(partitions);
    }
  }
  absl::MutexLock lock(&mu_);
  std::erase_if(stats_.assignment, [&](const kafka::TopicPartition& tp) {
    return std::find(partitions.begin(), partitions.end(), tp) != partitions.end();
  });
}

void Sink::DropPending(const std::vector<kafka::TopicPartition>& partitions) {
  auto revoked = [&](int32_t p) {
    return std::any_of(partitions.begin(), partitions.end(), [&](const kafka::TopicPartition& tp) {
      return tp.topic == options_.topic && tp.partition == p;
    });
  };
  size_t out = 0;
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (revoked(pending_partition_[i])) continue;
    if (out != i) {
      pending_[out] = std::move(pending_[i]);
      pending_partition_[out] = pending_partition_[i];
    }
    ++out;
  }
  pending_.resize(out);
  pending_partition_.resize(out);
  for (const auto& tp : partitions) pending_offsets_.erase(tp);
  if (pending_.empty() && pending_offsets_.empty()) first_pending_at_ = absl::InfiniteFuture();
}

void Sink::Accept(kafka::Message& m) {
  if (pending_.empty() && pending_offsets_.empty()) first_pending_at_ = absl::Now();
  pending_offsets_[kafka::TopicPartition{m.topic, m.partition}] = m.offset + 1;
  TelemetryEvent event;
  if (!spare_.empty()) {
    // A committed event's fields keep their buffers: parsing into it allocates nothing.
    event = std::move(spare_.back());
    spare_.pop_back();
  }
  const auto rejection = DecodeEvent(m.key, m.value, absl::Now(), options_.decode, &event);
  if (!rejection) {
    pending_.push_back(std::move(event));
    pending_partition_.push_back(m.partition);
    return;
  }
  bus_->DeadLetter(m, *rejection);
  absl::MutexLock lock(&mu_);
  ++stats_.dead_lettered;
}

absl::Status Sink::CommitPending() {
  if (pending_.empty() && pending_offsets_.empty()) return absl::OkStatus();
  // The offsets below skip the poison messages: they must be on the DLQ first.
  if (absl::Status s = bus_->FlushDeadLetters(); !s.ok()) return s;
  if (absl::Status s = WriteBatch(pending_, pending_offsets_); !s.ok()) return s;
  CommitAdvisory(pending_offsets_);
  ResetPending();
  return absl::OkStatus();
}

absl::Status Sink::WriteBatch(std::vector<TelemetryEvent>& events,
                              const std::map<kafka::TopicPartition, int64_t>& offsets) {
  if (absl::Status s = Connect(); !s.ok()) return s;
  const absl::Time started = absl::Now();
  absl::Status injected =
      options_.test_before_write ? options_.test_before_write() : absl::OkStatus();
  absl::StatusOr<int64_t> inserted =
      injected.ok() ? writer_.Write(*conn_, events, offsets) : absl::StatusOr<int64_t>(injected);
  if (!inserted.ok()) {
    // Whatever broke, start the retry from a fresh session.
    conn_.reset();
    Metrics().failed.Increment();
    Metrics().db_errors.Increment();
    {
      absl::MutexLock lock(&mu_);
      ++stats_.db_errors;
    }
    SetDatabaseUp(false, std::string(inserted.status().message()));
    return inserted.status();
  }
  const absl::Time now = absl::Now();
  SinkMetrics& m = Metrics();
  m.batch_seconds.Observe(absl::ToDoubleSeconds(now - started));
  m.committed.Increment();
  m.rows.Increment(static_cast<double>(*inserted));
  const int64_t duplicates = static_cast<int64_t>(events.size()) - *inserted;
  m.duplicates.Increment(static_cast<double>(duplicates));
  const int64_t now_us = absl::ToUnixMicros(now);
  for (const auto& e : events) {
    m.source_latency.Observe(static_cast<double>(now_us - TimestampMicros(e.source_ts())) / 1e6);
    m.ingest_latency.Observe(static_cast<double>(now_us - TimestampMicros(e.ingest_ts())) / 1e6);
  }
  SetDatabaseUp(true, "");
  {
    absl::MutexLock lock(&mu_);
    stats_.rows_written += static_cast<uint64_t>(*inserted);
    stats_.duplicates_skipped += static_cast<uint64_t>(duplicates);
    ++stats_.batches_committed;
  }
  if (tail_ != nullptr && tail_->subscribers() > 0) {
    std::vector<EventPtr> published;
    published.reserve(events.size());
    for (auto& e : events) {
      published.push_back(std::make_shared<const TelemetryEvent>(std::move(e)));
    }
    tail_->Publish(published);
  }
  return absl::OkStatus();
}

// On the loop thread only: the consumer (and the client inside it, which its
// watchdog may replace during Poll) is not to be touched from the commit stage.
void Sink::CommitAdvisory(const std::map<kafka::TopicPartition, int64_t>& offsets) {
  // Null before Start(); bus::Consumer ignores it while closing (its close
  // revokes through us).
  if (bus_ != nullptr) bus_->CommitAdvisory(offsets);
}

void Sink::ResetPending() {
  pending_.clear();
  pending_partition_.clear();
  pending_offsets_.clear();
  first_pending_at_ = absl::InfiniteFuture();
}

void Sink::Seal() {
  TakeInFlight(/*wait=*/true, /*retry=*/true);
  if (pending_.empty() && pending_offsets_.empty()) return;
  // Poison messages in the batch (the DLQ must hold them before their offsets
  // commit) or no database session (the retry loop pauses the consumer): this
  // thread commits, as before the pipeline.
  if (bus_->has_unflushed_dead_letters() || stage_ == nullptr || conn_ == nullptr ||
      !conn_->is_open()) {
    CommitWithRetry();
    return;
  }
  SinkBatch batch;
  batch.events = std::move(pending_);
  batch.partitions = std::move(pending_partition_);
  batch.offsets = std::move(pending_offsets_);
  ResetPending();
  pending_.reserve(options_.batch_max);
  stage_->Submit(std::move(batch));
}

void Sink::TakeInFlight(bool wait, bool retry) {
  if (stage_ == nullptr) return;
  std::optional<CommitStage::Done> done = stage_->Take(wait);
  if (!done.has_value()) return;
  if (done->status.ok()) {
    CommitAdvisory(done->batch.offsets);
    if (spare_.empty()) spare_.swap(done->batch.events);  // reused by Accept()
    return;
  }
  // Nothing of it committed. It is older than everything pending, so it goes
  // in front; where both consumed a partition, the pending offset is the newer.
  SinkBatch& failed = done->batch;
  failed.events.insert(failed.events.end(), std::make_move_iterator(pending_.begin()),
                       std::make_move_iterator(pending_.end()));
  failed.partitions.insert(failed.partitions.end(), pending_partition_.begin(),
                           pending_partition_.end());
  for (const auto& [tp, next] : pending_offsets_) failed.offsets[tp] = next;
  pending_ = std::move(failed.events);
  pending_partition_ = std::move(failed.partitions);
  pending_offsets_ = std::move(failed.offsets);
  first_pending_at_ = std::min(first_pending_at_, absl::Now() - options_.batch_wait);  // due now
  if (retry) CommitWithRetry();
}

void Sink::CommitWithRetry() {
  absl::Duration backoff = options_.retry_min;
  bool paused = false;
  while (!pending_.empty() || !pending_offsets_.empty()) {
    absl::Status s = CommitPending();
    if (s.ok()) break;
    int64_t suppressed = 0;
    if (LogLimiter().Allow("commit_failed", &suppressed)) {
      log::Error("batch commit failed; retrying with backoff",
                 {{"error", s.ToString()},
                  {"events", static_cast<int64_t>(pending_.size())},
                  {"backoff", backoff},
                  {"suppressed", suppressed}});
    }
    if (!paused) {
      (void)bus_->PauseAll();
      paused = true;
    }
    // Keep polling while we wait: rebalances must be served. Anything still
    // delivered joins the held batch.
    const absl::Time until = absl::Now() + backoff;
    while (!stop_.load() && absl::Now() < until) {
      auto msgs =
          bus_->Poll(options_.batch_max, std::min(absl::Milliseconds(50), until - absl::Now()));
      if (msgs.ok()) {
        for (auto& msg : *msgs) Accept(msg);
      }
    }
    if (stop_.load()) break;
    backoff = std::min(backoff * 2, options_.retry_max);
  }
  if (paused) {
    (void)bus_->ResumeAll();
    log::Info("database back; consumption resumed");
  }
}

void Sink::RefreshLag() {
  const absl::Time now = absl::Now();
  if (now < next_lag_at_) return;
  next_lag_at_ = now + options_.lag_interval;
  auto lag = bus_->Lag();
  for (const auto& [tp, n] : lag) {
    Metrics().lag.Add({{"partition", absl::StrCat(tp.partition)}}).Set(static_cast<double>(n));
  }
  absl::MutexLock lock(&mu_);
  stats_.lag = std::move(lag);
}

void Sink::Run() {
  log::Info("sink started", {{"topic", options_.topic}, {"group", options_.group_id}});
  while (!stop_.load()) {
    const absl::Time now = absl::Now();
    absl::Duration wait = options_.batch_wait;
    if (first_pending_at_ != absl::InfiniteFuture()) {
      wait = std::max(absl::ZeroDuration(), first_pending_at_ + options_.batch_wait - now);
    }
    // Events held back only because a commit is in flight are sealed as soon
    // as it ends: look at the stage again shortly instead of sleeping until the
    // batch is due (there is no waking up from the consumer's wait).
    if (first_pending_at_ != absl::InfiniteFuture() && stage_ != nullptr && stage_->Busy()) {
      wait = std::min(wait, kInFlightRecheck);
    }
    const size_t room =
        options_.batch_max > pending_.size() ? options_.batch_max - pending_.size() : 1;
    auto msgs = bus_->Poll(room, std::min(wait, absl::Milliseconds(100)));
    if (!msgs.ok()) {
      log::Error("consumer failed", {{"error", msgs.status().ToString()}});
      absl::SleepFor(options_.retry_min);  // a fatal consumer error: avoid a hot loop
      continue;
    }
    for (auto& msg : *msgs) Accept(msg);
    TakeInFlight(/*wait=*/false, /*retry=*/true);
    const bool full = pending_.size() >= options_.batch_max;
    const bool due = first_pending_at_ != absl::InfiniteFuture() &&
                     absl::Now() >= first_pending_at_ + options_.batch_wait;
    // Commit as soon as the consumer has nothing more to read and no commit is
    // in flight: a trickle is stored (and tailed) at once instead of after the
    // batch wait. Under load the batch fills while the previous one commits,
    // so batches grow with the rate by themselves and batch_wait/batch_max
    // still bound them.
    const bool drained = msgs->size() < room;  // Poll() stopped at an empty local queue
    const bool idle = stage_ == nullptr || !stage_->Busy();
    if (full || due || (drained && idle && first_pending_at_ != absl::InfiniteFuture())) Seal();
    RefreshLag();
  }
  log::Info("sink stopped");
}

}  // namespace iss::storage

// Ingestion benchmarks, all against the librdkafka mock cluster over loopback
// (tests/support/kafka_cluster.h), in one run so the numbers sit side by side:
//
//   BM_Pipeline       decoded RawUpdates -> validate -> enrich -> bounded queue
//                     -> publisher -> acknowledged by the broker. events/s.
//   BM_RawProduce     the same serialized events produced straight through
//                     iss::kafka::Producer (same keys, same sizes, same broker,
//                     lz4, idempotent, acks=all). The ceiling for BM_Pipeline.
//   BM_IngestToAck    updates paced at 10k events/s through the whole
//                     pipeline; p50/p99/max of accept -> broker ack, with the
//                     default 5 ms producer linger and with 1 ms.
//   .../record:N      the same with the recorder in front of the pipeline
//                     (ISS_INGEST_RECORD_DIR; N = 0 off, 1 plain, 2 gzip),
//                     writing to a temporary directory: what recording costs
//                     the live path, same run. Reports recorded_frac (updates
//                     the recorder wrote / offered; the rest it dropped rather
//                     than slow the feed).
//   BM_RecorderOffer  the recorder's work on the live path alone (copy into
//                     its queue), per update.
//
// Each throughput benchmark also reports proc_cpu_us/event: CPU time of the
// whole process (every thread: ours, librdkafka's, the mock broker's) per
// event. On a shared machine it moves far less than events/s does, and
// 1e6 / proc_cpu_us is what one otherwise idle core could do.
//
// Run on one core as in docs/benchmarks.md:
//   taskset -c 0 build/dev/bench/ingestion/ingestion_bench --benchmark_min_time=0.2
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "common/event_id.h"
#include "common/isslive_time.h"
#include "common/log.h"
#include "services/ingestion/enricher.h"
#include "services/ingestion/pipeline.h"
#include "services/ingestion/publisher.h"
#include "services/ingestion/recorder.h"
#include "tests/support/kafka_cluster.h"

namespace iss::ingest {
namespace {

constexpr int kItems = 300;    // ~the ISSLIVE catalog
constexpr int kBatch = 20000;  // updates per benchmark iteration
const char kTopic[] = "telemetry.raw.v1";

iss::testing::KafkaCluster& Cluster() {
  static iss::testing::KafkaCluster* cluster = [] {
    auto c = iss::testing::KafkaCluster::Start(1);
    if (!c.ok()) {
      fprintf(stderr, "mock cluster: %s\n", c.status().ToString().c_str());
      std::abort();
    }
    (void)(*c)->CreateTopic(kTopic, 12);
    (void)(*c)->CreateTopic("telemetry.dlq.v1", 3);
    return c->release();
  }();
  return *cluster;
}

kafka::ProducerOptions ProducerOpts(absl::Duration linger = absl::Milliseconds(5)) {
  kafka::ProducerOptions o;
  o.linger = linger;
  o.brokers = Cluster().bootstrap();
  o.client_id = "ingestion-bench";
  return o;
}

// CPU time of all threads of this process so far.
double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Realistic decoded updates: catalog-like ids, short numeric values, the
// six ISSLIVE fields, TimeStamps a second apart.
std::vector<RawUpdate> MakeUpdates(int n) {
  std::vector<RawUpdate> out;
  out.reserve(n);
  const absl::Time t0 = absl::Now();
  for (int i = 0; i < n; ++i) {
    RawUpdate u;
    u.item_id = absl::StrFormat("S%d000%03d", i % 7, i % kItems);
    u.value = absl::StrFormat("%.6f", 100.0 + (i % 977) * 0.125);
    const absl::Time ts = t0 + absl::Milliseconds(i);
    u.timestamp = absl::StrFormat("%.10f", TimeToIssHours(ts));
    u.status_class = "24";
    u.status_indicator = "0";
    u.status_color = "green";
    u.calibrated_data = "";
    u.received_at = ts;
    out.push_back(std::move(u));
  }
  return out;
}

// A fresh temporary directory for a recording.
std::string RecordDir() {
  static int n = 0;
  const std::string dir = absl::StrFormat("/tmp/iss-ingestion-bench-%d-%d", getpid(), n++);
  (void)std::system(absl::StrFormat("rm -rf '%s'", dir).c_str());
  return dir;
}

// The whole pipeline, as main() wires it, minus the network source.
// `record`: 0 = no recorder, 1 = recorder, 2 = recorder with gzip (main()'s
// defaults otherwise), in front of the pipeline as main() puts it.
struct Rig {
  explicit Rig(PublisherOptions po = {}, absl::Duration linger = absl::Milliseconds(5),
               int record = 0)
      : queue(10000), pipeline(&queue, &signal) {
    if (record > 0) {
      record_dir = RecordDir();
      auto r = Recorder::Start(
          {.dir = record_dir, .gzip = record == 2, .max_total_bytes = int64_t{2} << 30});
      if (!r.ok()) std::abort();
      recorder = std::move(*r);
      recording = std::make_unique<RecordingSink>(recorder.get(), &pipeline);
    }
    sink = recording ? static_cast<UpdateSink*>(recording.get()) : &pipeline;
    po.on_event_acked = [this, user = po.on_event_acked](absl::Duration d) {
      if (warm.load() && user) user(d);
    };
    auto p = Publisher::Start(po, ProducerOpts(linger), &queue);
    if (!p.ok()) std::abort();
    publisher = std::move(*p);
    // Warm up: connection, metadata and producer id before anything is timed.
    for (const RawUpdate& u : MakeUpdates(kItems)) sink->Deliver(u);
    WaitAcked(kItems);
    warm = true;
  }
  ~Rig() {
    if (recorder) {
      recorder->Stop();
      (void)std::system(absl::StrFormat("rm -rf '%s'", record_dir).c_str());
    }
  }
  // Fraction of the offered updates the recorder wrote (1 without one).
  double RecordedFraction() {
    if (!recorder) return 1;
    recorder->Stop();  // what it holds is written now
    const Recorder::Stats s = recorder->stats();
    return static_cast<double>(s.written) / static_cast<double>(s.written + s.dropped);
  }
  void WaitAcked(int64_t n) {
    while (publisher->stats().events_acked < n) absl::SleepFor(absl::Microseconds(200));
  }
  std::atomic<bool> warm{false};
  BoundedQueue queue;
  SignalTracker signal;
  Pipeline pipeline;
  std::string record_dir;
  std::unique_ptr<Recorder> recorder;
  std::unique_ptr<RecordingSink> recording;
  UpdateSink* sink = nullptr;  // the recorder (when on), then the pipeline
  std::unique_ptr<Publisher> publisher;
};

void BM_Pipeline(benchmark::State& state) {
  Rig rig({}, absl::Milliseconds(state.range(0)), static_cast<int>(state.range(1)));
  const std::vector<RawUpdate> updates = MakeUpdates(kBatch);
  int64_t total = 0;
  const int64_t base = rig.publisher->stats().events_acked;
  const double cpu0 = ProcessCpuSeconds();
  for (auto _ : state) {
    for (const RawUpdate& u : updates) rig.sink->Deliver(u);
    total += kBatch;
    rig.WaitAcked(base + total);  // counted only once the broker acknowledged them
  }
  const double cpu = ProcessCpuSeconds() - cpu0;
  state.SetItemsProcessed(total);
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsRate);
  state.counters["proc_cpu_us/event"] = cpu * 1e6 / static_cast<double>(total);
  if (state.range(1) > 0) state.counters["recorded_frac"] = rig.RecordedFraction();
}
// Args: producer linger in ms (service default 5); recorder (0 off, 1 on, 2 gzip).
BENCHMARK(BM_Pipeline)
    ->ArgNames({"linger", "record"})
    ->Args({5, 0})
    ->Args({5, 1})
    ->Args({5, 2})
    ->Args({20, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(1.0);

// The recorder's share of the live path: the copy of one update into its
// queue, every update taken (the queue holds the whole batch; the writer's
// work is outside the timing).
void BM_RecorderOffer(benchmark::State& state) {
  const std::string dir = RecordDir();
  const std::vector<RawUpdate> updates = MakeUpdates(kBatch);
  for (auto _ : state) {
    state.PauseTiming();
    auto rec = Recorder::Start({.dir = dir,
                                .queue_capacity = 2 * kBatch,
                                .max_total_bytes = int64_t{64} << 20,
                                .write_interval = absl::Hours(1)});
    if (!rec.ok()) std::abort();
    state.ResumeTiming();
    for (const RawUpdate& u : updates) {
      if (!(*rec)->Offer(u)) std::abort();
    }
    state.PauseTiming();
    rec->reset();  // writes the batch, closes the file
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  (void)std::system(absl::StrFormat("rm -rf '%s'", dir).c_str());
}
BENCHMARK(BM_RecorderOffer)->Unit(benchmark::kMicrosecond);

// The CPU cost of the pipeline's own steps, without Kafka: decoded update ->
// validated -> enriched -> serialized. Where BM_Pipeline's time goes.
void BM_ValidateEnrichSerialize(benchmark::State& state) {
  const std::vector<RawUpdate> updates = MakeUpdates(kBatch);
  iss::telemetry::v1::TelemetryEvent event;
  std::string out;
  size_t i = 0;
  for (auto _ : state) {
    const absl::Time now = absl::Now();  // one clock read, as Pipeline::Deliver
    auto v = Validate(updates[i++ % updates.size()], now);
    Enrich(*v, iss::telemetry::v1::SIGNAL_STATE_AOS, now, &event);
    event.SerializeToString(&out);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ValidateEnrichSerialize);

// The validator alone: every rule storage would apply (common/event_rules.h)
// plus the TimeStamp parse. Copying overload, so the copies of the (short,
// inline-stored) strings are in it too.
void BM_Validate(benchmark::State& state) {
  const std::vector<RawUpdate> updates = MakeUpdates(kBatch);
  const absl::Time now = absl::Now();
  size_t i = 0;
  for (auto _ : state) {
    auto v = Validate(updates[i++ % updates.size()], now);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Validate);

// Stage costs of BM_ValidateEnrichSerialize, one at a time (same updates).
void BM_Enrich(benchmark::State& state) {
  const std::vector<RawUpdate> updates = MakeUpdates(kBatch);
  const absl::Time now = absl::Now();
  std::vector<ValidatedUpdate> valid;
  for (const RawUpdate& u : updates) valid.push_back(*Validate(u, now));
  iss::telemetry::v1::TelemetryEvent event;
  size_t i = 0;
  for (auto _ : state) {
    Enrich(valid[i++ % valid.size()], iss::telemetry::v1::SIGNAL_STATE_AOS, now, &event);
    benchmark::DoNotOptimize(event);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Enrich);

void BM_EventId(benchmark::State& state) {
  const std::vector<RawUpdate> updates = MakeUpdates(kBatch);
  const absl::Time now = absl::Now();
  std::vector<iss::telemetry::v1::TelemetryEvent> events;
  for (const RawUpdate& u : updates) {
    events.push_back(Enrich(*Validate(u, now), iss::telemetry::v1::SIGNAL_STATE_AOS, now));
  }
  std::string id;
  size_t i = 0;
  for (auto _ : state) {
    ComputeEventId(events[i++ % events.size()], &id);
    benchmark::DoNotOptimize(id);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EventId);

void BM_Serialize(benchmark::State& state) {
  const std::vector<RawUpdate> updates = MakeUpdates(kBatch);
  const absl::Time now = absl::Now();
  std::vector<iss::telemetry::v1::TelemetryEvent> events;
  for (const RawUpdate& u : updates) {
    events.push_back(Enrich(*Validate(u, now), iss::telemetry::v1::SIGNAL_STATE_AOS, now));
  }
  std::string out;
  size_t i = 0;
  for (auto _ : state) {
    events[i++ % events.size()].SerializeToString(&out);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Serialize);

void BM_RawProduce(benchmark::State& state) {
  // Same bytes the pipeline would publish.
  std::vector<std::pair<std::string, std::string>> messages;
  for (const RawUpdate& u : MakeUpdates(kBatch)) {
    auto v = Validate(u, absl::Now());
    if (!v.ok()) std::abort();
    messages.emplace_back(
        u.item_id,
        Enrich(*v, iss::telemetry::v1::SIGNAL_STATE_AOS, absl::Now()).SerializeAsString());
  }
  std::atomic<int64_t> acked{0};
  auto producer = kafka::Producer::Create(
      ProducerOpts(), [&](const kafka::DeliveryReport& r) { acked.fetch_add(1); });
  if (!producer.ok()) std::abort();
  int64_t total = 0;
  size_t bytes = 0;
  for (const auto& [k, v] : messages) bytes += v.size();
  const double cpu0 = ProcessCpuSeconds();
  for (auto _ : state) {
    for (const auto& [key, value] : messages) {
      while (!(*producer)->Produce(kTopic, key, value).ok()) absl::SleepFor(absl::Microseconds(50));
    }
    total += kBatch;
    while (acked.load() < total) absl::SleepFor(absl::Microseconds(200));
  }
  const double cpu = ProcessCpuSeconds() - cpu0;
  state.counters["proc_cpu_us/event"] = cpu * 1e6 / static_cast<double>(total);
  state.SetItemsProcessed(total);
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsRate);
  state.counters["avg_bytes"] = static_cast<double>(bytes) / kBatch;
}
BENCHMARK(BM_RawProduce)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

void BM_IngestToAck(benchmark::State& state) {
  const double rate = static_cast<double>(state.range(0));
  absl::Mutex mu;
  std::vector<double> latencies_ms;
  PublisherOptions po;
  po.on_event_acked = [&](absl::Duration d) {
    absl::MutexLock lock(&mu);
    latencies_ms.push_back(absl::ToDoubleMilliseconds(d));
  };
  Rig rig(po, absl::Milliseconds(state.range(1)), static_cast<int>(state.range(2)));
  // Two seconds of traffic per iteration at the paced rate.
  const int per_iteration = static_cast<int>(rate * 2);
  const std::vector<RawUpdate> updates = MakeUpdates(per_iteration);
  const absl::Duration gap = absl::Seconds(1) / rate;
  int64_t total = 0;
  const int64_t base = rig.publisher->stats().events_acked;
  for (auto _ : state) {
    const absl::Time start = absl::Now();
    for (int i = 0; i < per_iteration; ++i) {
      const absl::Time due = start + gap * i;
      // Sleep, never spin: on one core a spinning source would starve the
      // publisher and librdkafka threads it is measuring. Sleep overshoot
      // makes small bursts; the mean rate stays exact (due is absolute).
      const absl::Duration wait = due - absl::Now();
      if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
      rig.sink->Deliver(updates[i]);
    }
    total += per_iteration;
    rig.WaitAcked(base + total);
  }
  std::vector<double> v;
  {
    absl::MutexLock lock(&mu);
    v = latencies_ms;
  }
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) { return v.empty() ? 0.0 : v[static_cast<size_t>(p * (v.size() - 1))]; };
  state.counters["p50_ms"] = pct(0.50);
  state.counters["p99_ms"] = pct(0.99);
  state.counters["max_ms"] = v.empty() ? 0.0 : v.back();
  state.counters["events"] = static_cast<double>(v.size());
  if (state.range(2) > 0) state.counters["recorded_frac"] = rig.RecordedFraction();
  state.SetItemsProcessed(total);
}
// Args: rate (events/s), producer linger (ms; the service default is 5),
// recorder (0 off, 1 on, 2 gzip).
BENCHMARK(BM_IngestToAck)
    ->ArgNames({"rate", "linger", "record"})
    ->Args({10000, 5, 0})
    ->Args({10000, 5, 1})
    ->Args({10000, 5, 2})
    ->Args({10000, 1, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

}  // namespace
}  // namespace iss::ingest

int main(int argc, char** argv) {
  // As iss-ingestion's main() does: no absl deadlock-detection graph upkeep
  // on every Mutex lock (Debian's Abseil is built without NDEBUG).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  iss::log::Init("ingestion-bench", iss::log::Level::kWarn);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

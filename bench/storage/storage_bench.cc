// Storage benchmarks, against the real fixtures (a throwaway PostgreSQL with
// fsync off, as the tests use, and the librdkafka mock cluster):
//   BM_SinkVsRawCopy      broker -> committed rows/s through the real Sink, and
//                         a raw COPY (pqxx::stream_to) of the same rows into
//                         the same partitioned table, in the same run;
//   BM_CommittedLatency   events produced at a steady 10k/s; latency from
//                         source_ts to the moment the Tail hub sees the commit;
//   BM_WindowQuery1h      QueryWindow of one item over one hour in a table of
//                         ISS_BENCH_WINDOW_ROWS rows (default 10M) made with
//                         generate_series; p50/p99 reported as counters.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/event_id.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/pg.h"
#include "services/storage/conn_pool.h"
#include "services/storage/decoder.h"
#include "services/storage/partitions.h"
#include "services/storage/query_store.h"
#include "services/storage/sink.h"
#include "services/storage/tail_hub.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/pg_server.h"

namespace iss::storage {
namespace {

using iss::telemetry::v1::TelemetryEvent;

struct Env {
  std::unique_ptr<iss::testing::PgServer> pg;
  std::unique_ptr<iss::testing::KafkaCluster> kafka;
  std::unique_ptr<kafka::Producer> producer;
  int db_counter = 0;
};

Env& E() {
  static Env* env = [] {
    auto* e = new Env();
    auto pg = iss::testing::PgServer::Start();
    if (!pg.ok()) {
      fprintf(stderr, "PgServer: %s\n", pg.status().ToString().c_str());
      std::exit(1);
    }
    e->pg = *std::move(pg);
    auto k = iss::testing::KafkaCluster::Start(1);
    if (!k.ok()) std::exit(1);
    e->kafka = *std::move(k);
    kafka::ProducerOptions po;
    po.brokers = e->kafka->bootstrap();
    po.queue_max_messages = 1000000;
    auto p = kafka::Producer::Create(po, [](const kafka::DeliveryReport&) {});
    if (!p.ok()) std::exit(1);
    e->producer = *std::move(p);
    return e;
  }();
  return *env;
}

std::string MigratedDb() {
  auto dsn = E().pg->CreateDatabase(absl::StrCat("bench", ++E().db_counter));
  if (!dsn.ok()) std::exit(1);
  auto conn = pg::Connect(*dsn);
  if (!conn.ok() || !pg::Migrate(**conn).ok()) std::exit(1);
  return *dsn;
}

TelemetryEvent Event(int i, absl::Time source_ts) {
  TelemetryEvent e;
  e.set_schema_version(1);
  e.set_item_id(absl::StrCat("ITEM_", i % 300));
  SetTimestampMicros(absl::ToUnixMicros(source_ts), e.mutable_source_ts());
  SetTimestampMicros(absl::ToUnixMicros(absl::Now()), e.mutable_ingest_ts());
  e.set_value(absl::StrCat(i % 1000, ".", i % 7));
  e.mutable_status()->set_class_("24");
  e.mutable_status()->set_indicator("0");
  e.mutable_status()->set_color("green");
  e.set_source("simulator");
  e.set_signal(iss::telemetry::v1::SIGNAL_STATE_AOS);
  e.set_event_id(ComputeEventId(e));
  return e;
}

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// CPU seconds (user + system) used so far by this process, all threads: the
// sink's threads, librdkafka's and the mock broker's.
double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// CPU seconds used so far by another local process (a PostgreSQL backend),
// from /proc/<pid>/stat (clock-tick resolution); 0 if unreadable.
double ProcessCpuSeconds(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t after_comm = stat.rfind(')');
  if (after_comm == std::string::npos) return 0;
  std::istringstream fields(stat.substr(after_comm + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The pid of the (single) other client backend connected to `dsn`'s database.
int OtherBackendPid(const std::string& dsn) {
  auto conn = pg::Connect(dsn);
  if (!conn.ok()) return 0;
  pqxx::nontransaction tx(**conn);
  auto r = tx.exec(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND "
      "backend_type = 'client backend' AND pid <> pg_backend_pid()");
  return r.size() == 1 ? r[0][0].as<int>() : 0;
}

// The day partitions from the day before `oldest` to tomorrow.
void CreatePartitionsAhead(pqxx::connection& conn, absl::Time oldest) {
  PartitionManager parts(absl::InfiniteDuration());
  std::vector<int64_t> days;
  for (int64_t d = UtcDay(absl::ToUnixMicros(oldest)) - 1;
       d <= UtcDay(absl::ToUnixMicros(absl::Now())) + 1; ++d) {
    days.push_back(d);
  }
  (void)parts.Ensure(conn, days);
}

// --- broker -> committed rows/s, next to raw COPY of the same rows ----------
void BM_SinkVsRawCopy(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const absl::Time base = absl::Now() - absl::Hours(2);
  std::vector<TelemetryEvent> events;
  events.reserve(n);
  for (int i = 0; i < n; ++i) events.push_back(Event(i, base + absl::Milliseconds(i)));

  for (auto _ : state) {
    // Raw COPY: same rows, same partitioned table, 5000 rows per transaction.
    const std::string raw_dsn = MigratedDb();
    auto raw_conn = pg::Connect(raw_dsn);
    CreatePartitionsAhead(**raw_conn, base);
    const int raw_backend = (*raw_conn)->backendpid();
    const double raw_pg_cpu0 = ProcessCpuSeconds(raw_backend);
    const double raw_cpu0 = SelfCpuSeconds();
    const absl::Time raw_start = absl::Now();
    (void)pg::Guard([&] {
      for (int first = 0; first < n; first += 5000) {
        pqxx::work txn(**raw_conn);
        pqxx::stream_to copy(txn, "telemetry",
                             std::vector<std::string>{
                                 "item_id", "source_ts", "event_id", "ingest_ts", "value",
                                 "value_num", "status_class", "status_indicator", "status_color",
                                 "calibrated_data", "source", "signal", "schema_version"});
        std::string sts, its;
        for (int i = first; i < std::min(n, first + 5000); ++i) {
          const auto& e = events[i];
          sts.clear();
          its.clear();
          AppendPgTimestamp(sts, TimestampMicros(e.source_ts()));
          AppendPgTimestamp(its, TimestampMicros(e.ingest_ts()));
          copy << std::make_tuple(
              e.item_id(), sts, e.event_id(), its, e.value(), NumericValue(e.value()),
              e.status().class_(), e.status().indicator(), e.status().color(), nullptr, e.source(),
              static_cast<int>(e.signal()), static_cast<int>(e.schema_version()));
        }
        copy.complete();
        txn.commit();
      }
    });
    const double raw_s = Seconds(absl::Now() - raw_start);
    const double raw_cpu = SelfCpuSeconds() - raw_cpu0;
    const double raw_pg_cpu = ProcessCpuSeconds(raw_backend) - raw_pg_cpu0;

    // The sink: pre-produced topic, timed from assignment to the last commit.
    const std::string topic = absl::StrCat("bench-raw-", E().db_counter);
    (void)E().kafka->CreateTopic(topic, 12);
    for (const auto& e : events) {
      while (!E().producer->Produce(topic, e.item_id(), e.SerializeAsString()).ok()) {
        (void)E().producer->Flush(absl::Milliseconds(10));
      }
    }
    (void)E().producer->Flush(absl::Seconds(60));
    SinkOptions opts;
    opts.dsn = MigratedDb();
    // Both sides write into partitions that exist already (in the service,
    // upkeep creates them ahead of the data), so neither times the DDL.
    CreatePartitionsAhead(**pg::Connect(opts.dsn), base);
    opts.brokers = E().kafka->bootstrap();
    opts.group_id = topic;
    opts.topic = topic;
    opts.dlq_topic = topic + "-dlq";
    opts.consumer_extra = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
    Sink sink(opts, nullptr, nullptr);
    (void)sink.Start();
    while (sink.Stats().assignment.size() < 12) absl::SleepFor(absl::Milliseconds(1));
    const int sink_backend = OtherBackendPid(opts.dsn);  // the sink's connection
    const double sink_pg_cpu0 = ProcessCpuSeconds(sink_backend);
    const double sink_cpu0 = SelfCpuSeconds();
    const absl::Time sink_start = absl::Now();
    while (sink.Stats().rows_written < static_cast<uint64_t>(n))
      absl::SleepFor(absl::Milliseconds(1));
    const double sink_s = Seconds(absl::Now() - sink_start);
    const double sink_cpu = SelfCpuSeconds() - sink_cpu0;
    const double sink_pg_cpu = ProcessCpuSeconds(sink_backend) - sink_pg_cpu0;
    const auto stats = sink.Stats();
    sink.Stop();

    state.SetIterationTime(sink_s);
    state.counters["sink_rows_per_s"] = n / sink_s;
    state.counters["raw_copy_rows_per_s"] = n / raw_s;
    state.counters["sink_vs_raw"] = raw_s / sink_s;
    // CPU per row, microseconds: this process (client side; for the sink also
    // the mock broker serving it) and the PostgreSQL backend doing the COPY. On
    // a shared box these say more than the rates: they do not depend on load.
    state.counters["sink_cpu_us_row"] = sink_cpu / n * 1e6;
    state.counters["sink_pg_cpu_us_row"] = sink_pg_cpu / n * 1e6;
    state.counters["raw_cpu_us_row"] = raw_cpu / n * 1e6;
    state.counters["raw_pg_cpu_us_row"] = raw_pg_cpu / n * 1e6;
    state.counters["batches"] = static_cast<double>(stats.batches_committed);
  }
}
BENCHMARK(BM_SinkVsRawCopy)
    ->Arg(200000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// --- p99 source -> committed at a steady 10k events/s ------------------------
void BM_CommittedLatency(benchmark::State& state) {
  const int rate = static_cast<int>(state.range(0));
  const absl::Duration batch_wait = absl::Milliseconds(state.range(1));
  const absl::Duration run = absl::Seconds(10);
  for (auto _ : state) {
    const std::string topic = absl::StrCat("bench-lat-", ++E().db_counter);
    (void)E().kafka->CreateTopic(topic, 12);
    TailHub hub(1 << 22);
    SinkOptions opts;
    opts.dsn = MigratedDb();
    opts.brokers = E().kafka->bootstrap();
    opts.group_id = topic;
    opts.topic = topic;
    opts.dlq_topic = topic + "-dlq";
    opts.consumer_extra = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
    opts.batch_wait = batch_wait;
    {
      // As in the service, where upkeep creates partitions ahead of the data.
      auto conn = pg::Connect(opts.dsn);
      PartitionManager parts(absl::InfiniteDuration());
      const int64_t today = UtcDay(absl::ToUnixMicros(absl::Now()));
      (void)parts.Ensure(**conn, {today - 1, today, today + 1});
    }
    Sink sink(opts, nullptr, &hub);
    (void)sink.Start();
    while (sink.Stats().assignment.size() < 12) absl::SleepFor(absl::Milliseconds(1));
    auto sub = hub.Subscribe({});
    {
      // Warm-up (first fetches, first commit), not measured.
      for (int i = 0; i < 100; ++i) {
        const TelemetryEvent e = Event(1000000000 + i, absl::Now());
        (void)E().producer->Produce(topic, e.item_id(), e.SerializeAsString());
      }
      size_t seen = 0;
      std::vector<EventPtr> warm;
      while (seen < 100) {
        warm.clear();
        sub->Next(&warm, absl::Seconds(1));
        seen += warm.size();
      }
    }

    std::atomic<bool> producing{true};
    std::atomic<int> produced{0};
    std::thread producer([&] {
      // 1 ms ticks: rate/1000 events each, source_ts = the moment of sending.
      const int per_tick = std::max(1, rate / 1000);
      const absl::Time start = absl::Now();
      for (int tick = 0; absl::Now() - start < run; ++tick) {
        const absl::Time due = start + absl::Milliseconds(tick);
        if (absl::Now() < due) absl::SleepFor(due - absl::Now());
        for (int k = 0; k < per_tick; ++k) {
          const int i = produced.fetch_add(1);
          const TelemetryEvent e = Event(i, absl::Now());
          (void)E().producer->Produce(topic, e.item_id(), e.SerializeAsString());
        }
      }
      producing = false;
    });
    std::vector<double> latencies;
    latencies.reserve(rate * 12);
    std::vector<EventPtr> batch;
    const absl::Time deadline = absl::Now() + run + absl::Seconds(20);
    while (absl::Now() < deadline &&
           (producing.load() || latencies.size() < static_cast<size_t>(produced.load()))) {
      batch.clear();
      sub->Next(&batch, absl::Milliseconds(50));
      const int64_t now_us = absl::ToUnixMicros(absl::Now());
      for (const auto& e : batch) {
        latencies.push_back(static_cast<double>(now_us - TimestampMicros(e->source_ts())) / 1e3);
      }
    }
    producer.join();
    sink.Stop();
    std::sort(latencies.begin(), latencies.end());
    auto pct = [&](double p) {
      return latencies.empty() ? -1.0
                               : latencies[std::min(latencies.size() - 1,
                                                    static_cast<size_t>(p * latencies.size()))];
    };
    state.SetIterationTime(Seconds(run));
    state.counters["events"] = static_cast<double>(latencies.size());
    state.counters["produced"] = produced.load();
    state.counters["p50_ms"] = pct(0.50);
    state.counters["p99_ms"] = pct(0.99);
    state.counters["max_ms"] = latencies.empty() ? -1 : latencies.back();
  }
}
// Args: events/s, ISS_STORAGE_BATCH_WAIT in ms (100 = the default).
BENCHMARK(BM_CommittedLatency)
    ->Args({10000, 100})
    ->Args({10000, 20})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// --- 1 h window of one item over a large table --------------------------------
struct WindowTable {
  std::string dsn;
  absl::Time start;
  int items = 100;
  int64_t per_item = 0;
};

const WindowTable& Table() {
  static WindowTable* t = [] {
    auto* t = new WindowTable();
    const char* env = std::getenv("ISS_BENCH_WINDOW_ROWS");
    const int64_t rows = env ? std::atoll(env) : 10'000'000;
    t->per_item = rows / t->items;
    t->dsn = MigratedDb();
    // Whole seconds, one update per item per second, ending an hour ago.
    t->start = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) - t->per_item - 3600);
    auto conn = pg::Connect(t->dsn);
    PartitionManager parts(absl::InfiniteDuration());
    std::vector<int64_t> days;
    for (int64_t d = UtcDay(absl::ToUnixMicros(t->start));
         d <= UtcDay(absl::ToUnixMicros(absl::Now())); ++d) {
      days.push_back(d);
    }
    (void)parts.Ensure(**conn, days);
    const absl::Time load_start = absl::Now();
    absl::Status s = pg::Guard([&] {
      pqxx::nontransaction tx(**conn);
      tx.exec("SET maintenance_work_mem = '256MB'");
      // One item at a time keeps each statement's footprint small.
      for (int item = 0; item < t->items; ++item) {
        tx.exec_params(
            "INSERT INTO telemetry (item_id, source_ts, event_id, ingest_ts, value, value_num,"
            " status_class, source, signal, schema_version)"
            " SELECT $1, to_timestamp($2::bigint + g), md5($1 || g) || md5(g || $1),"
            "  to_timestamp($2::bigint + g), (g % 100)::text, (g % 100)::float8, '24', 'bench', 2, "
            "1"
            " FROM generate_series(0, $3::bigint - 1) g",
            absl::StrCat("ITEM_", item), absl::ToUnixSeconds(t->start), t->per_item);
      }
      tx.exec("ANALYZE telemetry");
    });
    if (!s.ok()) {
      fprintf(stderr, "load failed: %s\n", s.ToString().c_str());
      std::exit(1);
    }
    fprintf(stderr, "window table: %lld rows loaded in %.1f s\n",
            static_cast<long long>(t->per_item) * t->items, Seconds(absl::Now() - load_start));
    return t;
  }();
  return *t;
}

void BM_WindowQuery1h(benchmark::State& state) {
  const WindowTable& t = Table();
  ConnectionPool pool(t.dsn, 1);
  QueryStore store(&pool, QueryLimits{});
  std::mt19937_64 rng(42);
  std::vector<double> ms;
  int64_t rows = 0;
  for (auto _ : state) {
    iss::storage::v1::QueryWindowRequest req;
    req.add_item_ids(absl::StrCat("ITEM_", rng() % t.items));
    const int64_t max_offset = std::max<int64_t>(1, t.per_item - 3600);
    const absl::Time from = t.start + absl::Seconds(static_cast<int64_t>(rng() % max_offset));
    SetTimestampMicros(absl::ToUnixMicros(from), req.mutable_start_time());
    SetTimestampMicros(absl::ToUnixMicros(from + absl::Hours(1)), req.mutable_end_time());
    req.set_page_size(10000);
    const absl::Time q0 = absl::Now();
    auto resp = store.QueryWindow(req);
    ms.push_back(Seconds(absl::Now() - q0) * 1e3);
    if (!resp.ok()) {
      state.SkipWithError(resp.status().ToString().c_str());
      break;
    }
    rows += resp->events_size();
  }
  std::sort(ms.begin(), ms.end());
  if (!ms.empty()) {
    state.counters["p50_ms"] = ms[ms.size() / 2];
    state.counters["p99_ms"] = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
    state.counters["rows_per_query"] = static_cast<double>(rows) / static_cast<double>(ms.size());
    state.counters["table_rows"] = static_cast<double>(t.per_item * t.items);
  }
}
BENCHMARK(BM_WindowQuery1h)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
}  // namespace iss::storage

int main(int argc, char** argv) {
  iss::log::Init("storage-bench", iss::log::Level::kWarn);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

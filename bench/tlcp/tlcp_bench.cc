// TLCP benchmarks:
//
//   BM_SessionDecode      compact U lines (as the simulator writes them for the
//                         catalog) -> Session::OnLine -> RawUpdate to a sink that
//                         drops them. Lines/s of the client's decoding on one core.
//   BM_EncodeUpdate       the server side: EncodeUpdate of one changed item.
//   BM_SimulatorToClient  iss-simulator -> loopback WebSocket -> Client ->
//                         decoded RawUpdates; updates/s end to end (both ends in
//                         this process; the simulator's model is a share of it).
//
//   taskset -c 0 build/dev/bench/tlcp/tlcp_bench --benchmark_min_time=0.2
#include <atomic>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "common/catalog.h"
#include "common/log.h"
#include "services/ingestion/tlcp/client.h"
#include "services/ingestion/tlcp/session.h"
#include "tools/simulator/model.h"
#include "tools/simulator/server.h"

namespace iss::tlcp {
namespace {

class CountingSink : public ingest::UpdateSink {
 public:
  bool Deliver(ingest::RawUpdate u) override {
    benchmark::DoNotOptimize(u);
    count.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  std::atomic<uint64_t> count{0};
};

std::vector<std::string> CatalogItems() {
  std::vector<std::string> items;
  for (const CatalogItem& c : Catalog::Embedded().items()) items.push_back(c.item_id);
  return items;
}

// U lines for one subscription of every catalog item, as a server would send
// them: a snapshot, then compact updates from the telemetry model.
std::vector<std::string> MakeLines(size_t n) {
  sim::Scenario s;
  s.updates_per_second = 1000;
  const std::vector<std::string> items = CatalogItems();
  sim::TelemetryModel model(s, items, absl::Now());
  std::vector<FieldValues> last(items.size());
  std::vector<std::string> lines;
  for (size_t i = 0; i < items.size(); ++i) {
    lines.push_back(absl::StrCat("U,1,", i + 1, ",", EncodeUpdate(nullptr, model.Current(i))));
    last[i] = model.Current(i);
  }
  std::vector<sim::TelemetryModel::Change> changes;
  absl::Duration t;
  while (lines.size() < n) {
    t += absl::Seconds(1);
    changes.clear();
    model.AdvanceTo(t, &changes);
    for (auto& c : changes) {
      lines.push_back(absl::StrCat("U,1,", c.item + 1, ",", EncodeUpdate(&last[c.item], c.values)));
      last[c.item] = c.values;
    }
  }
  return lines;
}

void BM_SessionDecode(benchmark::State& state) {
  const std::vector<std::string> lines = MakeLines(200000);
  SessionOptions o;
  o.items = CatalogItems();
  o.items_per_request = 100000;  // one subscription: subId 1
  CountingSink sink;
  const absl::Time now = absl::Now();
  size_t i = 0;
  Session session(o, &sink, nullptr);
  session.Open();
  session.OnLine("CONOK,S1,50000,5000,*", now);
  for (auto _ : state) {
    session.OnLine(lines[i], now);
    if (++i == lines.size()) i = o.items.size();  // loop over the compact part
  }
  state.SetItemsProcessed(state.iterations());
  size_t bytes = 0;
  for (const auto& l : lines) bytes += l.size();
  state.counters["avg_line_bytes"] = static_cast<double>(bytes) / lines.size();
}
BENCHMARK(BM_SessionDecode);

void BM_EncodeUpdate(benchmark::State& state) {
  const FieldValues prev = {"42.1234", "4224.014583888915", "24", "", "", std::nullopt};
  const FieldValues next = {"42.5678", "4224.014594444444", "24", "", "", std::nullopt};
  for (auto _ : state) benchmark::DoNotOptimize(EncodeUpdate(&prev, next));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeUpdate);

void BM_SimulatorToClient(benchmark::State& state) {
  log::Init("tlcp_bench", log::Level::kWarn);
  sim::Scenario s;
  s.urinations_per_hour = 0;
  sim::SimulatorOptions so;
  so.address = "127.0.0.1:0";
  so.rate = static_cast<double>(state.range(0));
  so.tick = absl::Milliseconds(2);
  auto sim = sim::Simulator::Start(s, so);
  if (!sim.ok()) {
    state.SkipWithError("simulator did not start");
    return;
  }
  CountingSink sink;
  ClientOptions o;
  o.host = "127.0.0.1";
  o.port = (*sim)->port();
  o.tls = false;
  o.items = CatalogItems();
  Client client(o, &sink);
  (void)client.Start();
  // Wait for the snapshot before measuring.
  while (sink.count.load() < o.items.size()) absl::SleepFor(absl::Milliseconds(1));
  constexpr uint64_t kPerIteration = 20000;
  uint64_t received = 0;
  for (auto _ : state) {
    const uint64_t target = sink.count.load() + kPerIteration;
    while (sink.count.load() < target) absl::SleepFor(absl::Microseconds(200));
    received += kPerIteration;
  }
  state.SetItemsProcessed(static_cast<int64_t>(received));
  client.Stop();
  (*sim)->Stop();
}
BENCHMARK(BM_SimulatorToClient)
    ->Arg(50000)
    ->Arg(200000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace iss::tlcp

BENCHMARK_MAIN();

// iss-loadgen: drives the whole pipeline at a chosen rate for a chosen time and
// reports throughput and latency per hop. It brings the platform up on
// loopback itself (the e2e harness: throwaway PostgreSQL, mock Kafka cluster,
// the real iss-ingestion / iss-storage / iss-peebot / iss-gateway binaries),
// feeds ingestion through the simulator's rate mode over real TLCP, and
// watches the gateway's SSE tail, so every hop measured is a real one:
//
//   simulator --TLCP--> ingestion --ack--> broker --> storage commit --> REST tail
//
// Per hop: ingest->ack (iss_ingest_ingest_to_ack_seconds), ingest->committed
// (iss_storage_ingest_to_commit_seconds), both from the services' histograms
// (bucket upper bounds), and ingest->visible / source->visible measured per
// event from the SSE tail. RSS of every service is sampled from /proc each
// second (the soak mode is just a long duration).
#include <iostream>

#include "absl/strings/str_format.h"
#include "common/catalog.h"
#include "common/config.h"
#include "tests/e2e/platform.h"
#include "tests/support/wait.h"
#include "tools/loadgen/report.h"

int main(int argc, char** argv) {
  using namespace iss;
  EnvConfig cfg("loadgen");
  const double* rate = cfg.Double("ISS_LOADGEN_RATE", 70, 1, 10000000,
                                  "Target updates per second over all items (70 = ISSLIVE's pace)");
  const absl::Duration* duration =
      cfg.Duration("ISS_LOADGEN_DURATION", absl::Seconds(30), absl::Seconds(1), absl::Hours(24),
                   "How long to drive load");
  const int64_t* item_count = cfg.Int("ISS_LOADGEN_ITEMS", 100, 1, 100000,
                                      "Background items (from the catalog) to spread load over");
  const absl::Duration* drain =
      cfg.Duration("ISS_LOADGEN_DRAIN", absl::Seconds(60), absl::Seconds(1), absl::Hours(1),
                   "How long to wait for the tail to catch up");
  cfg.LoadOrExit(argc, argv);

  std::vector<std::string> items = {std::string(kUrineTankItem), std::string(kUrineProcessorItem),
                                    std::string(kTimeItem)};
  for (const CatalogItem& c : Catalog::Embedded().items()) {
    if (static_cast<int64_t>(items.size()) >= *item_count + 3) break;
    if (c.item_id != kUrineTankItem && c.item_id != kUrineProcessorItem) items.push_back(c.item_id);
  }
  e2e::PlatformOptions po;
  po.items = items;
  po.scenario.seed = 3;
  po.scenario.updates_per_second = *rate;
  po.scenario.urinations_per_hour = 0;
  po.scenario.flicker_per_hour = 0;
  po.record = false;
  po.tag = "loadgen";
  std::cerr << "starting the platform (logs: /tmp/iss-loadgen-*.log)...\n";
  auto platform = e2e::Platform::Start(po);
  if (!platform.ok()) {
    std::cerr << "platform: " << platform.status() << "\n";
    return 1;
  }
  e2e::Platform& p = **platform;
  auto tail = e2e::SseTail::Open(p.gateway_port(), "/api/v1/telemetry:tail");
  if (!tail.ok()) {
    std::cerr << "tail: " << tail.status() << "\n";
    return 1;
  }
  if (auto s = p.StartFeed(); !s.ok()) {
    std::cerr << "feed: " << s << "\n";
    return 1;
  }

  // --- drive, with a live progress line --------------------------------------
  const absl::Time start = absl::Now();
  uint64_t last_sent = 0;
  size_t last_visible = 0;
  loadgen::RssWatch rss;
  while (absl::Now() - start < *duration) {
    absl::SleepFor(absl::Seconds(1));
    const uint64_t sent = p.simulator().stats().updates_sent;
    const size_t visible = (*tail)->count();
    const std::string rss_line = rss.Sample(p, absl::Now() - start < *duration / 10);
    std::cerr << absl::StreamFormat("\r[%4.0fs] sent %llu (%llu/s) visible %zu (%zu/s) rss%s   ",
                                    absl::ToDoubleSeconds(absl::Now() - start), sent,
                                    sent - last_sent, visible, visible - last_visible, rss_line)
              << std::flush;
    last_sent = sent;
    last_visible = visible;
  }
  p.StopSimulator();
  const absl::Duration driven = absl::Now() - start;
  const uint64_t sent = p.simulator().stats().updates_sent;
  std::cerr << "\nsimulator stopped; waiting for the tail to catch up...\n";
  // Sent lines can repeat an identical update (same event_id): the tail shows each once.
  size_t prev = 0;
  absl::Time stable_since = absl::Now();
  iss::testing::WaitFor(
      [&] {
        const size_t n = (*tail)->count();
        if (n != prev) {
          prev = n;
          stable_since = absl::Now();
        }
        return n >= sent || absl::Now() - stable_since > absl::Seconds(3);
      },
      *drain, absl::Milliseconds(50));

  loadgen::PrintReport(std::cout, {*rate, driven, items.size()}, p, **tail, rss);
  return 0;
}

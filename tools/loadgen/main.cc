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
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/catalog.h"
#include "common/config.h"
#include "common/strings.h"
#include "tests/e2e/platform.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace {

using iss::e2e::Percentile;

// A percentile from a Prometheus histogram's cumulative buckets: the upper
// bound of the first bucket holding the p-th observation.
std::string HistogramPercentiles(const std::string& metrics, const std::string& name) {
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative count)
  for (absl::string_view line : absl::StrSplit(iss::AsAbsl(metrics), '\n')) {
    const std::string prefix = absl::StrCat(name, "_bucket{le=\"");
    if (!absl::StartsWith(line, prefix)) continue;
    line.remove_prefix(prefix.size());
    const size_t q = line.find('"');
    const size_t sp = line.rfind(' ');
    if (q == absl::string_view::npos || sp == absl::string_view::npos) continue;
    double le = 0, count = 0;
    const std::string le_text(line.substr(0, q));
    if (le_text == "+Inf") {
      le = 1e18;
    } else if (!absl::SimpleAtod(le_text, &le)) {
      continue;
    }
    if (!absl::SimpleAtod(line.substr(sp + 1), &count)) continue;
    buckets.emplace_back(le, count);
  }
  if (buckets.empty() || buckets.back().second == 0) return "n/a";
  const double total = buckets.back().second;
  auto at = [&](double p) {
    for (const auto& [le, c] : buckets) {
      if (c >= p / 100.0 * total)
        return le >= 1e18 ? std::string("+Inf") : absl::StrFormat("<=%gms", le * 1e3);
    }
    return std::string("?");
  };
  return absl::StrFormat("n=%.0f p50 %s p99 %s", total, at(50), at(99));
}

std::string Fmt(absl::Duration d) {
  return absl::StrFormat("%.1fms", absl::ToDoubleMilliseconds(d));
}

}  // namespace

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
  // RSS per service: after 10 % of the run (warmed up), at the end, and the peak.
  std::map<std::string, double> max_rss, warm_rss, last_rss;
  while (absl::Now() - start < *duration) {
    absl::SleepFor(absl::Seconds(1));
    const uint64_t sent = p.simulator().stats().updates_sent;
    const size_t visible = (*tail)->count();
    std::string rss;
    for (auto [name, child] : {std::pair{"ingestion", p.ingestion()},
                               {"storage", &p.storage()},
                               {"peebot", p.peebot()},
                               {"gateway", p.gateway()}}) {
      if (child == nullptr) continue;
      const double mib = iss::testing::RssMiB(child->pid());
      max_rss[name] = std::max(max_rss[name], mib);
      last_rss[name] = mib;
      if (absl::Now() - start < *duration / 10 || !warm_rss.count(name)) warm_rss[name] = mib;
      absl::StrAppendFormat(&rss, " %s=%.0fMiB", name, mib);
    }
    std::cerr << absl::StreamFormat("\r[%4.0fs] sent %llu (%llu/s) visible %zu (%zu/s) rss%s   ",
                                    absl::ToDoubleSeconds(absl::Now() - start), sent,
                                    sent - last_sent, visible, visible - last_visible, rss)
              << std::flush;
    last_sent = sent;
    last_visible = visible;
  }
  p.StopSimulator();
  const absl::Duration driven = absl::Now() - start;
  const auto stats = p.simulator().stats();
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
        return n >= stats.updates_sent || absl::Now() - stable_since > absl::Seconds(3);
      },
      *drain, absl::Milliseconds(50));

  // --- report -----------------------------------------------------------------
  const auto lat = (*tail)->latencies();
  std::vector<absl::Duration> source_vis, ingest_vis;
  for (const auto& [s, i] : lat) {
    source_vis.push_back(s);
    ingest_vis.push_back(i);
  }
  auto ingest_metrics = iss::testing::HttpGet(p.ingestion_ops_port(), "/metrics");
  auto storage_metrics = iss::testing::HttpGet(p.storage_ops_port(), "/metrics");
  auto counts = p.CountInDb();
  std::cout << absl::StreamFormat(
      "target %.0f/s for %.1fs over %zu items\n"
      "  sent by simulator: %llu (%.0f/s), skipped by simulator (could not keep up): %llu\n"
      "  visible on REST tail: %zu (tail re-subscribed %llu times after the server dropped "
      "it as too slow); rows in PostgreSQL: %lld (distinct event_id %lld)\n",
      *rate, absl::ToDoubleSeconds(driven), items.size(), stats.updates_sent,
      static_cast<double>(stats.updates_sent) / absl::ToDoubleSeconds(driven),
      stats.updates_skipped, (*tail)->count(),
      static_cast<unsigned long long>((*tail)->reconnects()), counts.ok() ? counts->rows : -1,
      counts.ok() ? counts->distinct_ids : -1);
  std::cout << "  ingest->ack       (ingestion histogram): "
            << (ingest_metrics.ok() ? HistogramPercentiles(ingest_metrics->second,
                                                           "iss_ingest_ingest_to_ack_seconds")
                                    : "n/a")
            << "\n  ingest->committed (storage histogram):   "
            << (storage_metrics.ok() ? HistogramPercentiles(storage_metrics->second,
                                                            "iss_storage_ingest_to_commit_seconds")
                                     : "n/a")
            << "\n  ingest->visible   (REST tail, per event): p50 "
            << Fmt(Percentile(ingest_vis, 50)) << " p99 " << Fmt(Percentile(ingest_vis, 99))
            << " max " << Fmt(Percentile(ingest_vis, 100))
            << "\n  source->visible   (REST tail, per event): p50 "
            << Fmt(Percentile(source_vis, 50)) << " p99 " << Fmt(Percentile(source_vis, 99))
            << " max " << Fmt(Percentile(source_vis, 100))
            << "\n  RSS MiB (after 10 % of the run -> end, peak):";
  for (const auto& [name, mib] : max_rss) {
    std::cout << absl::StreamFormat(" %s %.0f->%.0f (%.0f)", name, warm_rss[name], last_rss[name],
                                    mib);
  }
  std::cout << std::endl;
  return 0;
}

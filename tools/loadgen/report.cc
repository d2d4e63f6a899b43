#include "tools/loadgen/report.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/strings.h"
#include "tests/support/process.h"

namespace iss::loadgen {
namespace {

std::string Fmt(absl::Duration d) {
  return absl::StrFormat("%.1fms", absl::ToDoubleMilliseconds(d));
}

std::string MetricPercentiles(int ops_port, const std::string& name) {
  auto metrics = iss::testing::HttpGet(ops_port, "/metrics");
  return metrics.ok() ? HistogramPercentiles(metrics->second, name) : "n/a";
}

}  // namespace

std::string RssWatch::Sample(e2e::Platform& p, bool warming_up) {
  std::string line;
  for (auto [name, child] : {std::pair{"ingestion", p.ingestion()},
                             {"storage", &p.storage()},
                             {"peebot", p.peebot()},
                             {"gateway", p.gateway()}}) {
    if (child == nullptr) continue;
    const double mib = iss::testing::RssMiB(child->pid());
    max_[name] = std::max(max_[name], mib);
    last_[name] = mib;
    if (warming_up || !warm_.count(name)) warm_[name] = mib;
    absl::StrAppendFormat(&line, " %s=%.0fMiB", name, mib);
  }
  return line;
}

void RssWatch::Print(std::ostream& out) const {
  out << "  RSS MiB (after 10 % of the run -> end, peak):";
  for (const auto& [name, mib] : max_) {
    out << absl::StreamFormat(" %s %.0f->%.0f (%.0f)", name, warm_.at(name), last_.at(name), mib);
  }
  out << std::endl;
}

std::string HistogramPercentiles(const std::string& metrics, const std::string& name) {
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative count)
  const std::string prefix = absl::StrCat(name, "_bucket{le=\"");
  for (absl::string_view line : absl::StrSplit(iss::AsAbsl(metrics), '\n')) {
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

void PrintReport(std::ostream& out, const RunFacts& run, e2e::Platform& p, e2e::SseTail& tail,
                 const RssWatch& rss) {
  const auto stats = p.simulator().stats();
  std::vector<absl::Duration> source_vis, ingest_vis, source_ingest;
  for (const auto& [s, i] : tail.latencies()) {
    source_vis.push_back(s);
    ingest_vis.push_back(i);
    source_ingest.push_back(s - i);  // ingest_ts - source_ts: the first hop alone
  }
  auto counts = p.CountInDb();
  out << absl::StreamFormat(
      "target %.0f/s for %.1fs over %zu items\n"
      "  sent by simulator: %llu (%.0f/s), skipped by simulator (could not keep up): %llu\n"
      "  visible on REST tail: %zu (tail re-subscribed %llu times after the server dropped "
      "it as too slow); rows in PostgreSQL: %lld (distinct event_id %lld)\n",
      run.rate, absl::ToDoubleSeconds(run.driven), run.items, stats.updates_sent,
      static_cast<double>(stats.updates_sent) / absl::ToDoubleSeconds(run.driven),
      stats.updates_skipped, tail.count(), static_cast<unsigned long long>(tail.reconnects()),
      counts.ok() ? counts->rows : -1, counts.ok() ? counts->distinct_ids : -1);
  out << "  source->ingest    (ingest_ts - source_ts, per event): p50 "
      << Fmt(e2e::Percentile(source_ingest, 50)) << " p99 "
      << Fmt(e2e::Percentile(source_ingest, 99)) << " max "
      << Fmt(e2e::Percentile(source_ingest, 100)) << "\n  ingest->ack       (ingestion histogram): "
      << MetricPercentiles(p.ingestion_ops_port(), "iss_ingest_ingest_to_ack_seconds")
      << "\n  ingest->committed (storage histogram):   "
      << MetricPercentiles(p.storage_ops_port(), "iss_storage_ingest_to_commit_seconds")
      << "\n  batch write+commit (storage histogram):  "
      << MetricPercentiles(p.storage_ops_port(), "iss_storage_batch_seconds")
      << "\n  ingest->visible   (REST tail, per event): p50 "
      << Fmt(e2e::Percentile(ingest_vis, 50)) << " p99 " << Fmt(e2e::Percentile(ingest_vis, 99))
      << " max " << Fmt(e2e::Percentile(ingest_vis, 100))
      << "\n  source->visible   (REST tail, per event): p50 "
      << Fmt(e2e::Percentile(source_vis, 50)) << " p99 " << Fmt(e2e::Percentile(source_vis, 99))
      << " max " << Fmt(e2e::Percentile(source_vis, 100)) << "\n";
  rss.Print(out);
}

}  // namespace iss::loadgen

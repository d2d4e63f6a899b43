// What iss-loadgen measures and prints, apart from driving the load: RSS per
// service over the run, percentiles from the services' Prometheus histograms,
// and the final report.
#ifndef ISS_TOOLS_LOADGEN_REPORT_H_
#define ISS_TOOLS_LOADGEN_REPORT_H_

#include <cstdint>
#include <map>
#include <ostream>
#include <string>

#include "absl/time/time.h"
#include "tests/e2e/platform.h"

namespace iss::loadgen {

// RSS of every running service of the platform: a warmed-up figure (the last
// sample within the first 10 % of the run), the last one and the peak.
class RssWatch {
 public:
  // Samples each service once; returns " name=NNMiB ..." for the progress line.
  std::string Sample(e2e::Platform& p, bool warming_up);
  void Print(std::ostream& out) const;

 private:
  std::map<std::string, double> max_, warm_, last_;
};

// "n=N p50 <=Xms p99 <=Yms" from the cumulative buckets of the histogram
// `name` in a Prometheus text exposition (bucket upper bounds), or "n/a".
std::string HistogramPercentiles(const std::string& metrics, const std::string& name);

struct RunFacts {
  double rate = 0;
  absl::Duration driven;
  size_t items = 0;
};

// Prints throughput, the per-hop latencies (services' histograms and the REST
// tail's per-event figures) and RSS to `out`.
void PrintReport(std::ostream& out, const RunFacts& run, e2e::Platform& p, e2e::SseTail& tail,
                 const RssWatch& rss);

}  // namespace iss::loadgen

#endif  // ISS_TOOLS_LOADGEN_REPORT_H_

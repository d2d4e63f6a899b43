// Owns: the process's one Prometheus registry and small helpers to declare
// metrics on it. Exposure over HTTP is the OpsServer's job (ops_server.h).
//
// Naming: `iss_<service>_...` for our own metrics, base units (`_seconds`,
// `_bytes`), `_total` on counters, no unbounded label values.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace iss::metrics {

// The process-wide registry (created on first use).
prometheus::Registry& Registry();
std::shared_ptr<prometheus::Registry> RegistryPtr();

prometheus::Family<prometheus::Counter>& CounterFamily(const std::string& name,
                                                       const std::string& help);
prometheus::Family<prometheus::Gauge>& GaugeFamily(const std::string& name,
                                                   const std::string& help);
prometheus::Family<prometheus::Histogram>& HistogramFamily(const std::string& name,
                                                           const std::string& help);

// Unlabelled shortcuts.
prometheus::Counter& Counter(const std::string& name, const std::string& help);
prometheus::Gauge& Gauge(const std::string& name, const std::string& help);
prometheus::Histogram& Histogram(const std::string& name, const std::string& help,
                                 const std::vector<double>& buckets);

// Bucket sets in seconds: 100 us .. 10 s, for latencies of our own hops.
const std::vector<double>& LatencyBuckets();

// The text exposition of the registry (what /metrics answers).
std::string Serialize();

}  // namespace iss::metrics

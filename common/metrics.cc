#include "common/metrics.h"

#include <sstream>

#include "prometheus/text_serializer.h"

namespace iss::metrics {

std::shared_ptr<prometheus::Registry> RegistryPtr() {
  static auto* registry = new std::shared_ptr<prometheus::Registry>(
      std::make_shared<prometheus::Registry>(prometheus::Registry::InsertBehavior::Merge));
  return *registry;
}

prometheus::Registry& Registry() { return *RegistryPtr(); }

// Registry::InsertBehavior::Merge returns the existing family when a name is
// declared twice with the same help, so components may declare what they use.
prometheus::Family<prometheus::Counter>& CounterFamily(const std::string& name,
                                                       const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(Registry());
}
prometheus::Family<prometheus::Gauge>& GaugeFamily(const std::string& name,
                                                   const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(Registry());
}
prometheus::Family<prometheus::Histogram>& HistogramFamily(const std::string& name,
                                                           const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(Registry());
}

prometheus::Counter& Counter(const std::string& name, const std::string& help) {
  return CounterFamily(name, help).Add({});
}
prometheus::Gauge& Gauge(const std::string& name, const std::string& help) {
  return GaugeFamily(name, help).Add({});
}
prometheus::Histogram& Histogram(const std::string& name, const std::string& help,
                                 const std::vector<double>& buckets) {
  return HistogramFamily(name, help).Add({}, buckets);
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> buckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                              0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                              1,      2.5,     5,      10};
  return buckets;
}

std::string Serialize() {
  prometheus::TextSerializer serializer;
  std::ostringstream out;
  serializer.Serialize(out, Registry().Collect());
  return out.str();
}

}  // namespace iss::metrics

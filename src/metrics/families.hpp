// Building a scrape's metric families: every collector (collector.cpp, db_metrics.cpp,
// write_metrics.cpp, process_metrics.cpp) appends its families with these.
#pragma once

#include <prometheus/metric_family.h>

#include <utility>
#include <vector>

namespace sidecache::metrics {

using Labels = std::vector<prometheus::ClientMetric::Label>;

// Appends an empty family to `out`; the reference is valid until the next one is appended.
inline prometheus::MetricFamily& add_family(std::vector<prometheus::MetricFamily>& out,
                                            const char* name, const char* help,
                                            prometheus::MetricType type) {
  out.push_back(prometheus::MetricFamily{name, help, type, {}});
  return out.back();
}

// One sample of a counter or gauge family.
inline void add_value(prometheus::MetricFamily& family, double value, Labels labels = {}) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  if (family.type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
}

}  // namespace sidecache::metrics

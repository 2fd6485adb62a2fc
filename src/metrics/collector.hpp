// The Prometheus view of sidecache: sums every worker's statistics into metric families on each
// scrape (the data path only bumps its own per-worker counters; see sidecache/stats.hpp).
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <string>
#include <vector>

#include "db/stats.hpp"
#include "sidecache/node_totals.hpp"
#include "sidecache/process_stats.hpp"

namespace sidecache::metrics {

// Nodes in config order, then any other names the workers report (e.g. during a reload).
std::vector<NodeTotals> node_totals(const ProcessStats& process);

class Collector final : public prometheus::Collectable {
 public:
  explicit Collector(const ProcessStats& process) : process_(process) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const ProcessStats& process_;
};

// The text exposition format 0.0.4 of `families`.
std::string serialize(const std::vector<prometheus::MetricFamily>& families);

// sidecache_db_* metrics (the database threads) appended to `out`.
void collect_db_metrics(const db::ExecutorStats& stats, std::vector<prometheus::MetricFamily>& out);

// sidecache_write_* metrics (the write modes) appended to `out`.
void collect_write_metrics(const write::WriteStats& stats,
                           std::vector<prometheus::MetricFamily>& out);

// sidecache_sentinel_* metrics (sentinel pools only) appended to `out`.
void collect_sentinel_metrics(const ProcessStats& process,
                              std::vector<prometheus::MetricFamily>& out);
// sidecache_l1_* metrics (the near cache), when it is on.
void collect_near_cache_metrics(const ProcessStats& process,
                                std::vector<prometheus::MetricFamily>& out);

// process_* metrics (resident memory, CPU seconds, open fds, ...) appended to `out`.
void collect_process_metrics(const ProcessStats& process,
                             std::vector<prometheus::MetricFamily>& out);

}  // namespace sidecache::metrics

// The Prometheus view of sidecache: sums every worker's statistics into metric families on each
// scrape (the data path only bumps its own per-worker counters; see sidecache/stats.hpp).
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dispatch/process_state.hpp"

namespace sidecache::metrics {

// One backend node summed over workers (by node name).
struct NodeTotals {
  std::string name;
  bool up = false;  // at least one worker has a connection established
  std::uint64_t requests = 0, errors_timeout = 0, errors_connection = 0, errors_reply = 0;
  std::uint64_t auth_failures = 0, tls_failures = 0;
  std::uint64_t connects = 0, connect_failures = 0, retries = 0;
  std::uint64_t ejections = 0;  // the largest count any worker saw (each sees every ejection)
  bool healthy = true;          // false while the health checker has the node down
  std::int64_t connections = 0, inflight = 0;
  std::vector<std::uint64_t> buckets;  // non-cumulative, Histogram::kBounds.size() + 1
  double latency_sum = 0;
};

// Nodes in config order, then any other names the workers report (e.g. during a reload).
std::vector<NodeTotals> node_totals(const dispatch::ProcessState& process);

class Collector final : public prometheus::Collectable {
 public:
  explicit Collector(const dispatch::ProcessState& process) : process_(process) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const dispatch::ProcessState& process_;
};

// The text exposition format 0.0.4 of `families`.
std::string serialize(const std::vector<prometheus::MetricFamily>& families);

// sidecache_db_* metrics (the database threads) appended to `out`.
void collect_db_metrics(const db::ExecutorStats& stats, std::vector<prometheus::MetricFamily>& out);

// process_* metrics (resident memory, CPU seconds, open fds, ...) appended to `out`.
void collect_process_metrics(const dispatch::ProcessState& process,
                             std::vector<prometheus::MetricFamily>& out);

}  // namespace sidecache::metrics

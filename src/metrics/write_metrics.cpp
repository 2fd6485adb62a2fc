// sidecache_write_* and sidecache_invalidations_total: the write modes' statistics
// (write/stats.hpp, whose table names the plain counters), read at scrape time.
#include <limits>

#include "metrics/collector.hpp"
#include "metrics/families.hpp"
#include "write/stats.hpp"

namespace sidecache::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// A histogram from non-cumulative bucket counts (one more than `bounds`: the +Inf bucket).
template <typename Bounds, typename Buckets>
void histogram(MetricFamily& f, const Bounds& bounds, const Buckets& buckets, double sum) {
  ClientMetric m;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    cumulative += buckets[i].load(std::memory_order_relaxed);
    const double bound = i < bounds.size() ? static_cast<double>(bounds[i])
                                           : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back({cumulative, bound});
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = sum;
  f.metric.push_back(std::move(m));
}

}  // namespace

void collect_write_metrics(const write::WriteStats& stats, std::vector<MetricFamily>& out) {
  const auto relaxed = std::memory_order_relaxed;
  auto& requests =
      add_family(out, "sidecache_write_requests_total",
                 "Client writes to write-mode policy keys, by mode", MetricType::Counter);
  for (std::size_t i = 1; i < write::kWriteModeNames.size(); ++i) {
    add_value(requests, static_cast<double>(stats.writes[i].get()),
              {{"mode", write::kWriteModeNames[i]}});
  }
  auto& policies = add_family(out, "sidecache_write_policies",
                              "Cache policies in force by write mode (changes with a reload)",
                              MetricType::Gauge);
  for (std::size_t i = 0; i < write::kWriteModeNames.size(); ++i) {
    add_value(policies, static_cast<double>(stats.policies[i].load(relaxed)),
              {{"mode", write::kWriteModeNames[i]}});
  }
  for (const auto& spec : write::kWriteCounters) {
    add_value(add_family(out, spec.name, spec.help, MetricType::Counter),
              static_cast<double>((stats.*(spec.member)).get()));
  }
  for (const auto& spec : write::kBackgroundCounters) {
    add_value(add_family(out, spec.name, spec.help, MetricType::Counter),
              static_cast<double>((stats.*(spec.member)).load(relaxed)));
  }
  histogram(add_family(out, "sidecache_write_behind_batch_size",
                       "Entries per write-behind database transaction", MetricType::Histogram),
            write::WriteStats::kBatchBounds, stats.batch_size,
            static_cast<double>(stats.batch_size_sum.load(relaxed)));
  histogram(add_family(out, "sidecache_write_behind_flush_seconds",
                       "Duration of one write-behind database transaction", MetricType::Histogram),
            write::WriteStats::kLatencyBounds, stats.flush_latency,
            static_cast<double>(stats.flush_latency_ns.load(relaxed)) / 1e9);
  auto& depth = add_family(out, "sidecache_write_behind_queue_depth",
                           "Entries in the node's write-behind queue (last seen by its flusher)",
                           MetricType::Gauge);
  for (const auto& n : stats.nodes) {
    add_value(depth, static_cast<double>(n->depth.load(relaxed)), {{"node", n->node}});
  }
  auto& age =
      add_family(out, "sidecache_write_behind_oldest_age_seconds",
                 "Age of the oldest entry in the node's write-behind queue", MetricType::Gauge);
  for (const auto& n : stats.nodes) {
    add_value(age, static_cast<double>(n->oldest_age_ms.load(relaxed)) / 1000.0,
              {{"node", n->node}});
  }
}

}  // namespace sidecache::metrics

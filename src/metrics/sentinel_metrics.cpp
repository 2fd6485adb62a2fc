// sidecache_sentinel_*: a sentinel pool's statistics (sidecache/sentinel_stats.hpp, whose table
// names the counters) and the primary in use, labelled with the master's name.
#include "config/config.hpp"
#include "metrics/collector.hpp"
#include "metrics/families.hpp"

namespace sidecache::metrics {

using prometheus::MetricFamily;
using prometheus::MetricType;

void collect_sentinel_metrics(const ProcessStats& process, std::vector<MetricFamily>& out) {
  const auto config = process.current_config();
  if (!config || config->pool.type != config::PoolType::kSentinel) return;
  const auto& pool = config->pool;
  const auto& stats = process.sentinel;
  const Labels master = {{"master", pool.sentinel.master}};
  for (const auto& spec : kSentinelCounters) {
    add_value(add_family(out, spec.name, spec.help, MetricType::Counter),
              static_cast<double>((stats.*(spec.member)).load(std::memory_order_relaxed)), master);
  }
  add_value(add_family(out, "sidecache_sentinel_subscriptions",
                       "Sentinels whose +switch-master channel sidecache is subscribed to now.",
                       MetricType::Gauge),
            static_cast<double>(stats.subscriptions.load(std::memory_order_relaxed)), master);
  const bool known = pool.unresolved.empty() && !pool.nodes.empty();
  add_value(add_family(out, "sidecache_sentinel_primary_known",
                       "1 while the pool has a primary (verified with ROLE); 0 while requests "
                       "are refused for want of one.",
                       MetricType::Gauge),
            known ? 1 : 0, master);
  auto& info = add_family(out, "sidecache_sentinel_primary_info",
                          "The primary in use (address label), value 1; absent while none is "
                          "known.",
                          MetricType::Gauge);
  if (known) {
    add_value(info, 1,
              {{"master", pool.sentinel.master},
               {"address", config::format_endpoint(pool.nodes[0].address)}});
  }
}

}  // namespace sidecache::metrics

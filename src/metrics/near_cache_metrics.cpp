// sidecache_l1_*: the near cache's statistics (nearcache/stats_table.hpp names them) and the
// state of its tracking connections, read at scrape time.
#include "config/config.hpp"
#include "metrics/collector.hpp"
#include "metrics/families.hpp"
#include "nearcache/near_cache.hpp"
#include "nearcache/stats_table.hpp"

namespace sidecache::metrics {

using prometheus::MetricFamily;
using prometheus::MetricType;

void collect_near_cache_metrics(const ProcessStats& process, std::vector<MetricFamily>& out) {
  if (!process.near_cache) return;
  const nearcache::NearCache& near = *process.near_cache;
  const nearcache::StoreStats stats = near.store().stats();
  for (const auto& spec : nearcache::kCounters) {
    add_value(add_family(out, spec.name, spec.help, MetricType::Counter),
              static_cast<double>(stats.*(spec.member)));
  }
  for (const auto& spec : nearcache::kGauges) {
    add_value(add_family(out, spec.name, spec.help, MetricType::Gauge),
              static_cast<double>(stats.*(spec.member)));
  }
  auto& invalidations =
      add_family(out, "sidecache_l1_invalidations_total",
                 "Near cache entries dropped on purpose, by reason: write (through sidecache), "
                 "tracking (a Redis invalidation push), flush, node_lost",
                 MetricType::Counter);
  for (std::size_t i = 0; i < nearcache::kInvalidationReasonNames.size(); ++i) {
    add_value(invalidations, static_cast<double>(stats.invalidations[i]),
              {{"reason", nearcache::kInvalidationReasonNames[i]}});
  }
  auto& tracking = add_family(out, "sidecache_l1_tracking_connected",
                              "1 while the node's near cache tracking connection is registered",
                              MetricType::Gauge);
  if (const auto config = process.current_config()) {
    for (std::size_t i = 0; i < config->pool.nodes.size(); ++i) {
      add_value(tracking, near.node_up(static_cast<std::uint32_t>(i)) ? 1 : 0,
                {{"node", config->pool.nodes[i].name}});
    }
  }
}

}  // namespace sidecache::metrics

// sidecache_l1_*: the near cache's statistics (nearcache/stats_table.hpp names them) and the
// state of its tracking connections, read at scrape time.
#include <limits>

#include "config/config.hpp"
#include "metrics/collector.hpp"
#include "metrics/families.hpp"
#include "nearcache/near_cache.hpp"
#include "nearcache/stats_table.hpp"

namespace sidecache::metrics {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

namespace {

// sidecache_l1_invalidation_lag_seconds{node} and sidecache_l1_lag_probes_lost_total{node}.
void collect_lag(const nearcache::LagBook& book, std::vector<MetricFamily>& out) {
  auto& lag = add_family(out, "sidecache_l1_invalidation_lag_seconds",
                         "From writing the lag-probe marker key on an ordinary connection to "
                         "its invalidation push read on the node's tracking connection",
                         MetricType::Histogram);
  book.for_each([&](const std::string& node, const nearcache::LagHistogram& h) {
    ClientMetric m;
    m.label = {{"node", node}};
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= nearcache::LagHistogram::kBounds.size(); ++i) {
      cumulative += h.bucket(i);
      const double bound = i < nearcache::LagHistogram::kBounds.size()
                               ? nearcache::LagHistogram::kBounds[i]
                               : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back({cumulative, bound});
    }
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = h.sum_seconds();
    lag.metric.push_back(std::move(m));
  });
  auto& lost = add_family(out, "sidecache_l1_lag_probes_lost_total",
                          "Lag probes whose invalidation push did not come before the next probe",
                          MetricType::Counter);
  book.for_each([&](const std::string& node, const nearcache::LagHistogram& h) {
    add_value(lost, static_cast<double>(h.lost_count()), {{"node", node}});
  });
}

}  // namespace

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
  collect_lag(near.lag(), out);
  const nearcache::Promotions& promoted = near.promotions();
  add_value(add_family(out, "sidecache_l1_promotions_total",
                       "Hot keys admitted to the near cache without a pattern (promote_hot), "
                       "once every node's tracking connection registered them",
                       MetricType::Counter),
            static_cast<double>(promoted.promotions()));
  add_value(add_family(out, "sidecache_l1_promotions_refused_total",
                       "Hot keys not promoted: their name overlaps a tracked prefix or another "
                       "promoted key, or a node refused it",
                       MetricType::Counter),
            static_cast<double>(promoted.refusals()));
  add_value(add_family(out, "sidecache_l1_promoted_keys",
                       "Keys promoted into the near cache (registered, whether cached or not)",
                       MetricType::Gauge),
            static_cast<double>(promoted.active_count()));
}

}  // namespace sidecache::metrics

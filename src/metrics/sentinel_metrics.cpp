// sidecache_sentinel_*: a sentinel pool's statistics (sidecache/sentinel_stats.hpp, whose table
// names the counters) and the primary in use, labelled with the master's name.
#include "config/config.hpp"
#include "metrics/collector.hpp"
#include "metrics/families.hpp"

namespace sidecache::metrics {

using prometheus::MetricFamily;
using prometheus::MetricType;

namespace {

// One master's series: its counters, the shared subscriptions, whether a primary is known and
// which one.
struct GroupView {
  const std::string& master;
  const SentinelStats& stats;
  const config::Endpoint* primary;  // null while none is known
};

void collect_groups(const std::vector<GroupView>& groups, std::int64_t subscriptions,
                    std::vector<MetricFamily>& out) {
  for (const auto& spec : kSentinelCounters) {
    auto& family = add_family(out, spec.name, spec.help, MetricType::Counter);
    for (const auto& g : groups) {
      add_value(family,
                static_cast<double>((g.stats.*(spec.member)).load(std::memory_order_relaxed)),
                {{"master", g.master}});
    }
  }
  auto& subscribed =
      add_family(out, "sidecache_sentinel_subscriptions",
                 "Sentinels whose +switch-master channel sidecache is subscribed to now (shared "
                 "by every master of the pool).",
                 MetricType::Gauge);
  auto& known = add_family(out, "sidecache_sentinel_primary_known",
                           "1 while the master's group has a primary (verified with ROLE); 0 "
                           "while requests for it are refused for want of one.",
                           MetricType::Gauge);
  auto& info = add_family(out, "sidecache_sentinel_primary_info",
                          "The primary in use (address label), value 1; absent while none is "
                          "known.",
                          MetricType::Gauge);
  for (const auto& g : groups) {
    const Labels master = {{"master", g.master}};
    add_value(subscribed, static_cast<double>(subscriptions), master);
    add_value(known, g.primary != nullptr ? 1 : 0, master);
    if (g.primary != nullptr) {
      add_value(info, 1, {{"master", g.master}, {"address", config::format_endpoint(*g.primary)}});
    }
  }
}

}  // namespace

void collect_sentinel_metrics(const ProcessStats& process, std::vector<MetricFamily>& out) {
  const auto config = process.current_config();
  if (!config) return;
  const auto& pool = config->pool;
  const auto subscriptions = process.sentinel.subscriptions.load(std::memory_order_relaxed);
  std::vector<GroupView> groups;
  if (pool.type == config::PoolType::kSentinel) {
    const bool known = pool.unresolved.empty() && !pool.nodes.empty();
    groups.push_back(
        {pool.sentinel.master, process.sentinel, known ? &pool.nodes[0].address : nullptr});
  } else if (pool.sentinel_groups()) {
    for (const auto& node : pool.nodes) {
      groups.push_back({node.master, process.sentinel_groups.of(node.master),
                        node.unresolved.empty() ? &node.address : nullptr});
    }
  } else {
    return;
  }
  collect_groups(groups, subscriptions, out);
}

}  // namespace sidecache::metrics

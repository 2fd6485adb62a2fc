// A ring of Sentinel groups in the daemon: each ring node is a primary+replicas group that the
// Sentinels watch under its own master name. Each group's primary is asked of the Sentinels at
// startup, on reload, periodically and when a +switch-master for its master arrives; a group
// that changed primary is applied exactly as a reload (Daemon::apply_config) with the other
// nodes as they were. Nodes keep their names, so the ring, and which group holds a key, never
// changes with a failover. Everything here runs on the control thread.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "app/daemon.hpp"
#include "backend/sentinel_topology.hpp"

namespace sidecache::app {

bool Daemon::refresh_group(config::PoolConfig& pool, std::size_t index, const char* why,
                           const std::optional<config::Endpoint>& hint) {
  const auto& master = pool.nodes[index].master;
  auto& stats = process_.sentinel_groups.of(master);
  auto& last_error = group_errors_[master];
  const auto current = backend::group_primary(pool, index);
  auto found = backend::resolve_primary(pool, master, hint);
  if (!found.primary) {
    stats.resolve_errors.fetch_add(1, std::memory_order_relaxed);
    process_.cluster_refresh_wanted.store(true, std::memory_order_relaxed);  // ask again soon
    if (found.error != last_error) {
      spdlog::warn("sentinel: master '{}' (node {}): no primary found ({}): {}", master,
                   pool.nodes[index].name, why, found.error);
      last_error = found.error;
    }
    // A primary that answers ROLE as a replica (demoted) must not stay the target, even while
    // no Sentinel names another: refuse the group's keys rather than write to a replica.
    const bool demoted = current && std::find(found.replicas.begin(), found.replicas.end(),
                                              *current) != found.replicas.end();
    if (!demoted) return false;
    const auto name = config::format_endpoint(*current);
    spdlog::error(
        "sentinel: master '{}': {} is a replica now and no primary is known; keys of "
        "node {} are refused until one is",
        master, name, pool.nodes[index].name);
    backend::clear_group_primary(pool, index, name + " answers ROLE as a replica");
    return true;
  }
  stats.resolves.fetch_add(1, std::memory_order_relaxed);
  if (!last_error.empty()) {
    spdlog::info("sentinel: master '{}': Sentinels answer again", master);
    last_error.clear();
  }
  if (current && *current == *found.primary) return false;
  stats.switches.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("sentinel: master '{}' (node {}): primary {} -> {} ({})", master,
               pool.nodes[index].name,
               current ? config::format_endpoint(*current) : std::string("(none)"),
               config::format_endpoint(*found.primary), why);
  backend::set_group_primary(pool, index, *found.primary);
  return true;
}

config::Config Daemon::with_group_primaries(config::Config config, const config::Config* known) {
  auto& pool = config.pool;
  for (std::size_t i = 0; i < pool.nodes.size(); ++i) {
    if (refresh_group(pool, i, "startup or reload", std::nullopt)) continue;
    if (backend::group_primary(pool, i)) continue;
    // None found: the primary this group had under the running config, if it is the same group.
    std::optional<config::Endpoint> previous;
    if (known != nullptr && known->pool.sentinel_groups()) {
      const auto at = backend::group_of(known->pool, pool.nodes[i].master);
      if (at < known->pool.nodes.size() && known->pool.nodes[at].name == pool.nodes[i].name) {
        previous = backend::group_primary(known->pool, at);
      }
    }
    const auto& master = pool.nodes[i].master;
    if (previous) {
      spdlog::warn("sentinel: master '{}': no primary found; keeping {}", master,
                   config::format_endpoint(*previous));
      backend::set_group_primary(pool, i, *previous);
      continue;
    }
    spdlog::error(
        "sentinel: master '{}': no primary found ({}); keys of node {} are refused until one "
        "is (asked again every {} ms)",
        master, group_errors_[master], pool.nodes[i].name,
        pool.sentinel.refresh_min_interval.count());
    backend::clear_group_primary(pool, i, group_errors_[master]);
  }
  return config;
}

void Daemon::refresh_groups(const char* why, const std::string* master,
                            const std::optional<config::Endpoint>& hint) {
  config::Config next = *config_;
  bool changed = false;
  for (std::size_t i = 0; i < next.pool.nodes.size(); ++i) {
    if (master != nullptr && next.pool.nodes[i].master != *master) continue;
    changed = refresh_group(next.pool, i, why, master != nullptr ? hint : std::nullopt) || changed;
  }
  if (!changed) return;
  spdlog::info("sentinel: groups now {}", [&] {
    std::string out;
    for (const auto& n : next.pool.nodes) {
      out += (out.empty() ? "" : ", ") + n.name + "=" +
             (n.unresolved.empty() ? config::format_endpoint(n.address) : "(none)");
    }
    return out;
  }());
  apply_config(std::make_shared<const config::Config>(std::move(next)));
}

}  // namespace sidecache::app

// A sentinel pool in the daemon: the primary asked of the Sentinels at startup, on reload,
// periodically and when a +switch-master arrives; another primary is applied exactly as a
// reload (Daemon::apply_config): every worker gets a new pool connected to it, the old pools
// answer what they were sent and close. Everything here runs on the control thread.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "app/daemon.hpp"
#include "backend/sentinel_topology.hpp"

namespace sidecache::app {
namespace {

// ", replicas a, b" for a log line; empty without replicas.
std::string replica_list(const std::vector<config::Endpoint>& replicas) {
  std::string out;
  for (const auto& r : replicas)
    out += (out.empty() ? ", replicas " : ", ") + config::format_endpoint(r);
  return out;
}

}  // namespace

config::Config Daemon::with_sentinel_primary(config::Config config, const config::Config* known) {
  const auto& sentinel = config.pool.sentinel;
  auto found = backend::resolve_primary(config.pool, std::nullopt);
  if (found.primary) {
    process_.sentinel.resolves.fetch_add(1, std::memory_order_relaxed);
    sentinel_error_.clear();
    spdlog::info("sentinel: master '{}': primary {}{}", sentinel.master,
                 config::format_endpoint(*found.primary), replica_list(found.readable));
    return backend::with_primary(config, *found.primary, found.readable);
  }
  process_.sentinel.resolve_errors.fetch_add(1, std::memory_order_relaxed);
  process_.cluster_refresh_wanted.store(true, std::memory_order_relaxed);  // ask again soon
  sentinel_error_ = found.error;
  const auto previous = known != nullptr && known->pool.sentinel.master == sentinel.master
                            ? backend::primary_of(known->pool)
                            : std::nullopt;
  if (previous) {
    spdlog::warn("sentinel: master '{}': no primary found ({}); keeping {}", sentinel.master,
                 found.error, config::format_endpoint(*previous));
    const bool same_reads = known->pool.sentinel.read_from == sentinel.read_from;
    return backend::with_primary(
        config, *previous,
        same_reads ? backend::replicas_of(known->pool) : std::vector<config::Endpoint>{});
  }
  spdlog::error(
      "sentinel: master '{}': no primary found ({}); requests are refused until one is "
      "(asked again every {} ms)",
      sentinel.master, found.error, sentinel.refresh_min_interval.count());
  return backend::without_primary(config, std::move(found.error));
}

void Daemon::refresh_sentinel(const char* why, const std::optional<config::Endpoint>& hint) {
  const auto& pool = config_->pool;
  const auto& master = pool.sentinel.master;
  const auto current = backend::primary_of(pool);
  auto found = backend::resolve_primary(pool, hint);
  if (!found.primary) {
    process_.sentinel.resolve_errors.fetch_add(1, std::memory_order_relaxed);
    process_.cluster_refresh_wanted.store(true, std::memory_order_relaxed);  // ask again soon
    if (found.error != sentinel_error_) {
      spdlog::warn("sentinel: master '{}': no primary found ({}): {}", master, why, found.error);
      sentinel_error_ = found.error;
    }
    // A primary that answers ROLE as a replica (demoted) must not stay the target, even while
    // no Sentinel names another: refuse requests rather than send writes to a replica.
    const bool demoted = current && std::find(found.replicas.begin(), found.replicas.end(),
                                              *current) != found.replicas.end();
    if (demoted) {
      const auto name = config::format_endpoint(*current);
      spdlog::error(
          "sentinel: master '{}': {} is a replica now and no primary is known; "
          "requests are refused until one is",
          master, name);
      apply_config(std::make_shared<const config::Config>(
          backend::without_primary(*config_, name + " answers ROLE as a replica")));
    }
    return;
  }
  process_.sentinel.resolves.fetch_add(1, std::memory_order_relaxed);
  if (!sentinel_error_.empty()) {
    spdlog::info("sentinel: master '{}': Sentinels answer again", master);
    sentinel_error_.clear();
  }
  if (current && *current == *found.primary) {
    // Same primary; the replicas read from (read_from) may have changed.
    if (found.readable == backend::replicas_of(pool)) return;
    spdlog::info("sentinel: master '{}': replicas now{} ({})", master,
                 found.readable.empty() ? std::string(" none") : replica_list(found.readable), why);
    apply_config(std::make_shared<const config::Config>(
        backend::with_primary(*config_, *found.primary, found.readable)));
    return;
  }
  process_.sentinel.switches.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("sentinel: master '{}': primary {} -> {} ({}); moving every connection", master,
               current ? config::format_endpoint(*current) : std::string("(none)"),
               config::format_endpoint(*found.primary), why);
  apply_config(std::make_shared<const config::Config>(
      backend::with_primary(*config_, *found.primary, found.readable)));
}

void Daemon::on_switch_master(const backend::SwitchMaster& event, const std::string& sentinel) {
  if (config_->pool.sentinel_groups()) {
    process_.sentinel_groups.of(event.master).switch_messages.fetch_add(1);
    if (draining_) return;
    const auto index = backend::group_of(config_->pool, event.master);
    const auto current = backend::group_primary(config_->pool, index);
    if (index == config_->pool.nodes.size() || (current && *current == event.to)) return;
    spdlog::info("sentinel {}: +switch-master {} {} -> {}", sentinel, event.master,
                 config::format_endpoint(event.from), config::format_endpoint(event.to));
    const std::string why = "+switch-master from " + sentinel;
    try {
      refresh_groups(why.c_str(), &event.master, event.to);
    } catch (const std::exception& e) {
      spdlog::error("sentinel: following +switch-master failed: {}", e.what());
    }
    return;
  }
  process_.sentinel.switch_messages.fetch_add(1, std::memory_order_relaxed);
  if (draining_ || config_->pool.type != config::PoolType::kSentinel) return;
  const auto current = backend::primary_of(config_->pool);
  if (current && *current == event.to) return;  // another Sentinel's word for the same switch
  spdlog::info("sentinel {}: +switch-master {} {} -> {}", sentinel, event.master,
               config::format_endpoint(event.from), config::format_endpoint(event.to));
  const std::string why = "+switch-master from " + sentinel;
  try {
    refresh_sentinel(why.c_str(), event.to);
  } catch (const std::exception& e) {
    spdlog::error("sentinel: following +switch-master failed: {}", e.what());
  }
}

void Daemon::update_sentinel_watch() {
  const auto& pool = config_->pool;
  auto masters = backend::followed_masters(pool);
  if (masters.empty()) {
    if (sentinel_watch_) sentinel_watch_->stop();
    sentinel_watch_.reset();
    return;
  }
  if (sentinel_watch_ && sentinel_watch_->config() == pool.sentinel &&
      sentinel_watch_->masters() == masters) {
    return;
  }
  if (sentinel_watch_) sentinel_watch_->stop();
  sentinel_watch_ = std::make_shared<backend::SentinelWatch>(
      control_, pool, std::move(masters),
      [this](const backend::SwitchMaster& event, const std::string& sentinel) {
        on_switch_master(event, sentinel);
      },
      [this] { process_.cluster_refresh_wanted.store(true, std::memory_order_relaxed); },
      process_.sentinel.subscriptions);
  sentinel_watch_->start();
}

}  // namespace sidecache::app

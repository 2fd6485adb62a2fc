#include "app/near_cache_wiring.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "nearcache/cluster_slots.hpp"

namespace sidecache::app {
namespace {

// A policy's match ("prefix*suffix" or a literal key) as a glob: its '*' stays, the other glob
// characters are escaped.
std::string policy_glob(std::string_view match) {
  std::string glob;
  for (const char c : match) {
    if (c == '?' || c == '[' || c == '\\') glob.push_back('\\');
    glob.push_back(c);
  }
  return glob;
}

// The keys the L1 serves and tracks: near_cache.patterns and the match of every `l1: true`
// read-through policy.
std::vector<std::string> l1_patterns(const config::Config& config) {
  std::vector<std::string> patterns = config.near_cache.patterns;
  for (const auto& p : config.cache.policies) {
    if (p.l1) patterns.push_back(policy_glob(p.match));
  }
  return patterns;
}

nearcache::NearSettings settings_of(const config::Config& config) {
  nearcache::NearSettings s;
  s.patterns = l1_patterns(config);
  s.max_ttl = config.near_cache.max_ttl;
  s.promote = config.near_cache.promote_hot.enabled;
  s.flush_allowed = config.commands.allow_flush;
  return s;
}

std::string random_marker_prefix() {
  std::random_device rd;
  const std::uint64_t id = (std::uint64_t{rd()} << 32) ^ rd();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(id));
  return std::string("__sidecache:l1lag:") + hex + ":";
}

}  // namespace

std::unique_ptr<NearCacheService> NearCacheService::create(const config::Config& config) {
  const auto& c = config.near_cache;
  if (!c.enabled) return nullptr;
  nearcache::StoreOptions options;
  options.max_memory = c.max_memory;
  options.shards = c.shards;
  auto cache = std::make_shared<nearcache::NearCache>(options, settings_of(config));
  return std::unique_ptr<NearCacheService>(new NearCacheService(std::move(cache), config));
}

NearCacheService::NearCacheService(std::shared_ptr<nearcache::NearCache> cache,
                                   const config::Config& config)
    : cache_(std::move(cache)),
      settings_(config.near_cache),
      marker_prefix_(random_marker_prefix()) {
  start_links(config);
}

void NearCacheService::start_links(const config::Config& config) {
  remap_ = config.pool.down_policy == config::DownPolicy::kRemap;
  down_.assign(config.pool.nodes.size(), false);
  std::vector<backend::NodeAddress> nodes;
  lag_.clear();
  for (std::size_t i = 0; i < config.pool.nodes.size(); ++i) {
    const auto& n = config.pool.nodes[i];
    lag_.push_back(&cache_->lag().node(n.name));
    nodes.push_back(backend::NodeAddress{n.name, n.address.host, n.address.port,
                                         backend::make_node_security(config.pool, i)});
  }
  backend::TrackingOptions options;
  options.lag_probe_interval = config.near_cache.lag_probe_interval;
  options.marker_prefix = marker_prefix_;
  // A cluster primary's marker must hash to one of its own slots.
  if (config.pool.type == config::PoolType::kCluster && config.pool.slots) {
    for (std::uint32_t i = 0; i < config.pool.nodes.size(); ++i) {
      options.marker_keys.push_back(
          nearcache::cluster_marker_key(marker_prefix_, i, *config.pool.slots));
    }
  }
  // The marker's prefix is tracked beside the patterns' (merged with them when one covers it).
  auto patterns = l1_patterns(config);
  if (options.lag_probe_interval.count() > 0) patterns.push_back(marker_prefix_);
  const auto prefixes = nearcache::tracking_prefixes(patterns);
  // Promoted keys start over with the new connections; none may overlap these prefixes.
  const auto& promote = config.near_cache.promote_hot;
  cache_->promotions().clear();
  cache_->promotions().configure(promote.enabled ? promote.max_keys : 0, prefixes);
  if (promote.enabled) options.promotion_poll = std::chrono::milliseconds(100);
  spdlog::info(
      "near cache: {} bytes, {} shards, max_ttl {} ms, tracking {} node(s) by {} prefix(es)",
      config.near_cache.max_memory, config.near_cache.shards, config.near_cache.max_ttl.count(),
      nodes.size(), prefixes.size());
  links_ = std::make_unique<backend::TrackingLinks>(std::move(nodes), prefixes, *this, options);
}

void NearCacheService::start() {
  const std::lock_guard lock(mutex_);
  if (links_ && !started_) links_->start();
  started_ = true;
}

void NearCacheService::start(std::uint64_t reload_generation) {
  const std::lock_guard lock(mutex_);
  if (reload_generation != reload_generation_ || !links_ || started_) return;
  links_->start();
  started_ = true;
}

void NearCacheService::stop() {
  const std::lock_guard lock(mutex_);
  if (links_) links_->stop();
  links_.reset();
}

std::uint64_t NearCacheService::reload(const config::Config& config) {
  const auto& next = config.near_cache;
  if (next.enabled != settings_.enabled || next.max_memory != settings_.max_memory ||
      next.shards != settings_.shards) {
    spdlog::warn("reload: near_cache enabled, max_memory or shards changed: needs a restart");
  }
  const std::lock_guard lock(mutex_);
  if (links_) links_->stop();
  // Down first, so no fill is stored while no connection tracks the keys.
  cache_->set_all_down(nearcache::InvalidationReason::kFlush);
  cache_->set_settings(settings_of(config));
  settings_.patterns = next.patterns;
  settings_.max_ttl = next.max_ttl;
  settings_.lag_probe_interval = next.lag_probe_interval;
  settings_.promote_hot = next.promote_hot;
  start_links(config);
  started_ = false;
  return ++reload_generation_;
}

void NearCacheService::on_node_health(std::uint32_t node, bool up) {
  bool changed = false;
  {
    const std::lock_guard lock(mutex_);
    if (!remap_) return;
    if (node >= down_.size()) down_.resize(node + 1, false);
    changed = down_[node] == up;
    down_[node] = !up;
  }
  if (changed) cache_->store().clear(nearcache::InvalidationReason::kNodeLost);
}

void NearCacheService::on_slots_changed(const route::ClusterSlots& before,
                                        const route::ClusterSlots& after) {
  const auto moved = nearcache::moved_slots(before, after);
  if (moved.none()) return;
  const auto dropped = cache_->store().invalidate_if(
      [&moved](std::string_view key, std::uint16_t) { return nearcache::in_slots(moved, key); },
      nearcache::InvalidationReason::kSlotMoved);
  spdlog::info("near cache: {} slot(s) changed owner, {} entr{} dropped", moved.count(), dropped,
               dropped == 1 ? "y" : "ies");
}

void NearCacheService::on_up(std::uint32_t node, bool up) { cache_->set_node_up(node, up); }

void NearCacheService::on_invalidate(std::uint32_t, std::string_view key) {
  cache_->store().invalidate(key, nearcache::InvalidationReason::kTracking);
}

void NearCacheService::on_lag(std::uint32_t node, std::chrono::nanoseconds lag) {
  if (node < lag_.size()) lag_[node]->observe(lag);
}

void NearCacheService::on_lag_lost(std::uint32_t node) {
  if (node < lag_.size()) lag_[node]->lost();
}

std::uint64_t NearCacheService::promotion_version() { return cache_->promotions().version(); }

std::vector<std::string> NearCacheService::promotion_keys() {
  return cache_->promotions().wanted();
}

void NearCacheService::on_tracked(std::uint32_t node, const std::vector<std::string>& keys) {
  cache_->promotions().acknowledged(node, lag_.size(), keys);
}

void NearCacheService::on_track_refused(std::uint32_t, const std::vector<std::string>& keys) {
  cache_->promotions().refused(keys);
}

void NearCacheService::on_flush(std::uint32_t node) {
  cache_->store().invalidate_node(static_cast<std::uint16_t>(node),
                                  nearcache::InvalidationReason::kFlush);
}

}  // namespace sidecache::app

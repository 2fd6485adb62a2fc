// The `near_cache:` section: keys, ranges and the checks against the pool.
#include <algorithm>
#include <string>

#include "config/config.hpp"
#include "config/reader.hpp"

namespace sidecache::config::detail {
namespace {

void read_patterns(NearCacheConfig& near, const Value& value) {
  value.expect_sequence();
  near.patterns.clear();
  std::size_t index = 0;
  for (const auto& item : value.node()) {
    near.patterns.push_back(value.item(item, index++).non_empty());
  }
}

void read_min_rate(PromoteHotConfig& promote, const Value& value) {
  promote.min_rate = value.real(1, 1e9);
}

constexpr Directive<PromoteHotConfig> kPromoteDirectives[] = {
    {"enabled", read_boolean<&PromoteHotConfig::enabled>,
     "admit hot keys to the L1 without a pattern (needs hotkeys.enabled); false"},
    {"min_rate", read_min_rate, "requests per second a key needs; 1000"},
    {"max_keys", read_integer<&PromoteHotConfig::max_keys, 1, 100000>,
     "keys promoted at most, until a reload; 1024"},
};

void read_promote_hot(NearCacheConfig& near, const Value& value) {
  read_section(value, kPromoteDirectives, near.promote_hot);
}

constexpr Directive<NearCacheConfig> kNearCacheDirectives[] = {
    {"enabled", read_boolean<&NearCacheConfig::enabled>,
     "answer GET/MGET of matching keys from the process's memory; false"},
    {"patterns", read_patterns, "globs of the keys the L1 serves: [\"user:*\", \"cfg:*\"]"},
    {"max_memory", read_size<&NearCacheConfig::max_memory, 1ull << 20, 1ull << 40>,
     "bytes the L1 may hold in all (keys, values, overhead); 64mb"},
    {"max_ttl", read_duration<&NearCacheConfig::max_ttl, 1, 24 * 3600 * 1000>,
     "no entry lives longer than this, nor past its Redis TTL; 10s"},
    {"shards", read_integer<&NearCacheConfig::shards, 1, 1024>,
     "independently locked parts of the L1 (a power of two); 16"},
    {"lag_probe_interval", read_duration<&NearCacheConfig::lag_probe_interval, 0, 3600 * 1000>,
     "time a marker key's invalidation push this often, per node; 1s, 0: off"},
    {"promote_hot", read_promote_hot,
     "{enabled, min_rate, max_keys}: hot keys admitted without a pattern"},
};

}  // namespace

void read_near_cache(Config& config, const Value& value) {
  read_section(value, kNearCacheDirectives, config.near_cache);
  const auto shards = config.near_cache.shards;
  if ((shards & (shards - 1)) != 0) {
    value.fail("shards (" + std::to_string(shards) + ") must be a power of two");
  }
  // Each shard needs its fixed structures plus 4 KiB.
  if (config.near_cache.max_memory / shards < 64 * 1024) {
    value.fail("max_memory is too small for " + std::to_string(shards) +
               " shards: at least 64kb per shard");
  }
}

void validate_near_cache(const Config& config, const Locations& locations) {
  // On a cluster pool the primaries are tracked; a replica's values would need its own
  // tracking connection (and lag behind the primary's pushes): refused until built.
  if (config.near_cache.enabled && config.pool.type == PoolType::kCluster &&
      config.pool.cluster.read_from != ReadFrom::kPrimary) {
    locations.fail(
        locations.has("pool.cluster.read_from") ? "pool.cluster.read_from" : "near_cache.enabled",
        "the near cache on a cluster pool needs read_from: primary (reads from "
        "replicas are not tracked yet)");
  }
  // The keys the L1 serves: the patterns, and the read-through policies with `l1: true`
  // (checked here, once the cache section is read too).
  const auto& policies = config.cache.policies;
  const bool l1_policies =
      std::any_of(policies.begin(), policies.end(), [](const CachePolicy& p) { return p.l1; });
  if (config.near_cache.enabled && config.near_cache.patterns.empty() && !l1_policies) {
    locations.fail("near_cache",
                   "enabled with no patterns: list the keys the L1 serves in near_cache.patterns "
                   "(or give a read-through policy l1: true)");
  }
  for (std::size_t i = 0; i < config.cache.policies.size(); ++i) {
    if (config.cache.policies[i].l1 && !config.near_cache.enabled) {
      locations.fail("cache.policies[" + std::to_string(i) + "].l1",
                     "l1: true needs the near cache (near_cache.enabled: true)");
    }
  }
  if (config.near_cache.promote_hot.enabled && !config.hotkeys.enabled) {
    locations.fail("near_cache.promote_hot.enabled",
                   "promotion needs hot-key detection: set hotkeys.enabled: true");
  }
}

}  // namespace sidecache::config::detail

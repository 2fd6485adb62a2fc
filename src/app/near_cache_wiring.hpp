// Wiring of the near cache: the L1 shared by the workers and its tracking connections, which
// turn each node's invalidation pushes into drops in the L1 (backend/tracking_link.hpp).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/tracking_link.hpp"
#include "config/config.hpp"
#include "nearcache/near_cache.hpp"

namespace sidecache::app {

class NearCacheService final : public backend::TrackingSink {
 public:
  // Null when near_cache.enabled is false. Throws std::invalid_argument when the store cannot
  // be built with these sizes.
  static std::unique_ptr<NearCacheService> create(const config::Config& config);
  ~NearCacheService() override { stop(); }

  const std::shared_ptr<nearcache::NearCache>& cache() const { return cache_; }
  void start();
  // Starts the connections a reload made, unless another reload came since (its generation).
  void start(std::uint64_t reload_generation);
  void stop();
  // A reload: new patterns and max_ttl, every entry dropped, every node untracked, the
  // tracking connections replaced by ones for the new prefixes and nodes, which
  // start(generation) starts (the caller, once the workers route by the new configuration).
  // Sizes (max_memory, shards) and enabling or disabling need a restart (logged).
  std::uint64_t reload(const config::Config& config);
  // The health checker's verdict on a node. With pool.down_policy: remap, a node leaving or
  // rejoining the ring moves keys between nodes, so the L1 is emptied on each change.
  void on_node_health(std::uint32_t node, bool up);
  // A cluster pool's new slot map between the same primaries (no reload of the connections):
  // the entries of every slot whose owner changed are dropped (read from a node that no longer
  // holds them). Call it once every worker routes by `after`; a fill in flight fails its guard.
  void on_slots_changed(const route::ClusterSlots& before, const route::ClusterSlots& after);

  void on_up(std::uint32_t node, bool up) override;
  void on_invalidate(std::uint32_t node, std::string_view key) override;
  void on_flush(std::uint32_t node) override;
  void on_lag(std::uint32_t node, std::chrono::nanoseconds lag) override;
  void on_lag_lost(std::uint32_t node) override;
  std::uint64_t promotion_version() override;
  std::vector<std::string> promotion_keys() override;
  void on_tracked(std::uint32_t node, const std::vector<std::string>& keys) override;
  void on_track_refused(std::uint32_t node, const std::vector<std::string>& keys) override;

  // The reserved prefix of this process's lag-probe marker keys:
  // "__sidecache:l1lag:<instance>:", the instance a random 64-bit id drawn at start, so
  // sidecaches sharing the nodes never write each other's markers.
  const std::string& marker_prefix() const { return marker_prefix_; }

 private:
  NearCacheService(std::shared_ptr<nearcache::NearCache> cache, const config::Config& config);
  void start_links(const config::Config& config);

  std::shared_ptr<nearcache::NearCache> cache_;
  config::NearCacheConfig settings_;
  std::mutex mutex_;  // links_ (start/stop/reload run on the control thread)
  std::unique_ptr<backend::TrackingLinks> links_;
  std::uint64_t reload_generation_ = 0;  // under mutex_
  bool started_ = false;                 // links_ started (under mutex_)
  bool remap_ = false;
  std::vector<bool> down_;  // by node, as the health checker last said (under mutex_)
  const std::string marker_prefix_;
  // By node index, for the links in force (replaced only while they are stopped).
  std::vector<nearcache::LagHistogram*> lag_;
};

}  // namespace sidecache::app

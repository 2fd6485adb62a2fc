// What the metrics endpoint and INFO read about the whole process: the configuration in force,
// the start time, every worker's statistics, and the statistics of the read-through cache, the
// write modes and the database threads. Workers and app/ write it; any thread reads it. The
// wiring handed to the workers (the cache engine's shared state, the writer's, the script
// registry) is dispatch::ProcessState, which extends this view.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "sidecache/link_limiter.hpp"
#include "sidecache/sentinel_stats.hpp"
#include "sidecache/stats.hpp"

namespace sidecache {

namespace config {
struct Config;
}
namespace cache {
class CacheStats;
}
namespace write {
struct WriteStats;
}
namespace db {
struct ExecutorStats;
}
namespace hotkeys {
class Board;
}
namespace nearcache {
class NearCache;
}

struct ProcessStats {
  // The configuration in force; replaced on reload. Read it with current_config() from any
  // thread.
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const config::Config> current_config() const {
    const std::lock_guard lock(config_mutex);
    return config;
  }
  void set_config(std::shared_ptr<const config::Config> next) {
    const std::lock_guard lock(config_mutex);
    config = std::move(next);
  }
  mutable std::mutex config_mutex;

  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<WorkerStats>> workers;
  std::atomic<std::int64_t> clients{0};  // across workers, for limits.max_clients
  std::atomic<std::uint64_t> reloads_ok{0};
  std::atomic<std::uint64_t> reloads_failed{0};
  // Cluster pools: slot map refreshes that got an answer, the epoch of the map in use (bumped
  // whenever the topology changed), and a worker's request for an early refresh (a MOVED, a
  // node that failed), which the daemon serves rate-limited.
  std::atomic<std::uint64_t> cluster_refreshes{0};
  std::atomic<std::uint64_t> cluster_epoch{0};
  // Also a sentinel pool's request for an early ask of the Sentinels (the primary marked down).
  std::atomic<bool> cluster_refresh_wanted{false};
  SentinelStats sentinel;  // sentinel pools; its subscriptions also a ring's of Sentinel groups
  SentinelGroupStats sentinel_groups;  // a ring of Sentinel groups, per master
  // Dedicated node connections of all workers, against pool.max_dedicated_connections.
  LinkLimiter dedicated_links;

  // Read-through statistics by policy; set before the workers are made (null: none).
  std::shared_ptr<const cache::CacheStats> cache_stats;
  // Write-mode statistics; set with the write modes (null: no write modes configured).
  std::shared_ptr<const write::WriteStats> write_stats;

  // The workers' hot-key sketches as last published (hotkeys/board.hpp); set before the
  // workers are made (null: no worker publishes, nothing to show).
  std::shared_ptr<hotkeys::Board> hotkeys;

  // The near cache (L1), when near_cache.enabled at startup; set before the workers are made.
  std::shared_ptr<nearcache::NearCache> near_cache;

  // The database threads' statistics (db::Executor), while a database is configured; whoever
  // starts or replaces the executor sets it (nullptr: no sidecache_db_* metrics).
  std::shared_ptr<const db::ExecutorStats> db_stats() const {
    const std::lock_guard lock(config_mutex);
    return db_stats_;
  }
  void set_db_stats(std::shared_ptr<const db::ExecutorStats> stats) {
    const std::lock_guard lock(config_mutex);
    db_stats_ = std::move(stats);
  }

 private:
  std::shared_ptr<const db::ExecutorStats> db_stats_;
};

}  // namespace sidecache

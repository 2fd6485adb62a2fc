// Read-through statistics per policy (labels policy=<name>), shared by every worker and the
// database threads: WorkerCounters (each worker writes its own slot; no locked instruction on a
// hit), kept by policy name across reloads. The table below names their metric families;
// metrics/collector.cpp exports them. Asio-free.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cache/value.hpp"
#include "sidecache/stats.hpp"
#include "sidecache/util/counter.hpp"

namespace sidecache::cache {

struct PolicyStats {
  WorkerCounter hits;                 // answered from Redis, fresh
  WorkerCounter misses;               // not in Redis (or logically expired past the swr window)
  WorkerCounter negative_hits;        // answered "absent" from the negative marker
  WorkerCounter loads;                // database calls (one per batch)
  WorkerCounter keys_loaded;          // keys those calls asked for
  WorkerCounter single_flight_waits;  // misses that joined a load in flight
  WorkerCounter lease_waits;          // loads that found another sidecache's lease
  WorkerCounter early_refreshes;      // XFetch refreshes started
  WorkerCounter hot_refreshes;        // reloads of hot keys near their expiry (refresh_top)
  WorkerCounter stale_swr;            // stale answers within stale_while_revalidate
  WorkerCounter stale_error;          // stale answers after a failed load (stale_if_error)
  WorkerCounter keys_warmed;
  WorkerCounter stores_superseded;  // loads not stored: a write came during the load
  WorkerCounter store_errors;       // loads Redis refused to store (an error reply)
  WorkerCounter write_races;        // through writes that raced another write: key deleted
  std::array<WorkerCounter, kLoadErrorCount> load_errors;  // by LoadError
  // Load latency, with the buckets of sidecache::Histogram.
  std::array<WorkerCounter, Histogram::kBounds.size() + 1> latency_buckets;
  WorkerCounter latency_sum_ns;

  void observe_load(std::chrono::nanoseconds d);
};

struct CacheCounterSpec {
  const char* name;
  const char* help;
  WorkerCounter PolicyStats::*member;
};

inline constexpr CacheCounterSpec kCacheCounters[] = {
    {"sidecache_cache_hits_total", "Read-through reads answered from Redis with a fresh value.",
     &PolicyStats::hits},
    {"sidecache_cache_misses_total",
     "Read-through reads that needed a load (absent from Redis, or past their logical expiry "
     "and the stale-while-revalidate window).",
     &PolicyStats::misses},
    {"sidecache_cache_negative_hits_total",
     "Read-through reads answered 'absent' from a negative-cache marker, without the database.",
     &PolicyStats::negative_hits},
    {"sidecache_cache_loads_total", "Database calls made to load keys (one per batch).",
     &PolicyStats::loads},
    {"sidecache_cache_keys_loaded_total", "Keys asked of the database by those calls.",
     &PolicyStats::keys_loaded},
    {"sidecache_cache_single_flight_waits_total",
     "Misses that joined a load already in flight in this process instead of querying.",
     &PolicyStats::single_flight_waits},
    {"sidecache_cache_lease_waits_total",
     "Loads that found another sidecache's lease and waited for its value.",
     &PolicyStats::lease_waits},
    {"sidecache_cache_early_refreshes_total",
     "Background refreshes started by XFetch before the logical expiry.",
     &PolicyStats::early_refreshes},
    {"sidecache_cache_hot_refreshes_total",
     "Reloads of keys among a worker's hottest (hotkeys.refresh_top) started when a hit found at "
     "most refresh_ahead of their TTL left.",
     &PolicyStats::hot_refreshes},
    {"sidecache_cache_keys_warmed_total", "Keys loaded and cached by warming.",
     &PolicyStats::keys_warmed},
    {"sidecache_cache_stores_superseded_total",
     "Loaded values not stored because a write or invalidation of the key came during the load "
     "(it replaced the lease marker, or changed the key's write generation).",
     &PolicyStats::stores_superseded},
    {"sidecache_cache_store_errors_total",
     "Loaded values Redis answered an error to storing (a node down, -OOM, -CROSSSLOT, a "
     "redirect not followed in time): the read was answered, the next read loads again.",
     &PolicyStats::store_errors},
    {"sidecache_write_races_total",
     "Write-through cache writes that found another write of the key started or finished "
     "since their own started: the key was deleted instead (the next read loads the row).",
     &PolicyStats::write_races},
};

class CacheStats {
 public:
  // The statistics of policy `name`, created on first use; never removed.
  std::shared_ptr<PolicyStats> policy(const std::string& name);
  std::vector<std::pair<std::string, std::shared_ptr<PolicyStats>>> all() const;

  // False while startup or reload warming runs; /readyz may wait for it.
  std::atomic<bool> warming_done{true};
  std::atomic<std::int64_t> warming_running{0};

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<PolicyStats>> policies_;
};

}  // namespace sidecache::cache

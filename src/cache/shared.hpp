// What every worker's engine shares: the policies in force (swapped on reload), the
// single-flight table, the database threads, statistics and load-time averages. Thread-safe.
// Asio-free.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cache/policy.hpp"
#include "cache/recent_hits.hpp"
#include "cache/runtime.hpp"
#include "cache/single_flight.hpp"
#include "cache/stats.hpp"
#include "cache/xfetch.hpp"

namespace sidecache::cache {

class StoreHook;

// One configuration's policies with their statistics and load-time averages (index-aligned).
struct Snapshot {
  std::shared_ptr<const PolicySet> set;
  std::vector<std::shared_ptr<PolicyStats>> stats;
  std::vector<std::shared_ptr<Ewma>> load_ms;
  const Policy& policy(std::size_t i) const { return *set->policies()[i]; }
};

class Shared {
 public:
  Shared(std::shared_ptr<DbRunner> db, std::shared_ptr<CacheStats> stats);

  // Bumped by every set_policies(): engines keep a copy of the snapshot and re-read it only
  // when this changes (no lock on the request path).
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  std::shared_ptr<const Snapshot> snapshot() const;
  // New policies (startup, reload). Statistics and load-time averages stay by policy name.
  std::shared_ptr<const Snapshot> set_policies(const config::CacheConfig& cache);

  SingleFlight& flights() { return flights_; }
  // The keys known to hit, shared by the workers (lease_in_read: auto).
  RecentHits& recent_hits() { return recent_hits_; }
  CacheStats& stats() { return *stats_; }
  const std::shared_ptr<CacheStats>& stats_ptr() const { return stats_; }
  std::shared_ptr<DbRunner> db() const;
  // The database threads, when the cache is turned on after startup (reload).
  void set_db(std::shared_ptr<DbRunner> db);
  bool has_db() const;

  // How loads of the policies a write mode guards are stored (cache/store_hook.hpp); null:
  // the engine stores every load itself.
  void set_store_hook(std::shared_ptr<StoreHook> hook);
  std::shared_ptr<StoreHook> store_hook() const;

 private:
  std::shared_ptr<DbRunner> db_;
  std::atomic<std::uint64_t> generation_{0};
  std::shared_ptr<CacheStats> stats_;
  SingleFlight flights_;
  RecentHits recent_hits_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::map<std::string, std::shared_ptr<Ewma>> load_ms_;
  std::shared_ptr<StoreHook> store_hook_;
};

}  // namespace sidecache::cache

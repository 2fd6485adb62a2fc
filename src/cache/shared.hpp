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
#include "cache/runtime.hpp"
#include "cache/single_flight.hpp"
#include "cache/stats.hpp"
#include "cache/xfetch.hpp"

namespace sidecache::cache {

// One configuration's policies with their statistics and load-time averages (index-aligned).
struct Snapshot {
  std::shared_ptr<const PolicySet> set;
  std::vector<std::shared_ptr<PolicyStats>> stats;
  std::vector<std::shared_ptr<Ewma>> load_ms;
  // cache.write_behind of the same configuration: the write path's queue-wide options.
  config::WriteBehindQueueConfig write_behind;
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
  CacheStats& stats() { return *stats_; }
  const std::shared_ptr<CacheStats>& stats_ptr() const { return stats_; }
  std::shared_ptr<DbRunner> db() const;
  // The database threads, when the cache is turned on after startup (reload).
  void set_db(std::shared_ptr<DbRunner> db);
  bool has_db() const;

  // Write-behind (docs/write-modes.md): the name of each node's pending-count hash (by node
  // index), which a load of a `behind` policy key checks before it stores the row. Null until
  // the write path has queues.
  void set_write_pending(std::vector<std::string> names);
  std::shared_ptr<const std::vector<std::string>> write_pending() const;

 private:
  std::shared_ptr<DbRunner> db_;
  std::atomic<std::uint64_t> generation_{0};
  std::shared_ptr<CacheStats> stats_;
  SingleFlight flights_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::map<std::string, std::shared_ptr<Ewma>> load_ms_;
  std::shared_ptr<const std::vector<std::string>> write_pending_;
};

}  // namespace sidecache::cache

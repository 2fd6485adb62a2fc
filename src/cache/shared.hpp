// What every worker's engine shares: the policies in force (swapped on reload), the
// single-flight table, the database threads, statistics and load-time averages. Thread-safe.
// Asio-free.
#pragma once

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
  const Policy& policy(std::size_t i) const { return *set->policies()[i]; }
};

class Shared {
 public:
  Shared(std::shared_ptr<DbRunner> db, std::shared_ptr<CacheStats> stats);

  std::shared_ptr<const Snapshot> snapshot() const;
  // New policies (startup, reload). Statistics and load-time averages stay by policy name.
  std::shared_ptr<const Snapshot> set_policies(const config::CacheConfig& cache);

  SingleFlight& flights() { return flights_; }
  CacheStats& stats() { return *stats_; }
  const std::shared_ptr<CacheStats>& stats_ptr() const { return stats_; }
  DbRunner& db() { return *db_; }

 private:
  std::shared_ptr<DbRunner> db_;
  std::shared_ptr<CacheStats> stats_;
  SingleFlight flights_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::map<std::string, std::shared_ptr<Ewma>> load_ms_;
};

}  // namespace sidecache::cache

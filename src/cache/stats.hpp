// Read-through statistics per policy (labels policy=<name>), shared by every worker and the
// database threads: relaxed atomics (the cache path costs network round trips anyway), kept
// by policy name across reloads. Read by metrics/collector.cpp. Asio-free.
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

namespace sidecache::cache {

struct AtomicCounter {
  std::atomic<std::uint64_t> value{0};
  void add(std::uint64_t n = 1) { value.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t get() const { return value.load(std::memory_order_relaxed); }
};

struct PolicyStats {
  AtomicCounter hits;                 // answered from Redis, fresh
  AtomicCounter misses;               // not in Redis (or logically expired past the swr window)
  AtomicCounter negative_hits;        // answered "absent" from the negative marker
  AtomicCounter loads;                // database calls (one per batch)
  AtomicCounter keys_loaded;          // keys those calls asked for
  AtomicCounter single_flight_waits;  // misses that joined a load in flight
  AtomicCounter lease_waits;          // loads that found another sidecache's lease
  AtomicCounter early_refreshes;      // XFetch refreshes started
  AtomicCounter stale_swr;            // stale answers within stale_while_revalidate
  AtomicCounter stale_error;          // stale answers after a failed load (stale_if_error)
  AtomicCounter keys_warmed;
  std::array<AtomicCounter, kLoadErrorCount> load_errors;  // by LoadError
  // Load latency, with the buckets of sidecache::Histogram.
  std::array<AtomicCounter, Histogram::kBounds.size() + 1> latency_buckets;
  AtomicCounter latency_sum_ns;

  void observe_load(std::chrono::nanoseconds d);
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

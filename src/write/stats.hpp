// Write-mode statistics. What the workers' Writers count on the request path are WorkerCounters
// (each worker its own slot, like every per-worker counter); what the background threads
// (flushers, the invalidation listener) count are relaxed atomics. The tables below name their
// metric families; metrics/write_metrics.cpp exports them. Asio-free.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sidecache/util/counter.hpp"

namespace sidecache::write {

struct NodeQueueStats {
  std::string node;
  std::atomic<std::int64_t> depth{0};          // entries in the stream (XLEN), last seen
  std::atomic<std::int64_t> oldest_age_ms{0};  // age of the oldest queued entry, last seen
};

struct WriteStats {
  // Counted by the workers' Writers. Client writes by mode (invalidate, through, behind).
  std::array<WorkerCounter, 4> writes{};
  WorkerCounter write_errors;   // database or Redis error answered
  WorkerCounter refused;        // refused before writing: unmappable, MULTI, script, JSON
  WorkerCounter cache_repairs;  // through: cache write failed, key deleted
  WorkerCounter backpressure;   // writes that found their queue full
  WorkerCounter held;           // requests that waited for writes of their keys before them
  // Counted by the flushers and the listener.
  std::atomic<std::uint64_t> flushed{0};  // entries acknowledged after a commit
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> coalesced{0};
  std::atomic<std::uint64_t> retries{0};  // database calls retried after a failure
  std::atomic<std::uint64_t> dead_letters{0};
  std::atomic<std::uint64_t> invalidations{0};  // keys deleted on a NOTIFY
  // Policies in force by write mode (none, invalidate, through, behind): set at startup and
  // by every reload.
  std::array<std::atomic<std::int64_t>, 4> policies{};
  // Batch sizes: buckets <=1, <=10, <=100, <=1000, more.
  static constexpr std::array<std::uint64_t, 4> kBatchBounds = {1, 10, 100, 1000};
  std::array<std::atomic<std::uint64_t>, 5> batch_size{};
  std::atomic<std::uint64_t> batch_size_sum{0};
  // Flush latency (one database write of a batch): seconds bounds.
  static constexpr std::array<double, 8> kLatencyBounds = {0.001, 0.005, 0.01, 0.05,
                                                           0.1,   0.5,   1,    5};
  std::array<std::atomic<std::uint64_t>, 9> flush_latency{};
  std::atomic<std::uint64_t> flush_latency_ns{0};
  std::vector<std::unique_ptr<NodeQueueStats>> nodes;

  void observe_batch(std::size_t size, std::chrono::nanoseconds took) {
    std::size_t i = 0;
    while (i < kBatchBounds.size() && size > kBatchBounds[i]) ++i;
    batch_size[i].fetch_add(1, std::memory_order_relaxed);
    batch_size_sum.fetch_add(size, std::memory_order_relaxed);
    const double s = std::chrono::duration<double>(took).count();
    std::size_t j = 0;
    while (j < kLatencyBounds.size() && s > kLatencyBounds[j]) ++j;
    flush_latency[j].fetch_add(1, std::memory_order_relaxed);
    flush_latency_ns.fetch_add(static_cast<std::uint64_t>(took.count()), std::memory_order_relaxed);
    batches.fetch_add(1, std::memory_order_relaxed);
  }
};

// The metric families of WriteStats, exported by metrics/write_metrics.cpp. Write modes by
// index (the `mode` label); sidecache_write_requests_total leaves out "none".
inline constexpr std::array<const char*, 4> kWriteModeNames = {"none", "invalidate", "through",
                                                               "behind"};

struct WriteCounterSpec {
  const char* name;
  const char* help;
  WorkerCounter WriteStats::*member;
};

inline constexpr WriteCounterSpec kWriteCounters[] = {
    {"sidecache_write_errors_total", "Writes answered with an error", &WriteStats::write_errors},
    {"sidecache_write_refused_total",
     "Writes to write-policy keys refused before anything was written (command that does not "
     "map to the row, multi-key write, script, inside MULTI, invalid JSON)",
     &WriteStats::refused},
    {"sidecache_write_cache_repairs_total",
     "Write-through: cache write failed after the database commit, key deleted",
     &WriteStats::cache_repairs},
    {"sidecache_write_backpressure_total", "Write-behind writes that found their queue full",
     &WriteStats::backpressure},
    {"sidecache_write_held_requests_total",
     "Requests (a pipelined read after a write, say) that waited for writes of their keys "
     "still in progress before them",
     &WriteStats::held},
};

struct BackgroundCounterSpec {
  const char* name;
  const char* help;
  std::atomic<std::uint64_t> WriteStats::*member;
};

inline constexpr BackgroundCounterSpec kBackgroundCounters[] = {
    {"sidecache_write_behind_flushed_total",
     "Write-behind entries acknowledged after their database commit", &WriteStats::flushed},
    {"sidecache_write_behind_coalesced_total",
     "Write-behind entries folded into a later write of the same key", &WriteStats::coalesced},
    {"sidecache_write_behind_retries_total", "Write-behind database writes retried after a failure",
     &WriteStats::retries},
    {"sidecache_write_behind_dead_letters_total",
     "Write-behind entries the database rejected, moved to the dead-letter stream",
     &WriteStats::dead_letters},
    {"sidecache_invalidations_total", "Cache keys deleted on a PostgreSQL notification",
     &WriteStats::invalidations},
};

}  // namespace sidecache::write

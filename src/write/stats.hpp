// Write-mode statistics, shared by every worker and flusher thread (atomics). Asio-free.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sidecache::write {

struct NodeQueueStats {
  std::string node;
  std::atomic<std::int64_t> depth{0};          // entries in the stream (XLEN), last seen
  std::atomic<std::int64_t> oldest_age_ms{0};  // age of the oldest queued entry, last seen
};

struct WriteStats {
  // Client writes by mode (invalidate, through, behind) and result.
  std::array<std::atomic<std::uint64_t>, 4> writes{};
  std::atomic<std::uint64_t> write_errors{0};  // database or Redis error answered
  std::atomic<std::uint64_t> refused{0};  // refused before writing: unmappable, MULTI, script, JSON
  std::atomic<std::uint64_t> cache_repairs{0};  // through: cache write failed, key deleted
  std::atomic<std::uint64_t> backpressure{0};   // writes that found their queue full
  std::atomic<std::uint64_t> flushed{0};        // entries acknowledged after a commit
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

// Appends the statistics in Prometheus text format.
void append_metrics(const WriteStats& stats, std::string& out);

}  // namespace sidecache::write

// Statistics of the database threads (db::Executor). Each database thread writes its own
// ThreadStats (single writer, relaxed load+store like every sidecache counter); the queue and
// busy gauges are shared atomics. Summed over threads when scraped.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "db/database.hpp"
#include "sidecache/stats.hpp"

namespace sidecache::db {

struct ThreadStats {
  std::array<Counter, kErrorKinds> calls;  // Database calls by result (ErrorKind index)
  Counter connects;                        // connections opened (the first and reconnects)
  Counter reconnects;                      // connections opened after one was lost or failed
  Histogram latency;                       // duration of every Database call
};

struct ExecutorStats {
  explicit ExecutorStats(std::size_t threads) {
    for (std::size_t i = 0; i < threads; ++i) per_thread.push_back(std::make_unique<ThreadStats>());
  }
  std::atomic<std::int64_t> queue_depth{0};  // jobs waiting for a database thread
  std::atomic<std::int64_t> busy{0};         // database threads running a job
  std::atomic<std::uint64_t> jobs{0};        // jobs run (with a Database)
  std::atomic<std::uint64_t> rejected{0};    // submit() refused: queue full or stopped
  std::vector<std::unique_ptr<ThreadStats>> per_thread;

  // Sums over threads.
  std::uint64_t calls(ErrorKind kind) const;
  std::uint64_t connects() const;
  std::uint64_t reconnects() const;
  std::vector<std::uint64_t> latency_buckets() const;  // non-cumulative, kBounds.size() + 1
  double latency_sum_seconds() const;
};

}  // namespace sidecache::db

// Per-worker statistics: written by one worker thread only, read by any thread (INFO, metrics).
// A relaxed load+store is a plain move on x86, so the hot path pays no locked instruction.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace sidecache {

class Counter {
 public:
  void add(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void add(std::int64_t n) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::int64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// The worker the calling thread runs, set once by each worker thread when it starts; threads
// that are not workers (database threads, flushers, the main thread) have kNoWorker.
inline constexpr std::uint32_t kNoWorker = ~std::uint32_t{0};
inline std::uint32_t& this_worker() {
  thread_local std::uint32_t worker = kNoWorker;
  return worker;
}

// A counter of something every worker shares (a cache policy, the write modes), kept per
// worker like Counter: each worker adds to a slot of its own, on its own cache line, so the hot
// path pays no locked instruction. Threads that are not workers, and workers past kSlots, add
// atomically to a common slot. get() sums the slots.
class WorkerCounter {
 public:
  static constexpr std::size_t kSlots = 16;

  void add(std::uint64_t n = 1) {
    const std::uint32_t worker = this_worker();
    if (worker < kSlots) {
      slots_[worker].value.add(n);
    } else {
      common_.fetch_add(n, std::memory_order_relaxed);
    }
  }
  std::uint64_t get() const {
    std::uint64_t total = common_.load(std::memory_order_relaxed);
    for (const auto& slot : slots_) total += slot.value.get();
    return total;
  }

 private:
  struct alignas(64) Slot {
    Counter value;
  };
  std::array<Slot, kSlots> slots_{};
  alignas(64) std::atomic<std::uint64_t> common_{0};
};

}  // namespace sidecache

// The store shared by several threads (bounded work, no sleeps): readers, fillers and
// invalidators on overlapping keys; every value read is one that was stored for that key, the
// byte bound holds throughout and the counters add up. Also: a hit allocates nothing.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "nearcache/store.hpp"

namespace {
thread_local bool g_counting = false;
thread_local std::size_t g_allocations = 0;
}  // namespace

// Counts this thread's allocations while g_counting is set. The whole test binary uses these, so
// every form of new and delete is replaced (malloc and free underneath; ASan checks pairs).
namespace {
void* counted_malloc(std::size_t n) {
  if (g_counting) ++g_allocations;
  return std::malloc(n == 0 ? 1 : n);
}
void* counted_new(std::size_t n) {
  if (void* p = counted_malloc(n)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return counted_new(n); }
void* operator new[](std::size_t n) { return counted_new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace sidecache::nearcache {
namespace {

const Clock::time_point kNow = Clock::time_point{} + std::chrono::hours(1);
const Clock::time_point kLater = kNow + std::chrono::hours(1);

std::string value_for(std::uint32_t key, std::uint32_t version) {
  return "$" + std::to_string(key) + ":" + std::to_string(version) + std::string(key % 64, '.');
}

TEST_CASE("a hit allocates nothing", "[nearcache]") {
  Store store(StoreOptions{});
  const std::string key = "a-key-long-enough-to-leave-small-string-storage";
  store.put(key, std::string(1000, 'v'), kLater, 0, kNow);
  std::size_t copied = 0;
  g_allocations = 0;
  g_counting = true;
  for (int i = 0; i < 1000; ++i) {
    store.get(key, kNow, [&](std::string_view v) { copied += v.size(); });
  }
  g_counting = false;
  CHECK(copied == 1000 * 1000);
  CHECK(g_allocations == 0);
}

TEST_CASE("concurrent readers, fillers and invalidators", "[nearcache]") {
  StoreOptions options;
  options.max_memory = 512 << 10;
  options.shards = 8;
  Store store(options);
  constexpr int kThreads = 4;
  constexpr std::uint32_t kKeys = 20'000;
  constexpr int kOps = 150'000;
  std::atomic<int> bad_values{0};
  std::atomic<int> over_budget{0};
  std::atomic<std::uint64_t> gets{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::uint64_t seed = 0x9e3779b97f4a7c15ULL * (t + 1);
      std::uint64_t my_gets = 0;
      for (int i = 0; i < kOps; ++i) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        // Skewed: half the operations on the first 1 % of the keys.
        const std::uint32_t k =
            static_cast<std::uint32_t>((seed >> 33) % ((seed & 1) != 0 ? kKeys / 100 : kKeys));
        const std::string key = "key:" + std::to_string(k);
        const auto op = (seed >> 20) % 16;
        if (op == 0) {
          store.invalidate(key, InvalidationReason::kWrite);
        } else if (op == 1 && i % 5000 == 0) {
          store.invalidate_node(static_cast<std::uint16_t>(t));
        } else {
          ++my_gets;
          const std::string prefix = "$" + std::to_string(k) + ":";
          const bool hit = store.get(key, kNow, [&](std::string_view v) {
            if (!v.starts_with(prefix) || !v.ends_with(std::string(k % 64, '.'))) ++bad_values;
          });
          if (!hit) {
            const auto token = store.begin_fill(key);
            store.finish_fill(token, key, value_for(k, static_cast<std::uint32_t>(i)), kLater,
                              static_cast<std::uint16_t>(t), kNow);
          }
        }
        if (i % 1000 == 0) {
          const auto s = store.stats();
          if (s.bytes + s.fixed_bytes > store.max_memory()) ++over_budget;
        }
      }
      gets += my_gets;
    });
  }
  for (auto& th : threads) th.join();
  const auto s = store.stats();
  CHECK(bad_values == 0);
  CHECK(over_budget == 0);
  CHECK(s.bytes + s.fixed_bytes <= store.max_memory());
  CHECK(s.hits + s.misses == gets);
  CHECK(s.hits > 0);
  CHECK(s.inserts ==
        s.entries + s.evictions + s.rejections + s.expirations + s.replaced + s.invalidated());
  CHECK(s.invalidations[static_cast<int>(InvalidationReason::kWrite)] > 0);
}

}  // namespace
}  // namespace sidecache::nearcache
